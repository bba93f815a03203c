"""The workflow's activities. Each one is idempotent (it may run more than once): it reads its inputs by key, calls
plain functions from ``extractors`` and ``agents``, and writes content-addressed blobs or whole records.

A document's own problem (a ``DocumentError``) is returned as ``error`` so the workflow can end ``rejected``
without retrying; anything else raises and is retried by the workflow's retry policy.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel

from agents.bundles import may_be_separator, parts_of
from extractors import second_reader
from extractors.barcodes import read_barcodes
from extractors.errors import CorruptFile, DocumentError
from extractors.intake import Limits, sniff
from extractors.model import Document, Page
from extractors.ocr import ocr_page
from extractors.pages import iter_pages
from extractors.second_reader import SecondReader
from pipeline.activity_io import (
    ApplyReviewIn,
    ClassifyIn,
    ClassifyOut,
    DocumentStep,
    DraftOut,
    EventIn,
    ExtractIn,
    FinishIn,
    LearnIn,
    OcrIn,
    OcrOut,
    PageRef,
    PagesOut,
    PagesRead,
    PartOut,
    PartsOut,
    RepairIn,
    ReviewIn,
    SplitBundleIn,
    SplitOut,
    SplitReviewIn,
    Step,
    VisionIn,
)
from pipeline.events import Events, cloud_event
from pipeline.inbox import Inbox
from pipeline.layouts import LayoutStore
from pipeline.logs import document_context
from pipeline.metrics import Metrics
from pipeline.models import BundleRef, Draft, ErrorInfo, Part, Review, Source, StoredDocument, part_id
from pipeline.settings import Settings
from pipeline.store import BlobStore, Listed, ResultStore, StoreError, sha256_hex, upright_key
from pipeline.tracing import activity_span
from pipeline.understanding import Understanding
from pipeline.workflow import workflow_id

log = logging.getLogger(__name__)

In = TypeVar("In", bound=Step)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Activities:
    """The activities with what they need, built once at start-up."""

    settings: Settings
    blobs: BlobStore
    results: ResultStore
    inbox: Inbox
    metrics: Metrics
    understanding: Understanding
    layouts: LayoutStore
    events: Events | None = None  # set when status changes are published (pipeline/events.py)
    # Pages waiting here hold an activity slot but no image: LLM and other steps keep the remaining slots.
    ocr_slots: threading.BoundedSemaphore = field(init=False)
    second_reader: SecondReader | None = field(init=False)  # DOCLINE_OCR_SECOND_READER, loaded at start-up

    def __post_init__(self) -> None:
        self.ocr_slots = threading.BoundedSemaphore(self.settings.ocr_concurrency)
        self.second_reader = second_reader.load(self.settings.ocr_second_reader)

    # -- helpers
    def _doc(self, doc_id: str) -> StoredDocument:
        doc = self.results.get(doc_id)
        if doc is None:
            raise LookupError(f"document {doc_id} has no record (deleted while running?)")
        return doc

    def _update(self, doc_id: str, change: Callable[[StoredDocument], None]) -> StoredDocument:
        """Read-modify-write of a record over its ETag: a document deleted meanwhile stays deleted."""
        doc, etag = self.results.get_versioned(doc_id)
        if doc is None:
            raise LookupError(f"document {doc_id} has no record (deleted while running?)")
        was = Listed.of(doc)
        change(doc)
        doc.updated_at = _now()
        self.results.put(doc, etag=etag, was=was)
        return doc

    def _document(self, inp: DocumentStep) -> Document:
        # Parsed by pydantic-core straight from the JSON bytes (json.loads + model_validate took twice as long).
        pages = [Page.model_validate_json(self.blobs.get(k)) for k in inp.page_keys]
        # A workflow started before steps carried the media type: read it from the record.
        media_type = inp.media_type or self._doc(inp.doc_id).source.media_type
        return Document(media_type=media_type or "application/octet-stream", pages=pages)

    def _draft(self, key: str) -> Draft:
        return Draft.model_validate_json(self.blobs.get(key))

    def _draft_out(self, doc_id: str, draft: Draft, usage: Any = None) -> DraftOut:
        key = self.blobs.put_json(draft.model_dump(mode="json"), owner=doc_id)
        confidences = [f.confidence for f in draft.fields.values() if f.confidence is not None]
        out = DraftOut(
            draft_key=key,
            valid=draft.validation.valid,
            codes=sorted({issue.code for issue in draft.validation.errors}),
            min_confidence=min(confidences, default=1.0),
        )
        if usage is not None:
            out.usage = usage
        return out

    # -- the activities
    def split_pages(self, step: Step) -> PagesOut:
        doc = self._doc(step.doc_id)
        data = self.blobs.get(doc.original_key)
        if sha256_hex(data) != doc.source.sha256:  # the blob store lost or changed it: not the user's fault
            raise StoreError(f"the stored original of {doc.id} does not match its SHA-256")
        limits = Limits(
            max_bytes=self.settings.max_upload_bytes,
            max_pages=self.settings.max_pages,
            max_pixels=self.settings.max_page_pixels,
        )
        try:
            media_type = sniff(data)
            refs: list[PageRef] = []
            images: dict[int, str] = {}
            for source in iter_pages(data, limits):
                if source.page is not None:
                    text_key = self.blobs.put_json(source.page.model_dump(mode="json"), owner=doc.id)
                    images[source.number] = upright_key(doc.original_key, text_key)
                    refs.append(
                        PageRef(
                            number=source.number, dpi=source.dpi, text_key=text_key, image_key=images[source.number]
                        )
                    )
                    self.metrics.pages.labels("text-layer").inc()
                elif source.image_png is not None:
                    images[source.number] = self.blobs.put(source.image_png, owner=doc.id)
                    refs.append(PageRef(number=source.number, dpi=source.dpi, image_key=images[source.number]))
            if not refs:
                raise CorruptFile("The document has no pages.")
        except DocumentError as exc:
            return PagesOut(error=ErrorInfo(**exc.to_dict()))

        def started(d: StoredDocument) -> None:
            d.status = "running"
            d.source.media_type = media_type
            d.source.pages = len(refs)
            d.page_images = images  # the scans' images until OCR has made them upright

        self._update(step.doc_id, started)
        return PagesOut(media_type=media_type, pages=refs)

    def ocr_page(self, inp: OcrIn) -> OcrOut:
        if inp.page.text_key:
            return OcrOut(page_key=inp.page.text_key, image_key=inp.page.image_key)
        if inp.page.image_key is None:
            raise ValueError(f"page {inp.page.number} has neither text nor image")
        with self.ocr_slots:
            png = self.blobs.get(inp.page.image_key)
            try:
                page = ocr_page(
                    png,
                    number=inp.page.number,
                    dpi=inp.page.dpi,
                    languages=self.settings.ocr_languages,
                    hint=inp.hint,
                    max_pixels=self.settings.max_page_pixels,
                    second_reader=self.second_reader,
                )
            except DocumentError as exc:
                return OcrOut(error=ErrorInfo(**exc.to_dict()))
        self.metrics.pages.labels("ocr").inc()
        page_key = self.blobs.put_json(page.model_dump(mode="json"), owner=inp.doc_id)
        # The upright image is drawn from the scan and the page when someone asks for it, not here.
        return OcrOut(page_key=page_key, image_key=upright_key(inp.page.image_key, page_key), languages=page.languages)

    def pages_read(self, inp: PagesRead) -> None:
        """One writer for the page-image map (the OCR fan-out must not race on the record)."""
        self._update(inp.doc_id, lambda d: setattr(d, "page_images", dict(inp.images)))

    def find_parts(self, inp: DocumentStep) -> SplitOut:
        """Where the documents in this file begin. Pages with next to no text are looked at for a separator barcode."""
        document = self._document(inp)
        images = self._doc(inp.doc_id).page_images
        barcodes = [
            page.number
            for page in document.pages
            if may_be_separator(page)
            and page.number in images
            and read_barcodes(self.blobs.page_image(images[page.number]))
        ]
        return SplitOut(split=self.understanding.split(document, barcodes))

    def mark_split_review(self, inp: SplitReviewIn) -> None:
        def waiting(d: StoredDocument) -> None:
            d.status = "needs_review"
            d.split = inp.split
            d.review = Review(required=True, reasons=inp.reasons)

        self._update(inp.doc_id, waiting)

    def split_bundle(self, inp: SplitBundleIn) -> PartsOut:
        """Cut the bundle into parts: each part's pages (renumbered from 1) and its own record, ``queued`` for the
        child workflow the bundle starts next. A file of one document gets no parts and goes on as one."""
        bundle = self._doc(inp.doc_id)
        proposal = inp.split
        starts = proposal.starts if inp.boundaries is None else [1, *inp.boundaries]
        pages = parts_of(proposal.pages, starts, proposal.separators)
        if len(pages) < 2:

            def single(d: StoredDocument) -> None:
                d.status = "running"
                d.split = proposal
                if inp.review is not None:
                    d.review = inp.review

            self._update(inp.doc_id, single)
            return PartsOut()
        parts: list[PartOut] = []
        for numbers in pages:
            doc_id = part_id(bundle.id, numbers)
            keys: list[str] = []
            for index, number in enumerate(numbers, start=1):
                page = Page.model_validate_json(self.blobs.get(inp.page_keys[number - 1]))
                renumbered = page.model_copy(update={"number": index}).model_dump(mode="json")
                keys.append(self.blobs.put_json(renumbered, owner=doc_id))  # the part's own: erased with it
            parts.append(PartOut(doc_id=doc_id, pages=numbers, page_keys=keys))
            if self.results.get(doc_id) is None:  # a retried step must not reset a part that has moved on
                self.results.put(self._part_record(bundle, doc_id, numbers, inp.media_type), was=None)

        def split(d: StoredDocument) -> None:
            d.status = "running"
            d.split = proposal
            d.parts = [Part(id=p.doc_id, pages=p.pages) for p in parts]
            if inp.review is not None:
                d.review = inp.review

        self._update(inp.doc_id, split)
        log.info("document %s split into %d parts", inp.doc_id, len(parts), extra={"doc_id": inp.doc_id})
        return PartsOut(parts=parts)

    @staticmethod
    def _part_record(bundle: StoredDocument, doc_id: str, pages: list[int], media_type: str | None) -> StoredDocument:
        name, dot, suffix = bundle.source.filename.rpartition(".")
        span = f"{pages[0]}-{pages[-1]}" if len(pages) > 1 else str(pages[0])
        filename = f"{name} (pages {span}).{suffix}" if dot and name else f"{bundle.source.filename} (pages {span})"
        now = _now()
        return StoredDocument(
            id=doc_id,
            status="queued",
            source=Source(
                filename=filename,
                sha256=bundle.source.sha256,
                pages=len(pages),
                media_type=media_type or bundle.source.media_type,
            ),
            created_at=now,
            updated_at=now,
            workflow_id=workflow_id(doc_id),
            original_key=bundle.original_key,
            page_images={i: bundle.page_images[n] for i, n in enumerate(pages, start=1) if n in bundle.page_images},
            requested_type=bundle.requested_type,
            bundle=BundleRef(id=bundle.id, pages=pages),
        )

    def classify(self, inp: ClassifyIn) -> ClassifyOut:
        document = self._document(inp)
        try:
            return self.understanding.classify(inp.doc_id, document, inp.requested_type, offline=inp.offline)
        except DocumentError as exc:
            return ClassifyOut(error=ErrorInfo(**exc.to_dict()))

    def extract(self, inp: ExtractIn) -> DraftOut:
        document = self._document(inp)
        try:
            # The layout its sender's reviewed documents taught, if any (read the learned way, or hints for a model).
            memory = self.layouts.find(document, self.understanding.registry.get(inp.document_type))
            draft, usage = self.understanding.extract(
                inp.doc_id, document, inp.document_type, inp.language, offline=inp.offline, memory=memory
            )
        except DocumentError as exc:
            return DraftOut(error=ErrorInfo(**exc.to_dict()))
        return self._draft_out(inp.doc_id, draft, usage)

    def repair(self, inp: RepairIn) -> DraftOut:
        document = self._document(inp)
        try:
            draft, usage = self.understanding.repair(
                inp.doc_id, document, self._draft(inp.draft_key), inp.attempt, offline=inp.offline
            )
        except DocumentError as exc:
            return DraftOut(error=ErrorInfo(**exc.to_dict()))
        return self._draft_out(inp.doc_id, draft, usage)

    def vision(self, inp: VisionIn) -> DraftOut:
        """Read the page images with a vision model; answer the better of that and the current draft."""
        doc = self._doc(inp.doc_id)
        document = self._document(inp)
        images = [self.blobs.page_image(doc.page_images[n]) for n in sorted(doc.page_images)]
        current = self._draft(inp.draft_key)
        try:
            seen, usage = self.understanding.vision_extract(document, images, current.document_type, current.language)
        except DocumentError as exc:
            return DraftOut(error=ErrorInfo(**exc.to_dict()))
        chosen = seen if _better(seen, current) else current
        return self._draft_out(inp.doc_id, chosen, usage)

    def mark_review(self, inp: ReviewIn) -> None:
        draft = self._draft(inp.draft_key)

        def waiting(d: StoredDocument) -> None:
            self._fill(d, draft)
            d.status = "needs_review"
            d.usage = inp.usage
            d.review = Review(required=True, reasons=inp.reasons)

        self._update(inp.doc_id, waiting)

    def apply_review(self, inp: ApplyReviewIn) -> DraftOut:
        draft = self._draft(inp.draft_key)
        if inp.corrections:
            draft = self.understanding.correct(draft, inp.corrections)
        return self._draft_out(inp.doc_id, draft)

    def learn_layout(self, inp: LearnIn) -> None:
        """A reviewer approved the document: its sender's layout memory learns from it."""
        if self.results.get(inp.doc_id) is None:
            return  # deleted meanwhile: it teaches nothing
        reviewed = self._draft(inp.draft_key)
        doc_type = self.understanding.registry.get(reviewed.document_type)
        self.layouts.learn(inp.doc_id, self._document(inp), doc_type, reviewed, self._draft(inp.read_key))

    def finish(self, inp: FinishIn) -> None:
        draft = self._draft(inp.draft_key) if inp.draft_key else None

        def finished(d: StoredDocument) -> None:
            if draft is not None:
                self._fill(d, draft)
            d.status = inp.status
            d.error = inp.error
            d.usage = inp.usage
            if inp.review is not None:
                d.review = inp.review
            d.progress = None

        # Order matters for at-least-once: the record, then the outbox, then the inbox file; each is idempotent.
        doc = self._update(inp.doc_id, finished)
        self.results.write_outbox(doc.result())
        if inp.inbox_path:
            self.inbox.settle(inp.inbox_path, doc.result())
        self.metrics.documents_finished.labels(inp.status).inc()
        log.info("document %s finished: %s", inp.doc_id, inp.status, extra={"doc_id": inp.doc_id})

    def publish_event(self, inp: EventIn) -> None:
        """Announce a status change; raises (and is retried) until the pub/sub component and webhook took it."""
        if self.events is None:
            raise RuntimeError("events are not configured on this worker (DOCLINE_EVENTS_PUBSUB / _BINDING)")
        doc = self._doc(inp.doc_id)
        event = cloud_event(
            doc,
            status=inp.status,
            event_id=inp.event_id,
            occurred_at=inp.occurred_at,
            settings=self.settings,
            traceparent=inp.traceparent,
        )
        self.events.send(event)

    @staticmethod
    def _fill(doc: StoredDocument, draft: Draft) -> None:
        doc.document_type = draft.document_type
        doc.language = draft.language
        doc.data = draft.data
        doc.fields = draft.fields
        doc.validation = draft.validation

    # -- registration
    def register(self, runtime: Any) -> None:
        """Register every activity on a ``WorkflowRuntime`` with tracing, metrics and typed I/O around it."""
        table: dict[str, tuple[Callable[[Any], Any], type[Step]]] = {
            "split_pages": (self.split_pages, Step),
            "ocr_page": (self.ocr_page, OcrIn),
            "classify": (self.classify, ClassifyIn),
            "extract": (self.extract, ExtractIn),
            "repair": (self.repair, RepairIn),
            "pages_read": (self.pages_read, PagesRead),
            "find_parts": (self.find_parts, DocumentStep),
            "mark_split_review": (self.mark_split_review, SplitReviewIn),
            "split_bundle": (self.split_bundle, SplitBundleIn),
            "vision": (self.vision, VisionIn),
            "mark_review": (self.mark_review, ReviewIn),
            "apply_review": (self.apply_review, ApplyReviewIn),
            "learn_layout": (self.learn_layout, LearnIn),
            "finish": (self.finish, FinishIn),
            "publish_event": (self.publish_event, EventIn),
        }
        for name, (fn, model) in table.items():
            runtime.register_activity(self._wrap(name, fn, model), name=name)
        _preload()

    def _wrap(self, name: str, fn: Callable[[Any], Any], model: type[Step]) -> Callable[[Any, Any], Any]:
        metrics = self.metrics

        def activity(ctx: Any, raw: Any) -> Any:
            inp = model.model_validate(raw)
            wf_id = str(getattr(ctx, "workflow_id", ""))
            attrs = {"docline.document_id": inp.doc_id, "docline.workflow_id": wf_id}
            started = time.perf_counter()
            outcome = "ok"
            with document_context(inp.doc_id, wf_id), activity_span(name, inp.traceparent, attrs):
                try:
                    out = fn(inp)
                except Exception:
                    outcome = "error"
                    log.exception("activity %s failed for document %s", name, inp.doc_id)
                    raise
                finally:
                    metrics.activity_seconds.labels(name, outcome).observe(time.perf_counter() - started)
            return out.model_dump(mode="json") if isinstance(out, BaseModel) else out

        activity.__name__ = f"docline_{name}"
        return activity


def _preload() -> None:
    """At start-up, what the first documents would otherwise pay for (~0.2 s of CPU with the module imports above):
    PDFium's bindings (``extractors.pages`` imports them on first use) and Pillow's file-format plugins."""
    from PIL import Image

    importlib.import_module("extractors.pdf")
    Image.init()  # Pillow registers its file formats on first open otherwise


def _better(candidate: Draft, current: Draft) -> bool:
    """Valid beats invalid; then fewer validation errors; then the surer weakest field."""

    def rank(d: Draft) -> tuple[bool, int, float]:
        weakest = min((f.confidence for f in d.fields.values() if f.confidence is not None), default=0.0)
        return (d.validation.valid, -len(d.validation.errors), weakest)

    return rank(candidate) > rank(current)
