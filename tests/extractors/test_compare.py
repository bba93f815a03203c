"""Comparing extracted data with a ground truth: how values are compared, which paths are scored, line items."""

from __future__ import annotations

from typing import Any

import pytest

from extractors.compare import leaf_paths, list_paths, same_list, same_value, score


@pytest.mark.parametrize(
    ("expected", "got", "path", "same"),
    [
        (2305.64, 2305.644, "net_amount", True),  # within half a cent
        (2305.64, 2305.65, "net_amount", False),
        (35, 35.0, "right.axis", True),
        (35, "35", "right.axis", False),  # a number must come back as a number
        (None, None, "due_date", True),  # not on the document, not extracted
        (None, "2025-01-01", "due_date", False),
        ("IE3812569N", None, "seller.vat_id", False),
        (True, True, "paid", True),
        (True, False, "paid", False),
        ("IE33 AIBK 2599 0715 8923 31", "IE33AIBK25990715892331", "seller.iban", True),
        ("de 123.456-789", "DE123456789", "buyer.vat_id", True),
        ("F-2025-9979", "F 2025 9979", "invoice_number", True),
        ("F-2025-9979", "F-2025-9978", "invoice_number", False),
        ("2025-07-08", "8 July 2025", "issue_date", True),
        ("1967-09-14", "14.09.1967", "patient.date_of_birth", True),
        ("2025-07-08", "2025-08-07", "issue_date", False),
        ("Dr. Anna Müller", "dr.  anna muller", "prescriber.name", True),
        ("Dr. Anna Müller", "Dr. Anna Mueller", "prescriber.name", False),
        ("山田 太郎", "山田太郎", "patient.name", True),
        ("Clearview Optical Ltd", "ClearviewOptical Ltd", "seller.name", False),  # spaces count in Latin script
    ],
)
def test_same_value(expected: Any, got: Any, path: str, same: bool) -> None:
    assert same_value(expected, got, path) is same


TRUTH: dict[str, Any] = {
    "invoice_number": "F-1",
    "due_date": None,
    "seller": {"name": "Clearview Optical Ltd", "vat_id": "IE3812569N"},
    "line_items": [
        {"description": "Titanium frame", "amount": 164.24},
        {"description": "Case and cloth", "amount": 1020.12},
    ],
    "tags": [],
}


def test_every_leaf_is_a_field_and_each_non_empty_list_is_scored_as_one() -> None:
    assert leaf_paths(TRUTH) == ["invoice_number", "due_date", "seller.name", "seller.vat_id"]
    assert list_paths(TRUTH) == ["line_items"]


def test_line_items_are_right_when_every_amount_is() -> None:
    items = TRUTH["line_items"]
    reworded = [{"description": "Frame, titanium", "amount": 164.24}, {"description": "Case", "amount": 1020.12}]
    assert same_list(items, reworded, "line_items")
    assert not same_list(items, [reworded[0]], "line_items")  # one item missing
    assert not same_list(items, [reworded[0], {"amount": 1020.13}], "line_items")
    assert not same_list(items, None, "line_items")
    # Items without an amount are compared by everything they hold.
    assert same_list([{"code": "A-1", "quantity": 2}], [{"code": "a-1", "quantity": 2.0}], "items")
    assert not same_list([{"code": "A-1", "quantity": 2}], [{"code": "A-1", "quantity": 3}], "items")


def test_score_counts_what_the_truth_holds_and_nothing_else() -> None:
    data = {
        "invoice_number": "F-1",
        "due_date": "2025-01-01",  # the truth says the document has none
        "seller": {"name": "clearview optical ltd", "vat_id": None, "iban": "IE33AIBK25990715892331"},
        "line_items": [{"amount": 164.24}, {"amount": 1020.12}],
        "total_amount": 99.0,  # absent from the truth: not counted
    }
    card = score(TRUTH, data)
    assert {f.path: f.right for f in card.fields} == {
        "invoice_number": True,
        "due_date": False,
        "seller.name": True,
        "seller.vat_id": False,
    }
    assert [(f.path, f.right) for f in card.lists] == [("line_items", True)]
    assert card.fields[3].expected == "IE3812569N"
    assert card.fields[3].got is None


def test_a_scored_list_limits_the_paths() -> None:
    card = score(TRUTH, {"invoice_number": "F-2", "seller": {"name": "x"}}, ["invoice_number", "line_items"])
    assert [(f.path, f.right, f.got) for f in card.fields] == [("invoice_number", False, "F-2")]
    assert [(f.path, f.right) for f in card.lists] == [("line_items", False)]


def test_nothing_extracted_is_wrong_everywhere() -> None:
    card = score(TRUTH, None)
    assert len(card.fields) == 4
    assert len(card.lists) == 1
    assert not any(f.right for f in [*card.fields, *card.lists])  # even the field the document does not print
