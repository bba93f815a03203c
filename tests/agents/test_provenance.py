"""Provenance: model-returned values found back on OCR words (typed values by meaning, text fuzzily), and
confidence from OCR confidence, match quality and validation."""

from __future__ import annotations

from agents.extract import extract
from agents.models import Extraction
from agents.provenance import apply_validation, attach_provenance, leaf_values, locate, spec_path
from extractors.rules import ValidationIssue
from extractors.types import get_type
from tests.agents.layout import CHAR_W, LINE_H, document_from_text

PAGE = """
Rechnung Nr. 2024-117            Datum: 3. März 2024
Kunde: Brillenhaus Schmldt GmbH
Summe      1 234,50 EUR
"""


def box(row: int, column: int, length: int) -> tuple[float, float, float, float]:
    return (column * CHAR_W, row * LINE_H, (column + length) * CHAR_W, row * LINE_H + 20)


def test_typed_values_match_by_meaning() -> None:
    document = document_from_text(PAGE)
    date = locate(document, "2024-03-03", "date")
    assert date is not None
    assert (date.text, date.score, date.page) == ("3. März 2024", 1.0, 1)
    amount = locate(document, 1234.5, "amount")
    assert amount is not None
    assert amount.text == "1 234,50"
    assert amount.bbox == box(2, 11, 8)
    assert locate(document, 999.0, "amount") is None


def test_text_is_matched_fuzzily_despite_ocr_errors() -> None:
    document = document_from_text(PAGE)
    name = locate(document, "Brillenhaus Schmidt GmbH", "name")
    assert name is not None
    assert name.text == "Brillenhaus Schmldt GmbH"
    assert 0.9 < name.score < 1.0
    assert locate(document, "Completely different", "text") is None


def test_attach_provenance_and_validation_lower_confidence() -> None:
    document = document_from_text(PAGE, low_conf_words=frozenset({"Schmldt"}))
    doc_type = get_type("invoice")
    data = {"invoice_number": "2024-117", "total_amount": 1234.5, "buyer": {"name": "Brillenhaus Schmidt GmbH"}}
    fields = attach_provenance(document, doc_type, {**data, "currency": "CHF"}, "llm")
    assert fields["invoice_number"].bbox == box(0, 13, 8)
    assert fields["total_amount"].confidence == 0.95
    assert fields["buyer.name"].confidence < fields["invoice_number"].confidence
    # A value no OCR word supports (the model guessed it) gets a low confidence and no box.
    assert (fields["currency"].bbox, fields["currency"].confidence) == (None, 0.3)

    extraction = Extraction(doc_type="invoice", data=data, fields=fields)
    flagged = apply_validation(
        extraction, [ValidationIssue(field="total_amount", code="sum_mismatch", message="does not add up")]
    )
    assert flagged.fields["total_amount"].confidence == 0.475
    assert flagged.fields["invoice_number"] == fields["invoice_number"]


def test_extract_scores_fields_that_fail_validation_lower() -> None:
    document = document_from_text(
        """
        Rechnungsnummer: A-1
        Nettobetrag      100,00
        MwSt.             19,00
        Gesamtbetrag     120,00
        """
    )
    fields = extract(document, get_type("invoice")).fields
    assert fields["total_amount"].value == 120.0
    # Same OCR confidence, both labels read exactly, but the total fails net + tax = total: its confidence halves.
    assert fields["total_amount"].match == 1.0
    assert fields["total_amount"].confidence == 0.95 / 2
    assert fields["net_amount"].confidence > 0.9


def test_paths() -> None:
    data = {"a": {"b": 1, "c": None}, "items": [{"x": "y"}, {"x": ""}]}
    assert list(leaf_values(data)) == [("a.b", 1), ("items.0.x", "y")]
    assert spec_path("line_items.3.amount") == "line_items[].amount"
