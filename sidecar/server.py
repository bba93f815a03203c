"""The sidecar process: one grpc.aio server (workflow engine + Dapr runtime API) and daprd's health endpoints.

``Sidecar`` runs on the caller's event loop; :func:`run_sidecar` starts one on a background thread (free ports by
default) for the CLI and tests, and hands back its endpoints. Both those and :func:`serve` run it on uvloop's event
loop, whose loop machinery is C: ~5 % less CPU per workflow activity than asyncio's (py-spy shows most of the
sidecar's time in grpc.aio's callbacks and the loop around them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

import grpc
import uvloop
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sidecar.engine import Engine
from sidecar.runtime import RuntimeAPI
from sidecar.store import Store

if TYPE_CHECKING:
    from aiohttp import web

log = logging.getLogger(__name__)

# daprd's --max-body-size default: the largest request (and answer) its APIs take. The same here by default, so
# what passes the embedded sidecar passes a cluster's daprd with default settings.
DAPR_MAX_BODY_SIZE = 4 * 1024 * 1024
_SIZE = re.compile(r"\s*([0-9]+)\s*(Ki|Mi|Gi|K|M|G|B)?\s*")
_UNITS = {None: 1, "B": 1, "K": 1000, "M": 1000**2, "G": 1000**3, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3}


def parse_size(value: object) -> int:
    """A size as daprd's flags take it: bytes, or a quantity such as ``4Mi`` or ``64M``."""
    if isinstance(value, int):
        return value
    match = _SIZE.fullmatch(str(value))
    if match is None:
        raise ValueError(f"{value!r} is not a size (bytes, or e.g. 4Mi, 64Mi, 100M)")
    return int(match.group(1)) * _UNITS[match.group(2)]


class SidecarSettings(BaseSettings):
    """Where the sidecar listens and keeps its data. Port 0 picks a free port."""

    model_config = SettingsConfigDict(env_prefix="DOCLINE_SIDECAR_")

    host: str = "127.0.0.1"
    grpc_port: int = Field(default=50001, ge=0, le=65535)
    http_port: int = Field(default=3500, ge=0, le=65535)
    resources_path: Path | None = None
    app_port: int | None = None
    app_id: str = "docline"
    # daprd's APP_API_TOKEN: sent to the app as `dapr-api-token` on every call, so the app can tell it is us.
    app_api_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("app_api_token", "APP_API_TOKEN", "DOCLINE_SIDECAR_APP_API_TOKEN")
    )
    data_dir: Path = Path(".docline/sidecar")
    # daprd's --max-body-size (dapr.io/max-body-size): gRPC requests and answers over it are refused
    # (RESOURCE_EXHAUSTED), as daprd refuses them.
    max_body_size: int = Field(default=DAPR_MAX_BODY_SIZE, gt=0)
    # Values for {{NAME}} placeholders in the component files, over the process environment (docline serve gives
    # DOCLINE_DATA, so the shipped components keep their files under its --data).
    component_env: dict[str, str] = Field(default_factory=dict)
    health_ping_seconds: float = Field(default=10.0, gt=0)  # idle work-item streams get a ping this often
    # The Dapr SDK's channels send an HTTP/2 keepalive ping every 30 s, calls or not. gRPC's server default answers
    # pings more often than every 5 minutes on an idle connection with GOAWAY "too_many_pings", which dropped the
    # workflow worker's stream (and re-dispatched its work) after 90 idle seconds; clients may ping this often.
    client_ping_min_seconds: float = Field(default=10.0, gt=0)

    @field_validator("max_body_size", mode="before")
    @classmethod
    def _size(cls, value: object) -> int:
        return parse_size(value)

    @field_validator("app_api_token")
    @classmethod
    def _not_blank(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and not token.get_secret_value().strip():
            raise ValueError("APP_API_TOKEN is empty or blank: set a real token, or leave it unset")
        return token


class _GenericRegistration:
    """What generated ``add_*Servicer_to_server`` functions see: every service becomes a generic handler.

    Why: grpc.aio keeps one pending request-call future per *registered* method and runs ``asyncio.wait`` over all
    of them for every incoming RPC. With the Dapr runtime API's ~95 methods beside the engine's that cost ~40 us of
    CPU per RPC; generic handlers share one request call (and the lookup is one dict access per service).
    """

    def __init__(self, server: grpc.aio.Server) -> None:
        self._server = server

    def add_generic_rpc_handlers(self, handlers: tuple[grpc.GenericRpcHandler, ...]) -> None:
        self._server.add_generic_rpc_handlers(handlers)

    def add_registered_method_handlers(self, service: str, handlers: dict[str, grpc.RpcMethodHandler]) -> None:
        # generated code registers the same handlers generically as well; adding them again keeps this correct for
        # generated code that does not
        self._server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, handlers),))


