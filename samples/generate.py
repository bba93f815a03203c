"""Deterministic generator of realistic scanned documents with ground truth: ``python -m samples.generate``.

Draws eyeglass prescriptions and invoices in de, fr, es, it, en, pt, nl and ja with Pillow (printed and
handwriting-style fonts), degrades them like real scans (rotation, skew, noise, blur, JPEG artefacts, low dpi) and
writes single images, multi-page TIFFs and PDFs (scanned, or with a real text layer), each with ``<name>.json``
ground truth beside it (format: samples/README.md). The same seed always gives the same files.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime as dt
import hashlib
import io
import json
import random
import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from stdnum import iban as stdnum_iban
from stdnum import luhn
from stdnum.eu import vat as eu_vat
from stdnum.iso7064 import mod_11_10

FONT_DIRS = ("/usr/share/fonts/truetype", "/usr/share/fonts/opentype")
PRINTED = {
    "sans": "dejavu/DejaVuSans.ttf",
    "sans-bold": "dejavu/DejaVuSans-Bold.ttf",
    "serif": "dejavu/DejaVuSerif.ttf",
    "serif-bold": "dejavu/DejaVuSerif-Bold.ttf",
    "cjk": "noto/NotoSansCJK-Regular.ttc",
    "cjk-bold": "noto/NotoSansCJK-Bold.ttc",
}
HANDWRITING = {"dkg": "fifthhorseman/dkg.ttf", "dkg-slant": "fifthhorseman/dkgIt.ttf"}

DRAW_DPI = 300
A4_INCHES = (8.27, 11.69)
LANGUAGES = ("de", "fr", "es", "it", "en", "pt", "nl", "ja")
TESSERACT = {"de": "deu", "fr": "fra", "es": "spa", "it": "ita", "en": "eng", "pt": "por", "nl": "nld", "ja": "jpn"}


def _font_path(relative: str) -> str:
    for base in FONT_DIRS:
        path = Path(base) / relative
        if path.exists():
            return str(path)
    raise FileNotFoundError(f"font {relative} not found; run `make setup` (Debian fonts packages)")


# --------------------------------------------------------------------------------------------------------------
# Words of each language
# --------------------------------------------------------------------------------------------------------------

RX_LABELS: dict[str, dict[str, str]] = {
    "de": dict(
        title="Brillenverordnung",
        patient="Patient",
        dob="Geburtsdatum",
        date="Datum",
        right="R",
        left="L",
        sph="SPH",
        cyl="CYL",
        axis="ACHSE",
        add="ADD",
        prism="PRISMA",
        base="BASIS",
        pd="Pupillendistanz",
        lens="Glasart",
        notes="Bemerkungen",
        doctor="Augenarzt",
    ),
    "fr": dict(
        title="Ordonnance de lunettes",
        patient="Patient",
        dob="Date de naissance",
        date="Date",
        right="OD",
        left="OG",
        sph="SPH",
        cyl="CYL",
        axis="AXE",
        add="ADD",
        prism="PRISME",
        base="BASE",
        pd="Écart pupillaire",
        lens="Type de verres",
        notes="Remarques",
        doctor="Ophtalmologiste",
    ),
    "es": dict(
        title="Receta de gafas",
        patient="Paciente",
        dob="Fecha de nacimiento",
        date="Fecha",
        right="OD",
        left="OI",
        sph="ESF",
        cyl="CIL",
        axis="EJE",
        add="ADD",
        prism="PRISMA",
        base="BASE",
        pd="Distancia pupilar",
        lens="Tipo de lente",
        notes="Observaciones",
        doctor="Oftalmólogo",
    ),
    "it": dict(
        title="Prescrizione occhiali",
        patient="Paziente",
        dob="Data di nascita",
        date="Data",
        right="OD",
        left="OS",
        sph="SF",
        cyl="CIL",
        axis="ASSE",
        add="ADD",
        prism="PRISMA",
        base="BASE",
        pd="Distanza pupillare",
        lens="Tipo di lenti",
        notes="Note",
        doctor="Medico oculista",
    ),
    "en": dict(
        title="Spectacle Prescription",
        patient="Patient",
        dob="Date of birth",
        date="Date",
        right="R",
        left="L",
        sph="SPH",
        cyl="CYL",
        axis="AXIS",
        add="ADD",
        prism="PRISM",
        base="BASE",
        pd="Pupillary distance",
        lens="Lens type",
        notes="Notes",
        doctor="Optometrist",
    ),
    "pt": dict(
        title="Receita de óculos",
        patient="Paciente",
        dob="Data de nascimento",
        date="Data",
        right="OD",
        left="OE",
        sph="ESF",
        cyl="CIL",
        axis="EIXO",
        add="ADIÇÃO",
        prism="PRISMA",
        base="BASE",
        pd="Distância pupilar",
        lens="Tipo de lente",
        notes="Observações",
        doctor="Oftalmologista",
    ),
    "nl": dict(
        title="Brilrecept",
        patient="Patiënt",
        dob="Geboortedatum",
        date="Datum",
        right="R",
        left="L",
        sph="SPH",
        cyl="CIL",
        axis="AS",
        add="ADD",
        prism="PRISMA",
        base="BASIS",
        pd="Pupilafstand",
        lens="Glastype",
        notes="Opmerkingen",
        doctor="Oogarts",
    ),
    "ja": dict(
        title="眼鏡処方箋",
        patient="患者名",
        dob="生年月日",
        date="処方日",
        right="右",
        left="左",
        sph="球面",
        cyl="円柱",
        axis="軸",
        add="加入",
        prism="プリズム",
        base="基底",
        pd="瞳孔間距離",
        lens="レンズ種類",
        notes="備考",
        doctor="眼科医",
    ),
}
# Prism base codes as printed on the forms, and the prescription type's canonical value for each.
PRISM_BASE_CODES = {"BI": "in", "BO": "out", "BU": "up", "BD": "down"}

LENS_TYPES: dict[str, dict[str, str]] = {
    "single_vision": dict(
        de="Einstärken",
        fr="Unifocaux",
        es="Monofocales",
        it="Monofocali",
        en="Single vision",
        pt="Monofocais",
        nl="Enkelvoudig",
        ja="単焦点",
    ),
    "progressive": dict(
        de="Gleitsicht",
        fr="Progressifs",
        es="Progresivas",
        it="Progressive",
        en="Progressive",
        pt="Progressivas",
        nl="Multifocaal",
        ja="遠近両用",
    ),
    "bifocal": dict(
        de="Bifokal",
        fr="Bifocaux",
        es="Bifocales",
        it="Bifocali",
        en="Bifocal",
        pt="Bifocais",
        nl="Bifocaal",
        ja="二重焦点",
    ),
}
NOTES: dict[str, list[str]] = {
    "de": ["Entspiegelung empfohlen", "Bildschirmarbeit", "Kontrolle in 12 Monaten"],
    "fr": ["Traitement antireflet", "Travail sur écran", "Contrôle dans un an"],
    "es": ["Tratamiento antirreflejante", "Uso de ordenador", "Revisión en un año"],
    "it": ["Trattamento antiriflesso", "Uso al computer", "Controllo tra un anno"],
    "en": ["Anti-reflective coating", "Computer use", "Review in twelve months"],
    "pt": ["Tratamento antirreflexo", "Uso de computador", "Revisão dentro de um ano"],
    "nl": ["Ontspiegeling aanbevolen", "Beeldschermwerk", "Controle over een jaar"],
    "ja": ["反射防止コート", "パソコン作業用", "一年後に再検査"],
}
INV_LABELS: dict[str, dict[str, str]] = {
    "de": dict(
        title="Rechnung",
        number="Rechnungsnummer",
        date="Rechnungsdatum",
        due="Fällig am",
        buyer="Rechnungsempfänger",
        vat="USt-IdNr.",
        desc="Beschreibung",
        qty="Menge",
        price="Einzelpreis",
        amount="Betrag",
        net="Nettobetrag",
        tax="MwSt.",
        total="Gesamtbetrag",
        bank="Bankverbindung",
    ),
    "fr": dict(
        title="Facture",
        number="Numéro de facture",
        date="Date de facture",
        due="Échéance",
        buyer="Client",
        vat="N° TVA",
        desc="Désignation",
        qty="Quantité",
        price="Prix unitaire",
        amount="Montant",
        net="Total HT",
        tax="TVA",
        total="Total TTC",
        bank="Coordonnées bancaires",
    ),
    "es": dict(
        title="Factura",
        number="Número de factura",
        date="Fecha de factura",
        due="Vencimiento",
        buyer="Cliente",
        vat="NIF",
        desc="Descripción",
        qty="Cantidad",
        price="Precio unitario",
        amount="Importe",
        net="Base imponible",
        tax="IVA",
        total="Total",
        bank="Datos bancarios",
    ),
    "it": dict(
        title="Fattura",
        number="Numero fattura",
        date="Data fattura",
        due="Scadenza",
        buyer="Cliente",
        vat="P. IVA",
        desc="Descrizione",
        qty="Quantità",
        price="Prezzo unitario",
        amount="Importo",
        net="Imponibile",
        tax="IVA",
        total="Totale",
        bank="Coordinate bancarie",
    ),
    "en": dict(
        title="Invoice",
        number="Invoice number",
        date="Invoice date",
        due="Due date",
        buyer="Bill to",
        vat="VAT No.",
        desc="Description",
        qty="Qty",
        price="Unit price",
        amount="Amount",
        net="Subtotal",
        tax="VAT",
        total="Total due",
        bank="Bank details",
    ),
    "pt": dict(
        title="Fatura",
        number="Número da fatura",
        date="Data da fatura",
        due="Vencimento",
        buyer="Cliente",
        vat="NIF",
        desc="Descrição",
        qty="Quantidade",
        price="Preço unitário",
        amount="Valor",
        net="Total sem IVA",
        tax="IVA",
        total="Total a pagar",
        bank="Dados bancários",
    ),
    "nl": dict(
        title="Factuur",
        number="Factuurnummer",
        date="Factuurdatum",
        due="Vervaldatum",
        buyer="Klant",
        vat="Btw-nummer",
        desc="Omschrijving",
        qty="Aantal",
        price="Stukprijs",
        amount="Bedrag",
        net="Subtotaal",
        tax="Btw",
        total="Totaal",
        bank="Bankgegevens",
    ),
    "ja": dict(
        title="請求書",
        number="請求書番号",
        date="発行日",
        due="支払期限",
        buyer="請求先",
        vat="登録番号",
        desc="品名",
        qty="数量",
        price="単価",
        amount="金額",
        net="小計",
        tax="消費税",
        total="合計",
        bank="振込先",
    ),
}
PRODUCTS: dict[str, list[str]] = {
    "de": [
        "Gleitsichtgläser Premium",
        "Brillenfassung Titan",
        "Einstärkengläser entspiegelt",
        "Etui und Tuch",
        "Sehtest",
        "Kontaktlinsen Monatspack",
    ],
    "fr": [
        "Verres progressifs premium",
        "Monture titane",
        "Verres unifocaux antireflet",
        "Étui et chiffon",
        "Examen de vue",
        "Lentilles mensuelles",
    ],
    "es": [
        "Lentes progresivas premium",
        "Montura de titanio",
        "Lentes monofocales antirreflejo",
        "Estuche y gamuza",
        "Examen visual",
        "Lentillas mensuales",
    ],
    "it": [
        "Lenti progressive premium",
        "Montatura in titanio",
        "Lenti monofocali antiriflesso",
        "Astuccio e panno",
        "Esame della vista",
        "Lenti a contatto mensili",
    ],
    "en": [
        "Premium progressive lenses",
        "Titanium frame",
        "Single vision lenses AR coated",
        "Case and cloth",
        "Eye examination",
        "Monthly contact lenses",
    ],
    "pt": [
        "Lentes progressivas premium",
        "Armação em titânio",
        "Lentes monofocais antirreflexo",
        "Estojo e pano",
        "Exame de visão",
        "Lentes de contacto mensais",
    ],
    "nl": [
        "Multifocale glazen premium",
        "Titanium montuur",
        "Enkelvoudige glazen ontspiegeld",
        "Etui en doekje",
        "Oogmeting",
        "Maandlenzen",
    ],
    "ja": ["遠近両用レンズ", "チタンフレーム", "単焦点レンズ", "眼鏡ケース", "視力検査", "コンタクトレンズ"],
}
FIRST = {
    "de": ["Anna", "Jürgen", "Sabine", "Lukas", "Monika", "Stefan"],
    "fr": ["Élodie", "François", "Camille", "Benoît", "Hélène", "Jérôme"],
    "es": ["María", "José", "Lucía", "Íñigo", "Carmen", "Álvaro"],
    "it": ["Giulia", "Marco", "Francesca", "Luca", "Chiara", "Niccolò"],
    "en": ["Emily", "James", "Olivia", "Thomas", "Sarah", "William"],
    "pt": ["João", "Inês", "Gonçalo", "Beatriz", "Tomás", "Sofia"],
    "nl": ["Daan", "Sanne", "Bram", "Femke", "Joris", "Lotte"],
    "ja": ["太郎", "花子", "健一", "美咲", "翔太", "陽子"],
}
LAST = {
    "de": ["Müller", "Schröder", "Weiß", "Becker", "Hoffmann", "Schäfer"],
    "fr": ["Lefèvre", "Dubois", "Moreau", "Girard", "Lambert", "Rousseau"],
    "es": ["García", "Martínez", "López", "Sánchez", "Pérez", "Gómez"],
    "it": ["Rossi", "Bianchi", "Ferrari", "Esposito", "Romano", "Colombo"],
    "en": ["Smith", "Johnson", "Brown", "Taylor", "Wilson", "Clarke"],
    "pt": ["Silva", "Santos", "Ferreira", "Gonçalves", "Pereira", "Simões"],
    "nl": ["de Vries", "Jansen", "van Dijk", "Bakker", "Visser", "Smit"],
    "ja": ["佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺"],
}
CITY = {
    "de": ("Hauptstraße {n}", "{z:05d} Berlin"),
    "fr": ("{n} rue de la Paix", "{z:05d} Lyon"),
    "es": ("Calle Mayor {n}", "{z:05d} Madrid"),
    "it": ("Via Roma {n}", "{z:05d} Milano"),
    "en": ("{n} High Street", "Dublin D0{d}"),
    "pt": ("Rua Augusta {n}", "1100-{z3:03d} Lisboa"),
    "nl": ("Kerkstraat {n}", "{z4:04d} AB Utrecht"),
    "ja": ("千代田区丸の内{n}丁目", "東京都 100-000{d}"),
}
COMPANY = {
    "de": ["Optik Sonnenschein GmbH", "Brillenwerk Nord GmbH", "Augenblick Optik KG"],
    "fr": ["Optique Lumière SARL", "Vision Claire SAS", "Lunetterie du Centre"],
    "es": ["Óptica Mirada S.L.", "Visión Clara S.A.", "Óptica del Sol S.L."],
    "it": ["Ottica Bella Vista S.r.l.", "Occhiali Italia S.p.A.", "Ottica Centrale S.r.l."],
    "en": ["Clearview Optical Ltd", "Bright Eyes Opticians Ltd", "Harbour Lens Co Ltd"],
    "pt": ["Óptica Visão Lda", "Lentes do Tejo Lda", "Óptica Central S.A."],
    "nl": ["Optiek Helder B.V.", "Brillenhuis Oranje B.V.", "Zicht Optiek B.V."],
    "ja": ["株式会社メガネ光学", "東京眼鏡株式会社", "さくらレンズ株式会社"],
}
PRACTICE = {
    "de": "Augenarztpraxis",
    "fr": "Cabinet d'ophtalmologie",
    "es": "Consulta oftalmológica",
    "it": "Studio oculistico",
    "en": "Eye Clinic",
    "pt": "Clínica oftalmológica",
    "nl": "Oogartsenpraktijk",
    "ja": "眼科クリニック",
}
COUNTRY = {"de": "DE", "fr": "FR", "es": "ES", "it": "IT", "en": "IE", "pt": "PT", "nl": "NL", "ja": "JP"}
TAX_RATE = {"de": 19, "fr": 20, "es": 21, "it": 22, "en": 23, "pt": 23, "nl": 21, "ja": 10}
CURRENCY = {"ja": "JPY"}
MONTHS_EN = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


# --------------------------------------------------------------------------------------------------------------
# Values: dates, numbers, identifiers
# --------------------------------------------------------------------------------------------------------------


def fmt_date(lang: str, day: dt.date) -> str:
    if lang == "de":
        return day.strftime("%d.%m.%Y")
    if lang in ("fr", "es", "it", "pt"):
        return day.strftime("%d/%m/%Y")
    if lang == "nl":
        return day.strftime("%d-%m-%Y")
    if lang == "ja":
        return f"{day.year}年{day.month}月{day.day}日"
    return f"{day.day} {MONTHS_EN[day.month - 1]} {day.year}"


def fmt_amount(lang: str, value: float, currency: str) -> str:
    if currency == "JPY":
        return f"¥{round(value):,}"
    text = f"{value:,.2f}"
    if lang in ("de", "es", "it", "pt", "nl"):
        text = text.replace(",", " ").replace(".", ",").replace(" ", ".")
    elif lang == "fr":
        text = text.replace(",", " ").replace(".", ",")
    return f"€{text}" if lang == "en" else f"{text} €"


def fmt_diopter(lang: str, value: float | None) -> str:
    if value is None:
        return "—"
    text = f"{value:+.2f}"
    return text if lang in ("en", "ja") else text.replace(".", ",")


def fmt_decimal(lang: str, value: float | None) -> str:
    if value is None:
        return "—"
    text = f"{value:.1f}"
    return text if lang in ("en", "ja") else text.replace(".", ",")


def vat_id(country: str, rng: random.Random) -> str:
    """A VAT identification number whose check digits are valid (python-stdnum agrees)."""
    if country == "DE":
        base = str(rng.randint(10_000_000, 99_999_999))
        return f"DE{base}{mod_11_10.calc_check_digit(base)}"
    if country == "FR":
        head = str(rng.randint(10_000_000, 99_999_999))
        siren = head + luhn.calc_check_digit(head)
        return f"FR{(12 + 3 * (int(siren) % 97)) % 97:02d}{siren}"
    if country == "IT":
        head = f"{rng.randint(0, 9_999_999):07d}{rng.randint(1, 100):03d}"
        return f"IT{head}{luhn.calc_check_digit(head)}"
    if country == "JP":
        # Qualified invoice registration number: T + 13-digit corporate number (check digit first).
        body = f"{rng.randint(0, 10**12 - 1):012d}"
        weights = [1 if i % 2 == 0 else 2 for i in range(12)]
        total = sum(int(d) * w for d, w in zip(reversed(body), weights, strict=True))
        return f"T{9 - total % 9}{body}"
    # The rest by search: a random body, then the check character python-stdnum accepts.
    body_digits = {"ES": ("B", 7), "PT": ("5", 7), "NL": ("", 8), "IE": ("", 7)}[country]
    suffix = "B01" if country == "NL" else ""
    checks = string.ascii_uppercase if country == "IE" else string.digits
    while True:
        head = body_digits[0] + "".join(rng.choice(string.digits) for _ in range(body_digits[1]))
        for check in checks:
            number = f"{country}{head}{check}{suffix}"
            if eu_vat.is_valid(number):
                return number


IBAN_BBAN = {"DE": "18n", "FR": "10n11n2n", "ES": "20n", "IT": "1A10n12n", "PT": "21n", "NL": "4A10n", "IE": "4A14n"}


def iban(country: str, rng: random.Random) -> str | None:
    """An IBAN valid for its country (national check digits included), formatted in groups of four."""
    if country not in IBAN_BBAN:
        return None
    for _ in range(100_000):
        bban = ""
        spec = IBAN_BBAN[country]
        i = 0
        while i < len(spec):
            j = i
            while spec[j].isdigit():
                j += 1
            count, kind = int(spec[i:j]), spec[j]
            alphabet = string.digits if kind == "n" else "ABCDEFGHIJKLMNOPRSTUVWXYZ"
            if country == "NL" and kind == "A":
                bban += rng.choice(["INGB", "RABO", "ABNA", "TRIO"])
            elif country == "IE" and kind == "A":
                bban += rng.choice(["AIBK", "BOFI"])
            else:
                bban += "".join(rng.choice(alphabet) for _ in range(count))
            i = j + 1
        number = f"{country}00{bban}"
        number = f"{country}{stdnum_iban.calc_check_digits(number)}{bban}"
        if stdnum_iban.is_valid(number):
            return " ".join(number[k : k + 4] for k in range(0, len(number), 4))
    raise RuntimeError(f"no valid IBAN found for {country}")


def address(lang: str, rng: random.Random) -> list[str]:
    street, city = CITY[lang]
    values = dict(
        n=rng.randint(1, 99),
        z=rng.randint(10000, 99999),
        z3=rng.randint(1, 999),
        z4=rng.randint(1000, 9999),
        d=rng.randint(1, 9),
    )
    return [street.format(**values), city.format(**values)]


def person(lang: str, rng: random.Random) -> str:
    first, last = rng.choice(FIRST[lang]), rng.choice(LAST[lang])
    return f"{last} {first}" if lang == "ja" else f"{first} {last}"


def random_date(rng: random.Random, start: int, end: int) -> dt.date:
    return dt.date(start, 1, 1) + dt.timedelta(days=rng.randint(0, (end - start) * 365))


def quarter(rng: random.Random, low: float, high: float) -> float:
    return round(rng.randint(round(low * 4), round(high * 4)) / 4, 2)


# --------------------------------------------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Canvas:
    """An A4 page at DRAW_DPI that records the text it draws, line by line, for the ground truth."""

    rng: random.Random
    lang: str
    hand: str | None
    image: Image.Image = field(init=False)
    draw: ImageDraw.ImageDraw = field(init=False)
    lines: list[tuple[float, float, str]] = field(default_factory=list)  # (y, x, text)
    _fonts: dict[tuple[str, int], ImageFont.FreeTypeFont] = field(default_factory=dict)

    def __post_init__(self) -> None:
        size = (round(A4_INCHES[0] * DRAW_DPI), round(A4_INCHES[1] * DRAW_DPI))
        self.image = Image.new("L", size, 255)
        self.draw = ImageDraw.Draw(self.image)

    def font(self, name: str, points: float) -> ImageFont.FreeTypeFont:
        if self.lang == "ja" and name in ("sans", "serif", "sans-bold", "serif-bold"):
            name = "cjk-bold" if name.endswith("bold") else "cjk"
        size = round(points * DRAW_DPI / 72)
        key = (name, size)
        if key not in self._fonts:
            relative = PRINTED.get(name) or HANDWRITING[name]
            self._fonts[key] = ImageFont.truetype(_font_path(relative), size)
        return self._fonts[key]

    def text(
        self,
        x: float,
        y: float,
        text: str,
        *,
        font: str = "sans",
        points: float = 11,
        record: bool = True,
        handwritten: bool = False,
    ) -> float:
        """Draw ``text`` at inches (x, y); returns the x (inches) where it ends."""
        if handwritten and self.hand is not None and self.lang != "ja":
            font, points = self.hand, points * 1.35
            x += self.rng.uniform(-0.03, 0.05)
            y += self.rng.uniform(-0.1, -0.04)  # pens write on the line, a little higher than type sits
        face = self.font(font, points)
        px, py = x * DRAW_DPI, y * DRAW_DPI
        if handwritten and self.hand is not None and self.lang != "ja":
            self._handwrite(px, py, text, face)
        else:
            self.draw.text((px, py), text, font=face, fill=0)
        if record and text.strip():
            self.lines.append((y, x, text))
        return x + self.draw.textlength(text, font=face) / DRAW_DPI

    def _handwrite(self, px: float, py: float, text: str, face: ImageFont.FreeTypeFont) -> None:
        # Pen writing: the line drifts a little and the ink is not pure black.
        width = int(self.draw.textlength(text, font=face)) + 40
        height = int(face.size * 2.2)
        layer = Image.new("L", (width, height), 0)
        ImageDraw.Draw(layer).text((10, int(face.size * 0.4)), text, font=face, fill=255)
        layer = layer.rotate(self.rng.uniform(-1.2, 1.2), resample=Image.Resampling.BICUBIC, expand=False)
        ink = Image.new("L", layer.size, self.rng.randint(10, 60))
        self.image.paste(ink, (int(px) - 10, int(py) - int(face.size * 0.4)), layer)

    def hline(self, x0: float, x1: float, y: float, width: int = 3) -> None:
        self.draw.line([(x0 * DRAW_DPI, y * DRAW_DPI), (x1 * DRAW_DPI, y * DRAW_DPI)], fill=0, width=width)

    def box(self, x0: float, y0: float, x1: float, y1: float, width: int = 3) -> None:
        self.draw.rectangle([x0 * DRAW_DPI, y0 * DRAW_DPI, x1 * DRAW_DPI, y1 * DRAW_DPI], outline=0, width=width)

    def signature(self, x: float, y: float) -> None:
        points = [(x * DRAW_DPI + i * 12, y * DRAW_DPI + 30 * np.sin(i * 0.7 + self.rng.random())) for i in range(40)]
        self.draw.line(points, fill=30, width=4, joint="curve")

    def row(self, y: float, cells: list[tuple[float, str]], **kwargs: Any) -> None:
        """One table row: cells at x positions, recorded as one line of text."""
        for x, text in cells:
            self.text(x, y, text, record=False, **kwargs)
        self.lines.append((y, cells[0][0], " ".join(text for _, text in cells if text.strip())))

    def page_text(self) -> str:
        return "\n".join(text for _, _, text in sorted(self.lines, key=lambda line: (round(line[0], 2), line[1])))


def draw_prescription(lang: str, rng: random.Random, hand: str | None) -> tuple[list[Canvas], dict[str, Any]]:
    labels = RX_LABELS[lang]
    c = Canvas(rng, lang, hand)
    doctor = ("Dr. " if lang != "ja" else "") + person(lang, rng)
    practice_address = address(lang, rng)
    c.text(0.8, 0.6, f"{PRACTICE[lang]} {doctor}", font="serif-bold", points=16)
    c.text(0.8, 0.95, " · ".join(practice_address), font="serif", points=10)
    c.text(
        0.8,
        1.2,
        f"Tel. +{rng.randint(30, 49)} {rng.randint(100, 999)} {rng.randint(100000, 999999)}",
        font="serif",
        points=10,
    )
    c.hline(0.8, 7.5, 1.5)
    c.text(0.8, 1.8, labels["title"], font="sans-bold", points=18)

    patient = person(lang, rng)
    dob = random_date(rng, 1940, 2012)
    issued = random_date(rng, 2024, 2026)
    y = 2.5
    for label, value in (
        (labels["patient"], patient),
        (labels["dob"], fmt_date(lang, dob)),
        (labels["date"], fmt_date(lang, issued)),
    ):
        end = c.text(0.8, y, f"{label}:", points=12, record=False)
        c.text(max(end + 0.2, 3.0), y, value, points=12, record=False, handwritten=True)
        c.lines.append((y, 0.8, f"{label}: {value}"))
        y += 0.5

    lens_key = rng.choice(list(LENS_TYPES))
    needs_add = lens_key != "single_vision"
    eyes: dict[str, dict[str, Any]] = {}
    printed_base: dict[str, str | None] = {}  # the code on the form; the truth holds its canonical value
    prism_eye = rng.random() < 0.4
    for eye in ("right", "left"):
        cyl = quarter(rng, -2.5, 0) or None
        prism = round(rng.choice([0.5, 1.0, 1.5, 2.0]), 1) if prism_eye else None
        eyes[eye] = dict(
            sphere=quarter(rng, -6, 4),
            cylinder=cyl,
            axis=rng.randint(1, 180) if cyl else None,
            addition=quarter(rng, 0.75, 3) if needs_add else None,
            prism=prism,
        )
        # Drawn last, as the form prints it (BI/BO/BU/BD); the ground truth is the canonical base (in/out/up/down).
        code = rng.choice(list(PRISM_BASE_CODES)) if prism else None
        printed_base[eye] = code
        eyes[eye]["prism_base"] = PRISM_BASE_CODES[code] if code else None
    if needs_add:
        eyes["left"]["addition"] = eyes["right"]["addition"]

    y += 0.3
    columns = [0.8, 1.6, 2.6, 3.6, 4.5, 5.4, 6.5]
    c.box(0.7, y - 0.15, 7.5, y + 1.45)
    c.row(
        y,
        list(
            zip(
                columns,
                ["", labels["sph"], labels["cyl"], labels["axis"], labels["add"], labels["prism"], labels["base"]],
                strict=True,
            )
        ),
        font="sans-bold",
        points=11,
    )
    c.hline(0.7, 7.5, y + 0.4, width=2)
    for eye, label in (("right", labels["right"]), ("left", labels["left"])):
        y += 0.55
        values = eyes[eye]
        cells = [
            label,
            fmt_diopter(lang, values["sphere"]),
            fmt_diopter(lang, values["cylinder"]),
            str(values["axis"]) if values["axis"] else "—",
            fmt_diopter(lang, values["addition"]),
            fmt_decimal(lang, values["prism"]),
            printed_base[eye] or "—",
        ]
        c.text(columns[0], y, cells[0], font="sans-bold", points=12, record=False)
        for x, text in zip(columns[1:], cells[1:], strict=True):
            # An empty cell is the form's printed dash; the handwriting fonts have no dash glyph anyway.
            c.text(x, y, text, points=12, record=False, handwritten=text != "—")
        c.lines.append((y, columns[0], " ".join(cells)))
    y += 1.0

    binocular = round(rng.uniform(56, 70) * 2) / 2
    right_pd = round(binocular / 2 + rng.choice([-0.5, 0, 0.5]), 1)
    pd = dict(binocular=binocular, right=right_pd, left=round(binocular - right_pd, 1))
    pd_text = (
        f"{fmt_decimal(lang, pd['binocular'])} mm ({labels['right']} {fmt_decimal(lang, pd['right'])} / "
        f"{labels['left']} {fmt_decimal(lang, pd['left'])})"
    )
    note = rng.choice(NOTES[lang])
    for label, value in (
        (labels["pd"], pd_text),
        (labels["lens"], LENS_TYPES[lens_key][lang]),
        (labels["notes"], note),
    ):
        end = c.text(0.8, y, f"{label}:", points=12, record=False)
        c.text(max(end + 0.2, 3.0), y, value, points=12, record=False, handwritten=True)
        c.lines.append((y, 0.8, f"{label}: {value}"))
        y += 0.5
    y += 0.6
    c.signature(4.6, y + 0.3)
    c.hline(4.5, 7.5, y + 0.6, width=2)
    c.text(4.5, y + 0.7, f"{labels['doctor']}: {doctor}", points=10)

    fields = {
        "patient": {"name": patient, "date_of_birth": dob.isoformat()},
        "prescriber": {"name": doctor},
        "issue_date": issued.isoformat(),
        "right": eyes["right"],
        "left": eyes["left"],
        "pupillary_distance": pd,
        "lens_type": lens_key,
        "notes": note,
    }
    return [c], fields


def draw_invoice(lang: str, rng: random.Random, hand: str | None, *, items: int) -> tuple[list[Canvas], dict[str, Any]]:
    labels = INV_LABELS[lang]
    currency = CURRENCY.get(lang, "EUR")
    country = COUNTRY[lang]
    seller = {
        "name": rng.choice(COMPANY[lang]),
        "vat_id": vat_id(country, rng),
        "address": ", ".join(address(lang, rng)),
        "iban": iban(country, rng),
    }
    buyer_name = rng.choice([n for n in COMPANY[lang] if n != seller["name"]])
    buyer = {
        "name": buyer_name,
        "vat_id": vat_id(country, rng) if lang != "ja" else None,
        "address": ", ".join(address(lang, rng)),
    }
    issued = random_date(rng, 2024, 2026)
    due = issued + dt.timedelta(days=rng.choice([14, 30, 60]))
    number = f"{rng.choice(['INV', 'RE', 'F', 'FT', 'A'])}-{issued.year}-{rng.randint(1, 9999):04d}"
    rate = TAX_RATE[lang]

    line_items: list[dict[str, Any]] = []
    for _ in range(items):
        quantity = rng.choice([1, 1, 1, 2, 3, 5])
        unit = float(rng.randint(5, 400) * 100) if currency == "JPY" else round(rng.uniform(5, 450), 2)
        line_items.append(
            {
                "description": rng.choice(PRODUCTS[lang]),
                "quantity": quantity,
                "unit_price": unit,
                "amount": round(quantity * unit, 2),
            }
        )
    net = round(sum(i["amount"] for i in line_items), 2)
    tax = float(int(net * rate / 100)) if currency == "JPY" else round(net * rate / 100, 2)
    total = round(net + tax, 2)

    pages: list[Canvas] = []
    per_page = 14
    chunks = [line_items[i : i + per_page] for i in range(0, len(line_items), per_page)] or [[]]
    for index, chunk in enumerate(chunks):
        c = Canvas(rng, lang, hand)
        pages.append(c)
        c.text(0.8, 0.6, str(seller["name"]), font="sans-bold", points=18)
        c.text(0.8, 1.0, str(seller["address"]), points=10)
        c.text(0.8, 1.25, f"{labels['vat']}: {seller['vat_id']}", points=10)
        c.hline(0.8, 7.5, 1.55)
        y = 1.8
        if index == 0:
            c.text(0.8, y, labels["title"], font="sans-bold", points=20)
            y += 0.7
            for label, value in (
                (labels["number"], number),
                (labels["date"], fmt_date(lang, issued)),
                (labels["due"], fmt_date(lang, due)),
            ):
                c.text(0.8, y, f"{label}: {value}", points=11)
                y += 0.35
            y += 0.2
            c.text(0.8, y, f"{labels['buyer']}:", font="sans-bold", points=11)
            y += 0.35
            c.text(0.8, y, str(buyer["name"]), points=11)
            y += 0.35
            c.text(0.8, y, str(buyer["address"]), points=11)
            y += 0.35
            if buyer["vat_id"]:
                c.text(0.8, y, f"{labels['vat']}: {buyer['vat_id']}", points=11)
                y += 0.35
            y += 0.3
        columns = [0.8, 4.2, 5.1, 6.4]
        c.row(
            y,
            list(zip(columns, [labels["desc"], labels["qty"], labels["price"], labels["amount"]], strict=True)),
            font="sans-bold",
            points=11,
        )
        c.hline(0.8, 7.5, y + 0.32, width=2)
        for item in chunk:
            y += 0.42
            c.row(
                y,
                [
                    (columns[0], str(item["description"])),
                    (columns[1], str(item["quantity"])),
                    (columns[2], fmt_amount(lang, float(item["unit_price"]), currency)),
                    (columns[3], fmt_amount(lang, float(item["amount"]), currency)),
                ],
                points=11,
            )
        c.hline(0.8, 7.5, y + 0.4, width=2)
        y += 0.6
        if index == len(chunks) - 1:
            totals: tuple[tuple[str, float, bool], ...] = (
                (labels["net"], net, False),
                (f"{labels['tax']} {rate}%", tax, False),
                (labels["total"], total, True),
            )
            for total_label, total_value, bold in totals:
                c.row(
                    y,
                    [(4.2, total_label), (6.4, fmt_amount(lang, total_value, currency))],
                    font="sans-bold" if bold else "sans",
                    points=11,
                )
                y += 0.4
            y += 0.4
            bank = seller["iban"] or f"三井住友銀行 本店 普通 {rng.randint(1000000, 9999999)}"
            c.text(0.8, y, f"{labels['bank']}: {bank}", points=10)
        if len(chunks) > 1:
            c.text(6.8, 11.1, f"{index + 1}/{len(chunks)}", points=9)

    fields = {
        "invoice_number": number,
        "issue_date": issued.isoformat(),
        "due_date": due.isoformat(),
        "currency": currency,
        "net_amount": net,
        "tax_amount": tax,
        "total_amount": total,
        "seller": seller,
        "buyer": buyer,
        "line_items": line_items,
    }
    return pages, fields


# --------------------------------------------------------------------------------------------------------------
# Scanning: degradations and file formats
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """What one sample is: the document, its language, how it was "scanned" and the file it is written to."""

    name: str
    kind: str  # "prescription" | "invoice"
    lang: str
    format: str  # "png" | "jpeg" | "tiff" | "pdf-scan" | "pdf-text" | "webp"
    dpi: int = 200
    rotation: int = 0  # clockwise degrees the scan is turned; the reader must undo it
    skew: float = 0.0  # degrees, counter-clockwise
    noise: float = 0.0  # std-dev of gaussian noise in gray levels
    blur: float = 0.0
    jpeg_quality: int = 0  # 0 = no JPEG artefacts
    handwriting: str | None = None
    items: int = 3
    seed: int = 0


def scan(canvas: Canvas, spec: Spec, rng: random.Random) -> Image.Image:
    image = canvas.image
    if spec.dpi != DRAW_DPI:
        scale = spec.dpi / DRAW_DPI
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
    if spec.blur:
        image = image.filter(ImageFilter.GaussianBlur(spec.blur))
    if spec.skew:
        image = image.rotate(spec.skew, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
    if spec.noise:
        noise = np.random.default_rng(rng.randint(0, 2**31)).normal(0, spec.noise, (image.height, image.width))
        image = Image.fromarray(np.clip(np.asarray(image, dtype=np.float32) + noise, 0, 255).astype(np.uint8))
    if spec.rotation:
        # The scan is turned clockwise by `rotation`: PIL rotates counter-clockwise.
        image = image.rotate(-spec.rotation, expand=True)
    if spec.jpeg_quality:
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=spec.jpeg_quality)
        image = Image.open(io.BytesIO(out.getvalue()))
        image.load()
    return image


def encode(images: list[Image.Image], spec: Spec, canvases: list[Canvas]) -> bytes:
    out = io.BytesIO()
    dpi = (spec.dpi, spec.dpi)
    if spec.format == "png":
        images[0].save(out, format="PNG", dpi=dpi, compress_level=9)
    elif spec.format == "jpeg":
        images[0].save(out, format="JPEG", quality=spec.jpeg_quality or 80, dpi=dpi)
    elif spec.format == "webp":
        images[0].save(out, format="WEBP", quality=spec.jpeg_quality or 80)
    elif spec.format == "tiff":
        bilevel = [image.point(lambda v: 255 if v > 150 else 0).convert("1") for image in images]
        bilevel[0].save(out, format="TIFF", save_all=True, append_images=bilevel[1:], compression="group4", dpi=dpi)
    elif spec.format == "pdf-scan":
        images[0].save(
            out,
            format="PDF",
            save_all=True,
            append_images=images[1:],
            resolution=float(spec.dpi),
            quality=spec.jpeg_quality or 60,
        )
    elif spec.format == "pdf-text":
        return reproducible_pdf(text_pdf(canvases))
    else:
        raise ValueError(f"unknown format {spec.format}")
    data = out.getvalue()
    return reproducible_pdf(data) if spec.format == "pdf-scan" else data


_PDF_DATE = re.compile(rb"(/(?:CreationDate|ModDate)\s*\(D:)(\d{14})")
_PDF_ID = re.compile(rb"/ID\s*\[\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*\]")


def reproducible_pdf(data: bytes) -> bytes:
    """Replace the writer's clock (dates, file /ID) with fixed values of the same length, so xref offsets hold."""
    data = _PDF_DATE.sub(lambda m: m.group(1) + b"20250101000000", data)
    digest = hashlib.md5(_PDF_ID.sub(b"", data)).hexdigest().upper().encode()

    def same_length(match: re.Match[bytes]) -> bytes:
        first, second = match.group(1), match.group(2)
        return (
            match.group(0)
            .replace(first, digest[: len(first)].ljust(len(first), b"0"))
            .replace(second, digest[: len(second)].ljust(len(second), b"0"))
        )

    return _PDF_ID.sub(same_length, data)


