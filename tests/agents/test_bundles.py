"""Where a file of several documents splits: page signals and gap scores on documents drawn as text."""

from __future__ import annotations

import pytest

from agents.bundles import (
    PageSignals,
    Split,
    first_pages,
    page_counter,
    page_signals,
    parts_of,
    score_gaps,
    split_document,
)
from extractors.model import Document
from extractors.types import build_registry
from tests.agents.layout import document_from_text

TYPES = build_registry([]).all()


def invoice(
    number: str, seller: str, place: str, *, counter: str = "", title: bool = True, date: str = "03.05.2024"
) -> str:
    head = [
        seller,
        f"Hafenstrasse 1, {place}",
        "Tel. 040 123456",
        "",
    ]
    if title:
        head += ["Rechnung", f"Rechnungsnummer: {number}", f"Rechnungsdatum: {date}", "Kunde: Brillen Berger KG", ""]
    body = [
        "Beschreibung          Menge     Preis     Betrag",
        "Gleitsichtglas        2         120,00    240,00",
        "Fassung Titan         1         180,00    180,00",
        "Nettobetrag                               420,00",
        "MwSt 19%                                   79,80",
        "Gesamtbetrag                              499,80",
    ]
    return "\n".join([*head, *body, *([""] * 20), counter])


def continuation(counter: str = "") -> str:
    rows = [f"Position {i}            1          10,00     10,00" for i in range(1, 15)]
    return "\n".join([*rows, *([""] * 18), counter])


PRESCRIPTION = """
Augenarztpraxis Dr. Sabine Hoffmann
Hauptstrasse 12, 10115 Berlin
Tel. 030 765432

Brillenverordnung
Patient: Lukas Weiss
Geburtsdatum: 16.05.1999
Datum: 14.03.2025

        Sph      Cyl     Achse    Add
R       -1,25    -0,50   90       1,50
L       -1,00    -0,25   85       1,50
PD 63
"""


def split(*pages: str, barcodes: tuple[int, ...] = ()) -> Split:
    return split_document(document_from_text(*pages), TYPES, barcodes)


@pytest.mark.parametrize(
    ("line", "counter"),
    [
        ("Seite 2 von 3", (2, 3)),
        ("Page 1 of 2", (1, 2)),
        ("Página 1 de 4", (1, 4)),
        ("Pagina 3 di 3", (3, 3)),
        ("Page 2 sur 2", (2, 2)),
        ("1/2", (1, 2)),
        ("- 2 / 3 -", (2, 3)),
        ("Seite 3", (3, None)),
        ("- 2 -", (2, None)),
        ("-2-", (2, None)),
        ("Fortsetzung auf Seite 2", None),  # the next page's number
        ("Seite 1 - Fortsetzung auf Seite 2", (1, None)),
        ("Rechnungsdatum: 12/05", None),  # a date, not a page counter
        ("Seite 4 von 2", None),  # no page 4 of 2
    ],
)
def test_page_counters(line: str, counter: tuple[int, int | None] | None) -> None:
    page = document_from_text("Some heading\nA line of text\n" + "\n" * 30 + line).pages[0]
    assert page_counter(page) == counter


def test_invoices_and_a_prescription_split_where_each_begins() -> None:
    found = split(
        invoice("RE-2024-0815", "Optik Nord GmbH", "20095 Hamburg", counter="Seite 1 von 2"),
        continuation("Seite 2 von 2"),
        invoice("RE-2024-0816", "Optik Nord GmbH", "20095 Hamburg", counter="Seite 1 von 1"),
        invoice("A-77", "Brillen Süd AG", "80331 München"),
        PRESCRIPTION,
    )
    assert found.parts() == [[1, 2], [3], [4], [5]]
    assert not found.unsure
    gaps = {g.page: g for g in found.gaps}
    assert "counter_continues" in gaps[2].signals
    assert "differs:invoice_number" in gaps[3].signals
    assert "type_changes" in gaps[5].signals


def test_a_page_that_repeats_the_header_continues_its_document() -> None:
    """Page 2 prints the letterhead and the same invoice number again: one document, and sure of it."""
    found = split(
        invoice("RE-2024-0815", "Optik Nord GmbH", "20095 Hamburg"),
        invoice("RE-2024-0815", "Optik Nord GmbH", "20095 Hamburg"),
    )
    assert found.parts() == [[1, 2]]
    assert not found.unsure
    assert "same:invoice_number" in found.gaps[0].signals


