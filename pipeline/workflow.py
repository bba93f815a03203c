"""The document workflow: one durable instance per document. It reads like the pipeline diagram; all work is in
``pipeline.activities``.

    store original → pages → OCR per page (fan-out) → classify → extract → validate → bounded repair
      → review when invalid or unsure (waits for the reviewer's event, with a timeout) → persist + outbox

A file of several documents (a bundle) is split after OCR: each part runs this same workflow as a child workflow,
starting at classify with the page keys of its pages; an unsure split waits for a reviewer first.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Generator
from datetime import timedelta
from typing import Any, Literal

import dapr.ext.workflow as wf

from pipeline.activity_io import (
    ApplyReviewIn,
    ClassifyIn,
    ClassifyOut,
    DocumentInput,
    DocumentStep,
    DraftOut,
    EventIn,
    ExtractIn,
    FinishIn,
    LearnIn,
    LlmStep,
    OcrIn,
    OcrOut,
    Outcome,
    PagesOut,
    PagesRead,
    PartInput,
    PartsOut,
    RepairIn,
    ReviewIn,
    SplitBundleIn,
    SplitDecision,
    SplitOut,
    SplitReviewIn,
    Step,
    VisionIn,
)
from pipeline.models import ErrorInfo, Review, Usage

WORKFLOW_NAME = "docline_document"
# The version new documents start on. Each instance records its version (and any ``ctx.is_patched`` patch it took) in
# its history and replays with that code, so a release that changes the steps below either guards the change with
# ``ctx.is_patched("<what changed>")`` or keeps this function registered under its old version next to the new one
# until no document of the old version is in flight.
WORKFLOW_VERSION = "1"
REVIEW_EVENT = "review"
# Patch: each status change is published (pipeline/events.py) after the record shows it.
EVENTS_PATCH = "status-events"
# Patch: a file of several documents is split into parts, each a child workflow (agents/bundles.py).
BUNDLES_PATCH = "bundles"
# The review reason of a split the machine was not sure of.
SPLIT_UNSURE = "split_unsure"
# Patch: validation errors that say what a reviewer must look at are review reasons of their own.
REASONS_PATCH = "review-reason-codes"
# Patch: items adding up to more than the totals (a row misread) are line-item trouble too, not only a failed check.
MISMATCH_PATCH = "review-reason-line-items-mismatch"
# Such errors, each with the patch that made it a reason (an instance replays without the reasons it never had):
# a line-item table read incompletely (rows missing from the data), or items adding up to more than the totals.
REVIEW_CODES = {"line_items_incomplete": REASONS_PATCH, "line_items_mismatch": MISMATCH_PATCH}

log = logging.getLogger(__name__)


def workflow_id(doc_id: str) -> str:
    """The workflow instance id is derived from the document id, so submitting twice cannot start two workflows."""
    return f"docline-{doc_id}"


def _status(ctx: wf.DaprWorkflowContext, stage: str, page: int | None = None, pages: int | None = None) -> None:
    ctx.set_custom_status(json.dumps({"stage": stage, "page": page, "pages": pages}))


def _policies(inp: DocumentInput) -> tuple[wf.RetryPolicy, wf.RetryPolicy]:
    o = inp.options
    plain = wf.RetryPolicy(
        first_retry_interval=timedelta(seconds=1),
        max_number_of_attempts=o.activity_max_attempts,
        backoff_coefficient=2.0,
        max_retry_interval=timedelta(seconds=10),
    )
    # LLM providers answer 429/5xx under load: back off exponentially, longer than for local work.
    llm = wf.RetryPolicy(
        first_retry_interval=timedelta(seconds=o.llm_first_retry_seconds),
        max_number_of_attempts=o.llm_max_attempts,
        backoff_coefficient=2.0,
        max_retry_interval=timedelta(seconds=60),
    )
    return plain, llm


def _events_policy(inp: DocumentInput) -> wf.RetryPolicy:
    """A broker or webhook that is down must not lose the event: back off up to 5 minutes between attempts."""
    return wf.RetryPolicy(
        first_retry_interval=timedelta(seconds=2),
        max_number_of_attempts=inp.options.events_max_attempts,
        backoff_coefficient=2.0,
        max_retry_interval=timedelta(minutes=5),
    )


Gen = Generator[Any, Any, Any]


def document_workflow(ctx: wf.DaprWorkflowContext, raw: dict[str, Any]) -> Gen:
    inp = DocumentInput.model_validate(raw)
    plain, llm = _policies(inp)
    step = Step(doc_id=inp.doc_id, traceparent=inp.traceparent)
    usage = Usage()

    def call(name: str, body: Step, policy: wf.RetryPolicy = plain) -> Any:
        return ctx.call_activity(name, input=body.model_dump(mode="json"), retry_policy=policy)

    # Documents started before events existed (or without them configured) replay without the publish steps.
    events = inp.options.events and ctx.is_patched(EVENTS_PATCH)
    # Asked first thing, so a document in flight (replaying from its start) keeps the path it began on.
    bundles = inp.options.bundles and inp.part is None and ctx.is_patched(BUNDLES_PATCH)
    started = ctx.current_utc_datetime  # the same on every replay: part of the event ids

    def announce(status: Literal["needs_review", "completed", "failed", "rejected"]) -> Gen:
        """Publish the status change; a broker down beyond the retries is logged, the document's status stands."""
        if not events:
            return
        event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"docline:{ctx.instance_id}:{started.isoformat()}:{status}"))
        body = EventIn(**step.model_dump(), status=status, event_id=event_id, occurred_at=ctx.current_utc_datetime)
        try:
            yield call("publish_event", body, _events_policy(inp))
        except wf.TaskFailedError as exc:
            if not ctx.is_replaying:
                log.error("document %s: event %s (%s) not delivered: %s", inp.doc_id, event_id, status, exc)

    def finish(
        status: Literal["completed", "failed", "rejected"],
        *,
        draft_key: str | None = None,
        error: ErrorInfo | None = None,
        review: Review | None = None,
    ) -> Gen:
        body = FinishIn(
            **step.model_dump(),
            status=status,
            draft_key=draft_key,
            error=error,
            review=review,
            usage=usage,
            inbox_path=inp.inbox_path,
        )
        yield call("finish", body)
        yield from announce(status)

    def wait_for_review() -> Gen:
        """The reviewer's event, or None when the review timed out."""
        event = ctx.wait_for_external_event(REVIEW_EVENT)
        timer = ctx.create_timer(timedelta(seconds=inp.options.review_timeout_seconds))
        winner = yield wf.when_any([event, timer])
        return (event.get_result() or {}) if winner is event else None

    def split_bundle(page_keys: list[str], media_type: str | None) -> Gen:
        """A file of several documents: each part becomes a document of its own, with its own child workflow. Returns
        the bundle's final status once every part has finished, or None when the file is one document."""
        _status(ctx, "split")
        pages = DocumentStep(**step.model_dump(), page_keys=page_keys, media_type=media_type)
        proposal = SplitOut.model_validate((yield call("find_parts", pages))).split
        boundaries: list[int] | None = None
        review: Review | None = None
        if proposal.unsure:
            reasons = [SPLIT_UNSURE]
            _status(ctx, "needs_review")
            yield call("mark_split_review", SplitReviewIn(**step.model_dump(), split=proposal, reasons=reasons))
            yield from announce("needs_review")
            answer = yield from wait_for_review()
            if answer is None:
                review = Review(required=True, reasons=reasons, decision="timeout")
                timeout = ErrorInfo(code="review_timeout", message="No reviewer decided in time.")
                yield from finish("rejected", error=timeout, review=review)
                return "rejected"
            decision = SplitDecision.model_validate(answer)
            boundaries = decision.boundaries
            corrections = {"boundaries": boundaries} if boundaries is not None else {}
            review = Review(
                required=True,
                reasons=reasons,
                decision=decision.decision,
                corrections=corrections,
                decided_at=ctx.current_utc_datetime,
                reviewer=decision.reviewer,
            )
            if decision.decision == "reject":
                rejected = ErrorInfo(code="rejected_by_reviewer", message="A reviewer rejected this document.")
                yield from finish("rejected", error=rejected, review=review)
                return "rejected"
        cut = SplitBundleIn(**pages.model_dump(), split=proposal, boundaries=boundaries, review=review)
        made = PartsOut.model_validate((yield call("split_bundle", cut)))
        if not made.parts:
            return None
        count = len(made.parts)
        _status(ctx, "parts", 0, count)
        children: list[Any] = [
            ctx.call_child_workflow(
                WORKFLOW_NAME,
                input=inp.model_copy(
                    update={
                        "doc_id": part.doc_id,
                        "inbox_path": None,  # the bundle's file is settled by the bundle
                        "part": PartInput(bundle_id=inp.doc_id, page_keys=part.page_keys, media_type=media_type),
                    }
                ).model_dump(mode="json"),
                instance_id=workflow_id(part.doc_id),
            )
            for part in made.parts
        ]
        pending = list(children)
        while pending:
            done = yield wf.when_any(pending)
            pending.remove(done)
            try:
                done.get_result()
            except wf.TaskFailedError as exc:
                # A part's workflow that failed outright (or was deleted) shows in its own record, not the file's.
                if not ctx.is_replaying:
                    log.error("document %s: a part's workflow ended without a result: %s", inp.doc_id, exc)
            _status(ctx, "parts", count - len(pending), count)
        _status(ctx, "completed")
        yield from finish("completed", review=review)
        return "completed"

    degraded: list[str] = []

    def llm_call(name: str, body: LlmStep) -> Gen:
        """An LLM step; when the provider keeps failing after the retries, the offline extractor does the step
        instead and the document goes to review."""
        try:
            return (yield call(name, body, llm))
        except wf.TaskFailedError:
            degraded.append(name)
            return (yield call(name, body.model_copy(update={"offline": True})))

    try:
        if inp.part is not None:
            # A part of a bundle: its pages were read with the bundle's.
            page_keys, media_type = inp.part.page_keys, inp.part.media_type
        else:
            _status(ctx, "pages")
            split = PagesOut.model_validate((yield call("split_pages", step)))
            if split.error:
                _status(ctx, "rejected")
                yield from finish("rejected", error=split.error)
                return "rejected"

            n = len(split.pages)
            _status(ctx, "ocr", 0, n)
            # Page 1 first: its languages spare every other page the language probe; then the rest in parallel.
            first = OcrOut.model_validate(
                (yield call("ocr_page", OcrIn(**step.model_dump(), page=split.pages[0], pages=n)))
            )
            _status(ctx, "ocr", 1, n)
            hint = first.languages or None
            tasks = [
                call("ocr_page", OcrIn(**step.model_dump(), page=ref, pages=n, hint=hint)) for ref in split.pages[1:]
            ]
            pending = list(tasks)
            while pending:
                done = yield wf.when_any(pending)
                pending.remove(done)
                _status(ctx, "ocr", n - len(pending), n)
            ocr = [first, *(OcrOut.model_validate(t.get_result()) for t in tasks)]
            failed: Outcome | None = next((o for o in ocr if o.error), None)
            if failed is not None:
                yield from finish("rejected", error=failed.error)
                return "rejected"
            page_keys = [o.page_key for o in ocr if o.page_key]
            images = {ref.number: o.image_key for ref, o in zip(split.pages, ocr, strict=True) if o.image_key}
            yield call("pages_read", PagesRead(**step.model_dump(), images=images))
            media_type = split.media_type
            if bundles and n > 1:
                ended = yield from split_bundle(page_keys, media_type)
                if ended is not None:
                    return ended

        _status(ctx, "classify")
        which = ClassifyIn(
            **step.model_dump(), page_keys=page_keys, media_type=media_type, requested_type=inp.requested_type
        )
        cls = ClassifyOut.model_validate((yield from llm_call("classify", which)))
        usage += cls.usage
        if cls.error or not cls.document_type:
            unknown = ErrorInfo(code="unknown_document_type", message="docline could not tell what this document is.")
            yield from finish("rejected", error=cls.error or unknown)
            return "rejected"

        _status(ctx, "extract")
        body = ExtractIn(
            **step.model_dump(),
            page_keys=page_keys,
            media_type=media_type,
            document_type=cls.document_type,
            language=cls.language,
        )
        draft = DraftOut.model_validate((yield from llm_call("extract", body)))
        usage += draft.usage
        if draft.error or not draft.draft_key:
            nothing = ErrorInfo(code="extraction_failed", message="Nothing could be extracted from this document.")
            yield from finish("rejected", error=draft.error or nothing)
            return "rejected"

        attempt = 0
        while not draft.valid and attempt < inp.options.max_repairs:
            attempt += 1
            _status(ctx, "repair", attempt, inp.options.max_repairs)
            repair = RepairIn(
                **step.model_dump(),
                page_keys=page_keys,
                media_type=media_type,
                draft_key=draft.draft_key,
                attempt=attempt,
            )
            repaired = DraftOut.model_validate((yield from llm_call("repair", repair)))
            usage += repaired.usage
            if repaired.error or not repaired.draft_key:
                break
            draft = repaired

        unsure = not draft.valid or draft.min_confidence < inp.options.review_confidence_threshold
        if unsure and inp.options.vision and not degraded:
            # Handwriting and poor scans: let a vision model read the page images; keep whichever draft is better.
            _status(ctx, "vision")
            look = VisionIn(**step.model_dump(), page_keys=page_keys, media_type=media_type, draft_key=draft.draft_key)
            try:
                seen = DraftOut.model_validate((yield call("vision", look, llm)))
                usage += seen.usage
                if seen.draft_key and not seen.error:
                    draft = seen
            except wf.TaskFailedError:
                degraded.append("vision")

        reasons = ["llm_unavailable"] if degraded else []
        if not draft.valid:
            reasons.append("validation_failed")
            reasons.extend(
                code for code, patch in REVIEW_CODES.items() if code in draft.codes and ctx.is_patched(patch)
            )
        if draft.min_confidence < inp.options.review_confidence_threshold:
            reasons.append("low_confidence")
        review: Review | None = None
        if reasons:
            # The status goes first: it commits with the turn, before the activity marks the record for review.
            _status(ctx, "needs_review")
            yield call(
                "mark_review", ReviewIn(**step.model_dump(), draft_key=draft.draft_key, reasons=reasons, usage=usage)
            )
            yield from announce("needs_review")
            event = ctx.wait_for_external_event(REVIEW_EVENT)
            timer = ctx.create_timer(timedelta(seconds=inp.options.review_timeout_seconds))
            winner = yield wf.when_any([event, timer])
            if winner is not event:
                review = Review(required=True, reasons=reasons, decision="timeout")
                timeout = ErrorInfo(code="review_timeout", message="No reviewer decided in time.")
                yield from finish("rejected", draft_key=draft.draft_key, error=timeout, review=review)
                return "rejected"
            decision = ApplyReviewIn(**step.model_dump(), draft_key=draft.draft_key, **(event.get_result() or {}))
            shown = draft.draft_key  # what the reviewer saw: the layout memory compares it with what they approved
            draft = DraftOut.model_validate((yield call("apply_review", decision)))
            if decision.decision == "approve" and draft.draft_key and shown and ctx.is_patched("layout_memory"):
                # The approved data is the ground truth the sender's layout memory learns from (pipeline.layouts).
                lesson = LearnIn(
                    **step.model_dump(),
                    page_keys=page_keys,
                    media_type=media_type,
                    draft_key=draft.draft_key,
                    read_key=shown,
                )
                # Learning is a bonus: a lesson that could not be stored must not fail a reviewed document.
                with contextlib.suppress(wf.TaskFailedError):
                    yield call("learn_layout", lesson)
            review = Review(
                required=True,
                reasons=reasons,
                decision=decision.decision,
                corrections=dict(decision.corrections),
                decided_at=ctx.current_utc_datetime,
            )
            if ctx.is_patched("review-audit"):  # who decided and what they changed, as the review event says
                review.reviewer = decision.reviewer
                review.changes = list(decision.changes)
            if decision.decision == "reject":
                rejected = ErrorInfo(code="rejected_by_reviewer", message="A reviewer rejected this document.")
                yield from finish("rejected", draft_key=draft.draft_key, error=rejected, review=review)
                return "rejected"

        _status(ctx, "completed")
        yield from finish("completed", draft_key=draft.draft_key, review=review)
        return "completed"
    except wf.TaskFailedError as exc:
        # An activity kept failing for reasons outside the document (a bug, the store down): record it, don't loop.
        _status(ctx, "failed")
        error = ErrorInfo(code="internal_error", message=str(exc)[:500])
        yield from finish("failed", error=error)
        return "failed"
