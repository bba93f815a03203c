"""The real-world corpus the extraction benchmarks measure against, split before any tuning.

Three groups, reported apart so a figure on documents the extractor was tuned on is never mistaken for one on
documents it has never seen:

- ``tuned``: the PyPI sources the offline extractor was grown on (``factur-x``, invoice2data 0.4.0, the OCA
  Factur-X import module's files; see ``bench/extract.py``).
- ``tuning`` and ``held-out``: every other real document, split by a hash of its *sender* (the seller's VAT ID,
  else its name), so the same sender never sits in both halves: the held-out half measures senders docline has not
  been tuned on. Work on the tuning half only; look at held-out figures, never at held-out documents.

Sources beyond PyPI are public git repositories brought onto the machine by the maintainers' ``fetch`` tool (never
committed: third parties' documents); each is used when its snapshot is found under ``--mirrors``
(default ``/work/.mirror``):

- ``ZUGFeRD/corpus``: ZUGFeRD 1/2, Factur-X and XRechnung PDFs from many producers, each with its embedded CII XML
  as ground truth (``correct`` folders only; the ``fail`` ones are invalid on purpose). An XML whose grand total
  the page does not print is no truth for it (the file is left out); an invoice number the page does not print
  (an XML's number with a suffix the page leaves off) is not scored.
- ``invoice-x/invoice2data``: the invoices of its ``tests/compare`` that the 0.4.0 sdist did not ship, with the
  JSON its templates must produce (``partner_name`` is the printed seller name there).
- ``ZUGFeRD/mustangproject``, ``horstoeko/zugferd``, ``stephanstapel/ZUGFeRD-csharp``: the PDFs these libraries
  test and document with, each with its embedded XML (the samples of every ZUGFeRD version, many of them several
  pages long).

Every real PDF also comes as a degraded scan: its pages rendered at 200 dpi in grey, slightly turned, blurred, with
sensor noise and JPEG artefacts, wrapped in an image-only PDF (the OCR path, with the same truth). A scan sits in
the same half as its source.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import re
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from extractors.normalize import compact, fold, parse_amount
from extractors.rules import get_path

CORE_INVOICE = [
    "invoice_number",
    "issue_date",
    "due_date",
    "currency",
    "net_amount",
    "tax_amount",
    "total_amount",
    "seller.name",
    "seller.vat_id",
]
DEFAULT_MIRRORS = Path("/work/.mirror")
SCAN_DPI = 200
# The modules that turn a file into a Document: OCR results cached by the benchmarks are keyed by their source too,
# so a change to page cleanup or OCR is never measured on text read before it.
_READING_MODULES = ["cleanup", "images", "intake", "language", "ocr", "pages", "pdf", "second_reader"]


@lru_cache(maxsize=1)
def _reading_code() -> bytes:
    extractors = Path(__file__).resolve().parent.parent / "extractors"
    return hashlib.sha256(b"".join((extractors / f"{module}.py").read_bytes() for module in _READING_MODULES)).digest()


def ocr_key(data: bytes) -> str:
    """The cache key of ``data`` read by the current OCR code."""
    return hashlib.sha256(data + _reading_code()).hexdigest()[:24]


@dataclass
class Case:
    name: str
    language: str
    doc_type: str
    data: bytes
    truth: dict[str, Any]
    origin: str
    # The fields the source's truth holds (None: every core field, an absent value meaning "not on the document").
    scored: list[str] | None = None
    group: str = "samples"  # samples | tuned | tuning | held-out
    suffix: str = ".pdf"
    sender: str | None = None  # who sent it, when the truth does not name the seller


# --- ground truth from embedded CII XML (Factur-X / ZUGFeRD 1.0 and 2.x) -------------------------------------------


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find(node: ET.Element, *path: str) -> ET.Element | None:
    current: ET.Element | None = node
    for name in path:
        if current is None:
            return None
        current = next((child for child in current.iter() if _local(child.tag) == name and child is not current), None)
    return current


def cii_truth(xml: bytes) -> dict[str, Any]:
    """The core invoice fields a Factur-X / ZUGFeRD (1.0 and 2.x) CII document holds; absent ones are left out.

    Mapping: ExchangedDocument (1.0: HeaderExchangedDocument) ID -> invoice_number, its IssueDateTime ->
    issue_date; SpecifiedTradePaymentTerms DueDateDateTime -> due_date; InvoiceCurrencyCode -> currency;
    TaxBasisTotalAmount -> net_amount; TaxTotalAmount -> tax_amount; GrandTotalAmount -> total_amount;
    SellerTradeParty Name -> seller.name, its tax registration with schemeID VA -> seller.vat_id.
    """
    root = ET.fromstring(xml)

    def text(*path: str) -> str | None:
        found = _find(root, *path)
        return found.text.strip() if found is not None and found.text and found.text.strip() else None

    def day(value: str | None) -> str | None:
        return f"{value[:4]}-{value[4:6]}-{value[6:8]}" if value and len(value) >= 8 else None

    def amount(name: str) -> float | None:
        value = text(name)
        try:
            return float(value) if value else None
        except ValueError:
            return None

    header = "ExchangedDocument" if _find(root, "ExchangedDocument") is not None else "HeaderExchangedDocument"
    seller = _find(root, "SellerTradeParty")
    vat = None
    if seller is not None:
        for registration in seller.iter():
            if _local(registration.tag) == "ID" and registration.get("schemeID") == "VA" and registration.text:
                vat = registration.text.strip()
                break
    return {
        "invoice_number": text(header, "ID"),
        "issue_date": day(text(header, "IssueDateTime", "DateTimeString")),
        "due_date": day(text("SpecifiedTradePaymentTerms", "DueDateDateTime", "DateTimeString")),
        "currency": text("InvoiceCurrencyCode"),
        "net_amount": amount("TaxBasisTotalAmount"),
        "tax_amount": amount("TaxTotalAmount"),
        "total_amount": amount("GrandTotalAmount"),
        "seller": {"name": text("SellerTradeParty", "Name"), "vat_id": vat},
    }


_CII_INVOICE_ROOTS = {"CrossIndustryInvoice", "CrossIndustryDocument"}  # ZUGFeRD 2.x / Factur-X, ZUGFeRD 1.0


def embedded_xml_case(name: str, language: str, data: bytes, origin: str) -> Case | None:
    """A PDF whose embedded CII XML (Factur-X / ZUGFeRD) is its ground truth; ``None`` without one."""
    import pypdf

    try:
        attachments = pypdf.PdfReader(io.BytesIO(data)).attachments
        xml = next((files[0] for key, files in attachments.items() if key.lower().endswith(".xml")), None)
        # An Order-X order embeds its XML the same way; only invoices (and credit notes) are invoice truths.
        invoice = xml is not None and _local(ET.fromstring(xml).tag) in _CII_INVOICE_ROOTS
        truth = cii_truth(xml) if xml is not None and invoice else None
    except Exception:  # a damaged PDF or XML is simply not a case
        return None
    text = text_layer(data)
    if truth is None or not _prints_total(text, truth.get("total_amount")):
        return None
    number = truth.get("invoice_number")
    # An XML number printed nowhere on the page (a policy number with a suffix the page leaves off): no reader of
    # the page can get it, so it is not scored (it still tells duplicates apart).
    unprinted = {"invoice_number"} if text and number and compact(str(number)) not in compact(text) else set()
    scored = [path for path in CORE_INVOICE if get_path(truth, path) is not None and path not in unprinted]
    return Case(name, language, "invoice", data, truth, origin, scored) if scored else None


# The text layers of the fetched PDFs, read once: pypdf takes minutes over the corpora, on every benchmark run.
TEXT_LAYERS = Path(__file__).resolve().parent.parent / ".docline" / "bench-cache" / "text-layers"


def text_layer(data: bytes) -> str:
    """The PDF's text layer, empty when it has none (or cannot be read); kept by content and pypdf's version."""
    import pypdf

    cached = TEXT_LAYERS / f"{hashlib.sha256(data + pypdf.__version__.encode()).hexdigest()[:24]}.txt"
    if cached.exists():
        return cached.read_bytes().decode("utf-8", "surrogatepass")
    try:
        text = " ".join(page.extract_text() or "" for page in pypdf.PdfReader(io.BytesIO(data)).pages).strip()
    except Exception:
        text = ""
    TEXT_LAYERS.mkdir(parents=True, exist_ok=True)
    # surrogatepass: a text layer may hold lone surrogates.
    cached.write_bytes(text.encode("utf-8", "surrogatepass"))
    return text


def _prints_total(text: str, total: float | None) -> bool:
    """Whether the page (its text layer ``text``) prints the XML's grand total: some producers embed an XML of
    another invoice (a template's example data), and such a file's XML is no ground truth for its page."""
    if total is None or not text:
        return True  # no total, or no text layer to check against
    printed = {parse_amount(token) for token in re.findall(r"-?\d[\d.,' ]*\d", text)}
    return any(value is not None and abs(abs(value) - abs(total)) < 0.005 for value in printed)


# --- sources from fetched repositories ---------------------------------------------------------------------------


def _git_files(repo: Path, pattern: str) -> list[str]:
    listing = subprocess.run(
        ["git", "--git-dir", str(repo), "ls-tree", "-r", "--name-only", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return [name for name in listing if re.search(pattern, name)]


def _git_read(repo: Path, path: str) -> bytes:
    return subprocess.run(
        ["git", "--git-dir", str(repo), "show", f"HEAD:{path}"], capture_output=True, check=True
    ).stdout


def embedded_xml_repo_cases(repo: Path, pattern: str, origin: str) -> list[Case]:
    """Every PDF of a fetched repository matching ``pattern`` that embeds its CII XML (Factur-X / ZUGFeRD)."""
    if not repo.exists():
        return []
    cases = []
    for path in _git_files(repo, pattern):
        language = "fr" if re.search(r"factur-x|FNFE|Facture|Avoir|_FR_", path, re.IGNORECASE) else "de"
        try:
            content = _git_read(repo, path)
        except subprocess.CalledProcessError:  # a large file the snapshot lists but does not hold
            continue
        case = embedded_xml_case(Path(path).stem, language, content, origin)
        if case:
            cases.append(case)
    return cases


def zugferd_corpus_cases(mirrors: Path) -> list[Case]:
    pattern = r"(/correct/|XML-Rechnung/FX/|unstructured/).*\.pdf$"
    return embedded_xml_repo_cases(mirrors / "ZUGFeRD+corpus" / "repo", pattern, "ZUGFeRD corpus (git)")


def zugferd_library_cases(mirrors: Path) -> list[Case]:
    """The test PDFs of three ZUGFeRD libraries (Mustang, Java; horstoeko/zugferd, PHP; ZUGFeRD-csharp, .NET):
    invoices their users and authors produced, each with its embedded XML; most standard samples among them are
    already in the corpus and count once. ZUGFeRD-csharp keeps every version's samples, most of them several pages
    long (an invoice with its attachments)."""
    mustang = mirrors / "ZUGFeRD+mustangproject" / "repo"
    horstoeko = mirrors / "horstoeko+zugferd" / "repo"
    csharp = mirrors / "stephanstapel+ZUGFeRD-csharp" / "repo"
    return (
        embedded_xml_repo_cases(mustang, r"src/test/resources/.*\.pdf$", "Mustang tests (git)")
        + embedded_xml_repo_cases(horstoeko, r"^tests/assets/.*\.pdf$", "horstoeko tests (git)")
        + embedded_xml_repo_cases(csharp, r"\.pdf$", "ZUGFeRD-csharp samples (git)")
    )


INVOICE2DATA_RELEASED = {
    "AmazonWebServices",
    "FlipkartInvoice",
    "NetpresseInvoice",
    "Orlen",
    "QualityHosting",
    "SammyMaystoneLinesTest",
    "free_fiber",
    "oyo",
}


def invoice2data_truth(expected: dict[str, Any], *, printed_names: bool = True) -> dict[str, Any]:
    """invoice2data's expected output mapped to our fields; fields it does not hold are left out.
    ``printed_names``: the JSON's ``partner_name`` and ``amount_tax`` are the printed seller and tax (the 0.4.0
    files hold neither reliably: ``issuer`` there is a template's short name)."""
    truth: dict[str, Any] = {}
    if expected.get("invoice_number"):
        truth["invoice_number"] = str(expected["invoice_number"]).lstrip("#")
    for theirs, ours in (("date", "issue_date"), ("date_due", "due_date"), ("currency", "currency")):
        if expected.get(theirs):
            truth[ours] = str(expected[theirs])
    amounts = [("amount", "total_amount"), ("amount_untaxed", "net_amount")]
    amounts += [("amount_tax", "tax_amount")] if printed_names else []
    for theirs, ours in amounts:
        if isinstance(expected.get(theirs), int | float):
            truth[ours] = float(expected[theirs])
    seller: dict[str, Any] = {}
    vat = expected.get("vat") or expected.get("static_vat")
    if isinstance(vat, str) and re.match(r"[A-Z]{2}\s*\w", vat):
        seller["vat_id"] = vat
    if printed_names and expected.get("partner_name"):
        seller["name"] = str(expected["partner_name"])
    if seller:
        truth["seller"] = seller
    return truth


def invoice2data_repo_cases(mirrors: Path) -> list[Case]:
    repo = mirrors / "invoice-x+invoice2data" / "repo"
    if not repo.exists():
        return []
    cases = []
    for path in _git_files(repo, r"^tests/compare/[^/]+\.pdf$"):
        stem = Path(path).stem
        if stem in INVOICE2DATA_RELEASED:
            continue
        try:
            expected = json.loads(_git_read(repo, path[: -len(".pdf")] + ".json"))[0]
        except (subprocess.CalledProcessError, ValueError, IndexError):
            continue
        truth = invoice2data_truth(expected)
        scored = [p for p in CORE_INVOICE if get_path(truth, p) is not None]
        country = str(expected.get("country_code") or "").lower()
        language = {"nl": "nl", "fr": "fr", "de": "de", "es": "es"}.get(country, "en")
        cases.append(Case(stem, language, "invoice", _git_read(repo, path), truth, "invoice2data (git)", scored))
    return cases


_RECEIPT_NAME = re.compile(
    r"^(?P<merchant>[a-z]+)_(?P<day>\d{2})(?P<month>\d{2})(?P<year>\d{4})_(?:\d{2}_)?(?P<cents>\d{5})"
)


def softmatic_receipt_cases(mirrors: Path) -> list[Case]:
    """German till receipts scanned at 300 dpi (``softmatic/vision-data``, CC-BY-4.0): the file name holds the date
    and the amount due (``aldi_02032020_19_02423.jpg``: 2 March 2020, 24.23), the ground truth scored here; the
    merchant in the name is a short key, not the printed name, so it only decides the sender."""
    repo = mirrors / "softmatic+vision-data" / "repo"
    if not repo.exists():
        return []
    cases = []
    for path in _git_files(repo, r"^2D/Receipts/.*\.jpe?g$"):
        match = _RECEIPT_NAME.match(Path(path).name)
        if match is None:
            continue
        truth = {
            "issue_date": f"{match['year']}-{match['month']}-{match['day']}",
            "total_amount": int(match["cents"]) / 100,
        }
        cases.append(
            Case(
                Path(path).stem,
                "de",
                "invoice",
                _git_read(repo, path),
                truth,
                "softmatic receipts (git)",
                ["issue_date", "total_amount"],
                suffix=Path(path).suffix,
                sender=match["merchant"],
            )
        )
    return cases


# --- degraded scans ------------------------------------------------------------------------------------------------


# Degraded scans, made once: rendering, turning and blurring the corpora's pages takes most of a minute per run.
SCANS = Path(__file__).resolve().parent.parent / ".docline" / "bench-cache" / "scans"


def degraded_scan(case: Case, max_pages: int = 3) -> Case | None:
    """``case``'s PDF as a poor office scan: 200 dpi grey, turned up to 0.6°, blurred, noisy, JPEG; image-only PDF.
    ``None`` for a PDF of more than ``max_pages`` pages: a scan of its first pages is no whole document (its totals
    are on a later page), and scoring it would count fields it does not print. Kept by the PDF, ``max_pages``, this
    module's code and the versions of the libraries that draw it."""
    from importlib.metadata import version

    from extractors.pages import count_pages

    if not case.data.startswith(b"%PDF") or count_pages(case.data) > max_pages:
        return None
    made_by = " ".join([str(max_pages), *(version(name) for name in ("pypdfium2", "pillow", "numpy"))]).encode()
    cached = SCANS / f"{hashlib.sha256(case.data + made_by + Path(__file__).read_bytes()).hexdigest()[:24]}.pdf"
    if cached.exists():
        data = cached.read_bytes()
    else:
        made = _degrade(case.data, max_pages)
        if made is None:
            return None
        SCANS.mkdir(parents=True, exist_ok=True)
        cached.write_bytes(made)
        data = made
    return replace(case, name=case.name + "~scan", data=data, origin=case.origin + " scanned")


def _degrade(pdf_data: bytes, max_pages: int) -> bytes | None:
    import numpy as np
    import pypdfium2
    from PIL import Image, ImageFilter

    rng = random.Random(hashlib.sha256(pdf_data).digest())
    try:
        pdf = pypdfium2.PdfDocument(pdf_data)
    except Exception:
        return None
    pages: list[Image.Image] = []
    for index in range(min(len(pdf), max_pages)):
        image = pdf[index].render(scale=SCAN_DPI / 72, grayscale=True).to_pil().convert("L")
        image = image.rotate(rng.uniform(-0.6, 0.6), resample=Image.Resampling.BICUBIC, fillcolor=255, expand=False)
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 0.8)))
        noisy = np.asarray(image, dtype=np.float32) + np.random.default_rng(rng.getrandbits(32)).normal(
            0, 9, (image.height, image.width)
        )
        image = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=rng.randint(45, 70))
        pages.append(Image.open(io.BytesIO(buffer.getvalue())))
    pdf.close()
    if not pages:
        return None
    out = io.BytesIO()
    # No creation or modification time written: the same bytes every run, so its OCR is read from the cache.
    pages[0].save(
        out, "PDF", resolution=SCAN_DPI, save_all=True, append_images=pages[1:], creationDate=None, modDate=None
    )
    return out.getvalue()


