"""The ``invoice`` type: numbers, dates, amounts, parties and line items, with labels in de fr es it en pt nl."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from extractors.rules.invoice import INVOICE_RULES, INVOICE_TABLE_RULES
from extractors.types.base import DocumentType, FieldKind, Labels


class Seller(BaseModel):
    name: str | None = Field(None, description="legal name of the company that issued the invoice")
    vat_id: str | None = Field(None, description="seller's VAT identification number with country prefix")
    address: str | None = Field(None, description="seller's postal address, one line")
    iban: str | None = Field(None, description="IBAN the invoice asks to pay to, without spaces")


class Buyer(BaseModel):
    name: str | None = Field(None, description="name of the customer the invoice is addressed to")
    vat_id: str | None = Field(None, description="customer's VAT identification number with country prefix")
    address: str | None = Field(None, description="customer's postal address, one line")


class LineItem(BaseModel):
    description: str | None = None
    quantity: float | None = None
    unit_price: float | None = Field(None, description="price of one unit, as printed (net or gross)")
    amount: float | None = Field(None, description="line total: quantity × unit price")


class Invoice(BaseModel):
    """An invoice or receipt."""

    invoice_number: str | None = Field(None, description="the invoice's own number, as printed")
    issue_date: date | None = Field(None, description="date the invoice was issued, ISO 8601")
    due_date: date | None = Field(None, description="payment due date, ISO 8601")
    currency: str | None = Field(None, description="ISO 4217 code, e.g. EUR")
    net_amount: float | None = Field(None, description="total before tax")
    tax_amount: float | None = Field(None, description="total VAT / sales tax")
    total_amount: float | None = Field(None, description="amount due including tax")
    seller: Seller = Field(default_factory=Seller)
    buyer: Buyer = Field(default_factory=Buyer)
    line_items: list[LineItem] = Field(default_factory=list)


LABELS: Labels = {
    "invoice_number": {
        # A credit note or a correction is an invoice of its own kind, numbered and dated under its own name.
        "en": [
            "Invoice number",
            "Invoice No",
            "Invoice #",
            "Invoice",
            "Bill No",
            "Receipt No",
            "Document No",
            "Credit note No",
            "Credit note number",
            "Credit memo No",
        ],
        "de": [
            "Rechnungsnummer",
            "Rechnungs-Nr",
            "Rechnung Nr",
            "Rechnungsnr",
            "RG-Nr",
            "Re.-Nr",
            "Re-Nr",
            "Beleg-Nr",
            "Belegnummer",
            "Dokumentnummer",
            "Dokument-Nr",
            "Gutschriftsnummer",
            "Gutschriftnummer",
            "Gutschrift-Nr",
            "Gutschrift Nr",
            "Rechnungskorrektur Nr",
            "Korrekturrechnung Nr",
            "Rechnung",
        ],
        "fr": [
            "Numéro de facture",
            "N° de facture",
            "Facture n°",
            "Facture N",
            "No facture",
            "Numéro d'avoir",
            "N° d'avoir",
            "Avoir n°",
            "Avoir N",
            "Facture",
        ],
        "es": [
            "Número de factura",
            "Nº de factura",
            "N.º factura",
            "Factura nº",
            "Factura N",
            "Nº de abono",
            "Factura",
        ],
        "it": ["Numero fattura", "Fattura n", "N. fattura", "Fattura numero", "Nota di credito n", "Fattura"],
        "pt": ["Número da fatura", "Fatura nº", "Nº da fatura", "Fatura n.º", "Nota de crédito nº", "Fatura"],
        "nl": ["Factuurnummer", "Factuur nr", "Factuurnr", "Creditnotanummer", "Creditnota nr", "Factuur"],
        "ja": ["請求書番号", "請求番号", "伝票番号"],
    },
    "issue_date": {
        "en": ["Invoice date", "Date of issue", "Issue date", "Issued", "Credit note date", "Date"],
        "de": [
            "Rechnungsdatum",
            "Datum",
            "Belegdatum",
            "Ausstellungsdatum",
            "Gutschriftsdatum",
            "Dokumentdatum",
            "RG-Datum",
            "Re.-Datum",
            "Re-Datum",
        ],
        "fr": ["Date de facture", "Date de facturation", "Date d'émission", "Date de l'avoir", "Date d'avoir", "Date"],
        "es": ["Fecha de factura", "Fecha de emisión", "Fecha"],
        "it": ["Data fattura", "Data di emissione", "Data"],
        "pt": ["Data da fatura", "Data de emissão", "Data"],
        "nl": ["Factuurdatum", "Creditnotadatum", "Datum"],
        "ja": ["発行日", "請求日", "日付"],
    },
    "due_date": {
        "en": ["Due date", "Payment due", "Due", "Pay by", "Payable within"],
        "de": [
            "Fällig am",
            "Fälligkeitsdatum",
            "Fälligkeitstag",
            "Fällig",
            "Zahlbar bis",
            "Zahlungsziel",
            "Zahlbar innerhalb",
            "Fälligkeit",
        ],
        "fr": [
            "Date d'échéance",
            "Date limite de paiement",
            "Date limite de règlement",
            "Échéance",
            "À payer avant le",
            "À régler avant le",
            "Payable avant le",
        ],
        "es": ["Fecha de vencimiento", "Vencimiento"],
        "it": ["Data di scadenza", "Scadenza"],
        "pt": ["Data de vencimento", "Vencimento"],
        "nl": ["Vervaldatum", "Te betalen voor"],
        "ja": ["支払期限", "お支払期限", "支払期日"],
    },
    "currency": {
        "en": ["Currency"],
        "de": ["Währung"],
        "fr": ["Devise", "Monnaie"],
        "es": ["Moneda", "Divisa"],
        "it": ["Valuta"],
        "pt": ["Moeda"],
        "nl": ["Valuta", "Munteenheid"],
        "ja": ["通貨"],
    },
    "net_amount": {
        "en": ["Net amount", "Subtotal", "Sub-total", "Net total", "Total net", "Amount before tax", "Net"],
        "de": [
            "Nettobetrag",
            "Rechnungssumme netto",
            "Netto",
            "Zwischensumme",
            "Summe netto",
            "Gesamt netto",
            "Nettosumme",
        ],
        "fr": ["Total HT", "Montant HT", "Sous-total", "Net HT"],
        "es": ["Base imponible", "Subtotal", "Importe neto", "Total neto"],
        "it": ["Imponibile", "Totale imponibile", "Subtotale", "Importo netto"],
        "pt": ["Valor líquido", "Subtotal", "Total sem IVA", "Base tributável"],
        "nl": ["Subtotaal", "Totaal excl. btw", "Netto bedrag", "Excl. btw"],
        "ja": ["小計", "税抜金額", "税抜合計"],
    },
    "tax_amount": {
        "en": ["VAT amount", "Tax amount", "Total VAT", "Sales tax", "VAT", "Tax"],
        "de": [
            "MwSt.",
            "MwSt-Betrag",
            "Mehrwertsteuer",
            "Umsatzsteuer",
            "USt.",
            "USt-Betrag",
            "zzgl. MwSt",
            "Versicherungsteuer",
            "Versicherungssteuer",
        ],
        "fr": ["Montant TVA", "Total TVA", "TVA"],
        "es": ["Cuota IVA", "Importe IVA", "Total IVA", "IVA"],
        "it": ["Importo IVA", "Totale IVA", "IVA"],
        "pt": ["Valor do IVA", "Total IVA", "IVA"],
        "nl": ["Btw-bedrag", "Totaal btw", "BTW", "Btw"],
        "ja": ["消費税", "消費税額"],
    },
    "total_amount": {
        "en": ["Total amount", "Amount due", "Total due", "Grand total", "Invoice total", "Balance due", "Total"],
        "de": [
            "Gesamtbetrag",
            "Rechnungsbetrag",
            "Rechnungssumme brutto",
            "Endbetrag",
            "Bruttobetrag",
            "Summe brutto",
            "Zu zahlen",
            "Gesamt",
        ],
        "fr": ["Total TTC", "Montant TTC", "Net à payer", "Montant total", "Total à payer", "Somme à payer"],
        "es": ["Total factura", "Importe total", "Total a pagar", "Total"],
        "it": ["Totale fattura", "Totale documento", "Importo totale", "Totale da pagare", "Totale"],
        "pt": ["Total a pagar", "Valor total", "Total"],
        "nl": ["Totaal incl. btw", "Te betalen", "Totaalbedrag", "Totaal"],
        "ja": ["合計", "合計金額", "ご請求金額", "請求金額", "総額"],
    },
    "seller.vat_id": {
        "en": ["VAT ID", "VAT No", "VAT Reg No", "VAT number", "Tax ID"],
        "de": [
            "USt-IdNr",
            "USt-ID",
            "UStIdNr",
            "USt-Identnr",
            "Umsatzsteuer-ID",
            "Umsatzsteuer-Identifikationsnummer",
            "USt.-Id.-Nr",
            "Steuernummer",
        ],
        "fr": ["N° TVA", "TVA intracommunautaire", "N° TVA intracom", "Numéro de TVA"],
        "es": ["NIF", "CIF", "NIF-IVA", "N.º IVA"],
        "it": ["Partita IVA", "P. IVA", "P.IVA"],
        "pt": ["NIF", "NIPC", "Contribuinte"],
        "nl": ["Btw-nummer", "BTW-nr", "Btw-id", "BTW nummer"],
        "ja": ["登録番号", "適格請求書発行事業者登録番号"],
    },
    "seller.iban": {lang: ["IBAN"] for lang in ("en", "de", "fr", "es", "it", "pt", "nl")},
    "seller.name": {
        "en": ["From", "Seller", "Supplier", "Vendor"],
        "de": ["Verkäufer", "Rechnungsersteller", "Lieferant", "Absender"],
        "fr": ["Vendeur", "Fournisseur", "Émetteur"],
        "es": ["Vendedor", "Proveedor", "Emisor"],
        "it": ["Venditore", "Fornitore", "Cedente"],
        "pt": ["Vendedor", "Fornecedor"],
        "nl": ["Verkoper", "Leverancier"],
    },
    "buyer.name": {
        "en": ["Bill to", "Billed to", "Customer", "Invoice to", "Sold to", "To"],
        "de": ["Rechnungsempfänger", "Käufer", "Kunde", "Empfänger", "Rechnung an"],
        "fr": ["Facturé à", "Client", "Destinataire"],
        "es": ["Facturar a", "Cliente", "Destinatario"],
        "it": ["Cliente", "Destinatario", "Spett.le", "Cessionario"],
        "pt": ["Cliente", "Faturar a", "Destinatário"],
        "nl": ["Klant", "Factuur aan", "Afnemer"],
        "ja": ["請求先"],
    },
    "buyer.vat_id": {
        "en": ["Customer VAT ID", "Customer VAT No", "Buyer VAT"],
        "de": ["Ihre USt-IdNr", "Kunden-USt-IdNr"],
        "fr": ["TVA client", "N° TVA client"],
        "es": ["NIF cliente", "CIF cliente"],
        "it": ["P. IVA cliente", "Partita IVA cliente"],
        "pt": ["NIF cliente", "Contribuinte cliente"],
        "nl": ["Btw-nummer klant"],
    },
    "line_items[].description": {
        "en": ["Description", "Item"],
        "de": ["Beschreibung", "Bezeichnung", "Artikel"],
        "fr": ["Désignation", "Description"],
        "es": ["Descripción", "Concepto"],
        "it": ["Descrizione"],
        "pt": ["Descrição"],
        "nl": ["Omschrijving"],
        "ja": ["品名", "内容"],
    },
    "line_items[].quantity": {
        "en": ["Qty", "Quantity"],
        "de": ["Menge", "Anzahl"],
        "fr": ["Qté", "Quantité"],
        "es": ["Cantidad", "Cant."],
        "it": ["Quantità", "Q.tà"],
        "pt": ["Quantidade", "Qtd"],
        "nl": ["Aantal"],
        "ja": ["数量"],
    },
    "line_items[].unit_price": {
        "en": ["Unit price", "Price"],
        "de": ["Einzelpreis", "Preis"],
        "fr": ["Prix unitaire", "P.U.", "Prix"],
        "es": ["Precio unitario", "Precio"],
        "it": ["Prezzo unitario", "Prezzo"],
        "pt": ["Preço unitário", "Preço"],
        "nl": ["Stukprijs", "Prijs"],
        "ja": ["単価"],
    },
    "line_items[].amount": {
        "en": ["Amount", "Line total", "Ext. price", "Extended price"],
        "de": ["Betrag", "Gesamtpreis"],
        "fr": ["Montant", "Total"],
        "es": ["Importe"],
        "it": ["Importo"],
        "pt": ["Valor", "Montante"],
        "nl": ["Bedrag"],
        "ja": ["金額"],
    },
}

KEYWORDS = {
    "en": ["invoice", "bill", "receipt", "amount due", "subtotal", "vat", "total"],
    "de": ["rechnung", "mwst", "ust", "netto", "brutto", "gesamtbetrag", "zahlbar"],
    "fr": ["facture", "tva", "total ttc", "montant ht", "échéance"],
    "es": ["factura", "iva", "base imponible", "importe", "vencimiento"],
    "it": ["fattura", "iva", "imponibile", "totale", "scadenza"],
    "pt": ["fatura", "iva", "nif", "total a pagar", "vencimento"],
    "nl": ["factuur", "btw", "totaal", "te betalen", "vervaldatum"],
    "ja": ["請求書", "消費税", "小計", "合計", "支払期限"],
}

KINDS: dict[str, FieldKind] = {
    "invoice_number": "identifier",
    "seller.name": "name",
    "buyer.name": "name",
    "seller.address": "address",
    "buyer.address": "address",
    "line_items[].quantity": "number",
}

INVOICE = DocumentType(
    name="invoice",
    title="Invoice",
    description="Invoices and receipts: number, dates, amounts, seller and buyer, line items.",
    model=Invoice,
    json_schema=Invoice.model_json_schema(),
    labels=LABELS,
    keywords=KEYWORDS,
    rules=INVOICE_RULES,
    table_rules=INVOICE_TABLE_RULES,
    kinds=KINDS,
    sender_constant=frozenset({"seller.name", "seller.vat_id", "seller.iban", "seller.address"}),
)
