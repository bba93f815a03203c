"""Locale-aware parsing of the values documents print: amounts, dates, currencies, diopters, IBANs and VAT IDs.

Everything here is deterministic and total: a parser returns ``None`` for text it cannot read, never raises on
user input. Decimal marks are inferred from the text itself (``1.234,56`` and ``1,234.56`` both mean 1234.56).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache

# Month names (and common abbreviations) in the languages docline reads: en de fr es it pt nl.
_MONTHS: dict[str, int] = {}
for _number, _names in enumerate(
    [
        "january jan januar janv janvier enero ene gennaio genn gen janeiro januari jänner jän",
        "february feb februar fev fevr fevrier febrero febbraio fevereiro februari",
        "march mar marz maerz mars marzo marco maart mrt",
        "april apr avril avr abril aprile",
        "may mai mayo maggio mag maio mei",
        "june jun juni juin junio giugno giu junho",
        "july jul juli juil juillet julio luglio lug julho",
        "august aug aout agosto ago augustus",
        "september sep sept septembre septiembre settembre set setembro",
        "october oct oktober okt octobre octubre ottobre ott outubro",
        "november nov novembre noviembre novembro",
        "december dec dez dezember decembre diciembre dic dicembre dezembro",
    ],
    start=1,
):
    for _name in _names.split():
        _MONTHS[fold_name := unicodedata.normalize("NFKD", _name)] = _number
        _MONTHS["".join(ch for ch in fold_name if not unicodedata.combining(ch))] = _number

# ISO 4217 codes in current use (from the ISO maintenance agency's list A.1).
_ISO_4217_CODES = """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD CAD CDF
    CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL
    HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL
    MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON
    RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH
    UGX USD UYU UZS VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG"""
ISO_4217 = frozenset(_ISO_4217_CODES.split())

_CURRENCY_SYMBOLS: dict[str, str] = {
    "€": "EUR",
    "$": "USD",
    "US$": "USD",
    "£": "GBP",
    "¥": "JPY",
    "₹": "INR",
    "Fr.": "CHF",
    "SFr.": "CHF",
    "zł": "PLN",
    "kr": "SEK",
    "Kč": "CZK",
    "R$": "BRL",
    "₺": "TRY",
    "₽": "RUB",
    "円": "JPY",
    "￥": "JPY",
    # Japanese fonts draw the yen sign at the backslash code point; OCR reads it back as "\\".
    "\\": "JPY",
}

# Digit groups of three may be split by space, apostrophe, dot or comma; one decimal part of 1-4 digits may follow
# (unit prices are printed with four: "1,4500").
_AMOUNT_RE = re.compile(
    r"(?<![\d.,])([-+]\s?)?(\()?(\d{1,3}(?:[ '’\u00a0\u202f.,]\d{3})+|\d+)([.,]\d{1,4})?(?![\d])(\)|-)?"
)
_DIGITS_SEPARATORS = re.compile(r"[\s'’\u00a0\u202f]")


def fold(text: str) -> str:
    """Lower-case ``text`` and strip accents, so ``Échéance`` and ``echeance`` compare equal."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


@lru_cache(maxsize=4096)
def _whole_words(phrase: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w){re.escape(phrase)}(?!\w)")


def phrases_in(text: str, phrases: Iterable[str]) -> set[str]:
    """Which of ``phrases`` occur in ``text`` as whole words (both already :func:`fold`-ed). Scripts without spaces
    between words are looked for in the text without spaces: OCR splits them anywhere."""
    unspaced = re.sub(r"\s+", "", text)
    return {
        phrase
        for phrase in phrases
        if (
            phrase.replace(" ", "") in unspaced
            if _CJK.search(phrase)
            # The plain substring test first: most phrases are absent, and it costs a fraction of the regex.
            else phrase in text and _whole_words(phrase).search(text)
        )
    }


def parse_amount(text: str) -> float | None:
    """The number printed in ``text`` (``1.234,56 €``, ``-1,234.56``, ``1 234,5``, ``(12.00)``), or ``None``.

    The last ``.`` or ``,`` followed by one or two digits is the decimal mark; a single separator followed by
    exactly three digits is a thousands separator (``1.234`` → 1234), the common reading on invoices.
    """
    if not text:
        return None
    cleaned = text.strip().replace("−", "-").replace("–", "-")
    match = _AMOUNT_RE.search(cleaned)
    if match is None:
        return None
    sign, opening, whole, fraction, closing = match.groups()
    negative = bool(sign and sign.startswith("-")) or (bool(opening) and closing == ")") or closing == "-"
    digits = _DIGITS_SEPARATORS.sub("", whole + (fraction or ""))
    last_dot, last_comma = digits.rfind("."), digits.rfind(",")
    mark = max(last_dot, last_comma)
    if mark >= 0:
        separator = digits[mark]
        decimals = digits[mark + 1 :]
        other = "," if separator == "." else "."
        thousands_only = len(decimals) == 3 and digits.count(separator) >= 1 and other not in digits
        if thousands_only and (digits.count(separator) > 1 or len(digits[:mark].replace(other, "")) <= 3):
            digits = digits.replace(separator, "")
        else:
            digits = digits[:mark].replace(".", "").replace(",", "") + "." + decimals
    try:
        value = Decimal(digits)
    except InvalidOperation:
        return None
    return float(-value if negative else value)


