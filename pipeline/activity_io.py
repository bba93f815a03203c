"""Typed inputs and outputs of the workflow and its activities. All small: big things travel as blob keys."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from pipeline.models import ErrorInfo, FieldChange, Review, SplitProposal, Usage


class Options(BaseModel):
    """Settings the workflow needs, fixed at submission so replays are deterministic."""

    review_timeout_seconds: float
    review_confidence_threshold: float
    max_repairs: int
    llm_max_attempts: int
    llm_first_retry_seconds: float
    activity_max_attempts: int
    vision: bool = False
    events: bool = Field(False, description="publish each status change (pipeline/events.py)")
    events_max_attempts: int = 20
    bundles: bool = Field(False, description="split a file of several documents into parts (agents/bundles.py)")


class PartInput(BaseModel):
    """What a part of a bundle starts with: its pages, already read with the bundle's (never the pages themselves)."""

    bundle_id: str
    page_keys: list[str]
    media_type: str | None = None


class DocumentInput(BaseModel):
    """The workflow's input: one document, already stored as a content-addressed blob."""

    doc_id: str
    filename: str
    sha256: str
    original_key: str
    requested_type: str | None = None
    inbox_path: str | None = None
    traceparent: str | None = None
    options: Options
    part: PartInput | None = Field(None, description="set when this document is a part of a bundle")


class Step(BaseModel):
    """Every activity input: which document, and the trace it belongs to."""

    doc_id: str
    traceparent: str | None = None


class Outcome(BaseModel):
    """Every activity output carries the document's own error (a DocumentError), never an infrastructure one."""

    error: ErrorInfo | None = None


class PageRef(BaseModel):
    number: int
    dpi: float
    image_key: str | None = None
    text_key: str | None = Field(None, description="blob key of a text-layer Page (no OCR needed)")


class PagesOut(Outcome):
    media_type: str | None = None
    pages: list[PageRef] = Field(default_factory=list)


class LlmStep(Step):
    """An activity that may ask the LLM; ``offline`` makes it use the offline extractor instead."""

    offline: bool = False


class OcrIn(Step):
    page: PageRef
    pages: int
    hint: list[str] | None = Field(None, description="languages of the document's first page: skips the probe")


class OcrOut(Outcome):
    page_key: str | None = None
    image_key: str | None = Field(None, description="the upright page image the page's boxes refer to")
    languages: list[str] = Field(default_factory=list, description="languages OCR chose for this page")


class PagesRead(Step):
    images: dict[int, str]


class DocumentStep(LlmStep):
    """A step over the document's read pages."""

    page_keys: list[str]
    media_type: str | None = Field(None, description="as split_pages found it; None: read from the record")


class ClassifyIn(DocumentStep):
    requested_type: str | None = None


class ClassifyOut(Outcome):
    document_type: str | None = None
    language: str | None = None
    usage: Usage = Field(default_factory=Usage)


class ExtractIn(DocumentStep):
    document_type: str
    language: str | None = None


class DraftOut(Outcome):
    draft_key: str | None = None
    valid: bool = False
    codes: list[str] = Field(default_factory=list, description="the codes of the draft's validation errors")
    min_confidence: float = 1.0
    usage: Usage = Field(default_factory=Usage)


class RepairIn(DocumentStep):
    draft_key: str
    attempt: int


class VisionIn(DocumentStep):
    draft_key: str


class ReviewIn(Step):
    draft_key: str
    reasons: list[str]
    usage: Usage = Field(default_factory=Usage)


class ApplyReviewIn(Step):
    draft_key: str
    decision: Literal["approve", "reject"]
    corrections: dict[str, object] = Field(default_factory=dict)
    reviewer: str | None = Field(None, description="who decided (token name or the proxy's user header)")
    changes: list[FieldChange] = Field(default_factory=list, description="the fields changed, before and after")


class LearnIn(DocumentStep):
    """A reviewer approved the document: what the layout memory learns from it (``pipeline.layouts``)."""

    draft_key: str = Field(description="the approved draft, the reviewer's corrections applied")
    read_key: str = Field(description="the draft the reviewer saw")


class FinishIn(Step):
    status: Literal["completed", "failed", "rejected"]
    draft_key: str | None = None
    error: ErrorInfo | None = None
    review: Review | None = None
    usage: Usage = Field(default_factory=Usage)
    inbox_path: str | None = None


class EventIn(Step):
    """A status change to announce; ``event_id`` stays the same across retries and replays."""

    status: Literal["needs_review", "completed", "failed", "rejected"]
    event_id: str
    occurred_at: datetime


class SplitOut(Outcome):
    split: SplitProposal


class SplitReviewIn(Step):
    split: SplitProposal
    reasons: list[str]


class SplitDecision(BaseModel):
    """A reviewer's answer to an unsure split: ``boundaries`` are the pages that start a new document."""

    decision: Literal["approve", "reject"]
    boundaries: list[int] | None = None
    reviewer: str | None = None


class SplitBundleIn(DocumentStep):
    split: SplitProposal
    boundaries: list[int] | None = Field(None, description="a reviewer's; None: the proposal's")
    review: Review | None = None


class PartOut(BaseModel):
    doc_id: str
    pages: list[int]
    page_keys: list[str]


class PartsOut(Outcome):
    parts: list[PartOut] = Field(default_factory=list, description="empty: the file is one document")
