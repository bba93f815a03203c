"""The layout memory on laid-out documents: learning from a reviewer's approval and from a correction, reading the
next document of that layout (shifted, other value lengths, totals moved to a second page), a memory that must not
apply (another sender), what reviews and deletions do to a memory, and what it never keeps."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from dapr.clients import DaprClient

from agents.extract import extract
from agents.layout_memory import (
    LayoutMemory,
    apply_memory,
    best_match,
    forget,
    hints,
    judge,
    learn,
    recall,
)
from agents.llm import Llm
from agents.offline import offline_extract
from extractors.rules import get_path
from extractors.types import get_type
from tests.agents.layout import document_from_text
from tests.agents.test_llm_agents import dapr  # noqa: F401  (the fixture: a sidecar with the loopback LLM)
from tests.support.llm_server import LLMServer, Reply

INVOICE = get_type("invoice")
NOW = datetime(2026, 1, 5, tzinfo=UTC)
# A sender whose words the invoice type does not know: Vorgang, vom, Warenwert, Steuer, Zahlbetrag, Konto.
SENDER = {
    "name": "Optik Sonnenschein GmbH",
    "vat_id": "DE136695976",
    "iban": "DE89370400440532013000",
    "address": "Hauptstraße 5, 10115 Berlin",
}


def receipt(
    number: str,
    day: str,
    buyer: str,
    items: list[tuple[str, str]],
    totals: tuple[str, str, str],
    *,
    vat_id: str = "DE136695976",
    iban: str = "DE89 3704 0044 0532 0130 00",
    down: int = 0,
    right: int = 0,
    page_break: int | None = None,
) -> list[str]:
    """One document of the sender's layout as pages of text; ``down``/``right`` shift the whole print, and
    ``page_break`` moves what follows that item to a second page."""
    pad = " " * right
    head = [
        *[""] * down,
        "Optik Sonnenschein GmbH",
        "Hauptstraße 5, 10115 Berlin",
        f"St.Nr {vat_id}",
        "",
        f"Beleg                                    Vorgang      {number}",
        f"Kunde {buyer:<35}vom          {day}",
        "",
        "Pos  Beschreibung          Menge        Betrag",
    ]
    rows = [f"{i}    {text:<22}1      {amount:>12}" for i, (text, amount) in enumerate(items, 1)]
    tail = [
        "",
        f"                                 Warenwert  {totals[0]:>12}",
        f"                                 Steuer     {totals[1]:>12}",
        f"                                 Zahlbetrag {totals[2]:>12} EUR",
        "",
        f"Konto {iban}",
    ]
    if page_break is None:
        return ["\n".join(pad + line for line in [*head, *rows, *tail])]
    first = [*head, *rows[:page_break]]
    second = ["Optik Sonnenschein GmbH", "", *rows[page_break:], *tail]
    return ["\n".join(pad + line for line in first), "\n".join(pad + line for line in second)]


FIRST = receipt(
    "A-2024-0042", "03.04.2024", "Brillenhaus Schmidt", [("Gleitsichtgläser", "1.000,00"), ("Fassung", "234,56")],
    ("1.234,56", "234,57", "1.469,13"),
)  # fmt: skip
FIRST_TRUTH: dict[str, Any] = {
    "invoice_number": "A-2024-0042",
    "issue_date": "2024-04-03",
    "currency": "EUR",
    "net_amount": 1234.56,
    "tax_amount": 234.57,
    "total_amount": 1469.13,
    "seller": SENDER,
    "buyer": {"name": "Brillenhaus Schmidt"},
    "line_items": [
        {"description": "Gleitsichtgläser", "quantity": 1, "amount": 1000.0},
        {"description": "Fassung", "quantity": 1, "amount": 234.56},
    ],
}
SCALARS = ["invoice_number", "issue_date", "net_amount", "tax_amount", "total_amount", "seller.name", "seller.vat_id"]


def learned_from_review() -> LayoutMemory:
    """The memory a reviewer's corrections of the first document teach (the extractor misread several fields)."""
    document = document_from_text(*FIRST)
    read = offline_extract(document, INVOICE)
    assert get_path(read.data, "invoice_number") != "A-2024-0042"  # the type's labels do not name "Vorgang"
    positions = {p: (f.value, f.page, f.bbox) for p, f in read.fields.items()}
    memory = learn([], document, INVOICE, FIRST_TRUTH, "doc-1", NOW, positions)
    assert memory is not None
    return memory


