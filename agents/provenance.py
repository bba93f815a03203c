"""Where a value came from: find the OCR words a (model-returned) value was read from, and score confidence.

Typed values are compared by meaning (``1.234,56`` matches 1234.56, ``03.04.2024`` matches ``2024-04-03``); text
is fuzzy-matched (rapidfuzz) on accent-folded word n-grams. Confidence = mean OCR confidence × match quality,
halved for a field that fails validation.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from rapidfuzz import fuzz

from agents.models import Extraction, ExtractionMethod, FieldValue
from extractors.model import BBox, Document, Word, union_bbox
from extractors.normalize import compact, fold, parse_amount, parse_date, parse_diopter
from extractors.rules import ValidationIssue
from extractors.types import DocumentType, FieldKind

MIN_TEXT_MATCH = 0.6
# Confidence of a value no OCR word supports: the model may have inferred it (e.g. currency from "€").
UNSUPPORTED_CONFIDENCE = 0.3
INVALID_FACTOR = 0.5


@dataclass(frozen=True)
class Match:
    page: int
    words: tuple[Word, ...]
    score: float

    @property
    def bbox(self) -> BBox:
        return union_bbox([word.bbox for word in self.words])

    @property
    def text(self) -> str:
        return " ".join(word.text for word in self.words)

    @property
    def ocr_confidence(self) -> float:
        return sum(word.conf for word in self.words) / len(self.words)


def leaf_values(data: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(dotted path, value)`` for every non-empty leaf in ``data`` (list items by index)."""
    if isinstance(data, Mapping):
        for key, value in data.items():
            yield from leaf_values(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from leaf_values(value, f"{prefix}.{index}" if prefix else str(index))
    elif data is not None and data != "":
        yield prefix, data


def spec_path(path: str) -> str:
    """``line_items.0.amount`` → ``line_items[].amount``: the field spec a data path belongs to."""
    parts = path.split(".")
    out: list[str] = []
    for part in parts:
        if part.isdigit() and out:
            out[-1] += "[]"
        else:
            out.append(part)
    return ".".join(out)


def _spans(document: Document, max_words: int) -> Iterator[tuple[int, tuple[Word, ...]]]:
    for page in document.pages:
        for line in page.lines:
            words = line.words
            for start in range(len(words)):
                for end in range(start + 1, min(len(words), start + max_words) + 1):
                    yield page.number, tuple(words[start:end])


def _typed_score(kind: FieldKind, value: Any, text: str) -> float:
    if kind == "date":
        expected = value if isinstance(value, date) else parse_date(str(value))
        return 1.0 if expected is not None and parse_date(text) == expected else 0.0
    if kind in ("amount", "number", "int", "diopter"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return 0.0
        parsed = parse_diopter(text) if kind == "diopter" else parse_amount(text)
        if parsed is None or not any(ch.isdigit() for ch in text):
            return 1.0 if kind == "diopter" and parsed == value else 0.0
        return 1.0 if abs(parsed - float(value)) < 0.005 else 0.0
    if kind in ("iban", "vat_id", "identifier"):
        wanted, seen = compact(str(value)), compact(text)
        if wanted == seen:
            return 1.0
        return fuzz.ratio(wanted, seen) / 100.0 * 0.9
    return fuzz.ratio(fold(str(value)), fold(text)) / 100.0


def locate(document: Document, value: Any, kind: FieldKind = "text") -> Match | None:
    """The OCR words that best support ``value`` read as ``kind``, or ``None`` when nothing matches well enough.

    Ties go to the shortest span, then to the first in reading order, so the answer is deterministic.
    """
    text_value = str(value)
    tokens = len(text_value.split())
    typed = kind in ("date", "amount", "number", "int", "diopter")
    # IBANs and VAT IDs are printed in groups: "DE89 3704 0044 0532 0130 00".
    max_words = 4 if typed else 9 if kind in ("iban", "vat_id", "identifier") else min(tokens + 3, 12)
    best: Match | None = None
    for page_number, words in _spans(document, max_words):
        text = " ".join(word.text for word in words)
        if not typed and abs(len(text) - len(text_value)) > max(6, len(text_value)):
            continue
        score = _typed_score(kind, value, text)
        if score <= 0:
            continue
        if (
            best is None
            or score > best.score + 1e-9
            or (abs(score - best.score) <= 1e-9 and len(words) < len(best.words))
        ):
            best = Match(page=page_number, words=words, score=score)
    if best is None or best.score < MIN_TEXT_MATCH:
        return None
    return best


def field_from_match(value: Any, match: Match | None, source: ExtractionMethod) -> FieldValue:
    if match is None:
        return FieldValue(value=value, confidence=UNSUPPORTED_CONFIDENCE, match=0.0, source=source)
    return FieldValue(
        value=value,
        confidence=round(match.ocr_confidence * match.score, 4),
        page=match.page,
        bbox=match.bbox,
        text=match.text,
        match=round(match.score, 4),
        source=source,
    )


def attach_provenance(
    document: Document, doc_type: DocumentType, data: Mapping[str, Any], source: ExtractionMethod
) -> dict[str, FieldValue]:
    """Provenance for every leaf of ``data`` (typically a model's answer), found by matching the OCR words."""
    kinds = {spec.path: spec.kind for spec in doc_type.fields()}
    fields: dict[str, FieldValue] = {}
    for path, value in leaf_values(data):
        kind = kinds.get(spec_path(path), "text")
        fields[path] = field_from_match(value, locate(document, value, kind), source)
    return fields


def apply_validation(extraction: Extraction, issues: list[ValidationIssue]) -> Extraction:
    """``extraction`` with the confidence of every field an error names (or lies under) halved."""
    failing = {issue.field for issue in issues if issue.severity == "error"}
    if not failing:
        return extraction
    fields = {}
    for path, field in extraction.fields.items():
        hit = any(path == name or path.startswith(name + ".") for name in failing)
        fields[path] = (
            field.model_copy(update={"confidence": round(field.confidence * INVALID_FACTOR, 4)}) if hit else field
        )
    return extraction.model_copy(update={"fields": fields})
