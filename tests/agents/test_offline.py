"""The offline extractor on laid-out documents in several languages: values right of and below their labels,
prescription tables, and provenance boxes on the words the values came from."""

from __future__ import annotations

from typing import Any

import pytest

from agents.classify import classify
from agents.offline import _label_index, _word_matches, offline_extract
from extractors.model import Line, Word
from extractors.types import get_type, registered_types
from extractors.validation import validate
from tests.agents.layout import CHAR_W, LINE_H, document_from_text

GERMAN_INVOICE = """
Optik Müller GmbH
Hauptstraße 1, 10115 Berlin
USt-IdNr.: DE136695976

Rechnung                                  Rechnungsnummer: RE-2024-0042
Kunde: Brillenhaus Schmidt                Rechnungsdatum: 03.04.2024
                                          Fällig am: 03.05.2024

Pos  Beschreibung          Menge  Einzelpreis      Betrag
1    Gleitsichtgläser      2         500,00      1.000,00
2    Fassung               1         234,56        234,56

                                 Nettobetrag   1.234,56 EUR
                                 MwSt. 19 %      234,57 EUR
                                 Gesamtbetrag  1.469,13 EUR

IBAN: DE89 3704 0044 0532 0130 00
"""

FRENCH_INVOICE = """
Lunettes Durand SARL                           FACTURE
12 rue Victor Hugo, 69002 Lyon
N° TVA intracom : FR40303265045

Facture n° F-88817                      Date de facture
                                        12/01/2024
Client : Opticien Martin                Échéance : 11 février 2024

Désignation                     Qté     Prix unitaire     Montant
Verres progressifs               2           150,00        300,00

                                         Total HT           300,00 €
                                         TVA 20 %            60,00 €
                                         Total TTC          360,00 €
"""

ENGLISH_INVOICE = """
Northwind Optical Ltd
VAT Reg No: GB 980 7806 84

INVOICE
Invoice No:  INV-1007
Invoice date                Due date
March 5, 2024               April 4, 2024

Subtotal        1,250.00
VAT (20%)         250.00
Total due     GBP 1,500.00
"""


def test_german_invoice_values_right_of_labels() -> None:
    extraction = offline_extract(document_from_text(GERMAN_INVOICE), get_type("invoice"))
    assert extraction.data == {
        "invoice_number": "RE-2024-0042",
        "issue_date": "2024-04-03",
        "due_date": "2024-05-03",
        "currency": "EUR",
        "net_amount": 1234.56,
        "tax_amount": 234.57,
        "total_amount": 1469.13,
        "seller": {"name": "Optik Müller GmbH", "vat_id": "DE136695976", "iban": "DE89370400440532013000"},
        "buyer": {"name": "Brillenhaus Schmidt"},
        "line_items": [
            {"description": "Gleitsichtgläser", "quantity": 2.0, "unit_price": 500.0, "amount": 1000.0},
            {"description": "Fassung", "quantity": 1.0, "unit_price": 234.56, "amount": 234.56},
        ],
    }
    assert validate(get_type("invoice"), extraction.data).valid
    lines = GERMAN_INVOICE.strip("\n").splitlines()
    row = next(i for i, line in enumerate(lines) if "Fassung" in line)
    column = lines[row].index("234,56")
    assert extraction.fields["line_items.1.unit_price"].bbox == (
        column * CHAR_W,
        row * LINE_H,
        (column + 6) * CHAR_W,
        row * LINE_H + 20,
    )
    assert extraction.method == "offline"


def test_french_invoice_values_below_labels() -> None:
    data = offline_extract(document_from_text(FRENCH_INVOICE), get_type("invoice")).data
    assert data["invoice_number"] == "F-88817"
    assert data["issue_date"] == "2024-01-12"
    assert data["due_date"] == "2024-02-11"
    assert (data["net_amount"], data["tax_amount"], data["total_amount"]) == (300.0, 60.0, 360.0)
    assert data["currency"] == "EUR"
    assert data["seller"]["vat_id"] == "FR40303265045"
    assert data["seller"]["name"] == "Lunettes Durand SARL"
    assert data["buyer"]["name"] == "Opticien Martin"
    assert data["line_items"] == [
        {"description": "Verres progressifs", "quantity": 2.0, "unit_price": 150.0, "amount": 300.0}
    ]


