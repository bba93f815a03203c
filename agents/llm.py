"""The LLM behind Dapr's Conversation API (``DaprClient.converse_alpha2``), asked for JSON.

Each conversation component is asked in the best output mode it accepts (:class:`OutputMode`): the type's JSON schema
as ``response_format``, else JSON object mode with the schema in the prompt, else the schema in the prompt alone. A
refusal (the provider answering that it cannot serve the request as asked) moves to the next mode at once and is
remembered per component (:class:`OutputModes`, in the Dapr state store when given one), so the next document starts
in the mode that works. Every call returns a :class:`Usage` record. Calls are deterministic requests (temperature 0):
retried activities repeat them.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal, Protocol

from google.protobuf import json_format
from google.protobuf.struct_pb2 import Struct
from pydantic import BaseModel, ConfigDict, ValidationError

from agents.models import Usage
from dapr_components import Component, ComponentConfigError

log = logging.getLogger(__name__)


# The model's context when a component does not say (metadata ``contextTokens``): hosted models' are large; a local
# or other OpenAI-compatible server is taken to be small (llama.cpp and vLLM serve what they were started with).
HOSTED_CONTEXT_TOKENS = {"openai": 128_000, "azure": 128_000, "anthropic": 200_000}
LOCAL_CONTEXT_TOKENS = 8192
OLLAMA_CONTEXT_TOKENS = 4096  # Ollama's own default; it cuts longer prompts without a word


def context_tokens(component_type: str, component: Component | None = None) -> int:
    """The context size of the model behind a conversation component of ``component_type`` (``conversation.openai``):
    its file's ``contextTokens`` when given, else the provider's default, where an OpenAI component with an
    ``endpoint`` other than OpenAI's counts as local (llama.cpp, vLLM, LM Studio, NIM: 8192)."""
    value = component.value("contextTokens") if component is not None else None
    if value is not None:
        if not value.strip().isdigit() or int(value) <= 0:
            raise ComponentConfigError(f"{component_type}: contextTokens must be a positive integer, not {value!r}")
        return int(value)
    kind = component_type.removeprefix("conversation.")
    endpoint = (component.value("endpoint") or "") if component is not None else ""
    if kind == "openai" and component is not None and (component.value("apiType") or "").lower() == "azure":
        return HOSTED_CONTEXT_TOKENS["azure"]
    if kind == "openai" and endpoint and "api.openai.com" not in endpoint:
        return LOCAL_CONTEXT_TOKENS
    if kind == "ollama":
        return OLLAMA_CONTEXT_TOKENS
    return HOSTED_CONTEXT_TOKENS.get(kind, LOCAL_CONTEXT_TOKENS)


class LlmError(Exception):
    """The model's answer could not be used (no JSON object even in JSON mode). Transient: retry the activity."""

    code = "llm_bad_reply"


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def parse_json_object(text: str) -> dict[str, Any] | None:
    """The JSON object in a model's answer: the whole text, a fenced block, or the outermost ``{...}``."""
    candidates = [text.strip()]
    candidates.extend(match.group(1).strip() for match in _FENCE.finditer(text))
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def provider_schema(schema: Any) -> Any:
    """``schema`` without docline's own ``x-`` keywords (labels, keywords): providers see plain JSON Schema."""
    if isinstance(schema, dict):
        return {k: provider_schema(v) for k, v in schema.items() if not str(k).startswith("x-")}
    if isinstance(schema, list):
        return [provider_schema(item) for item in schema]
    return schema


def _struct(value: dict[str, Any]) -> Struct:
    message = Struct()
    json_format.ParseDict(value, message)
    return message


class OutputMode(StrEnum):
    """How a component is asked for a JSON answer, best first."""

    SCHEMA = "json_schema"  # the answer's JSON schema as response_format (structured output)
    JSON = "json_object"  # response_format {"type": "json_object"}, the schema in the prompt
    PROMPT = "prompt"  # no response_format, the schema in the prompt


OUTPUT_MODES: tuple[OutputMode, ...] = (OutputMode.SCHEMA, OutputMode.JSON, OutputMode.PROMPT)


