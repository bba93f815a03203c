"""The repair agent: validation errors go back to the model with the document; bounded attempts.

Each call is one activity; the workflow decides how many calls (``max_attempts`` bounds the loop inside one call).
Without an LLM, fields that fail validation are re-read by the offline extractor where that clears the error.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from agents.llm import Llm
from agents.models import Extraction
from agents.offline import offline_extract
from agents.prompts import repair_prompt
from agents.provenance import apply_validation, attach_provenance
from agents.tables import row_provenance, validate_read
from extractors.model import Document
from extractors.rules import get_path, set_path
from extractors.types import DocumentType
from extractors.validation import ValidationReport

log = logging.getLogger(__name__)


def repair(
    document: Document,
    doc_type: DocumentType,
    extraction: Extraction,
    report: ValidationReport,
    llm: Llm | None = None,
    *,
    max_attempts: int = 1,
) -> Extraction:
    """``extraction`` corrected so that fewer (ideally no) validation errors remain; unchanged when valid."""
    if report.valid:
        return extraction
    if llm is None:
        return _offline_repair(document, doc_type, extraction, report)
    current, current_report = extraction, report
    usage = list(extraction.usage)
    attempts = extraction.attempts
    for _attempt in range(max(1, max_attempts)):
        system, user = repair_prompt(document, doc_type, current.data, current_report.errors, json_mode=False)
        _system, json_user = repair_prompt(document, doc_type, current.data, current_report.errors, json_mode=True)
        data, calls = llm.complete_json(
            operation="repair", system=system, user=user, schema=doc_type.json_schema, json_mode_user=json_user
        )
        usage.extend(calls)
        attempts += len(calls)
        fields = row_provenance(
            document, doc_type, data, attach_provenance(document, doc_type, data, "repair"), "repair"
        )
        current = Extraction(
            doc_type=doc_type.name, data=data, fields=fields, usage=usage, method="repair", attempts=attempts
        )
        current_report = validate_read(doc_type, data, document)
        if current_report.valid:
            break
    return apply_validation(current, current_report.errors)


def _offline_repair(
    document: Document, doc_type: DocumentType, extraction: Extraction, report: ValidationReport
) -> Extraction:
    offline = offline_extract(document, doc_type)
    data: dict[str, Any] = copy.deepcopy(extraction.data)
    fields = dict(extraction.fields)
    errors = len(report.errors)
    for field in sorted(report.fields_with_errors()):
        value = get_path(offline.data, field)
        if value is None or value == get_path(data, field):
            continue
        trial = copy.deepcopy(data)
        set_path(trial, field, value)
        trial_errors = len(validate_read(doc_type, trial, document).errors)
        if trial_errors < errors:
            data, errors = trial, trial_errors
            if field in offline.fields:
                fields[field] = offline.fields[field]
    repaired = extraction.model_copy(update={"data": data, "fields": fields, "method": "repair"})
    return apply_validation(repaired, validate_read(doc_type, data, document).errors)
