"""``conversation.openai`` (also ``apiType: azure`` and OpenAI-compatible ``endpoint``s) and ``conversation.ollama``.

Through the official ``openai`` SDK, whose own retry loop handles 429/5xx/timeouts with backoff and honours
``Retry-After`` (up to 60 s); ``maxRetries`` and ``timeout`` metadata configure it. A refusal (a 4xx, or a 5xx
saying the request was invalid) is not retried and is raised as :class:`ConversationRefused`.
"""

from __future__ import annotations

import os
import re
from typing import Any

import openai

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


def openai_response_format(response_format: dict[str, Any]) -> dict[str, Any]:
    """Dapr's ``response_format`` as OpenAI's: passed through if already ``{"type": ...}``, else a JSON schema."""
    if response_format.get("type") in ("json_schema", "json_object", "text") and (
        response_format.get("type") != "json_schema" or "json_schema" in response_format
    ):
        return response_format
    name = re.sub(r"[^A-Za-z0-9_-]", "_", str(response_format.get("title") or "response"))[:64]
    return {"type": "json_schema", "json_schema": {"name": name, "schema": response_format}}


def _tool_choice(choice: str) -> Any:
    if choice in ("auto", "none", "required"):
        return choice
    return {"type": "function", "function": {"name": choice}}


class OpenAIConversation(ConversationComponent):
    def __init__(self, component: Component, *, default_model: str = "gpt-4-turbo", key_required: bool = True) -> None:
        super().__init__(component, default_model=default_model)
        self.key = component.value("key") or ""
        if key_required and not self.key:
            raise ComponentConfigError(f"{component.type} {component.name}: metadata key is required")
        self.endpoint = component.value("endpoint") or None
        self.api_type = (component.value("apiType") or "").lower()
        self.api_version = component.value("apiVersion") or None
        if self.api_type == "azure" and (not self.endpoint or not self.api_version):
            raise ComponentConfigError(f"{component.name}: apiType azure needs endpoint and apiVersion")
        self._client: openai.AsyncOpenAI | None = None

    async def init(self) -> None:
        http = openai.DefaultAsyncHttpxClient(event_hooks={"response": [mark_refusals]})
        if self.api_type == "azure":
            self._client = openai.AsyncAzureOpenAI(
                azure_endpoint=self.endpoint or "",
                api_version=self.api_version,
                api_key=self.key,
                timeout=self.timeout,
                max_retries=self.max_retries,
                http_client=http,
            )
        else:
            self._client = openai.AsyncOpenAI(
                api_key=self.key or "unused",
                base_url=self.endpoint,
                timeout=self.timeout,
                max_retries=self.max_retries,
                http_client=http,
            )

    async def complete(self, request: ChatRequest) -> ChatResult:
        assert self._client is not None, "init() not called"
        max_tokens = request.max_tokens or self.default_max_tokens
        kwargs: dict[str, Any] = {"model": self.model, "messages": request.messages}
        if request.tools:
            kwargs["tools"] = request.tools
            if request.tool_choice:
                kwargs["tool_choice"] = _tool_choice(request.tool_choice)
        if request.response_format:
            kwargs["response_format"] = openai_response_format(request.response_format)
        if request.temperature is not None:
            kwargs["temperature"] = request.temperature
        if max_tokens:
            kwargs["max_completion_tokens"] = max_tokens
        try:
            resp = await self._client.chat.completions.create(**kwargs)
        except openai.APIStatusError as exc:
            if is_refusal(exc.status_code, exc.response.text):
                message = f"{self.name}: provider refused the request (HTTP {exc.status_code}): {exc.message}"
                raise ConversationRefused(message, status=exc.status_code) from exc
            raise ConversationError(f"{self.name}: provider answered HTTP {exc.status_code}: {exc.message}") from exc
        except openai.APITimeoutError as exc:
            raise ConversationError(f"{self.name}: provider timed out after {self.timeout:g}s") from exc
        except openai.OpenAIError as exc:
            raise ConversationError(f"{self.name}: provider call failed: {exc}") from exc
        except ValueError as exc:  # a body that is not the JSON it claims to be
            raise ConversationError(f"{self.name}: provider sent an unreadable reply: {exc}") from exc
        if not isinstance(getattr(resp, "choices", None), list):
            raise ConversationError(f"{self.name}: provider reply has no choices")
        choices = []
        for i, choice in enumerate(resp.choices):
            message = choice.message
            calls = tuple(
                ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments)
                for c in (message.tool_calls or [])
                if getattr(c, "function", None) is not None
            )
            index = choice.index if isinstance(choice.index, int) else i
            choices.append(ChatChoice(index, choice.finish_reason or "", message.content or "", calls))
        usage = None
        if resp.usage is not None:
            u = resp.usage
            usage = ChatUsage(
                prompt_tokens=u.prompt_tokens or 0,
                completion_tokens=u.completion_tokens or 0,
                total_tokens=u.total_tokens or 0,
                cached_tokens=(u.prompt_tokens_details.cached_tokens or 0) if u.prompt_tokens_details else 0,
                reasoning_tokens=(u.completion_tokens_details.reasoning_tokens or 0)
                if u.completion_tokens_details
                else 0,
            )
        return ChatResult(choices=choices, model=resp.model or self.model, usage=usage)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()


class OllamaConversation(OpenAIConversation):
    """Ollama through its OpenAI-compatible ``/v1`` API, on the server named by ``endpoint`` (a docline extra) or
    ``OLLAMA_HOST`` (what daprd's component reads), default ``http://localhost:11434``."""

    def __init__(self, component: Component) -> None:
        super().__init__(component, default_model="llama3.2:latest", key_required=False)
        host = self.endpoint or os.environ.get("OLLAMA_HOST") or "http://localhost:11434"
        if not host.startswith(("http://", "https://")):
            host = f"http://{host}"
        host = host.rstrip("/")
        self.endpoint = host if host.endswith("/v1") else f"{host}/v1"
