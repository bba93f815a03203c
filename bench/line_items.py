"""Line items read completely: the share of printed item rows read right, and the documents whose rows went
missing without the document being flagged (``line_items_incomplete``: such a document would be completed
silently).

    .venv/bin/python bench/line_items.py                   # offline extractor: real invoices + synthetic tables
    .venv/bin/python bench/line_items.py --scans 6         # also 6 synthetic tables scanned (OCR, slow)
    .venv/bin/python bench/line_items.py --component llm   # through a running sidecar's conversation component

Documents:

- the generated samples (``samples/documents``, scans and a text PDF in eight languages, one of 20 rows over two
  pages) with their ground truth;
- real invoices with line-item ground truth, through ``bench/corpus.py``: the PDFs of the ZUGFeRD corpus and of
  the ZUGFeRD libraries' tests and samples (their embedded CII XML's IncludedSupplyChainTradeLineItem,
  ``cii_line_items``) and invoice2data's ``tests/compare`` (its ``lines``, ``invoice2data_line_items``); split
  into tuning and held-out halves by sender (``corpus.half``), invoice2data's files released in 0.4.0 (the offline
  extractor was grown on them) reported as ``tuned``. Only documents with at least one line item count;
  ``many rows`` is the part with five or more. Those of up to three pages also come as degraded scans
  (``corpus.degraded_scan``: the OCR path), reported as ``scanned``.
- till receipts photographed (``corpus.softmatic_receipt_cases``), whose truth holds their total but no line items:
  reported apart, as the share whose items read add up to the total read (not sent to review for their items);
- synthetic invoices with 30-60 rows over two to four pages, born digital (a real text layer), drawn here with
  the sample generator's canvas: header wordings of six languages, with or without position numbers ("1" or
  "1."), article numbers, units, a tax rate column (with or without "%"), the quantity before the description,
  a currency after each amount, the header repeated on every page or printed once, running sums carried over
  page breaks, wrapped descriptions, serial number lines, surcharges and discounts between the table and the
  totals, letterhead and page numbers on every page. Two seed families: ``synthetic tuning`` and ``synthetic held-out``.

A truth row is right when an item has its amount (within half a cent; for the CII truths also the amount a page
prints instead of the net line total: quantity × gross price, or the total with its VAT rate; on a credit note,
whose XML states its lines positive, each of them negative too) and its description (rapidfuzz token set ratio
>= 80: a longer printed description holds the truth's name); each item answers one row.
A row is missing when no item has its amount. A document is flagged when its extraction, validated against what
its tables print (``agents.tables.validate_read``), has the error ``line_items_incomplete`` (or
``line_items_mismatch``: items adding up to more than the totals); either sends it to review. Prints figures;
asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from corpus import (  # noqa: E402
    DEFAULT_MIRRORS,
    INVOICE2DATA_RELEASED,
    Case,
    _git_files,
    _git_read,
    cii_line_items,
    degraded_scan,
    embedded_xml,
    half,
    invoice2data_line_items,
    invoice2data_truth,
    softmatic_receipt_cases,
    truth_key,
    zugferd_corpus_cases,
    zugferd_library_cases,
)
from extract import distinct, ocr_cached, odoo_facturx_cases, real_world_cases, sample_cases  # noqa: E402
from rapidfuzz import fuzz  # noqa: E402

from agents.extract import extract  # noqa: E402
from agents.llm import Llm  # noqa: E402
from agents.tables import validate_read  # noqa: E402
from extractors.ocr import read_document  # noqa: E402
from extractors.pages import count_pages  # noqa: E402
from extractors.types import get_type  # noqa: E402
from extractors.validation import ValidationReport  # noqa: E402
from samples import generate as gen  # noqa: E402

MANY_ROWS = 5


@dataclass
class LineCase:
    case: Case
    items: list[dict[str, Any]]
    charges: list[dict[str, Any]] = field(default_factory=list)


# --- real invoices -------------------------------------------------------------------------------------------------


def real_cases(mirrors: Path) -> list[LineCase]:
    """Real invoices with line items: the tuned PyPI sources of ``bench/extract.py`` (Factur-X and ZUGFeRD 1.0
    samples), then the fetched corpora (the ZUGFeRD corpus, the ZUGFeRD libraries' test and sample PDFs,
    invoice2data) without the documents those already hold, split by sender."""
    out: list[LineCase] = []
    tuned = distinct(real_world_cases() + odoo_facturx_cases())
    seen = {truth_key(case) for case in tuned}
    for case in tuned:
        xml = embedded_xml(case.data)
        lines = cii_line_items(xml) if xml is not None else None
        if lines and lines["line_items"]:
            out.append(LineCase(replace(case, group="tuned"), lines["line_items"], lines["charges"]))
    for case in zugferd_corpus_cases(mirrors) + zugferd_library_cases(mirrors):
        key = truth_key(case)
        xml = embedded_xml(case.data)
        if key in seen or xml is None:
            continue
        seen.add(key)
        lines = cii_line_items(xml)
        if lines["line_items"]:
            out.append(LineCase(replace(case, group=half(case)), lines["line_items"], lines["charges"]))
    repo = mirrors / "invoice-x+invoice2data" / "repo"
    if repo.exists():
        for path in _git_files(repo, r"^tests/compare/[^/]+\.pdf$"):
            try:
                expected = json.loads(_git_read(repo, path[: -len(".pdf")] + ".json"))[0]
            except (ValueError, IndexError, OSError):
                continue
            items = invoice2data_line_items(expected)
            if not items:
                continue
            stem = Path(path).stem
            case = Case(stem, "en", "invoice", _git_read(repo, path), invoice2data_truth(expected), "invoice2data")
            case.group = "tuned" if stem in INVOICE2DATA_RELEASED else half(case)
            out.append(LineCase(case, items))
    return out


def flagged_for_items(report: ValidationReport) -> bool:
    """Whether ``report`` sends its document to review for its line items (rows missing, or items adding up to more
    than the totals)."""
    return any(issue.code in ("line_items_incomplete", "line_items_mismatch") for issue in report.errors)


@dataclass
class ReceiptScore:
    receipts: int = 0
    with_items: int = 0
    accounted: int = 0  # items read and not sent to review for them: they add up to the total read
    accounted_total_right: int = 0  # of those, the total read is the receipt's


def receipt_scores(mirrors: Path, llm: Llm | None) -> dict[str, ReceiptScore]:
    """Till receipts photographed (``corpus.softmatic_receipt_cases``, split by sender): their truth holds no line
    items, only the total, so what is measured is whether the items read account for the total (the check that sends
    a receipt to review otherwise), and whether that total is the receipt's (a misread total the items add up to
    would complete a receipt wrongly)."""
    doc_type = get_type("invoice")
    scores: dict[str, ReceiptScore] = defaultdict(ReceiptScore)
    for case in softmatic_receipt_cases(mirrors):
        document, _ = ocr_cached(case)
        extraction = extract(document, doc_type, llm)
        report = validate_read(doc_type, extraction.data, document)
        flagged = flagged_for_items(report)
        items = extraction.data.get("line_items") or []
        s = scores[half(case)]
        s.receipts += 1
        s.with_items += bool(items)
        s.accounted += bool(items) and not flagged
        s.accounted_total_right += (
            bool(items) and not flagged and extraction.data.get("total_amount") == case.truth["total_amount"]
        )
    return scores


def scanned_real(cases: list[LineCase], max_pages: int = 3) -> list[LineCase]:
    """The real invoices of at most ``max_pages`` pages as degraded scans (``corpus.degraded_scan``, the OCR
    path), grouped apart: ``tuned, scanned``, ``tuning, scanned`` and ``held-out, scanned``."""
    out: list[LineCase] = []
    for line_case in cases:
        case = line_case.case
        if case.group not in ("tuned", "tuning", "held-out") or count_pages(case.data) > max_pages:
            continue
        scan = degraded_scan(case, max_pages)  # None: no PDF
        if scan is not None:
            out.append(replace(line_case, case=replace(scan, group=f"{case.group}, scanned")))
    return out


# --- synthetic multi-page tables -----------------------------------------------------------------------------------

HEADERS: dict[str, dict[str, list[str]]] = {
    "de": {
        "pos": ["Pos.", "Pos", "Nr."],
        "desc": ["Beschreibung", "Bezeichnung", "Artikel"],
        "qty": ["Menge", "Anzahl"],
        "price": ["Einzelpreis", "Preis", "Nettopreis", "Stückpreis"],
        "amount": ["Betrag", "Gesamtpreis", "Nettobetrag", "Gesamtbetrag"],
    },
    "en": {
        "pos": ["#", "No.", "Pos"],
        "desc": ["Description", "Item", "Item description"],
        "qty": ["Qty", "Quantity"],
        "price": ["Unit price", "Price", "Rate"],
        "amount": ["Amount", "Line total", "Total"],
    },
    "fr": {
        "pos": ["N°", "Pos."],
        "desc": ["Désignation", "Description", "Libellé"],
        "qty": ["Qté", "Quantité"],
        "price": ["Prix unitaire", "P.U. HT", "Prix"],
        "amount": ["Montant", "Montant HT", "Total HT"],
    },
    "nl": {
        "pos": ["Nr.", "Pos."],
        "desc": ["Omschrijving", "Artikel"],
        "qty": ["Aantal"],
        "price": ["Prijs", "Stukprijs"],
        "amount": ["Bedrag", "Totaal"],
    },
    "es": {
        "pos": ["Nº", "Pos."],
        "desc": ["Descripción", "Concepto"],
        "qty": ["Cantidad", "Cant."],
        "price": ["Precio", "Precio unitario"],
        "amount": ["Importe", "Total"],
    },
    "it": {
        "pos": ["N.", "Pos."],
        "desc": ["Descrizione"],
        "qty": ["Quantità", "Q.tà"],
        "price": ["Prezzo", "Prezzo unitario"],
        "amount": ["Importo", "Totale"],
    },
}
CARRIED = {
    "de": ("Übertrag", "Übertrag"),
    "en": ("Carried forward", "Brought forward"),
    "fr": ("À reporter", "Report"),
    "nl": ("Transport", "Transport"),
    "es": ("Suma y sigue", "Suma anterior"),
    "it": ("A riportare", "Riporto"),
}
PAGE = {"de": "Seite {k} von {n}", "en": "Page {k} of {n}", "fr": "Page {k}/{n}", "nl": "Pagina {k} van {n}"}
SURCHARGE = {
    "de": "Versandkosten",
    "en": "Shipping",
    "fr": "Frais de port",
    "nl": "Verzendkosten",
    "es": "Gastos de envío",
    "it": "Spese di spedizione",
}
DISCOUNT = {"de": "Rabatt", "en": "Discount", "fr": "Remise", "nl": "Korting", "es": "Descuento", "it": "Sconto"}
SERIAL = {"de": "Seriennummer", "en": "Serial no.", "fr": "N° de série", "nl": "Serienummer", "es": "N.º de serie"}
MODELS = ["S", "M", "L", "XL", "Pro", "Plus", "Basic", "Mini", "Max", "2024", "Classic", "Eco"]
TOP, BOTTOM, STEP = 1.9, 10.4, 0.3


def _right(canvas: gen.Canvas, x_right: float, y: float, text: str, font: str = "sans", points: float = 9) -> None:
    width = canvas.draw.textlength(text, font=canvas.font(font, points)) / gen.DRAW_DPI
    canvas.text(x_right - width, y, text, font=font, points=points)


def synthetic_invoice(seed: int) -> tuple[list[gen.Canvas], dict[str, Any], dict[str, Any]]:
    """One invoice of 30-60 rows over several pages: the canvases, its truth and how it was laid out."""
    rng = random.Random(f"line-items:{seed}")
    lang = rng.choice(sorted(HEADERS))
    words = {key: rng.choice(options) for key, options in HEADERS[lang].items()}
    labels = gen.INV_LABELS[lang]
    layout = {
        "lang": lang,
        "positions": rng.random() < 0.5,
        "dotted": rng.random() < 0.5,  # position numbers printed "1."
        "article": rng.random() < 0.3,  # an article number column before the description
        "unit": rng.random() < 0.4,  # a unit ("Stk.") after the quantity
        "rate": rng.choice(["", "", "19 %", "19,0"]),  # a tax rate column, with or without "%"
        "qty_first": rng.random() < 0.2,  # the quantity before the description
        "currency": rng.choice(["", "", "€", "EUR"]),  # printed after each amount
        "repeat_header": rng.random() < 0.5,
        "carried": rng.random() < 0.4,
        "wrapped": rng.random() < 0.4,
        "serials": rng.random() < 0.3,
        "adjust": rng.random() < 0.4,
        "rows": rng.randint(30, 60),
    }
    items: list[dict[str, Any]] = []
    for _ in range(int(layout["rows"])):
        quantity = rng.choice([1, 1, 1, 2, 3, 4, 5, 10, 12])
        unit = round(rng.uniform(2, 480), 2)
        name = f"{rng.choice(gen.PRODUCTS[lang])} {rng.choice(MODELS)}"
        if layout["wrapped"] and rng.random() < 0.3:
            name += f" {rng.choice(gen.PRODUCTS[lang]).split()[0]} {rng.randint(10, 99)}"
        items.append(
            {"description": name, "quantity": float(quantity), "unit_price": unit, "amount": round(quantity * unit, 2)}
        )
    lines_sum = round(sum(i["amount"] for i in items), 2)
    charges: list[dict[str, Any]] = []
    if layout["adjust"]:
        if rng.random() < 0.5:
            charges.append({"reason": DISCOUNT[lang], "amount": -round(lines_sum * 0.05, 2)})
        charges.append({"reason": SURCHARGE[lang], "amount": round(rng.uniform(4, 30), 2)})
    net = round(lines_sum + sum(c["amount"] for c in charges), 2)
    rate = gen.TAX_RATE[lang]
    tax = round(net * rate / 100, 2)
    total = round(net + tax, 2)
    suffix = f" {layout['currency']}" if layout["currency"] else ""

    def money(value: float) -> str:
        return gen.fmt_amount(lang, value, "EUR").replace("€", "").strip() + suffix

    # Columns left to right: (key, x in inches, right-aligned); the description takes what the others leave.
    columns: list[tuple[str, float, bool]] = []
    x = 0.8
    if layout["positions"]:
        columns.append(("pos", x, False))
        x += 0.45
    if layout["qty_first"]:
        columns.append(("qty", x + 0.35, True))
        x += 0.55
    if layout["article"]:
        columns.append(("article", x, False))
        x += 0.95
    columns.append(("desc", x, False))
    right = ["amount"] + (["rate"] if layout["rate"] else []) + ["price"] + ([] if layout["qty_first"] else ["qty"])
    x = 7.5
    for key in right:
        columns.append((key, x, True))
        if key == "qty" and layout["unit"]:
            columns.append(("unit", x + 0.08, False))  # the unit left-aligned right after the quantity
        x -= {"amount": 1.25, "rate": 0.6, "price": 1.35 if layout["unit"] else 1.0}.get(key, 0.9)
    columns.sort(key=lambda column: column[1])
    titles = {**words, "article": {"de": "Art.-Nr.", "en": "SKU", "fr": "Réf."}.get(lang, "Ref."), "unit": ""}
    titles["rate"] = {"de": "MwSt", "en": "VAT", "fr": "TVA", "nl": "BTW", "es": "IVA", "it": "IVA"}[lang]
    at = {key: x for key, x, _ in columns}
    seller = rng.choice(gen.COMPANY[lang])
    canvases: list[gen.Canvas] = []

    def new_page() -> gen.Canvas:
        canvas = gen.Canvas(rng, lang, None)
        canvas.text(0.8, 0.6, seller, font="sans-bold", points=14)
        canvas.text(0.8, 0.95, ", ".join(gen.address(lang, rng)), points=8)
        canvases.append(canvas)
        return canvas

    def cells(canvas: gen.Canvas, y: float, values: dict[str, str], font: str = "sans") -> None:
        for key, x, right_aligned in columns:
            text = values.get(key, "")
            if not text:
                continue
            if right_aligned:
                _right(canvas, x, y, text, font=font)
            else:
                canvas.text(x, y, text, font=font, points=9)

    def header(canvas: gen.Canvas, y: float) -> float:
        cells(canvas, y, {key: titles.get(key, "") for key, _x, _r in columns}, font="sans-bold")
        canvas.hline(0.8, 7.5, y + 0.22, width=2)
        return y + STEP + 0.05

    canvas = new_page()
    canvas.text(0.8, 1.5, labels["title"], font="sans-bold", points=16)
    canvas.text(0.8, 2.0, f"{labels['number']}: {rng.randint(10000, 99999)}", points=9)
    canvas.text(0.8, 2.3, f"{labels['date']}: {gen.fmt_date(lang, gen.random_date(rng, 2024, 2026))}", points=9)
    y = header(canvas, 3.0)
    running = 0.0
    for number, item in enumerate(items, start=1):
        lines = 1 + (1 if layout["serials"] and rng.random() < 0.2 else 0)
        if y + STEP * lines > BOTTOM:
            if layout["carried"]:
                canvas.text(at["desc"], y, CARRIED[lang][0], points=9)
                _right(canvas, at["amount"], y, money(running))
            canvas = new_page()
            y = TOP
            if layout["repeat_header"]:
                y = header(canvas, y)
            if layout["carried"]:
                canvas.text(at["desc"], y, CARRIED[lang][1], points=9)
                _right(canvas, at["amount"], y, money(running))
                y += STEP
        name = str(item["description"])
        first, rest = name, ""
        if len(name) > 26:
            cut = name.rfind(" ", 0, 26)
            first, rest = name[:cut], name[cut + 1 :]
        values = {
            "pos": f"{number}." if layout["dotted"] else str(number),
            "article": f"{rng.choice('ABKMZ')}{rng.randint(100, 9999)}",
            "desc": first,
            "qty": f"{item['quantity']:g}",
            "unit": {"de": "Stk.", "fr": "pce", "nl": "st.", "es": "ud.", "it": "pz."}.get(lang, "pcs"),
            "price": money(float(item["unit_price"])),
            "rate": str(layout["rate"]),
            "amount": money(float(item["amount"])),
        }
        cells(canvas, y, values)
        y += STEP
        if rest:
            canvas.text(at["desc"], y - 0.12, rest, points=9)
            y += STEP - 0.12
        if lines > 1:
            serial = f"{SERIAL.get(lang, 'SN')}: {rng.randint(10**7, 10**8)}"
            canvas.text(at["desc"] + 0.3, y - 0.05, serial, points=7)
            y += STEP - 0.05
        running = round(running + float(item["amount"]), 2)
    totals = [(label, value) for label, value in ((c["reason"], c["amount"]) for c in charges)]
    totals += [(labels["net"], net), (f"{labels['tax']} {rate} %", tax), (labels["total"], total)]
    if y + STEP * (len(totals) + 1) > BOTTOM:
        canvas = new_page()
        y = TOP
    y += 0.2
    for label, value in totals:
        canvas.text(4.6, y, label, points=9)
        _right(canvas, at["amount"], y, money(value))
        y += STEP
    pages = len(canvases)
    for k, page in enumerate(canvases, start=1):
        page.text(6.6, 11.0, PAGE.get(lang, "{k}/{n}").format(k=k, n=pages), points=8)
    truth = {"net_amount": net, "tax_amount": tax, "total_amount": total}
    return canvases, {"truth": truth, "items": items, "charges": charges}, layout


def synthetic_cases(family: str, count: int, start: int) -> list[tuple[LineCase, dict[str, Any]]]:
    out = []
    for seed in range(start, start + count):
        canvases, made, layout = synthetic_invoice(seed)
        data = gen.reproducible_pdf(gen.text_pdf(canvases))
        case = Case(f"synthetic-{seed}", str(layout["lang"]), "invoice", data, made["truth"], "synthetic", group=family)
        out.append((LineCase(case, made["items"], made["charges"]), layout))
    return out


def scanned(line_case: LineCase, seed: int) -> LineCase:
    """A synthetic invoice drawn again and scanned (200 dpi, slight skew, noise, JPEG): the OCR path."""
    canvases, _made, _layout = synthetic_invoice(seed)
    spec = gen.Spec("scan", "invoice", line_case.case.language, "pdf-scan", dpi=200, skew=0.4, noise=6, jpeg_quality=60)
    rng = random.Random(seed)
    data = gen.encode([gen.scan(canvas, spec, rng) for canvas in canvases], spec, canvases)
    case = replace(line_case.case, name=line_case.case.name + "~scan", data=data, group=line_case.case.group + " scan")
    return replace(line_case, case=case)


# --- scoring -------------------------------------------------------------------------------------------------------


@dataclass
class Score:
    rows: int = 0
    right: int = 0
    amount_right: int = 0
    documents: int = 0
    complete: int = 0
    missing_docs: int = 0
    silent: int = 0
    flagged_complete: int = 0
    seconds: float = 0.0
    silent_names: list[str] = field(default_factory=list)


def printed_amounts(row: dict[str, Any]) -> list[float]:
    """What a page may print as a truth row's amount: its own, or one of its ``printed_amounts``."""
    return [float(row["amount"]), *row.get("printed_amounts", [])]


