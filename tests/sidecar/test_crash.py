"""Durability: a process running sidecar + worker is killed with SIGKILL mid-chain and mid-timer, and restarted.

Run as a script (``python tests/sidecar/test_crash.py DATA LOG READY``) this file is that process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
STEPS = 8
TIMER_SECONDS = 4


def _worker_main(data_dir: Path, log_path: Path, ready_path: Path) -> None:
    """The crashing process: an in-process sidecar and a worker that runs the chain."""
    import dapr.ext.workflow as wf

    from sidecar.server import SidecarSettings, run_sidecar

    def step(ctx: wf.WorkflowActivityContext, i: int) -> int:
        with log_path.open("a") as f:  # record every execution, durably, before the work
            f.write(f"{i}\n")
            f.flush()
            os.fsync(f.fileno())
        time.sleep(0.3)
        return i

    def crashy(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        total = 0
        for i in range(STEPS):
            total += yield ctx.call_activity(step, input=i)
        yield ctx.create_timer(timedelta(seconds=TIMER_SECONDS))
        event = yield ctx.wait_for_external_event("go")
        return {"total": total, "event": event}

    settings = SidecarSettings(grpc_port=0, http_port=0, data_dir=data_dir, app_id="crash")
    with run_sidecar(settings) as running:
        os.environ.update(running.environ())  # this process is ours: connect exactly as an app connects to daprd
        rt = wf.WorkflowRuntime()
        rt.register_activity(step)
        rt.register_workflow(crashy)
        rt.start()
        tmp = ready_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"port": running.grpc_port, "ready_at": time.time()}))
        tmp.rename(ready_path)
        while True:
            time.sleep(3600)


class Process:
    def __init__(self, tmp: Path, n: int) -> None:
        self.ready = tmp / f"ready-{n}.json"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__)), str(tmp / "data"), str(tmp / "steps.log"), str(self.ready)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(tmp / f"proc-{n}.err").open("w"),
        )
        info = _wait_for(lambda: json.loads(self.ready.read_text()) if self.ready.exists() else None, 60)
        self.port = int(info["port"])
        self.ready_at = float(info["ready_at"])

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)


def _wait_for(probe: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_sigkill_mid_chain_and_mid_timer(tmp_path: Path) -> None:
    from dapr.ext.workflow import DaprWorkflowClient, WorkflowStatus

    log_path = tmp_path / "steps.log"

    def steps_run() -> list[int]:
        return [int(x) for x in log_path.read_text().split()] if log_path.exists() else []

    procs: list[Process] = []
    try:
        # 1. kill in the middle of the activity chain
        first = Process(tmp_path, 1)
        procs.append(first)
        client = DaprWorkflowClient(host="127.0.0.1", port=str(first.port))
        iid = client.schedule_new_workflow("crashy", instance_id="crash-1")
        client.close()
        _wait_for(lambda: len(steps_run()) >= 3, 60)
        first.kill()
        before_kill = steps_run()

        # 2. restart; the chain goes on from where it was; kill again while the durable timer is pending
        second = Process(tmp_path, 2)
        procs.append(second)
        client = DaprWorkflowClient(host="127.0.0.1", port=str(second.port))

        def timer_created() -> Any:
            events = client.get_workflow_history(iid)
            return next((e for e in events if e.event_type.name == "TIMER_CREATED"), None)

        _wait_for(timer_created, 60)
        client.close()
        second.kill()
        fire_at = _raw_timer_fire_at(tmp_path / "data" / "workflows.db")
        time.sleep(max(0.0, fire_at - time.time()) + 0.3)  # the timer falls due while nothing is running

        # 3. restart after the due time: the timer fires at once, not a full period later; an event raised now arrives
        third = Process(tmp_path, 3)
        procs.append(third)
        client = DaprWorkflowClient(host="127.0.0.1", port=str(third.port))
        client.raise_workflow_event(iid, "go", data="after restart")
        state = client.wait_for_workflow_completion(iid, timeout_in_seconds=60)
        assert state is not None
        assert state.runtime_status == WorkflowStatus.COMPLETED
        assert json.loads(state.serialized_output) == {"total": sum(range(STEPS)), "event": "after restart"}
        history = client.get_workflow_history(iid)
        client.close()
    finally:
        for p in procs:
            if p.proc.poll() is None:
                p.kill()

    runs = Counter(steps_run())
    assert set(runs) == set(range(STEPS))
    repeated = [i for i, n in runs.items() if n > 1]
    # only the activity in flight at the kill may run twice
    assert len(repeated) <= 1
    assert all(runs[i] == 2 for i in repeated)
    if repeated:
        assert repeated[0] == before_kill[-1]

    kinds = [e.event_type.name for e in history]
    fired_index = kinds.index("TIMER_FIRED")
    fired_turn_started = next(
        e.timestamp for e in reversed(history[:fired_index]) if e.event_type.name == "WORKFLOW_STARTED"
    )
    fired_at = fired_turn_started.timestamp() if fired_turn_started.tzinfo else _utc(fired_turn_started)
    assert fired_at >= fire_at - 0.001
    # a timer restarted on recovery would fire TIMER_SECONDS after the restart
    assert fired_at < third.ready_at + TIMER_SECONDS


def _utc(naive: Any) -> float:
    from datetime import UTC

    return float(naive.replace(tzinfo=UTC).timestamp())


def _raw_timer_fire_at(db: Path) -> float:
    """The due time of the pending timer, read from the sidecar's database while no process runs."""
    import sqlite3

    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT visible_at FROM inbox WHERE visible_at > 0").fetchall()
    assert len(rows) == 1, rows
    return float(rows[0][0])


if __name__ == "__main__":
    _worker_main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