def test_english_invoice_month_names_and_currency_code() -> None:
    data = offline_extract(document_from_text(ENGLISH_INVOICE), get_type("invoice")).data
    assert data["invoice_number"] == "INV-1007"
    assert (data["issue_date"], data["due_date"]) == ("2024-03-05", "2024-04-04")
    assert (data["net_amount"], data["tax_amount"], data["total_amount"]) == (1250.0, 250.0, 1500.0)
    assert data["currency"] == "GBP"
    assert data["seller"]["vat_id"] == "GB980780684"


def test_provenance_boxes_land_on_the_value_words() -> None:
    document = document_from_text(GERMAN_INVOICE)
    fields = offline_extract(document, get_type("invoice")).fields
    lines = GERMAN_INVOICE.strip("\n").splitlines()

    def box_of(text: str, row_contains: str) -> tuple[float, float, float, float]:
        row = next(i for i, line in enumerate(lines) if row_contains in line)
        column = lines[row].index(text)
        return (column * CHAR_W, row * LINE_H, (column + len(text)) * CHAR_W, row * LINE_H + 20)

    assert fields["total_amount"].bbox == box_of("1.469,13", "Gesamtbetrag")
    assert fields["total_amount"].text == "1.469,13"
    assert fields["issue_date"].bbox == box_of("03.04.2024", "Rechnungsdatum")
    assert fields["seller.iban"].bbox == box_of("DE89 3704 0044 0532 0130 00", "IBAN")
    assert all(field.page == 1 and 0 < field.confidence <= 1 for field in fields.values())


def test_low_ocr_confidence_lowers_field_confidence() -> None:
    sure = offline_extract(document_from_text(GERMAN_INVOICE), get_type("invoice")).fields
    unsure = offline_extract(
        document_from_text(GERMAN_INVOICE, low_conf_words=frozenset({"1.469,13"})), get_type("invoice")
    ).fields
    assert unsure["total_amount"].confidence < sure["total_amount"].confidence
    assert unsure["issue_date"].confidence == sure["issue_date"].confidence


GERMAN_PRESCRIPTION = """
Augenarztpraxis Dr. med. Weber
Brillenverordnung

Patient: Anna Schmidt                 Geburtsdatum: 17.05.1970
Datum: 03.04.2024

          Sph      Zyl     Achse   Add     Prisma  Basis
R       -1,25    -0,50      90    +2,00     1,0     innen
L       -1,00    plan             +2,00

PD: 63 mm
Glasart: Gleitsichtgläser
Verordnet von: Dr. Weber
"""

FRENCH_PRESCRIPTION = """
ORDONNANCE LUNETTES
Nom: Jean Dupont    Né le: 2 mars 1985
Date: 12/01/2024
OD: Sphère +2,25 Cylindre -0,75 Axe 180
OG: Sphère +2,00 Cylindre -0,50 Axe 175
Écart pupillaire: 64
"""


def test_prescription_table_by_rows_and_columns() -> None:
    data = offline_extract(document_from_text(GERMAN_PRESCRIPTION), get_type("prescription")).data
    assert data["patient"] == {"name": "Anna Schmidt", "date_of_birth": "1970-05-17"}
    assert data["issue_date"] == "2024-04-03"
    assert data["right"] == {
        "sphere": -1.25,
        "cylinder": -0.5,
        "axis": 90,
        "addition": 2.0,
        "prism": 1.0,
        "prism_base": "in",
    }
    assert data["left"] == {"sphere": -1.0, "cylinder": 0.0, "addition": 2.0}
    assert data["pupillary_distance"] == {"binocular": 63.0}
    assert data["lens_type"] == "progressive"
    assert data["prescriber"] == {"name": "Dr. Weber"}
    assert validate(get_type("prescription"), data).valid


