"""Property test: invoices laid out in each language with random values, label styles and positions (value right
of or below its label) are read back exactly by the offline extractor."""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from agents.offline import offline_extract
from extractors.types import get_type
from extractors.validation import validate
from tests.agents.layout import document_from_text

# (number, date, due, net, tax, total, vat label, thousands, decimal, date format)
STYLES = {
    "de": (
        "Rechnungsnummer:",
        "Rechnungsdatum:",
        "Fällig am:",
        "Nettobetrag",
        "MwSt.",
        "Gesamtbetrag",
        "USt-IdNr.:",
        ".",
        ",",
        "%d.%m.%Y",
    ),
    "fr": (
        "Numéro de facture :",
        "Date de facture :",
        "Échéance :",
        "Total HT",
        "TVA",
        "Total TTC",
        "N° TVA :",
        " ",
        ",",
        "%d/%m/%Y",
    ),
    "es": (
        "Número de factura:",
        "Fecha de emisión:",
        "Vencimiento:",
        "Base imponible",
        "IVA",
        "Total factura",
        "NIF-IVA:",
        ".",
        ",",
        "%d/%m/%Y",
    ),
    "it": (
        "Numero fattura:",
        "Data fattura:",
        "Scadenza:",
        "Imponibile",
        "IVA",
        "Totale documento",
        "P.IVA:",
        ".",
        ",",
        "%d/%m/%Y",
    ),
    "en": (
        "Invoice number:",
        "Invoice date:",
        "Due date:",
        "Subtotal",
        "VAT",
        "Total due",
        "VAT No:",
        ",",
        ".",
        "%d %B %Y",
    ),
    "pt": (
        "Número da fatura:",
        "Data de emissão:",
        "Data de vencimento:",
        "Valor líquido",
        "IVA",
        "Total a pagar",
        "NIF:",
        ".",
        ",",
        "%d-%m-%Y",
    ),
    "nl": (
        "Factuurnummer:",
        "Factuurdatum:",
        "Vervaldatum:",
        "Subtotaal",
        "Btw",
        "Totaal incl. btw",
        "Btw-nummer:",
        ".",
        ",",
        "%d-%m-%Y",
    ),
}
VAT_IDS = {
    "de": "DE136695976",
    "fr": "FR40303265045",
    "es": "ESA12345674",
    "it": "IT00743110157",
    "en": "GB980780684",
    "pt": "PT501964843",
    "nl": "NL004495445B01",
}


def money(cents: int, thousands: str, decimal: str) -> str:
    whole, fraction = divmod(cents, 100)
    return f"{whole:,}".replace(",", thousands) + f"{decimal}{fraction:02d}"


@settings(max_examples=60, deadline=None)
@given(
    language=st.sampled_from(sorted(STYLES)),
    number=st.from_regex(r"[A-Z]{2}-20[0-9]{2}-[0-9]{3,5}", fullmatch=True),
    issued=st.dates(min_value=date(2015, 1, 1), max_value=date(2025, 12, 31)),
    days=st.integers(min_value=0, max_value=90),
    net_cents=st.integers(min_value=100, max_value=50_000_000),
    rate=st.sampled_from([0.05, 0.07, 0.1, 0.19, 0.2, 0.21, 0.23]),
    below=st.booleans(),
    indent=st.integers(min_value=0, max_value=30),
)
def test_offline_reads_generated_invoices(
    language: str, number: str, issued: date, days: int, net_cents: int, rate: float, below: bool, indent: int
) -> None:
    n_label, d_label, due_label, net_label, tax_label, total_label, vat_label, thousands, decimal, fmt = STYLES[
        language
    ]
    due = date.fromordinal(issued.toordinal() + days)
    tax_cents = round(net_cents * rate)
    pad = " " * indent
    date_line = f"{pad}{d_label}\n{pad}{issued.strftime(fmt)}" if below else f"{pad}{d_label} {issued.strftime(fmt)}"
    text = f"""
Lunettes Exemple SA
{vat_label} {VAT_IDS[language]}

{pad}{n_label} {number}
{date_line}
{pad}{due_label} {due.strftime(fmt)}

                         {net_label:20} {money(net_cents, thousands, decimal)} EUR
                         {tax_label:20} {money(tax_cents, thousands, decimal)} EUR
                         {total_label:20} {money(net_cents + tax_cents, thousands, decimal)} EUR
"""
    data = offline_extract(document_from_text(text), get_type("invoice")).data
    assert data["invoice_number"] == number
    assert data["issue_date"] == issued.isoformat()
    assert data["due_date"] == due.isoformat()
    assert data["net_amount"] == net_cents / 100
    assert data["tax_amount"] == tax_cents / 100
    assert data["total_amount"] == (net_cents + tax_cents) / 100
    assert data["currency"] == "EUR"
    assert data["seller"]["vat_id"] == VAT_IDS[language]
    assert data["seller"]["name"] == "Lunettes Exemple SA"
    assert validate(get_type("invoice"), data).valid
