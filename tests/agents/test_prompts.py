"""Prompt building blocks for small models, on small documents built here word by word: layout text, compact field
hints, the token budget and the choice of pages when a document does not fit."""

from __future__ import annotations

import json

from agents.prompts import (
    answer_skeleton,
    compact_extraction_prompt,
    document_budget,
    document_text,
    estimate_tokens,
    field_hints,
    fields_prompt,
    label_hits,
    layout_text,
    schema_text,
    select_pages,
)
from extractors.model import Document, Line, Page, Word
from extractors.types import DocumentType

CELL = 10  # pixels per character in the pages below
ROW = 30  # pixels per row


def words(row: int, column: int, text: str) -> list[Word]:
    """The words of ``text`` starting at character ``column`` of ``row``, each in its own box."""
    out, x = [], column
    for token in text.split(" "):
        if token:
            box = (float(x * CELL), float(row * ROW), float((x + len(token)) * CELL), float(row * ROW + 20))
            out.append(Word(text=token, conf=0.9, bbox=box))
        x += len(token) + 1
    return out


def page(number: int, *blocks: tuple[int, int, str], language: str = "deu") -> Page:
    """A page whose OCR lines are ``blocks`` (row, column, text), each block one line: as Tesseract reads a page
    with columns, block after block rather than row by row."""
    return Page(
        number=number,
        width=1000,
        height=1400,
        dpi=72,
        languages=[language],
        source="ocr",
        lines=[Line(words=words(row, column, text)) for row, column, text in blocks],
    )


INVOICE = DocumentType(
    name="invoice",
    title="Invoice",
    json_schema={
        "title": "Invoice",
        "type": "object",
        "properties": {
            "invoice_number": {"type": "string", "title": "Invoice number"},
            "issue_date": {"type": "string", "format": "date"},
            "net_amount": {"type": "number"},
            "total_amount": {"type": "number"},
        },
    },
    labels={
        "invoice_number": {"de": ["Rechnungsnummer", "Rechnung Nr"], "en": ["Invoice number", "Invoice no"]},
        "issue_date": {"de": ["Rechnungsdatum", "Datum"], "en": ["Invoice date", "Date"]},
        "net_amount": {"de": ["Nettobetrag", "Netto"], "en": ["Net amount", "Subtotal"]},
        "total_amount": {"de": ["Gesamtbetrag"], "en": ["Total amount", "Total"], "fr": ["Montant total"]},
    },
)


def test_layout_text_keeps_columns_and_table_rows_as_rows() -> None:
    # Two columns read block by block, then a table whose cells are separate OCR lines.
    invoice = page(
        1,
        (0, 0, "Optik Müller GmbH"),
        (1, 0, "Hauptstr. 5"),
        (0, 40, "Rechnung Nr RE-17"),
        (1, 40, "Datum 03.04.2024"),
        (4, 0, "Artikel"),
        (4, 30, "Menge"),
        (4, 45, "Betrag"),
        (5, 0, "Gleitsichtgläser"),
        (5, 30, "2"),
        (5, 45, "1.000,00"),
        (6, 0, "Fassung"),
        (6, 30, "1"),
        (6, 45, "234,56"),
    )
    assert document_text(Document(media_type="image/png", pages=[invoice])).splitlines()[1:3] == [
        "Optik Müller GmbH",
        "Hauptstr. 5",
    ]  # lines as read: the right column comes after the left one

    lines = layout_text(invoice).splitlines()
    assert lines == [
        "Optik Müller GmbH                       Rechnung Nr RE-17",
        "Hauptstr. 5                             Datum 03.04.2024",
        "",  # two empty rows on the page: one empty line
        "Artikel                       Menge          Betrag",
        "Gleitsichtgläser              2              1.000,00",
        "Fassung                       1              234,56",
    ]
    # Columns line up: every amount starts where its header does.
    assert {line.index(amount) for line, amount in zip(lines[3:], ("Betrag", "1.000,00", "234,56"), strict=True)} == {
        45
    }


