"""Peak memory of ``docline serve`` (the server process and everything it starts: Tesseract) under three loads:

1. one 100-page scanned PDF submitted over REST, read to the end;
2. a backlog of 1,000 files already in the inbox when the server starts (small born-digital PDFs, so the run stays
   within minutes; what is measured is the backlog's bookkeeping: listing, claims, 1,000 workflows in flight);
3. one 40 MB upload (under the default 50 MB limit): what a large original costs the server on its way in.

The process tree's resident set size is sampled every 100 ms (the sum over the server and its live children), and
the server's own high-water mark (``VmHWM``) is read at the end. Offline extractor, default settings. Target: under
400 MB.

    .venv/bin/python bench/memory.py                     # all three loads
    .venv/bin/python bench/memory.py --pages 30 --files 200
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.docline import ServeProcess, wait_for  # noqa: E402
from tests.support.pdfs import text_pdf  # noqa: E402

SAMPLES = ROOT / "samples" / "documents"
MB = 1024 * 1024
FINAL = ("completed", "failed", "rejected", "needs_review")


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text().split()
            found.extend(int(c) for c in text)
    except OSError:
        pass
    return found


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _exe(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return ""


def tree(pid: int) -> list[tuple[str, int]]:
    """(command name, RSS) of ``pid`` and every live descendant.

    A child caught between fork and exec (Python starts Tesseract with vfork) still runs the server's image and
    shares its memory: its RSS is the server's own, so it is left out rather than counted twice.
    """
    members: list[tuple[str, int]] = []
    todo, server_exe = [pid], _exe(pid)
    while todo:
        p = todo.pop()
        try:
            name = Path(f"/proc/{p}/comm").read_text().strip()
        except OSError:
            continue
        if p == pid or _exe(p) != server_exe:
            members.append((name, _rss(p)))
        todo.extend(_children(p))
    return members


def tree_rss(pid: int) -> int:
    return sum(rss for _name, rss in tree(pid))


def hwm(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


class Sampler:
    """Peak of the process tree's RSS, sampled on a thread."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self.at_peak: list[tuple[str, int]] = []  # who held the memory at the peak
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            members = tree(self.pid)
            total = sum(rss for _name, rss in members)
            if total > self.peak:
                self.peak, self.at_peak = total, members
            time.sleep(0.1)

    def breakdown(self) -> str:
        """The peak by process: the server first, then its children by name (e.g. "tesseract 2 x 88 MB")."""
        if not self.at_peak:
            return "nothing sampled"
        (server, server_rss), children = self.at_peak[0], self.at_peak[1:]
        parts = [f"{server} {server_rss / MB:.0f} MB"]
        for name in sorted({n for n, _ in children}):
            sizes = [rss / MB for n, rss in children if n == name]
            parts.append(f"{name} {len(sizes)} x {'/'.join(f'{size:.0f}' for size in sizes)} MB")
        return ", ".join(parts)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def scan_pdf(pages: int) -> bytes:
    """A scanned PDF of ``pages`` pages (the bundled 200 dpi scans, in turn), JPEG inside as from a copier."""
    sources = [
        Image.open(SAMPLES / n).convert("L") for n in ("rx-de-clean.png", "inv-fr-clean.png", "rx-nl-printed.tif")
    ]
    images = [sources[i % len(sources)] for i in range(pages)]
    out = io.BytesIO()
    images[0].save(out, format="PDF", save_all=True, append_images=images[1:], resolution=200.0, quality=75)
    return out.getvalue()


def small_pdf(n: int) -> bytes:
    """A distinct one-page born-digital invoice-like PDF (a small page: rendering it costs little)."""
    return text_pdf([f"Invoice {n:05d}", f"Total 12.{n % 100:02d} EUR"], page=(200, 100), origin=(10, 80), font_size=9)


def _print_peaks(sampler: Sampler, server_hwm: int) -> None:
    print(f"  peak RSS, process tree  {sampler.peak / MB:.0f} MB ({sampler.breakdown()})")
    print(f"  peak RSS, server (HWM)  {server_hwm / MB:.0f} MB")


