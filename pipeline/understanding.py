"""Classification, extraction, repair and corrections: the bridge from activities to ``agents`` and the document
types in ``extractors``, with the LLM chosen by the component files (none → the offline extractor).

Every LLM reply is remembered in the state store under the document and the exact request, so an activity that
is retried after a crash (the call finished, the activity did not) never pays for the same call twice. Replies are
kept as JSON of the fields docline reads (never pickled: whoever can write the state store must not be able to run
code here); an entry that does not parse as such is a miss.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any, Literal

from dapr.clients import DaprClient
from dapr.clients.grpc import conversation as conv
from pydantic import BaseModel, ConfigDict, ValidationError

from agents.bundles import split_document
from agents.classify import classify
from agents.extract import Strategy, extract
from agents.layout_memory import LayoutMemory
from agents.llm import LOCAL_CONTEXT_TOKENS, Llm, LlmError, OutputModes, context_tokens
from agents.models import Extraction, FieldValue
from agents.repair import repair
from agents.tables import validate_read
from agents.vision import extract_from_image, vision_settings
from dapr_components.spec import find_component
from extractors.errors import UnknownDocumentType
from extractors.model import Document
from extractors.rules import get_path
from extractors.types import TypeRegistry, build_registry
from extractors.validation import validate
from pipeline.activity_io import ClassifyOut
from pipeline.metrics import Metrics
from pipeline.models import Draft, FieldInfo, SplitGap, SplitProposal, Usage, Validation, ValidationIssue
from pipeline.settings import Settings

log = logging.getLogger(__name__)


def conversation_component(client: DaprClient, settings: Settings) -> str | None:
    """The conversation component to use: the configured one, else the first ``conversation.*`` the sidecar has
    (other than the vision component, when there is another)."""
    if settings.offline:
        return None
    if settings.conversation_component:
        return settings.conversation_component
    try:
        components = client.get_metadata().registered_components
    except Exception:
        log.warning("sidecar metadata unavailable; using the offline extractor", exc_info=True)
        return None
    names = sorted(c.name for c in components if c.type.startswith("conversation."))
    text_names = [name for name in names if name != settings.vision_component] or names
    return text_names[0] if text_names else None


def _vision_settings(client: DaprClient, settings: Settings, component: str) -> Any:
    """The vision model: the component named by ``DOCLINE_VISION_COMPONENT``, else the conversation component when it
    declares a ``visionModel``; None when there is none, or its file is not readable here (on a cluster the component
    files may live only with daprd). A text-only model is never sent images."""
    if not settings.vision:
        return None
    name = settings.vision_component or component
    try:
        return vision_settings(settings.resources_path, name, client, dedicated=settings.vision_component is not None)
    except Exception as exc:  # no vision is a normal configuration, not an error
        log.info("no vision model: %s", exc)
        return None


def _context_tokens(client: DaprClient, settings: Settings, component: str) -> int:
    """The context of the model behind ``component``: its file's ``contextTokens`` or its provider's default; the
    type alone when the file is not readable here (on a cluster the files may live only with daprd)."""
    try:
        found = find_component(settings.resources_path, component)
    except Exception:
        found = None
    kind = found.type if found is not None else ""
    if found is None:
        try:
            kind = next(c.type for c in client.get_metadata().registered_components if c.name == component)
        except Exception:
            log.info("no metadata for component %s: default context size", component)
    return context_tokens(kind, found)


class _Cached(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, from_attributes=True)


class CachedUsage(_Cached):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class CachedMessage(_Cached):
    content: str | None = None


class CachedChoice(_Cached):
    finish_reason: str = ""
    index: int = 0
    message: CachedMessage


class CachedOutput(_Cached):
    model: str | None = None
    usage: CachedUsage | None = None
    choices: list[CachedChoice] = []


class CachedReply(_Cached):
    """What a cache entry holds: the parts of a ``converse_alpha2`` reply that docline reads (``agents.llm``)."""

    format: Literal["docline-llm-reply/1"]  # required: an empty or foreign JSON object is not a reply
    context_id: str | None = None
    outputs: list[CachedOutput] = []

    @classmethod
    def of(cls, reply: conv.ConversationResponseAlpha2) -> CachedReply:
        return cls(
            format="docline-llm-reply/1",
            context_id=reply.context_id,
            outputs=[CachedOutput.model_validate(o, from_attributes=True) for o in reply.outputs],
        )

    def reply(self) -> conv.ConversationResponseAlpha2:
        """The SDK's reply object again, so callers see the same types from the cache as from the provider."""
        outputs = [
            conv.ConversationResultAlpha2(
                choices=[
                    conv.ConversationResultAlpha2Choices(
                        finish_reason=c.finish_reason,
                        index=c.index,
                        message=conv.ConversationResultAlpha2Message(content=c.message.content or ""),
                    )
                    for c in o.choices
                ],
                model=o.model,
                usage=None
                if o.usage is None
                else conv.ConversationResultAlpha2CompletionUsage(
                    completion_tokens=o.usage.completion_tokens,
                    prompt_tokens=o.usage.prompt_tokens,
                    total_tokens=o.usage.total_tokens,
                ),
            )
            for o in self.outputs
        ]
        return conv.ConversationResponseAlpha2(context_id=self.context_id, outputs=outputs)


