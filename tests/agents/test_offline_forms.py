"""User-defined types read offline from a form: captions found by the schema's words, values right of or under
them, one letter per box, check boxes and option lists by their marks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents.offline import offline_extract
from agents.offline_choices import answer_near, mark_beside, mark_of, split_glued
from agents.offline_forms import joined_combs
from extractors.model import Word
from extractors.types import DocumentType, load_user_types
from tests.agents.layout import document_from_text

MEMBERSHIP = {
    "title": "Membership application",
    "type": "object",
    "properties": {
        "member": {
            "title": "Member",
            "type": "object",
            "properties": {
                "first_name": {"type": "string"},
                "lastName": {"type": "string"},
                "birthDate": {"type": "string", "format": "date", "title": "Date of birth"},
            },
        },
        "street": {"type": "string", "description": "Street"},
        "plan": {"title": "Membership plan", "enum": ["basic", "family", "student"]},
        "newsletter": {"type": "boolean", "title": "Newsletter by e-mail"},
        "returning": {"type": "boolean", "title": "Returning member"},
        "phone": {"type": "string", "title": "Phone", "pattern": "^\\d{3}-\\d{4}$"},
        "paper_copy": {"type": "boolean", "title": "Paper copy of the statutes"},
    },
}

FORM = """
MEMBERSHIP APPLICATION

1. MEMBER'S NAME (First, Last)                  2. DATE OF BIRTH (MM/DD/YYYY)
J   A   N   E      D   O   E                       04/09/1987

Street: 12 Harbour Road
Phone (home)         555-0142
3. Membership plan (check one)
☐ Basic      ☒ Family      ☐ Student
Newsletter by e-mail . . . . . . . ▶ ✔
Paper copy of the statutes
Are you a returning member?      ☐ Yes    ☒ No
"""


def _membership(tmp_path: Path) -> DocumentType:
    path = tmp_path / "membership.json"
    path.write_text(json.dumps(MEMBERSHIP))
    (doc_type,) = load_user_types([path])
    return doc_type


def test_a_form_is_read_through_a_users_json_schema(tmp_path: Path) -> None:
    doc_type = _membership(tmp_path)
    extraction = offline_extract(document_from_text(FORM), doc_type)
    assert extraction.data == {
        "member": {"first_name": "JANE", "lastName": "DOE", "birthDate": "1987-04-09"},
        "street": "12 Harbour Road",
        "phone": "555-0142",
        "plan": "family",
        "newsletter": True,
        "paper_copy": False,
        "returning": False,
    }
    # A box with no mark is read as unticked, but less surely than a box with a tick.
    assert extraction.fields["paper_copy"].confidence < extraction.fields["newsletter"].confidence
    # The value's words are its provenance: the comb letters joined, under the caption's named part.
    assert extraction.fields["member.lastName"].text == "DOE"
    assert extraction.fields["plan"].text == "Family"


def test_section_context_separates_fields_of_the_same_name(tmp_path: Path) -> None:
    schema = {
        "title": "Claim",
        "type": "object",
        "properties": {
            "veteran": {"title": "Veteran", "type": "object", "properties": {"city": {"type": "string"}}},
            "claimant": {"title": "Claimant", "type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    path = tmp_path / "claim.json"
    path.write_text(json.dumps(schema))
    (doc_type,) = load_user_types([path])
    form = """
SECTION I: VETERAN'S INFORMATION
City      Dayton
SECTION II: CLAIMANT'S INFORMATION
City      Toledo
"""
    extraction = offline_extract(document_from_text(form), doc_type)
    assert extraction.data == {"veteran": {"city": "Dayton"}, "claimant": {"city": "Toledo"}}


def test_pattern_rejects_a_caption_continuation(tmp_path: Path) -> None:
    schema = {
        "title": "Intake",
        "type": "object",
        "properties": {"ssn": {"type": "string", "title": "Social security number", "pattern": "^\\d{9}$"}},
    }
    path = tmp_path / "intake.json"
    path.write_text(json.dumps(schema))
    (doc_type,) = load_user_types([path])
    form = """