def score_rows(truth: list[dict[str, Any]], got: list[dict[str, Any]]) -> tuple[int, int, int]:
    """(rows right, rows whose amount was read, rows missing) of ``truth`` in ``got``."""
    free = [item for item in got if isinstance(item, dict)]
    right = amount_right = 0
    for row in truth:
        amounts = printed_amounts(row)
        options = [
            item
            for item in free
            if isinstance(item.get("amount"), int | float)
            and any(abs(float(item["amount"]) - amount) < 0.006 for amount in amounts)
        ]
        if not options:
            continue
        amount_right += 1
        text = str(row.get("description") or "")
        best = max(options, key=lambda item: fuzz.token_set_ratio(text, str(item.get("description") or "")))
        free.remove(best)
        if not text or fuzz.token_set_ratio(text, str(best.get("description") or "")) >= 80:
            right += 1
    return right, amount_right, len(truth) - amount_right


def missing_kinds(truth: list[dict[str, Any]], got: list[dict[str, Any]]) -> str:
    """How the rows of ``truth`` no item has the amount of went missing, in words that show no document's content
    (said of held-out documents too): rows of amount zero (a free item, whose absence no sum can show); an item
    whose amount is within a few cents of the row's (one digit misread, inside the sums' tolerance), or no item near
    it; the items read against the rows printed, and whether the items add up to what the rows add up to (the sums
    check cannot see the loss then)."""
    amounts = [
        float(item["amount"]) for item in got if isinstance(item, dict) and isinstance(item.get("amount"), int | float)
    ]
    zero = near = far = 0
    for row in truth:
        printed = printed_amounts(row)
        if any(abs(a - p) < 0.006 for a in amounts for p in printed):
            continue
        if abs(float(row["amount"])) < 0.006:
            zero += 1
        elif any(abs(a - p) < 0.1 for a in amounts for p in printed):
            near += 1
        else:
            far += 1
    same_sum = abs(sum(amounts) - sum(float(row["amount"]) for row in truth)) < 0.02
    return (
        f"{zero + near + far} of {len(truth)} rows missing ({zero} of amount 0, {near} read within 10 cents, {far} not"
        f" near); {len(got)} items, {'adding' if same_sum else 'not adding'} up to the rows' sum"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--component", help="conversation component name (needs a running sidecar)")
    parser.add_argument("--mirrors", type=Path, default=DEFAULT_MIRRORS)
    parser.add_argument("--synthetic", type=int, default=20, help="synthetic invoices per seed family")
    parser.add_argument("--scans", type=int, default=0, help="synthetic invoices also scanned and read by OCR")
    parser.add_argument(
        "--no-real-scans", action="store_true", help="leave out the real invoices' degraded scans (OCR, slow once)"
    )
    parser.add_argument("--only", help="only documents whose name contains this")
    parser.add_argument("--misses", action="store_true", help="list documents with rows missing (never held-out)")
    args = parser.parse_args()
    llm = None
    if args.component:
        from dapr.clients import DaprClient

        llm = Llm(DaprClient(), args.component)
    doc_type = get_type("invoice")
    cases = [LineCase(c, c.truth["line_items"]) for c in sample_cases() if c.truth.get("line_items")]
    real = real_cases(args.mirrors)
    cases += real + ([] if args.no_real_scans else scanned_real(real))
    tuning = synthetic_cases("synthetic tuning", args.synthetic, 0)
    held = synthetic_cases("synthetic held-out", args.synthetic, 10_000)
    cases += [c for c, _layout in tuning + held]
    cases += [scanned(c, int(c.case.name.split("-")[1])) for c, _layout in (tuning[: args.scans] + held[: args.scans])]
    if args.only:
        cases = [c for c in cases if args.only in c.case.name]
    scores: dict[str, Score] = defaultdict(Score)
    misses: list[str] = []
    for line_case in cases:
        case = line_case.case
        if case.origin == "synthetic" and "~scan" not in case.name:
            document = read_document(case.data)
        else:
            document, _ = ocr_cached(case)
        started = time.perf_counter()
        extraction = extract(document, doc_type, llm)
        seconds = time.perf_counter() - started
        report = validate_read(doc_type, extraction.data, document)
        flagged = flagged_for_items(report)
        got = extraction.data.get("line_items") or []
        right, amount_right, missing = score_rows(line_case.items, got)
        groups = [case.group]
        if case.origin != "synthetic" and len(line_case.items) >= MANY_ROWS:
            groups.append(f"{case.group}, many rows")
        for group in groups:
            s = scores[group]
            s.documents += 1
            s.rows += len(line_case.items)
            s.right += right
            s.amount_right += amount_right
            s.complete += right == len(line_case.items)
            s.missing_docs += missing > 0
            s.silent += missing > 0 and not flagged
            s.flagged_complete += flagged and missing == 0
            s.seconds += seconds
            if missing > 0 and not flagged:
                name = case.name if "held-out" not in case.group else "(held-out)"
                s.silent_names.append(f"{name}: {missing_kinds(line_case.items, got)}")
        if (missing or right < len(line_case.items)) and "held-out" not in case.group:
            misses.append(
                f"{case.group:18} {case.name:55} rows {len(line_case.items):3} items {len(got):3} right {right:3} "
                f"amount {amount_right:3} flagged {flagged}"
            )
        elif flagged and "held-out" not in case.group:
            why = "; ".join(i.message for i in report.errors if i.code.startswith("line_items_"))
            misses.append(f"{case.group:18} {case.name:55} rows {len(line_case.items):3} flagged, none missing: {why}")

    def pct(part: int, whole: int) -> str:
        return f"{100 * part / whole:5.1f}% ({part}/{whole})" if whole else "   n/a"

    mode = f"component {args.component}" if args.component else "offline extractor"
    print(f"line items, {mode}: rows right (amount and description), documents with rows missing, and of those the")
    print("ones not flagged line_items_incomplete (silent); flagged although no row was missing")
    order = [
        "samples",
        "samples, many rows",
        "tuned",
        "tuned, many rows",
        "tuning",
        "tuning, many rows",
        "held-out",
        "held-out, many rows",
        "tuned, scanned",
        "tuned, scanned, many rows",
        "tuning, scanned",
        "tuning, scanned, many rows",
        "held-out, scanned",
        "held-out, scanned, many rows",
        "synthetic tuning",
        "synthetic held-out",
        "synthetic tuning scan",
        "synthetic held-out scan",
    ]
    for group in sorted(scores, key=lambda g: order.index(g) if g in order else len(order)):
        s = scores[group]
        rows = f"rows right {pct(s.right, s.rows):20} amounts {pct(s.amount_right, s.rows):20}"
        print(
            f"  {group:26} docs {s.documents:3}  {rows}"
            f" rows missing in {s.missing_docs:2} docs, silent {s.silent:2}, flagged complete {s.flagged_complete:2}"
            f"  {1000 * s.seconds / max(s.documents, 1):6.0f} ms/doc"
        )
        if s.silent_names:
            for silent in s.silent_names:
                print(f"    silent: {silent}")
    if not args.only:
        print("\ntill receipts (no line-item truth): with items read; accounted for (the items add up to the total")
        print("read, so the receipt is not sent to review for them); of those, the total read is the receipt's")
        for group, r in sorted(receipt_scores(args.mirrors, llm).items()):
            accounted = pct(r.accounted, r.receipts)
            print(
                f"  {group:26} receipts {r.receipts:3}  with items {pct(r.with_items, r.receipts):18}"
                f" accounted for {accounted:18} total right {pct(r.accounted_total_right, r.accounted)}"
            )
    if args.misses:
        print("\ndocuments with rows missing or wrong, or flagged with none missing (held-out never listed):")
        for miss in misses:
            print("  " + miss)


if __name__ == "__main__":
    main()
