"""The classifier agent: which registered type a document is, with a confidence.

Offline (no LLM): each type scores by its keywords and labels found in the accent-folded text, in every language
it declares; the confidence is the winner's share of all scores, damped when little matched at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from agents.llm import Llm
from agents.models import Classification
from agents.prompts import classification_prompt
from extractors.model import Document
from extractors.normalize import fold, phrases_in
from extractors.types import DocumentType
from extractors.types.hints import ANY_LANGUAGE

# Hits needed before the offline classifier is fully confident in a clear winner.
CONFIDENT_HITS = 6.0
# An offline classification this sure is not put to the model.
SURE_WITHOUT_MODEL = 0.6


_fold = lru_cache(maxsize=1 << 14)(fold)  # the types' keywords and labels, folded once


def offline_scores(document: Document, types: Sequence[DocumentType]) -> dict[str, float]:
    text = fold(document.text)
    scores: dict[str, float] = {}
    for doc_type in types:
        keywords = {_fold(word) for words in doc_type.keywords.values() for word in words}
        labels = {
            _fold(label)
            for per_lang in doc_type.labels.values()
            for language, labels_ in per_lang.items()
            # Hints made from a schema's property names and titles ("city", "total") are no evidence of a type.
            if language != ANY_LANGUAGE
            for label in labels_
            if len(label) >= 4
        }
        # Keywords name the kind of document; labels are weaker evidence (many types print "Date").
        scores[doc_type.name] = 2.0 * len(phrases_in(text, keywords)) + 0.5 * len(phrases_in(text, labels - keywords))
    return scores


def _offline(document: Document, types: Sequence[DocumentType]) -> Classification:
    scores = offline_scores(document, types)
    if not scores or max(scores.values()) <= 0:
        return Classification(type=None, confidence=0.0, scores=scores)
    best = max(scores, key=lambda name: (scores[name], name))
    share = scores[best] / sum(scores.values())
    confidence = share * min(1.0, scores[best] / CONFIDENT_HITS)
    return Classification(type=best, confidence=round(confidence, 4), scores=scores)


def classify(
    document: Document, types: Sequence[DocumentType], llm: Llm | None = None, *, offline_first: bool = False
) -> Classification:
    """The best-fitting of ``types`` for ``document``; ``type`` is ``None`` when nothing fits. With ``llm`` and
    ``offline_first``, the model is asked only when the offline scores leave it open (a call costs a small model
    tens of seconds)."""
    offline = _offline(document, types)
    if llm is None or (offline_first and offline.type is not None and offline.confidence >= SURE_WITHOUT_MODEL):
        return offline
    names = [t.name for t in types]
    schema = {
        "title": "classification",
        "type": "object",
        "properties": {
            "type": {"type": "string", "enum": [*names, "unknown"]},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        },
        "required": ["type", "confidence"],
    }
    system, user = classification_prompt(document, types)
    answer, usage = llm.complete_json(operation="classify", system=system, user=user, schema=schema)
    chosen = answer.get("type")
    try:
        confidence = min(1.0, max(0.0, float(answer.get("confidence", 0.0))))
    except (TypeError, ValueError):
        confidence = 0.0
    if chosen not in names:
        return Classification(type=None, confidence=0.0, usage=usage, method="llm")
    return Classification(type=str(chosen), confidence=confidence, usage=usage, method="llm")