class SidecarError(Exception):
    """The sidecar cannot start (port taken, database unusable, bad components)."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class Sidecar:
    """The engine and the runtime API on one gRPC server, plus the HTTP health endpoints."""

    def __init__(self, settings: SidecarSettings) -> None:
        self.settings = settings
        self.grpc_port = settings.grpc_port
        self.http_port = settings.http_port
        self._server: grpc.aio.Server | None = None
        self._http: web.AppRunner | None = None
        self._engine: Engine | None = None
        self._store: Store | None = None
        self._runtime: RuntimeAPI | None = None

    @property
    def engine(self) -> Engine:
        assert self._engine is not None, "sidecar not started"
        return self._engine

    async def start(self) -> None:
        s = self.settings
        self._store = Store(s.data_dir / "workflows.db")
        self._engine = Engine(self._store, app_id=s.app_id, health_ping_seconds=s.health_ping_seconds)
        self._engine.recover()
        self._server = grpc.aio.server(
            options=[
                ("grpc.max_send_message_length", s.max_body_size),
                ("grpc.max_receive_message_length", s.max_body_size),
                ("grpc.keepalive_permit_without_calls", 1),
                ("grpc.http2.min_ping_interval_without_data_ms", round(s.client_ping_min_seconds * 1000)),
            ]
        )
        self._engine.add_to_server(self._server)
        services = cast(grpc.aio.Server, _GenericRegistration(self._server))
        app_token = s.app_api_token.get_secret_value() if s.app_api_token else None
        self._runtime = await RuntimeAPI.create(
            s.resources_path,
            app_id=s.app_id,
            app_port=s.app_port,
            app_token=app_token,
            environ={**os.environ, **s.component_env},
        )
        self._runtime.add_to_server(services)
        try:
            self.grpc_port = self._server.add_insecure_port(f"{s.host}:{s.grpc_port}")
        except RuntimeError as exc:
            raise SidecarError(f"cannot listen on {s.host}:{s.grpc_port}: {exc}") from exc
        await self._server.start()
        self._engine.start()
        await self._start_http()
        await self._runtime.start()
        log.info(
            "docline sidecar ready: app %s, gRPC %s:%d, HTTP %s:%d, data %s",
            s.app_id,
            s.host,
            self.grpc_port,
            s.host,
            self.http_port,
            s.data_dir,
        )

    async def _start_http(self) -> None:
        # imported here: aiohttp takes longer to import than the engine takes to recover, and workers reconnect
        # over gRPC without waiting for it
        from aiohttp import web

        async def healthz(_: web.Request) -> web.Response:
            # daprd answers 500 when it is not healthy; a stopped engine (a failed durable commit) is not.
            engine = self._engine
            if engine is not None and engine.failure is not None:
                return web.Response(status=500, text=engine.failure)
            return web.Response(status=204)

        app = web.Application()
        app.router.add_get("/v1.0/healthz", healthz)
        app.router.add_get("/v1.0/healthz/outbound", healthz)
        app.router.add_post("/v1.0/publish/{pubsub}/{topic:.+}", self._publish)
        self._http = web.AppRunner(app, access_log=None)
        await self._http.setup()
        site = web.TCPSite(self._http, self.settings.host, self.settings.http_port)
        try:
            await site.start()
        except OSError as exc:
            raise SidecarError(f"cannot listen on {self.settings.host}:{self.settings.http_port}: {exc}") from exc
        if self.settings.http_port == 0:
            self.http_port = self._http.addresses[0][1]

    async def _publish(self, request: web.Request) -> web.Response:
        """daprd's HTTP publish API, for SDKs that publish over HTTP: ``?metadata.<key>=<value>`` query parameters
        are the publish metadata; 204 when published, daprd's error JSON otherwise."""
        from aiohttp import web

        from sidecar.runtime.pubsub import PubSubAPIError

        assert self._runtime is not None
        metadata = {k.removeprefix("metadata."): v for k, v in request.query.items() if k.startswith("metadata.")}
        try:
            await self._runtime.pubsub.publish(
                request.match_info["pubsub"],
                request.match_info["topic"],
                await request.read(),
                content_type=request.headers.get("Content-Type", ""),
                metadata=metadata,
                traceparent=request.headers.get("traceparent", ""),
                tracestate=request.headers.get("tracestate", ""),
            )
        except PubSubAPIError as exc:
            return web.json_response({"errorCode": exc.error_code, "message": exc.message}, status=exc.http_status)
        return web.Response(status=204)

    async def stop(self) -> None:
        if self._runtime is not None:
            await self._runtime.close()
        if self._http is not None:
            await self._http.cleanup()
        if self._server is not None:
            await self._server.stop(grace=1.0)
        if self._engine is not None:
            await self._engine.stop()
        if self._store is not None:
            await self._store.aclose()
        log.info("docline sidecar stopped")


