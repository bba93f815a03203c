"""What the agents return: extractions with per-field provenance, classifications, and LLM usage records.

Every model here is JSON-serialisable: they travel through workflow history as activity outputs.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from extractors.model import BBox

ExtractionMethod = Literal["offline", "llm", "vision", "repair", "review"]


class Usage(BaseModel):
    """One model call: who answered, how many tokens, how long it took."""

    provider: str
    model: str
    operation: str = Field(description="classify, extract, repair, vision")
    tokens_in: int = 0
    tokens_out: int = 0
    latency_ms: float = 0.0


class FieldValue(BaseModel):
    """One extracted leaf value with where it came from and how sure we are."""

    value: Any
    confidence: float = Field(ge=0.0, le=1.0)
    page: int | None = Field(None, description="1-based page of the OCR words the value came from")
    bbox: BBox | None = Field(None, description="box around those words, upright page pixels")
    text: str | None = Field(None, description="the OCR text the value was read from")
    match: float = Field(1.0, ge=0.0, le=1.0, description="how well that text matches the value (1 = exact)")
    source: ExtractionMethod = "offline"
    layout: str | None = Field(None, description="id of the layout memory the value was read by (None: not)")


class Extraction(BaseModel):
    """A document's data in the type's JSON form plus provenance for every leaf found (dotted paths)."""

    doc_type: str
    data: dict[str, Any] = Field(default_factory=dict)
    fields: dict[str, FieldValue] = Field(default_factory=dict)
    usage: list[Usage] = Field(default_factory=list)
    method: ExtractionMethod = "offline"
    attempts: int = Field(1, description="model calls it took, repair attempts included")


class Classification(BaseModel):
    type: str | None = Field(description="the registered type name, or None when nothing matched")
    confidence: float = Field(ge=0.0, le=1.0)
    scores: dict[str, float] = Field(default_factory=dict)
    usage: list[Usage] = Field(default_factory=list)
    method: Literal["offline", "llm"] = "offline"
