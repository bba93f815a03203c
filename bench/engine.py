"""Workflow engine benchmark: prints activities/s (chained, concurrent) and restart-to-resume time.

The sidecar runs in its own process (``python -m sidecar``, durable SQLite commits), the SDK worker in one or more
processes of its own, and the client here, so each one's CPU per activity is measured apart. CPU seconds are robust
to load from other processes; wall-clock figures are not. A worker process cannot go faster than one core (the GIL)
divided by its own CPU per activity, whatever the sidecar costs — nor can a chain, whose steps all wait for each
other — so that ceiling is printed too. The SDK spends much of it replaying each workflow's whole history every turn.

Usage: ``.venv/bin/python bench/engine.py [--worker-processes N] [--repeat R]``. With N > 1 the throughput figures are
printed for one worker process first, then for N. Each figure is the median of R runs (default 3); CPU per activity
is over all R (/proc counts CPU in 10 ms ticks: one 100-activity run alone would be ±0.1 ms per activity).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import statistics
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
_ORCH = "DurableTask-Orchestration"  # the SDK's thread pool that runs workflow code
_TICK = os.sysconf("SC_CLK_TCK")


def _cpu(stat_path: str) -> float:
    """User + system CPU seconds from a /proc stat file."""
    with open(stat_path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def cpu_by_role() -> dict[str, float]:
    """CPU seconds of this process's threads, summed by role (thread name without its pool number)."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    out: dict[str, float] = {}
    for tid in os.listdir("/proc/self/task"):
        with contextlib.suppress(OSError):  # the thread ended meanwhile
            cpu = _cpu(f"/proc/self/task/{tid}/stat")
            role = re.sub(r"[-_ ]?\d+$", "", names.get(int(tid), "native"))
            out[role] = out.get(role, 0.0) + cpu
    return out


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
        return _cpu(f"/proc/{self.proc.pid}/stat")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()


def chain(ctx: wf.DaprWorkflowContext, n: int) -> Any:
    """The benchmark's workflow: ``n`` activities, each given the one before's result."""
    v = 0
    for _ in range(n):
        v = yield ctx.call_activity("step", input=v)
    return v


def register(rt: wf.WorkflowRuntime, on_step: Any = None) -> None:
    """The benchmark's workflow and its activity; ``on_step(ctx)`` sees every step."""

    def step(ctx: wf.WorkflowActivityContext, i: int) -> int:
        if on_step is not None:
            on_step(ctx)
        return i + 1

    def workflow(ctx: wf.DaprWorkflowContext, n: int) -> Any:  # a fresh function: the SDK marks what it registered
        return chain(ctx, n)

    rt.register_activity(step, name="step")
    rt.register_workflow(workflow, name="chain")


def worker_main(port: int) -> None:
    """A worker process: serve the benchmark's workflow; answer "cpu" on stdin with its CPU by thread role."""
    rt = wf.WorkflowRuntime(host="127.0.0.1", port=str(port))
    register(rt)
    rt.start()  # returns once the work-item stream is open
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "cpu":
            print(json.dumps(cpu_by_role()), flush=True)
    rt.shutdown()


