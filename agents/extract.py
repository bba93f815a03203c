"""The extractor agent: a document's OCR words → the type's data, with provenance for every field.

With an LLM: one Conversation API call (in the best output mode the component accepts, see ``agents.llm``), then
each returned value is located among the OCR words. Without: the deterministic offline extractor. A pure function
of its inputs.
"""

from __future__ import annotations

import logging

from agents.llm import Llm, LlmError
from agents.models import Extraction
from agents.offline import offline_extract
from agents.prompts import extraction_prompt
from agents.provenance import apply_validation, attach_provenance
from extractors.model import Document
from extractors.types import DocumentType
from extractors.validation import validate

log = logging.getLogger(__name__)

__all__ = ["LlmError", "extract", "scored"]


def extract(document: Document, doc_type: DocumentType, llm: Llm | None = None) -> Extraction:
    """``doc_type``'s data from ``document``: through ``llm`` when given, else offline."""
    if llm is None:
        return scored(offline_extract(document, doc_type), doc_type, document.language)
    system, user = extraction_prompt(document, doc_type, json_mode=False)
    _system, json_user = extraction_prompt(document, doc_type, json_mode=True)
    data, usage = llm.complete_json(
        operation="extract", system=system, user=user, schema=doc_type.json_schema, json_mode_user=json_user
    )
    fields = attach_provenance(document, doc_type, data, "llm")
    extraction = Extraction(
        doc_type=doc_type.name, data=data, fields=fields, usage=usage, method="llm", attempts=len(usage)
    )
    return scored(extraction, doc_type, document.language)


def scored(extraction: Extraction, doc_type: DocumentType, language: str | None = None) -> Extraction:
    """``extraction`` with the confidence of fields that fail validation lowered: confidence = OCR confidence ×
    match quality × (½ when a rule rejects the field). ``language`` is the document's."""
    return apply_validation(extraction, validate(doc_type, extraction.data, language).errors)
