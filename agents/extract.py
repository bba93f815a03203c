"""The extractor agent: a document's OCR words → the type's data, with provenance for every field.

Without an LLM: the deterministic offline extractor. With one, ``hybrid`` (the default): the offline extractor
first, then one call for the fields it could not settle (``agents.hybrid``), none when it settled them all; or
``llm``: one call for the whole schema. Both ask in the best output mode the component accepts (``agents.llm``)
with the page text within the model's context (``agents.prompts``). A pure function of its inputs.

A layout memory of the document's sender (``agents.layout_memory``) reads the fields it knows the learned way in the
offline pass (so a hybrid extraction asks the model about fewer fields), and a model gets the learned layout as hints.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Literal

from agents.hybrid import merge, sub_schema, unsettled
from agents.layout_memory import LayoutMemory, apply_memory, hints
from agents.llm import Llm, LlmError
from agents.models import Extraction
from agents.offline import offline_extract
from agents.prompts import (
    DEFAULT_ANSWER_TOKENS,
    Box,
    ExtractionPrompt,
    compact_extraction_prompt,
    estimate_tokens,
    fields_prompt,
)
from agents.provenance import apply_validation, attach_provenance
from agents.tables import printed_tables, row_provenance, validate_read
from extractors.model import Document
from extractors.rules import get_path
from extractors.types import DocumentType

log = logging.getLogger(__name__)

__all__ = ["LlmError", "Strategy", "extract", "scored"]

Strategy = Literal["hybrid", "llm"]


def extract(
    document: Document,
    doc_type: DocumentType,
    llm: Llm | None = None,
    *,
    strategy: Strategy = "hybrid",
    memory: LayoutMemory | None = None,
    layout: bool = True,
) -> Extraction:
    """``doc_type``'s data from ``document``: offline, then through ``llm`` as ``strategy`` says; ``memory`` is the
    layout its sender's reviewed documents taught, if any; ``layout``: the page text sent with its layout (columns
    and table rows as rows), else its lines as read."""
    learned = hints(memory) if memory is not None else ""
    if llm is not None and strategy == "llm":
        return _whole(document, doc_type, llm, learned, layout=layout)
    found = offline_extract(document, doc_type)
    if memory is not None:
        found = apply_memory(found, document, doc_type, memory)
    offline = scored(found, doc_type, document)
    if llm is None:
        return offline
    asked = unsettled(offline, doc_type, validate_read(doc_type, offline.data, document))
    if not asked:
        return offline
    readings = {path: get_path(offline.data, path) for path in asked if get_path(offline.data, path) is not None}
    schema = sub_schema(doc_type.json_schema, asked)
    prompt = fields_prompt(
        document,
        doc_type,
        asked,
        readings,
        context_tokens=llm.context_tokens,
        answer_tokens=256 + _room(learned),
        layout=layout,
        omit=_item_rows(document, doc_type),
    )
    prompt = _with_layout(prompt, learned)
    answer, usage = llm.complete_json(
        operation="extract", system=prompt.system, user=prompt.user, schema=schema, json_mode_user=prompt.json_mode_user
    )
    merged, decisions = merge(document, doc_type, offline, answer, asked)
    for decision in decisions:
        log.debug("field %s: %s (%s)", decision.path, decision.chosen, decision.reason)
    return merged.model_copy(update={"usage": usage, "attempts": len(usage)})


def _item_rows(document: Document, doc_type: DocumentType) -> dict[int, list[Box]]:
    """Where the item rows of the document's tables are printed (page -> boxes): a hybrid call asks only scalar
    fields (``hybrid.unsettled``), and a long table is most of a page's tokens and says nothing of them."""
    rows: dict[int, list[Box]] = {}
    for table in printed_tables(document, doc_type):
        for row in table.rows:
            rows.setdefault(row.page, []).append(row.bbox)
    return rows


def _whole(document: Document, doc_type: DocumentType, llm: Llm, learned: str = "", *, layout: bool) -> Extraction:
    """The whole schema asked of the model in one call; each value then located among the OCR words."""
    prompt = compact_extraction_prompt(
        document,
        doc_type,
        context_tokens=llm.context_tokens,
        answer_tokens=DEFAULT_ANSWER_TOKENS + _room(learned),
        layout=layout,
    )
    prompt = _with_layout(prompt, learned)
    data, usage = llm.complete_json(
        operation="extract",
        system=prompt.system,
        user=prompt.user,
        schema=doc_type.json_schema,
        json_mode_user=prompt.json_mode_user,
    )
    fields = row_provenance(document, doc_type, data, attach_provenance(document, doc_type, data, "llm"), "llm")
    extraction = Extraction(
        doc_type=doc_type.name, data=data, fields=fields, usage=usage, method="llm", attempts=len(usage)
    )
    return scored(extraction, doc_type, document)


def _room(learned: str) -> int:
    """Tokens the learned layout's hints take: kept free of page text when the prompt is fitted to the context."""
    return estimate_tokens(learned) + 8 if learned else 0


def _with_layout(prompt: ExtractionPrompt, learned: str) -> ExtractionPrompt:
    """``prompt`` with the learned layout after the document (layout only: no other document's values)."""
    if not learned:
        return prompt
    return dataclasses.replace(
        prompt, user=f"{prompt.user}\n\n{learned}\n", json_mode_user=f"{prompt.json_mode_user}\n\n{learned}\n"
    )


def scored(extraction: Extraction, doc_type: DocumentType, document: Document) -> Extraction:
    """``extraction`` of ``document`` with the confidence of fields that fail validation lowered: confidence = OCR
    confidence × match quality × (½ when a rule rejects the field). Line items are checked against the rows the
    document's table prints, whoever read them (``agents.tables``)."""
    return apply_validation(extraction, validate_read(doc_type, extraction.data, document).errors)
