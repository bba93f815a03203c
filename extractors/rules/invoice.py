"""Invoice rules: net + tax = total within a cent, line items add up, quantity × price = amount, IDs, dates."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from extractors.rules import Rule, ValidationIssue, get_path, number, required
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
    """Line amounts sum to the net amount (or, for gross-priced invoices, the total); each line's quantity ×
    unit price equals its amount (codes ``line_items_mismatch``, ``line_amount_mismatch``)."""
    items = data.get("line_items")
    if not isinstance(items, list) or not items:
        return
    amounts: list[float] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        quantity, price, amount = number(item, "quantity"), number(item, "unit_price"), number(item, "amount")
        if amount is not None:
            amounts.append(amount)
        computed = quantity * price if quantity is not None and price is not None else None
        if computed is not None and amount is not None and abs(computed - amount) > CENT + 1e-9:
            yield ValidationIssue(
                field=f"line_items.{index}.amount",
                code="line_amount_mismatch",
                message=f"{quantity:g} × {price:.2f} = {computed:.2f}, but the line says {amount:.2f}",
            )
    if len(amounts) != len(items):
        return
    tolerance = CENT + PER_LINE_TOLERANCE * len(amounts) + 1e-9
    lines_sum = sum(amounts)
    targets = [value for value in (number(data, "net_amount"), number(data, "total_amount")) if value is not None]
    if targets and all(abs(lines_sum - target) > tolerance for target in targets):
        yield ValidationIssue(
            field="line_items",
            code="line_items_mismatch",
            message=f"line items sum to {lines_sum:.2f}, which is neither the net nor the total amount",
        )


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
