"""A receiving Dapr app on loopback for pub/sub and webhook tests: FastAPI with the Dapr SDK's own ``DaprApp``
(``/dapr/subscribe`` and the subscription routes), served by uvicorn on a free port in a thread.

    with ReceivingApp() as app:                    # or the `receiving_app` fixture
        app.subscribe("pubsub", "orders")          # programmatic (before start): route /events/pubsub/orders
        app.route("/declared")                     # a plain route a declarative Subscription file points at
        app.start()
        app.script("/declared", 500, 200)          # the answers (status or (status, JSON body)) of the next calls
        ...
        app.wait_for(3)                            # the first three deliveries, each with its CloudEvent and headers
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from dapr.ext.fastapi import DaprApp
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from sidecar.server import free_port

Answer = int | tuple[int, dict[str, Any]]


@dataclass
class Delivery:
    path: str
    event: dict[str, Any]
    headers: dict[str, str]
    body: bytes


@dataclass
class ReceivingApp:
    port: int = field(default_factory=free_port)
    deliveries: list[Delivery] = field(default_factory=list)
    delay: float = 0.0  # seconds each delivery takes before it is answered

    def __post_init__(self) -> None:
        self.api = FastAPI()
        self.dapr = DaprApp(self.api)
        self._answers: dict[str, list[Answer]] = {}
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _handler(self, path: str) -> Any:
        async def receive(request: Request) -> Response:
            import asyncio
            import json

            body = await request.body()
            if self.delay:
                await asyncio.sleep(self.delay)
            with self._lock:
                self.deliveries.append(Delivery(path, json.loads(body), dict(request.headers), body))
                answers = self._answers.get(path) or []
                answer: Answer = answers.pop(0) if answers else 200
            if isinstance(answer, tuple):
                return JSONResponse(answer[1], status_code=answer[0])
            return Response(status_code=answer)

        return receive

    def subscribe(self, pubsub: str, topic: str, **options: Any) -> str:
        """A programmatic subscription (the SDK's decorator); returns its route."""
        route = options.pop("route", None) or f"/events/{pubsub}/{topic}"
        self.dapr.subscribe(pubsub=pubsub, topic=topic, route=route, **options)(self._handler(route))
        return route

    def route(self, path: str) -> None:
        self.api.add_api_route(path, self._handler(path), methods=["POST"])

    def script(self, path: str, *answers: Answer) -> None:
        with self._lock:
            self._answers.setdefault(path, []).extend(answers)

    def received(self, path: str | None = None) -> list[Delivery]:
        with self._lock:
            return [d for d in self.deliveries if path is None or d.path == path]

    def wait_for(self, n: int, path: str | None = None, timeout: float = 20.0) -> list[Delivery]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.received(path)
            if len(got) >= n:
                return got
            time.sleep(0.02)
        raise AssertionError(f"{len(self.received(path))} of {n} deliveries to {path or 'the app'} in {timeout} s")

    def start(self) -> ReceivingApp:
        self._server = uvicorn.Server(uvicorn.Config(self.api, host="127.0.0.1", port=self.port, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, daemon=True, name="receiving-app")
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the receiving app did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)

    def __enter__(self) -> ReceivingApp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture
def receiving_app() -> Iterator[ReceivingApp]:
    """A receiving app, not yet started: register subscriptions and routes, then ``start()``."""
    app = ReceivingApp()
    try:
        yield app
    finally:
        app.stop()
