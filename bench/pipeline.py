"""End-to-end throughput of the whole pipeline on the bundled samples, and where the time goes.

Runs docline in this process exactly as the tests do (an in-process ``docline sidecar`` on free ports, the workflow
worker and the REST API), with the offline extractor (no conversation component), submits every sample over REST
and waits until each is final. Tesseract is the only subprocess docline starts, so:

- CPU: this process's own CPU seconds, less what this script's HTTP client spends in the main thread, are
  "everything else"; its children's are Tesseract's. Each activity's own CPU (thread time) is printed too, and
  every thread group's (from /proc: the sidecar, the API, gRPC's C-core threads, the workflow replays);
- wall: from the first upload to the last document's final write (its record's ``updated_at``); each Tesseract run
  is timed (pytesseract's ``run_tesseract`` is wrapped); the union of those intervals is the time during which at
  least one Tesseract was running, and the rest is time outside Tesseract, split into before the first run,
  between runs and after the last.

With ``--repeat`` the same files come again: the offline extractor and the blob store remember recent work by
content, so repeats are cheaper than new documents would be (split_pages, OCR and the workflow are not).

    .venv/bin/python bench/pipeline.py                 # the 18 samples once
    .venv/bin/python bench/pipeline.py --repeat 2      # each sample twice (forced: processed again)
    .venv/bin/python bench/pipeline.py --set ocr_concurrency=3   # any docline setting for the run

Prints documents/minute, pages/second, and the share of CPU and wall time outside Tesseract.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import resource
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pytesseract.pytesseract as tesseract_module  # noqa: E402

from tests.support.docline import run_app  # noqa: E402

SAMPLES = ROOT / "samples" / "documents"
SUFFIXES = {".pdf", ".png", ".jpg", ".tif", ".webp"}
FINAL = ("completed", "failed", "rejected", "needs_review")


class TesseractClock:
    """Wall-clock intervals of every Tesseract run in this process."""

    def __init__(self) -> None:
        self.intervals: list[tuple[float, float]] = []
        self._lock = threading.Lock()
        self._original = tesseract_module.run_tesseract

    def __enter__(self) -> TesseractClock:
        original = self._original

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                with self._lock:
                    self.intervals.append((started, time.perf_counter()))

        tesseract_module.run_tesseract = timed
        return self

    def __exit__(self, *exc: object) -> None:
        tesseract_module.run_tesseract = self._original

    def gaps(self, start: float, end: float) -> tuple[float, float, float]:
        """Seconds in [start, end] with no Tesseract running: before the first run, between runs, after the last."""
        runs = sorted((max(a, start), min(b, end)) for a, b in self.intervals if b > start and a < end)
        if not runs:
            return end - start, 0.0, 0.0
        between, cursor = 0.0, runs[0][1]
        for a, b in runs[1:]:
            between += max(0.0, a - cursor)
            cursor = max(cursor, b)
        return runs[0][0] - start, between, end - cursor

    def busy(self, start: float, end: float) -> float:
        """Seconds within [start, end] during which at least one Tesseract ran."""
        total, cursor = 0.0, start
        for a, b in sorted(self.intervals):
            a, b = max(a, cursor), min(b, end)
            if b > a:
                total += b - a
                cursor = b
        return total


class ActivityClock:
    """CPU seconds (thread time: Pillow's and PDFium's C code included, Tesseract's process not) per activity."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._lock = threading.Lock()
        self._original: Any = None

    def __enter__(self) -> ActivityClock:
        from pipeline.activities import Activities

        self._original = original = Activities._wrap

        def wrap(activities: Activities, name: str, fn: Any, model: Any) -> Any:
            def timed(inp: Any) -> Any:
                started = time.thread_time()
                try:
                    return fn(inp)
                finally:
                    with self._lock:
                        self.seconds[name] = self.seconds.get(name, 0.0) + time.thread_time() - started

            return original(activities, name, timed, model)

        Activities._wrap = wrap  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        from pipeline.activities import Activities

        Activities._wrap = self._original  # type: ignore[method-assign]


_TICKS = os.sysconf("SC_CLK_TCK")


def threads_cpu() -> dict[int, tuple[str, float]]:
    """CPU seconds of every live thread of this process by native id, named by Python's thread name when it has
    one, else by the OS name (gRPC's C-core threads); /proc's 10 ms resolution."""
    names = {t.native_id: t.name for t in threading.enumerate() if t.native_id is not None}
    out: dict[int, tuple[str, float]] = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue  # ended meanwhile
        tid = int(task.name)
        comm, fields = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()
        out[tid] = (names.get(tid, comm), (int(fields[11]) + int(fields[12])) / _TICKS)
    return out


def thread_groups(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> dict[str, float]:
    """CPU per group of threads between two snapshots (pool threads grouped: ``DurableTask_3`` -> ``DurableTask``)."""
    groups: dict[str, float] = {}
    for tid, (name, seconds) in after.items():
        group = re.sub(r"[-_ ]?\d+$|\s*\(.*\)$", "", name) or name
        groups[group] = groups.get(group, 0.0) + seconds - before.get(tid, (name, 0.0))[1]
    return groups


def wait_all(client: Any, ids: list[str], timeout: float = 600.0) -> list[dict[str, Any]]:
    """Every document's final record. One GET per second while the oldest is running (each GET costs the server
    ~3 ms of CPU, counted as docline's: polling each document five times a second, as the tests' ``wait_for``
    does, cost 0.2-0.3 s of the figures); the wall is taken from the records, so the interval does not bias it."""
    deadline = time.monotonic() + timeout
    results: list[dict[str, Any]] = []
    while len(results) < len(ids):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(ids) - len(results)} documents not final after {timeout:.0f} s")
        body = client.get(f"/v1/documents/{ids[len(results)]}").raise_for_status().json()
        if body["status"] in FINAL:
            results.append(body)
        else:
            time.sleep(1.0)
    return results


def cpu() -> tuple[float, float]:
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=1, help="submit each sample this many times")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a docline setting for this run, e.g. --set ocr_concurrency=3 --set worker_concurrency=6",
    )
    args = parser.parse_args()
    overrides = dict(item.split("=", 1) for item in args.set)
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("WorkflowRuntime").setLevel(logging.ERROR)
    files = sorted(p for p in SAMPLES.iterdir() if p.suffix in SUFFIXES)

    with (
        tempfile.TemporaryDirectory(prefix="docline-bench-") as tmp,
        TesseractClock() as clock,
        ActivityClock() as activities,
        run_app(Path(tmp), **overrides) as app,
        app.client() as client,
    ):
        threads0 = threads_cpu()
        cpu_self0, cpu_children0 = cpu()
        client0 = time.thread_time()  # this thread is the bench's HTTP client, not docline
        started, started_clock = time.perf_counter(), time.time()
        ids = []
        for _ in range(args.repeat):
            for path in files:
                resp = client.post(
                    "/v1/documents", files={"file": (path.name, path.read_bytes())}, params={"force": "true"}
                )
                resp.raise_for_status()
                ids.append(resp.json()["id"])
        results = wait_all(client, ids)
        polled = time.perf_counter() - started
        # The last document's own final write, not when the polling noticed it (up to one poll interval later).
        last = max(datetime.fromisoformat(r["updated_at"]).timestamp() for r in results)
        wall = min(polled, last - started_clock)
        cpu_self1, cpu_children1 = cpu()
        client_cpu = time.thread_time() - client0
        threads1 = threads_cpu()

    pages = sum(r["source"]["pages"] or 0 for r in results)
    statuses: dict[str, int] = {}
    for r in results:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    app_cpu, tess_cpu = cpu_self1 - cpu_self0 - client_cpu, cpu_children1 - cpu_children0
    busy = clock.busy(started, started + wall)
    print(f"documents           {len(results)} ({', '.join(f'{k} {v}' for k, v in sorted(statuses.items()))})")
    print(f"pages               {pages}")
    print(f"wall                {wall:.1f} s (to the last document's final write; polling saw it at {polled:.1f} s)")
    print(f"documents/minute    {len(results) / wall * 60:.1f}")
    print(f"pages/second        {pages / wall:.2f}")
    print(f"tesseract runs      {len(clock.intervals)}")
    print(f"CPU tesseract       {tess_cpu:.1f} s")
    print(f"CPU everything else {app_cpu:.1f} s (sidecar, workflow, pages, rendering, extraction, API)")
    in_activities = sum(activities.seconds.values())
    for name, seconds in sorted(activities.seconds.items(), key=lambda item: -item[1]):
        print(f"  activity {name:<12s} {seconds:.2f} s")
    print(f"  outside activities {app_cpu - in_activities:.2f} s (sidecar, workflow worker, gRPC, API)")
    print(f"  (the bench's own HTTP client: {client_cpu:.2f} s, not counted)")
    groups = thread_groups(threads0, threads1)
    groups.pop("MainThread", None)  # the bench's client
    print("  by thread (activities run in DurableTask; the sidecar's gRPC server in docline-sidecar):")
    for name, seconds in sorted(groups.items(), key=lambda item: -item[1])[:8]:
        if seconds >= 0.005:
            print(f"    {name:<28s} {seconds:.2f} s")
    print(f"    {'(threads that ended)':<28s} {app_cpu - sum(groups.values()):.2f} s")
    print(f"CPU outside tess.   {app_cpu / max(app_cpu + tess_cpu, 1e-9) * 100:.1f} %")
    print(f"wall outside tess.  {(wall - busy) / wall * 100:.1f} % (no Tesseract running at all)")
    head, between, tail = clock.gaps(started, started + wall)
    print(f"  before the first  {head:.2f} s (uploads, split_pages)")
    print(f"  between runs      {between:.2f} s")
    print(f"  after the last    {tail:.2f} s (the last documents' classify, extract, finish)")


if __name__ == "__main__":
    main()