@pytest.mark.parametrize(("language", "base"), [("deu", "up"), ("eng", "out")])
def test_prism_base_code_is_read_in_the_documents_language(language: str, base: str) -> None:
    """BO on a German prescription is *Basis oben* (up); on an English one, base out."""
    document = document_from_text(GERMAN_PRESCRIPTION.replace("innen", "BO"))
    document.pages[0].languages = [language]
    extraction = offline_extract(document, get_type("prescription"))
    assert extraction.data["right"]["prism_base"] == base
    assert extraction.fields["right.prism_base"].value == base
    assert validate(get_type("prescription"), extraction.data, language).data["right"]["prism_base"] == base


def test_prescription_inline_rows() -> None:
    data = offline_extract(document_from_text(FRENCH_PRESCRIPTION), get_type("prescription")).data
    assert data["right"] == {"sphere": 2.25, "cylinder": -0.75, "axis": 180}
    assert data["left"] == {"sphere": 2.0, "cylinder": -0.5, "axis": 175}
    assert data["patient"] == {"name": "Jean Dupont", "date_of_birth": "1985-03-02"}
    assert data["pupillary_distance"]["binocular"] == 64.0


def test_extraction_is_deterministic() -> None:
    document = document_from_text(GERMAN_INVOICE)
    first = offline_extract(document, get_type("invoice"))
    assert offline_extract(document, get_type("invoice")) == first


def test_empty_document_gives_empty_extraction() -> None:
    extraction = offline_extract(document_from_text(""), get_type("invoice"))
    assert extraction.data == {}
    assert extraction.fields == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GERMAN_INVOICE, "invoice"),
        (FRENCH_INVOICE, "invoice"),
        (ENGLISH_INVOICE, "invoice"),
        (GERMAN_PRESCRIPTION, "prescription"),
        (FRENCH_PRESCRIPTION, "prescription"),
    ],
)
def test_offline_classifier(text: str, expected: str) -> None:
    result = classify(document_from_text(text), registered_types())
    assert result.type == expected
    assert 0 < result.confidence <= 1
    assert result.usage == []


def test_offline_classifier_gives_up_on_unrelated_text() -> None:
    result = classify(document_from_text("Lorem ipsum dolor sit amet"), registered_types())
    assert result.type is None
    assert result.confidence == 0.0


def test_word_model_is_untouched() -> None:
    # The layout helper builds real model objects: guard against it drifting from extractors.model.
    word = document_from_text("A")
    assert isinstance(word.pages[0].lines[0].words[0], Word)


TRICKY_FRENCH_INVOICE = """
FACTURE N° :                         F20260023
Date :                               31/01/2026

N° DE FACTURE ASSOCIÉE : F20260003
DATE DE FACTURE ASSOCIÉE : 01/01/2026

Ligne   Désignation            (Net): 7,00
Détail TVA    Montant TVA 2,20

                 TOTAL HT     TOTAL TVA     TOTAL TTC
                   100,00        4,90        104,90
Date d'échéance :            02/03/2026
"""


def test_labels_inside_longer_phrases_and_arithmetic_win_over_decoys() -> None:
    data = offline_extract(document_from_text(TRICKY_FRENCH_INVOICE), get_type("invoice")).data
    assert data["invoice_number"] == "F20260023"
    assert data["issue_date"] == "2026-01-31"
    assert data["due_date"] == "2026-03-02"
    assert (data["net_amount"], data["tax_amount"], data["total_amount"]) == (100.0, 4.9, 104.9)


