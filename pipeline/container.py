"""Start-up: build everything the application needs from the settings, once, and connect it to the sidecar.

The sidecar is found at ``settings.dapr_grpc_endpoint`` (daprd, or an embedded ``docline sidecar`` started by the
CLI); from here on docline uses only the Dapr SDK.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import dapr.ext.workflow as wf
import grpc
from dapr.clients import DaprClient
from dapr.conf import settings as dapr_settings
from dapr.ext.workflow._durabletask.internal import orchestrator_service_pb2_grpc as engine_grpc
from dapr.ext.workflow._durabletask.internal import protos as engine_pb
from dapr.ext.workflow.logger import LoggerOptions
from google.protobuf import empty_pb2

from pipeline.activities import Activities
from pipeline.events import Events
from pipeline.inbox import Inbox
from pipeline.layouts import LayoutStore
from pipeline.metrics import Metrics
from pipeline.service import DocumentService
from pipeline.settings import Settings
from pipeline.store import BlobStore, ResultStore
from pipeline.understanding import LlmReplies, Understanding
from pipeline.workflow import WORKFLOW_NAME, WORKFLOW_VERSION, document_workflow

log = logging.getLogger(__name__)


def _host_port(endpoint: str) -> tuple[str, str]:
    """'localhost:50001', 'http://127.0.0.1:50001' or 'dns:///host:port' → ('host', 'port')."""
    rest = endpoint.split("://", 1)[-1].lstrip("/")
    host, _, port = rest.rpartition(":")
    return host or "127.0.0.1", port


@dataclass
class Container:
    settings: Settings
    client: DaprClient
    workflows: wf.DaprWorkflowClient
    runtime: wf.WorkflowRuntime
    service: DocumentService
    inbox: Inbox
    metrics: Metrics
    understanding: Understanding
    engine: engine_grpc.TaskHubSidecarServiceStub
    engine_channel: grpc.Channel
    layouts: LayoutStore
    started: bool = field(default=False)
    stopping: threading.Event = field(default_factory=threading.Event)

    def ready(self) -> bool:
        """The sidecar answers, its workflow engine answers, and the workflow worker is connected. An engine that
        stopped (a durable commit failed: docline sidecar refuses every call until it is restarted) is not ready."""
        try:
            self.client.get_metadata()
            self.engine.Hello(empty_pb2.Empty(), timeout=5)
        except Exception:
            return False
        return self.started

    def close(self) -> None:
        self.stopping.set()
        if self.started:
            try:
                self.runtime.shutdown()
            except Exception:
                log.debug("workflow runtime shutdown", exc_info=True)
            self.started = False
        self.service.close()
        self.workflows.close()
        self.client.close()
        self.engine_channel.close()
        if self.settings.dapr_http_endpoint:
            # build() pointed the SDK's process-wide health check at our sidecar; hand it back to the environment.
            vars(dapr_settings).pop("DAPR_HTTP_ENDPOINT", None)


def _recover(service: DocumentService) -> None:
    try:
        service.recover()
    except Exception:  # recovery is best effort: a resubmission or the inbox also restarts a lost workflow
        log.exception("start-up recovery failed")


def _retain(container: Container) -> None:
    """Erase expired documents now and then, while the container runs (every replica does; deletes repeat safely)."""
    while container.started:
        try:
            container.service.purge_expired()
        except Exception:
            log.exception("retention purge failed; trying again later")
        container.stopping.wait(container.settings.retention_check_seconds)


M_ARENA_MAX = -8  # glibc's mallopt parameter number
MALLOC_ARENAS = 2


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Cap glibc's malloc arenas for this process; True if the C library took it.

    glibc gives threads that allocate at once arenas of their own (up to 8 per core) and seldom hands their free
    memory back: page images decoded on the worker threads left the server at 250 MB on a 100-page scan where
    2 arenas keep it near 170 MB (``bench/memory.py``), at the same speed. It must happen before the threads have
    made their arenas (a limit set later does not shrink what exists), so the commands call it first thing;
    ``MALLOC_ARENA_MAX`` in the environment does the same for a whole process.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        return False


def build(settings: Settings, *, start_worker: bool = True) -> Container:
    endpoint = settings.require_endpoint()
    # The SDK's DaprClient waits for the sidecar's HTTP health endpoint before its first call.
    if settings.dapr_http_endpoint:
        dapr_settings.DAPR_HTTP_ENDPOINT = settings.dapr_http_endpoint  # type: ignore[attr-defined]
    host, port = _host_port(endpoint)
    # Originals and page images travel through the blob binding: gRPC's default 4 MiB receive limit would fail any
    # upload over it (base64 on the way in), so the limit follows the upload limit, as the sidecar's own does.
    message_limit = max(64 * 1024 * 1024, settings.max_upload_bytes * 4 // 3 + 1024 * 1024)
    client = DaprClient(address=f"{host}:{port}", max_grpc_message_length=message_limit)
    # The SDK logs through its own handler at INFO by default: one line per registration and per call.
    sdk_logs = LoggerOptions(log_level="WARNING")
    workflows = wf.DaprWorkflowClient(host=host, port=port, logger_options=sdk_logs)
    runtime = wf.WorkflowRuntime(
        host=host,
        port=port,
        logger_options=sdk_logs,
        maximum_concurrent_activity_work_items=settings.worker_concurrency,
        maximum_thread_pool_workers=settings.worker_concurrency + 2,
    )
    metrics = Metrics()
    results = ResultStore(client, settings)
    blobs = BlobStore(client, settings.blob_binding)
    inbox = Inbox(client, settings, results)
    understanding = Understanding.from_sidecar(client, settings, results, metrics)
    # The workflow engine's own API beside the SDK's clients: its history names a document's blobs (erasure), its
    # Hello answers readiness (daprd and docline sidecar serve both).
    engine_channel = grpc.insecure_channel(f"{host}:{port}")
    engine = engine_grpc.TaskHubSidecarServiceStub(engine_channel)

    def history(instance_id: str) -> bytes:
        """The workflow's whole history, serialized (daprd 1.17+ and docline sidecar serve it)."""
        reply = engine.GetInstanceHistory(engine_pb.GetInstanceHistoryRequest(instanceId=instance_id), timeout=30)
        return b"".join(event.SerializeToString() for event in reply.events)

    # What reviewers taught about senders' layouts (a deleted document takes back what it taught: an eraser).
    layouts = LayoutStore(results, understanding.registry)
    service = DocumentService(
        settings, results, blobs, workflows, erasers=[inbox, LlmReplies(results), layouts], history=history
    )
    service.vision = understanding.vision is not None
    service.types = set(understanding.registry.names())
    events = Events(client, settings) if settings.events else None
    activities = Activities(settings, blobs, results, inbox, metrics, understanding, layouts, events)

    # A fresh function per runtime: the SDK marks registered functions, and a process may build several runtimes.
    def workflow(ctx: wf.DaprWorkflowContext, raw: dict[str, Any]) -> Any:
        return document_workflow(ctx, raw)

    runtime.register_versioned_workflow(workflow, name=WORKFLOW_NAME, version_name=WORKFLOW_VERSION, is_latest=True)
    activities.register(runtime)
    metrics.watch_statuses(service.status_counts)
    container = Container(
        settings, client, workflows, runtime, service, inbox, metrics, understanding, engine, engine_channel, layouts
    )
    if start_worker:
        results.migrate_legacy_index()  # once, from the single index key of earlier releases
    if start_worker:
        runtime.start()
        runtime.wait_for_worker_ready(timeout=30)
        container.started = True
        threading.Thread(target=_recover, args=(service,), name="docline-recover", daemon=True).start()
        if settings.retention_days is not None:
            threading.Thread(target=_retain, args=(container,), name="docline-retention", daemon=True).start()
    return container
