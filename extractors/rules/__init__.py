"""Deterministic validation rules: small functions from a document's data (JSON form) to structured issues.

A rule is ``Callable[[dict], Iterable[ValidationIssue]]``. Rules never raise on bad data: a value of the wrong
shape is skipped here (the schema check reports it) so that every rule can run on partial extractions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

Severity = Literal["error", "warning"]


class ValidationIssue(BaseModel):
    """One finding about one field: ``code`` is stable (``sum_mismatch``, ``bad_checksum``, …)."""

    model_config = ConfigDict(frozen=True)

    field: str
    code: str
    message: str
    severity: Severity = "error"


Rule = Callable[[dict[str, Any]], Iterable[ValidationIssue]]


class PrintedRow(BaseModel):
    """One item row of a table as the page prints it: where, its amount, its position number."""

    model_config = ConfigDict(frozen=True)

    page: int
    bbox: tuple[float, float, float, float]
    amount: float | None = None
    position: int | None = None


class PrintedTable(BaseModel):
    """What a document prints in an array field's table (``line_items``), read from its layout: every item row,
    and the surcharges (+) and discounts (−) printed between the table and its totals. Table rules check data
    against it, whoever read the data."""

    model_config = ConfigDict(frozen=True)

    array: str
    rows: list[PrintedRow] = []
    adjustments: list[float] = []
    # Rows between the items that print an amount no item row took, and that is no subtotal of the items above
    # (a levy under its item, a row a heading's word made look like a sum): the data should hold their amounts.
    doubtful: list[PrintedRow] = []
    # How many items the document says it lists ("Anzahl Positionen: 12", "Number of items: 12"), if it says so.
    count: int | None = None


TableRule = Callable[[dict[str, Any], Sequence[PrintedTable]], Iterable[ValidationIssue]]
"""A rule that also sees the tables the document prints (none when the data is checked alone)."""

_MISSING = object()


def get_path(data: Any, path: str) -> Any:
    """The value at dotted ``path`` (``seller.vat_id``, ``line_items.0.amount``) in ``data``, or ``None``."""
    current = data
    for part in path.split("."):
        if isinstance(current, dict):
            current = current.get(part, _MISSING)
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
        if current is _MISSING:
            return None
    return current


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Set dotted ``path`` in ``data``, creating the dicts on the way (lists are addressed by index)."""
    parts = path.split(".")
    current: Any = data
    for index, part in enumerate(parts[:-1]):
        following = parts[index + 1]
        if isinstance(current, list):
            position = int(part)
            while len(current) <= position:
                current.append({})
            current = current[position]
            continue
        if not isinstance(current.get(part), dict | list):
            current[part] = [] if following.isdigit() else {}
        current = current[part]
    last = parts[-1]
    if isinstance(current, list):
        position = int(last)
        while len(current) <= position:
            current.append(None)
        current[position] = value
    else:
        current[last] = value


def number(data: dict[str, Any], path: str) -> float | None:
    """The numeric value at ``path``; ``None`` when absent or not a number (the schema check reports that)."""
    value = get_path(data, path)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def required(*paths: str) -> Rule:
    """A rule reporting each of ``paths`` that is missing or empty, with code ``missing``."""

    def check(data: dict[str, Any]) -> Iterator[ValidationIssue]:
        for path in paths:
            value = get_path(data, path)
            if value is None or (isinstance(value, str) and not value.strip()):
                yield ValidationIssue(field=path, code="missing", message=f"{path} is required but was not found")

    check.__name__ = f"required({', '.join(paths)})"
    return check


def on_step(value: float, step: float) -> bool:
    """Whether ``value`` is a whole multiple of ``step`` (within float noise)."""
    ratio = value / step
    return abs(ratio - round(ratio)) < 1e-6