JAPANESE_INVOICE = """
東京 眼鏡 株 式 会 社
登録 番号 : T5989088653614
請求 書 番号 : INV-2024-9696
発行 日 : 2024 年 7 月 12 日
小計      \\62,300
消費 税 10%  \\6,230
合 \\68,530
"""


def test_japanese_labels_split_by_ocr_and_totals_from_printed_amounts() -> None:
    document = document_from_text(JAPANESE_INVOICE)
    data = offline_extract(document, get_type("invoice")).data
    assert data["invoice_number"] == "INV-2024-9696"
    assert data["issue_date"] == "2024-07-12"
    assert data["seller"] == {"name": "東京眼鏡株式会社", "vat_id": "T5989088653614"}
    # "合計" lost a character to OCR: the total is still the printed amount that is net + tax.
    assert (data["net_amount"], data["tax_amount"], data["total_amount"]) == (62300.0, 6230.0, 68530.0)
    assert data["currency"] == "JPY"
    assert classify(document, registered_types()).type == "invoice"


def test_item_rows_read_by_type_when_values_do_not_sit_under_headers() -> None:
    document = document_from_text(
        """
        Bright Eyes Opticians Ltd
        Description Qty Unit price Amount
        Titanium frame 1 €164.24 €164.24
        Monthly contact lenses 2 €279.39 €558.78
        Subtotal 722.02
        """
    )
    items = offline_extract(document, get_type("invoice")).data["line_items"]
    assert items == [
        {"description": "Titanium frame", "quantity": 1.0, "unit_price": 164.24, "amount": 164.24},
        {"description": "Monthly contact lenses", "quantity": 2.0, "unit_price": 279.39, "amount": 558.78},
    ]


def test_currency_codes_count_only_in_capitals_and_rs_is_rupees() -> None:
    # "All" and "try" are words, not the Albanian lek or the Turkish lira; "Rs" before an amount is rupees.
    document = document_from_text(
        """
        Sunrise Traders Pvt Ltd
        Invoice No: SR-2231
        All charges are final and we try to deliver on time.
        Grand Total Rs 1939
        """
    )
    data = offline_extract(document, get_type("invoice")).data
    assert data["currency"] == "INR"
    assert data["total_amount"] == 1939.0


def test_an_amount_is_read_past_a_date_after_its_label() -> None:
    document = document_from_text(
        """
        Cloud Hosting Inc.
        Invoice Number: 42183017
        TOTAL AMOUNT DUE ON August 3, 2014                          $4.11
        """
    )
    data = offline_extract(document, get_type("invoice")).data
    assert data["total_amount"] == 4.11
    assert data["currency"] == "USD"


def test_number_sign_glued_to_the_number_and_french_payment_phrases() -> None:
    document = document_from_text(
        """
        Fibre Service SAS
        Facture n°562044387
        Date limite de paiement le 05 Juillet 2015
        Somme à payer 29.99 €
        """
    )
    data = offline_extract(document, get_type("invoice")).data
    assert data["invoice_number"] == "562044387"
    assert data["due_date"] == "2015-07-05"
    assert data["total_amount"] == 29.99


def test_a_currency_column_between_label_and_amount() -> None:
    document = document_from_text(
        """
        Hosting Provider AG
        Rechnungsnr. 30064443
                                                Total        EUR        34,73
        """
    )
    data = offline_extract(document, get_type("invoice")).data
    assert data["total_amount"] == 34.73
    assert data["currency"] == "EUR"


@pytest.mark.parametrize(
    ("line", "number", "issued"),
    [
        ("Facture n°562044387 du 02 Juillet 2015", "562044387", "2015-07-02"),
        ("Rechnung Nr. 4711 vom 03.04.2024", "4711", "2024-04-03"),
    ],
)
def test_issue_date_printed_after_the_number(line: str, number: str, issued: str) -> None:
    document = document_from_text(f"Fibre Service SAS\n{line}\nSomme à payer 29.99 €\n")
    data = offline_extract(document, get_type("invoice")).data
    assert (data["invoice_number"], data["issue_date"]) == (number, issued)


