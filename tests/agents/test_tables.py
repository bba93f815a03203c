"""Line-item tables read row by row across pages (agents/tables.py), and the completeness check against what the
table prints (extractors/rules/invoice.py ``line_items_complete``): small synthetic pages laid out as text."""

from __future__ import annotations

import copy
from typing import Any

from agents.extract import extract
from agents.offline import offline_extract
from agents.tables import printed_tables, row_provenance, validate_read
from extractors.model import Document, Line, Page, Word
from extractors.types import get_type
from extractors.validation import validate
from tests.agents.layout import LINE_H, document_from_text

INVOICE = get_type("invoice")


def _money(value: float) -> str:
    """German print: 1.234,56."""
    return f"{value:,.2f}".replace(",", " ").replace(".", ",").replace(" ", ".")


def _row(position: int, description: str, quantity: int, price: float) -> str:
    amount = _money(quantity * price)
    return f"{position:<4} {description:<28}{quantity:>5}{_money(price):>13}{amount:>14}"


ITEMS = [(f"Brillenglas Typ {n}", 1 + n % 3, round(10.5 * n + 0.25, 2)) for n in range(1, 36)]
HEADER = "Pos  Beschreibung                Menge  Einzelpreis        Betrag"


def _two_pages(items: list[tuple[str, int, float]] = ITEMS, on_first: int = 20) -> list[str]:
    """An invoice whose table of ``items`` runs over two pages: the header on the first page only, the running sum
    carried at the foot of page 1 and the head of page 2, letterhead and page number on both."""
    rows = [_row(n, d, q, p) for n, (d, q, p) in enumerate(items, start=1)]
    net = round(sum(q * p for _, q, p in items), 2)
    carried = _money(round(sum(q * p for _, q, p in items[:on_first]), 2))
    tax = round(net * 0.19, 2)
    first = "\n".join(
        [
            "Optik Müller GmbH",
            "Hauptstraße 1, 10115 Berlin",
            "",
            "Rechnung                                  Rechnungsnummer: RE-2024-0042",
            "                                          Rechnungsdatum: 03.04.2024",
            "",
            HEADER,
            *rows[:on_first],
            f"     Übertrag {carried:>50}",
            "",
            "                                                      Seite 1 von 2",
        ]
    )
    second = "\n".join(
        [
            "Optik Müller GmbH",
            "",
            f"     Übertrag {carried:>50}",
            *rows[on_first:],
            "",
            f"                                  Nettobetrag {_money(net):>20}",
            f"                                  MwSt. 19 %  {_money(tax):>20}",
            f"                                  Gesamtbetrag {_money(round(net + tax, 2)):>19}",
            "",
            "                                                      Seite 2 von 2",
        ]
    )
    return [first, second]


def test_a_table_goes_on_over_the_page_break_without_its_header() -> None:
    pages = _two_pages()
    document = document_from_text(*pages)
    extraction = offline_extract(document, INVOICE)
    items = extraction.data["line_items"]
    assert [(i["description"], i["quantity"], i["unit_price"], i["amount"]) for i in items] == [
        (d, float(q), p, round(q * p, 2)) for d, q, p in ITEMS
    ]
    # Each row has its own provenance box: on its page, on its line.
    for index in (0, 19, 20, 34):
        field = extraction.fields[f"line_items.{index}.amount"]
        page = 1 if index < 20 else 2
        line = pages[page - 1].strip("\n").splitlines().index(_row(index + 1, *ITEMS[index]))
        assert (field.page, field.bbox[1] if field.bbox else None) == (page, line * LINE_H)
    (table,) = printed_tables(document, INVOICE)
    assert [row.position for row in table.rows] == list(range(1, 36))
    # The running sums carried over the break are no items, and nothing is missing.
    codes = {issue.code for issue in validate_read(INVOICE, extraction.data, document).errors}
    assert "line_items_incomplete" not in codes


def test_rows_left_out_of_the_data_make_it_incomplete_whoever_read_it() -> None:
    document = document_from_text(*_two_pages())
    data = offline_extract(document, INVOICE).data
    assert not [e for e in validate_read(INVOICE, data, document).errors if e.code.startswith("line_item")]
    # A model that answered the first page's rows only, but the right totals.
    short = copy.deepcopy(data)
    del short["line_items"][20:]
    (issue,) = [e for e in validate_read(INVOICE, short, document).errors if e.code == "line_items_incomplete"]
    assert issue.field == "line_items"
    assert "35 item rows, 20 were read" in issue.message
    assert "positions run to 35" in issue.message
    # One row missing in the middle, its amount replaced by a duplicate of another: counted, not summed.
    swapped = copy.deepcopy(data)
    swapped["line_items"][5] = dict(swapped["line_items"][6])
    (issue,) = [e for e in validate_read(INVOICE, swapped, document).errors if e.code == "line_items_incomplete"]
    assert "page 1 position 6" in issue.message
    # Without the layout (a reviewer's correction), the sums alone still catch a short list.
    codes = {e.code for e in validate_read(INVOICE, short, document_from_text("")).errors}
    assert "line_items_incomplete" in codes


def test_items_adding_up_to_less_than_the_net_amount_send_the_document_to_review() -> None:
    # The page prints a net amount the rows do not reach: a row the reader could not see is missing.
    document = document_from_text(
        """
        Optik Müller GmbH
        Rechnung Nr. RE-7
        Beschreibung                Menge  Einzelpreis        Betrag
        Fassung Titan                   1       120,00        120,00
        Gläser entspiegelt              2        80,00        160,00

                                  Nettobetrag                 330,00
                                  MwSt. 19 %                   62,70
                                  Gesamtbetrag                392,70
        """
    )
    extraction = extract(document, INVOICE)
    assert [item["amount"] for item in extraction.data["line_items"]] == [120.0, 160.0]
    (issue,) = [e for e in validate_read(INVOICE, extraction.data, document).errors if e.field == "line_items"]
    assert issue.code == "line_items_incomplete"
    assert "280.00" in issue.message
    # The items' fields are marked unsure for the reviewer.
    assert extraction.fields["line_items.0.amount"].confidence < 0.5


