"""The REST API's request and response bodies (the result itself is ``pipeline.models.DocumentResult``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from pipeline.models import DocumentList, DocumentResult

__all__ = ["DocumentList", "DocumentResult", "Problem", "ReviewDecision"]


class ReviewDecision(BaseModel):
    decision: Literal["approve", "reject"]
    corrections: dict[str, Any] = Field(default_factory=dict)
    reviewer: str | None = None
    boundaries: list[int] | None = Field(
        None,
        description="for a file whose split into documents waits for review: the pages that start a new document "
        "([] = one document); leave out to accept the proposed split",
    )


class Problem(BaseModel):
    """Error body of every 4xx/5xx the API returns on purpose."""

    detail: str
    code: str | None = None