def test_a_number_followed_by_words_is_no_issue_date() -> None:
    document = document_from_text("Fibre Service SAS\nFacture n°562044387 du mois de juillet\n")
    data = offline_extract(document, get_type("invoice")).data
    assert data["invoice_number"] == "562044387"
    assert "issue_date" not in data


def test_german_totals_with_a_remark_in_parentheses_and_tax_from_the_difference() -> None:
    # The tax row prints the base before the tax ("USt. 19 %  198,00  37,62"): the tax is total - net, printed.
    document = document_from_text(
        """
        Rechnungsersteller
        Muster Lieferant GmbH
        Fälligkeitstag: 04.04.2013
                          Rechnungssumme Netto (excl. USt.)        198,00
                          Steuerbasisbetrag USt. 19%       198,00   37,62
                          Rechnungssumme Brutto (inkl. USt.)       235,62
        """
    )
    data = offline_extract(document, get_type("invoice")).data
    assert (data["net_amount"], data["tax_amount"], data["total_amount"]) == (198.0, 37.62, 235.62)
    assert data["due_date"] == "2013-04-04"
    assert data["seller"]["name"] == "Muster Lieferant GmbH"


def test_a_label_word_starting_a_company_name_is_no_label() -> None:
    document = document_from_text(
        """
        Lieferant GmbH
        Rechnungsnummer 471102
        Käufer
        Kunden AG Mitte
        """
    )
    data = offline_extract(document, get_type("invoice")).data
    assert data["seller"]["name"] == "Lieferant GmbH"
    assert data["buyer"]["name"] == "Kunden AG Mitte"


def test_weekday_ranges_are_no_swiss_francs() -> None:
    document = document_from_text(
        """
        Versicherungsbüro Muster
        Mo.-Fr. 08.30 - 12.30 Uhr
        Rechnung Nr. 4711
        Gesamtbetrag 220,00 €
        """
    )
    assert offline_extract(document, get_type("invoice")).data["currency"] == "EUR"


def test_a_seller_label_inside_prose_gives_no_name() -> None:
    document = document_from_text(
        """
        Lieferant
        GLN 4333741000005 Lief-Nr: 549910
        MUSTERLIEFERANT GMBH
        Beleg-Nr: R87654321012345
        Der Verkäufer bleibt Eigentümer der Waren bis zur vollständigen Erfüllung.
        """
    )
    data = offline_extract(document, get_type("invoice")).data
    assert data["seller"]["name"] == "MUSTERLIEFERANT GMBH"


def test_names_may_start_with_a_particle() -> None:
    document = document_from_text("Rechnung Nr. 4711\nKunde: van der Berg Optik\n")
    assert offline_extract(document, get_type("invoice")).data["buyer"]["name"] == "van der Berg Optik"


def test_a_totals_column_by_tax_rate_ends_in_its_sum_row() -> None:
    document = document_from_text(
        """
        Muster Lieferant GmbH
        Beleg-Nr: RK21012345
        Warenwert   Nettobetrag   MwSt-Betrag   MwSt-%   Endbetrag
        -5,00       -4,85         -0,92         19,0     -5,77
        -2,90       -2,82         -0,20         7,0      -3,02
        -7,90       -7,67         -1,12         EUR      -8,79

        Der Verkäufer bleibt Eigentümer der Waren.
        """
    )
    data = offline_extract(document, get_type("invoice")).data
    assert (data["net_amount"], data["tax_amount"], data["total_amount"]) == (-7.67, -1.12, -8.79)


def test_a_labelled_vat_id_is_read_as_printed_when_only_its_check_digits_fail() -> None:
    document = document_from_text("Lieferant GmbH\nRechnungsnummer 471102\nUSt.-Identnr.: DE123456789\n")
    data = offline_extract(document, get_type("invoice")).data
    assert data["seller"]["vat_id"] == "DE123456789"
    report = validate(get_type("invoice"), data)
    assert [issue.field for issue in report.errors + report.warnings if "vat" in issue.code] == ["seller.vat_id"]


