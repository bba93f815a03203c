"""Fixtures that start a real ``docline sidecar`` (in-process, free ports, its own data directory)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dapr.ext.workflow import DaprWorkflowClient, WorkflowRuntime, WorkflowState

from sidecar.server import RunningSidecar, SidecarSettings, run_sidecar


def sidecar_settings(data_dir: Path, **overrides: object) -> SidecarSettings:
    """Settings for a test sidecar: loopback, free ports, the given data directory."""
    values: dict[str, object] = {"grpc_port": 0, "http_port": 0, "data_dir": data_dir, "app_id": "docline-test"}
    values.update(overrides)
    return SidecarSettings.model_validate(values)


@pytest.fixture
def sidecar(tmp_path: Path) -> Iterator[RunningSidecar]:
    """A running sidecar with an empty database; stopped after the test."""
    with run_sidecar(sidecar_settings(tmp_path / "sidecar")) as running:
        yield running


class Workers:
    """Workflow runtimes (workers) and clients connected to one sidecar; all closed at teardown."""

    def __init__(self, running: RunningSidecar) -> None:
        self.running = running
        self._runtimes: list[WorkflowRuntime] = []
        self._clients: list[DaprWorkflowClient] = []

    def runtime(self, **options: object) -> WorkflowRuntime:
        rt = WorkflowRuntime(host=self.running.host, port=str(self.running.grpc_port), **options)  # type: ignore[arg-type]
        self._runtimes.append(rt)
        return rt

    def client(self) -> DaprWorkflowClient:
        c = DaprWorkflowClient(host=self.running.host, port=str(self.running.grpc_port))
        self._clients.append(c)
        return c

    def close(self) -> None:
        for rt in self._runtimes:
            rt.shutdown()
        for c in self._clients:
            c.close()


@pytest.fixture
def workers(sidecar: RunningSidecar) -> Iterator[Workers]:
    w = Workers(sidecar)
    try:
        yield w
    finally:
        w.close()


def wait_for_custom_status(client: DaprWorkflowClient, iid: str, timeout: float = 30.0) -> WorkflowState:
    """The instance's state once it has set a custom status (its first turn has run and said where it is)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = client.get_workflow_state(iid)
        if state is not None and state.serialized_custom_status:
            return state
        time.sleep(0.05)
    raise AssertionError(f"{iid} set no custom status within {timeout} s")
