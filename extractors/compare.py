"""Whether extracted data matches a ground truth: field by field, as ``docline eval`` and the benchmarks score it.

Values are compared as a reader would: amounts within half a cent, VAT IDs, IBANs and invoice numbers without their
spacing, dates as calendar dates, names without case, accents or extra spaces, Japanese names without spaces. A
ground truth's leaves are scored one by one; a list (an invoice's line items) is scored as a whole, once per
document.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from extractors.normalize import compact, fold, parse_date
from extractors.rules import get_path

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")


def same_value(expected: Any, got: Any, path: str) -> bool:
    """``got`` is the value ``expected`` at dotted ``path`` (the path's last name chooses how to compare)."""
    if expected is None:
        return got is None
    if got is None:
        return False
    if isinstance(expected, bool) or isinstance(got, bool):
        return bool(expected == got)
    if isinstance(expected, int | float):
        return isinstance(got, int | float) and abs(float(expected) - float(got)) < 0.005
    if path.endswith(("vat_id", "iban", "invoice_number")):
        return compact(str(expected)) == compact(str(got))
    if path.endswith(("date", "date_of_birth")):
        return parse_date(str(expected)) == parse_date(str(got))
    if _CJK.search(str(expected)):
        # OCR does not keep the space between a Japanese family and given name: compare without spaces.
        return "".join(str(expected).split()) == "".join(str(got).split())
    return " ".join(fold(str(expected)).split()) == " ".join(fold(str(got)).split())


def same_list(expected: Sequence[Any], got: Any, path: str) -> bool:
    """``got`` has as many items as ``expected`` and each is the same. Items holding an ``amount`` (line items) are
    compared by it: descriptions wrap and abbreviate, the amounts are what the document's sums rest on. Other items
    are compared by every value the expected item holds."""
    items = got if isinstance(got, list) else [] if got is None else None
    if items is None or len(items) != len(expected):
        return False
    for want, have in zip(expected, items, strict=True):
        if isinstance(want, Mapping):
            paths = ["amount"] if "amount" in want else leaf_paths(want)
            if not all(same_value(get_path(want, p), get_path(have, p), f"{path}.{p}") for p in paths):
                return False
        elif not same_value(want, have, path):
            return False
    return True


def leaf_paths(fields: Mapping[str, Any], prefix: str = "") -> list[str]:
    """The dotted paths of every value in ``fields`` that is neither an object nor a list (``None`` included:
    a ground truth's ``null`` says the document does not print that field)."""
    paths: list[str] = []
    for key, value in fields.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            paths += leaf_paths(value, f"{path}.")
        elif not isinstance(value, list):
            paths.append(path)
    return paths


def list_paths(fields: Mapping[str, Any], prefix: str = "") -> list[str]:
    """The dotted paths of the non-empty lists in ``fields`` (line items): each is scored as one."""
    paths: list[str] = []
    for key, value in fields.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            paths += list_paths(value, f"{path}.")
        elif isinstance(value, list) and value:
            paths.append(path)
    return paths


class FieldScore(BaseModel):
    """One scored path: what the ground truth holds, what the extraction gave, and whether they are the same."""

    path: str
    expected: Any = None
    got: Any = None
    right: bool


class Scorecard(BaseModel):
    """A document's scores: one per scored field, and one per list (all its items right or not)."""

    fields: list[FieldScore]
    lists: list[FieldScore]


def score(truth: Mapping[str, Any], data: Mapping[str, Any] | None, scored: Sequence[str] | None = None) -> Scorecard:
    """Score extracted ``data`` against the ground truth's ``truth`` fields.

    ``scored`` names the paths to score; without it every leaf of ``truth`` is scored and every non-empty list is
    scored as one, and what ``truth`` does not hold is not counted whatever the extraction filled in. ``data`` of
    ``None`` means nothing was extracted (a rejected document): every scored path is wrong.
    """
    paths = list(scored) if scored is not None else leaf_paths(truth) + list_paths(truth)
    fields: list[FieldScore] = []
    lists: list[FieldScore] = []
    for path in paths:
        expected = get_path(truth, path)
        got = get_path(data, path) if data is not None else None
        if isinstance(expected, list):
            right = data is not None and same_list(expected, got, path)
            lists.append(FieldScore(path=path, expected=expected, got=got, right=right))
        else:
            right = data is not None and same_value(expected, got, path)
            fields.append(FieldScore(path=path, expected=expected, got=got, right=right))
    return Scorecard(fields=fields, lists=lists)
