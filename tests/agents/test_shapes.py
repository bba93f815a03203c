"""Values found by what they are (agents/shapes.py) and party sections (agents/sections.py), on pages drawn as
text: labels the type does not list, layouts the extractor was never shown."""

from __future__ import annotations

from agents.offline import _place_date, _read, offline_extract
from agents.shapes import TOTALS, amount_candidates, best_totals, cue_index, mended
from extractors.model import Word
from extractors.types import get_type
from tests.agents.layout import document_from_text

INVOICE = get_type("invoice")


def test_compound_and_unlisted_total_labels_are_read_through_their_cue_words() -> None:
    document = document_from_text(
        """
        Muster Handel GmbH
        Rechnung 2024-77

        Artikel                          Menge     Betrag
        Schrauben                          10       80,00

        Rechnungssumme ohne USt.                  80,00
        Steuerbetrag 19 %                         15,20
        Bruttosumme                               95,20
        """
    )
    data = offline_extract(document, INVOICE).data
    assert (data["net_amount"], data["tax_amount"], data["total_amount"]) == (80.0, 15.2, 95.2)


def test_excluding_and_including_words_turn_a_tax_cue_into_net_and_total() -> None:
    cues = cue_index(INVOICE.labels, TOTALS)
    excluding = cues.of_words(["Summe", "ohne", "MwSt"])
    including = cues.of_words(["Summe", "inkl.", "MwSt"])
    plain = cues.of_words(["MwSt"])
    assert excluding["net_amount"] > excluding["tax_amount"]
    assert including["total_amount"] > including["tax_amount"]
    assert plain["tax_amount"] > plain.get("net_amount", 0.0)


def test_the_consistent_triple_wins_over_line_amounts_with_the_same_words() -> None:
    # Each line prints its own net, VAT and gross; only the summary's three add up to its total.
    document = document_from_text(
        """
        Alpha Supplies Ltd
        Invoice 5531

        Item          Net       VAT      Gross
        Cables       10,00      2,00     12,00
        Plugs        30,00      6,00     36,00

        Amount excluding VAT             40,00
        VAT 20%                           8,00
        Amount to pay                    48,00
        """
    )
    data = offline_extract(document, INVOICE).data
    assert (data["net_amount"], data["tax_amount"], data["total_amount"]) == (40.0, 8.0, 48.0)


def test_a_tax_of_zero_is_part_of_a_consistent_triple() -> None:
    document = document_from_text(
        """
        Export Works SARL
        Facture 88

        Total hors taxe                  2.000,00
        Montant de la taxe                   0,00
        Total à régler                   2.000,00
        """
    )
    data = offline_extract(document, INVOICE).data
    assert (data["net_amount"], data["tax_amount"], data["total_amount"]) == (2000.0, 0.0, 2000.0)


def test_one_rate_line_of_a_tax_breakdown_is_not_the_receipts_total() -> None:
    # Each rate's line adds up (net + tax = gross) on its own row; the amount to pay is their sum, printed above.
    document = document_from_text(
        """
        Frische Markt
        Butter                                   2,49
        Wein                                     5,99

        ZU ZAHLEN EUR                            8,48
        BAR                                     10,00
        RUECKGELD                                1,52

        MWST        NETTO      MWST      BRUTTO
        A 7%         2,33      0,16        2,49
        B 19%        5,03      0,96        5,99
        """
    )
    assert offline_extract(document, INVOICE).data["total_amount"] == 8.48


def test_a_till_receipt_total_with_no_cue_is_the_largest_amount_printed_last() -> None:
    document = document_from_text(
        """
        CORNER BAKERY
        2 Croissant        3,20
        1 Coffee           2,40
        EUR                5,60
        """
    )
    cues = cue_index(INVOICE.labels, TOTALS)
    from agents.offline import _rows

    picks = best_totals(amount_candidates(document, cues, [_rows(page) for page in document.pages]))
    assert picks["total_amount"].value == 5.6
    assert "net_amount" not in picks


def test_keyed_party_blocks_name_their_party_and_keep_the_buyers_vat_id_from_the_seller() -> None:
    document = document_from_text(
        """
        Rechnung (380) Nr. 47110818 vom
        31.10.2018

        Verkäufer
        Nummer: 12345676
        Name:   Global Supplies Ltd.
        USt-IdNr.: GB123456789

        Käufer/Leistungsempfänger
        Nummer: 75969813
        Name:   Metallbau Leipzig GmbH & Co. KG
        USt-IdNr.: DE136695976
        """
    )
    data = offline_extract(document, INVOICE).data
    assert data["seller"]["name"] == "Global Supplies Ltd."
    assert data["seller"]["vat_id"] == "GB123456789"
    assert data["buyer"]["name"] == "Metallbau Leipzig GmbH & Co. KG"
    assert data["invoice_number"] == "47110818"
    assert data["issue_date"] == "2018-10-31"


