"""Conversation components: a provider-neutral chat request/result, and the LLM component interface.

Messages and tools use the OpenAI chat-completions shape internally (Dapr's Alpha2 API is modelled on it);
each provider converts from it. Components are built from metadata only; clients are made at ``init``.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from dapr_components.duration import parse_duration
from dapr_components.spec import Component
from sidecar.components.errors import ComponentConfigError

_CACHE_MAX = 1024

__all__ = [
    "ChatChoice",
    "ChatRequest",
    "ChatResult",
    "ChatUsage",
    "ConversationComponent",
    "ToolCall",
    "is_refusal",
    "mark_refusals",
]

# A 5xx whose body says this is the request being refused, not the provider failing: llama.cpp's server answers
# HTTP 500 to a response_format it cannot serve, with the validation error as the message.
_REFUSED = re.compile(
    r"invalid[ _-]?(?:request|argument|param|value|schema|json|input)|validation error|response_format|json_schema"
    r"|grammar|schema|not supported|unsupported",
    re.IGNORECASE,
)
# Client errors that are worth asking again: request timeout, conflict (lock), rate limit.
_RETRYABLE_4XX = frozenset({408, 409, 429})


def is_refusal(status: int, body: str) -> bool:
    """Whether a provider's error answer refuses the request as it was asked, so that asking again cannot help: any
    4xx but timeouts, conflicts and rate limits, or a 5xx whose body says the request was invalid."""
    if 400 <= status < 500:
        return status not in _RETRYABLE_4XX
    return status >= 500 and _REFUSED.search(body) is not None


async def mark_refusals(response: Any) -> None:
    """An ``httpx`` response hook for the provider SDKs' clients: a refusal gets ``x-should-retry: false``, which
    the openai and anthropic SDKs obey, so their retry loop (kept for 429, timeouts and real 5xx) never repeats it
    with back-off."""
    if response.status_code < 500:
        return  # a refused 4xx is never retried by the SDKs; a retryable one (429, ...) must stay retryable
    await response.aread()
    if is_refusal(response.status_code, response.text):
        response.headers["x-should-retry"] = "false"


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str


@dataclass
class ChatRequest:
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: str | None = None
    response_format: dict[str, Any] | None = None
    temperature: float | None = None
    max_tokens: int | None = None


@dataclass(frozen=True)
class ChatChoice:
    index: int
    finish_reason: str
    content: str
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True)
class ChatUsage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0


@dataclass(frozen=True)
class ChatResult:
    choices: list[ChatChoice]
    model: str = ""
    usage: ChatUsage | None = None


class ConversationComponent(ABC):
    """An LLM behind a conversation component."""

    def __init__(self, component: Component, *, default_model: str) -> None:
        self.name = component.name
        self.model = component.value("model") or default_model
        # `timeout` and `maxRetries` are docline extras (daprd ignores unknown metadata).
        self.timeout = parse_duration(component.value("timeout", "60s") or "60s", field="timeout")
        retries = component.value("maxRetries", "3") or "3"
        max_tokens = component.value("maxTokens")
        if not retries.isdigit() or (max_tokens is not None and not max_tokens.isdigit()):
            raise ComponentConfigError(f"{component.type} {component.name}: maxRetries/maxTokens must be integers")
        self.max_retries = int(retries)
        self.default_max_tokens = int(max_tokens) if max_tokens else None
        # Dapr's response cache: identical requests within cacheTTL are answered from memory, not the provider.
        ttl = component.value("cacheTTL") or component.value("responseCacheTTL")
        self.cache_ttl = parse_duration(ttl, field="cacheTTL") if ttl else 0.0
        self._cache: dict[str, tuple[float, ChatResult]] = {}

    async def init(self) -> None:  # noqa: B027 - optional hook
        """Create the client."""

    async def chat(self, request: ChatRequest) -> ChatResult:
        """The provider's answer, from the response cache when ``cacheTTL`` is set and an identical request is fresh."""
        if self.cache_ttl <= 0:
            return await self.complete(request)
        key = json.dumps(dataclasses.asdict(request), sort_keys=True, default=str)
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        result = await self.complete(request)
        if len(self._cache) >= _CACHE_MAX:
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
        self._cache[key] = (now + self.cache_ttl, result)
        return result

    @abstractmethod
    async def complete(self, request: ChatRequest) -> ChatResult:
        """Ask the provider (no cache)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Close the client."""