def test_a_valid_vat_id_wins_over_one_whose_check_digits_fail_and_unlabelled_ones_need_to_be_valid() -> None:
    labelled = document_from_text("Vendeur SARL\nN° TVA : FR05987654321\nN° TVA : FR11123456782\n")
    assert offline_extract(labelled, get_type("invoice")).data["seller"]["vat_id"] == "FR11123456782"
    unlabelled = document_from_text("Vendeur SARL\nFacture F-1\nRéférence DE123456789\n")
    assert "vat_id" not in offline_extract(unlabelled, get_type("invoice")).data.get("seller", {})


def test_a_due_date_inside_a_payment_term_sentence_is_read_past_the_words_that_are_labels_elsewhere() -> None:
    document = document_from_text(
        """
        Lieferant GmbH
        Rechnungsnummer 471102
        Rechnungssumme Netto        198,00
        Rechnungssumme Brutto       235,62

        Zahlbar innerhalb 30 Tagen netto bis 04.04.2013, 3% Skonto bis 15.03.2013
        Payable within 14 days by 02.05.2013
        """
    )
    data = offline_extract(document, get_type("invoice")).data
    assert data["due_date"] == "2013-04-04"
    assert data["net_amount"] == 198.0
    english = document_from_text("Seller Ltd\nInvoice No 42\nPayable within 14 days net by 02.05.2013\n")
    assert offline_extract(english, get_type("invoice")).data["due_date"] == "2013-05-02"


def test_insurance_tax_and_a_due_date_named_faelligkeit_are_read() -> None:
    document = document_from_text(
        """
        Muster Versicherung AG
        Beitragsnummer 4711
        Privathaftpflicht            50,00 €
        Versicherungsteuer 19 %       9,50 €
        Rechnungsbetrag              59,50 €
        Wir würden dann zu der Fälligkeit 06.12.2013 den Beitrag abbuchen.
        """
    )
    data = offline_extract(document, get_type("invoice")).data
    assert data["tax_amount"] == 9.5
    assert data["total_amount"] == 59.5
    assert data["due_date"] == "2013-12-06"


def test_a_seller_name_running_onto_a_second_letterhead_line_ending_in_its_legal_form_is_read_whole() -> None:
    document = document_from_text(
        """
        Nordwest Muster
        Versicherungsverein Musterstadt a.G.

        Herrn Max Mustermann
        Beitragsrechnung 4711
        """
    )
    data = offline_extract(document, get_type("invoice")).data
    assert " ".join(data["seller"]["name"].split()) == "Nordwest Muster Versicherungsverein Musterstadt a.G."
    complete = document_from_text("Optik Müller GmbH\nHauptstraße 1 GmbH\nRechnung 4711\n")
    assert offline_extract(complete, get_type("invoice")).data["seller"]["name"] == "Optik Müller GmbH"


def test_a_word_printed_sideways_in_the_margin_does_not_glue_the_rows_it_spans_into_one() -> None:
    lines = [
        "Lieferant GmbH",
        "Rechnungsnummer 471102",
        "",
        "   Rechnungssumme Netto (excl. USt.)           473,00",
        "   Steuerbasisbetrag USt. 7%          275,00     19,25",
    ]
    document = document_from_text("\n".join(lines))
    page = document.pages[0]
    # A margin note running up the page beside the totals rows: one narrow, tall word.
    margin = Word(text="Beispielrechnung", conf=0.95, bbox=(2.0, 2 * LINE_H, 2.0 + CHAR_W, 5 * LINE_H))
    page = page.model_copy(update={"lines": [*page.lines, Line(words=[margin])]})
    document = document.model_copy(update={"pages": [page]})
    assert offline_extract(document, get_type("invoice")).data["net_amount"] == 473.0


