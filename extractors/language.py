"""Which language a page is written in, from OCR'd text: drives the choice of Tesseract model per page.

The documents are forms (labels, numbers, names) with few function words, so a vocabulary of each language's
commonest words plus the words of our document types, and its distinctive letters, beats generic n-gram models
on these short texts and costs microseconds.
"""

from __future__ import annotations

import re

# Tesseract codes docline installs and reads.
LATIN = ("eng", "deu", "fra", "spa", "ita", "por", "nld")
CJK = ("jpn", "chi_sim")
SUPPORTED = LATIN + CJK


def _vocab(words: str) -> frozenset[str]:
    return frozenset(words.split())


_WORDS: dict[str, frozenset[str]] = {
    "eng": _vocab(
        "the and of to for with from date invoice total amount due number customer price quantity description "
        "prescription patient right left lens lenses sphere cylinder axis addition prism base tax net bill "
        "order is are this your please payment terms doctor glasses birth issued unit subtotal vat"
    ),
    "deu": _vocab(
        "der die das und mit von für den dem des ist nicht rechnung datum betrag gesamt summe netto brutto "
        "mehrwertsteuer menge preis einzelpreis beschreibung rezept brillenrezept patient patientin rechts links "
        "zylinder achse prisma basis gläser brille bitte zahlbar bis kunde fällig geburtsdatum arzt augenarzt "
        "auftrag lieferschein ust zwischensumme pupillendistanz bestellung nr anmerkungen rechnungsnummer "
        "rechnungsdatum rechnungsempfänger nettobetrag gesamtbetrag mwst bankverbindung brillenverordnung glasart "
        "straße am im zu auf bei"
    ),
    "fra": _vocab(
        "le la les et des du pour avec une un est facture date montant total prix quantité désignation "
        "ordonnance patient droit droite gauche sphère cylindre axe addition prisme base verres lunettes "
        "client échéance tva ht ttc naissance médecin ophtalmologiste commande écart pupillaire remarques "
        "payer sous jours unitaire de numéro"
    ),
    "spa": _vocab(
        "el la los las y de del para con una un es factura fecha importe total precio cantidad descripción "
        "receta paciente derecho derecha izquierdo izquierda esfera cilindro eje adición prisma base "
        "gafas lentes cliente vencimiento iva nacimiento médico oftalmólogo pedido distancia pupilar "
        "observaciones unitario número pagar"
    ),
    "ita": _vocab(
        "il lo la gli le e di del della per con una un è fattura data importo totale prezzo quantità "
        "descrizione prescrizione ricetta paziente destro sinistro sfera cilindro asse addizione prisma base "
        "occhiali lenti cliente scadenza iva imponibile nascita medico oculista ordine distanza pupillare "
        "note unitario numero pagamento"
    ),
    "por": _vocab(
        "o a os as e de do da dos das para com uma um é não fatura data valor total preço quantidade "
        "descrição receita paciente direito direita esquerdo esquerda esférico cilíndrico eixo adição "
        "prisma base óculos lentes cliente vencimento iva nascimento médico oftalmologista encomenda "
        "distância pupilar observações unitário número pagamento"
    ),
    "nld": _vocab(
        "de het een en van voor met is niet factuur datum bedrag totaal prijs aantal omschrijving "
        "recept patiënt rechts links sfeer cilinder as additie prisma basis bril glazen klant vervaldatum "
        "btw geboortedatum arts oogarts bestelling pupilafstand opmerkingen stukprijs nummer betaling "
        "binnen dagen te"
    ),
}

_LETTERS: dict[str, str] = {
    "deu": "äöüß",
    "fra": "éèêëàâçîïôûœ",
    "spa": "ñ¿¡áíóú",
    "ita": "àèìòù",
    "por": "ãõçâêôáéíóú",
    "nld": "ĳë",
}

_TOKEN = re.compile(r"[^\W\d_]+", re.UNICODE)
_KANA = re.compile(r"[\u3040-\u30ff]")
_HAN = re.compile(r"[\u4e00-\u9fff]")


def detect(text: str) -> str | None:
    """The Tesseract code of the language ``text`` is most likely in, or None if the text gives no clear sign."""
    kana, han = len(_KANA.findall(text)), len(_HAN.findall(text))
    if kana + han >= 5:
        return "jpn" if kana >= 0.1 * (kana + han) else "chi_sim"
    # One-letter words ("a", "e", "y") are also what OCR makes of noise and of scripts it cannot read.
    tokens = [t.lower() for t in _TOKEN.findall(text) if len(t) >= 2]
    if not tokens:
        return None
    scores: dict[str, float] = dict.fromkeys(_WORDS, 0.0)
    for token in tokens:
        for lang, words in _WORDS.items():
            if token in words:
                scores[lang] += 1
    lowered = text.lower()
    for lang, letters in _LETTERS.items():
        scores[lang] += 0.5 * sum(lowered.count(ch) for ch in letters)
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)[:2]
    # Garbage read from an unknown script hits a few short words by chance, real text hits many.
    if not ranked or ranked[0][1] < 3 or ranked[0][1] < 0.12 * len(tokens):
        return None
    if len(ranked) > 1 and ranked[0][1] < 1.2 * ranked[1][1]:
        return None
    return ranked[0][0]


def languages_for_script(script: str) -> list[str]:
    """First-guess Tesseract languages for an OSD script name."""
    return {
        "Japanese": ["jpn"],
        "Katakana": ["jpn"],
        "Hiragana": ["jpn"],
        # Kanji-heavy Japanese forms are reported as Han: let both models compete, the text tells them apart.
        "Han": ["jpn", "chi_sim"],
    }.get(script, ["eng"])


def parse_languages(spec: str | None) -> list[str] | None:
    """``"auto"``/None → None (automatic); ``"eng+deu"`` → ["eng", "deu"]; unknown codes raise ValueError."""
    if spec is None or spec.strip().lower() in ("", "auto"):
        return None
    codes = [c.strip() for c in spec.split("+") if c.strip()]
    unknown = [c for c in codes if c not in SUPPORTED]
    if unknown:
        raise ValueError(f"unknown language(s) {', '.join(unknown)}; choose from {', '.join(SUPPORTED)} or auto")
    return codes