class CachingClient:
    """A DaprClient whose ``converse_alpha2`` replies are kept in the state store (everything else passes through).

    The cache key is the document id and a hash of the whole request; the value is a :class:`CachedReply` as JSON.
    Anything else found under a key (an older pickled entry, another writer's data, garbage) is ignored: the
    provider is asked and the entry overwritten.
    """

    def __init__(
        self,
        client: DaprClient,
        state: Any,
        metrics: Metrics,
        doc_id: str = "",
        in_flight: SingleFlight | None = None,
    ) -> None:
        self._client = client
        self._state = state  # a ResultStore (get_value / put_value / delete_value)
        self._metrics = metrics
        self.doc_id = doc_id
        self._in_flight = in_flight or SingleFlight()  # shared by all views of one client
        self.written: list[str] = []  # keys this view stored replies under

    def for_document(self, doc_id: str) -> CachingClient:
        """A view for one document's calls (activities run concurrently: no shared mutable document id)."""
        return CachingClient(self._client, self._state, self._metrics, doc_id, self._in_flight)

    def forget(self) -> None:
        """Drop the replies this view stored: the step that asked could not use them, so its retry asks again."""
        for key in self.written:
            self._state.delete_value(key)
        self.written.clear()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def key(self, name: str, inputs: Any, **kwargs: Any) -> str:
        """The state key of one request's reply for this view's document."""
        digest = hashlib.sha256(repr((name, inputs, sorted(kwargs.items()))).encode()).hexdigest()[:40]
        return f"llm-{self.doc_id}-{digest}"

    def _cached(self, key: str) -> CachedReply | None:
        try:
            value = self._state.get_value(key)  # JSON-decoded by the store: raises ValueError on non-JSON bytes
            return None if value is None else CachedReply.model_validate(value)
        except (ValueError, ValidationError):  # ValidationError is a ValueError; named for the reader
            log.warning(
                "document %s: unreadable LLM cache entry %s ignored", self.doc_id, key, extra={"doc_id": self.doc_id}
            )
            return None

    def converse_alpha2(self, name: str, inputs: Any, **kwargs: Any) -> Any:
        key = self.key(name, inputs, **kwargs)
        # An activity delivered twice at once (at least once: e.g. after the worker's stream was re-opened) asks once;
        # the second delivery waits and finds the reply in the cache.
        with self._in_flight.hold(key):
            cached = self._cached(key)
            if cached is not None:
                log.info("document %s: LLM reply from cache", self.doc_id, extra={"doc_id": self.doc_id})
                return cached.reply()
            started = time.perf_counter()
            reply = self._client.converse_alpha2(name, inputs, **kwargs)
            self._metrics.llm_seconds.labels(name).observe(time.perf_counter() - started)
            # The key goes on the document's list first: erasing the document finds every reply through it.
            self._state.update_value(replies_key(self.doc_id), lambda keys: _with(keys, key))
            self._state.put_value(key, CachedReply.of(reply).model_dump(mode="json"))
            self.written.append(key)
            return reply


def replies_key(doc_id: str) -> str:
    """The state key listing every LLM reply kept for a document (``llm-<id>-<hash>`` keys cannot collide)."""
    return f"llm-replies-{doc_id}"


def _with(keys: Any, key: str) -> list[str]:
    listed = list(keys or [])
    return listed if key in listed else [*listed, key]


class LlmReplies:
    """Eraser (``pipeline.service.Eraser``): every LLM reply kept for a document, whatever model is configured now."""

    def __init__(self, state: Any) -> None:
        self._state = state  # a ResultStore

    def erase(self, doc: Any) -> None:
        for key in self._state.get_value(replies_key(doc.id)) or []:
            self._state.delete_value(key)
        self._state.delete_value(replies_key(doc.id))