def test_layout_text_keeps_words_apart_and_starts_at_the_left_margin() -> None:
    # Words wider than their share of the line (bold, a wide font) never run into each other; the margin goes.
    squeezed = Page(
        number=1,
        width=800,
        height=200,
        dpi=72,
        source="ocr",
        lines=[
            Line(
                words=[
                    Word(text="Total", conf=0.9, bbox=(200, 10, 300, 30)),
                    Word(text="EUR", conf=0.9, bbox=(290, 10, 340, 30)),
                    Word(text="12,50", conf=0.9, bbox=(500, 12, 560, 32)),
                ]
            )
        ],
    )
    # One column is the median width per character (50/3 px): "12,50" at 300 px from the margin is column 18.
    assert layout_text(squeezed) == "Total EUR" + " " * 9 + "12,50"
    assert layout_text(Page(number=2, width=10, height=10, dpi=72, source="ocr")) == ""


def test_field_hints_are_one_short_line_per_field() -> None:
    hints = field_hints(INVOICE, "deu").splitlines()
    assert hints == [
        "- invoice_number (text): Rechnungsnummer | Rechnung Nr | Invoice number",
        "- issue_date (date): Rechnungsdatum | Datum | Invoice date",
        "- net_amount (amount): Nettobetrag | Netto | Net amount",
        "- total_amount (amount): Gesamtbetrag | Total amount | Total",
    ]
    assert field_hints(INVOICE, "en", labels=1).splitlines()[3] == "- total_amount (amount): Total amount"
    assert (
        field_hints(INVOICE).splitlines()[0] == "- invoice_number (text): Invoice number | Invoice no | Rechnungsnummer"
    )
    compact = schema_text(INVOICE.json_schema, compact=True)
    assert "title" not in compact
    assert " " not in compact
    assert json.loads(compact)["properties"]["issue_date"] == {"format": "date", "type": "string"}


def test_budget_and_token_estimate() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd") == 1
    assert estimate_tokens("abcde") == 2
    assert document_budget(8192, "x" * 400, "y" * 400, answer_tokens=1000) == 8192 - 1000 - 200
    assert document_budget(100, "x" * 4000) == 0


def _long_document() -> Document:
    filler = "Allgemeine Geschäftsbedingungen gelten für alle Lieferungen und Leistungen"
    return Document(
        media_type="application/pdf",
        pages=[
            page(1, (0, 0, "Rechnungsnummer RE-17"), (1, 0, "Rechnungsdatum 03.04.2024")),
            page(2, *[(row, 0, filler) for row in range(30)]),
            page(3, *[(row, 0, filler) for row in range(30)]),
            page(4, (0, 0, "Nettobetrag 100,00"), (1, 0, "Gesamtbetrag 119,00")),
        ],
    )


def test_a_document_that_fits_is_sent_whole() -> None:
    document = _long_document()
    everything = select_pages(document, INVOICE, 100_000)
    assert (everything.pages, everything.dropped, everything.cut) == ((1, 2, 3, 4), (), None)
    assert everything.text == document_text(document, layout=True)
    assert everything.tokens == estimate_tokens(everything.text)


def test_pages_with_the_labels_go_first_and_dropped_pages_are_named() -> None:
    document = _long_document()
    assert label_hits(document.pages[0], INVOICE) == {"invoice_number", "issue_date"}
    assert label_hits(document.pages[1], INVOICE) == set()
    assert label_hits(document.pages[3], INVOICE) == {"net_amount", "total_amount"}

    one_filler_page = estimate_tokens(document_text(document, layout=True, pages={2}))
    chosen = select_pages(document, INVOICE, one_filler_page)  # room for the two labelled pages, not a filler one
    assert (chosen.pages, chosen.dropped, chosen.cut) == ((1, 4), (2, 3), None)
    assert chosen.text.index("[page 1]") < chosen.text.index("[page 4]")  # in document order
    assert "Gesamtbetrag 119,00" in chosen.text  # the end of the document is not cut off
    assert chosen.tokens <= one_filler_page