def test_section_subtotals_line_discounts_and_charges_below_the_table() -> None:
    document = document_from_text(
        """
        Augenblick Optik KG
        Pos  Beschreibung                Menge  Einzelpreis        Betrag
        --- Gläser ---
        1    Gleitsichtglas                  2       150,00        300,00
        2    Einstärkenglas                  2        40,00         80,00
                                   abzgl. 10 % Rabatt               -8,00
                                               Zwischensumme       372,00
        --- Fassungen ---
        3    Fassung Titan                   1       120,00        120,00
                                               Zwischensumme       120,00
                                               Versandkosten         5,90
                                               Rabatt 2 %           -9,84
                                               Nettobetrag         488,06
                                               MwSt. 19 %           92,73
                                               Gesamtbetrag        580,79
        """
    )
    data = offline_extract(document, INVOICE).data
    assert [(i["description"], i["amount"]) for i in data["line_items"]] == [
        ("Gleitsichtglas", 300.0),
        ("Einstärkenglas", 72.0),  # its discount printed under it is taken off
        ("Fassung Titan", 120.0),
    ]
    (table,) = printed_tables(document, INVOICE)
    assert sorted(table.adjustments) == [-9.84, 5.9]
    assert not [e for e in validate_read(INVOICE, data, document).errors if e.code.startswith("line_item")]


def test_items_listed_without_headings_above_the_totals() -> None:
    document = document_from_text(
        """
        MVM Versicherungsverein a.G.
        Beitragsrechnung 2014
        Folgende Risiken sind versichert:
        Privathaftpflicht                                 50,00 €
        Lebensgefährte/in zur Privathaftpflicht            0,00 €
        Tierhalterhaftpflicht Hund                        21,30 €
        Gesamtbeitrag                                     71,30 €
        Versicherungsteuer 19 %                           13,55 €
        """
    )
    data = offline_extract(document, INVOICE).data
    assert [(i["description"], i["amount"]) for i in data["line_items"]] == [
        ("Privathaftpflicht", 50.0),
        ("Lebensgefährte/in zur Privathaftpflicht", 0.0),
        ("Tierhalterhaftpflicht Hund", 21.3),
    ]


def test_a_till_receipts_items_with_their_tax_class_add_up_to_its_sum() -> None:
    # A till receipt prints each item's tax class after its amount, group headings between the items, and its
    # total as a bare "Summe" (net or total: it ends the items because they add up to it).
    document = document_from_text(
        """
        Markthalle am Ring
        Ringstraße 12, 33100 Paderborn
                                          EUR
        Getränke
        Mineralwasser 6 x 1,5 l          3,49 A
        Pfand                            1,50 A
        Haushalt
        Holzkohle 3 kg                   5,99 A
        Spülschwämme                     0,89 A
        Summe                           11,87
        Bar                             20,00
        Rückgeld                        -8,13
        Steuer  %     Brutto   Netto  Steuer
        A=19,00%       11,87    9,97    1,90
        """
    )
    data = offline_extract(document, INVOICE).data
    assert [(i["description"], i["amount"]) for i in data["line_items"]] == [
        ("Mineralwasser 6 x 1,5 l", 3.49),
        ("Pfand", 1.5),
        ("Holzkohle 3 kg", 5.99),
        ("Spülschwämme", 0.89),
    ]
    assert not [e for e in validate_read(INVOICE, data, document).errors if e.code.startswith("line_item")]


def test_payment_and_change_under_a_receipts_total_are_no_items() -> None:
    # Cash given and change due add up to the total too, but they are printed below it: items never are. (This
    # receipt numbers its tax classes.)
    document = document_from_text(
        """
        Elektro Markt GmbH
        Hauptstraße 5, 12345 Musterstadt
        4711 Kopfhörer BT-200           105,99 2
        Seriennr. 5941059629
        0815 WLAN-Adapter                 8,99 2
        Total EUR                       114,98
        Bar EUR                         120,00
        Rückgeld EUR                     -5,02
        incl. 19,00% MwSt                18,36
        """
    )
    data = offline_extract(document, INVOICE).data
    assert [(i["description"], i["amount"]) for i in data["line_items"]] == [
        ("4711 Kopfhörer BT-200", 105.99),
        ("0815 WLAN-Adapter", 8.99),
    ]


def test_a_models_items_point_at_their_own_rows() -> None:
    # The same amount on two rows: a model's answer names values, each item's boxes must lie on its own row.
    text = """
        Beschreibung                Menge  Einzelpreis        Betrag
        Fassung Titan                   1        99,00         99,00
        Etui                            1        12,00         12,00
        Fassung Horn                    1        99,00         99,00
                                    Nettobetrag               210,00
        """
    document = document_from_text(text)
    data: dict[str, Any] = {
        "net_amount": 210.0,
        "line_items": [
            {"description": "Fassung Titan", "amount": 99.0},
            {"description": "Etui", "amount": 12.0},
            {"description": "Fassung Horn", "amount": 99.0},
        ],
    }
    fields = row_provenance(document, INVOICE, data, {}, "llm")
    lines = text.strip("\n").splitlines()
    for index, name in enumerate(["Fassung Titan", "Etui", "Fassung Horn"]):
        line = next(i for i, row in enumerate(lines) if name in row)
        for column in ("description", "amount"):
            field = fields[f"line_items.{index}.{column}"]
            assert field.bbox is not None
            assert field.bbox[1] == line * LINE_H, (index, column)
            assert field.source == "llm"


