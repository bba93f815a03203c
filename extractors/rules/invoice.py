"""Invoice rules: net + tax = total within a cent, line items complete and adding up, quantity × price = amount,
IDs, dates."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterator, Sequence
from typing import Any

from extractors.normalize import fold
from extractors.rules import PrintedTable, Rule, TableRule, ValidationIssue, get_path, number, required
from extractors.rules.common import currency, date_order, iban, plausible_date, vat_id

CENT = 0.01
# Rounding per line may add up: allow half a cent per line on top of the cent.
PER_LINE_TOLERANCE = 0.005


def totals_add_up(data: dict[str, Any]) -> Iterator[ValidationIssue]:
    """net_amount + tax_amount = total_amount within a cent (code ``sum_mismatch``)."""
    net, tax, total = number(data, "net_amount"), number(data, "tax_amount"), number(data, "total_amount")
    if net is None or tax is None or total is None:
        return
    if abs(net + tax - total) > CENT + 1e-9:
        yield ValidationIssue(
            field="total_amount",
            code="sum_mismatch",
            message=f"net {net:.2f} + tax {tax:.2f} = {net + tax:.2f}, but the total is {total:.2f}",
        )


def line_items_add_up(data: dict[str, Any]) -> Iterator[ValidationIssue]:
    """Each line's quantity × unit price equals its amount (code ``line_amount_mismatch``); that the lines add up
    is :func:`line_items_complete`'s."""
    items = data.get("line_items")
    if not isinstance(items, list):
        return
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        quantity, price, amount = number(item, "quantity"), number(item, "unit_price"), number(item, "amount")
        computed = quantity * price if quantity is not None and price is not None else None
        if computed is not None and amount is not None and abs(computed - amount) > CENT + 1e-9:
            yield ValidationIssue(
                field=f"line_items.{index}.amount",
                code="line_amount_mismatch",
                message=f"{quantity:g} × {price:.2f} = {computed:.2f}, but the line says {amount:.2f}",
            )


def line_items_complete(data: dict[str, Any], printed: Sequence[PrintedTable]) -> Iterator[ValidationIssue]:
    """The line items are the whole table (code ``line_items_incomplete`` when rows are missing):

    - they add up to the net amount (or, priced gross, the total), with any of the surcharges and discounts
      printed between the table and the totals, within a cent plus half a cent per line; items adding up to more
      than the total are misread (code ``line_items_mismatch``);
    - every item row the table prints has an item of its amount;
    - position numbers printed up to n (1, 2, … or 10, 20, …) mean n items;
    - a printed count of items ("Anzahl Positionen: 12") means as many items (or pieces: the quantities' sum).

    Read from a document (``printed`` holds its table, empty when none was found), the items must account for
    its totals: no items with an amount at all, or items without a net amount or total to check them against,
    are incomplete too. An item without an amount (a note) adds nothing; the others must still add up.

    ``printed``: what the document's tables print (``agents.tables``); without it (a reviewer's data checked
    alone), only the sums are checked.
    """
    raw = data.get("line_items")
    items = [item for item in raw if isinstance(item, dict)] if isinstance(raw, list) else []
    table = next((t for t in printed if t.array == "line_items"), None)
    targets = [value for value in (number(data, "net_amount"), number(data, "total_amount")) if value is not None]
    gaps: list[str] = []
    if table is not None and table.rows:
        gaps.extend(_rows_without_items(table, items))
    if table is not None and table.doubtful:
        gaps.extend(_doubtful_rows(table, items))
    if table is not None and table.count is not None:
        gaps.extend(_counted_items(table.count, items))
    amounts = [amount for amount in (number(item, "amount") for item in items) if amount is not None]
    if table is not None and not amounts:
        gaps.append("no line item with an amount was read")
    elif table is not None and not targets:
        gaps.append("neither a net amount nor a total was read to check the line items against")
    if amounts:
        lines_sum = sum(amounts)
        tolerance = CENT + PER_LINE_TOLERANCE * len(amounts) + 1e-9
        sign = -1.0 if lines_sum < 0 < min(targets, default=0.0) else 1.0  # a credit note's lines printed negative
        lines_sum *= sign
        # Surcharges and discounts printed below the table explain a difference to the totals (any of them: a
        # line's own discount printed under it is already in its amount), and so does a line saying its amount is
        # included in another's ("incl. levy 4.24").
        adjustments = [*(table.adjustments if table else []), *(-amount for amount in _included(items))]
        # A credit note may flip its surcharges and discounts with its lines, or print them as an invoice does.
        adjusted = {lines_sum + s * sum(chosen) for chosen in _subsets(adjustments) for s in {sign, 1.0}}
        explained = any(abs(s - t) <= tolerance for s in adjusted for t in targets)
        if targets and not explained:
            if lines_sum < max(targets):
                gaps.append(f"the items add up to {lines_sum:.2f}, less than the net amount or the total")
            else:
                yield ValidationIssue(
                    field="line_items",
                    code="line_items_mismatch",
                    message=f"line items sum to {lines_sum:.2f}, which is neither the net nor the total amount",
                )
    if gaps:
        yield ValidationIssue(field="line_items", code="line_items_incomplete", message="; ".join(gaps))


# A line whose amount is part of another's: "Incl. Thuiskopieheffing", "inkl. Pfand", "dont éco-participation"
# ("Ind.": "incl." read from a scan, its "cl" run together).
_INCLUDED = re.compile(
    r"^(incl|inkl|ind(?=\.)|including|inclusive|inclusief|davon|dont|incluido|incluso|incluye|compreso)\b"
)


