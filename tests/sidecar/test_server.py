"""The sidecar's gRPC server towards its clients: the Dapr SDK's keepalive pings are welcome."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import grpc
import pytest
from dapr.ext.workflow._durabletask.internal import orchestrator_service_pb2_grpc as pbg
from dapr.ext.workflow._durabletask.internal.shared import DEFAULT_GRPC_KEEPALIVE_OPTIONS
from google.protobuf import empty_pb2

from sidecar.server import SidecarSettings, free_port, run_sidecar
from tests.support.sidecar import sidecar_settings

pytestmark = pytest.mark.timeout(60)

ESTABLISHED = "01"  # TCP state in /proc/net/tcp


def _connections_to(port: int) -> int:
    """Established TCP connections whose far end is ``port`` (the clients' side of connections to the server)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            if int(fields[2].rsplit(":", 1)[1], 16) == port and fields[3] == ESTABLISHED:
                count += 1
    return count


def _dropped_within(settings: SidecarSettings, seconds: float) -> bool:
    """Whether a client with the SDK's keepalive options (pinging every 0.3 s, a hundredth of the SDK's 30 s) that
    made one call and then sat idle lost its connection within ``seconds``."""
    options = dict(DEFAULT_GRPC_KEEPALIVE_OPTIONS) | {"grpc.keepalive_time_ms": 300}
    with run_sidecar(settings) as running, grpc.insecure_channel(running.grpc_endpoint, list(options.items())) as ch:
        pbg.TaskHubSidecarServiceStub(ch).Hello(empty_pb2.Empty(), timeout=10)
        assert _connections_to(running.grpc_port) == 1
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if _connections_to(running.grpc_port) == 0:
                return True
            time.sleep(0.05)
        return False


def test_keepalive_pings_do_not_get_the_client_sent_away(tmp_path: Path) -> None:
    """Pinged no faster than the server permits (scaled like the SDK's 30 s against the default 10 s), the client
    keeps its connection; a server wanting more time between pings closes it with GOAWAY "too_many_pings", as
    gRPC's default of 5 minutes did to the SDK's idle channels after 90 seconds."""
    assert not _dropped_within(sidecar_settings(tmp_path / "permitted", client_ping_min_seconds=0.1), 3.0)
    assert _dropped_within(sidecar_settings(tmp_path / "strict", client_ping_min_seconds=30), 10.0)


def test_a_standalone_sidecar_exits_when_its_disk_refuses_writes(tmp_path: Path) -> None:
    """``docline sidecar`` whose database cannot be written stops and exits non-zero (a supervisor restarts it on
    a working disk), instead of serving work its disk never saw."""
    import dapr.ext.workflow as wf

    port = free_port()
    cmd = [str(Path(sys.executable).parent / "docline"), "sidecar", "--dapr-grpc-port", str(port)]
    cmd += ["--dapr-http-port", str(free_port()), "--data", str(tmp_path / "data"), "--log-level", "warning"]

    # No file of the process grows past 256 KB (util-linux's prlimit): the engine's write-ahead log reaches it.
    proc = subprocess.Popen(["prlimit", f"--fsize={256 * 1024}", "--", *cmd], stderr=subprocess.PIPE, text=True)
    runtime = wf.WorkflowRuntime(host="127.0.0.1", port=str(port))

    def noop(ctx: wf.WorkflowActivityContext, i: int) -> int:
        return i

    def chain(ctx: wf.DaprWorkflowContext, n: int) -> Any:
        for i in range(n):
            yield ctx.call_activity(noop, input=i)

    runtime.register_activity(noop)
    runtime.register_workflow(chain)
    try:
        runtime.start()
        client = wf.DaprWorkflowClient(host="127.0.0.1", port=str(port))
        for i in range(20):
            try:
                client.schedule_new_workflow(chain, input=500, instance_id=f"chain-{i}")
            except grpc.RpcError:
                break
        _, stderr = proc.communicate(timeout=60)
        client.close()
    finally:
        runtime.shutdown()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1
    assert "workflow engine stopped: its database could not be written" in stderr
