"""The sidecar's gRPC server towards its clients: the Dapr SDK's keepalive pings are welcome."""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import pytest
from dapr.ext.workflow._durabletask.internal import orchestrator_service_pb2_grpc as pbg
from dapr.ext.workflow._durabletask.internal.shared import DEFAULT_GRPC_KEEPALIVE_OPTIONS
from google.protobuf import empty_pb2

from sidecar.server import SidecarSettings, run_sidecar
from tests.support.sidecar import sidecar_settings

pytestmark = pytest.mark.timeout(60)


def _idle_pinging_client(settings: SidecarSettings, seconds: float) -> None:
    """A client with the SDK's keepalive options (pinging every 0.3 s, a hundredth of the SDK's 30 s) that makes
    one call and then sits idle for ``seconds``."""
    options = dict(DEFAULT_GRPC_KEEPALIVE_OPTIONS) | {"grpc.keepalive_time_ms": 300}
    with run_sidecar(settings) as running, grpc.insecure_channel(running.grpc_endpoint, list(options.items())) as ch:
        pbg.TaskHubSidecarServiceStub(ch).Hello(empty_pb2.Empty(), timeout=10)
        time.sleep(seconds)


def test_keepalive_pings_do_not_get_the_client_sent_away(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """Pinged no faster than the server permits (scaled like the SDK's 30 s against the default 10 s), the client
    keeps its connection; a server wanting more time between pings sends it away with GOAWAY "too_many_pings"
    (gRPC core reports that on stderr), as gRPC's default of 5 minutes did to the SDK's idle channels."""
    _idle_pinging_client(sidecar_settings(tmp_path / "permitted", client_ping_min_seconds=0.1), 3.0)
    assert "too_many_pings" not in capfd.readouterr().err
    _idle_pinging_client(sidecar_settings(tmp_path / "strict", client_ping_min_seconds=30), 3.0)
    assert "too_many_pings" in capfd.readouterr().err