# --- dedupe and split ----------------------------------------------------------------------------------------------


def sender_key(case: Case) -> str:
    """Who sent it: the seller's VAT ID, else its name, else the document's own name (one-document senders)."""
    if case.sender:
        return case.sender
    vat = get_path(case.truth, "seller.vat_id")
    if vat:
        return compact(str(vat))
    name = get_path(case.truth, "seller.name")
    return " ".join(fold(str(name)).split()) if name else case.name


def truth_key(case: Case) -> str:
    """Documents with the same sender, number and total are one document, however printed."""
    number = compact(str(case.truth.get("invoice_number") or ""))
    return f"{sender_key(case)}|{number}|{case.truth.get('issue_date')}|{case.truth.get('total_amount')}"


def half(case: Case) -> str:
    """``tuning`` or ``held-out``: a fixed function of the sender, chosen before any tuning."""
    digest = hashlib.sha256(("docline-split-1|" + sender_key(case)).encode()).digest()
    return "tuning" if digest[0] % 2 == 0 else "held-out"


def new_real_cases(mirrors: Path, known: list[Case], scans: bool = True) -> list[Case]:
    """Real documents beyond the tuned PyPI sources, split into halves, with their degraded scans."""
    seen = {truth_key(case) for case in known}
    cases: list[Case] = []
    for case in zugferd_corpus_cases(mirrors) + invoice2data_repo_cases(mirrors) + zugferd_library_cases(mirrors):
        key = truth_key(case)
        if key in seen:
            continue
        seen.add(key)
        cases.append(replace(case, group=half(case)))
    if scans:
        cases += [scan for scan in (degraded_scan(case) for case in list(cases)) if scan]
    # Receipts are scans already: no degraded copy.
    for case in softmatic_receipt_cases(mirrors):
        if truth_key(case) not in seen:
            seen.add(truth_key(case))
            cases.append(replace(case, group=half(case)))
    return cases