def parse_currency(text: str) -> str | None:
    """The ISO 4217 code named in ``text`` by code (``EUR``) or symbol (``€``), or ``None``."""
    if not text:
        return None
    for code in re.findall(r"\b[A-Z]{3}\b", text.upper()):
        if code in ISO_4217:
            return code
    for symbol, code in sorted(_CURRENCY_SYMBOLS.items(), key=lambda item: -len(item[0])):
        if symbol == "\\" and not _YEN_BACKSLASH.search(text):
            continue  # a backslash is a yen sign only before an amount ("\\1,000"), not in "C:\\" or "\\r\\n"
        if symbol in text:
            return code
    return None


_YEN_BACKSLASH = re.compile(r"\\\s?\d")


def _year(text: str) -> int:
    year = int(text)
    if len(text) == 2:
        # Two-digit years: 00-69 are this century, 70-99 the last one (the POSIX strptime pivot).
        year += 2000 if year < 70 else 1900
    return year


def _make_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


_ISO_DATE = re.compile(r"(?<!\d)(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)")
_NUMERIC_DATE = re.compile(r"(?<!\d)(\d{1,2})\s?[./\-]\s?(\d{1,2})\s?[./\-]\s?(\d{4}|\d{2})(?!\d)")
_WORD_DATE = re.compile(
    r"(?<!\d)(\d{1,2})(?:\.|er|st|nd|rd|th|º|°)?\s*(?:de\s+)?([^\W\d_]{3,})\.?,?\s*(?:de\s+)?(\d{4})"
)
_WORD_DATE_US = re.compile(r"([^\W\d_]{3,})\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})")


_CJK_DATE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")


def parse_date(text: str, *, day_first: bool = True) -> date | None:
    """The calendar date printed in ``text``, or ``None`` when there is none or it does not exist.

    Reads ISO (``2024-04-03``), numeric (``03.04.2024``, ``3/4/24``; day first unless ``day_first`` is false or
    only the other reading exists) and named months in en/de/fr/es/it/pt/nl (``3. April 2024``, ``3 avril 2024``,
    ``April 3, 2024``).
    """
    if not text:
        return None
    match = _CJK_DATE.search(text)
    if match:
        return _make_date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    match = _ISO_DATE.search(text)
    if match:
        return _make_date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    match = _NUMERIC_DATE.search(text)
    if match:
        first, second, year = int(match.group(1)), int(match.group(2)), _year(match.group(3))
        day, month = (first, second) if day_first else (second, first)
        return _make_date(year, month, day) or _make_date(year, day, month)
    folded = fold(text)
    match = _WORD_DATE.search(folded)
    if match and match.group(2) in _MONTHS:
        return _make_date(int(match.group(3)), _MONTHS[match.group(2)], int(match.group(1)))
    match = _WORD_DATE_US.search(folded)
    if match and match.group(1) in _MONTHS:
        return _make_date(int(match.group(3)), _MONTHS[match.group(1)], int(match.group(2)))
    return None


_DIOPTER_RE = re.compile(r"([+\-−–±]?)\s?(\d{1,2})(?:[.,](\d{1,2}))?")
_PLANO = {"plan", "plano", "pl", "piano", "neutro", "sph", "dS"}


def parse_diopter(text: str) -> float | None:
    """A lens power in diopters (``+1,25``, ``-0.75``, ``plan``/``plano`` → 0.0), or ``None``."""
    if not text:
        return None
    stripped = text.strip()
    if fold(stripped).rstrip(".") in _PLANO or stripped in {"0", "±0", "±0.00", "±0,00"}:
        return 0.0
    match = _DIOPTER_RE.search(stripped.replace("−", "-").replace("–", "-"))
    if match is None:
        return None
    sign, whole, fraction = match.groups()
    value = float(f"{whole}.{fraction or '0'}")
    return -value if sign == "-" else value


def parse_int(text: str) -> int | None:
    """The first whole number in ``text`` (``95°`` → 95), or ``None``."""
    match = re.search(r"\d+", text or "")
    return int(match.group(0)) if match else None


