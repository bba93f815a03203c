"""Deterministic validation of extracted data: the type's schema first, then its rules.

``validate`` is a pure function of (type, data): the workflow runs it as an activity and the review page shows its
issues as they are.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import Any

from pydantic import BaseModel, Field

from extractors.rules import PrintedTable, ValidationIssue
from extractors.types import DocumentType

log = logging.getLogger(__name__)

__all__ = ["ValidationIssue", "ValidationReport", "validate"]


class ValidationReport(BaseModel):
    """``valid`` when no issue is an error; warnings are shown but do not block."""

    valid: bool
    errors: list[ValidationIssue] = Field(default_factory=list)
    warnings: list[ValidationIssue] = Field(default_factory=list)
    data: dict[str, Any] = Field(default_factory=dict, description="the data in JSON form, invalid fields removed")

    def fields_with_errors(self) -> set[str]:
        return {issue.field for issue in self.errors}


def validate(
    doc_type: DocumentType,
    data: Mapping[str, Any],
    language: str | None = None,
    printed: Sequence[PrintedTable] = (),
) -> ValidationReport:
    """Check ``data`` against ``doc_type``'s schema and rules; ``language`` is the document's (see
    ``DocumentType.coerce``); ``printed``: what the document's tables print, for the type's table rules
    (``agents.tables.validate_read`` reads it from the document)."""
    coerced, issues = doc_type.coerce(data, language)
    checks: list[tuple[object, Callable[[], Iterable[ValidationIssue]]]] = [
        *((rule, partial(rule, coerced)) for rule in doc_type.rules),
        *((rule, partial(rule, coerced, printed)) for rule in doc_type.table_rules),
    ]
    for rule, run in checks:
        try:
            issues.extend(run())
        except Exception:  # a rule bug must not lose the document: report it as an issue and log the bug
            name = getattr(rule, "__name__", repr(rule))
            log.exception("validation rule %s of type %s failed", name, doc_type.name)
            issues.append(ValidationIssue(field="$", code="rule_failed", message=f"rule {name} could not run"))
    unique = list(dict.fromkeys(issues))
    # A value the schema rejected was removed; "missing" on top of "invalid_value" would say the same twice.
    invalid = {issue.field for issue in unique if issue.code == "invalid_value"}
    unique = [issue for issue in unique if not (issue.code == "missing" and issue.field in invalid)]
    errors = [issue for issue in unique if issue.severity == "error"]
    warnings = [issue for issue in unique if issue.severity == "warning"]
    return ValidationReport(valid=not errors, errors=errors, warnings=warnings, data=coerced)