def test_a_name_key_between_the_two_lines_of_a_name_reads_both() -> None:
    page = """
        Seller
        Name:   Nordwest Versicherung
                Versicherungsverein a.G.
        Address: Musterstr. 12
        """
    data = offline_extract(document_from_text(page), INVOICE).data
    assert " ".join(data["seller"]["name"].split()) == "Nordwest Versicherung Versicherungsverein a.G."


def test_a_direct_debits_date_in_a_sentence_is_the_due_date() -> None:
    document = document_from_text(
        """
        Muster Handel GmbH
        Rechnung Nr. 2024-77                      Rechnungsdatum 05.03.2024

        Summe                                     529,87

        Der Betrag von EUR 529,87 wird am 20.03.2024 von Ihrem Konto mit IBAN DE21860000000086001055
        abgebucht. Bitte sorgen Sie für Deckung.
        Der Zahlungsbeleg vom 01.03.2024 liegt bei.
        """
    )
    data = offline_extract(document, INVOICE).data
    assert (data["issue_date"], data["due_date"]) == ("2024-03-05", "2024-03-20")


def test_letter_date_after_its_place_beats_a_printout_stamp() -> None:
    document = document_from_text(
        """
        Muster Leasing GmbH, Hauptstraße 5, 80331 München

        Beispiel AG                              Rechnungsnummer:    4711
        z. Hd. Frau Beispiel                     München, den        01.11.2024
        Musterweg 1

        Rechnung
        Nettobetrag                                                  100,00
        MwSt. 19 %                                                    19,00
        Rechnungsbetrag                                              119,00



        Bankverbindung: IBAN DE21860000000086001055   Datum: 30.10.2024 Zeit: 04:59:13
        """
    )
    assert offline_extract(document, INVOICE).data["issue_date"] == "2024-11-01"


def test_letter_dates_in_other_languages_and_without_a_connector() -> None:
    for line, expected in (
        ("Paris, le 15/01/2020", "2020-01-15"),
        ("Hamburg, 3. März 2024", "2024-03-03"),
        ("Frankfurt-Höchst, den 02.05.2023", "2023-05-02"),
    ):
        document = document_from_text(f"Firma Beispiel\n\n{line}\n\nTotal 10,00")
        assert offline_extract(document, INVOICE).data.get("issue_date") == expected, line


def test_a_lower_case_word_or_a_house_number_before_the_comma_is_no_place() -> None:
    for line in ("Ware geliefert, am 12.03.2024", "Hauptstraße 5, 12.03.2024"):
        assert _place_date(document_from_text(line).pages[0]) is None, line
    assert _place_date(document_from_text("Lyon, le 12/03/2024").pages[0]) is not None


def test_a_word_and_a_colon_after_a_name_label_is_the_next_label() -> None:
    def words(text: str) -> list[Word]:
        return document_from_text(text).pages[0].words

    assert _read("name", words("COMPTE :  FR76 3000 6000"), labelled=True) is None
    assert _read("name", words("Konto: 12345"), labelled=True) is None
    read = _read("name", words(": ACME SARL"), labelled=True)
    assert read is not None
    assert read[0] == "ACME SARL"


def test_credit_notes_and_abbreviations_are_numbered_and_dated_under_their_own_names() -> None:
    for head, expected in (
        ("Gutschrift Nr. 4711\nGutschriftsdatum: 12.03.2019", "4711"),
        ("AVOIR N° AV-4711\nDate de l'avoir : 12/03/2019", "AV-4711"),
        ("Credit Note No. CN-4711\nCredit note date: 12/03/2019", "CN-4711"),
        ("RG-Nr.: 4711\nRG-Datum: 12.03.2019", "4711"),
        ("Dokumentnummer: 4711\nDokumentdatum: 12.03.2019", "4711"),
    ):
        data = offline_extract(document_from_text(f"Muster GmbH\n{head}\n"), INVOICE).data
        assert data.get("invoice_number") == expected, head
        assert data.get("issue_date") == "2019-03-12", head