def compact(text: str) -> str:
    """``text`` without spaces, dots and dashes, upper-cased: the form IBANs and VAT IDs are compared in."""
    return re.sub(r"[\s.\-/]", "", text or "").upper()


_PRISM_BASES = {
    "in": (
        "in",
        "bi",
        "innen",
        "nasal",
        "nasale",
        "interne",
        "int",
        "interna",
        "interno",
        "binnen",
        "内方",
        "内",
        "鼻側",
    ),
    "out": (
        "out",
        "bo",
        "ba",  # German "Basis außen"
        "aussen",
        "außen",
        "temporal",
        "temporale",
        "externe",
        "ext",
        "externa",
        "esterna",
        "esterno",
        "uit",
        "外方",
        "外",
        "耳側",
    ),
    "up": ("up", "bu", "oben", "haut", "arriba", "superior", "alto", "cima", "boven", "上方", "上"),
    "down": ("down", "bd", "unten", "bas", "abajo", "inferior", "basso", "baixo", "onder", "下方", "下"),
}
_PRISM_BASE_WORDS = {fold(word): base for base, words in _PRISM_BASES.items() for word in words}
# "Base in", "Basis innen", "基底内方": the word for "base" before the direction.
_PRISM_BASE_PREFIX = re.compile(r"^(?:basis|base|基底)")


# German opticians abbreviate "Basis oben/unten/innen/außen" as BO/BU/BI/BA, and BO and BU then mean the opposite of
# English's base out / base up: only the document's language can tell them apart.
_GERMAN_PRISM_CODES = {"bo": "up", "bu": "down", "bi": "in", "ba": "out"}
_GERMAN = {"de", "deu"}


def parse_prism_base(text: str, language: str | None = None) -> str | None:
    """A prism base as ``in``/``out``/``up``/``down`` (``innen``, ``BI``, ``B.I.``, ``base in``, ``nasal``,
    ``基底内方`` …) or degrees as digits without leading zeros (``270°`` → ``270``), or ``None``.

    Two-letter codes are read the English way (BI, BO = out, BU = up, BD) unless ``language`` (ISO 639-1 or
    Tesseract code of the document) is German, where BO is *Basis oben* (up) and BU *Basis unten* (down); German's
    ``BA`` is base out either way."""
    token = re.sub(r"[\s.:°]", "", fold(text or ""))
    if language in _GERMAN and token in _GERMAN_PRISM_CODES:
        return _GERMAN_PRISM_CODES[token]
    for candidate in (token, _PRISM_BASE_PREFIX.sub("", token)):
        if candidate in _PRISM_BASE_WORDS:
            return _PRISM_BASE_WORDS[candidate]
        if candidate.isdigit() and 0 <= int(candidate) <= 360:
            return str(int(candidate))
    return None


def is_valid_vat_id(value: str) -> bool:
    """Whether ``value`` is a VAT ID valid for its country prefix (python-stdnum), or a Japanese qualified-invoice
    registration number (``T`` + a valid 13-digit corporate number)."""
    from stdnum import vatin
    from stdnum.jp import cn

    text = compact(value)
    if re.fullmatch(r"T\d{13}", text):
        return bool(cn.is_valid(text[1:]))
    return bool(vatin.is_valid(text))


_LENS_TYPES = {
    "single_vision": (
        "einstarken",
        "single vision",
        "unifoca",
        "monofoca",
        "enkelvoudig",
        "enkelsterkte",
        "sencill",
        "単焦点",
    ),
    "progressive": ("gleitsicht", "progressi", "progresiv", "multifoca", "varifoca", "遠近両用", "累進"),
    "bifocal": ("bifok", "bifoc", "zweistarken", "二重焦点"),
    "trifocal": ("trifok", "trifoc", "dreistarken"),
    "occupational": ("arbeitsplatz", "bureau", "occupational", "office", "ufficio", "oficina", "中近"),
}


def parse_lens_type(text: str) -> str | None:
    """The lens design named in ``text`` as ``single_vision``, ``progressive``, ``bifocal``, ``trifocal`` or
    ``occupational`` (``Gleitsicht`` → progressive, ``Bifocaux`` → bifocal), or ``None``."""
    from rapidfuzz import fuzz

    folded = fold(text or "")
    if not folded.strip():
        return None
    for canonical, stems in _LENS_TYPES.items():
        if any(stem in folded for stem in stems):
            return canonical
    for canonical, stems in _LENS_TYPES.items():
        # OCR of handwriting: "Bifokp|" still starts like "bifok".
        if any(len(stem) >= 5 and fuzz.partial_ratio(stem, folded) >= 80 for stem in stems):
            return canonical
    return None
