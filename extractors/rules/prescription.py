"""Eyeglass prescription rules: powers in 0.25 D steps and range, axis 0–180 when there is a cylinder, addition,
prism and pupillary distance in plausible ranges, dates real and in order."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from extractors.rules import Rule, ValidationIssue, get_path, number, on_step, required
from extractors.rules.common import plausible_date

EYES = ("right", "left")
PRISM_BASES = frozenset({"in", "out", "up", "down"})


def _power(path: str, low: float, high: float, label: str) -> Rule:
    def check(data: dict[str, Any]) -> Iterator[ValidationIssue]:
        value = number(data, path)
        if value is None:
            return
        if not low <= value <= high:
            yield ValidationIssue(
                field=path, code="out_of_range", message=f"{label} {value:+.2f} D is outside {low:+g}…{high:+g} D"
            )
        elif not on_step(value, 0.25):
            yield ValidationIssue(
                field=path, code="not_quarter_step", message=f"{label} {value:+.2f} D is not in 0.25 D steps"
            )

    check.__name__ = f"power_range({path})"
    return check


def axis_with_cylinder(data: dict[str, Any]) -> Iterator[ValidationIssue]:
    """Axis is a whole degree in 0–180 and present whenever the cylinder is non-zero (codes ``out_of_range``,
    ``missing_axis``)."""
    for eye in EYES:
        cylinder, axis = number(data, f"{eye}.cylinder"), get_path(data, f"{eye}.axis")
        field = f"{eye}.axis"
        if axis is not None:
            if isinstance(axis, bool) or not isinstance(axis, int | float) or axis != int(axis):
                yield ValidationIssue(field=field, code="invalid_axis", message=f"axis {axis!r} is not whole degrees")
            elif not 0 <= axis <= 180:
                yield ValidationIssue(field=field, code="out_of_range", message=f"axis {axis}° is outside 0–180°")
        elif cylinder not in (None, 0.0):
            yield ValidationIssue(
                field=field, code="missing_axis", message=f"{eye} eye has cylinder {cylinder:+.2f} D but no axis"
            )


def addition_range(data: dict[str, Any]) -> Iterator[ValidationIssue]:
    """Addition is +0.25…+4.00 D in 0.25 steps (codes ``out_of_range``, ``not_quarter_step``)."""
    for eye in EYES:
        path = f"{eye}.addition"
        value = number(data, path)
        if value is None or value == 0:
            continue
        if not 0.25 <= value <= 4.0:
            yield ValidationIssue(field=path, code="out_of_range", message=f"addition {value:+.2f} D is not 0.25–4 D")
        elif not on_step(value, 0.25):
            yield ValidationIssue(
                field=path, code="not_quarter_step", message=f"addition {value:+.2f} D is not in 0.25 D steps"
            )


def prism_range(data: dict[str, Any]) -> Iterator[ValidationIssue]:
    """Prism is 0…15 prism dioptres with a base when non-zero (codes ``out_of_range``, ``missing_prism_base``,
    ``invalid_prism_base``)."""
    for eye in EYES:
        value, base = number(data, f"{eye}.prism"), get_path(data, f"{eye}.prism_base")
        if value is not None and not 0 <= value <= 15:
            yield ValidationIssue(field=f"{eye}.prism", code="out_of_range", message=f"prism {value} Δ is not 0–15 Δ")
        if value and not base:
            yield ValidationIssue(
                field=f"{eye}.prism_base", code="missing_prism_base", message=f"{eye} eye has a prism but no base"
            )
        if base is not None and not _valid_base(base):
            yield ValidationIssue(
                field=f"{eye}.prism_base",
                code="invalid_prism_base",
                message=f"prism base {base!r} is not in/out/up/down or 0–360°",
            )


def _valid_base(base: Any) -> bool:
    """The canonical form only: the type's model has already turned ``BI``, ``innen``, ``270°`` … into it."""
    if not isinstance(base, str):
        return False
    return base in PRISM_BASES or (base.isdigit() and str(int(base)) == base and int(base) <= 360)


def pupillary_distance_range(data: dict[str, Any]) -> Iterator[ValidationIssue]:
    """Binocular PD 40–85 mm, monocular 20–45 mm, and right + left ≈ binocular within 1 mm."""
    binocular = number(data, "pupillary_distance.binocular")
    if binocular is not None and not 40 <= binocular <= 85:
        yield ValidationIssue(
            field="pupillary_distance.binocular", code="out_of_range", message=f"PD {binocular} mm is not 40–85 mm"
        )
    monocular = {eye: number(data, f"pupillary_distance.{eye}") for eye in EYES}
    for eye, value in monocular.items():
        if value is not None and not 20 <= value <= 45:
            yield ValidationIssue(
                field=f"pupillary_distance.{eye}", code="out_of_range", message=f"{eye} PD {value} mm is not 20–45 mm"
            )
    right, left = monocular["right"], monocular["left"]
    if binocular is not None and right is not None and left is not None and abs(right + left - binocular) > 1.0:
        yield ValidationIssue(
            field="pupillary_distance.binocular",
            code="sum_mismatch",
            message=f"right {right} + left {left} mm ≠ binocular {binocular} mm",
        )


def birth_before_issue(data: dict[str, Any]) -> Iterator[ValidationIssue]:
    """The patient was born before the prescription was issued and is at most 120 (code ``implausible_date``)."""
    birth, issued = get_path(data, "patient.date_of_birth"), get_path(data, "issue_date")
    try:
        born = date.fromisoformat(birth) if isinstance(birth, str) else None
        on = date.fromisoformat(issued) if isinstance(issued, str) else date.today()
    except ValueError:
        return
    if born is not None and (born > on or (on - born).days > 120 * 366):
        yield ValidationIssue(
            field="patient.date_of_birth",
            code="implausible_date",
            message=f"date of birth {born} is not plausible for a prescription issued {on}",
        )


def some_power(data: dict[str, Any]) -> Iterator[ValidationIssue]:
    """A prescription states at least one sphere (code ``missing``)."""
    if all(number(data, f"{eye}.sphere") is None for eye in EYES):
        yield ValidationIssue(field="right.sphere", code="missing", message="no sphere found for either eye")


PRESCRIPTION_RULES: list[Rule] = [
    required("patient.name", "issue_date"),
    some_power,
    plausible_date("issue_date", max_future_days=31),
    plausible_date("patient.date_of_birth", max_future_days=0),
    birth_before_issue,
    *[_power(f"{eye}.sphere", -30.0, 30.0, "sphere") for eye in EYES],
    *[_power(f"{eye}.cylinder", -10.0, 10.0, "cylinder") for eye in EYES],
    axis_with_cylinder,
    addition_range,
    prism_range,
    pupillary_distance_range,
]