def response_format(mode: OutputMode, schema: dict[str, Any] | None) -> Struct | None:
    """The Alpha2 ``response_format`` for ``mode``: the schema (docline's own ``x-`` keywords removed), JSON object
    mode, or none. (daprd reads every ``response_format`` as a JSON schema, so through daprd JSON object mode is
    refused and the negotiation goes on to prompt mode; docline's sidecar serves it.)"""
    if mode is OutputMode.SCHEMA and schema is not None:
        return _struct(provider_schema(schema))
    if mode is OutputMode.JSON:
        return _struct({"type": "json_object"})
    return None


# What a provider refusing the request as asked says (the same signs the sidecar looks for in a 5xx body).
_REFUSED = re.compile(
    r"invalid[ _-]?(?:request|argument|param|value|schema|json|input)|validation error|response_format|json_schema"
    r"|grammar|schema|not supported|unsupported",
    re.IGNORECASE,
)
_HTTP_STATUS = re.compile(r"(?:HTTP|status code)\D{0,3}([1-5]\d\d)\b", re.IGNORECASE)
# A 4xx that is not about how the request was asked: key, permission, missing model, timeout, conflict, rate limit.
_HTTP_NOT_REFUSED = frozenset({401, 403, 404, 408, 409, 429})
# A prompt too long for the model is refused in every output mode: no reason to change the mode.
_TOO_LONG = re.compile(r"context[ _]length|maximum context|context window|too many tokens|prompt is too long", re.I)
# gRPC statuses of failures that are not about how the request was asked.
_GRPC_NOT_REFUSED = frozenset(
    {"UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "UNAUTHENTICATED", "PERMISSION_DENIED", "NOT_FOUND"}
)


def refused(status: int | None, text: str) -> bool:
    """Whether a provider's error with HTTP ``status`` (None: not known) and message ``text`` refuses the request as
    it was asked: a 4xx but 401/403/404/408/409/429, or a message with the words of a refusal. A prompt too long for
    the model's context is refused whatever is asked, so it counts as no refusal of the way of asking."""
    if _TOO_LONG.search(text):
        return False
    if status is not None and 400 <= status < 500:
        return status not in _HTTP_NOT_REFUSED
    if status is not None and status < 500:
        return False
    return _REFUSED.search(text) is not None


def refusal(error: BaseException) -> str | None:
    """The provider's words when a Conversation API ``error`` is a refusal of the request as it was asked, else None.

    docline's sidecar answers a refusal with INVALID_ARGUMENT; daprd answers INTERNAL with the provider's status and
    message in the text, which :func:`refused` reads. Rate limits, timeouts and real server errors are no refusals.
    """
    code_of, details_of = getattr(error, "code", None), getattr(error, "details", None)  # a gRPC error has both
    code = code_of() if callable(code_of) else None
    details = details_of() if callable(details_of) else None
    text = str(details or error)
    name = str(getattr(code, "name", ""))
    if name in _GRPC_NOT_REFUSED:
        return None
    if name == "INVALID_ARGUMENT":
        return None if _TOO_LONG.search(text) else text
    status = _HTTP_STATUS.search(text)
    return text if refused(int(status.group(1)) if status else None, text) else None


class LearnedMode(BaseModel):
    """What is remembered of a component that refused a better mode: the best mode it then answered in."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["docline-llm-output-mode/1"] = "docline-llm-output-mode/1"
    component: str
    mode: OutputMode
    model: str = ""  # the model that answered; another model behind the component is asked in the best mode again
    refusal: str = ""  # the provider's words when it refused the better mode
    learned_at: datetime


class KeyValueStore(Protocol):
    """The state store as :class:`pipeline.store.ResultStore` offers it: JSON values by key."""

    def get_value(self, key: str) -> Any: ...

    def put_value(self, key: str, value: Any) -> None: ...

    def delete_value(self, key: str) -> None: ...


class OutputModes:
    """The best output mode each conversation component accepts, learned from its refusals (never from an answer
    that was not JSON: a reply cut short is no refusal). Kept for the process and, with a ``store``, in the Dapr state
    store, so that replicas and restarts share it. An entry older than ``relearn_after``, or one learned with another
    model than the component now answers with, is dropped and the best mode tried again."""

    def __init__(self, store: KeyValueStore | None = None, *, relearn_after: timedelta = timedelta(days=7)) -> None:
        self._store = store
        self._relearn_after = relearn_after
        self._known: dict[str, LearnedMode | None] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(component: str) -> str:
        """The state store key of ``component``'s entry."""
        return f"llm-output-mode-{component}"

    def learned(self, component: str) -> LearnedMode | None:
        """What is remembered of ``component`` (None: nothing was refused, or it is forgotten)."""
        with self._lock:
            if component not in self._known:
                self._known[component] = self._read(component)
            entry = self._known[component]
        if entry is not None and datetime.now(UTC) - entry.learned_at > self._relearn_after:
            self.forget(component)
            return None
        return entry

    def best(self, component: str) -> OutputMode:
        """The mode to ask ``component`` in first."""
        entry = self.learned(component)
        return OutputMode.SCHEMA if entry is None else entry.mode

    def learn(self, component: str, mode: OutputMode, *, model: str, refusal: str) -> None:
        """``component`` refused a better mode (saying ``refusal``) and ``model`` answered in ``mode``."""
        if OUTPUT_MODES.index(mode) <= OUTPUT_MODES.index(self.best(component)):
            return  # already known (another call learned it meanwhile)
        entry = LearnedMode(
            component=component, mode=mode, model=model, refusal=refusal[:500], learned_at=datetime.now(UTC)
        )
        log.info("conversation component %s: asking in %s mode from now on (%s)", component, mode, entry.refusal)
        with self._lock:
            self._known[component] = entry
        if self._store is not None:
            try:
                self._store.put_value(self.key(component), entry.model_dump(mode="json"))
            except Exception:  # the process still remembers; other replicas learn it themselves
                log.warning("could not store the output mode of %s", component, exc_info=True)

    def answered(self, component: str, mode: OutputMode, model: str) -> None:
        """``model`` answered ``component`` in ``mode``: a mode learned with another model is forgotten."""
        entry = self.learned(component)
        if entry is not None and entry.mode is mode and model and entry.model and model != entry.model:
            log.info(
                "conversation component %s now answers with %s: trying the best output mode again", component, model
            )
            self.forget(component)

    def forget(self, component: str) -> None:
        with self._lock:
            self._known[component] = None
        if self._store is not None:
            try:
                self._store.delete_value(self.key(component))
            except Exception:
                log.warning("could not delete the output mode of %s", component, exc_info=True)

    def _read(self, component: str) -> LearnedMode | None:
        if self._store is None:
            return None
        try:
            value = self._store.get_value(self.key(component))
            return None if value is None else LearnedMode.model_validate(value)
        except ValidationError:
            log.warning("unreadable output mode entry for %s ignored", component)
            return None
        except Exception:  # the state store is down: ask in the best mode, as with nothing learned
            log.warning("could not read the output mode of %s", component, exc_info=True)
            return None


class Llm:
    """A conversation component seen as "question in, JSON object out".

    ``client`` is a ``dapr.clients.DaprClient`` (or anything with its ``converse_alpha2``); ``component`` the
    conversation component's name; ``provider`` what Usage records name (default: the component's type); ``modes``
    the output modes learned so far, shared by every ``Llm`` of the process (default: this one's own).
    """

    def __init__(
        self,
        client: Any,
        component: str,
        *,
        provider: str | None = None,
        temperature: float = 0.0,
        modes: OutputModes | None = None,
        context: int = LOCAL_CONTEXT_TOKENS,
    ) -> None:
        self.client = client
        self.component = component
        self._provider = provider
        self.temperature = temperature
        self.modes = modes if modes is not None else OutputModes()
        self.context_tokens = context  # what prompts must fit in (see ``context_tokens``)

    @property
    def provider(self) -> str:
        """The component's type without ``conversation.`` (``openai``), from the sidecar's metadata."""
        if self._provider is None:
            self._provider = self.component
            try:
                for registered in self.client.get_metadata().registered_components:
                    if registered.name == self.component:
                        self._provider = str(registered.type).removeprefix("conversation.")
            except Exception:  # metadata is a nicety for usage records; never fail a call for it
                log.debug("no metadata for component %s", self.component, exc_info=True)
        return self._provider

    def _call(self, system: str, user: str, response_format: Struct | None) -> tuple[str, str, int, int]:
        from dapr.clients.grpc.conversation import (
            ConversationInputAlpha2,
            create_system_message,
            create_user_message,
        )

        inputs = [ConversationInputAlpha2(messages=[create_system_message(system), create_user_message(user)])]
        kwargs: dict[str, Any] = {"temperature": self.temperature}
        if response_format is not None:
            kwargs["response_format"] = response_format
        response = self.client.converse_alpha2(name=self.component, inputs=inputs, **kwargs)
        text, model, tokens_in, tokens_out = "", "", 0, 0
        for output in response.outputs or []:
            model = output.model or model
            if output.usage is not None:
                tokens_in += output.usage.prompt_tokens or 0
                tokens_out += output.usage.completion_tokens or 0
            for choice in output.choices or []:
                text += choice.message.content or ""
        return text, model, tokens_in, tokens_out

    def complete_json(
        self,
        *,
        operation: str,
        system: str,
        user: str,
        schema: dict[str, Any] | None,
        json_mode_user: str | None = None,
    ) -> tuple[dict[str, Any], list[Usage]]:
        """Ask, get a JSON object, in the best mode the component accepts. ``user`` goes with the schema as
        ``response_format``; ``json_mode_user`` (the schema inlined; default: ``user`` plus the schema) in JSON object
        and prompt mode. A refusal moves on to the next mode at once and is remembered once the next mode is answered;
        an answer that is not JSON gets one more ask in the next mode, and is not remembered."""
        usages: list[Usage] = []
        inline = json_mode_user or (
            user
            if schema is None
            else f"{user}\n\nJSON schema of the answer:\n{json.dumps(provider_schema(schema), sort_keys=True)}"
        )
        system_json = system + "\nRespond with the JSON object only: no prose, no code fences."
        first = OUTPUT_MODES.index(self.modes.best(self.component))
        modes = [m for m in OUTPUT_MODES[first:] if schema is not None or m is not OutputMode.SCHEMA]
        refused: str | None = None
        for mode in modes:
            asked = (system, user) if mode is OutputMode.SCHEMA else (system_json, inline)
            try:
                text, model = self._timed(operation, *asked, response_format(mode, schema), usages)
            except Exception as error:
                words = refusal(error)
                if words is None or mode is OutputMode.PROMPT:
                    raise
                log.info(
                    "component %s refused %s for %s (%s); asking in the next mode",
                    self.component,
                    mode,
                    operation,
                    words,
                )
                refused = refused or words
                continue
            if refused is not None:
                self.modes.learn(self.component, mode, model=model, refusal=refused)
                refused = None
            else:
                self.modes.answered(self.component, mode, model)
            data = parse_json_object(text)
            if data is not None:
                return data, usages
            if mode is not OutputMode.SCHEMA:
                break
            log.info("component %s ignored response_format for %s; asking in JSON mode", self.component, operation)
        raise LlmError(f"component {self.component} did not answer {operation} with a JSON object")

    def _timed(
        self, operation: str, system: str, user: str, response_format: Struct | None, usages: list[Usage]
    ) -> tuple[str, str]:
        """The answer's text and model; a Usage record for the call is appended to ``usages``."""
        started = time.perf_counter()
        text, model, tokens_in, tokens_out = self._call(system, user, response_format)
        usages.append(
            Usage(
                provider=self.provider,
                model=model or "unknown",
                operation=operation,
                tokens_in=tokens_in,
                tokens_out=tokens_out,
                latency_ms=round((time.perf_counter() - started) * 1000, 3),
            )
        )
        return text, model