def test_one_item_listed_with_detail_lines_is_read_when_it_is_the_sum() -> None:
    document = document_from_text(
        """
        MVM Versicherungsverein a.G.
        Vereinbarter Versicherungsschutz:
        Verbundene Wohngebäudeversicherung                 1.000,00 €
        - Feuerversicherung Teil A § 2
        - Leitungswasserversicherung Teil A § 3
        Gesamtbeitrag                                      1.000,00 €
        Versicherungsteuer                                   163,40 €
        Rechnungsbetrag                                    1.163,40 €
        """
    )
    items = offline_extract(document, INVOICE).data["line_items"]
    assert [(i["description"], i["amount"]) for i in items] == [("Verbundene Wohngebäudeversicherung", 1000.0)]


def test_sums_named_in_words_no_label_knows_are_no_items() -> None:
    # "Warenwert", "Abgabe", "Zahlbetrag": a label and an amount under the number columns are a sum, not an item.
    document = document_from_text(
        """
        Pos  Beschreibung       Menge        Betrag
        1    Fassung            1          539,56

                                Warenwert  539,56
                                Abgabe     102,52
                                Zahlbetrag 642,08 EUR
        """
    )
    data = offline_extract(document, INVOICE).data
    assert [(i["description"], i["amount"]) for i in data["line_items"]] == [("Fassung", 539.56)]
    (table,) = printed_tables(document, INVOICE)
    assert [row.amount for row in table.rows] == [539.56]


def test_a_levy_row_with_its_own_count_is_an_item_though_a_word_of_it_cues_a_total() -> None:
    # "Incl." cues "Totaal incl. btw", but a row with a count and an amount is an item; right-aligned amounts end
    # past the amount column's short heading ("Prijs incl. BTW" found by its first word).
    document = document_from_text(
        """
        Artikel                                   Aantal  Prijs per stuk  BTW  Prijs incl. BTW
        Tablet Air 16 GB                               1        € 399,00  21%         € 399,00
          Incl. Heffing: Thuiskopie €3.50              1                  21%           € 4,24
          Serienummer: SDM373MPP15
        Hoes Leder Zwart                               1         € 69,99  21%       € 1.069,99

                                                      Exclusief BTW                € 1.223,61
                                                      BTW 21%                        € 249,62
                                                      Totaal                       € 1.473,23
        """
    )
    data = offline_extract(document, INVOICE).data
    assert [(i["description"], i["amount"]) for i in data["line_items"]] == [
        ("Tablet Air 16 GB", 399.0),
        ("Incl. Heffing: Thuiskopie €3.50", 4.24),
        ("Hoes Leder Zwart", 1069.99),
    ]
    (table,) = printed_tables(document, INVOICE)
    assert [row.amount for row in table.rows] == [399.0, 4.24, 1069.99]


def test_no_items_read_from_a_document_is_incomplete_but_a_reviewers_data_alone_is_not() -> None:
    # The items are printed as prose no table reader finds: nothing accounts for the totals.
    document = document_from_text(
        """
        Optik Müller GmbH
        Rechnung Nr. RE-9
        Für die Anpassung Ihrer neuen Gleitsichtbrille berechnen wir pauschal.
                                  Nettobetrag                 330,00
                                  MwSt. 19 %                   62,70
                                  Gesamtbetrag                392,70
        """
    )
    data = offline_extract(document, INVOICE).data
    assert not data.get("line_items")
    assert data["net_amount"] == 330.0
    (issue,) = [e for e in validate_read(INVOICE, data, document).errors if e.field == "line_items"]
    assert issue.code == "line_items_incomplete"
    assert "no line item" in issue.message
    # Items without amounts account for nothing either.
    notes = {**data, "line_items": [{"description": "Anpassung Gleitsichtbrille"}]}
    assert "line_items_incomplete" in {e.code for e in validate_read(INVOICE, notes, document).errors}
    # A reviewer's data checked without the document: no table to hold it against.
    assert "line_items_incomplete" not in {e.code for e in validate(INVOICE, data).errors}


def test_items_are_checked_against_the_totals_even_when_one_has_no_amount_or_no_totals_were_read() -> None:
    document = document_from_text(
        """
        Beschreibung                Menge  Einzelpreis        Betrag
        Fassung Titan                   1       120,00        120,00
        Gläser entspiegelt              2        80,00        160,00
                                  Nettobetrag                 280,00
        """
    )
    items = [{"description": "Fassung Titan", "amount": 120.0}, {"description": "Gläser entspiegelt", "amount": 160.0}]
    note = {"description": "Lieferung frei Haus"}

    def codes(data: dict[str, Any]) -> set[str]:
        return {e.code for e in validate_read(INVOICE, data, document).errors if e.field == "line_items"}

    assert codes({"net_amount": 280.0, "line_items": items}) == set()
    # A note without an amount adds nothing: the other items still add up, or do not.
    assert codes({"net_amount": 280.0, "line_items": [*items, note]}) == set()
    assert codes({"net_amount": 280.0, "line_items": [items[0], note]}) == {"line_items_incomplete"}
    # Nothing to hold the items against: their completeness is not known.
    (issue,) = [e for e in validate_read(INVOICE, {"line_items": items}, document).errors if e.field == "line_items"]
    assert issue.code == "line_items_incomplete"
    assert "neither a net amount nor a total" in issue.message


