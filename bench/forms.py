"""Real forms through a user's JSON Schema, offline: fields right per form, tuning and held-out halves apart.

    .venv/bin/python bench/forms.py                 # every form; misses listed for the tuning half only
    .venv/bin/python bench/forms.py --misses all    # the held-out half's misses too (then it is no longer held out)

The forms are government forms shipped as blank AcroForms in PyPI packages' test resources, fetched at bench time
into ``.docline/bench-cache`` (never committed) with a sha256 pin, as ``bench/extract.py`` fetches its invoices:

- ``pikepdf`` 10.18.0 sdist, ``tests/resources/form_210966.pdf``: VA Form 21-0966, intent to file a claim (2 pages,
  one letter per box in most fields);
- ``PyMuPDF`` 2.1 sdist, ``tests/resources/test-4055.pdf``: IRS Form 7004, extension of time to file (1 page);
  ``test_4965.pdf``: IRS Form 1040 for 2025 (2 pages); ``cms-etc-filled.pdf``: CMS-1490S, patient's request for
  medical payment (18 pages: the form, then its instructions; three of its buttons come filled in).

None of them comes filled in, so the bench fills each as a person would (values written below, chosen before any
extraction was run), with pypdf writing the values' appearances, then flattens it with PDFium (what printing to PDF
gives) and reads it as the pipeline does (``extractors.ocr.read_document``: the text layer). The values filled in
are the ground truth. Each form has a JSON Schema in ``bench/form-schemas/``, written with titles as a user would
name the fields, not copied from the printed labels. Split before any tuning: VA 21-0966 and IRS 7004 are the tuning
half, IRS 1040 and CMS-1490S the held-out half. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import io
import re
import sys
import tarfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agents.offline import _offline_extract, offline_extract  # noqa: E402
from bench.extract import CACHE, _pypi_sdist  # noqa: E402
from extractors.model import Document  # noqa: E402
from extractors.normalize import compact, fold, parse_amount, parse_date  # noqa: E402
from extractors.ocr import read_document  # noqa: E402
from extractors.rules import get_path  # noqa: E402
from extractors.types import load_user_types  # noqa: E402

SCHEMAS = ROOT / "bench" / "form-schemas"
PIKEPDF = ("pikepdf", "10.18.0", "cb555ebff93482e8a6eb55881488b469bbb2b5675161c1b93a0510a8642d98d0")
PYMUPDF = ("PyMuPDF", "2.1", "9ac95f98016e83eafb8f1d786396f9c60e400d559590596e5b2df9eb6384948b")


@dataclass
class Entry:
    """One schema field: its true value and what is typed into which form fields (by name or name suffix) to
    print it. A button's value is its state name (``/1``, ``/Male``)."""

    path: str
    truth: Any
    fill: dict[str, str] = field(default_factory=dict)


@dataclass
class Form:
    name: str
    half: str  # "tuning" or "held-out"
    source: tuple[str, str, str]
    member: str
    schema: str
    entries: list[Entry]


def _entry(path: str, truth: Any, **fill: str) -> Entry:
    # Keyword names cannot hold "[" or ".": the form's field names are written with "__" for "[0]".
    return Entry(path, truth, {re.sub(r"__(\d)?$", lambda m: f"[{m.group(1) or 0}]", k): v for k, v in fill.items()})


