"""Workflow engine benchmark: prints activities/s (chained, concurrent) and restart-to-resume time.

The sidecar runs in its own process (``python -m sidecar``, durable SQLite commits); the worker and client run here
with the Dapr SDK. Usage: ``.venv/bin/python bench/engine.py``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import dapr.ext.workflow as wf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sidecar.server import free_port  # noqa: E402

CHAIN = 100
FAN_WORKFLOWS, FAN_STEPS = 50, 5


class SidecarProcess:
    def __init__(self, data: Path, grpc_port: int, http_port: int) -> None:
        self.grpc_port, self.http_port = grpc_port, http_port
        self.launched = time.perf_counter()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sidecar",
                "--dapr-grpc-port",
                str(grpc_port),
                "--dapr-http-port",
                str(http_port),
                "--data",
                str(data),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/v1.0/healthz", timeout=1):
                    break
            except OSError:
                time.sleep(0.01)
        self.ready = time.perf_counter()

    def cpu_seconds(self) -> float:
        """User + system CPU time the sidecar process has used so far (robust to load from other processes)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()


class Bench:
    def __init__(self, port: int) -> None:
        self.port = port
        self.seen: list[tuple[float, str, int]] = []
        self.lock = threading.Lock()
        self.rt = self.runtime()
        self.client = wf.DaprWorkflowClient(host="127.0.0.1", port=str(port))

    def runtime(self) -> wf.WorkflowRuntime:
        rt = wf.WorkflowRuntime(host="127.0.0.1", port=str(self.port))

        def step(ctx: wf.WorkflowActivityContext, i: int) -> int:
            with self.lock:
                self.seen.append((time.perf_counter(), ctx.workflow_id, i))
            return i + 1

        def chain(ctx: wf.DaprWorkflowContext, n: int) -> Any:
            v = 0
            for _ in range(n):
                v = yield ctx.call_activity(step, input=v)
            return v

        rt.register_activity(step, name="step")
        rt.register_workflow(chain, name="chain")
        rt.start()
        return rt

    def run(self, count: int, steps: int, prefix: str) -> float:
        t0 = time.perf_counter()
        ids = [
            self.client.schedule_new_workflow("chain", input=steps, instance_id=f"{prefix}-{n}") for n in range(count)
        ]
        for iid in ids:
            state = self.client.wait_for_workflow_completion(iid, timeout_in_seconds=300)
            if state is None or state.serialized_output != str(steps):
                raise RuntimeError(f"workflow {iid} did not complete as expected: {state}")
        return time.perf_counter() - t0

    def close(self) -> None:
        self.rt.shutdown()
        self.client.close()


def commit_latency_ms(directory: Path, n: int = 50) -> float:
    """Median time of one durable (WAL, synchronous=FULL) SQLite commit here: the floor under every figure."""
    import sqlite3
    import statistics

    conn = sqlite3.connect(directory / "fsync-probe.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (x BLOB)")
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        conn.execute("BEGIN")
        conn.execute("INSERT INTO t VALUES (?)", (b"x" * 512,))
        conn.execute("COMMIT")
        times.append(time.perf_counter() - t0)
    conn.close()
    return statistics.median(times) * 1000


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        print(
            f"disk:       durable SQLite commit {commit_latency_ms(Path(tmp)):.2f} ms (median); load {os.getloadavg()}"
        )
        grpc_port, http_port = free_port(), free_port()
        sidecar = SidecarProcess(data, grpc_port, http_port)
        bench = Bench(grpc_port)
        bench.run(1, 10, "warmup")

        def measured(count: int, steps: int, prefix: str) -> str:
            side0, own0 = sidecar.cpu_seconds(), time.process_time()
            elapsed = bench.run(count, steps, prefix)
            side, own = sidecar.cpu_seconds() - side0, time.process_time() - own0
            total = count * steps
            return (
                f"{count} workflow(s) x {steps} activities in {elapsed:.2f} s = {total / elapsed:.0f} activities/s;"
                f" CPU per activity: sidecar {side / total * 1000:.2f} ms, worker+client {own / total * 1000:.2f} ms"
            )

        print(f"chained:    {measured(1, CHAIN, 'chain')}")
        print(f"concurrent: {measured(FAN_WORKFLOWS, FAN_STEPS, 'fan')}")

        # restart-to-resume: kill the sidecar mid-chain, start it again, time until the chain's next activity runs
        bench.client.schedule_new_workflow("chain", input=10_000, instance_id="long")
        while sum(1 for _, wid, _ in bench.seen if wid == "long") < 50:
            time.sleep(0.01)
        sidecar.kill()
        bench.close()
        done_before = sum(1 for _, wid, _ in bench.seen if wid == "long")
        sidecar = SidecarProcess(data, grpc_port, http_port)
        launched, ready = sidecar.launched, sidecar.ready
        bench.rt = bench.runtime()
        bench.client = wf.DaprWorkflowClient(host="127.0.0.1", port=str(grpc_port))
        while True:
            resumed = [t for t, wid, _ in bench.seen[-20:] if wid == "long" and t > ready]
            if resumed:
                break
            time.sleep(0.001)
        print(
            f"restart:    sidecar process launch to ready {ready - launched:.2f} s; ready to first resumed activity"
            f" {resumed[0] - ready:.3f} s; launch to resume {resumed[0] - launched:.2f} s"
            f" (chain had {done_before} activities done)"
        )
        bench.client.terminate_workflow("long")
        bench.close()
        sidecar.stop()


if __name__ == "__main__":
    main()