class SingleFlight:
    """One holder per key at a time in this process; keys nobody holds take no memory."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @contextlib.contextmanager
    def hold(self, key: str) -> Iterator[None]:
        with self._guard:
            lock, holders = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, holders + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, holders = self._locks[key]
                if holders == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, holders - 1)


class Understanding:
    """What the activities call for everything after OCR."""

    def __init__(
        self,
        llm_client: CachingClient | None,
        component: str | None,
        metrics: Metrics,
        registry: TypeRegistry,
        vision: Any = None,
        output_modes: OutputModes | None = None,
        *,
        context: int = LOCAL_CONTEXT_TOKENS,
        strategy: Strategy = "hybrid",
    ) -> None:
        self._client = llm_client
        self.component = component
        self.context_tokens = context
        self.strategy: Strategy = strategy
        self._metrics = metrics
        self.registry = registry
        self.vision = vision  # agents.vision.VisionSettings when the component's provider can read images
        # What the component refused (JSON Schema, JSON mode) is learned once for every document and replica.
        self.output_modes = output_modes or OutputModes()

    @classmethod
    def from_sidecar(cls, client: DaprClient, settings: Settings, state: Any, metrics: Metrics) -> Understanding:
        component = conversation_component(client, settings)
        log.info("extraction through %s", f"conversation component {component!r}" if component else "offline extractor")
        registry = build_registry(settings.types)
        vision = _vision_settings(client, settings, component) if component else None
        llm_client = CachingClient(client, state, metrics) if component else None
        context = _context_tokens(client, settings, component) if component else LOCAL_CONTEXT_TOKENS
        return cls(
            llm_client,
            component,
            metrics,
            registry,
            vision,
            OutputModes(state),
            context=context,
            strategy=settings.extraction,
        )

    def vision_extract(
        self, document: Document, images: list[bytes], type_name: str, language: str | None
    ) -> tuple[Draft, Usage]:
        doc_type = self.registry.get(type_name)
        started = time.perf_counter()
        extraction = extract_from_image(images, doc_type, self.vision, document)
        self._metrics.llm_seconds.labels("vision").observe(time.perf_counter() - started)
        return self._draft(doc_type, language, extraction, document), self._usage(extraction.usage)

    @contextlib.contextmanager
    def _llm(self, doc_id: str, offline: bool) -> Iterator[Any]:
        """The model for one step (None: the offline extractor). A step whose reply was unusable forgets the replies
        it stored (truncated, not JSON, ...), so its retry asks the provider again instead of replaying them."""
        if offline or self._client is None or self.component is None:
            yield None
            return
        view = self._client.for_document(doc_id)
        try:
            yield Llm(view, self.component, modes=self.output_modes, context=self.context_tokens)
        except LlmError:
            # Only an unusable reply is forgotten: a good one stays paid for whatever else failed in the step.
            view.forget()
            raise

    def _usage(self, usage: list[Any]) -> Usage:
        """One agents ``Usage`` record per model call."""
        total = Usage()
        for u in usage:
            total = total + Usage(llm_calls=1, input_tokens=u.tokens_in, output_tokens=u.tokens_out)
            self._metrics.llm_calls.labels(u.operation).inc()
            self._metrics.llm_tokens.labels("input").inc(u.tokens_in)
            self._metrics.llm_tokens.labels("output").inc(u.tokens_out)
        return total

    def classify(
        self, doc_id: str, document: Document, requested_type: str | None, *, offline: bool = False
    ) -> ClassifyOut:
        language = document.language
        if requested_type:
            self.registry.get(requested_type)  # UnknownDocumentType (a DocumentError) when there is none
            return ClassifyOut(document_type=requested_type, language=language)
        with self._llm(doc_id, offline) as llm:
            result = classify(document, self.registry.all(), llm, offline_first=self.strategy == "hybrid")
        if not result.type:
            raise UnknownDocumentType("docline could not tell what kind of document this is.")
        return ClassifyOut(document_type=result.type, language=language, usage=self._usage(result.usage))

    def split(self, document: Document, barcode_pages: list[int]) -> SplitProposal:
        """Where the documents in a file of several begin (offline: the page signals of ``agents.bundles``)."""
        split = split_document(document, self.registry.all(), barcode_pages)
        return SplitProposal(
            pages=split.pages,
            starts=split.starts,
            separators=list(split.separators),
            gaps=[SplitGap(page=g.page, score=g.score, signals=list(g.signals)) for g in split.gaps],
            unsure=split.unsure,
        )

    def _draft(self, doc_type: Any, language: str | None, extraction: Any, document: Document) -> Draft:
        # Line items are checked against the rows the document's table prints, whoever read them.
        report = validate_read(doc_type, extraction.data, document, language)
        fields = {
            path: FieldInfo(
                value=getattr(f, "value", None),
                confidence=getattr(f, "confidence", None),
                page=getattr(f, "page", None),
                bbox=getattr(f, "bbox", None),
                layout=getattr(f, "layout", None),
            )
            for path, f in extraction.fields.items()
        }
        issues = [ValidationIssue(field=e.field, code=e.code, message=e.message) for e in report.errors]
        return Draft(
            document_type=doc_type.name,
            language=language,
            # Valid data in the type's JSON form; otherwise as read, so the reviewer sees what was there.
            data=dict(report.data) if report.valid else dict(extraction.data),
            fields=fields,
            validation=Validation(valid=report.valid, errors=issues),
        )

    def extract(
        self,
        doc_id: str,
        document: Document,
        type_name: str,
        language: str | None,
        *,
        offline: bool = False,
        memory: LayoutMemory | None = None,
    ) -> tuple[Draft, Usage]:
        """The draft of ``document`` as ``type_name``; ``memory``: its sender's layout memory (``pipeline.layouts``)."""
        doc_type = self.registry.get(type_name)
        with self._llm(doc_id, offline) as llm:
            extraction = extract(document, doc_type, llm, strategy=self.strategy, memory=memory)
        return self._draft(doc_type, language, extraction, document), self._usage(extraction.usage)

    def repair(
        self, doc_id: str, document: Document, draft: Draft, attempt: int, *, offline: bool = False
    ) -> tuple[Draft, Usage]:
        doc_type = self.registry.get(draft.document_type)
        fields = {
            k: FieldValue(value=v.value, confidence=v.confidence or 0.0, page=v.page, bbox=v.bbox, layout=v.layout)
            for k, v in draft.fields.items()
        }
        current = Extraction(doc_type=doc_type.name, data=draft.data, fields=fields)
        report = validate_read(doc_type, draft.data, document, draft.language)
        # A hybrid extraction already put every failing field to the model and decided it by the rules: asking
        # again would pay for the same answer, so its repair is the offline one.
        with self._llm(doc_id, offline or self.strategy == "hybrid") as llm:
            repaired = repair(document, doc_type, current, report, llm)
        return self._draft(doc_type, draft.language, repaired, document), self._usage(repaired.usage)

    def correct(self, draft: Draft, corrections: dict[str, Any]) -> Draft:
        """Apply a reviewer's ``{"dotted.path": value}`` corrections and validate again. Valid data is kept in the
        type's JSON form, as for the model's drafts (a reviewer's ``BI`` is stored as the canonical ``in``)."""

        data = apply_corrections(draft.data, corrections)
        report = validate(self.registry.get(draft.document_type), data, draft.language)
        if report.valid:
            data = dict(report.data)
        fields = dict(draft.fields)
        for path in corrections:
            old = fields.get(path, FieldInfo())
            value = get_path(data, path) if report.valid else corrections[path]
            fields[path] = old.model_copy(update={"value": value, "confidence": 1.0, "layout": None})
        issues = [ValidationIssue(field=e.field, code=e.code, message=e.message) for e in report.errors]
        return draft.model_copy(
            update={"data": data, "fields": fields, "validation": Validation(valid=report.valid, errors=issues)}
        )


def apply_corrections(data: dict[str, Any], corrections: dict[str, Any]) -> dict[str, Any]:
    """Set each dotted path (list items by index: ``items.0.amount``) in a copy of ``data``."""
    out = copy.deepcopy(data)
    for path, value in corrections.items():
        parts = path.split(".")
        node: Any = out
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            key: Any = int(part) if isinstance(node, list) and part.isdigit() else part
            if last:
                if isinstance(node, list):
                    if not (isinstance(key, int) and key < len(node)):
                        raise ValueError(f"no list item at {path!r}")
                    node[key] = value
                elif isinstance(node, dict):
                    node[key] = value
                else:
                    raise ValueError(f"{path!r} goes into a value that is not an object")
            else:
                if isinstance(node, list):
                    if not (isinstance(key, int) and key < len(node)):
                        raise ValueError(f"no list item at {path!r}")
                    node = node[key]
                elif isinstance(node, dict):
                    node = node.setdefault(key, {})
                else:
                    raise ValueError(f"{path!r} goes into a value that is not an object")
    return out