VA_21_0966 = Form(
    "VA 21-0966 intent to file",
    "tuning",
    PIKEPDF,
    "tests/resources/form_210966.pdf",
    "va-intent-to-file.json",
    [
        _entry("veteran.first_name", "MARIA", Veterans_First_Name__="MARIA"),
        _entry("veteran.middle_initial", "J", Veterans_Middle_Initial1__="J"),
        _entry("veteran.last_name", "OKAFOR", Veterans_Last_Name__="OKAFOR"),
        _entry(
            "veteran.ssn",
            "512-44-9071",
            Veterans_Social_SecurityNumber_FirstThreeNumbers__="512",
            Veterans_Social_SecurityNumber_SecondTwoNumbers__="44",
            VeteransSocialSecurityNumber_LastFourNumbers__="9071",
        ),
        Entry("veteran.filed_claim_before", True, {"F[0].Page_1[0].RadioButtonList[2]": "/0"}),
        Entry("veteran.va_file_number", "31245678", {"F[0].Page_1[0].VA_File_Number[0]": "31245678"}),
        Entry(
            "veteran.date_of_birth",
            "1971-11-23",
            {"Page_1[0].DOB_Month[0]": "11", "Page_1[0].DOB_Day[0]": "23", "Page_1[0].DOB_Year[0]": "1971"},
        ),
        _entry("veteran.service_number", "518452210", Veterans_Service_Number__="518452210"),
        Entry("veteran.street", "1420 MAPLE RIDGE DR", {"Mailing_Address_NumberAndStreet[0]": "1420 MAPLE RIDGE DR"}),
        Entry("veteran.apartment", "4B", {"Mailing_Address_ApartmentOrUnitNumber[0]": "4B"}),
        _entry("veteran.city", "DAYTON", MailingAddress_City__="DAYTON"),
        _entry("veteran.state", "OH", MailingAddress_StateOrProvince__="OH"),
        _entry("veteran.country", "US", MailingAddress_Country__="US"),
        _entry(
            "veteran.zip_code",
            "45402-1187",
            MailingAddress_ZIPOrPostalCode_FirstFiveNumbers__="45402",
            MailingAddress_ZIPOrPostalCode_LastFourNumbers__="1187",
        ),
        Entry(
            "veteran.telephone",
            "937-555-0142",
            {
                "Telephone_Number_FirstThreeNumbers[0]": "937",
                "Telephone_Number_SecondThreeNumbers[0]": "555",
                "Telephone_Number_LastFourNumbers[0]": "0142",
            },
        ),
        # The form's two e-mail lines hold 20 letters each: the address runs on to the second.
        Entry(
            "veteran.email",
            "maria.okafor@example.org",
            {"Page_1[0].EMAIL_ADDRESS[1]": "maria.okafor@example", "Page_1[0].EMAIL_ADDRESS[0]": ".org"},
        ),
        Entry("veteran.electronic_correspondence", True, {"Page_1[0].CheckBox1[0]": "/1"}),
        _entry("claimant.first_name", "DAVID", ClaimantsFirstName__="DAVID"),
        _entry("claimant.last_name", "OKAFOR", ClaimantsLastName__="OKAFOR"),
        _entry(
            "claimant.ssn",
            "498-21-3307",
            ClaimantsSocialSecurityNumber_FirstThreeNumbers__="498",
            ClaimantsSocialSecurityNumber_SecondTwoNumbers__="21",
            ClaimantsSocialSecurityNumber_LastFourNumbers__="3307",
        ),
        Entry("claimant.relationship", "spouse", {"F[0].Page_1[0].RadioButtonList[1]": "/0"}),
        Entry(
            "claimant.date_of_birth",
            "1969-03-07",
            {"Page_1[0].DOB_Month[1]": "03", "Page_1[0].DOB_Day[1]": "07", "Page_1[0].DOB_Year[1]": "1969"},
        ),
        _entry("claimant.city", "DAYTON", Mailing_Address_City__="DAYTON"),
        Entry("claimant.email", "d.okafor@example.org", {"ClaimantsEMAIL_ADDRESS[1]": "d.okafor@example.org"}),
        _entry("benefits.compensation", True, COMPENSATION__="/1"),
        _entry("benefits.pension", False),
        _entry("benefits.survivors_pension", False),
        Entry(
            "date_signed",
            "2025-06-02",
            {"Date_Signed_Month[0]": "06", "Date_Signed_Day[0]": "02", "Date_Signed_Year[0]": "2025"},
        ),
        _entry(
            "representative",
            "DISABLED AMERICAN VETERANS",
            Name_Of_Attorney_Agent_Or_Veterans_Service_Organization_VS__="DISABLED AMERICAN VETERANS",
        ),
    ],
)