def test_the_same_senders_next_invoice_is_a_new_document() -> None:
    found = split(
        invoice("RE-2024-0815", "Optik Nord GmbH", "20095 Hamburg", date="03.05.2024"),
        invoice("RE-2024-0901", "Optik Nord GmbH", "20095 Hamburg", date="01.06.2024"),
    )
    assert found.parts() == [[1], [2]]
    assert not found.unsure


def test_a_blank_sheet_separates_and_belongs_to_no_document() -> None:
    found = split(PRESCRIPTION, "", PRESCRIPTION.replace("Lukas Weiss", "Anna Schmidt"))
    assert found.separators == (2,)
    assert found.parts() == [[1], [3]]
    assert "separator" in found.gaps[0].signals


def test_a_barcode_sheet_separates() -> None:
    """A page with a barcode and next to no text (the bars read as a word or two) is a separator sheet."""
    found = split(
        invoice("RE-1", "Optik Nord GmbH", "20095 Hamburg"),
        "TRENNBLATT",
        continuation(),
        barcodes=(2,),
    )
    assert found.separators == (2,)
    assert found.parts() == [[1], [3]]


def test_a_page_without_signals_is_left_to_a_reviewer() -> None:
    """A page of rows after an invoice, no counter, no header: it may continue the invoice or be another one."""
    found = split(invoice("RE-2024-0815", "Optik Nord GmbH", "20095 Hamburg"), continuation())
    assert found.unsure
    assert found.gaps[0].unsure
    # The proposal still says one thing; the reviewer's answer decides.
    assert found.parts() in ([[1, 2]], [[1], [2]])
    assert found.parts([1, 2]) == [[1], [2]]


def test_a_single_page_has_no_gaps() -> None:
    found = split(PRESCRIPTION)
    assert found.gaps == ()
    assert found.parts() == [[1]]
    assert not found.unsure


def test_parts_of_cuts_at_starts_and_drops_separators() -> None:
    assert parts_of(5, [1, 3], []) == [[1, 2], [3, 4, 5]]
    assert parts_of(5, [1, 4], [3]) == [[1, 2], [4, 5]]
    assert parts_of(5, [1], [3]) == [[1, 2, 4, 5]]  # a separator alone cuts nothing: a reviewer's "one document"
    assert parts_of(4, [1, 2], [2]) == [[1], [3, 4]]  # a start on a separator is the page after it
    assert parts_of(3, [1], [1, 2, 3]) == [[1, 2, 3]]  # nothing but separators: one document of all of them
    assert first_pages(6, [3, 4], [2]) == [1, 3, 4]


def test_a_blank_back_side_inside_a_document_does_not_split_it() -> None:
    """A two-page invoice scanned duplex: the first sheet's empty back lies between its pages."""
    found = split(
        invoice("RE-2024-0815", "Optik Nord GmbH", "20095 Hamburg", counter="Seite 1 von 2"),
        "",
        continuation("Seite 2 von 2"),
    )
    assert found.separators == (2,)
    assert found.parts() == [[1, 3]]
    assert "separator" in found.gaps[0].signals


def test_page_signals_are_of_the_page_alone() -> None:
    document: Document = document_from_text(invoice("RE-9", "Optik Nord GmbH", "20095 Hamburg", counter="1/2"))
    signals = page_signals(document.pages[0], TYPES)
    assert signals.doc_type == "invoice"
    assert signals.counter == (1, 2)
    assert signals.title_at_top
    assert signals.identity["invoice_number"] == ("identifier", "RE9")
    assert {"optik", "nord", "gmbh", "hamburg"} <= signals.letterhead


def test_item_rows_at_the_top_are_no_letterhead() -> None:
    """Article numbers before a description look like a postal code before a place; a row with prices is content."""
    rows = [f"1011{i} Gleitsichtglas Titan     2     120,00     240,00" for i in range(8)]
    page = document_from_text("\n".join([*rows, *([""] * 24), "Gesamtbetrag 1.920,00"])).pages[0]
    assert page_signals(page, TYPES).letterhead == frozenset()
    # A sender's block with the same postal code is still one.
    head = document_from_text(invoice("RE-1", "Optik Nord GmbH", "10115 Berlin")).pages[0]
    assert "berlin" in page_signals(head, TYPES).letterhead