def _included(items: list[dict[str, Any]]) -> list[float]:
    """The amounts of the lines that say they are included in another line."""
    return [
        amount
        for item in items
        if (amount := number(item, "amount")) is not None and _INCLUDED.match(fold(str(item.get("description") or "")))
    ]


def _subsets(values: list[float], limit: int = 8) -> Iterator[tuple[float, ...]]:
    """Every subset of the first ``limit`` values (the empty one first)."""
    kept = values[:limit]
    for size in range(len(kept) + 1):
        yield from itertools.combinations(kept, size)


def _rows_without_items(table: PrintedTable, items: list[dict[str, Any]]) -> Iterator[str]:
    """What of ``table``'s rows ``items`` leave out, in words."""
    left = [number(item, "amount") for item in items]
    # A row printing no amount (an item included in the price, a free one) is answered by an item without one.
    blank = left.count(None)
    unmatched = []
    for row in table.rows:
        if row.amount is None and blank > 0:
            blank -= 1
        elif not _take(left, row.amount):
            unmatched.append(row)
    if len(items) < len(table.rows):
        yield f"the table prints {len(table.rows)} item rows, {len(items)} were read"
    elif unmatched:
        where = ", ".join(
            f"page {row.page}"
            + (f" position {row.position}" if row.position is not None else "")
            + (f" ({row.amount:.2f})" if row.amount is not None else "")
            for row in unmatched[:5]
        )
        yield f"{len(unmatched)} printed item rows have no item: {where}"
    positions = sorted({row.position for row in table.rows if row.position is not None})
    if len(positions) >= 2:
        step = 0
        for before, after in itertools.pairwise(positions):
            step = math.gcd(step, after - before)
        expected = (positions[-1] - positions[0]) // max(step, 1) + 1
        if positions[0] <= max(step, 1) and expected > len(items):
            yield f"positions run to {positions[-1]}: {expected} items, {len(items)} were read"


def _counted_items(count: int, items: list[dict[str, Any]]) -> Iterator[str]:
    """Fewer items than the document says it lists, unless the count is of pieces (the quantities' sum)."""
    quantities = [number(item, "quantity") for item in items]
    pieces = sum(q for q in quantities if q is not None) if all(q is not None for q in quantities) else None
    if count > len(items) and (pieces is None or abs(pieces - count) > 1e-9):
        yield f"the document lists {count} items, {len(items)} were read"


def _doubtful_rows(table: PrintedTable, items: list[dict[str, Any]]) -> Iterator[str]:
    """The rows passed over between the items whose amount no item has, beyond the table's item rows."""
    left = [number(item, "amount") for item in items]
    for row in table.rows:
        _take(left, row.amount)
    unread = [row for row in table.doubtful if not _take(left, row.amount)]
    if unread:
        where = ", ".join(f"page {row.page} ({row.amount:.2f})" for row in unread[:5] if row.amount is not None)
        yield f"{len(unread)} rows between the items print an amount no item has: {where}"


def _take(amounts: list[float | None], amount: float | None) -> bool:
    """Whether one of ``amounts`` is ``amount`` (within a cent); that one is taken out."""
    match = next(
        (i for i, a in enumerate(amounts) if a is not None and amount is not None and abs(a - amount) <= CENT), None
    )
    if match is not None:
        amounts[match] = None
    return match is not None


def amounts_not_negative(data: dict[str, Any]) -> Iterator[ValidationIssue]:
    """A total below zero is a credit note, worth a human look (warning ``negative_total``)."""
    total = number(data, "total_amount")
    if total is not None and total < 0:
        yield ValidationIssue(
            field="total_amount",
            code="negative_total",
            message="the total is negative: a credit note?",
            severity="warning",
        )


def tax_not_above_net(data: dict[str, Any]) -> Iterator[ValidationIssue]:
    """No VAT rate in the world is 100 % or more (code ``implausible_tax``)."""
    net, tax = number(data, "net_amount"), number(data, "tax_amount")
    if net is not None and tax is not None and net > 0 and tax > net:
        yield ValidationIssue(
            field="tax_amount", code="implausible_tax", message=f"tax {tax:.2f} is larger than net {net:.2f}"
        )


def invoice_number_shape(data: dict[str, Any]) -> Iterator[ValidationIssue]:
    """An invoice number contains at least one digit or letter and no spaces inside (code ``invalid_identifier``)."""
    value = get_path(data, "invoice_number")
    if isinstance(value, str) and value.strip() and (len(value) > 64 or " " in value.strip()):
        yield ValidationIssue(
            field="invoice_number", code="invalid_identifier", message=f"{value!r} does not look like an invoice number"
        )


INVOICE_RULES: list[Rule] = [
    required("invoice_number", "issue_date", "currency", "total_amount", "seller.name"),
    plausible_date("issue_date"),
    plausible_date("due_date", max_future_days=3 * 366),
    date_order("issue_date", "due_date"),
    currency("currency"),
    iban("seller.iban"),
    vat_id("seller.vat_id"),
    vat_id("buyer.vat_id"),
    totals_add_up,
    line_items_add_up,
    amounts_not_negative,
    tax_not_above_net,
    invoice_number_shape,
]
INVOICE_TABLE_RULES: list[TableRule] = [line_items_complete]