class WorkerProcess:
    def __init__(self, port: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("benchmark worker process did not start")

    def cpu(self) -> dict[str, float]:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write("cpu\n")
        self.proc.stdin.flush()
        return dict(json.loads(self.proc.stdout.readline()))

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def run(client: wf.DaprWorkflowClient, count: int, steps: int, prefix: str) -> float:
    """Start ``count`` chains of ``steps`` activities, wait for all of them; the elapsed seconds."""
    t0 = time.perf_counter()
    ids = [client.schedule_new_workflow("chain", input=steps, instance_id=f"{prefix}-{n}") for n in range(count)]
    for iid in ids:
        state = client.wait_for_workflow_completion(iid, timeout_in_seconds=300)
        if state is None or state.serialized_output != str(steps):
            raise RuntimeError(f"workflow {iid} did not complete as expected: {state}")
    return time.perf_counter() - t0


def measured(
    sidecar: SidecarProcess,
    workers: list[WorkerProcess],
    client: wf.DaprWorkflowClient,
    count: int,
    steps: int,
    prefix: str,
    repeat: int,
) -> str:
    """Run the workload ``repeat`` times: the median rate, and CPU per activity over all the runs."""
    side0, own0 = sidecar.cpu_seconds(), time.process_time()
    roles0 = [w.cpu() for w in workers]
    elapsed = [run(client, count, steps, f"{prefix}-{n}") for n in range(repeat)]
    side, own = sidecar.cpu_seconds() - side0, time.process_time() - own0
    roles = [w.cpu() for w in workers]
    worker = sum(sum(r.values()) - sum(r0.values()) for r, r0 in zip(roles, roles0, strict=True))
    # the SDK replays a workflow's whole history on its orchestration threads, one turn at a time per workflow
    orch = sum(r.get(_ORCH, 0.0) - r0.get(_ORCH, 0.0) for r, r0 in zip(roles, roles0, strict=True))
    total = count * steps
    per = 1000 / (total * repeat)
    median = statistics.median(elapsed)
    # Each worker process gets at most one core (the GIL); a single chain runs on one worker at a time.
    parallel = min(len(workers), count, os.cpu_count() or 1)
    return (
        f"{count} workflow(s) x {steps} activities in {median:.2f} s = {total / median:.0f} activities/s"
        f" (median of {repeat}: {', '.join(f'{total / e:.0f}' for e in elapsed)});"
        f" CPU per activity: sidecar {side * per:.2f} ms, SDK worker {worker * per:.2f} ms"
        f" (of which replaying workflows {orch * per:.2f} ms), client {own * per:.2f} ms;"
        f" SDK-bound ceiling with a zero-cost sidecar: {_rate(total * repeat, worker / parallel)} activities/s"
        f" ({parallel} worker process(es) busy at once)"
    )


def _rate(total: int, seconds: float) -> str:
    return f"{total / seconds:.0f}" if seconds > 0 else "n/a"


def throughput(sidecar: SidecarProcess, grpc_port: int, processes: int, repeat: int) -> None:
    client = wf.DaprWorkflowClient(host="127.0.0.1", port=str(grpc_port))
    workers = [WorkerProcess(grpc_port)]
    try:
        run(client, 2, 10, "warmup")
        label = "1 worker process"
        print(f"chained:    [{label}] {measured(sidecar, workers, client, 1, CHAIN, 'chain', repeat)}")
        print(f"concurrent: [{label}] {measured(sidecar, workers, client, FAN_WORKFLOWS, FAN_STEPS, 'fan', repeat)}")
        if processes > 1:
            workers += [WorkerProcess(grpc_port) for _ in range(processes - 1)]
            run(client, 4, 10, "warmup-n")
            label = f"{processes} worker processes"
            print(f"chained:    [{label}] {measured(sidecar, workers, client, 1, CHAIN, 'chain-n', repeat)}")
            print(
                f"concurrent: [{label}] {measured(sidecar, workers, client, FAN_WORKFLOWS, FAN_STEPS, 'fan-n', repeat)}"
            )
    finally:
        for w in workers:
            w.stop()
        client.close()


class ResumeProbe:
    """An in-process worker that records when each activity ran, for the restart-to-resume time."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.seen: list[tuple[float, str]] = []
        self.lock = threading.Lock()
        self.rt = self.runtime()
        self.client = wf.DaprWorkflowClient(host="127.0.0.1", port=str(port))

    def runtime(self) -> wf.WorkflowRuntime:
        rt = wf.WorkflowRuntime(host="127.0.0.1", port=str(self.port))

        def seen(ctx: wf.WorkflowActivityContext) -> None:
            with self.lock:
                self.seen.append((time.perf_counter(), ctx.workflow_id))

        register(rt, seen)
        rt.start()
        return rt

    def done(self, iid: str) -> int:
        with self.lock:
            return sum(1 for _, wid in self.seen if wid == iid)

    def first_after(self, iid: str, t: float) -> float | None:
        with self.lock:
            return next((when for when, wid in self.seen[-20:] if wid == iid and when > t), None)

    def close(self) -> None:
        self.rt.shutdown()
        self.client.close()


def restart(sidecar: SidecarProcess, data: Path, grpc_port: int, http_port: int) -> SidecarProcess:
    """Kill the sidecar mid-chain, start it again, time until the chain's next activity runs."""
    probe = ResumeProbe(grpc_port)
    probe.client.schedule_new_workflow("chain", input=10_000, instance_id="long")
    while probe.done("long") < 50:
        time.sleep(0.01)
    sidecar.kill()
    probe.close()
    done_before = probe.done("long")
    sidecar = SidecarProcess(data, grpc_port, http_port)
    launched, ready = sidecar.launched, sidecar.ready
    probe.rt = probe.runtime()
    probe.client = wf.DaprWorkflowClient(host="127.0.0.1", port=str(grpc_port))
    while (resumed := probe.first_after("long", ready)) is None:
        time.sleep(0.001)
    print(
        f"restart:    sidecar process launch to ready {ready - launched:.2f} s; ready to first resumed activity"
        f" {resumed - ready:.3f} s; launch to resume {resumed - launched:.2f} s"
        f" (chain had {done_before} activities done)"
    )
    probe.client.terminate_workflow("long")
    probe.close()
    return sidecar


def commit_latency_ms(directory: Path, n: int = 50) -> float:
    """Median time of one durable (WAL, synchronous=FULL) SQLite commit here: the floor under every figure."""
    import sqlite3

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


def sdk_replay_floor(steps: int = CHAIN) -> str:
    """The Dapr SDK's own orchestrator executor running a ``steps``-activity chain's turns in this process: no gRPC,
    no sidecar, no activities. Its CPU is a floor under any sidecar's chain figure (and a gauge of this machine's
    speed today). Uses the SDK's internal executor: there is no public API for a replay alone."""
    import logging

    from dapr.ext.workflow._durabletask import worker as sdk
    from dapr.ext.workflow._durabletask.internal import helpers
    from dapr.ext.workflow.dapr_workflow_context import DaprWorkflowContext

    registry = sdk._Registry()
    registry.add_named_orchestrator("chain", lambda ctx, n: chain(DaprWorkflowContext(ctx), n))
    quiet = logging.getLogger("bench.replay")
    quiet.setLevel(logging.ERROR)
    executor = sdk._OrchestrationExecutor(registry, quiet)
    old: list[Any] = []
    new = [helpers.new_workflow_started_event(), helpers.new_execution_started_event("chain", "i", str(steps))]
    started = time.process_time()
    for i in range(steps + 1):
        actions = executor.execute("i", old, new).actions
        if i < steps:
            old = old + new + [helpers.new_task_scheduled_event(actions[0].id, "step")]
            new = [helpers.new_workflow_started_event(), helpers.new_task_completed_event(actions[0].id, str(i + 1))]
    seconds = time.process_time() - started
    return (
        f"{steps}-activity chain's {steps + 1} turns replayed by the SDK alone (no gRPC, no sidecar):"
        f" {seconds * 1000:.0f} ms CPU = {seconds / steps * 1000:.2f} ms per activity"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker-processes", type=int, default=1, metavar="N", help="SDK worker processes (>= 1)")
    parser.add_argument("--repeat", type=int, default=3, metavar="R", help="runs per figure (median rate; >= 1)")
    parser.add_argument("--worker", type=int, metavar="PORT", help=argparse.SUPPRESS)  # internal: be a worker
    args = parser.parse_args()
    if args.worker is not None:
        worker_main(args.worker)
        return
    if args.worker_processes < 1 or args.repeat < 1:
        parser.error("--worker-processes and --repeat must be at least 1")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        print(
            f"disk:       durable SQLite commit {commit_latency_ms(Path(tmp)):.2f} ms (median); load {os.getloadavg()}"
        )
        print(f"SDK floor:  {sdk_replay_floor()}")
        grpc_port, http_port = free_port(), free_port()
        sidecar = SidecarProcess(data, grpc_port, http_port)
        try:
            throughput(sidecar, grpc_port, args.worker_processes, args.repeat)
            sidecar = restart(sidecar, data, grpc_port, http_port)
        finally:
            sidecar.stop()


if __name__ == "__main__":
    main()
