"""Each built-in type's deterministic rules, on valid and invalid data."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from extractors.rules import PrintedRow, PrintedTable
from extractors.types import get_type
from extractors.validation import ValidationReport, validate

VALID_INVOICE: dict[str, Any] = {
    "invoice_number": "RE-2024-0042",
    "issue_date": "2024-04-03",
    "due_date": "2024-05-03",
    "currency": "EUR",
    "net_amount": 1234.56,
    "tax_amount": 234.57,
    "total_amount": 1469.13,
    "seller": {
        "name": "Optik Müller GmbH",
        "vat_id": "DE 136 695 976",
        "address": "Hauptstraße 1, 10115 Berlin",
        "iban": "DE89 3704 0044 0532 0130 00",
    },
    "buyer": {"name": "Brillenhaus Schmidt", "vat_id": "FR40303265045", "address": "1 rue de la Paix, Paris"},
    "line_items": [
        {"description": "Gleitsichtgläser", "quantity": 2, "unit_price": 500.0, "amount": 1000.0},
        {"description": "Fassung", "quantity": 1, "unit_price": 234.56, "amount": 234.56},
    ],
}

VALID_PRESCRIPTION: dict[str, Any] = {
    "patient": {"name": "Anna Schmidt", "date_of_birth": "1970-05-17"},
    "prescriber": {"name": "Dr. Weber"},
    "issue_date": "2024-04-03",
    "right": {"sphere": -1.25, "cylinder": -0.5, "axis": 90, "addition": 2.0, "prism": 1.0, "prism_base": "in"},
    "left": {"sphere": -1.0, "cylinder": 0.0, "axis": None, "addition": 2.0},
    "pupillary_distance": {"binocular": 63.0, "right": 31.5, "left": 31.5},
    "lens_type": "progressive",
}


def changed(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(base)
    target = data
    parts = path.split(".")
    for part in parts[:-1]:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if isinstance(target, list):
        target[int(parts[-1])] = value
    else:
        target[parts[-1]] = value
    return data


def codes(report: ValidationReport) -> set[tuple[str, str]]:
    return {(issue.field, issue.code) for issue in report.errors}


def test_valid_invoice_passes() -> None:
    report = validate(get_type("invoice"), VALID_INVOICE)
    assert report.valid, report.errors
    assert report.data["issue_date"] == "2024-04-03"


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("total_amount", 1469.15, ("total_amount", "sum_mismatch")),
        ("line_items.0.amount", 900.0, ("line_items.0.amount", "line_amount_mismatch")),
        ("line_items.1.amount", 200.0, ("line_items", "line_items_incomplete")),
        ("line_items.1.amount", 2000.0, ("line_items", "line_items_mismatch")),
        ("issue_date", "2024-02-30", ("issue_date", "invalid_value")),
        ("issue_date", "1850-01-01", ("issue_date", "implausible_date")),
        ("due_date", "2024-03-01", ("due_date", "date_order")),
        ("currency", "EURO", ("currency", "invalid_currency")),
        ("seller.iban", "DE89 3704 0044 0532 0130 01", ("seller.iban", "invalid_iban")),
        ("seller.vat_id", "DE123456789", ("seller.vat_id", "invalid_vat_id")),
        ("buyer.vat_id", "FR00303265045", ("buyer.vat_id", "invalid_vat_id")),
        ("invoice_number", None, ("invoice_number", "missing")),
        ("seller.name", "  ", ("seller.name", "missing")),
        ("total_amount", "lots", ("total_amount", "invalid_value")),
    ],
)
def test_invoice_rules_catch_errors(path: str, value: Any, expected: tuple[str, str]) -> None:
    report = validate(get_type("invoice"), changed(VALID_INVOICE, path, value))
    assert not report.valid
    assert expected in codes(report)


def test_invoice_tolerates_a_cent_and_gross_line_items() -> None:
    within_cent = changed(VALID_INVOICE, "total_amount", 1469.14)
    assert validate(get_type("invoice"), within_cent).valid
    gross = changed(VALID_INVOICE, "line_items", [{"description": "all", "amount": 1469.13}])
    assert validate(get_type("invoice"), gross).valid


def test_negative_total_is_only_a_warning() -> None:
    credit = {**VALID_INVOICE, "net_amount": -10.0, "tax_amount": -1.9, "total_amount": -11.9, "line_items": []}
    report = validate(get_type("invoice"), credit)
    assert report.valid
    assert [issue.code for issue in report.warnings] == ["negative_total"]


def test_partial_invoice_reports_missing_fields_without_crashing() -> None:
    report = validate(get_type("invoice"), {})
    assert {("invoice_number", "missing"), ("total_amount", "missing"), ("seller.name", "missing")} <= codes(report)


def test_valid_prescription_passes() -> None:
    report = validate(get_type("prescription"), VALID_PRESCRIPTION)
    assert report.valid, report.errors


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("right.sphere", -1.3, ("right.sphere", "not_quarter_step")),
        ("right.sphere", -35.0, ("right.sphere", "out_of_range")),
        ("left.cylinder", -0.6, ("left.cylinder", "not_quarter_step")),
        ("left.cylinder", 0.75, ("left.axis", "missing_axis")),
        ("right.axis", 190, ("right.axis", "out_of_range")),
        ("right.addition", 4.5, ("right.addition", "out_of_range")),
        ("right.addition", 1.1, ("right.addition", "not_quarter_step")),
        ("right.prism", 20.0, ("right.prism", "out_of_range")),
        ("right.prism_base", None, ("right.prism_base", "missing_prism_base")),
        ("right.prism_base", "sideways", ("right.prism_base", "invalid_prism_base")),
        ("pupillary_distance.binocular", 95.0, ("pupillary_distance.binocular", "out_of_range")),
        ("pupillary_distance.binocular", 66.0, ("pupillary_distance.binocular", "sum_mismatch")),
        ("pupillary_distance.left", 12.0, ("pupillary_distance.left", "out_of_range")),
        ("patient.date_of_birth", "2030-01-01", ("patient.date_of_birth", "implausible_date")),
        ("issue_date", "2099-01-01", ("issue_date", "implausible_date")),
        ("patient.name", None, ("patient.name", "missing")),
    ],
)
def test_prescription_rules_catch_errors(path: str, value: Any, expected: tuple[str, str]) -> None:
    report = validate(get_type("prescription"), changed(VALID_PRESCRIPTION, path, value))
    assert not report.valid
    assert expected in codes(report)


def test_prescription_needs_some_sphere() -> None:
    data = changed(changed(VALID_PRESCRIPTION, "right", {}), "left", {})
    assert ("right.sphere", "missing") in codes(validate(get_type("prescription"), data))


def test_prescription_base_in_degrees_is_valid() -> None:
    data = changed(VALID_PRESCRIPTION, "right.prism_base", "270")
    assert validate(get_type("prescription"), data).valid


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("in", "in"),
        ("BI", "in"),
        ("bo", "out"),
        ("BU", "up"),
        ("BD", "down"),
        ("B.I.", "in"),
        ("Base out", "out"),
        ("Basis innen", "in"),  # de
        ("außen", "out"),
        ("oben", "up"),
        ("unten", "down"),
        ("interne", "in"),  # fr
        ("bas", "down"),
        ("arriba", "up"),  # es
        ("externa", "out"),
        ("basso", "down"),  # it
        ("esterno", "out"),
        ("cima", "up"),  # pt
        ("baixo", "down"),
        ("binnen", "in"),  # nl
        ("boven", "up"),
        ("基底内方", "in"),  # ja
        ("基底下方", "down"),
        ("nasal", "in"),
        ("temporal", "out"),
        ("270°", "270"),
        ("090", "90"),
        (270, "270"),
        (180.0, "180"),
        (0, "0"),
    ],
)
def test_prism_base_is_stored_in_canonical_form(given: Any, canonical: str) -> None:
    """Whatever wrote the base (model, offline extractor, reviewer), the type holds in/out/up/down or degrees."""
    report = validate(get_type("prescription"), changed(VALID_PRESCRIPTION, "right.prism_base", given))
    assert report.valid, report.errors
    assert report.data["right"]["prism_base"] == canonical


@pytest.mark.parametrize(("language", "canonical"), [(None, "out"), ("eng", "out"), ("deu", "up"), ("de", "up")])
def test_prism_base_code_is_read_in_the_documents_language(language: str | None, canonical: str) -> None:
    """A German prescription's ``BO`` is *Basis oben* (up), an English one's base out."""
    report = validate(get_type("prescription"), changed(VALID_PRESCRIPTION, "right.prism_base", "BO"), language)
    assert report.valid, report.errors
    assert report.data["right"]["prism_base"] == canonical


@pytest.mark.parametrize("given", ["sideways", "361", 400, 90.5, -90, "B X", "—"])
def test_prism_base_that_is_no_base_is_reported(given: Any) -> None:
    report = validate(get_type("prescription"), changed(VALID_PRESCRIPTION, "right.prism_base", given))
    assert ("right.prism_base", "invalid_prism_base") in codes(report)


def test_blank_prism_base_is_a_missing_base() -> None:
    report = validate(get_type("prescription"), changed(VALID_PRESCRIPTION, "right.prism_base", "  "))
    assert ("right.prism_base", "missing_prism_base") in codes(report)


def _printed(
    *amounts: float | None, positions: list[int] | None = None, adjustments: list[float] | None = None
) -> list[PrintedTable]:
    rows = [
        PrintedRow(
            page=1,
            bbox=(0, 30.0 * i, 500, 30.0 * i + 20),
            amount=a,
            position=(positions or [])[i] if positions else None,
        )
        for i, a in enumerate(amounts)
    ]
    return [PrintedTable(array="line_items", rows=rows, adjustments=adjustments or [])]


def _items(*amounts: float) -> dict[str, Any]:
    return {**VALID_INVOICE, "line_items": [{"description": f"item {a}", "amount": a} for a in amounts]}


def _line_codes(data: dict[str, Any], printed: list[PrintedTable]) -> list[str]:
    return [e.code for e in validate(get_type("invoice"), data, printed=printed).errors if e.field == "line_items"]


def test_line_items_are_checked_against_the_rows_the_table_prints() -> None:
    printed = _printed(1000.0, 234.56)
    assert _line_codes(_items(1000.0, 234.56), printed) == []
    # The model merged two rows into one of the same total: a printed row has no item.
    assert _line_codes(_items(1234.56), printed) == ["line_items_incomplete"]
    # Positions numbered in tens: three printed, two read.
    tens = _printed(1000.0, 234.56, 0.0, positions=[10, 20, 30])
    assert _line_codes(_items(1000.0, 234.56, 0.0), tens) == []
    assert _line_codes(_items(1000.0, 234.56), tens) == ["line_items_incomplete"]


def test_a_printed_row_without_an_amount_is_answered_by_an_item_without_one() -> None:
    # A row printing a quantity and no price (included, free of charge): the item read for it has no amount either.
    printed = _printed(1000.0, None, 234.56)
    data = _items(1000.0, 234.56)
    assert _line_codes(data, printed) == ["line_items_incomplete"]
    data["line_items"].insert(1, {"description": "case, included", "quantity": 1})
    assert _line_codes(data, printed) == []


def test_a_printed_count_of_items_wants_as_many_items_or_pieces() -> None:
    # A free row (0.00) the table reader did not see: the sums cannot tell, the printed count can.
    counted = [_printed(1000.0, 234.56)[0].model_copy(update={"count": 3})]
    assert _line_codes(_items(1000.0, 234.56), counted) == ["line_items_incomplete"]
    assert _line_codes(_items(1000.0, 234.56, 0.0), counted) == []
    # A count of pieces: the quantities add up to it.
    pieces = _items(1000.0, 234.56)
    pieces["line_items"][0]["quantity"], pieces["line_items"][1]["quantity"] = 2, 1
    assert _line_codes(pieces, counted) == []


def test_surcharges_and_discounts_below_the_table_explain_the_difference_to_the_net() -> None:
    # Lines add up to 1250.00; the page prints a discount, shipping and a line discount already in its line.
    data = _items(1000.0, 250.0)
    printed = _printed(1000.0, 250.0, adjustments=[-25.0, 9.56, -2.0])
    assert _line_codes(data, printed) == []  # 1250 - 25 + 9.56 = 1234.56, the net
    # Unexplained, between the net and the total: a row of a gross-priced table may be missing.
    assert _line_codes(data, _printed(1000.0, 250.0)) == ["line_items_incomplete"]
    assert _line_codes(_items(1000.0, 500.0), _printed(1000.0, 500.0)) == ["line_items_mismatch"]  # above the total
    # A credit note printing its lines negative under positive totals; its discount flipped with them, or printed
    # as an invoice prints one.
    assert _line_codes(_items(-1000.0, -234.56), []) == []
    for discount in (25.0, -25.0):
        assert _line_codes(_items(-1000.0, -259.56), _printed(-1000.0, -259.56, adjustments=[discount])) == []


def test_an_amount_a_line_says_is_included_in_the_one_above_is_not_added_again() -> None:
    # "Incl. levy 4.24" under an item priced with the levy in it: the items add up to the net without it.
    data = _items(1000.0, 234.56, 4.24)
    data["line_items"][2]["description"] = "Incl. Thuiskopieheffing 4,24"
    printed = _printed(1000.0, 234.56, 4.24)
    assert _line_codes(data, printed) == []
    # Read from a scan, "cl" runs together into "d".
    data["line_items"][2]["description"] = "Ind. Thuiskopieheffing 4,24"
    assert _line_codes(data, printed) == []
    # Named otherwise, the same amount is one too many: the items are no longer the net amount.
    data["line_items"][2]["description"] = "Thuiskopieheffing"
    assert _line_codes(data, printed) == ["line_items_incomplete"]