def text_pdf(canvases: list[Canvas]) -> bytes:
    """A born-digital PDF: every recorded line as real text (DejaVu Sans / Noto CJK embedded) at its position."""
    pdf = pdfium.PdfDocument.new()
    width_pt, height_pt = A4_INCHES[0] * 72, A4_INCHES[1] * 72
    fonts: dict[str, Any] = {}
    keep: list[Any] = []
    for canvas in canvases:
        page = pdf.new_page(width_pt, height_pt)
        name = "cjk" if canvas.lang == "ja" else "sans"
        if name not in fonts:
            data = Path(_font_path(PRINTED["sans"] if name == "sans" else "noto/NotoSansCJK-Regular.ttc")).read_bytes()
            if name == "cjk":
                data = _ttc_first_font(data)
            buffer = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
            keep.append(buffer)
            fonts[name] = pdfium_c.FPDFText_LoadFont(pdf.raw, buffer, len(data), pdfium_c.FPDF_FONT_TRUETYPE, True)
        for y, x, text in canvas.lines:
            size = 11.0
            obj = pdfium_c.FPDFPageObj_CreateTextObj(pdf.raw, fonts[name], size)
            encoded = (text + "\x00").encode("utf-16-le")
            chars = (ctypes.c_ushort * (len(encoded) // 2)).from_buffer_copy(encoded)
            pdfium_c.FPDFText_SetText(obj, chars)
            pdfium_c.FPDFPageObj_Transform(obj, 1, 0, 0, 1, x * 72, height_pt - y * 72 - size)
            pdfium_c.FPDFPage_InsertObject(page.raw, obj)
        pdfium_c.FPDFPage_GenerateContent(page.raw)
        page.close()
    out = io.BytesIO()
    pdf.save(out)
    pdf.close()
    return out.getvalue()


def _ttc_first_font(data: bytes) -> bytes:
    """PDFium embeds single fonts only: the first font of a TrueType collection as a standalone OTF."""
    font = ImageFont.truetype(io.BytesIO(data), 10, index=0)
    del font  # proves the index exists; the table rewrite below does the extraction
    import struct

    offset = struct.unpack(">I", data[12:16])[0]
    num_tables = struct.unpack(">H", data[offset + 4 : offset + 6])[0]
    records = [struct.unpack(">4sIII", data[offset + 12 + 16 * i : offset + 28 + 16 * i]) for i in range(num_tables)]
    header = bytearray(data[offset : offset + 12])
    body = bytearray()
    directory = bytearray()
    position = 12 + 16 * num_tables
    for tag, checksum, table_offset, length in records:
        table = data[table_offset : table_offset + length]
        directory += struct.pack(">4sIII", tag, checksum, position + len(body), length)
        body += table + b"\x00" * ((4 - length % 4) % 4)
    return bytes(header + directory + body)


# --------------------------------------------------------------------------------------------------------------
# The committed set and the command line
# --------------------------------------------------------------------------------------------------------------


def committed_specs() -> list[Spec]:
    """The small set committed under samples/documents (each language, each format, each degradation)."""
    return [
        Spec("rx-de-clean", "prescription", "de", "png", dpi=200, handwriting="dkg"),
        Spec("rx-fr-skew", "prescription", "fr", "jpeg", dpi=200, skew=2.5, jpeg_quality=60, handwriting="dkg"),
        Spec("rx-es-rot90", "prescription", "es", "png", dpi=200, rotation=90, handwriting="dkg"),
        Spec(
            "rx-it-noise",
            "prescription",
            "it",
            "jpeg",
            dpi=200,
            noise=18,
            blur=0.6,
            jpeg_quality=55,
            handwriting="dkg-slant",
        ),
        Spec("rx-en-lowdpi", "prescription", "en", "png", dpi=100, handwriting="dkg-slant"),
        Spec("rx-pt-rot180", "prescription", "pt", "jpeg", dpi=200, rotation=180, jpeg_quality=60, handwriting="dkg"),
        Spec("rx-nl-printed", "prescription", "nl", "tiff", dpi=200),
        Spec("rx-ja-printed", "prescription", "ja", "png", dpi=200),
        Spec("rx-de-text", "prescription", "de", "pdf-text"),
        Spec("inv-de-scan", "invoice", "de", "pdf-scan", dpi=200, skew=-1.5, jpeg_quality=50, items=4),
        Spec("inv-fr-clean", "invoice", "fr", "png", dpi=200, items=3),
        Spec("inv-es-rot270", "invoice", "es", "jpeg", dpi=200, rotation=270, jpeg_quality=60, items=3),
        Spec("inv-it-multipage", "invoice", "it", "tiff", dpi=200, items=20),
        Spec("inv-en-text", "invoice", "en", "pdf-text", items=5),
        Spec("inv-pt-blur", "invoice", "pt", "jpeg", dpi=200, blur=1.0, jpeg_quality=50, items=2),
        Spec("inv-nl-webp", "invoice", "nl", "webp", dpi=200, noise=10, jpeg_quality=60, items=3),
        Spec("inv-ja-clean", "invoice", "ja", "png", dpi=200, items=3),
        Spec("inv-en-lowdpi", "invoice", "en", "jpeg", dpi=120, jpeg_quality=70, items=3),
    ]


def random_spec(index: int, rng: random.Random) -> Spec:
    kind = rng.choice(["prescription", "invoice"])
    lang = rng.choice(LANGUAGES)
    fmt = rng.choice(["png", "jpeg", "tiff", "pdf-scan", "pdf-text", "webp"])
    return Spec(
        name=f"{'rx' if kind == 'prescription' else 'inv'}-{lang}-{index:04d}",
        kind=kind,
        lang=lang,
        format=fmt,
        dpi=rng.choice([100, 150, 200, 200, 300]),
        rotation=rng.choice([0, 0, 0, 90, 180, 270]),
        skew=round(rng.uniform(-3, 3), 1) if rng.random() < 0.5 else 0.0,
        noise=rng.choice([0, 0, 8, 15]),
        blur=rng.choice([0, 0, 0.6, 1.0]),
        jpeg_quality=rng.choice([0, 50, 70]),
        handwriting=rng.choice([None, "dkg", "dkg-slant"]) if kind == "prescription" else None,
        items=rng.randint(1, 18),
        seed=rng.randint(0, 2**31),
    )


EXTENSIONS = {"png": "png", "jpeg": "jpg", "tiff": "tif", "pdf-scan": "pdf", "pdf-text": "pdf", "webp": "webp"}


def make(spec: Spec, seed: int) -> tuple[bytes, dict[str, Any]]:
    """The file bytes and ground truth of one sample."""
    rng = random.Random(f"{seed}:{spec.name}:{spec.seed}")
    draw: Callable[[], tuple[list[Canvas], dict[str, Any]]]
    if spec.kind == "prescription":

        def draw() -> tuple[list[Canvas], dict[str, Any]]:
            return draw_prescription(spec.lang, rng, spec.handwriting)
    else:

        def draw() -> tuple[list[Canvas], dict[str, Any]]:
            return draw_invoice(spec.lang, rng, spec.handwriting, items=spec.items)

    canvases, fields = draw()
    text_layer = spec.format == "pdf-text"
    images = [] if text_layer else [scan(canvas, spec, rng) for canvas in canvases]
    data = encode(images, spec, canvases)
    truth = {
        "file": f"{spec.name}.{EXTENSIONS[spec.format]}",
        "document_type": spec.kind,
        "language": spec.lang,
        "tesseract_language": TESSERACT[spec.lang],
        "pages": len(canvases),
        "source": "text-layer" if text_layer else "ocr",
        "scan": {
            "dpi": None if text_layer else spec.dpi,
            "turned": 0 if text_layer else spec.rotation,
            "rotation": 0 if text_layer else (360 - spec.rotation) % 360,
            "skew": 0.0 if text_layer else (-spec.skew or 0.0),
            "noise": spec.noise,
            "blur": spec.blur,
            "jpeg_quality": spec.jpeg_quality,
            "handwriting": spec.handwriting if spec.lang != "ja" else None,
        },
        "text": "\f".join(canvas.page_text() for canvas in canvases),
        "fields": fields,
    }
    return data, truth


def write(specs: list[Spec], out: Path, seed: int) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for spec in specs:
        data, truth = make(spec, seed)
        path = out / truth["file"]
        path.write_bytes(data)
        (out / f"{spec.name}.json").write_text(json.dumps(truth, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m samples.generate", description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="directory to write samples and ground truth to")
    parser.add_argument("--count", type=int, default=0, help="random samples to make (0 = the committed set)")
    parser.add_argument("--seed", type=int, default=3, help="the same seed always gives the same files")
    args = parser.parse_args(argv)
    if args.count:
        rng = random.Random(args.seed)
        specs = [random_spec(i, rng) for i in range(args.count)]
    else:
        specs = committed_specs()
    for path in write(specs, args.out, args.seed):
        print(path)


if __name__ == "__main__":
    main()