IRS_7004 = Form(
    "IRS 7004 extension",
    "tuning",
    PYMUPDF,
    "tests/resources/test-4055.pdf",
    "irs-extension.json",
    [
        _entry("name", "NORTHWIND OUTFITTERS LLC", f1_01__="NORTHWIND OUTFITTERS LLC"),
        _entry("identifying_number", "84-1937265", f1_02__="84-1937265"),
        _entry("street", "2200 COMMERCE PKWY STE 310", f1_03__="2200 COMMERCE PKWY STE 310"),
        _entry("city_state_zip", "BOULDER, CO 80301", f1_04__="BOULDER, CO 80301"),
        Entry("form_code", "09", {"f1_05[0]": "0", "f1_06[0]": "9"}),
        _entry("foreign_corporation", False),
        _entry("consolidated_group_parent", True, c1_2__="/1"),
        _entry("qualifies_under_1_6081_5", False),
        Entry(
            "short_year_reason",
            "accounting_period_change",
            {"c1_4[2]": "/3", "f1_08[0]": "04/01", "f1_09[0]": "25", "f1_10[0]": "12/31", "f1_11[0]": "25"},
        ),
        Entry("tentative_total_tax", 18460.0, {"f1_12[0]": "18,460", "f1_13[0]": "00"}),
        Entry("total_payments", 12000.0, {"f1_14[0]": "12,000", "f1_15[0]": "00"}),
        Entry("balance_due", 6460.0, {"f1_16[0]": "6,460", "f1_17[0]": "00"}),
    ],
)

IRS_1040 = Form(
    "IRS 1040 income tax return",
    "held-out",
    PYMUPDF,
    "tests/resources/test_4965.pdf",
    "irs-income-tax-return.json",
    [
        _entry("taxpayer.first_name", "JORDAN", f1_14__="JORDAN"),
        _entry("taxpayer.last_name", "REYES", f1_15__="REYES"),
        _entry("taxpayer.ssn", "402-18-7755", f1_16__="402187755"),
        _entry("spouse.first_name", "PRIYA", f1_17__="PRIYA"),
        _entry("spouse.last_name", "REYES", f1_18__="REYES"),
        _entry("address.street", "718 BIRCHWOOD LANE", f1_20__="718 BIRCHWOOD LANE"),
        _entry("address.apartment", "2", f1_21__="2"),
        _entry("address.city", "MADISON", f1_22__="MADISON"),
        _entry("address.state", "WI", f1_23__="WI"),
        _entry("address.zip_code", "53703", f1_24__="53703"),
        Entry("filing_status", "married filing jointly", {"c1_8[1]": "/2"}),
        Entry("digital_assets", False, {"c1_10[1]": "/2"}),
        _entry("wages", 48250.0, f1_47__="48,250"),
        _entry("taxable_interest", 312.0, f1_59__="312"),
        _entry("ordinary_dividends", 1050.0, f1_61__="1,050"),
        _entry("total_income", 49612.0, f1_73__="49,612"),
        _entry("adjusted_gross_income", 49612.0, f1_75__="49,612"),
        _entry("deduction", 31500.0, f2_02__="31,500"),
        _entry("taxable_income", 18112.0, f2_06__="18,112"),
        _entry(
            "total_tax", 1937.0, f2_08__="1,937", f2_10__="1,937", f2_13__="1,937", f2_14__="1,937", f2_16__="1,937"
        ),
        _entry("withheld_w2", 4960.0, f2_17__="4,960", f2_20__="4,960"),
        _entry("total_payments", 4960.0, f2_29__="4,960"),
        _entry("overpaid", 3023.0, f2_30__="3,023"),
        _entry("refund", 3023.0, f2_31__="3,023"),
        _entry("routing_number", "075000022", f2_32__="075000022"),
        _entry("account_number", "4417203398", f2_33__="4417203398"),
        Entry("account_type", "checking", {"c2_16[0]": "/1"}),
        _entry("taxpayer.occupation", "TEACHER", f2_40__="TEACHER"),
        _entry("taxpayer.phone", "608-555-0199", f2_44__="608-555-0199"),
        _entry("taxpayer.email", "jreyes@example.net", f2_45__="jreyes@example.net"),
        Entry("third_party_designee", False, {"c2_17[1]": "/2"}),
    ],
)

