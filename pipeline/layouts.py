"""Layout memories in the Dapr state store, shared by every replica: found for a document before it is extracted,
taught by a reviewer's decision, listed and forgotten through the REST API, and taken back when the document that
taught them is deleted. The learning and reading itself is ``agents.layout_memory``.

Keys: ``layout-<id>`` holds one memory (JSON), ``docline-layouts`` the ids of all of them. Every write is a
read-modify-write over the record's ETag, so two replicas learning at once both get their lesson in.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from agents.layout_memory import (
    LayoutMemory,
    add_lesson,
    best_match,
    forget,
    judge,
    lesson_from,
    memory_for,
    teaches,
    type_version,
)
from extractors.model import Document
from extractors.types import DocumentType, TypeRegistry
from pipeline.models import Draft, StoredDocument
from pipeline.store import ResultStore

log = logging.getLogger(__name__)

INDEX_KEY = "docline-layouts"
_PREFIX = "layout-"
LAYOUT_ID = re.compile(r"[0-9a-f]{16}")  # what agents.layout_memory.memory_id makes; anything else is none of ours


class LayoutSummary(BaseModel):
    """One memory as ``GET /v1/layouts`` shows it."""

    id: str
    document_type: str
    current: bool = Field(description="learned for the type's present fields (a memory of an older type is unused)")
    sender: dict[str, Any] = Field(description="the sender-constant values it knows (seller name, VAT ID, IBAN)")
    fields: list[str] = Field(description="the fields it reads")
    documents: list[str] = Field(description="the reviewed documents it was learned from, oldest first")
    hits: int = Field(description="reviewed documents it read where the reviewer changed none of its values")
    misses: int = Field(description="reviewed documents it read where the reviewer corrected one of its values")
    hit_rate: float | None = None
    created_at: datetime
    updated_at: datetime


class LayoutList(BaseModel):
    items: list[LayoutSummary]


class LayoutStore:
    def __init__(self, results: ResultStore, registry: TypeRegistry) -> None:
        self._results = results
        self._registry = registry

    # -- reading
    def ids(self) -> list[str]:
        return list(self._results.get_value(INDEX_KEY) or [])

    def get(self, memory_id: str) -> LayoutMemory | None:
        if not LAYOUT_ID.fullmatch(memory_id):
            return None
        return self._parse(self._results.get_value(_PREFIX + memory_id))

    def all(self) -> list[LayoutMemory]:
        found = self._results.get_values(_PREFIX + i for i in self.ids())
        return [m for m in (self._parse(raw) for raw in found.values()) if m is not None]

    @staticmethod
    def _parse(raw: Any) -> LayoutMemory | None:
        if raw is None:
            return None
        try:
            return LayoutMemory.model_validate(raw)
        except ValidationError:  # a memory of a format this release does not read: unused, not an error
            log.warning("unreadable layout memory ignored")
            return None

    def of_type(self, doc_type: DocumentType) -> list[LayoutMemory]:
        version = type_version(doc_type)
        return [m for m in self.all() if m.document_type == doc_type.name and m.type_version == version]

    def find(self, document: Document, doc_type: DocumentType) -> LayoutMemory | None:
        """The memory of ``document``'s sender and layout, if one was learned."""
        return best_match(self.of_type(doc_type), document, doc_type)

    def summaries(self) -> LayoutList:
        items = []
        for memory in sorted(self.all(), key=lambda m: m.created_at):
            current = memory.document_type in self._registry and memory.type_version == type_version(
                self._registry.get(memory.document_type)
            )
            items.append(
                LayoutSummary(
                    id=memory.id,
                    document_type=memory.document_type,
                    current=current,
                    sender=memory.sender,
                    fields=memory.fields,
                    documents=memory.documents,
                    hits=memory.hits,
                    misses=memory.misses,
                    hit_rate=memory.hit_rate,
                    created_at=memory.created_at,
                    updated_at=memory.updated_at,
                )
            )
        return LayoutList(items=items)

    # -- writing
    def _write(
        self, memory_id: str, change: Callable[[LayoutMemory | None], LayoutMemory | None]
    ) -> LayoutMemory | None:
        """Change one memory over its ETag (``change``: the memory or None → the new one or None to delete it) and
        keep the index in step."""

        def apply(raw: Any) -> Any:
            new = change(self._parse(raw))
            return None if new is None else new.model_dump(mode="json")

        written = self._results.update_value(_PREFIX + memory_id, apply)
        if written is None:
            self._results.update_value(INDEX_KEY, lambda ids: [i for i in ids or [] if i != memory_id])
        else:
            self._results.update_value(
                INDEX_KEY, lambda ids: ids if ids and memory_id in ids else [*(ids or []), memory_id]
            )
        return None if written is None else LayoutMemory.model_validate(written)

    def learn(
        self, doc_id: str, document: Document, doc_type: DocumentType, reviewed: Draft, read: Draft
    ) -> str | None:
        """What a reviewer's approval of ``doc_id`` teaches. ``read`` is the draft the reviewer saw, ``reviewed`` the
        one they approved (with their corrections). First the memories that read the draft are told what the
        reviewer kept and corrected (one corrected review after another drops a memory); then the document's
        lesson goes into its sender's memory, or a new one. Returns the id of the memory it went into."""
        now = datetime.now(UTC)
        by_memory: dict[str, dict[str, Any]] = {}
        for path, info in read.fields.items():
            if info.layout:
                by_memory.setdefault(info.layout, {})[path] = info.value
        for memory_id, values in by_memory.items():

            def judged_by(memory: LayoutMemory | None, values: dict[str, Any] = values) -> LayoutMemory | None:
                return None if memory is None else judge(memory, doc_id, values, reviewed.data)

            if self._write(memory_id, judged_by) is None:
                log.info("layout memory %s dropped: corrected again and again", memory_id, extra={"doc_id": doc_id})
        positions = {path: (info.value, info.page, info.bbox) for path, info in read.fields.items()}
        lesson = lesson_from(document, doc_type, reviewed.data, doc_id, now, positions)
        if not lesson.fields:
            return None
        target = memory_for(self.of_type(doc_type), lesson, document, doc_type)
        memory_id = add_lesson(target, lesson, doc_type, now).id
        # Onto the memory as it is now (another replica may have taught it meanwhile).
        self._write(memory_id, lambda m: add_lesson(m, lesson, doc_type, now))
        log.info("layout memory %s learned from %s", memory_id, doc_id, extra={"doc_id": doc_id})
        return memory_id

    def forget_document(self, doc_id: str) -> list[str]:
        """Take back what ``doc_id`` taught any memory (its lesson and what its review said); a memory left with no
        lesson is deleted. Returns the ids of the memories changed. Erasure calls this for every deleted document."""
        changed = []
        for memory in self.all():
            if teaches(memory, doc_id):
                self._write(memory.id, lambda m: None if m is None else forget(m, doc_id))
                changed.append(memory.id)
        if changed:
            log.info("document %s taken back from layout memories %s", doc_id, changed, extra={"doc_id": doc_id})
        return changed

    def erase(self, doc: StoredDocument) -> None:
        """A deleted document takes back what it taught (the service's erasers call this on DELETE and retention)."""
        self.forget_document(doc.id)

    def delete(self, memory_id: str) -> bool:
        """Forget one memory; False when there is none."""
        if self.get(memory_id) is None:
            return False
        self._write(memory_id, lambda _m: None)
        return True
