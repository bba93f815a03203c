"""Recovery after SIGKILL: how long from restarting ``docline serve`` until the documents that were in flight when it
was killed move again.

Each round starts a fresh ``docline serve`` (offline extractor), submits eight scans and a 10-page scanned PDF over
REST, waits until OCR is under way, kills the process group with SIGKILL and starts it again. It then polls the
documents (status and progress: stage, page k of n) every 50 ms and reports, from the restart:

- ready:  the server answers /readyz (sidecar, workflow engine and app up);
- first:  the first in-flight document shows progress past its state at the kill;
- all:    every in-flight document has;
- done:   every document is final (or waiting for review).

    .venv/bin/python bench/recovery.py              # 3 rounds
    .venv/bin/python bench/recovery.py --rounds 5
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.docline import ServeProcess  # noqa: E402

SAMPLES = ROOT / "samples" / "documents"
SCANS = [
    "rx-de-clean.png",
    "rx-fr-skew.jpg",
    "rx-es-rot90.png",
    "inv-fr-clean.png",
    "inv-es-rot270.jpg",
    "rx-it-noise.jpg",
    "inv-pt-blur.jpg",
    "rx-pt-rot180.jpg",
]
FINAL = ("completed", "failed", "rejected", "needs_review")


def ten_page_scan() -> bytes:
    pages = [Image.open(SAMPLES / n).convert("L") for n in ("rx-de-clean.png", "inv-fr-clean.png")] * 5
    out = io.BytesIO()
    pages[0].save(out, format="PDF", save_all=True, append_images=pages[1:], resolution=200.0, quality=75)
    return out.getvalue()


def snapshot(client: httpx.Client) -> dict[str, tuple[str, Any]]:
    """Each document's status and progress (progress is read from its workflow: one GET per document)."""
    states = {}
    for item in client.get("/v1/documents", params={"limit": 100}).json()["items"]:
        d = client.get(f"/v1/documents/{item['id']}").json()
        states[d["id"]] = (d["status"], d["progress"])
    return states


def one_round(rng: random.Random, files: dict[str, bytes]) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="docline-recovery-") as tmp:
        serve = ServeProcess(Path(tmp))
        serve.start()
        try:
            with serve.client() as client:
                for name, data in files.items():
                    client.post("/v1/documents", files={"file": (name, data)}).raise_for_status()
                # Kill while OCR is under way: a moment after the first document has pages in OCR.
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    states = snapshot(client)
                    if any(p and p.get("stage") == "ocr" for _s, p in states.values()):
                        break
                    time.sleep(0.05)
                time.sleep(rng.uniform(0.5, 3.0))
                before = snapshot(client)
            in_flight = {i for i, (s, _p) in before.items() if s not in FINAL}
            serve.kill()
            restart = time.perf_counter()
            serve.start()
            ready = time.perf_counter() - restart
            moved: dict[str, float] = {}
            done_at = float("nan")
            with serve.client() as client:
                while time.perf_counter() - restart < 300:
                    now = snapshot(client)
                    elapsed = time.perf_counter() - restart
                    for i in in_flight - moved.keys():
                        if i in now and now[i] != before[i]:
                            moved[i] = elapsed
                    if all(s in FINAL for s, _p in now.values()) and len(now) == len(files):
                        done_at = elapsed
                        break
                    time.sleep(0.05)
        finally:
            serve.stop()
    return {
        "in_flight": float(len(in_flight)),
        "ready": ready,
        "first": min(moved.values(), default=float("nan")),
        "all": max(moved.values(), default=float("nan")) if len(moved) == len(in_flight) else float("nan"),
        "done": done_at,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=8)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    files = {name: (SAMPLES / name).read_bytes() for name in SCANS}
    files["ten-pages.pdf"] = ten_page_scan()
    rounds = []
    print("round  in-flight  ready   first resumed  all resumed  all done   (seconds from restart)")
    for n in range(args.rounds):
        r = one_round(rng, files)
        rounds.append(r)
        print(
            f"{n + 1:5d}  {int(r['in_flight']):9d}  {r['ready']:5.2f}  {r['first']:13.2f}  {r['all']:11.2f}"
            f"  {r['done']:8.1f}"
        )
    for key in ("ready", "first", "all"):
        values = [r[key] for r in rounds if r[key] == r[key]]
        if values:
            print(f"median {key:6s} {statistics.median(values):.2f} s")


if __name__ == "__main__":
    main()