def test_a_sum_between_the_items_that_is_no_sum_of_them_makes_the_table_doubtful() -> None:
    def page(subtotal: str) -> str:
        return f"""
        Pos  Beschreibung                Menge  Einzelpreis        Betrag
        1    Fassung Titan                   1       120,00        120,00
                                        Zwischensumme {subtotal:>19}
        2    Gläser entspiegelt              2        80,00        160,00
                                  Nettobetrag                 280,00
        """

    # A subtotal of the items above it is passed over.
    document = document_from_text(page("120,00"))
    items = offline_extract(document, INVOICE).data["line_items"]
    assert [i["amount"] for i in items] == [120.0, 160.0]
    data = {"net_amount": 280.0, "line_items": items}
    (table,) = printed_tables(document, INVOICE)
    assert table.doubtful == []
    assert not [e for e in validate_read(INVOICE, data, document).errors if e.field == "line_items"]
    # One the items above do not add up to hides a row: the items add up to the net, and still are doubtful.
    document = document_from_text(page("124,24"))
    assert offline_extract(document, INVOICE).data["line_items"] == items
    (table,) = printed_tables(document, INVOICE)
    assert [row.amount for row in table.doubtful] == [124.24]
    (issue,) = [e for e in validate_read(INVOICE, data, document).errors if e.field == "line_items"]
    assert issue.code == "line_items_incomplete"
    assert "page 1 (124.24)" in issue.message
    # Data holding an item of that amount accounts for it.
    held = {**data, "line_items": [*data["line_items"], {"description": "Zuschlag", "amount": 124.24}]}
    assert "line_items_incomplete" not in {e.code for e in validate_read(INVOICE, held, document).errors}


def test_the_first_items_wrapped_line_is_no_part_of_the_header() -> None:
    # A line of text two lines under the header, past the first item's row of values, names no column: it is the
    # first item's description going on, not the header's second line.
    document = document_from_text(
        """
        Pos  Beschreibung                      Menge  Einzelpreis        Betrag
        1    Gleitsichtglas Premium mit             2       150,00        300,00
             Hartschicht und Entspiegelung
        2    Fassung Titan                          1       120,00        120,00
                                          Nettobetrag                 420,00
        """
    )
    data = offline_extract(document, INVOICE).data
    assert [(i["description"], i["amount"]) for i in data["line_items"]] == [
        ("Gleitsichtglas Premium mit Hartschicht und Entspiegelung", 300.0),
        ("Fassung Titan", 120.0),
    ]
    assert not [e for e in validate_read(INVOICE, data, document).errors if e.field == "line_items"]


def test_a_word_broken_by_a_hyphen_at_the_lines_end_goes_on_without_a_space() -> None:
    document = document_from_text(
        """
        Pos  Beschreibung                      Menge  Einzelpreis        Betrag
        1    Schutzhelm-6PUNKT-                    10       12,00        120,00
             WEISS
        2    Fassung Titan                          1      120,00        120,00
                                          Nettobetrag                 240,00
        """
    )
    data = offline_extract(document, INVOICE).data
    assert [(i["description"], i["amount"]) for i in data["line_items"]] == [
        ("Schutzhelm-6PUNKT-WEISS", 120.0),
        ("Fassung Titan", 120.0),
    ]


def test_items_printing_their_values_on_the_last_line_of_their_description() -> None:
    def invoice(body: str) -> list[tuple[str, float]]:
        document = document_from_text(
            "Beschreibung                      Menge  Einzelpreis        Betrag\n" + body + "\n"
            "                            Nettobetrag                 440,00"
        )
        return [(i["description"], i["amount"]) for i in offline_extract(document, INVOICE).data["line_items"]]

    # The first item's description fills its column and goes on on the values' line: so do the others.
    assert invoice(
        """Gleitsichtglas Premium mit
Hartschicht und Entspiegelung         2       150,00        300,00
Fassung Titan                         1       120,00        120,00
Brillenetui Leder mit
Prägung                               1        20,00         20,00"""
    ) == [
        ("Gleitsichtglas Premium mit Hartschicht und Entspiegelung", 300.0),
        ("Fassung Titan", 120.0),
        ("Brillenetui Leder mit Prägung", 20.0),
    ]
    # A short line above the first item is a heading: the lines under an item's values still go on its description.
    assert invoice(
        """Gläser
Gleitsichtglas Premium mit            2       150,00        300,00
Hartschicht
Fassung Titan                         1       120,00        120,00
Brillenetui Leder                     1        20,00         20,00"""
    ) == [
        ("Gleitsichtglas Premium mit Hartschicht", 300.0),
        ("Fassung Titan", 120.0),
        ("Brillenetui Leder", 20.0),
    ]


def _placed(*cells: tuple[str, float, float]) -> Document:
    """A page of the given texts, each at (x, y) in 10 × 20 px characters: rows need not share a baseline."""

    def words(text: str, x: float, y: float) -> list[Word]:
        out = []
        for token in text.split():
            out.append(Word(text=token, conf=0.95, bbox=(x, y, x + 10 * len(token), y + 20)))
            x += 10 * len(token) + 10
        return out

    lines = [Line(words=words(text, x, y)) for text, x, y in cells]
    page = Page(number=1, width=900, height=1200, dpi=72, source="text-layer", lines=lines)
    return Document(media_type="application/pdf", pages=[page])


def test_values_centred_on_a_description_of_two_lines_go_with_both_lines() -> None:
    document = _placed(
        ("Optik Müller GmbH", 0, 0),
        ("Beschreibung", 0, 100),
        ("Menge", 450, 100),
        ("Einzelpreis", 550, 100),
        ("Betrag", 720, 100),
        ("Gleitsichtglas Premium mit", 0, 140),
        ("2", 490, 151),
        ("150,00", 580, 151),
        ("300,00", 730, 151),
        ("Hartschicht und Entspiegelung", 0, 162),
        ("Fassung Titan rund", 0, 200),
        ("1", 490, 211),
        ("120,00", 580, 211),
        ("120,00", 730, 211),
        ("Modell 2024 schwarz", 0, 222),
        ("Nettobetrag", 450, 280),
        ("420,00", 730, 280),
    )
    data = offline_extract(document, INVOICE).data
    assert [(i["description"], i["amount"]) for i in data["line_items"]] == [
        ("Gleitsichtglas Premium mit Hartschicht und Entspiegelung", 300.0),
        ("Fassung Titan rund Modell 2024 schwarz", 120.0),
    ]
    assert not [e for e in validate_read(INVOICE, data, document).errors if e.field == "line_items"]


