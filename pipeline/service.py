"""What the REST API, the inbox and the CLI do with documents: submit, look up, list, review, delete.

It talks to the sidecar only through the Dapr SDK (workflow client, state, bindings), so it runs unchanged against
daprd. Submitting is idempotent: the document id is derived from the content, the workflow id from the document id.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import secrets
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

import dapr.ext.workflow as wf

from extractors.errors import FileTooLarge, UnknownDocumentType
from extractors.rules import get_path
from pipeline.activity_io import DocumentInput, Options
from pipeline.models import TERMINAL, DocumentResult, FieldChange, Progress, Source, StoredDocument
from pipeline.settings import Settings
from pipeline.store import BLOB_KEYS, BlobStore, ResultStore, message_too_large, sha256_hex
from pipeline.tracing import current_traceparent, tracer
from pipeline.understanding import apply_corrections
from pipeline.workflow import REVIEW_EVENT, SPLIT_UNSURE, WORKFLOW_NAME, workflow_id

log = logging.getLogger(__name__)


class NotFound(LookupError):
    pass


class BadCorrection(ValueError):
    """A review correction that does not fit the document's data."""


class Conflict(RuntimeError):
    """The request does not fit the document's state (e.g. a review for a document not waiting for one)."""


class Eraser(Protocol):
    """A place where a document leaves data (the inbox, the blob store, a cache, a layout memory, ...). ``erase``
    removes all of it; it is idempotent (a part already gone is no error), as a DELETE may be repeated."""

    def erase(self, doc: StoredDocument) -> None: ...


# What document_id() makes (plus the suffix of a forced resubmission); anything else is no document of ours.
DOCUMENT_ID = re.compile(r"[0-9a-f]{24}(-[0-9a-f]{8})?")


def document_id(sha256: str) -> str:
    """Ids are short, URL-safe and derived from the content: the same bytes are the same document."""
    return sha256[:24]


