"""A loopback LLM server speaking the OpenAI chat-completions and Anthropic messages wire formats.

Real HTTP on 127.0.0.1 (aiohttp on its own thread), so the official SDKs talk to it exactly as to a provider.
It plays scripted replies in order (then ``default``), injects faults, and records every request::

    with LLMServer() as llm:                      # or the `llm_server` pytest fixture
        llm.script(Reply.rate_limited(retry_after=2), Reply(json={"total": 12.5}))
        ... point a component's endpoint at llm.openai_base_url (".../v1") or llm.anthropic_base_url ...
        llm.requests[-1].body["messages"]

A ``Reply(json=...)`` is answered as JSON text on OpenAI, and as the forced tool's input on Anthropic when the
request forces a tool (how the sidecar serves ``response_format`` there). Without a script the server echoes the
last user message. ``refuse("json_schema", Reply.invalid_request(500, ...))`` plays a server that cannot serve a
``response_format`` type (llama.cpp's answers HTTP 500): such requests get the refusal and leave the script alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

__all__ = ["LLMServer", "RecordedRequest", "Reply", "llm_server"]


@dataclass
class Reply:
    """One scripted answer (or fault)."""

    text: str | None = None
    json: Any = None
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (name, arguments)
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    malformed: bool = False
    truncated: bool = False
    usage: tuple[int, int] | None = None  # (prompt, completion); default: word counts
    message: str | None = None  # the error message of a fault (default: "scripted HTTP <status>")

    @classmethod
    def rate_limited(cls, retry_after: float = 1) -> Reply:
        value = str(int(retry_after)) if float(retry_after).is_integer() else str(retry_after)
        return cls(status=429, headers={"Retry-After": value})

    @classmethod
    def server_error(cls, status: int = 500) -> Reply:
        return cls(status=status)

    @classmethod
    def invalid_request(cls, status: int = 400, message: str = "Invalid request") -> Reply:
        """A refusal of the request as asked: a 4xx, or a 5xx whose message says the request was invalid."""
        return cls(status=status, message=message)

    @classmethod
    def slow(cls, seconds: float, text: str = "late") -> Reply:
        return cls(text=text, delay=seconds)

    @classmethod
    def malformed_json(cls) -> Reply:
        return cls(malformed=True)

    @classmethod
    def truncated_output(cls, text: str) -> Reply:
        return cls(text=text, truncated=True)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received; header names lower-cased, ``body`` parsed JSON (or text if not JSON)."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    received_at: float


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def _words(value: Any) -> int:
    return len(json.dumps(value).split())


class LLMServer:
    """Start with ``start()`` (or ``with``); ``url``, ``openai_base_url``, ``anthropic_base_url`` then work."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.default: Reply | None = None
        self.requests: list[RecordedRequest] = []
        self.refusals: dict[str, Reply] = {}  # OpenAI response_format type -> the refusal every such request gets
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    # -- control -----------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.url

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._script.extend(replies)

    def refuse(self, response_format: str, reply: Reply) -> None:
        """Answer every OpenAI request whose ``response_format.type`` is ``response_format`` with ``reply``."""
        with self._lock:
            self.refusals[response_format] = reply

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self.requests.clear()
            self.refusals.clear()
            self.default = None

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._script)

    def _next(self) -> Reply | None:
        with self._lock:
            return self._script.popleft() if self._script else self.default

    def start(self) -> LLMServer:
        ready = threading.Event()
        errors: list[BaseException] = []
        self._loop = asyncio.new_event_loop()

        async def boot() -> None:
            app = web.Application(client_max_size=64 * 1024 * 1024)
            app.router.add_post("/v1/chat/completions", self._openai)
            app.router.add_post("/chat/completions", self._openai)
            app.router.add_post("/openai/deployments/{deployment}/chat/completions", self._openai)
            app.router.add_post("/v1/messages", self._anthropic)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, self.host, 0)
            await site.start()
            self.port = self._runner.addresses[0][1]

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(boot())
            except BaseException as exc:
                errors.append(exc)
                ready.set()
                return
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="llm-server", daemon=True)
        self._thread.start()
        ready.wait(timeout=30)
        if errors:
            raise errors[0]
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        loop = self._loop

        async def shutdown() -> None:
            if self._runner is not None:
                await self._runner.cleanup()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(timeout=10)
        loop.close()
        self._loop = None
        self._thread = None

    def __enter__(self) -> LLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- handlers ----------------------------------------------------------------------------------------------
    async def _record(self, request: web.Request) -> Any:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        headers = {k.lower(): v for k, v in request.headers.items()}
        rec = RecordedRequest(request.method, request.path, headers, body, time.monotonic())
        with self._lock:
            self.requests.append(rec)
        return body

    async def _fault(self, reply: Reply, error_body: dict[str, Any]) -> web.Response | None:
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.status != 200:
            return web.json_response(error_body, status=reply.status, headers=reply.headers)
        if reply.malformed:
            return web.Response(body=b'{"id": "broken", "choices": [', content_type="application/json")
        return None

    async def _openai(self, request: web.Request) -> web.Response:
        body = await self._record(request)
        body = body if isinstance(body, dict) else {}
        response_format = body.get("response_format")
        kind = response_format.get("type") if isinstance(response_format, dict) else None
        with self._lock:
            refusal = self.refusals.get(kind) if isinstance(kind, str) else None
        reply = refusal or self._next() or Reply(text=_last_user_text(body.get("messages") or []))
        message = reply.message or f"scripted HTTP {reply.status}"
        error = {"error": {"message": message, "type": "server_error", "code": None}}
        fault = await self._fault(reply, error)
        if fault is not None:
            return fault
        text = json.dumps(reply.json) if reply.json is not None else reply.text
        finish = "stop"
        if reply.truncated and text:
            text, finish = text[: max(1, len(text) // 2)], "length"
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": f"call_{uuid.uuid4().hex[:12]}",
                    "type": "function",
                    "function": {"name": n, "arguments": json.dumps(a)},
                }
                for n, a in reply.tool_calls
            ]
            finish = "tool_calls"
        prompt, completion = reply.usage or (_words(body.get("messages")), len((text or "").split()))
        return web.json_response(
            {
                "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "unknown"),
                "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                },
            },
            headers=reply.headers,
        )

    async def _anthropic(self, request: web.Request) -> web.Response:
        body = await self._record(request)
        body = body if isinstance(body, dict) else {}
        reply = self._next() or Reply(text=_last_user_text(body.get("messages") or []))
        message = reply.message or f"scripted HTTP {reply.status}"
        error = {"type": "error", "error": {"type": "api_error", "message": message}}
        fault = await self._fault(reply, error)
        if fault is not None:
            return fault
        content: list[dict[str, Any]] = []
        stop = "end_turn"
        choice = body.get("tool_choice")
        forced: dict[str, Any] = choice if isinstance(choice, dict) else {}
        if reply.json is not None and forced.get("type") == "tool":
            tool_id = f"toolu_{uuid.uuid4().hex[:12]}"
            content.append({"type": "tool_use", "id": tool_id, "name": forced["name"], "input": reply.json})
            stop = "tool_use"
        else:
            text = json.dumps(reply.json) if reply.json is not None else (reply.text or "")
            if reply.truncated and text:
                text, stop = text[: max(1, len(text) // 2)], "max_tokens"
            content.append({"type": "text", "text": text})
        for name, args in reply.tool_calls:
            content.append({"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:12]}", "name": name, "input": args})
            stop = "tool_use"
        prompt, completion = reply.usage or (_words(body.get("messages")), _words(content))
        return web.json_response(
            {
                "id": f"msg_{uuid.uuid4().hex[:12]}",
                "type": "message",
                "role": "assistant",
                "model": body.get("model", "unknown"),
                "content": content,
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": {"input_tokens": prompt, "output_tokens": completion},
            },
            headers=reply.headers,
        )


@pytest.fixture
def llm_server() -> Iterator[LLMServer]:
    """A running loopback LLM server; stopped after the test."""
    server = LLMServer().start()
    try:
        yield server
    finally:
        server.stop()
