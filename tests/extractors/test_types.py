"""The type registry, built-in types' fields and labels, and user-defined types (Python module, JSON Schema)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from extractors.errors import UnknownDocumentType
from extractors.types import InvalidDocumentType, build_registry, get_type, load_user_types, registered_types
from extractors.types.base import Option, split_name
from extractors.types.hints import schema_labels
from extractors.validation import validate

LANGUAGES = {"de", "fr", "es", "it", "en", "pt", "nl", "ja"}


def test_builtin_types_are_registered() -> None:
    assert [t.name for t in registered_types()] == ["invoice", "prescription"]
    with pytest.raises(UnknownDocumentType) as caught:
        get_type("passport")
    assert caught.value.code == "unknown_document_type"
    assert "invoice" in caught.value.message


def test_invoice_fields_match_the_issue() -> None:
    paths = {spec.path for spec in get_type("invoice").fields()}
    assert {
        "invoice_number",
        "issue_date",
        "due_date",
        "currency",
        "net_amount",
        "tax_amount",
        "total_amount",
        "seller.name",
        "seller.vat_id",
        "seller.address",
        "seller.iban",
        "buyer.name",
        "buyer.vat_id",
        "buyer.address",
        "line_items[].description",
        "line_items[].quantity",
        "line_items[].unit_price",
        "line_items[].amount",
    } == paths


def test_prescription_fields_match_the_issue() -> None:
    fields = {spec.path: spec.kind for spec in get_type("prescription").fields()}
    for eye in ("right", "left"):
        for power in ("sphere", "cylinder", "axis", "addition", "prism", "prism_base"):
            assert f"{eye}.{power}" in fields
    assert fields["right.sphere"] == "diopter"
    assert fields["right.axis"] == "int"
    assert fields["patient.date_of_birth"] == "date"
    assert {"pupillary_distance.binocular", "pupillary_distance.right", "lens_type", "notes"} <= set(fields)


@pytest.mark.parametrize("name", ["invoice", "prescription"])
def test_builtin_labels_cover_all_languages(name: str) -> None:
    doc_type = get_type(name)
    assert set(doc_type.label_languages()) == LANGUAGES
    assert set(doc_type.keywords) == LANGUAGES
    leaf_paths = {spec.path for spec in doc_type.fields()}
    assert set(doc_type.labels) <= leaf_paths


def test_coerce_removes_invalid_values_and_reports_them() -> None:
    data, issues = get_type("invoice").coerce({"issue_date": "03.04.2024", "total_amount": 12, "seller": "ACME"})
    assert data["total_amount"] == 12.0
    assert data["issue_date"] is None
    assert {issue.field for issue in issues} == {"issue_date", "seller"}


PY_TYPE = '''
"""A delivery note."""
from pydantic import BaseModel
from extractors.rules import ValidationIssue

NAME = "delivery_note"
LABELS = {"note_number": {"en": ["Delivery note"], "de": ["Lieferschein"]}}

class Model(BaseModel):
    note_number: str | None = None
    parcels: int | None = None

def parcels_positive(data):
    if data.get("parcels") is not None and data["parcels"] <= 0:
        yield ValidationIssue(field="parcels", code="out_of_range", message="no parcels")

RULES = [parcels_positive]
'''

JSON_TYPE = {
    "title": "Lens order",
    "type": "object",
    "x-keywords": {"en": ["lens order"]},
    "required": ["order_number"],
    "properties": {
        "order_number": {"type": "string", "x-labels": {"en": ["Order no"], "de": ["Auftragsnummer"]}},
        "ordered_on": {"type": "string", "format": "date"},
        "quantity": {"type": "integer", "minimum": 1},
        "customer": {"type": "object", "properties": {"name": {"type": "string", "x-labels": {"en": ["Customer"]}}}},
    },
}


def test_python_module_type(tmp_path: Path) -> None:
    module = tmp_path / "delivery.py"
    module.write_text(PY_TYPE)
    registry = build_registry([module])
    doc_type = registry.get("delivery_note")
    assert doc_type.labels["note_number"]["de"] == ["Lieferschein"]
    assert [spec.path for spec in doc_type.fields()] == ["note_number", "parcels"]
    assert validate(doc_type, {"note_number": "L-1", "parcels": 2}).valid
    report = validate(doc_type, {"note_number": "L-1", "parcels": 0})
    assert [(i.field, i.code) for i in report.errors] == [("parcels", "out_of_range")]
    assert {"invoice", "prescription", "delivery_note"} == set(registry.names())


def test_json_schema_type(tmp_path: Path) -> None:
    schema = tmp_path / "lens.json"
    schema.write_text(json.dumps(JSON_TYPE))
    (doc_type,) = load_user_types([tmp_path])
    assert doc_type.name == "lens_order"
    assert doc_type.model is None
    assert doc_type.labels == {
        "order_number": {"en": ["Order no"], "de": ["Auftragsnummer"], "und": ["order number"]},
        "ordered_on": {"und": ["ordered on"]},
        "quantity": {"und": ["quantity"]},
        "customer.name": {"en": ["Customer"], "und": ["name", "customer name"]},
    }
    kinds = {spec.path: spec.kind for spec in doc_type.fields()}
    assert kinds == {"order_number": "text", "ordered_on": "date", "quantity": "int", "customer.name": "text"}
    assert validate(doc_type, {"order_number": "A-7", "ordered_on": "2024-01-31", "quantity": 2}).valid
    report = validate(doc_type, {"ordered_on": "2024-02-31", "quantity": 0})
    assert {(i.field, i.code) for i in report.errors} == {
        ("order_number", "missing"),
        ("ordered_on", "invalid_value"),
        ("quantity", "invalid_value"),
    }
    assert "ordered_on" not in report.data


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not a readable JSON"),
        ('{"type": "array"}', "must describe an object"),
        ('{"type": "object", "properties": {"a": {"type": 7}}}', "not a valid JSON Schema"),
    ],
)
def test_bad_json_schema_is_a_typed_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(InvalidDocumentType, match=message) as caught:
        load_user_types([path])
    assert caught.value.code == "invalid_document_type"


def test_bad_python_types_are_typed_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom')")
    with pytest.raises(InvalidDocumentType, match="boom"):
        load_user_types([broken])
    empty = tmp_path / "empty.py"
    empty.write_text("X = 1")
    with pytest.raises(InvalidDocumentType, match="neither DOCUMENT_TYPE"):
        load_user_types([empty])
    with pytest.raises(InvalidDocumentType, match="does not exist"):
        load_user_types([tmp_path / "missing.py"])
    with pytest.raises(InvalidDocumentType, match="cannot import"):
        load_user_types(["no_such_module_docline"])


def test_duplicate_type_name_is_rejected(tmp_path: Path) -> None:
    schema = tmp_path / "invoice.json"
    schema.write_text(json.dumps({"title": "Invoice", "type": "object", "properties": {}}))
    with pytest.raises(InvalidDocumentType, match="already defined"):
        build_registry([schema])


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("date_of_birth", "date of birth"),
        ("dateOfBirth", "date of birth"),
        ("Date-Of-Birth", "date of birth"),
        ("VAFileNumber", "VA file number"),
        ("zip5", "zip 5"),
    ],
)
def test_property_names_split_into_words(name: str, words: str) -> None:
    assert split_name(name) == words


HINTED = {
    "title": "Claim",
    "type": "object",
    "properties": {
        "claimant": {
            "title": "Claimant",
            "type": "object",
            "properties": {
                "dateOfBirth": {"type": "string", "format": "date", "description": "Born on"},
                "vaFileNumber": {
                    "type": "string",
                    "title": "VA file number",
                    "description": "The number VA gave the claim, printed on every letter from VA. Nine digits.",
                    "examples": ["123456789"],
                    "x-labels": {"de": ["Aktenzeichen"], "fr": ["Numéro de dossier"]},
                },
            },
        },
        "items": {"type": "array", "items": {"type": "object", "properties": {"unit_price": {"type": "number"}}}},
    },
}


def test_names_titles_descriptions_and_x_labels_become_label_hints() -> None:
    labels = schema_labels(HINTED)
    assert labels["claimant.dateOfBirth"] == {
        "und": ["date of birth", "Born on", "Claimant date of birth", "Claimant Born on"]
    }
    assert labels["claimant.vaFileNumber"] == {
        "de": ["Aktenzeichen"],
        "fr": ["Numéro de dossier"],
        # A long description gives its first clause; an example is a value, not a label.
        "und": [
            "VA file number",
            "The number VA gave the claim",
            "Claimant VA file number",
            "Claimant The number VA gave the claim",
        ],
    }
    assert labels["items[].unit_price"] == {"und": ["unit price", "items unit price"]}


def test_kinds_from_types_formats_enums_and_patterns(tmp_path: Path) -> None:
    schema = {
        "title": "Form",
        "type": "object",
        "properties": {
            "signed_on": {"type": "string", "format": "date-time"},
            "agrees": {"type": "boolean"},
            "copies": {"type": "integer"},
            "fee": {"type": "number"},
            "status": {"enum": ["single", "married_jointly", None]},
            "plan": {
                "oneOf": [
                    {"const": "b", "title": "Basic", "x-labels": {"de": ["Einfach"]}},
                    {"const": "f", "title": "Family"},
                ]
            },
            "ssn": {"type": "string", "pattern": "^\\d{3}-\\d{2}-\\d{4}$"},
            "email": {"type": "string", "format": "email"},
            "note": {"type": "string"},
        },
    }
    path = tmp_path / "form.json"
    path.write_text(json.dumps(schema))
    (doc_type,) = load_user_types([path])
    specs = {spec.path: spec for spec in doc_type.fields()}
    assert {path: spec.kind for path, spec in specs.items()} == {
        "signed_on": "date",
        "agrees": "boolean",
        "copies": "int",
        "fee": "amount",
        "status": "choice",
        "plan": "choice",
        "ssn": "text",
        "email": "text",
        "note": "text",
    }
    assert specs["status"].options == (
        Option("single", ("single",)),
        Option("married_jointly", ("married jointly",)),
    )
    assert specs["plan"].options == (Option("b", ("Basic", "Einfach", "b")), Option("f", ("Family", "f")))
    assert specs["ssn"].pattern == "^\\d{3}-\\d{2}-\\d{4}$"
    assert specs["email"].pattern is not None
    assert specs["note"].pattern is None


PY_HINTED = """
from datetime import date
from enum import Enum
from typing import Literal

from pydantic import BaseModel, Field

class Plan(Enum):
    basic = "basic"
    family = "family"

class Model(BaseModel):
    member_name: str | None = Field(None, title="Member", description="Name as on the card")
    birth_date: date | None = None
    plan: Plan | None = None
    newsletter: bool = False
    status: Literal["new", "returning"] | None = None
    postcode: str | None = Field(None, pattern=r"^\\d{5}$", json_schema_extra={"x-labels": {"de": ["PLZ"]}})
"""


def test_pydantic_types_get_hints_and_kinds_too(tmp_path: Path) -> None:
    module = tmp_path / "membership.py"
    module.write_text(PY_HINTED)
    (doc_type,) = load_user_types([module])
    kinds = {spec.path: spec.kind for spec in doc_type.fields()}
    assert kinds == {
        "member_name": "text",
        "birth_date": "date",
        "plan": "choice",
        "newsletter": "boolean",
        "status": "choice",
        "postcode": "text",
    }
    assert doc_type.labels["member_name"] == {"und": ["Member", "member name", "Name as on the card"]}
    assert doc_type.labels["postcode"] == {"de": ["PLZ"], "und": ["Postcode"]}