def test_a_header_printed_again_after_a_pages_sums_continues_the_table() -> None:
    header = "Pos  Beschreibung                Menge  Einzelpreis        Betrag"
    first = "\n".join(
        [
            "Optik Müller GmbH",
            header,
            _row(1, "Fassung Titan", 1, 120.0),
            _row(2, "Gläser entspiegelt", 2, 80.0),
            "                                  Gesamtbetrag Seite 1       280,00",
        ]
    )
    second = "\n".join(
        [
            "Optik Müller GmbH",
            header,
            _row(3, "Etui Leder", 1, 20.0),
            "                                  Nettobetrag                300,00",
            "                                  MwSt. 19 %                  57,00",
            "                                  Gesamtbetrag               357,00",
        ]
    )
    document = document_from_text(first, second)
    data = offline_extract(document, INVOICE).data
    assert [(i["description"], i["amount"]) for i in data["line_items"]] == [
        ("Fassung Titan", 120.0),
        ("Gläser entspiegelt", 160.0),
        ("Etui Leder", 20.0),
    ]
    (table,) = printed_tables(document, INVOICE)
    assert [(row.page, row.position) for row in table.rows] == [(1, 1), (1, 2), (2, 3)]


def test_a_margin_note_printed_sideways_beside_the_table_cuts_no_description() -> None:
    document = _placed(
        ("Optik Müller GmbH", 100, 0),
        ("Beschreibung", 100, 100),
        ("Menge", 450, 100),
        ("Einzelpreis", 550, 100),
        ("Betrag", 720, 100),
        ("Gleitsichtglas Premium", 100, 140),
        ("2", 490, 140),
        ("150,00", 580, 140),
        ("300,00", 730, 140),
        ("mit Hartschicht", 100, 170),
        ("Fassung Titan", 100, 210),
        ("1", 490, 210),
        ("120,00", 580, 210),
        ("120,00", 730, 210),
        ("Nettobetrag", 450, 280),
        ("420,00", 730, 280),
    )
    # An imprint running up the left margin, beside the first item: a word box far taller than wide.
    (page,) = document.pages
    note = Line(words=[Word(text="Copyright", conf=0.95, bbox=(10.0, 150.0, 22.0, 240.0))])
    document = document.model_copy(update={"pages": [page.model_copy(update={"lines": [*page.lines, note]})]})
    data = offline_extract(document, INVOICE).data
    assert [(i["description"], i["amount"]) for i in data["line_items"]] == [
        ("Gleitsichtglas Premium mit Hartschicht", 300.0),
        ("Fassung Titan", 120.0),
    ]


def test_descriptions_printed_on_lines_of_their_own_above_bare_values_go_with_the_values_below() -> None:
    document = document_from_text(
        """
        Optik Müller GmbH
        Rechnung Nr. RE-7
        Beschreibung                Menge  Einzelpreis        Betrag
        Etui
                                        1        20,00         20,00
        Lieferdatum: 01.04.2024
        Gläser entspiegelt
        Hartschicht
                                        2        80,00        160,00
        Fassung Titan
                                        1       120,00        120,00

                                  Nettobetrag                 300,00
                                  MwSt. 19 %                   57,00
                                  Gesamtbetrag                357,00
        """
    )
    data = offline_extract(document, INVOICE).data
    assert [(i["description"], i["amount"]) for i in data["line_items"]] == [
        ("Etui", 20.0),
        ("Gläser entspiegelt Hartschicht", 160.0),
        ("Fassung Titan", 120.0),
    ]
    # A detail line naming a date under the last item is no description of one below it.
    document = document_from_text(
        """
        Optik Müller GmbH
        Beschreibung                Menge  Einzelpreis        Betrag
        Etui
                                        1        20,00         20,00
        Fassung Titan
                                        1       120,00        120,00
        geliefert am 02.04.2024

                                  Nettobetrag                 140,00
        """
    )
    data = offline_extract(document, INVOICE).data
    assert [(i["description"], i["amount"]) for i in data["line_items"]] == [("Etui", 20.0), ("Fassung Titan", 120.0)]


def test_a_description_under_bare_values_stays_below_them() -> None:
    # The other way round: values first, then the description (the last item's follows its values).
    document = document_from_text(
        """
        Optik Müller GmbH
        Rechnung Nr. RE-7
        Beschreibung                Menge  Einzelpreis        Betrag
                                        1        20,00         20,00
        Etui
                                        2        80,00        160,00
        Gläser entspiegelt

                                  Nettobetrag                 180,00
                                  MwSt. 19 %                   34,20
                                  Gesamtbetrag                214,20
        """
    )
    data = offline_extract(document, INVOICE).data
    items = [(i["description"], i["amount"]) for i in data["line_items"]]
    assert items == [("Etui", 20.0), ("Gläser entspiegelt", 160.0)]


def test_a_measure_in_a_descriptions_line_stays_in_it_and_a_remark_naming_money_does_not_join() -> None:
    document = document_from_text(
        """
        Elektro Müller GmbH
        Rechnung Nr. RE-7
        Pos Beschreibung                Menge  Einzelpreis        Betrag
        1   Kabel NYM                       1        12,00         12,00
            3x1,5 2,50 m
        2   Rohrschelle                     4         0,50          2,00
            verzinkt 0,75 mm
            Enthält 19 % Steuer = 0,38 €

                                  Nettobetrag                  14,00
                                  MwSt. 19 %                    2,66
                                  Gesamtbetrag                 16,66
        """
    )
    data = offline_extract(document, INVOICE).data
    assert [(i["description"], i["amount"]) for i in data["line_items"]] == [
        ("Kabel NYM 3x1,5 2,50 m", 12.0),
        ("Rohrschelle verzinkt 0,75 mm", 2.0),
    ]