def test_a_number_read_with_ocr_slips_is_the_same_number() -> None:
    """A scan reads "O" for "0" and "I" for "1" on one page and not on the other."""
    first = PageSignals(number=1, identity={"invoice_number": ("identifier", "RE20240815")})
    slipped = PageSignals(number=2, identity={"invoice_number": ("identifier", "RE2O24O8I5")})
    other = PageSignals(number=2, identity={"invoice_number": ("identifier", "RE20240816")})
    assert score_gaps([first, slipped]).gaps[0].signals == ("no_title", "same:invoice_number")
    assert "differs:invoice_number" in score_gaps([first, other]).gaps[0].signals


def test_a_number_with_one_character_dropped_or_misread_says_nothing_but_the_next_number_differs() -> None:
    first = PageSignals(number=1, identity={"invoice_number": ("identifier", "RE20240815")})

    def signals(number: str) -> tuple[str, ...]:
        later = PageSignals(number=2, identity={"invoice_number": ("identifier", number)})
        return score_gaps([first, later]).gaps[0].signals

    assert "slipped:invoice_number" in signals("RE2024815")  # a digit dropped
    assert "slipped:invoice_number" in signals("RE202408151")  # a speck read as a character
    assert "slipped:invoice_number" in signals("RE2024A815")  # a digit misread as a letter
    assert "differs:invoice_number" in signals("RE20240816")  # the next invoice
    assert "differs:invoice_number" in signals("RE2025116")


def test_a_value_the_document_printed_under_another_label_is_no_difference() -> None:
    """A later page's only date, read as the page's date, is the due date the first page printed."""
    first = PageSignals(number=1, identity={"issue_date": ("date", "20240503"), "due_date": ("date", "20240517")})
    later = PageSignals(number=2, identity={"issue_date": ("date", "20240517")})
    gap = score_gaps([first, later]).gaps[0]
    assert "differs:issue_date" not in gap.signals
    assert "elsewhere:issue_date" in gap.signals
    assert not gap.boundary
    new = PageSignals(number=2, identity={"issue_date": ("date", "20240601")})
    assert "differs:issue_date" in score_gaps([first, new]).gaps[0].signals


@pytest.mark.parametrize("foot", ["Fortsetzung auf Seite 2", "Continued on next page", "./.", "Übertrag 420,00"])
def test_a_page_whose_foot_says_it_goes_on_is_continued(foot: str) -> None:
    """Without it the page of rows after the invoice is left to a reviewer (see above)."""
    found = split(invoice("RE-2024-0815", "Optik Nord GmbH", "20095 Hamburg", counter=foot), continuation())
    assert found.parts() == [[1, 2]]
    assert not found.unsure
    assert "previous_goes_on" in found.gaps[0].signals


def test_a_page_that_carries_the_sum_over_is_continued() -> None:
    found = split(invoice("RE-2024-0815", "Optik Nord GmbH", "20095 Hamburg"), "Übertrag   499,80\n" + continuation())
    assert found.parts() == [[1, 2]]
    assert not found.unsure
    assert "carried_in" in found.gaps[0].signals


def test_continuation_words_without_their_shape_say_nothing() -> None:
    """A carried-forward word needs its sum; a word like "continued" in a sentence of the text is no page foot."""
    sentence = "Our service will be continued for the whole year as agreed in the contract with you"
    for text in ("Transport\n" + continuation(), continuation(sentence)):
        signals = page_signals(document_from_text(text).pages[0], TYPES)
        assert not signals.carried_in
        assert not signals.goes_on


def test_another_date_on_a_headless_page_of_a_titled_document_says_nothing() -> None:
    """A titled document prints its date in its head; a later page without a head showing another date prints a
    delivery or payment date. An untitled slip (a till receipt) is still told from the next by its date."""
    titled = PageSignals(number=1, title_at_top=True, identity={"issue_date": ("date", "20240503")})
    headless = PageSignals(number=2, identity={"issue_date": ("date", "20240510")})
    gap = score_gaps([titled, headless]).gaps[0]
    assert "headless:issue_date" in gap.signals
    assert not gap.boundary
    headed = PageSignals(number=2, title_at_top=True, identity={"issue_date": ("date", "20240510")})
    assert "differs:issue_date" in score_gaps([titled, headed]).gaps[0].signals
    slip = PageSignals(number=1, identity={"issue_date": ("date", "20240503")})
    gap = score_gaps([slip, headless]).gaps[0]
    assert "differs:issue_date" in gap.signals
    assert gap.boundary


