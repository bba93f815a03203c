"""PII scrubbing for the Conversation API's ``scrubPII`` / ``scrub_pii`` flags.

daprd replaces personal data in the inputs (before the provider sees them) and in the outputs with type tags;
this does the same for the common kinds: e-mail addresses, credit-card numbers (Luhn-checked), US social security
numbers, IP and MAC addresses, and phone numbers.
"""

from __future__ import annotations

import re

_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
_CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
_SSN = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")
_IPV4 = re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")
_IPV6 = re.compile(r"\b(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}\b")
_MAC = re.compile(r"\b(?:[0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}\b")
_PHONE = re.compile(
    r"(?<!\w)(?<!\d\.)(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?)?\d{2,4}(?:[ .-]\d{2,8}){1,4}(?!\w|\.\d)"
)


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return "<CREDIT_CARD>" if 13 <= len(digits) <= 19 and _luhn(digits) else match.group(0)


def _phone(match: re.Match[str]) -> str:
    # At least 7 digits, so that dates, prices and lens values ("-1.25", "2026-11-26") stay as they are.
    digits = re.sub(r"\D", "", match.group(0))
    text = match.group(0)
    looks_like_date = re.fullmatch(r"\d{4}-\d{2}-\d{2}|\d{2}[./-]\d{2}[./-]\d{4}", text) is not None
    return "<PHONE_NUMBER>" if len(digits) >= 7 and not looks_like_date else text


def scrub_pii(text: str) -> str:
    """``text`` with personal data replaced by tags such as ``<EMAIL_ADDRESS>``."""
    text = _EMAIL.sub("<EMAIL_ADDRESS>", text)
    text = _CARD.sub(_card, text)
    text = _SSN.sub("<SSN>", text)
    text = _MAC.sub("<MAC_ADDRESS>", text)
    text = _IPV6.sub("<IP>", text)
    text = _IPV4.sub("<IP>", text)
    return _PHONE.sub(_phone, text)