def test_an_extended_price_column_is_the_amount_not_the_unit_price() -> None:
    # US invoices head the line total "Ext. price": "price" in it does not make it the unit price column.
    document = document_from_text(
        """
        ACME Studio LLC
        INVOICE #1042                        Date: 2024-04-03
        Service                              Qty     Unit cost      Ext. price
        Web design                             2       $450.00         $900.00
        Domain renewal                         1        $15.00          $15.00

                                            Subtotal                   $915.00
                                            Tax 8%                      $73.20
                                            Total                      $988.20
        """
    )
    data = offline_extract(document, INVOICE).data
    assert [(i["description"], i["amount"]) for i in data["line_items"]] == [
        ("Web design", 900.0),
        ("Domain renewal", 15.0),
    ]


def test_rows_whose_text_column_has_no_heading_keep_their_descriptions() -> None:
    document = document_from_text(
        """
        ACME Studio LLC
        INVOICE #1042                        Date: 2024-04-03
                                             Qty    Unit price          Amount
        Web design                             2        450.00          900.00
        Domain renewal                         1         15.00           15.00

                                            Subtotal                    915.00
                                            Tax 8%                       73.20
                                            Total                       988.20
        """
    )
    data = offline_extract(document, INVOICE).data
    assert [(i.get("description"), i["amount"]) for i in data["line_items"]] == [
        ("Web design", 900.0),
        ("Domain renewal", 15.0),
    ]


def test_a_printed_count_of_items_catches_a_row_without_an_amount_read_as_a_descriptions_line() -> None:
    document = document_from_text(
        """
        Optik Müller GmbH
        Rechnung Nr. RE-7
        Beschreibung                Menge  Einzelpreis        Betrag
        Fassung Titan                   1       120,00        120,00
        Gläser entspiegelt              3        80,00        240,00
        Etui Leder                      1
        Putztuch                        1         0,00          0,00

        Anzahl Positionen: 4
                                  Nettobetrag                 360,00
                                  MwSt. 19 %                   68,40
                                  Gesamtbetrag                428,40
        """
    )
    data = offline_extract(document, INVOICE).data
    assert len(data["line_items"]) == 3  # the free row without its amount is no item row the sums can check
    (table,) = printed_tables(document, INVOICE)
    assert table.count == 4
    # Four pieces would be no row missing; here they are five.
    assert sum(i.get("quantity", 0) for i in data["line_items"]) == 5
    (issue,) = [e for e in validate_read(INVOICE, data, document).errors if e.field == "line_items"]
    assert issue.code == "line_items_incomplete"
    assert "lists 4 items, 3 were read" in issue.message


def test_an_amount_read_with_a_speck_after_its_cents_is_still_the_rows_amount() -> None:
    # OCR reads a speck of a scan after the cents as a full stop: "160,00." is the amount still.
    document = document_from_text(
        """
        Optik Müller GmbH
        Pos Beschreibung                Menge  Einzelpreis        Betrag
        1   Fassung Titan                   1       120,00        120,00
        2   Gläser entspiegelt              2        80,00       160,00.

                                  Nettobetrag                 280,00
        """
    )
    data = offline_extract(document, INVOICE).data
    assert [(i["description"], i["amount"]) for i in data["line_items"]] == [
        ("Fassung Titan", 120.0),
        ("Gläser entspiegelt", 160.0),
    ]


def test_a_quantity_with_its_unit_spelled_out_is_no_part_of_the_description() -> None:
    # Quantities right-aligned with their unit: "1.00 Units" reaches left of the heading "Quantity".
    document = document_from_text(
        """
        Azure Shop Inc.
        Invoice INV/2024/0042                          Date: 2024-04-03
        Description                    Quantity   Unit Price    Amount
        Office Chair                 1.00 Units        70.00     70.00
        Desk Lamp                     2.00 Pieces      12.50     25.00
        Tea                            3.00 kg          4.00     12.00
                                            Subtotal            107.00
                                            Tax 15%              16.05
                                            Total               123.05
        """
    )
    data = offline_extract(document, INVOICE).data
    assert [(i["description"], i["quantity"], i["unit_price"], i["amount"]) for i in data["line_items"]] == [
        ("Office Chair", 1.0, 70.0, 70.0),
        ("Desk Lamp", 2.0, 12.5, 25.0),
        ("Tea", 3.0, 4.0, 12.0),
    ]
    assert not [e for e in validate_read(INVOICE, data, document).errors if e.field.startswith("line_items")]


def test_a_tax_breakdown_row_under_the_items_is_no_item() -> None:
    # Rate, base and tax in the quantity, price and amount columns: 19 % of 23.000,00 is 4.370,00.
    document = document_from_text(
        """
        Bau GmbH
        Rechnung Nr. 2024-117                                   Datum: 31.10.2024
        Pos  Beschreibung                 Nettopreis   Menge         Steuersatz   Nettobetrag
        1    Lieferung und Montage        20.000,00    1 Stk         19%          20.000,00 EUR
        2    Planung                       1.500,00    2 Std         19%           3.000,00 EUR
        Umsatzsteuer (S)                  23.000,00                  19            4.370,00 EUR
        Rechnungssumme ohne USt.                                                  23.000,00 EUR
        Gesamtbetrag                                                              27.370,00 EUR
        """
    )
    data = offline_extract(document, INVOICE).data
    assert [(i["description"], i["amount"]) for i in data["line_items"]] == [
        ("Lieferung und Montage", 20000.0),
        ("Planung", 3000.0),
    ]
    assert not [e for e in validate_read(INVOICE, data, document).errors if e.field.startswith("line_items")]