2. SOCIAL SECURITY NUMBER (nine digits)
5   1   2      4   4      9   0   7   1
"""
    extraction = offline_extract(document_from_text(form), doc_type)
    assert extraction.data == {"ssn": "512449071"}


def test_builtin_types_are_not_read_as_forms() -> None:
    from agents.offline_forms import reads
    from extractors.types import get_type

    assert not reads(get_type("invoice"))
    assert not reads(get_type("prescription"))


def test_comb_letters_join_only_at_one_pitch() -> None:
    page = document_from_text("M   A   R   I   A        J        O K A Y   now").pages[0]
    _page, rows = joined_combs(page)
    assert [w.text for w in rows[0]] == ["MARIA", "J", "OKAY", "now"]


def _word(text: str, x: float, y: float = 0.0) -> Word:
    return Word(text=text, conf=1.0, bbox=(x, y, x + 10.0 * len(text), y + 20.0))


@pytest.mark.parametrize(
    ("text", "checked"),
    [
        ("☒", True),
        ("☑", True),
        ("✔", True),
        ("✓", True),
        ("[x]", True),
        ("(X)", True),
        ("⦿", True),
        ("X", True),
        ("☐", False),
        ("□", False),
        ("[ ]", False),
        ("( )", False),
        ("○", False),
    ],
)
def test_marks(text: str, checked: bool) -> None:
    mark = mark_of(_word(text, 0))
    assert mark is not None
    assert mark.checked is checked


@pytest.mark.parametrize("text", ["Yes", "x1", "[no]", "-", "XL"])
def test_words_that_are_no_marks(text: str) -> None:
    assert mark_of(_word(text, 0)) is None


def test_mark_beside_an_option_before_or_after_it() -> None:
    row = [_word("☒", 0), _word("Spouse", 20), _word("Child", 200), _word("✔", 260)]
    before = mark_beside([row[1]], row)
    after = mark_beside([row[2]], row)
    assert before is not None
    assert before.checked
    assert before.word is row[0]
    assert after is not None
    assert after.word is row[3]
    far = [_word("Spouse", 0), _word("☒", 300)]
    assert mark_beside([far[0]], far) is None


def test_mark_after_leader_dots() -> None:
    row = [_word("check", 0), _word("here", 60), *(_word(".", 110 + 15 * i) for i in range(8)), _word("▶", 240)]
    row.append(_word("✔", 260))
    assert mark_beside(row[:2], row) is None
    found = mark_beside(row[:2], row, leaders=True)
    assert found is not None
    assert found.checked


def test_glued_marks_are_split() -> None:
    words = split_glued([_word("☒Yes", 0), _word("[x]Savings", 100), _word("plain", 300)])
    assert [w.text for w in words] == ["☒", "Yes", "[x]", "Savings", "plain"]
    assert words[0].bbox[2] == words[1].bbox[0]


@pytest.mark.parametrize(
    ("texts", "answer"),
    [
        (["☒", "Yes", "☐", "No"], True),
        (["☐", "Ja", "☒", "Nein"], False),
        (["[x]", "Oui", "[", "]", "Non"], True),
        (["☐", "Yes", "☐", "No"], None),
        (["☒", "Yes", "☒", "No"], None),
        (["Yes", "No"], None),
    ],
)
def test_yes_or_no_answers(texts: list[str], answer: bool | None) -> None:
    row = [_word(text, 40.0 * i) for i, text in enumerate(texts)]
    assert answer_near(row) is answer


def test_hints_from_names_are_no_evidence_for_the_classifier(tmp_path: Path) -> None:
    from agents.classify import offline_scores

    schema = {
        "title": "Address card",
        "type": "object",
        "x-keywords": {"en": ["address card"]},
        "properties": {"city": {"type": "string"}, "total": {"type": "number"}, "street": {"type": "string"}},
    }
    path = tmp_path / "card.json"
    path.write_text(json.dumps(schema))
    (doc_type,) = load_user_types([path])
    invoice = document_from_text("Invoice\nStreet: 1 Main St\nCity: Springfield\nTotal 12.00")
    card = document_from_text("ADDRESS CARD\nStreet: 1 Main St\nCity: Springfield")
    assert offline_scores(invoice, [doc_type]) == {"address_card": 0.0}
    assert offline_scores(card, [doc_type])["address_card"] > 0