@dataclass(frozen=True)
class RunningSidecar:
    host: str
    grpc_port: int
    http_port: int

    @property
    def grpc_endpoint(self) -> str:
        return f"{self.host}:{self.grpc_port}"

    @property
    def http_endpoint(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    def environ(self) -> dict[str, str]:
        """Environment variables that point a Dapr SDK at this sidecar."""
        return {
            "DAPR_GRPC_ENDPOINT": self.grpc_endpoint,
            "DAPR_HTTP_ENDPOINT": self.http_endpoint,
            "DAPR_RUNTIME_HOST": self.host,
            "DAPR_GRPC_PORT": str(self.grpc_port),
            "DAPR_HTTP_PORT": str(self.http_port),
        }


@contextlib.contextmanager
def run_sidecar(settings: SidecarSettings) -> Iterator[RunningSidecar]:
    """Run a sidecar on a background thread with its own event loop until the block exits."""
    loop = new_event_loop()
    sidecar = Sidecar(settings)
    started = threading.Event()
    error: list[BaseException] = []
    stop_event: asyncio.Event | None = None

    async def main() -> None:
        nonlocal stop_event
        stop_event = asyncio.Event()
        try:
            await sidecar.start()
        except BaseException as exc:
            error.append(exc)
            started.set()
            await sidecar.stop()
            return
        started.set()
        await stop_event.wait()
        await sidecar.stop()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), name="docline-sidecar", daemon=True)
    thread.start()
    started.wait()
    if error:
        thread.join()
        loop.close()
        raise error[0]
    try:
        yield RunningSidecar(settings.host, sidecar.grpc_port, sidecar.http_port)
    finally:
        assert stop_event is not None
        loop.call_soon_threadsafe(stop_event.set)
        thread.join(timeout=30)
        loop.close()


def new_event_loop() -> asyncio.AbstractEventLoop:
    """The event loop the sidecar runs on."""
    return uvloop.new_event_loop()


def serve(settings: SidecarSettings) -> None:
    """Run until interrupted (the CLI entry point), on :func:`new_event_loop`."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(serve_forever(settings))


async def serve_forever(settings: SidecarSettings) -> None:
    """Run until cancelled."""
    sidecar = Sidecar(settings)
    await sidecar.start()
    try:
        await sidecar.engine.stopped.wait()  # a failed durable commit: exit, so a supervisor restarts us
    finally:
        await sidecar.stop()
    raise SidecarError(sidecar.engine.failure or "workflow engine stopped")