def test_an_unread_rate_column_beside_the_amounts_heading_does_not_take_the_amount() -> None:
    # "19" under "VAT %" stands nearer the heading "Amount" than the amounts, which end far right of it.
    document = _placed(
        ("Office Supplies Ltd.", 0, 0),
        ("Invoice 103767", 0, 30),
        ("Unit Price", 450, 78),
        ("No.", 0, 100),
        ("Description", 80, 100),
        ("Quantity", 330, 100),
        ("VAT %", 560, 100),
        ("Line Amount", 600, 100),
        ("1908-S", 0, 140),
        ("LONDON Desk chair", 80, 140),
        ("3 Piece", 370, 140),
        ("191.00", 470, 140),
        ("19", 590, 140),
        ("573.00", 720, 140),
        ("Subtotal", 450, 200),
        ("573.00", 720, 200),
        ("19% VAT", 450, 230),
        ("108.87", 720, 230),
        ("Total", 450, 260),
        ("681.87", 720, 260),
    )
    data = offline_extract(document, INVOICE).data
    assert [(i["quantity"], i["unit_price"], i["amount"]) for i in data["line_items"]] == [(3.0, 191.0, 573.0)]


def test_a_tax_breakdown_opening_the_next_page_ends_the_items_of_the_page_before() -> None:
    first = """
        Bau GmbH
        Rechnung Nr. 2024-117                                   Datum: 31.10.2024
        Pos  Beschreibung                 Nettopreis   Menge         Steuersatz   Nettobetrag
        1    Lieferung und Montage        20.000,00    1 Stk         19%          20.000,00 EUR
                                                                              Seite 1 von 2
        """
    second = """
        Umsatzsteueraufschlüsselung
        Umsatzsteuer (S)                  20.000,00                  19            3.800,00 EUR
                    Positionssumme                                                20.000,00 EUR
                    Gesamtbetrag                                                  23.800,00 EUR
        """
    document = document_from_text(first, second)
    data = offline_extract(document, INVOICE).data
    assert [(i["description"], i["amount"]) for i in data["line_items"]] == [("Lieferung und Montage", 20000.0)]
    assert not [e for e in validate_read(INVOICE, data, document).errors if e.field.startswith("line_items")]


def test_a_scans_amounts_cut_at_their_decimal_mark_or_touching_a_rule_are_the_rows_amounts() -> None:
    # OCR of a ruled table: the rule beside an amount read into it ("28,00|"), an amount cut at its comma.
    document = document_from_text(
        """
        Optik Müller GmbH
        Pos Beschreibung                Menge  Einzelpreis        Betrag
        1   Fassung Titan                   1       120,00       120,00|
        2   Gläser entspiegelt              2        80,00       160, 00
        3   Etui                            1         4,50        |4,50

                                  Nettobetrag                 284,50
        """
    )
    data = offline_extract(document, INVOICE).data
    assert [(i["description"], i["amount"]) for i in data["line_items"]] == [
        ("Fassung Titan", 120.0),
        ("Gläser entspiegelt", 160.0),
        ("Etui", 4.5),
    ]
    assert not [e for e in validate_read(INVOICE, data, document).errors if e.field.startswith("line_items")]


def test_the_headings_of_the_totals_run_together_end_the_items() -> None:
    # A scan runs the totals' headings into one block of words; the row of values under them is no item.
    document = document_from_text(
        """
        Kostenlieferant GmbH
        Rechnung KR-4711                                           Datum: 06.10.2024
        Art-Nr  Artikelbezeichnung            Menge  Nettopreis  MwSt-%   Nettowert
        WA997   Wirkarbeit                    10000      0,0520    19,0      520,00
                Wichtige Information: Lieferung bis zum 19.12. ist bis spätestens 23.12.
        FB05    Faltenbeutel                   3500      0,0105    19,0       36,75
        Warenwert Fracht Skonto Nettobetrag MwSt-Betrag Endbetrag
        556,75 15,00 -11,44 560,31 106,46 666,77
        """
    )
    data = offline_extract(document, INVOICE).data
    assert [(i["description"], i["amount"]) for i in data["line_items"]] == [
        ("WA997 Wirkarbeit", 520.0),
        ("FB05 Faltenbeutel", 36.75),
    ]


def test_an_amount_run_together_with_its_tax_rate_is_still_the_rows_amount() -> None:
    # The amount and the rate beside it read as one block of words ("60,00 10,00%"): the rate is passed over.
    document = _placed(
        ("Le Fournisseur SA", 0, 0),
        ("Désignation", 0, 100),
        ("P.U.", 380, 100),
        ("Qté", 520, 100),
        ("Montant", 650, 100),
        ("TVA", 745, 100),
        ("Prestation support", 0, 140),
        ("60,00 PCE", 370, 140),
        ("1,00", 520, 140),
        ("60,00 10,00%", 660, 140),
        ("Fournitures diverses", 0, 170),
        ("10,00 PCE", 370, 170),
        ("3,00", 520, 170),
        ("30,00 10,00%", 660, 170),
        ("Total HT", 450, 230),
        ("90,00", 660, 230),
    )
    data = offline_extract(document, INVOICE).data
    assert [(i["description"], i["quantity"], i["amount"]) for i in data["line_items"]] == [
        ("Prestation support", 1.0, 60.0),
        ("Fournitures diverses", 3.0, 30.0),
    ]