class DocumentService:
    def __init__(
        self,
        settings: Settings,
        results: ResultStore,
        blobs: BlobStore,
        workflows: wf.DaprWorkflowClient,
        erasers: Sequence[Eraser] = (),
        history: Callable[[str], bytes] | None = None,
    ) -> None:
        self.settings = settings
        self.results = results
        self.blobs = blobs
        self.workflows = workflows
        # Everything a DELETE must reach besides the record, its blobs, its outbox file and its workflow (the inbox,
        # the LLM replies, ...); start-up adds to it, and so may any part that learns from documents.
        self.erasers: list[Eraser] = list(erasers)
        # A workflow's history as bytes (every activity's input and output): it names the blobs the document wrote.
        self.history = history
        self.vision = False  # set at start-up when the conversation component can also read images
        self.types: set[str] = set()  # the document types the workers know, set at start-up
        # Deleted documents to look at again for late writes, by id: done early at close, while the stores answer.
        self._late_erasures: dict[str, tuple[threading.Timer, StoredDocument]] = {}
        self._late_lock = threading.Lock()

    def options(self) -> Options:
        s = self.settings
        return Options(
            review_timeout_seconds=s.review_timeout_seconds,
            review_confidence_threshold=s.review_confidence_threshold,
            max_repairs=s.max_repairs,
            llm_max_attempts=s.llm_max_attempts,
            llm_first_retry_seconds=s.llm_first_retry_seconds,
            activity_max_attempts=s.activity_max_attempts,
            vision=self.vision,
            events=s.events,
            events_max_attempts=s.events_max_attempts,
            bundles=s.bundles,
        )

    # -- submit
    def submit(
        self,
        data: bytes,
        filename: str,
        *,
        requested_type: str | None = None,
        force: bool = False,
        inbox_path: str | None = None,
    ) -> tuple[StoredDocument, bool]:
        """Store the original and start its workflow. Returns (document, created)."""
        if requested_type and requested_type not in self.types:
            raise UnknownDocumentType(f"There is no document type {requested_type!r}.")
        if len(data) > self.settings.max_upload_bytes:
            raise FileTooLarge(
                f"The file is {len(data) / 1e6:.1f} MB; the limit is {self.settings.max_upload_bytes / 1e6:.1f} MB."
            )
        digest = sha256_hex(data)
        doc_id = document_id(digest)
        if force:
            doc_id = f"{doc_id}-{secrets.token_hex(4)}"
        else:
            existing = self.results.get(doc_id)
            if existing is not None:
                self._ensure_started(existing)
                return existing, False
        with tracer().start_as_current_span("docline.submit", attributes={"docline.document_id": doc_id}):
            try:
                key = self.blobs.put(data, owner=doc_id)  # content-addressed: a retry writes the same blob
            except Exception as exc:
                if not message_too_large(exc):
                    raise
                raise FileTooLarge(
                    f"The file is {len(data) / 1e6:.1f} MB: more than the Dapr sidecar takes in one message."
                ) from exc
            now = datetime.now(UTC)
            doc = StoredDocument(
                id=doc_id,
                status="queued",
                source=Source(filename=_clean_name(filename), sha256=digest, size=len(data)),
                created_at=now,
                updated_at=now,
                workflow_id=workflow_id(doc_id),
                original_key=key,
                requested_type=requested_type,
                inbox_path=inbox_path,
            )
            self.results.put(doc, was=None)  # listed (and counted) with the record
            self._start(doc, current_traceparent())
        log.info("document %s submitted (%s)", doc_id, doc.source.filename, extra={"doc_id": doc_id})
        return doc, True

    def _start(self, doc: StoredDocument, traceparent: str | None) -> None:
        inp = DocumentInput(
            doc_id=doc.id,
            filename=doc.source.filename,
            sha256=doc.source.sha256,
            original_key=doc.original_key,
            requested_type=doc.requested_type,
            inbox_path=doc.inbox_path,
            traceparent=traceparent,
            options=self.options(),
        )
        self.workflows.schedule_new_workflow(
            WORKFLOW_NAME, input=inp.model_dump(mode="json"), instance_id=doc.workflow_id
        )

    def _ensure_started(self, doc: StoredDocument) -> None:
        """A crash between writing the record and starting the workflow leaves a queued record without one."""
        if doc.status in TERMINAL:
            return
        if self.workflows.get_workflow_state(doc.workflow_id, fetch_payloads=False) is None:
            log.warning("document %s had no workflow; starting it", doc.id, extra={"doc_id": doc.id})
            self._start(doc, current_traceparent())

    def recover(self) -> int:
        """At start-up: start the workflow of every queued document that has none (a crash right after its record
        was written). Returns how many were started."""
        started = 0
        for doc in self.results.queued():
            if doc.bundle is not None:  # a bundle's part is started by its bundle
                continue
            if self.workflows.get_workflow_state(doc.workflow_id, fetch_payloads=False) is None:
                log.warning("document %s had no workflow; starting it", doc.id, extra={"doc_id": doc.id})
                self._start(doc, None)
                started += 1
        return started

    # -- read
    def get(self, doc_id: str) -> StoredDocument:
        doc = self.results.get(doc_id) if DOCUMENT_ID.fullmatch(doc_id) else None
        if doc is None:
            raise NotFound(doc_id)
        if doc.status not in TERMINAL:
            self._overlay(doc)
        if doc.parts:
            found = {d.id: d for d in self.results.get_many(p.id for p in doc.parts)}
            for part in doc.parts:
                if part.id in found:
                    part.status, part.document_type = found[part.id].status, found[part.id].document_type
        return doc

    def _overlay(self, doc: StoredDocument) -> None:
        """The workflow engine knows best where a running document is."""
        try:
            state = self.workflows.get_workflow_state(doc.workflow_id, fetch_payloads=True)
        except Exception:  # the record alone is still a good answer
            log.debug("no workflow state for %s", doc.id, exc_info=True)
            return
        if state is None:
            return
        status = state.runtime_status.name
        if status in ("FAILED", "TERMINATED") and doc.status not in TERMINAL:
            doc.status = "failed"
            details = getattr(state, "failure_details", None)
            message = getattr(details, "message", None) or f"The workflow ended {status.lower()}."
            from pipeline.models import ErrorInfo

            doc.error = ErrorInfo(code="internal_error", message=str(message)[:500])
            return
        if status == "RUNNING" and doc.status == "queued":
            doc.status = "running"
        custom = getattr(state, "serialized_custom_status", None)
        if custom:
            try:
                raw = json.loads(custom)
                if isinstance(raw, str):  # some engines keep the JSON string JSON-encoded once more
                    raw = json.loads(raw)
                doc.progress = Progress.model_validate(raw)
            except (ValueError, TypeError):
                pass

    def list(
        self, *, status: str | None = None, type_: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[DocumentResult], str | None]:
        page = self.results.list(status=status, type_=type_, limit=limit, cursor=cursor)
        return page.items, page.next

    def status_counts(self) -> dict[str, int]:
        """Documents per status, from the index's counters: a scrape reads 96 small keys, never the records."""
        return self.results.counts()

    def page_png(self, doc_id: str, number: int) -> bytes:
        doc = self.get(doc_id)
        key = doc.page_images.get(number)
        if key is None:
            raise NotFound(f"{doc_id} page {number}")
        return self.blobs.page_image(key)

    # -- act
    def review(
        self,
        doc_id: str,
        decision: str,
        corrections: dict[str, object],
        boundaries: Sequence[int] | None = None,
        *,
        reviewer: str | None = None,
    ) -> StoredDocument:
        """Hand the reviewer's decision to the document's workflow, with who decided and which fields they changed
        (the value they were shown, the one they gave): the workflow records both with the time. A file whose split
        into documents waits for review takes ``boundaries`` instead of corrections."""
        doc = self.get(doc_id)
        if doc.status != "needs_review":
            raise Conflict(f"Document {doc_id} is {doc.status}, not waiting for a review.")
        if doc.review is not None and SPLIT_UNSURE in doc.review.reasons and doc.split is not None:
            return self._review_split(doc, decision, corrections, boundaries, reviewer)
        if boundaries is not None:
            raise BadCorrection("Boundaries are only for a file whose split into documents waits for a review.")
        try:  # a correction must name a place in the data; found out here, not inside the workflow
            apply_corrections(doc.data or {}, corrections)
        except (ValueError, TypeError, AttributeError) as exc:
            raise BadCorrection(str(exc)) from exc
        changes = [
            FieldChange(field=path, before=get_path(doc.data or {}, path), after=value)
            for path, value in corrections.items()
        ]
        event = {
            "decision": decision,
            "corrections": corrections,
            "reviewer": reviewer,
            "changes": [c.model_dump(mode="json") for c in changes],
        }
        self.workflows.raise_workflow_event(doc.workflow_id, REVIEW_EVENT, data=event)
        return doc

    def _review_split(
        self,
        doc: StoredDocument,
        decision: str,
        corrections: dict[str, object],
        boundaries: Sequence[int] | None,
        reviewer: str | None,
    ) -> StoredDocument:
        """A reviewer confirms the proposed split (no ``boundaries``) or sets where documents begin (page numbers;
        an empty list: the file is one document)."""
        if corrections:
            raise BadCorrection("A split is decided by boundaries; the parts' fields are reviewed in each part.")
        pages = doc.split.pages if doc.split else 0
        if boundaries is not None and (
            sorted(set(boundaries)) != list(boundaries) or any(not 2 <= page <= pages for page in boundaries)
        ):
            raise BadCorrection(f"Boundaries must be ascending page numbers from 2 to {pages}, each once.")
        data: dict[str, object] = {"decision": decision, "reviewer": reviewer}
        if boundaries is not None:
            data["boundaries"] = list(boundaries)
        self.workflows.raise_workflow_event(doc.workflow_id, REVIEW_EVENT, data=data)
        return doc

    def delete(self, doc_id: str) -> None:
        """Erase the document: its workflow and history, its original, pages and drafts, its result in the outbox,
        and whatever each eraser holds of it (inbox copies, LLM replies, ...). Repeatable: a DELETE that failed half
        way is finished by the next one, as the record goes last."""
        doc = self.results.get(doc_id) if DOCUMENT_ID.fullmatch(doc_id) else None
        if doc is None:
            raise NotFound(doc_id)
        running = doc.status not in TERMINAL
        if running:
            try:
                self.workflows.terminate_workflow(doc.workflow_id)
            except Exception:
                log.debug("terminate %s", doc.workflow_id, exc_info=True)
        for part in doc.parts:  # a bundle's parts go with it (their workflows are its children)
            with contextlib.suppress(NotFound):  # deleted on their own before
                self.delete(part.id)
        self.blobs.erase(self._blob_keys(doc))
        self._erase_elsewhere(doc)
        try:
            self.workflows.purge_workflow(doc.workflow_id)
        except Exception:
            log.debug("purge %s", doc.workflow_id, exc_info=True)
        self.results.delete(doc_id)
        if running:
            # A step still running may write one more page, draft, reply or outbox file after this: look again
            # once it must have ended.
            timer = threading.Timer(self.settings.erase_grace_seconds, self._erase_late_writes, args=(doc,))
            timer.daemon = True
            with self._late_lock:
                self._late_erasures[doc.id] = (timer, doc)
            timer.start()
        log.info("document %s deleted", doc_id, extra={"doc_id": doc_id})

    def _blob_keys(self, doc: StoredDocument) -> set[str]:
        """Every blob the document wrote: those its record names (original, page images) and those its workflow's
        history names (pages read, drafts, ...)."""
        keys = set(BLOB_KEYS.findall(doc.model_dump_json()))
        if self.history is not None:
            try:
                keys.update(BLOB_KEYS.findall(self.history(doc.workflow_id).decode("latin-1")))
            except Exception:  # purged already (a repeated DELETE), or a sidecar without the history API
                log.warning("document %s: no workflow history to find its blobs in", doc.id, extra={"doc_id": doc.id})
        if doc.bundle is not None:
            # A part's record names its bundle's original and page images: those stay with the bundle.
            keys = {key for key in keys if key.startswith(f"{doc.id}-")}
        return keys

    def _erase_elsewhere(self, doc: StoredDocument) -> None:
        self.results.delete_outbox(doc.id)
        for eraser in self.erasers:
            eraser.erase(doc)

    def _erase_late_writes(self, doc: StoredDocument) -> None:
        with self._late_lock:
            self._late_erasures.pop(doc.id, None)
        try:
            if self.results.get(doc.id) is not None:
                return  # the same content was submitted again since: those blobs belong to the new document
            self.blobs.sweep(doc.id)
            self._erase_elsewhere(doc)
        except Exception:
            log.exception("document %s: erasing what was written after its deletion failed", doc.id)

    def close(self) -> None:
        """Look now for what deleted documents' last steps wrote: called once the workflow worker has stopped, so
        no step of this process writes any more, and before the clients close."""
        with self._late_lock:
            late = list(self._late_erasures.values())
        for timer, doc in late:
            timer.cancel()
            self._erase_late_writes(doc)

    def purge_expired(self, now: datetime | None = None) -> int:
        """Erase, as DELETE does, every finished document last changed more than ``retention_days`` ago. Returns
        how many; nothing without ``retention_days``."""
        days = self.settings.retention_days
        if days is None:
            return 0
        cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
        purged = 0
        for doc_id in self.results.finished_before(cutoff):
            try:
                self.delete(doc_id)
                purged += 1
            except NotFound:
                continue  # deleted meanwhile (another replica purges too)
        if purged:
            log.info("retention: %d document(s) older than %g days erased", purged, days)
        return purged


def _clean_name(filename: str) -> str:
    """Only the base name, without path parts or control characters (names come from users)."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable())
    if name.strip(". ") == "":  # "..", "." or blanks name a folder, never a file a user sent
        return "document"
    return name[:255]
