"""The LLM behind Dapr's Conversation API (``DaprClient.converse_alpha2``), asked for JSON.

The type's JSON schema goes as ``response_format``; when the provider ignores it (prose or fenced JSON comes back,
or the call is refused) the same question is asked again in JSON mode, the schema inlined in the prompt. Every call
returns a :class:`Usage` record. Calls are deterministic requests (temperature 0): retried activities repeat them.
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

from google.protobuf import json_format
from google.protobuf.struct_pb2 import Struct

from agents.models import Usage

log = logging.getLogger(__name__)


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


def _struct(schema: dict[str, Any]) -> Struct:
    message = Struct()
    json_format.ParseDict(provider_schema(schema), message)
    return message


class Llm:
    """A conversation component seen as "question in, JSON object out".

    ``client`` is a ``dapr.clients.DaprClient`` (or anything with its ``converse_alpha2``); ``component`` the
    conversation component's name; ``provider`` what Usage records name (default: the component name).
    """

    def __init__(self, client: Any, component: str, *, provider: str | None = None, temperature: float = 0.0) -> None:
        self.client = client
        self.component = component
        self._provider = provider
        self.temperature = temperature

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
        """Ask, get a JSON object. ``json_mode_user`` is the user message for the JSON-mode fallback (the schema
        inlined); without it, ``user`` plus the schema is used."""
        usages: list[Usage] = []
        if schema is not None:
            reply = self._timed(operation, system, user, _struct(schema), usages)
            if reply is not None:
                data = parse_json_object(reply)
                if data is not None:
                    return data, usages
                log.info("component %s ignored response_format for %s; asking in JSON mode", self.component, operation)
        fallback_user = json_mode_user or (
            user
            if schema is None
            else f"{user}\n\nJSON schema of the answer:\n{json.dumps(provider_schema(schema), sort_keys=True)}"
        )
        system_json = system + "\nRespond with the JSON object only: no prose, no code fences."
        reply = self._timed(operation, system_json, fallback_user, None, usages, raise_errors=True)
        data = parse_json_object(reply or "")
        if data is None:
            raise LlmError(f"component {self.component} did not answer {operation} with a JSON object")
        return data, usages

    def _timed(
        self,
        operation: str,
        system: str,
        user: str,
        response_format: Struct | None,
        usages: list[Usage],
        *,
        raise_errors: bool = False,
    ) -> str | None:
        started = time.perf_counter()
        try:
            text, model, tokens_in, tokens_out = self._call(system, user, response_format)
        except Exception as error:
            # A provider that rejects response_format gets the JSON-mode question; anything else is the caller's.
            if raise_errors or "response_format" not in str(error).lower():
                raise
            log.info("component %s refused response_format (%s); JSON mode next", self.component, error)
            return None
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
        return text
