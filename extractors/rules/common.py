"""Rules shared by document types: plausible dates, ISO 4217 currencies, IBANs and VAT IDs (python-stdnum)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from stdnum import iban as stdnum_iban
from stdnum import vatin
from stdnum.exceptions import ValidationError as StdnumError

from extractors.normalize import ISO_4217, compact, is_valid_vat_id
from extractors.rules import Rule, ValidationIssue, get_path

EARLIEST_DATE = date(1900, 1, 1)


def _as_date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def plausible_date(path: str, *, max_future_days: int = 366, today: date | None = None) -> Rule:
    """``path`` is a real ISO date between 1900 and ``max_future_days`` from today (code ``invalid_date`` /
    ``implausible_date``)."""

    def check(data: dict[str, Any]) -> Iterator[ValidationIssue]:
        value = get_path(data, path)
        if value is None:
            return
        parsed = _as_date(value)
        if parsed is None:
            yield ValidationIssue(field=path, code="invalid_date", message=f"{value!r} is not an ISO 8601 date")
            return
        reference = today or date.today()
        if parsed < EARLIEST_DATE or (parsed - reference).days > max_future_days:
            yield ValidationIssue(
                field=path, code="implausible_date", message=f"{parsed.isoformat()} is not a plausible date here"
            )

    check.__name__ = f"plausible_date({path})"
    return check


def date_order(earlier: str, later: str) -> Rule:
    """``later`` is not before ``earlier`` when both are dates (code ``date_order``)."""

    def check(data: dict[str, Any]) -> Iterator[ValidationIssue]:
        first, second = _as_date(get_path(data, earlier)), _as_date(get_path(data, later))
        if first and second and second < first:
            yield ValidationIssue(
                field=later, code="date_order", message=f"{later} {second} is before {earlier} {first}"
            )

    check.__name__ = f"date_order({earlier}, {later})"
    return check


def currency(path: str) -> Rule:
    """``path`` is an ISO 4217 code (code ``invalid_currency``)."""

    def check(data: dict[str, Any]) -> Iterator[ValidationIssue]:
        value = get_path(data, path)
        if value is not None and (not isinstance(value, str) or value not in ISO_4217):
            yield ValidationIssue(
                field=path, code="invalid_currency", message=f"{value!r} is not an ISO 4217 currency code"
            )

    check.__name__ = f"currency({path})"
    return check


def iban(path: str) -> Rule:
    """``path`` is an IBAN with a valid checksum and country format (code ``invalid_iban``)."""

    def check(data: dict[str, Any]) -> Iterator[ValidationIssue]:
        value = get_path(data, path)
        if not value:
            return
        try:
            stdnum_iban.validate(compact(str(value)))
        except StdnumError as error:
            yield ValidationIssue(field=path, code="invalid_iban", message=f"IBAN {value!r}: {error}")

    check.__name__ = f"iban({path})"
    return check


def vat_id(path: str) -> Rule:
    """``path`` is a VAT ID valid for the country of its prefix (python-stdnum), code ``invalid_vat_id``."""

    def check(data: dict[str, Any]) -> Iterator[ValidationIssue]:
        value = get_path(data, path)
        if not value:
            return
        if is_valid_vat_id(str(value)):
            return
        try:
            vatin.validate(compact(str(value)))
        except StdnumError as error:
            yield ValidationIssue(field=path, code="invalid_vat_id", message=f"VAT ID {value!r}: {error}")

    check.__name__ = f"vat_id({path})"
    return check
