"""The Dapr runtime API of the docline sidecar: components loaded from a resources path, served over gRPC.

The engine's server (``sidecar/server.py``) hosts this next to the workflow engine on one ``grpc.aio`` port::

    runtime = await RuntimeAPI.create(resources_path, app_id="docline", app_port=8000)
    runtime.add_to_server(server)
    await server.start()
    await runtime.start()   # input bindings (cron) begin calling the app
    ...
    await runtime.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from pathlib import Path

import grpc
from dapr.proto import api_service_v1

from sidecar.components import LoadedComponents, load_components
from sidecar.runtime.pubsub import PubSubRuntime, load_declarative
from sidecar.runtime.resiliency import load_resiliency
from sidecar.runtime.servicer import DaprRuntimeServicer

__all__ = ["DaprRuntimeServicer", "RuntimeAPI"]

log = logging.getLogger(__name__)


class RuntimeAPI:
    """Loaded components plus the ``dapr.proto.runtime.v1.Dapr`` servicer that serves them."""

    def __init__(self, components: LoadedComponents, pubsub: PubSubRuntime | None = None) -> None:
        self.components = components
        self.pubsub = pubsub or PubSubRuntime(components, resiliency=load_resiliency(None, ""), declarative=[])
        self.servicer = DaprRuntimeServicer(components, self.pubsub)
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    async def create(
        cls,
        resources_path: Path | None,
        *,
        app_id: str,
        app_port: int | None,
        app_host: str = "127.0.0.1",
        app_token: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> RuntimeAPI:
        """Load and initialise every component once; raises ComponentError if a required one cannot start.
        ``app_token`` (daprd's APP_API_TOKEN) goes to the app as ``dapr-api-token`` on every call to it;
        ``environ`` fills the files' {{NAME}} placeholders (default: the process environment)."""
        components = await load_components(
            resources_path, app_id=app_id, app_host=app_host, app_port=app_port, app_token=app_token, environ=environ
        )
        try:
            pubsub = PubSubRuntime(
                components,
                resiliency=load_resiliency(resources_path, app_id),
                declarative=load_declarative(resources_path, app_id),
                app_host=app_host,
                app_port=app_port,
                app_token=app_token,
            )
        except BaseException:
            await components.close()
            raise
        return cls(components, pubsub)

    def add_to_server(self, server: grpc.aio.Server) -> None:
        api_service_v1.add_DaprServicer_to_server(self.servicer, server)

    async def start(self) -> None:
        """Start delivering input-binding events (cron) and pub/sub subscriptions to the app."""
        await self.pubsub.start()
        for name, binding in self.components.input_bindings.items():
            task = asyncio.create_task(binding.run(), name=f"input-binding-{name}")
            task.add_done_callback(self._report)
            self._tasks.append(task)

    @staticmethod
    def _report(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("input binding task %s stopped: %r", task.get_name(), task.exception())

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self.pubsub.close()
        await self.components.close()