def test_a_discount_or_charge_as_a_rate_of_a_sum_is_no_item_but_explains_the_totals() -> None:
    # "5,00% sur 100,00 EUR  -5,00": a rate of the items' sum, its code read where position numbers are.
    document = document_from_text(
        """
        Le Fournisseur SA
        Facture F-2024-27                                            Date : 31/12/2024
        Pos  Désignation                     Qté       P.U.        Montant   TVA
        1    Prestation support               1       60,00          60,00   20%
        2    Fournitures papier               4       10,00          40,00   20%
        95   Remise commerciale  5,00% sur 100,00 EUR                -5,00   20%
             Frais déplacement  10,00% sur 100,00 EUR                10,00   20%
                                                   Total HT         105,00
                                                   TVA 20%           21,00
                                                   Total TTC        126,00
        """
    )
    data = offline_extract(document, INVOICE).data
    assert [(i["description"], i["amount"]) for i in data["line_items"]] == [
        ("Prestation support", 60.0),
        ("Fournitures papier", 40.0),
    ]
    assert [t.adjustments for t in printed_tables(document, INVOICE)] == [[-5.0, 10.0]]
    assert not [e for e in validate_read(INVOICE, data, document).errors if e.field.startswith("line_items")]


def test_the_amounts_under_a_heading_the_scan_lost_are_the_rows_amounts() -> None:
    # No heading over the amounts (OCR dropped it), the tax rate's heading beside them: the money printed right
    # of every named column in the first rows is the amount column, not the unit price.
    document = document_from_text(
        """
        Muster Maschinenbau GmbH
        Rechnung 2024-0815                                                   Datum: 03.04.2024
        Pos  Beschreibung                 Nettopreis      Menge        MwSt
        1    Fallschutzset                  4.500,00         10         19%      45.000,00
        2    Gehörschutz                       12,50          4         19%          50,00
                                                                 Nettobetrag     45.050,00
        """
    )
    data = offline_extract(document, INVOICE).data
    assert [(i["description"], i["unit_price"], i["amount"]) for i in data["line_items"]] == [
        ("Fallschutzset", 4500.0, 45000.0),
        ("Gehörschutz", 12.5, 50.0),
    ]
    assert not [e for e in validate_read(INVOICE, data, document).errors if e.field.startswith("line_items")]


def test_descriptions_printed_above_numbered_values_with_an_unread_code_column() -> None:
    # Each item's description on its own line above its numbered values row; the values row's text sits under a
    # column the invoice type does not read ("Code article"), and a detail line follows.
    document = _placed(
        ("Le Fournisseur SA", 0, 0),
        ("Ligne", 0, 100),
        ("Code article", 60, 100),
        ("Désignation", 240, 100),
        ("P.U.", 420, 100),
        ("Qté", 520, 100),
        ("Montant", 650, 100),
        ("Prestation support", 240, 140),
        ("1", 0, 162),
        ("GLN:5987854125", 60, 162),
        ("60,00", 410, 162),
        ("1,00", 520, 162),
        ("60,00", 670, 162),
        ("Période du 01/12/2018 au 31/12/2018", 240, 184),
        ("Fournitures diverses", 240, 240),
        ("2", 0, 262),
        ("REF-2547", 60, 262),
        ("10,00", 410, 262),
        ("3,00", 520, 262),
        ("30,00", 670, 262),
        ("Date de fin : 31/12/2018", 240, 284),
        ("Total HT", 450, 340),
        ("90,00", 670, 340),
    )
    data = offline_extract(document, INVOICE).data
    assert [(i["description"], i["amount"]) for i in data["line_items"]] == [
        ("Prestation support Période du 01/12/2018 au 31/12/2018", 60.0),
        ("Fournitures diverses", 30.0),
    ]


def test_a_row_of_a_scans_specks_between_the_items_ends_no_table() -> None:
    # A shaded band read as specks in three blocks (": es  : PA  or) es") is no other table's headings.
    document = document_from_text(
        """
        Le Fournisseur SA
        Facture F-2024-27                                            Date : 31/12/2024
        Désignation                         Qté        P.U.        Montant
        Prestation support                  1,00      60,00          60,00
        : es        : PA          or) es
        Fournitures diverses                3,00      10,00          30,00
                                                   Total HT          90,00
        """
    )
    data = offline_extract(document, INVOICE).data
    assert [(i["description"], i["amount"]) for i in data["line_items"]] == [
        ("Prestation support", 60.0),
        ("Fournitures diverses", 30.0),
    ]


def test_an_amount_printed_under_its_items_values_row_with_the_quantity_right_of_the_price() -> None:
    # The amount sits a line lower than the description, price and quantity (a scan's baseline, or a layout's):
    # the values row begins the item, the amount completes it; the quantity right of the price is no tax rate.
    document = _placed(
        ("Muster Versicherung AG", 0, 0),
        ("Pos", 0, 100),
        ("Beschreibung", 60, 100),
        ("Nettopreis", 420, 100),
        ("Menge", 540, 100),
        ("Steuersatz", 610, 100),
        ("Nettobetrag", 730, 100),
        ("Wohngebäudeversicherung", 60, 150),
        ("1.000,00", 420, 150),
        ("1", 570, 150),
        ("0%", 640, 150),
        ("1.000,00", 750, 173),
        ("Hausratversicherung", 60, 220),
        ("150,00", 440, 220),
        ("2", 570, 220),
        ("0%", 640, 220),
        ("300,00", 770, 243),
        ("Rechnungssumme", 450, 320),
        ("1.300,00", 750, 320),
    )
    data = offline_extract(document, INVOICE).data
    assert [(i["description"], i["quantity"], i["unit_price"], i["amount"]) for i in data["line_items"]] == [
        ("Wohngebäudeversicherung", 1.0, 1000.0, 1000.0),
        ("Hausratversicherung", 2.0, 150.0, 300.0),
    ]
