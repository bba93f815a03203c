"""The document result shape every client (REST API, CLI, outbox, review page) sees, and the records behind it."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

Status = Literal["queued", "running", "needs_review", "completed", "failed", "rejected"]
TERMINAL: frozenset[str] = frozenset({"completed", "failed", "rejected"})


class FieldInfo(BaseModel):
    value: Any = None
    confidence: float | None = None
    page: int | None = None
    bbox: tuple[float, float, float, float] | None = None
    layout: str | None = Field(None, description="the layout memory the value was read by (GET /v1/layouts)")


class ValidationIssue(BaseModel):
    field: str
    code: str
    message: str


class Validation(BaseModel):
    valid: bool = False
    errors: list[ValidationIssue] = Field(default_factory=list)


class Usage(BaseModel):
    llm_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            llm_calls=self.llm_calls + other.llm_calls,
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
        )


class Source(BaseModel):
    filename: str
    sha256: str
    pages: int | None = None
    media_type: str | None = None
    size: int | None = None


class ErrorInfo(BaseModel):
    code: str
    message: str


class FieldChange(BaseModel):
    """One field a reviewer changed: the value they were shown and the one they gave."""

    field: str
    before: Any = None
    after: Any = None


class Review(BaseModel):
    """Why the document went to review, and what the reviewer decided: who (the API token's name, or the user the
    proxy in front of docline named), when, and which fields they changed."""

    required: bool = False
    reasons: list[str] = Field(default_factory=list)
    decision: Literal["approve", "reject", "timeout"] | None = None
    corrections: dict[str, Any] = Field(default_factory=dict)
    decided_at: datetime | None = None
    reviewer: str | None = None
    changes: list[FieldChange] = Field(default_factory=list)


class Progress(BaseModel):
    """Where a running document is: the stage and, while reading pages, page k of n."""

    stage: str
    page: int | None = None
    pages: int | None = None


class Part(BaseModel):
    """One document cut from a bundle: its id and the bundle's pages it holds."""

    id: str
    pages: list[int]
    status: Status | None = Field(None, description="the part's own status, as its record says")
    document_type: str | None = None


class BundleRef(BaseModel):
    """The bundle a document was cut from, and which of its pages it holds."""

    id: str
    pages: list[int]


class SplitGap(BaseModel):
    """The gap before ``page`` of a bundle: how likely a new document starts there, and the signals that said so."""

    page: int
    score: float
    signals: list[str] = Field(default_factory=list)


class SplitProposal(BaseModel):
    """Where the machine would split a file into documents; ``unsure``: a person decides."""

    pages: int
    starts: list[int] = Field(description="the first page of each document")
    separators: list[int] = Field(default_factory=list, description="blank or barcode sheets, in no document")
    gaps: list[SplitGap] = Field(default_factory=list)
    unsure: bool = False


def part_id(bundle_id: str, pages: list[int]) -> str:
    """A part's document id: shaped like every other id (24 hex digits), the same for the same bundle and pages."""
    return hashlib.sha256(f"{bundle_id}:{','.join(map(str, pages))}".encode()).hexdigest()[:24]


class DocumentResult(BaseModel):
    id: str
    status: Status
    document_type: str | None = None
    language: str | None = None
    data: dict[str, Any] | None = None
    fields: dict[str, FieldInfo] = Field(default_factory=dict)
    validation: Validation = Field(default_factory=Validation)
    review: Review | None = None
    usage: Usage = Field(default_factory=Usage)
    source: Source
    error: ErrorInfo | None = None
    progress: Progress | None = None
    parts: list[Part] = Field(default_factory=list, description="a bundle's documents, each with its own result")
    bundle: BundleRef | None = Field(None, description="the bundle this document was cut from")
    split: SplitProposal | None = Field(None, description="how a file of several documents was split")
    created_at: datetime | None = None
    updated_at: datetime | None = None


class DocumentList(BaseModel):
    items: list[DocumentResult]
    next: str | None = None


class StoredDocument(DocumentResult):
    """What the state store keeps per document: the result plus what the application needs to find its parts."""

    workflow_id: str
    original_key: str
    page_images: dict[int, str] = Field(default_factory=dict, description="page number → blob key of its PNG")
    requested_type: str | None = None
    inbox_path: str | None = None

    def result(self) -> DocumentResult:
        return DocumentResult.model_validate(self.model_dump(include=set(DocumentResult.model_fields)))


class Draft(BaseModel):
    """The extraction as it moves through validate → repair → review; stored as a blob, passed by key."""

    document_type: str
    language: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    fields: dict[str, FieldInfo] = Field(default_factory=dict)
    validation: Validation = Field(default_factory=Validation)
