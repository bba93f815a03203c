"""Hybrid extraction: the offline extractor reads the document first (milliseconds); the model is asked only for
the fields it could not settle, with what the offline pass saw as hints, and each field is then decided by
evidence: agreement, the type's rules (checksums, net + tax = total, due after issue), and whether the value is
printed on the page at all.

A small local model costs tens of seconds per call, mostly for the tokens it writes: asking for four fields
instead of the whole schema, and not asking at all when everything is settled, is where the time goes.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from agents.models import Extraction, FieldValue
from agents.provenance import apply_validation, field_from_match, locate
from agents.tables import validate_read
from extractors.compare import same_value
from extractors.model import Document
from extractors.normalize import parse_amount, parse_date
from extractors.rules import get_path, set_path
from extractors.types import DocumentType, FieldKind
from extractors.validation import ValidationReport

# A field the offline pass read with less confidence than this is asked of the model.
SETTLED_CONFIDENCE = 0.8
# Confidence of a value the offline pass and the model read alike, from the same printed words.
AGREED_CONFIDENCE = 0.97

Reason = Literal["agreed", "offline_only", "model_only", "model_not_printed", "rules", "printed", "offline_sure"]


@dataclass(frozen=True)
class Decision:
    """How one asked field was decided: for the bench, the logs and the tests."""

    path: str
    offline: Any
    model: Any
    chosen: Literal["offline", "model", "none"]
    reason: Reason


def scalar_paths(doc_type: DocumentType) -> list[str]:
    return [spec.path for spec in doc_type.fields() if "[]" not in spec.path]


def unsettled(offline: Extraction, doc_type: DocumentType, report: ValidationReport) -> list[str]:
    """The scalar fields to ask the model about: not found, read with low confidence, or named by a rule."""
    failing = report.fields_with_errors()
    out = []
    for path in scalar_paths(doc_type):
        field = offline.fields.get(path)
        if field is None or field.confidence < SETTLED_CONFIDENCE or path in failing:
            out.append(path)
    return out


def _resolved(schema: dict[str, Any], node: Any) -> Any:
    """``node`` with local ``$ref``s replaced by what they point at."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            target: Any = schema
            for part in ref[2:].split("/"):
                target = target.get(part, {}) if isinstance(target, dict) else {}
            merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
            return _resolved(schema, merged)
        return {key: _resolved(schema, value) for key, value in node.items() if key != "$defs"}
    if isinstance(node, list):
        return [_resolved(schema, item) for item in node]
    return node


def sub_schema(schema: dict[str, Any], paths: Sequence[str]) -> dict[str, Any]:
    """The type's JSON schema cut down to ``paths`` (dotted; objects kept as far as a path reaches into them)."""
    full = _resolved(schema, schema)

    def cut(node: dict[str, Any], wanted: list[list[str]]) -> dict[str, Any]:
        properties = node.get("properties") or {}
        kept: dict[str, Any] = {}
        for name, child in properties.items():
            below = [path[1:] for path in wanted if path and path[0] == name]
            if not below:
                continue
            if any(not rest for rest in below) or not isinstance(child, dict) or "properties" not in child:
                kept[name] = child
            else:
                kept[name] = cut(child, below)
        out = {key: value for key, value in node.items() if key not in ("properties", "required")}
        out["properties"] = kept
        return out

    return cut(full, [path.split(".") for path in paths])


def _typed(kind: FieldKind, value: Any) -> Any:
    """A model's answer in the JSON form docline keeps: amounts as numbers, dates as ISO text; None for junk."""
    if value is None or value == "" or isinstance(value, dict | list):
        return None
    if kind in ("amount", "number"):
        if isinstance(value, bool):
            return None
        return float(value) if isinstance(value, int | float) else parse_amount(str(value))
    if kind == "date":
        parsed = parse_date(str(value))
        return parsed.isoformat() if parsed else None
    return value


def merge(
    document: Document,
    doc_type: DocumentType,
    offline: Extraction,
    answer: dict[str, Any],
    asked: Sequence[str],
) -> tuple[Extraction, list[Decision]]:
    """``offline`` completed and corrected by the model's ``answer`` for the ``asked`` fields, field by field."""
    kinds = {spec.path: spec.kind for spec in doc_type.fields()}
    data = copy.deepcopy(offline.data)
    fields: dict[str, FieldValue] = dict(offline.fields)
    decisions: list[Decision] = []
    for path in asked:
        kind = kinds.get(path, "text")
        mine = get_path(data, path)
        theirs = _typed(kind, get_path(answer, path))
        if theirs is None:
            decisions.append(Decision(path, mine, None, "offline" if mine is not None else "none", "offline_only"))
            continue
        where = locate(document, theirs, kind)
        if mine is None:
            set_path(data, path, theirs)
            fields[path] = field_from_match(theirs, where, "llm")
            decisions.append(Decision(path, None, theirs, "model", "model_only" if where else "model_not_printed"))
            continue
        if same_value(mine, theirs, path):
            current = fields.get(path)
            if current is not None:
                fields[path] = current.model_copy(update={"confidence": max(current.confidence, AGREED_CONFIDENCE)})
            decisions.append(Decision(path, mine, theirs, "offline", "agreed"))
            continue
        trial = copy.deepcopy(data)
        set_path(trial, path, theirs)
        errors_mine = len(validate_read(doc_type, data, document).errors)
        errors_theirs = len(validate_read(doc_type, trial, document).errors)
        offline_field = fields.get(path)
        take_model = False
        reason: Reason = "offline_sure"
        if errors_theirs != errors_mine:
            take_model, reason = errors_theirs < errors_mine, "rules"
        elif where is None:
            take_model, reason = False, "printed"  # the model's value is printed nowhere: keep what was read
        elif offline_field is None or offline_field.confidence < SETTLED_CONFIDENCE:
            take_model, reason = True, "printed"
        if take_model:
            data = trial
            fields[path] = field_from_match(theirs, where, "llm")
        decisions.append(Decision(path, mine, theirs, "model" if take_model else "offline", reason))
    merged = Extraction(
        doc_type=doc_type.name,
        data=data,
        fields=fields,
        usage=offline.usage,
        method="llm" if any(d.chosen == "model" for d in decisions) else "offline",
        attempts=offline.attempts,
    )
    return apply_validation(merged, validate_read(doc_type, data, document).errors), decisions