def test_a_tax_printed_only_per_rate_is_their_sum_when_it_closes_net_plus_tax_equals_total() -> None:
    document = document_from_text(
        """
        Lieferant GmbH
        Rechnungsnummer 471102
        Nettobetrag                             473,00
        Steuerbasisbetrag 7%          275,00     19,25
        Steuerbasisbetrag 19%         198,00     37,62
        Gesamtbetrag                            529,87

        Zahlbar bis 04.04.2013, 3% Skonto innerhalb 10 Tagen
        """
    )
    data = offline_extract(document, get_type("invoice")).data
    assert (data["net_amount"], data["tax_amount"], data["total_amount"]) == (473.0, 56.87, 529.87)


def test_an_unlabelled_date_ending_the_title_line_is_the_issue_date() -> None:
    document = document_from_text(
        """
        Muster Versicherung AG
        Herrn Max Mustermann

        Beitragsrechnung zur Hausratversicherung          24. Januar 2014
        Zeitraum vom 06.12.2013 bis 06.12.2014
        Gesamtbetrag 59,50 €
        """
    )
    assert offline_extract(document, get_type("invoice")).data["issue_date"] == "2014-01-24"
    untitled = document_from_text("Muster Versicherung AG\nHerrn Max Mustermann\nIhr Schreiben     24. Januar 2014\n")
    assert "issue_date" not in offline_extract(untitled, get_type("invoice")).data


def _label_sets() -> list[Any]:
    """Every label set the offline extractor scans rows for: each type's field labels, table rows and columns."""
    out: list[Any] = []
    for doc_type in registered_types():
        out.append(doc_type.labels)
        for table in doc_type.tables:
            out.extend((table.rows, table.columns))
    return out


def _near_misses(token: str) -> list[str]:
    """The token and OCR-like variants of it: a letter dropped, doubled or changed, a letter added at the end."""
    variants = [token, token + "s", token[:-1], token[1:], token + token[-1:]]
    variants += [token[:i] + "x" + token[i + 1 :] for i in range(len(token))]
    variants += [token[:i] + token[i + 1 :] for i in range(len(token))]
    return [v for v in variants if v]


@pytest.mark.parametrize("labels", _label_sets(), ids=lambda _: "labels")
def test_label_index_finds_exactly_the_labels_whose_first_word_matches(labels: Any) -> None:
    # The index answers in one lookup what _find_labels used to learn by comparing every label with every word.
    index = _label_index(labels)
    words = sorted(
        {v for _path, entries in index.paths for _l, _c, tokens in entries for t in tokens for v in _near_misses(t)}
    )
    words += ["", "1", "1.234,56", "zzzzzz", "totale", "netto"]
    for word in words:
        expected = sorted(
            (p, i)
            for p, (_path, entries) in enumerate(index.paths)
            for i, (_label, cjk, tokens) in enumerate(entries)
            if not cjk and _word_matches(tokens[0], word) > 0
        )
        assert list(index.starting_at(word)) == expected, word


def test_reading_a_document_again_gives_an_equal_extraction_of_its_own() -> None:
    # Repair reads the document again: the remembered extraction comes back equal, and changing one answer
    # changes neither the next answer nor what is remembered.
    document, invoice = document_from_text(GERMAN_INVOICE), get_type("invoice")
    first = offline_extract(document, invoice)
    first.data["invoice_number"] = "changed"
    first.fields.clear()
    again = offline_extract(document_from_text(GERMAN_INVOICE), invoice)
    assert again.data["invoice_number"] == "RE-2024-0042"
    assert again.fields["invoice_number"].value == "RE-2024-0042"
    other = offline_extract(document_from_text(GERMAN_INVOICE.replace("RE-2024-0042", "RE-2024-0043")), invoice)
    assert other.data["invoice_number"] == "RE-2024-0043"