CMS_1490S = Form(
    "CMS-1490S Medicare payment request",
    "held-out",
    PYMUPDF,
    "tests/resources/cms-etc-filled.pdf",
    "medicare-payment-request.json",
    [
        Entry("reason", "unable"),  # filled in as shipped
        Entry("request_type", "medical_equipment"),  # filled in as shipped
        Entry("patient.sex", "male"),  # filled in as shipped
        Entry("patient.name", "HOLLOWAY, EDWARD J", {"Patient Name as shown on Medicare Card": "HOLLOWAY, EDWARD J"}),
        Entry("patient.medicare_number", "1EG4-TE5-MK73", {"Patients Medicare Number": "1EG4-TE5-MK73"}),
        Entry("patient.date_of_birth", "1949-08-14", {"Date of Birth 1": "08/14/1949"}),
        Entry("patient.street", "52 CEDAR HOLLOW RD", {"Street Address 1": "52 CEDAR HOLLOW RD"}),
        Entry("patient.city", "KNOXVILLE", {"City 1": "KNOXVILLE"}),
        Entry("patient.state", "TN", {"State 1": "TN"}),
        Entry("patient.zip_code", "37919", {"Zip Code 1": "37919"}),
        Entry("patient.phone", "(865) 555-0117", {"Telephone Number 1": "(865) 555-0117"}),
        Entry(
            "illness",
            "Fractured left wrist after a fall at home",
            {
                "Describe Illness": "Fractured left wrist after a fall at home",
            },
        ),
        Entry("provider_npi", "1487653021", {"NPI number": "1487653021"}),
        Entry("related_to_employment", False, {"RadioButton9": "/No"}),
        Entry("related_to_auto_accident", False, {"RadioButton11": "/No"}),
        Entry("related_to_other_accident", True, {"RadioButton14": "/Other Accident? Yes."}),
        Entry(
            "employer_health_plan",
            True,
            {"RadioButton16": "/" + "Section 3- Information about Health Insurance Other Than Medicare."},
        ),
        Entry("other_coverage", True, {"RadioButton20": "/Do you have any medical coverage"}),
        Entry("other_insurance.name", "BLUE RIDGE MUTUAL", {"Name of Other Medical Insurance": "BLUE RIDGE MUTUAL"}),
        Entry(
            "other_insurance.policy_number",
            "BRM-55210934",
            {
                "Policy Number including Medicaid Number": "BRM-55210934",
            },
        ),
        Entry("other_insurance.policyholder", "HOLLOWAY, EDWARD J", {"Policy Holder Name": "HOLLOWAY, EDWARD J"}),
        Entry(
            "other_insurance.city",
            "ROANOKE",
            {
                "City 2": "ROANOKE",
                "Street Address of other insurance": "PO BOX 1180",
            },
        ),
        Entry("other_insurance.state", "VA", {"State 2": "VA"}),
        Entry("other_insurance.zip_code", "24011", {"Zip code 2": "24011"}),
        Entry("date_signed", "2025-09-30", {"Date Signed": "09/30/2025"}),
    ],
)

FORMS = [VA_21_0966, IRS_7004, IRS_1040, CMS_1490S]


def _widgets(writer: Any) -> list[tuple[str, Any, Any]]:
    """Every widget of the form: (its field's qualified name, the widget, the field dictionary)."""
    out = []
    for page in writer.pages:
        for annotation in page.get("/Annots") or []:
            widget = annotation.get_object()
            if widget.get("/Subtype") != "/Widget":
                continue
            owner = widget if "/T" in widget else widget["/Parent"].get_object()
            names, node = [], owner
            while node is not None:
                if "/T" in node:
                    names.append(str(node["/T"]))
                node = node["/Parent"].get_object() if "/Parent" in node else None
            out.append((".".join(reversed(names)), widget, owner))
    return out


def filled(blank: bytes, values: dict[str, str]) -> bytes:
    """``blank`` with ``values`` typed in (a key names a field or ends its qualified name; a button's value picks
    the widget whose appearance states start with it), then flattened by PDFium as printing to PDF does."""
    import pypdf
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c
    from pypdf.generic import NameObject

    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(blank)))
    acro_form = writer._root_object["/AcroForm"]
    if "/XFA" in acro_form:
        del acro_form["/XFA"]  # the AcroForm is what is filled and flattened; a stale XFA would contradict it
    widgets = _widgets(writer)
    texts: dict[str, str] = {}
    for key, value in values.items():
        matches = [w for w in widgets if w[0] == key or w[0].endswith("." + key) or w[0].endswith(key)]
        buttons = [(widget, owner) for _, widget, owner in matches if owner.get("/FT") == "/Btn"]
        if buttons:
            # A button's state names which of the widgets the key names is switched on (a group's widgets share it).
            switched = 0
            for widget, owner in buttons:
                on = next((s for s in widget["/AP"]["/N"] if str(s) != "/Off" and str(s).startswith(value)), None)
                if on is not None:
                    widget[NameObject("/AS")] = NameObject(on)
                    owner[NameObject("/V")] = NameObject(on)
                    switched += 1
            if switched != 1:
                raise SystemExit(f"button {key!r} has {switched} widgets with state {value!r}")
            continue
        if len({name for name, _, _ in matches}) != 1:
            raise SystemExit(f"form field {key!r} matches {sorted({n for n, _, _ in matches}) or 'nothing'}")
        texts[matches[0][0]] = value
    writer.update_page_form_field_values(None, texts, auto_regenerate=False)
    out = io.BytesIO()
    writer.write(out)
    pdf = pdfium.PdfDocument(out.getvalue())
    try:
        pdf.init_forms()
        for index in range(len(pdf)):
            page = pdf[index]
            pdfium_c.FPDFPage_Flatten(page.raw, pdfium_c.FLAT_PRINT)
            page.close()
        flat = io.BytesIO()
        pdf.save(flat)
    finally:
        pdf.close()
    return flat.getvalue()