def test_a_bank_block_after_the_totals_is_no_letterhead() -> None:
    """A last page that begins with the totals prints the bank and tax block near its top: content, not a sender."""
    last = [
        "Nettobetrag                               420,00",
        "MwSt 19%                                   79,80",
        "Gesamtbetrag                              499,80",
        "",
        "Bankverbindung: Hausbank Hamburg, IBAN DE89 3704 0044 0532 0130 00",
        "USt-IdNr. DE123456789, Tel. 040 123456, www.optik-nord.de",
    ]
    page = document_from_text("\n".join([*last, *([""] * 30), "Seite 2 von 2"])).pages[0]
    assert page_signals(page, TYPES).letterhead == frozenset()


def test_another_number_on_a_headless_page_of_a_titled_document_weighs_less() -> None:
    """Read from the content of a page without a head, another number (an order's, a delivery's) is weak evidence;
    on a page with its title at the top it is the next document's."""
    titled = PageSignals(number=1, title_at_top=True, identity={"invoice_number": ("identifier", "RE20240815")})
    headless = PageSignals(number=2, identity={"invoice_number": ("identifier", "LS201351112")})
    gap = score_gaps([titled, headless]).gaps[0]
    assert "differs:invoice_number" in gap.signals
    assert not gap.boundary
    assert gap.unsure
    headed = PageSignals(number=2, title_at_top=True, identity={"invoice_number": ("identifier", "RE20240816")})
    assert score_gaps([titled, headed]).gaps[0].boundary


def test_a_page_whose_type_scores_tie_leans_to_no_type() -> None:
    """One "Datum" over rows scores both types alike; the classifier then picks by name, which says nothing of
    the page, and must not make an invoice's next page differ from it."""
    rows = "Datum: 01.02.2024\n" + continuation()
    assert page_signals(document_from_text(rows).pages[0], TYPES).leaning is None
    found = split(invoice("RE-2024-0815", "Optik Nord GmbH", "20095 Hamburg"), rows)
    assert "type_differs" not in found.gaps[0].signals
    assert not found.gaps[0].boundary


def test_a_page_that_repeats_the_letterhead_and_title_leans_to_continue() -> None:
    """Page 2 prints the sender's block and the title again but no number or date: most likely the same document;
    the same sender's next one would be told by its number or date. A person may still be asked."""
    head = "Optik Nord GmbH\nHafenstrasse 1, 20095 Hamburg\nTel. 040 123456\n\nRechnung\n\n"
    found = split(invoice("RE-2024-0815", "Optik Nord GmbH", "20095 Hamburg"), head + continuation())
    gap = found.gaps[0]
    assert {"title_at_top", "same_letterhead"} <= set(gap.signals)
    assert not gap.boundary


def test_a_one_digit_document_number_is_no_identity() -> None:
    """Under a repeated "Rechnung" the first row's position "1" is read as the invoice's number: no number at all."""
    head = "Optik Nord GmbH\nHafenstrasse 1, 20095 Hamburg\nTel. 040 123456\n\nRechnung\n\n"
    assert "invoice_number" not in page_signals(document_from_text(head + continuation()).pages[0], TYPES).identity


def test_a_page_with_nothing_but_its_page_number_is_no_blank_sheet() -> None:
    found = split(
        invoice("RE-2024-0815", "Optik Nord GmbH", "20095 Hamburg", counter="Seite 1 von 2"),
        "\n" * 30 + "Seite 2 von 2",
    )
    assert found.separators == ()
    assert found.parts() == [[1, 2]]
    assert not found.unsure


def test_the_same_date_on_a_headless_page_still_agrees() -> None:
    titled = PageSignals(number=1, title_at_top=True, identity={"issue_date": ("date", "20240503")})
    headless = PageSignals(number=2, identity={"issue_date": ("date", "20240503")})
    assert "same:issue_date" in score_gaps([titled, headless]).gaps[0].signals