def long_scan(pages: int, concurrency: int | None) -> None:
    data = scan_pdf(pages)
    env = {"DOCLINE_WORKER_CONCURRENCY": str(concurrency)} if concurrency else {}
    with tempfile.TemporaryDirectory(prefix="docline-mem-") as tmp:
        serve = ServeProcess(Path(tmp), env=env)
        serve.start()
        assert serve.proc is not None
        try:
            with Sampler(serve.proc.pid) as sampler, serve.client() as client:
                started = time.perf_counter()
                resp = client.post("/v1/documents", files={"file": ("long-scan.pdf", data)})
                resp.raise_for_status()
                doc_id = resp.json()["id"]
                body: dict[str, object] = {}
                while time.perf_counter() - started < 600:
                    body = client.get(f"/v1/documents/{doc_id}").json()
                    if body["status"] in FINAL:
                        break
                    time.sleep(0.5)
                wall = time.perf_counter() - started
            server_hwm = hwm(serve.proc.pid)
        finally:
            serve.stop()
    workers = f"worker concurrency {concurrency}" if concurrency else "default worker concurrency"
    print(f"{pages}-page scan ({len(data) / MB:.1f} MB PDF, {workers}): {body.get('status')} in {wall:.0f} s")
    _print_peaks(sampler, server_hwm)


def upload(megabytes: int) -> None:
    """One large upload (random bytes behind a PDF header: stored, then rejected as corrupt)."""
    data = b"%PDF-1.7\n" + os.urandom(megabytes * MB)
    with tempfile.TemporaryDirectory(prefix="docline-mem-") as tmp:
        serve = ServeProcess(Path(tmp), env={"DOCLINE_MAX_UPLOAD_BYTES": str(len(data) + MB)})
        serve.start()
        assert serve.proc is not None
        try:
            idle = hwm(serve.proc.pid)
            with serve.client() as client:
                resp = client.post("/v1/documents", files={"file": ("big.pdf", data)})
                resp.raise_for_status()
                status = wait_for(client, resp.json()["id"], FINAL, timeout=120)["status"]
            server_hwm = hwm(serve.proc.pid)
        finally:
            serve.stop()
    print(f"one {megabytes} MB upload ({status}): server peak RSS {server_hwm / MB:.0f} MB (idle {idle / MB:.0f} MB)")


def settled(url: str) -> int | None:
    """Documents no longer queued or running (finished, or waiting for a person), from /metrics."""
    try:
        text = httpx.get(f"{url}/metrics", timeout=10).text
    except httpx.HTTPError:
        return None
    total = 0
    for line in text.splitlines():
        if line.startswith("docline_documents{"):
            status = line.split('status="', 1)[1].split('"', 1)[0]
            if status in FINAL:
                total += int(float(line.rsplit(" ", 1)[1]))
    return total


def backlog(files: int, budget: float) -> None:
    with tempfile.TemporaryDirectory(prefix="docline-mem-") as tmp:
        root = Path(tmp)
        inbox = root / "inbox"
        inbox.mkdir()
        for n in range(files):
            (inbox / f"invoice-{n:05d}.pdf").write_bytes(small_pdf(n))
        serve = ServeProcess(root)
        started = time.perf_counter()
        serve.start()
        assert serve.proc is not None
        done = 0
        try:
            with Sampler(serve.proc.pid) as sampler:
                while time.perf_counter() - started < budget:
                    done = settled(serve.url) or done
                    if done >= files:
                        break
                    time.sleep(2.0)
                wall = time.perf_counter() - started
            server_hwm = hwm(serve.proc.pid)
        finally:
            serve.stop()
    finished = "all" if done >= files else f"{done} of {files} (time budget {budget:.0f} s reached)"
    print(f"{files}-file inbox backlog: {finished} read to a final status or review in {wall:.0f} s")
    print(f"  throughput              {done / wall * 60:.0f} files/min (from server start)")
    _print_peaks(sampler, server_hwm)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--budget", type=float, default=180.0, help="seconds to let the backlog run")
    parser.add_argument("--upload", type=int, default=40, help="MB of one large upload (0: skip)")
    parser.add_argument("--concurrency", type=int, default=None, help="DOCLINE_WORKER_CONCURRENCY for the scan")
    args = parser.parse_args()
    if args.pages:
        long_scan(args.pages, args.concurrency)
    if args.files:
        backlog(args.files, args.budget)
    if args.upload:
        upload(args.upload)


if __name__ == "__main__":
    main()
