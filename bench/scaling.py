"""How document throughput grows with docline workers sharing one ``docline sidecar``.

The local analogue of app replicas behind Dapr's workflow engine: one sidecar owns workflow state (SQLite) and
hands workflow turns and activities to every connected worker from one queue, as daprd's engine spreads them over
replicas. Each configuration starts a fresh sidecar and N ``docline serve`` processes pointed at it
(``DAPR_GRPC_ENDPOINT``), submits the bundled samples round-robin over the workers' REST APIs (``force`` so each
copy is processed again), and waits until every document is terminal. Offline extraction (no LLM) and one OpenMP
thread per Tesseract, so a worker's activity uses one core, as on a CPU-limited pod.

    .venv/bin/python bench/scaling.py                    # workers 1,2,3 x concurrency 1 and 1x2, 18 documents each
    .venv/bin/python bench/scaling.py --docs 36 --configs 1x1,2x1,4x1

Prints one table row per configuration: documents/minute, median and p90 time from submission to a final status,
the CPU seconds the sidecar and the workers used (in total and per worker: how evenly the work spread), and the
machine's 1-minute load average at the end of the run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
DOCLINE = Path(sys.executable).parent / "docline"
SAMPLES = ROOT / "samples" / "documents"
SUFFIXES = {".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp"}
# A document waiting for a person has finished the machine part of its journey.
TERMINAL = {"completed", "failed", "rejected", "needs_review"}


@dataclass
class Row:
    workers: int
    concurrency: int
    docs: int
    seconds: float
    latencies: list[float]
    statuses: dict[str, int]
    sidecar_cpu: float
    workers_cpu: list[float]
    load: float

    def line(self) -> str:
        each = " / ".join(f"{c:.0f}" for c in self.workers_cpu)
        p50 = statistics.median(self.latencies)
        p90 = statistics.quantiles(self.latencies, n=10)[-1] if len(self.latencies) > 1 else p50
        per_min = self.docs / self.seconds * 60
        statuses = ",".join(f"{k}={v}" for k, v in sorted(self.statuses.items()))
        return (
            f"| {self.workers} | {self.concurrency} | {self.docs} | {self.seconds:7.1f} | {per_min:6.1f} | "
            f"{p50:6.1f} | {p90:6.1f} | {self.sidecar_cpu:6.1f} | {sum(self.workers_cpu):5.1f} ({each}) | "
            f"{self.load:4.1f} | {statuses} |"
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its reaped children (Tesseract runs as a child), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def wait_http(url: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).is_success:
                return
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer in time")


@contextlib.contextmanager
def started(args: list[str], env: dict[str, str], cwd: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def run(workers: int, concurrency: int, files: list[Path], timeout: float) -> Row:
    work = Path(tempfile.mkdtemp(prefix="docline-scaling-"))
    try:
        shutil.copytree(ROOT / "components", work / "components", ignore=shutil.ignore_patterns("examples"))
        grpc, http = free_port(), free_port()
        env = {
            **os.environ,
            "DAPR_GRPC_ENDPOINT": f"127.0.0.1:{grpc}",
            "DAPR_HTTP_ENDPOINT": f"http://127.0.0.1:{http}",
            "DOCLINE_OFFLINE": "true",
            "DOCLINE_WORKER_CONCURRENCY": str(concurrency),
            "OMP_THREAD_LIMIT": "1",
        }
        ports = [free_port() for _ in range(workers)]
        with contextlib.ExitStack() as stack:
            sidecar_args = [str(DOCLINE), "sidecar", "--dapr-grpc-port", str(grpc), "--dapr-http-port", str(http)]
            sidecar_args += ["--resources-path", str(work / "components"), "--data", str(work / "sidecar")]
            sidecar = stack.enter_context(started(sidecar_args, env, work, work / "sidecar.log"))
            wait_http(f"http://127.0.0.1:{http}/v1.0/healthz", time.monotonic() + 60)
            procs = []
            for i, port in enumerate(ports):
                args = [str(DOCLINE), "serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
                procs.append(stack.enter_context(started(args, env, work, work / f"worker{i}.log")))
            for port in ports:
                wait_http(f"http://127.0.0.1:{port}/readyz", time.monotonic() + 120)
            cpu_before = cpu_seconds(sidecar.pid), [cpu_seconds(p.pid) for p in procs]

            clients = [httpx.Client(base_url=f"http://127.0.0.1:{p}", timeout=60) for p in ports]
            submitted: dict[str, float] = {}
            start = time.monotonic()
            for i, path in enumerate(files):
                client = clients[i % len(clients)]
                resp = client.post(
                    "/v1/documents", params={"force": "true"}, files={"file": (path.name, path.read_bytes())}
                )
                resp.raise_for_status()
                submitted[resp.json()["id"]] = time.monotonic()
            finished: dict[str, tuple[float, str]] = {}
            deadline = start + timeout
            while len(finished) < len(submitted) and time.monotonic() < deadline:
                for doc_id in submitted.keys() - finished.keys():
                    doc = clients[0].get(f"/v1/documents/{doc_id}").json()
                    if doc["status"] in TERMINAL:
                        finished[doc_id] = (time.monotonic(), doc["status"])
                        if doc.get("error"):
                            print(f"  {doc_id}: {doc['status']}: {doc['error']}", file=sys.stderr)
                time.sleep(0.5)
            elapsed = max((t for t, _ in finished.values()), default=time.monotonic()) - start
            cpu_after = cpu_seconds(sidecar.pid), [cpu_seconds(p.pid) for p in procs]
            load = os.getloadavg()[0]  # the machine is shared: other work competes for the same cores
            for client in clients:
                client.close()
        if len(finished) < len(submitted):
            raise TimeoutError(f"{len(submitted) - len(finished)} documents unfinished after {timeout:.0f}s")
        statuses: dict[str, int] = {}
        for _, status in finished.values():
            statuses[status] = statuses.get(status, 0) + 1
        return Row(
            workers,
            concurrency,
            len(files),
            elapsed,
            [finished[d][0] - submitted[d] for d in submitted],
            statuses,
            cpu_after[0] - cpu_before[0],
            [after - before for before, after in zip(cpu_before[1], cpu_after[1], strict=True)],
            load,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=18, help="documents per configuration (samples repeat)")
    parser.add_argument("--configs", default="1x1,2x1,3x1,1x2", help="WORKERSxCONCURRENCY, comma-separated")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for one configuration")
    args = parser.parse_args()

    samples = sorted(p for p in SAMPLES.iterdir() if p.suffix.lower() in SUFFIXES)
    files = [samples[i % len(samples)] for i in range(args.docs)]
    print(f"docline scaling: {os.cpu_count()} CPUs, {len(samples)} distinct samples, {args.docs} documents per run")
    print(
        "| workers | activities/worker | docs | seconds | docs/min | p50 s | p90 s | sidecar CPU s "
        "| workers CPU s (each) | load (1 min) | final statuses |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for config in args.configs.split(","):
        workers, concurrency = (int(v) for v in config.split("x"))
        print(run(workers, concurrency, files, args.timeout).line(), flush=True)


if __name__ == "__main__":
    main()
