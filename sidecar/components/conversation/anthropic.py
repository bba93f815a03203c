"""``conversation.anthropic`` through the official ``anthropic`` SDK (its retry loop honours ``Retry-After``).

``response_format`` is served by a forced tool call whose input schema is the requested schema, and the tool's
input is returned as the message content (JSON text), so the caller gets the same shape as from OpenAI.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import anthropic

from dapr_components.spec import Component
from sidecar.components.conversation import (
    ChatChoice,
    ChatRequest,
    ChatResult,
    ChatUsage,
    ConversationComponent,
    ToolCall,
    is_refusal,
    mark_refusals,
)
from sidecar.components.errors import ComponentConfigError, ConversationError, ConversationRefused

log = logging.getLogger(__name__)

_STOP = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls"}
_FORMAT_TOOL = "structured_response"


def _schema_of(response_format: dict[str, Any]) -> dict[str, Any]:
    if response_format.get("type") == "json_schema" and isinstance(response_format.get("json_schema"), dict):
        inner = response_format["json_schema"]
        return dict(inner.get("schema") or {"type": "object"})
    if response_format.get("type") == "json_object":
        return {"type": "object"}
    return response_format


def _text(content: Any) -> str:
    return content if isinstance(content, str) else ""


def to_anthropic(request: ChatRequest) -> tuple[str, list[dict[str, Any]]]:
    """OpenAI-shaped messages as Anthropic's (system prompt apart, tool results as user content blocks)."""
    system: list[str] = []
    messages: list[dict[str, Any]] = []
    for m in request.messages:
        role = m.get("role")
        if role in ("system", "developer"):
            system.append(_text(m.get("content")))
        elif role == "user":
            messages.append({"role": "user", "content": _text(m.get("content"))})
        elif role == "assistant":
            blocks: list[dict[str, Any]] = []
            if _text(m.get("content")):
                blocks.append({"type": "text", "text": m["content"]})
            for call in m.get("tool_calls") or []:
                try:
                    args = json.loads(call["function"]["arguments"] or "{}")
                except ValueError:
                    args = {}
                blocks.append({"type": "tool_use", "id": call["id"], "name": call["function"]["name"], "input": args})
            messages.append({"role": "assistant", "content": blocks or ""})
        elif role == "tool":
            block = {
                "type": "tool_result",
                "tool_use_id": m.get("tool_call_id", ""),
                "content": _text(m.get("content")),
            }
            messages.append({"role": "user", "content": [block]})
    return "\n\n".join(s for s in system if s), messages


class AnthropicConversation(ConversationComponent):
    def __init__(self, component: Component) -> None:
        super().__init__(component, default_model="claude-3-5-sonnet-20240620")
        self.key = component.value("key") or ""
        if not self.key:
            raise ComponentConfigError(f"conversation.anthropic {component.name}: metadata key is required")
        # Not Dapr metadata: lets tests and proxies point the component elsewhere.
        self.endpoint = component.value("endpoint") or None
        self._client: anthropic.AsyncAnthropic | None = None

    async def init(self) -> None:
        self._client = anthropic.AsyncAnthropic(
            api_key=self.key,
            base_url=self.endpoint,
            timeout=self.timeout,
            max_retries=self.max_retries,
            http_client=anthropic.DefaultAsyncHttpxClient(event_hooks={"response": [mark_refusals]}),
        )

    async def complete(self, request: ChatRequest) -> ChatResult:
        assert self._client is not None, "init() not called"
        system, messages = to_anthropic(request)
        kwargs: dict[str, Any] = {
            "model": self.model,
            "max_tokens": request.max_tokens or self.default_max_tokens or 4096,
            "messages": messages,
        }
        if system:
            kwargs["system"] = system
        if request.temperature is not None:
            # The current Messages API (and SDK) has no sampling temperature; the request's value is not sent.
            log.debug(
                "%s: temperature %s not sent (not part of the Anthropic Messages API)", self.name, request.temperature
            )
        tools = [
            {
                "name": t["function"]["name"],
                "description": t["function"].get("description", ""),
                "input_schema": t["function"].get("parameters") or {"type": "object", "properties": {}},
            }
            for t in request.tools
        ]
        structured = request.response_format is not None and not tools
        if structured:
            assert request.response_format is not None
            tools = [
                {
                    "name": _FORMAT_TOOL,
                    "description": "Give the answer in this structure.",
                    "input_schema": _schema_of(request.response_format),
                }
            ]
            kwargs["tool_choice"] = {"type": "tool", "name": _FORMAT_TOOL}
        elif tools and request.tool_choice:
            choice = request.tool_choice
            kwargs["tool_choice"] = {
                "auto": {"type": "auto"},
                "required": {"type": "any"},
                "none": {"type": "none"},
            }.get(choice, {"type": "tool", "name": choice})
        if tools:
            kwargs["tools"] = tools
        try:
            resp = await self._client.messages.create(**kwargs)
        except anthropic.APIStatusError as exc:
            if is_refusal(exc.status_code, exc.response.text):
                message = f"{self.name}: provider refused the request (HTTP {exc.status_code}): {exc.message}"
                raise ConversationRefused(message, status=exc.status_code) from exc
            raise ConversationError(f"{self.name}: provider answered HTTP {exc.status_code}: {exc.message}") from exc
        except anthropic.APITimeoutError as exc:
            raise ConversationError(f"{self.name}: provider timed out after {self.timeout:g}s") from exc
        except anthropic.AnthropicError as exc:
            raise ConversationError(f"{self.name}: provider call failed: {exc}") from exc
        except ValueError as exc:
            raise ConversationError(f"{self.name}: provider sent an unreadable reply: {exc}") from exc
        texts: list[str] = []
        calls: list[ToolCall] = []
        for block in resp.content or []:
            if block.type == "text":
                texts.append(block.text)
            elif block.type == "tool_use":
                if structured and block.name == _FORMAT_TOOL:
                    texts.append(json.dumps(block.input, ensure_ascii=False))
                else:
                    calls.append(ToolCall(id=block.id, name=block.name, arguments=json.dumps(block.input)))
        finish = _STOP.get(resp.stop_reason or "", resp.stop_reason or "")
        if structured and finish == "tool_calls":
            finish = "stop"
        u = resp.usage
        prompt = (u.input_tokens or 0) if u else 0
        completion = (u.output_tokens or 0) if u else 0
        cached = (getattr(u, "cache_read_input_tokens", None) or 0) if u else 0
        usage = ChatUsage(prompt, completion, prompt + completion, cached_tokens=cached)
        answer = ChatChoice(0, finish, "".join(texts), tuple(calls))
        return ChatResult(choices=[answer], model=resp.model or self.model, usage=usage)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
