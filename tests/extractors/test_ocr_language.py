"""Language from text and the --lang syntax: the cheap decisions that pick a Tesseract model per page."""

from __future__ import annotations

import pytest

from extractors.language import detect, languages_for_script, parse_languages


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Rechnung Nr. 12 Datum 03.01.2024 Gesamtbetrag 1.234,56 € zahlbar bis", "deu"),
        ("Facture n° 12 date 03/01/2024 Total TTC 1 234,56 € TVA 20%", "fra"),
        ("Factura número 12 fecha de factura Base imponible IVA 21% Total", "spa"),
        ("Fattura numero 12 data fattura Imponibile IVA 22% Totale", "ita"),
        ("Invoice number 12 invoice date Subtotal VAT Total due", "eng"),
        ("Fatura número 12 data da fatura Total sem IVA Total a pagar", "por"),
        ("Factuur nummer 12 factuurdatum Subtotaal Btw 21% Totaal", "nld"),
        ("Brillenverordnung Patient Geburtsdatum Pupillendistanz Glasart Bemerkungen", "deu"),
        ("Ordonnance de lunettes Date de naissance Écart pupillaire Type de verres", "fra"),
        ("眼鏡処方箋 患者名 生年月日 レンズ種類", "jpn"),
        ("发票 号码 日期 金额 合计 税额", "chi_sim"),
    ],
)
def test_detect(text: str, language: str) -> None:
    assert detect(text) == language


@pytest.mark.parametrize("text", ["", "12 34 56", "ABC-123 XYZ"])
def test_no_sign_no_guess(text: str) -> None:
    assert detect(text) is None


def test_scripts_map_to_models() -> None:
    assert languages_for_script("Latin") == ["eng"]
    assert languages_for_script("Japanese") == ["jpn"]
    assert languages_for_script("Han") == ["jpn", "chi_sim"]


def test_parse_languages() -> None:
    assert parse_languages(None) is None
    assert parse_languages("auto") is None
    assert parse_languages("eng+deu") == ["eng", "deu"]
    with pytest.raises(ValueError, match="xx"):
        parse_languages("eng+xx")
