"""The document index at scale: submit N document records, then list pages and count by status, on SQLite and on
PostgreSQL, through a real ``docline sidecar`` (its own process) and the Dapr SDK, as the app does.

Each submission is what ``DocumentService.submit`` writes for a new document (``ResultStore.put``: its index entry,
then the record and its status counter in one state transaction), from several threads as several replicas would.
No workflow runs: this measures the results store alone. At each checkpoint (a quarter, half and all of N) it
prints the submission rate since the last checkpoint and the time of: the first page of 50 (all statuses), the
first page of a rare status (1 % of documents are moved to ``needs_review`` as the run goes), ten pages in a row
(each from the previous one's cursor), the counts by status (``/metrics``), and, for comparison, reading every
record once, which is what listing by status and each ``/metrics`` scrape cost with the single index key before.

    .venv/bin/python bench/index.py                          # 20,000 documents, SQLite then PostgreSQL
    .venv/bin/python bench/index.py --docs 100000 --stores sqlite
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dapr.clients import DaprClient
from dapr.conf import settings as dapr_settings

from pipeline.models import Source, StoredDocument
from pipeline.settings import Settings
from pipeline.store import Listed, ResultStore
from sidecar.server import free_port
from tests.support.services import start_postgres

DOCLINE = Path(sys.executable).parent / "docline"


def component(kind: str, **metadata: str) -> str:
    items = "".join(f'    - name: {k}\n      value: "{v}"\n' for k, v in metadata.items())
    return (
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: docline-state\n"
        f"spec:\n  type: {kind}\n  version: v1\n  metadata:\n{items}"
    )


@contextlib.contextmanager
def sidecar(resources: Path, data: Path) -> Iterator[str]:
    """``docline sidecar`` in its own process; yields its gRPC endpoint."""
    port, http = free_port(), free_port()
    # The SDK's DaprClient waits for the sidecar's HTTP health endpoint before its first call.
    dapr_settings.DAPR_HTTP_ENDPOINT = f"http://127.0.0.1:{http}"  # type: ignore[attr-defined]
    cmd = [str(DOCLINE), "sidecar", "--dapr-grpc-port", str(port), "--dapr-http-port", str(http)]
    cmd += ["--resources-path", str(resources), "--data", str(data), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(Exception), DaprClient(address=f"127.0.0.1:{port}") as client:
                client.get_metadata()
                break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("docline sidecar did not start")
            time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def document(n: int) -> StoredDocument:
    doc_id = hashlib.sha256(f"bench-{n}".encode()).hexdigest()[:24]
    now = datetime.now(UTC)
    return StoredDocument(
        id=doc_id,
        status="queued",
        source=Source(filename=f"scan-{n}.pdf", sha256=hashlib.sha256(str(n).encode()).hexdigest()),
        created_at=now,
        updated_at=now,
        workflow_id=f"docline-{doc_id}",
        original_key=f"{doc_id}-sha256-{'0' * 64}",
    )


def timed(fn: Callable[[], Any], repeat: int = 5) -> float:
    """Median milliseconds of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def run(name: str, endpoint: str, docs: int, threads: int) -> None:
    clients = [DaprClient(address=endpoint) for _ in range(threads)]
    stores = [ResultStore(client, Settings()) for client in clients]
    reader = stores[0]
    checkpoints = sorted({docs // 4, docs // 2, docs})
    done = 0
    lock = threading.Lock()
    print(f"\n{name}: {docs} documents, {threads} writer threads")
    print(
        "| documents | submits/s | first page ms | needs_review page ms | pages 1-10 ms | counts ms | every record ms |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")

    def submit(n: int) -> None:
        store = stores[n % threads]
        doc = document(n)
        store.put(doc, was=None)
        if n % 100 == 0:  # 1 %: a rare status to list
            was = Listed.of(doc)
            doc.status = "needs_review"
            doc.document_type = "invoice"
            store.put(doc, was=was)

    def tenth_page() -> None:
        cursor = None
        for _ in range(10):
            cursor = reader.list(limit=50, cursor=cursor).next

    def every_record() -> None:
        # What listing by status and /metrics cost with the single index key: every record read.
        for start in range(0, done, 200):
            reader.get_many(document(n).id for n in range(start, min(start + 200, done)))

    with ThreadPoolExecutor(threads) as pool:
        for checkpoint in checkpoints:
            started = time.perf_counter()
            list(pool.map(submit, range(done, checkpoint)))
            rate = (checkpoint - done) / (time.perf_counter() - started)
            with lock:
                done = checkpoint
            counts = reader.counts()
            assert counts["queued"] + counts["needs_review"] == done, counts
            first = timed(lambda: reader.list(limit=50))
            rare = timed(lambda: reader.list(status="needs_review", limit=50))
            tenth = timed(tenth_page, repeat=3)
            count = timed(reader.counts)
            whole = timed(every_record, repeat=1)
            print(
                f"| {done} | {rate:.0f} | {first:.1f} | {rare:.1f} | {tenth:.1f} | {count:.1f} | {whole:.0f} |",
                flush=True,
            )
    for client in clients:
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--stores", default="sqlite,postgresql")
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}, load (1 min): {os.getloadavg()[0]:.1f}")
    for store in args.stores.split(","):
        with tempfile.TemporaryDirectory(prefix="docline-bench-index-") as tmp:
            root = Path(tmp)
            (root / "res").mkdir()
            with contextlib.ExitStack() as stack:
                if store == "sqlite":
                    text = component("state.sqlite", connectionString=str(root / "state.db"))
                else:
                    pg = stack.enter_context(start_postgres())
                    text = component("state.postgresql", connectionString=pg.dsn, tableName="bench_state")
                (root / "res" / "state.yaml").write_text(text)
                endpoint = stack.enter_context(sidecar(root / "res", root / "sidecar"))
                run(store, endpoint, args.docs, args.threads)
    print(f"\nload (1 min) at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