def blank_form(form: Form) -> bytes | None:
    archive = _pypi_sdist(*form.source)
    if archive is None:
        return None
    with tarfile.open(archive) as tar:
        member = next((m for m in tar.getmembers() if m.name.endswith("/" + form.member)), None)
        extracted = tar.extractfile(member) if member is not None else None
        return extracted.read() if extracted is not None else None


def same(expected: Any, got: Any, kind: str, pattern: str | None) -> bool:
    if got is None:
        return False
    if isinstance(expected, bool) or kind == "boolean":
        return got is expected
    if isinstance(expected, float):
        value = got if isinstance(got, int | float) else parse_amount(str(got))
        return value is not None and abs(float(value) - expected) < 0.005
    if kind == "date":
        return parse_date(str(got)) == parse_date(str(expected))
    if pattern is not None:
        return compact(str(got)) == compact(str(expected))
    return " ".join(fold(str(got)).split()) == " ".join(fold(str(expected)).split())


def read_form(form: Form) -> tuple[Document, float] | None:
    """The filled form read as the pipeline reads it, and the seconds reading took."""
    blank = blank_form(form)
    if blank is None:
        return None
    data = filled(blank, {k: v for entry in form.entries for k, v in entry.fill.items()})
    started = time.perf_counter()
    document = read_document(data)
    return document, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--misses", choices=["tuning", "all", "none"], default="tuning")
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    per_half: dict[str, list[bool]] = defaultdict(list)
    per_kind: dict[tuple[str, str], list[bool]] = defaultdict(list)
    print("real forms through a user's JSON Schema, offline extractor")
    for form in FORMS:
        read = read_form(form)
        if read is None:
            print(f"  {form.name}: unavailable")
            continue
        document, _seconds = read
        (doc_type,) = load_user_types([SCHEMAS / form.schema])
        started = time.perf_counter()
        extraction = offline_extract(document, doc_type)
        first = time.perf_counter() - started
        started = time.perf_counter()
        _offline_extract(document, doc_type)  # again, past offline_extract's memory: the warm cost per page
        warm = time.perf_counter() - started
        specs = {spec.path: spec for spec in doc_type.fields()}
        rights: list[bool] = []
        misses: list[str] = []
        for entry in form.entries:
            spec = specs[entry.path]
            got = get_path(extraction.data, entry.path)
            right = same(entry.truth, got, spec.kind, spec.pattern)
            rights.append(right)
            per_kind[(form.half, spec.kind)].append(right)
            if not right:
                misses.append(f"    {entry.path:36} {spec.kind:8} expected {entry.truth!r:30} got {got!r}")
        per_half[form.half].extend(rights)
        pages = len(document.pages)
        print(
            f"  [{form.half:8}] {form.name:38} {sum(rights):3}/{len(rights):<3} {100 * sum(rights) / len(rights):5.1f}%"
            f"  ({pages} pages, extraction {1000 * first / pages:.1f} ms/page first, {1000 * warm / pages:.1f} warm)"
        )
        if args.misses == "all" or (args.misses == "tuning" and form.half == "tuning"):
            print("\n".join(misses))

    def pct(values: list[bool]) -> str:
        return f"{100 * sum(values) / len(values):5.1f}% ({sum(values)}/{len(values)})" if values else "   n/a"

    for half in ("tuning", "held-out"):
        print(f"{half}: {pct(per_half[half])}")
        for (kind_half, kind), values in sorted(per_kind.items()):
            if kind_half == half:
                print(f"    {kind:10} {pct(values)}")
    print(f"all forms: {pct(per_half['tuning'] + per_half['held-out'])}")


if __name__ == "__main__":
    main()