def test_when_not_even_one_page_fits_the_best_one_is_cut_and_said_so() -> None:
    document = _long_document()
    tiny = select_pages(document, INVOICE, 8)
    assert (tiny.pages, tiny.cut) == ((1,), 1)
    assert tiny.dropped == (2, 3, 4)
    assert tiny.text.startswith("[page 1]\nRechnungsnummer RE-17")
    assert "Rechnungsdatum" not in tiny.text
    assert select_pages(Document(media_type="image/png"), INVOICE, 10).pages == ()


def test_compact_prompt_sends_the_schema_once_within_the_context() -> None:
    document = _long_document()
    prompt = compact_extraction_prompt(document, INVOICE, context_tokens=1600, answer_tokens=400)
    schema = schema_text(INVOICE.json_schema, compact=True)
    assert schema not in prompt.user  # JSON Schema mode: the schema travels as response_format
    assert prompt.json_mode_user.count(schema) == 1
    assert prompt.json_mode_user.count('"net_amount"') == 1  # and nowhere else
    assert "- net_amount (amount): Nettobetrag | Netto | Net amount" in prompt.user
    assert "UNTRUSTED" in prompt.system
    assert estimate_tokens(prompt.system + prompt.json_mode_user) + 400 <= 1600
    assert prompt.selection.dropped  # the long document did not fit: which pages were left out is known
    assert prompt.selection.pages[0] == 1
    roomy = compact_extraction_prompt(document, INVOICE, context_tokens=100_000, layout=False)
    assert roomy.selection.dropped == ()
    assert "Allgemeine Geschäftsbedingungen" in roomy.user


def test_the_fields_prompt_asks_for_a_skeleton_and_leaves_the_item_rows_out() -> None:
    invoice = page(
        1,
        (0, 0, "Optik Müller GmbH    Rechnung Nr RE-17"),
        (2, 0, "Artikel              Menge    Betrag"),
        (3, 0, "Gleitsichtgläser     2        1.000,00"),
        (5, 0, "Fassung              1        234,56"),
        (6, 0, "Etui                 1        10,00"),
        (8, 0, "Gesamtbetrag                  1.244,56"),
    )
    document = Document(media_type="image/png", pages=[invoice])
    item_rows = {1: [(0.0, 3 * ROW, 400.0, 6 * ROW + 20)]}  # the three items, as the table reader prints them
    prompt = fields_prompt(
        document,
        INVOICE,
        ["invoice_number", "total_amount"],
        {"total_amount": 1244.56},
        context_tokens=4000,
        omit=item_rows,
    )
    assert answer_skeleton(["invoice_number", "seller.vat_id", "seller.name"]) == (
        '{"invoice_number":null,"seller":{"vat_id":null,"name":null}}'
    )
    assert '{"invoice_number":null,"total_amount":null}' in prompt.json_mode_user
    assert '"properties"' not in prompt.json_mode_user  # the skeleton, not the schema
    assert "- total_amount: 1244.56" in prompt.user
    text = prompt.selection.text.splitlines()
    # The three item rows (an empty line between two of them) are one line saying so; header and totals stay.
    assert "[3 item rows left out]" in text
    assert not any("Fassung" in line or "Gleitsicht" in line for line in text)
    assert any(line.startswith("Artikel") for line in text)
    assert any(line.startswith("Gesamtbetrag") for line in text)
    plain = document_text(document, omit=item_rows).splitlines()
    assert plain == [
        "[page 1]",
        "Optik Müller GmbH Rechnung Nr RE-17",
        "Artikel Menge Betrag",
        "[3 item rows left out]",
        "Gesamtbetrag 1.244,56",
    ]