def test_a_due_date_phrase_inside_a_sentence_names_the_due_date() -> None:
    head = "Muster GmbH\nRechnungsnummer: 4711\nRechnungsdatum: 12.03.2019\n\nGesamtbetrag 119,00\n\n"
    for sentence in (
        "Der Rechnungsbetrag ist zahlbar bis 26.03.2019.",
        "Netto fällig am 26.03.2019",
        "Please pay by 26 March 2019",
        "Gelieve te betalen voor 26-03-2019",
        "À régler avant le 26/03/2019",
    ):
        assert offline_extract(document_from_text(head + sentence), INVOICE).data.get("due_date") == "2019-03-26"
    # A label word in a sentence with no date after it is still prose: "netto" here names no net amount.
    prose = offline_extract(document_from_text(head + "Zahlbar innerhalb 30 Tagen netto ohne Abzug."), INVOICE)
    assert "net_amount" not in prose.data


def test_the_due_date_is_the_net_date_after_a_cash_discount_deadline() -> None:
    head = "Muster GmbH\nRechnungsnummer: 4711\nRechnungsdatum: 12.03.2019\n\nGesamtbetrag 119,00\n\n"
    terms = "Zahlbar bis 20.03.2019 mit 2 % Skonto, bis 26.03.2019 netto."
    assert offline_extract(document_from_text(head + terms), INVOICE).data["due_date"] == "2019-03-26"
    plain = "Zahlbar bis 20.03.2019 ohne Abzug. Lieferung am 26.03.2019."
    assert offline_extract(document_from_text(head + plain), INVOICE).data["due_date"] == "2019-03-20"


def test_a_sender_line_is_cut_before_its_address() -> None:
    tail = "\nRechnungsnummer: 4711\nRechnungsdatum: 12.03.2019\nGesamtbetrag 119,00\n"
    for head in (
        "Muster Software GmbH · Hauptstr. 1 · 10115 Berlin\nKunde AG\nKundenweg 2\n20095 Hamburg",
        "Absender: Muster Software GmbH, Hauptstr. 1, 10115 Berlin",
        "Rechnung\n\n\n\n\n\nMuster Software GmbH | Hauptstr. 1 | 10115 Berlin | USt-IdNr. DE123456789",
        "MUSTER\nMuster Software GmbH\nHauptstr. 1\n10115 Berlin",
    ):
        data = offline_extract(document_from_text(head + tail), INVOICE).data
        assert data["seller"]["name"] == "Muster Software GmbH", head


def test_a_name_with_a_dash_and_no_address_after_it_stays_whole() -> None:
    data = offline_extract(document_from_text("Verkäufer: Hotel Adler - Restaurant\nTotal 10,00"), INVOICE).data
    assert data["seller"]["name"] == "Hotel Adler Restaurant"  # not cut at the dash (read without it, as before)


def test_a_whole_date_near_a_number_label_is_no_document_number() -> None:
    # A viewer's header prints its own version date under a line ending in "Rechnungen".
    document = document_from_text(
        """
        Lesbarmachung der XML-Daten von elektronischen Rechnungen
        Stylesheet-Version: 2.6 vom 10.11.2025
        Handelsrechnung (380) Nr. 123 vom 03.06.2025
        Gesamtbetrag 100,00
        """
    )
    assert offline_extract(document, INVOICE).data["invoice_number"] == "123"
    alone = document_from_text("Rechnung\n10.11.2025\n\nGesamtbetrag 100,00")
    assert offline_extract(alone, INVOICE).data.get("invoice_number") is None
    numbered = document_from_text("Rechnung\n2025-1011\n\nGesamtbetrag 100,00")
    assert offline_extract(numbered, INVOICE).data["invoice_number"] == "2025-1011"


def test_the_title_lines_date_dates_a_number_read_under_its_label_elsewhere() -> None:
    document = document_from_text(
        """
        Handelsrechnung (380) Nr. 6069999999 vom 10.04.2026 - RECHNUNG
        Liefer- und Leistungsdatum: 10.04.2026
        Zahlungsreferenz: Kundennummer:. 22334455 Rechnungsnummer:. 6069999999
        Gesamtbetrag 100,00
        """
    )
    data = offline_extract(document, INVOICE).data
    assert (data["invoice_number"], data["issue_date"]) == ("6069999999", "2026-04-10")


def test_an_amount_cut_at_its_mark_is_mended_but_a_position_and_a_quantity_a_column_apart_are_not() -> None:
    def word(text: str, x0: float) -> Word:
        return Word(text=text, conf=0.9, bbox=(x0, 0.0, x0 + 10 * len(text), 20.0))

    assert [w.text for w in mended([word("Summe", 0), word("288,", 100), word("75", 145)])] == ["Summe", "288,75"]
    assert [w.text for w in mended([word("1.", 0), word("20", 80), word("Stk", 120)])] == ["1.", "20", "Stk"]
    assert [w.text for w in mended([word("28,00|", 0), word("[17589684]", 100), word("[FURN_7]", 220)])] == [
        "28,00",
        "17589684",
        "[FURN_7]",
    ]