def write_corpus(cases: list[Case], folder: Path) -> None:
    """Each case as ``<group>/<name><suffix>`` with its ground truth beside it (``docline eval``'s format)."""
    for case in cases:
        target = folder / case.group
        target.mkdir(parents=True, exist_ok=True)
        safe = re.sub(r"[^\w.~-]+", "_", case.name)
        (target / f"{safe}{case.suffix}").write_bytes(case.data)
        truth = {
            "file": f"{safe}{case.suffix}",
            "document_type": case.doc_type,
            "language": case.language,
            "origin": case.origin,
            "fields": case.truth,
        }
        if case.scored is not None:
            truth["scored"] = case.scored
        (target / f"{safe}.json").write_text(json.dumps(truth, ensure_ascii=False, indent=2), encoding="utf-8")


# --- line items (bench/line_items.py) ------------------------------------------------------------------------------


def embedded_xml(data: bytes) -> bytes | None:
    """The CII XML a Factur-X / ZUGFeRD PDF carries, or ``None``."""
    import pypdf

    try:
        attachments = pypdf.PdfReader(io.BytesIO(data)).attachments
    except Exception:  # a damaged PDF has no XML to offer
        return None
    return next((files[0] for key, files in attachments.items() if key.lower().endswith(".xml")), None)