def test_a_correction_teaches_the_next_document_of_the_layout() -> None:
    memory = learned_from_review()
    second = document_from_text(
        *receipt(
            "A-2024-117", "11.05.2024", "Augenwerk Nord", [("Etui", "5,00"), ("Fassung", "534,56")],
            ("539,56", "102,52", "642,08"),
        )
    )  # fmt: skip
    before = extract(second, INVOICE)
    assert before.data.get("invoice_number") != "A-2024-117"
    after = extract(second, INVOICE, memory=memory)
    expected = {
        "invoice_number": "A-2024-117",
        "issue_date": "2024-05-11",
        "net_amount": 539.56,
        "tax_amount": 102.52,
        "total_amount": 642.08,
        "seller.name": "Optik Sonnenschein GmbH",
        "seller.vat_id": "DE136695976",
        "seller.iban": "DE89370400440532013000",
        "buyer.name": "Augenwerk Nord",
    }
    assert {path: get_path(after.data, path) for path in expected} == expected
    for path in expected:
        field = after.fields[path]
        assert field.layout == memory.id
        assert field.confidence >= 0.8  # never corrected yet: as sure as the OCR
    # The totals rows under the table are the memory's amounts, not more line items.
    assert [item["amount"] for item in after.data["line_items"]] == [5.0, 534.56]


def test_an_approval_teaches_where_the_extractor_read() -> None:
    known = [
        "Optik Sonnenschein GmbH",
        "USt-IdNr.: DE136695976",
        "",
        "Rechnungsnummer: RE-1001              Rechnungsdatum: 03.04.2024",
        "",
        "                                 Gesamtbetrag  1.469,13 EUR",
    ]
    document = document_from_text("\n".join(known))
    read = offline_extract(document, INVOICE)
    approved = dict(read.data)  # the reviewer changed nothing
    positions = {p: (f.value, f.page, f.bbox) for p, f in read.fields.items()}
    memory = learn([], document, INVOICE, approved, "doc-approved", NOW, positions)
    assert memory is not None
    lesson = memory.lessons[0]
    assert {"invoice_number", "issue_date", "total_amount", "seller.vat_id"} <= set(lesson.fields)
    assert lesson.fields["invoice_number"].anchors[0].text == "Rechnungsnummer:"
    next_one = [*known[:3], "Rechnungsnummer: RE-20417             Rechnungsdatum: 14.06.2024", "", known[5]]
    found = recall(memory, document_from_text("\n".join(next_one)), INVOICE)
    assert found.values["invoice_number"].value == "RE-20417"
    assert found.values["issue_date"].value == "2024-06-14"


def test_a_shifted_print_with_other_lengths_and_totals_on_a_second_page() -> None:
    memory = learned_from_review()
    items = [(f"Position {n}", f"{n}0,00") for n in range(1, 8)]
    pages = receipt(
        "A-2025-3", "28.02.2025", "Dr. Maria Sommer-Lindqvist", items, ("280,00", "53,20", "333,20"),
        down=3, right=4, page_break=4,
    )  # fmt: skip
    document = document_from_text(*pages)
    assert len(document.pages) == 2
    found = recall(memory, document, INVOICE)
    assert found.values["invoice_number"].value == "A-2025-3"
    assert found.values["issue_date"].value == "2025-02-28"
    assert found.values["buyer.name"].value == "Dr. Maria Sommer-Lindqvist"
    for path, value in (("net_amount", 280.0), ("tax_amount", 53.2), ("total_amount", 333.2)):
        assert found.values[path].value == value
        assert found.values[path].page == 2


def test_another_sender_with_the_same_layout_is_not_read_with_the_memory() -> None:
    memory = learned_from_review()
    other = document_from_text(
        *receipt(
            "B-77", "01.02.2024", "Brillenhaus Schmidt", [("Fassung", "100,00")], ("100,00", "19,00", "119,00"),
            vat_id="DE129273398", iban="DE02 1203 0000 0000 2020 51",
        )
    )  # fmt: skip
    assert best_match([memory], other, INVOICE) is None
    unrelated = document_from_text("Rechnung\nRechnungsnummer: 77\nGesamtbetrag 10,00 EUR")
    assert best_match([memory], unrelated, INVOICE) is None
    # The same sender is found, and a memory of another document type never is.
    same = document_from_text(*FIRST)
    assert best_match([memory], same, INVOICE) is memory
    assert best_match([memory], same, get_type("prescription")) is None


def test_a_field_the_document_contradicts_stays_as_it_was_read() -> None:
    memory = learned_from_review()
    lines = FIRST[0].splitlines()
    # The document has no number where the sender always prints it, but a number the extractor reads elsewhere.
    changed = [line.replace("A-2024-0042", "") for line in lines] + ["Rechnungsnummer: X-1"]
    document = document_from_text("\n".join(changed))
    assert "invoice_number" in recall(memory, document, INVOICE).contradicted
    before = offline_extract(document, INVOICE)
    after = apply_memory(before, document, INVOICE, memory)
    assert after.data["invoice_number"] == "X-1"
    assert after.fields["invoice_number"] == before.fields["invoice_number"]  # as without the memory
    assert after.fields["invoice_number"].layout is None
    assert after.fields["issue_date"].layout == memory.id  # what agrees is still read the learned way


