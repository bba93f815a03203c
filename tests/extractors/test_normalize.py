"""Locale number/date parsing: the formats documents in de fr es it en pt nl print."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from extractors.normalize import (
    compact,
    fold,
    is_valid_vat_id,
    parse_amount,
    parse_currency,
    parse_date,
    parse_diopter,
    parse_int,
    parse_lens_type,
    parse_prism_base,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.234,56 €", 1234.56),
        ("1,234.56", 1234.56),
        ("1 234,5", 1234.5),
        ("1\u00a0234,00", 1234.0),
        ("1'234.50 CHF", 1234.5),
        ("12.345.678,90", 12345678.9),
        ("EUR 12.50", 12.5),
        ("€12", 12.0),
        ("0,19", 0.19),
        ("-3,00", -3.0),
        ("(12.00)", -12.0),
        ("12,50-", -12.5),
        ("1.234", 1234.0),
        ("1234.567", 1234.567),
        # Unit prices with four decimals, as ERPs print them.
        ("1,4500", 1.45),
        ("59,5000", 59.5),
        ("1.234,5678", 1234.5678),
        ("Total: 99", 99.0),
    ],
)
def test_parse_amount_reads_locale_formats(text: str, expected: float) -> None:
    assert parse_amount(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["", "n/a", "EUR", "—"])
def test_parse_amount_without_a_number_is_none(text: str) -> None:
    assert parse_amount(text) is None


@given(st.integers(min_value=0, max_value=10**9), st.sampled_from([(".", ","), (",", "."), (" ", ","), ("'", ".")]))
def test_parse_amount_round_trips_grouped_numbers(cents: int, marks: tuple[str, str]) -> None:
    thousands, decimal = marks
    whole, fraction = divmod(cents, 100)
    grouped = f"{whole:,}".replace(",", thousands)
    assert parse_amount(f"{grouped}{decimal}{fraction:02d}") == pytest.approx(cents / 100)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("03.04.2024", date(2024, 4, 3)),
        ("3/4/24", date(2024, 4, 3)),
        ("2024-04-03", date(2024, 4, 3)),
        ("Datum: 3. März 2024", date(2024, 3, 3)),
        ("1er avril 2024", date(2024, 4, 1)),
        ("3 de abril de 2024", date(2024, 4, 3)),
        ("3 aprile 2024", date(2024, 4, 3)),
        ("15 januari 2023", date(2023, 1, 15)),
        ("5 de março de 2022", date(2022, 3, 5)),
        ("April 3, 2024", date(2024, 4, 3)),
        ("12/31/2024", date(2024, 12, 31)),
        ("31-12-99", date(1999, 12, 31)),
    ],
)
def test_parse_date_reads_locale_formats(text: str, expected: date) -> None:
    assert parse_date(text) == expected


def test_parse_date_month_first_when_asked() -> None:
    assert parse_date("03/04/2024", day_first=False) == date(2024, 3, 4)


@pytest.mark.parametrize("text", ["31.02.2024", "2024-13-01", "no date", "", "99.99.9999"])
def test_parse_date_rejects_impossible_dates(text: str) -> None:
    assert parse_date(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [("+1,25", 1.25), ("-0.75", -0.75), ("−2.50", -2.5), ("plan", 0.0), ("Plano", 0.0), ("±0.00", 0.0), ("+3", 3.0)],
)
def test_parse_diopter(text: str, expected: float) -> None:
    assert parse_diopter(text) == expected


def test_parse_diopter_without_number_is_none() -> None:
    assert parse_diopter("OD") is None


def test_parse_currency_by_code_and_symbol() -> None:
    assert parse_currency("Total EUR") == "EUR"
    assert parse_currency("€ 12") == "EUR"
    assert parse_currency("£5") == "GBP"
    assert parse_currency("CHF 12") == "CHF"
    assert parse_currency("ABC 12") is None
    # A Japanese font's yen sign comes back from OCR as a backslash, always before an amount.
    assert parse_currency("\\1,080") == "JPY"
    assert parse_currency("'\\r\\n'") is None


def test_helpers() -> None:
    assert fold("Échéance") == "echeance"
    assert compact("DE89 3704-0044.0532 0130 00") == "DE89370400440532013000"
    assert parse_int("95°") == 95
    assert parse_int("none") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Gleitsichtgläser", "progressive"),
        ("Verres progressifs", "progressive"),
        ("遠近両用", "progressive"),
        ("Bifocaux", "bifocal"),
        ("Bifokp|", "bifocal"),
        ("Einstärkengläser", "single_vision"),
        ("Lentes monofocales", "single_vision"),
        ("Kontaktlinsen", None),
    ],
)
def test_parse_lens_type(text: str, expected: str | None) -> None:
    assert parse_lens_type(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("innen", "in"),
        ("BO", "out"),
        ("oben", "up"),
        ("bas", "down"),
        ("270°", "270"),
        ("x", None),
        ("B.D.", "down"),
        ("Base In", "in"),
        ("Basis außen", "out"),
        ("BA", "out"),
        ("基底上方", "up"),
        ("外方", "out"),
        ("base 90", "90"),
        ("007", "7"),
        ("361", None),
        ("base", None),
        ("", None),
    ],
)
def test_parse_prism_base(text: str, expected: str | None) -> None:
    assert parse_prism_base(text) == expected


@pytest.mark.parametrize(
    ("text", "english", "german"),
    [
        ("BO", "out", "up"),  # base out / Basis oben
        ("B.U.", "up", "down"),  # base up / Basis unten
        ("BI", "in", "in"),
        ("BA", "out", "out"),
        ("oben", "up", "up"),  # words mean the same whatever the document's language
        ("Base out", "out", "out"),
        ("90°", "90", "90"),
    ],
)
def test_prism_base_codes_follow_the_documents_language(text: str, english: str, german: str) -> None:
    assert parse_prism_base(text, "eng") == english
    assert parse_prism_base(text, "fra") == english
    assert parse_prism_base(text, "deu") == german
    assert parse_prism_base(text, "de") == german


def test_cjk_dates_yen_and_japanese_registration_numbers() -> None:
    assert parse_date("2024 年 7 月 12 日") == date(2024, 7, 12)
    assert parse_currency("¥68,530") == "JPY"
    assert parse_currency("68,530円") == "JPY"
    assert is_valid_vat_id("T5989088653614")
    assert not is_valid_vat_id("T5989088653615")
    assert is_valid_vat_id("DE 136 695 976")