def _amount_of(node: ET.Element | None) -> float | None:
    try:
        return float(node.text) if node is not None and node.text and node.text.strip() else None
    except ValueError:
        return None


# UNTDID 1001 document types of a credit note: its XML states line totals positive, its page may print them negative.
CREDIT_NOTE_CODES = frozenset({"81", "83", "261", "262", "381", "396", "532"})


def cii_line_items(xml: bytes) -> dict[str, Any]:
    """The invoice lines a CII document (ZUGFeRD 1.0, 2.x, Factur-X) holds, and its document-level surcharges and
    discounts: ``{"line_items": [...], "charges": [...]}``.

    Mapping per IncludedSupplyChainTradeLineItem: LineID -> position, SpecifiedTradeProduct Name -> description,
    BilledQuantity -> quantity, NetPriceProductTradePrice ChargeAmount -> unit_price, LineTotalAmount -> amount.
    ``printed_amounts``: what a page may print instead of the net line total: quantity × gross price (before a
    line discount, or an insurance's price including its tax) and the line total with its VAT rate; on a credit
    note, each of them negative as well. A line without a LineTotalAmount is a note (ZUGFeRD 1.0 prints remarks as
    lines) and is left out. Charges: the header's SpecifiedTradeAllowanceCharge, signed (a discount negative) with
    its Reason.
    """
    root = ET.fromstring(xml)
    type_code = next((node.text or "" for node in root.iter() if _local(node.tag) == "TypeCode"), "").strip()
    items: list[dict[str, Any]] = []
    for line in (node for node in root.iter() if _local(node.tag) == "IncludedSupplyChainTradeLineItem"):
        amount = _amount_of(_find(line, "LineTotalAmount"))
        if amount is None:
            continue
        name = _find(line, "SpecifiedTradeProduct", "Name")
        position = _find(line, "AssociatedDocumentLineDocument", "LineID")
        quantity = _amount_of(_find(line, "BilledQuantity"))
        gross_price = _amount_of(_find(line, "GrossPriceProductTradePrice", "ChargeAmount"))
        rate = _amount_of(_find(line, "RateApplicablePercent")) or _amount_of(_find(line, "ApplicablePercent"))
        printed = set()
        if quantity is not None and gross_price is not None:
            printed.add(round(quantity * gross_price, 2))
        if rate:
            printed.add(round(amount * (1 + rate / 100), 2))
        if type_code in CREDIT_NOTE_CODES:
            printed |= {-value for value in [amount, *printed]}
        items.append(
            {
                "position": position.text.strip() if position is not None and position.text else None,
                "description": " ".join((name.text or "").split()) if name is not None else None,
                "quantity": quantity,
                "unit_price": _amount_of(_find(line, "NetPriceProductTradePrice", "ChargeAmount")),
                "amount": amount,
                "printed_amounts": sorted(printed - {amount}),
            }
        )
    lines = {
        id(node)
        for item in root.iter()
        if _local(item.tag) == "IncludedSupplyChainTradeLineItem"
        for node in item.iter()
    }
    charges = []
    for node in root.iter():
        if _local(node.tag) != "SpecifiedTradeAllowanceCharge" or id(node) in lines:
            continue
        amount = _amount_of(_find(node, "ActualAmount"))
        indicator = _find(node, "ChargeIndicator", "Indicator")
        reason = _find(node, "Reason")
        if amount is None:
            continue
        surcharge = indicator is not None and (indicator.text or "").strip().lower() == "true"
        charges.append(
            {
                "reason": (reason.text or "").strip() if reason is not None else "",
                "amount": amount if surcharge else -amount,
            }
        )
    return {"line_items": items, "charges": charges}


def invoice2data_line_items(expected: dict[str, Any]) -> list[dict[str, Any]]:
    """invoice2data's ``lines`` as our line items: section headers and notes left out; the amount is
    ``price_subtotal``, else ``price`` (a line's price where the template reads no subtotal), else ``price_unit``
    when no quantity is given (a service billed once); the description is the first printed line of ``name`` or
    ``desc``."""
    items = []
    for line in expected.get("lines") or []:
        if not isinstance(line, dict):
            continue
        amount = line.get("price_subtotal", line.get("price"))
        if amount is None and "qty" not in line:
            amount = line.get("price_unit")
        try:
            value = float(amount) if amount is not None else None
        except (TypeError, ValueError):
            value = None
        if value is None:
            continue
        text = str(line.get("name") or line.get("desc") or "").split("\n")[0].strip()
        quantity = line.get("qty")
        items.append(
            {
                "position": str(line["pos"]) if line.get("pos") else None,
                "description": text or None,
                "quantity": float(quantity) if isinstance(quantity, int | float) else None,
                "unit_price": float(line["price_unit"]) if isinstance(line.get("price_unit"), int | float) else None,
                "amount": value,
            }
        )
    return items