RECEIPT = """
BACKHAUS KAMPS
Westernstr. 12, 33100 Paderborn

ROGGENBROT                    3,49 A
KAFFEE GROSS                  2,90 A
{summe}
{bar}
{change}

23.03.20 15:32 8665107 0145
"""


@pytest.mark.parametrize(
    ("summe", "bar", "change"),
    [
        # The total's row cut at its decimal mark: the cash less the change is the total.
        ("SUMME EUR 4. 99 *", "GEGEBEN BAR 50. 00", "RÜCKGELD EUR 0,01"),
        # The total's row garbled, the cash given taken for it; its change word read with the umlaut wrong.
        ("SUMME EUR 49,9", "BAR EUR 50,00", "ROCKGELD EUR 0,01"),
        ("SUMME EUR 49,9", "CASH 50.00", "CHANGE -0.01"),
        ("ZU ZAHLEN EURO 4. 99", "BARGELD 50,00", "ZURÜCK 0,01"),
    ],
)
def test_a_receipts_total_is_the_cash_given_less_the_change(summe: str, bar: str, change: str) -> None:
    document = document_from_text(RECEIPT.format(summe=summe, bar=bar, change=change))
    extraction = offline_extract(document, get_type("invoice"))
    assert extraction.data["total_amount"] == 49.99
    # Its provenance: the cash and change words it was worked out from.
    read_from = extraction.fields["total_amount"]
    assert read_from.text is not None
    assert read_from.text.startswith("50")
    assert read_from.text[-4:] in ("0,01", "0.01")


@pytest.mark.parametrize(("change", "total"), [("2,61", 7.39), ("2,71", 7.29), ("2,11", 7.89)])
def test_a_receipts_total_its_items_add_up_to_stands_against_a_misread_change(change: str, total: float) -> None:
    """The cash handed over is printed below the total, yet is no total. Where cash and change disagree with the
    total printed, the items adding up to it settle it (the change misread); where nothing does, the cash and the
    change, two readings, beat the one of the total's row."""
    document = document_from_text(
        f"""
        BACKHAUS KAMPS
        Westernstr. 12, 33100 Paderborn

        ROGGENBROT                    3,49 A
        KAFFEE GROSS                  2,90 A
        BREZEL                        1,00 A
        SUMME EUR                     7,39
        BAR EUR                      10,00
        RÜCKGELD                      {change}

        23.03.20 15:32 8665107 0145
        """
    )
    extraction = offline_extract(document, get_type("invoice"))
    assert extraction.data["total_amount"] == 7.39
    untallied = document_from_text(
        RECEIPT.format(summe="SUMME EUR 7,39", bar="BAR EUR 10,00", change=f"RÜCKGELD {change}")
    )
    assert offline_extract(untallied, get_type("invoice")).data["total_amount"] == total


@pytest.mark.parametrize("printed", ["28. 81", "28 ,81"])
def test_a_total_cut_at_its_decimal_mark_is_read_whole(printed: str) -> None:
    """A thermal print's amount OCR'd as two words, cut at the decimal mark."""
    document = document_from_text(RECEIPT.format(summe=f"SUMME EUR {printed}", bar="", change="Mastercard"))
    assert offline_extract(document, get_type("invoice")).data["total_amount"] == 28.81


@pytest.mark.parametrize("speck", ["‚", ", ", "`", ". "])
def test_a_speck_read_before_the_senders_name_is_left_off(speck: str) -> None:
    document = document_from_text(GERMAN_INVOICE.replace("Optik Müller GmbH", f"{speck}Optik Müller GmbH", 1))
    assert offline_extract(document, get_type("invoice")).data["seller"]["name"] == "Optik Müller GmbH"


def test_a_name_beginning_with_an_apostrophe_keeps_it() -> None:
    document = document_from_text(GERMAN_INVOICE.replace("Optik Müller GmbH", "'t Brillenhuis B.V.", 1))
    assert offline_extract(document, get_type("invoice")).data["seller"]["name"] == "'t Brillenhuis B.V."