def test_the_memory_keeps_layout_and_sender_values_only() -> None:
    memory = learned_from_review()
    kept = memory.model_dump_json()
    for private in ("Brillenhaus", "Schmidt", "A-2024-0042", "1.469,13", "1469.13", "Gleitsicht", "Fassung"):
        assert private not in kept
    assert memory.sender == {f"seller.{k}": v for k, v in SENDER.items()}
    prompt = hints(memory)
    assert '"Vorgang"' in prompt
    assert "invoice_number" in prompt
    assert "A-2024" not in prompt
    assert "Schmidt" not in prompt
    assert "DE136695976" not in prompt

    prescription = get_type("prescription")
    rx = document_from_text(
        "Augenarztpraxis Dr. Anna Weiß\n\nPatient: Lukas Becker\nGeburtsdatum: 12.03.1980\n\nAugenarzt: Dr. Anna Weiß"
    )
    data = {
        "patient": {"name": "Lukas Becker", "date_of_birth": "1980-03-12"},
        "prescriber": {"name": "Dr. Anna Weiß"},
    }
    rx_memory = learn([], rx, prescription, data, "rx-1", NOW)
    assert rx_memory is not None
    assert "Lukas" not in rx_memory.model_dump_json()
    assert "Becker" not in rx_memory.model_dump_json()
    assert rx_memory.sender == {"prescriber.name": "Dr. Anna Weiß"}
    assert "patient.name" in rx_memory.lessons[0].fields  # where it is, not what


def test_reviews_judge_a_memory_and_deletion_takes_back_what_a_document_taught() -> None:
    memory = learned_from_review()
    second = document_from_text(
        *receipt("A-9", "02.06.2024", "Augenwerk Nord", [("Etui", "5,00")], ("5,00", "0,95", "5,95"))
    )
    truth = {**FIRST_TRUTH, "invoice_number": "A-9", "issue_date": "2024-06-02"}
    truth |= {"net_amount": 5.0, "tax_amount": 0.95, "total_amount": 5.95}
    both = learn([memory], second, INVOICE, truth, "doc-2", NOW)
    assert both is not None
    assert both.id == memory.id
    assert both.documents == ["doc-1", "doc-2"]
    without_first = forget(both, "doc-1")
    assert without_first is not None
    assert without_first.documents == ["doc-2"]
    assert forget(memory, "doc-1") is None  # nothing left

    read = {"invoice_number": "A-9", "total_amount": 5.95}
    kept = judge(both, "doc-3", read, {"invoice_number": "A-9", "total_amount": 5.95})
    assert kept is not None
    assert (kept.hits, kept.misses, kept.hit_rate) == (1, 0, 1.0)
    corrected = judge(kept, "doc-4", read, {"invoice_number": "A-10", "total_amount": 5.95})
    assert corrected is not None
    assert (corrected.hits, corrected.misses) == (1, 1)
    assert corrected.field_rate("invoice_number") == 2 / 3
    # Corrected in two reviews in a row, a field is forgotten (the next review teaches it afresh) ...
    twice = judge(corrected, "doc-5", read, {"invoice_number": "A-11", "total_amount": 5.95})
    assert twice is not None
    assert "invoice_number" not in twice.fields
    assert "total_amount" in twice.fields
    # ... and a memory corrected in three reviews in a row is dropped.
    assert judge(twice, "doc-6", {"total_amount": 5.95}, {"total_amount": 6.0}) is None
    # Deleting a reviewed document takes back what its review said.
    taken_back = forget(corrected, "doc-4")
    assert taken_back is not None
    assert (taken_back.hits, taken_back.misses) == (1, 0)


def test_a_model_gets_the_learned_layout_as_hints_and_no_other_documents_values(
    dapr: DaprClient,  # noqa: F811
    llm_server: LLMServer,
) -> None:
    memory = learned_from_review()
    second = document_from_text(
        *receipt("A-2024-117", "11.05.2024", "Augenwerk Nord", [("Etui", "5,00")], ("5,00", "0,95", "5,95"))
    )
    llm_server.script(Reply(json={"invoice_number": "A-2024-117", "total_amount": 5.95}))
    extraction = extract(second, INVOICE, Llm(dapr, "llm"), strategy="llm", memory=memory)
    assert extraction.data["invoice_number"] == "A-2024-117"
    prompt = llm_server.requests[-1].body["messages"][-1]["content"]
    prompt = prompt if isinstance(prompt, str) else " ".join(part.get("text", "") for part in prompt)
    assert "Layout learned from this sender's reviewed documents" in prompt
    assert '- invoice_number: right of "Vorgang"' in prompt
    for other in ("A-2024-0042", "Brillenhaus", "1.469,13"):  # the first document's own values
        assert other not in prompt

    # Hybrid: what the memory read is settled offline, so the model is asked about the rest only (or not at all).
    asked = len(llm_server.requests)
    hybrid = extract(second, INVOICE, Llm(dapr, "llm"), strategy="hybrid", memory=memory)
    assert hybrid.data["invoice_number"] == "A-2024-117"
    assert hybrid.fields["invoice_number"].layout == memory.id
    for request in llm_server.requests[asked:]:
        assert "invoice_number" not in json.dumps(request.body.get("response_format", {}))
