"""A workflow engine whose disk refuses writes stops instead of running ahead of its database: every call is refused,
``/readyz`` fails, and a restart on a working disk carries on from the last durable commit."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.support.docline import ServeProcess, wait_for

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "documents"
# No file of the process may grow past this: the engine's write-ahead log reaches it after a few documents, before
# anything else does (text-layer PDFs: no OCR scratch files; the original is 8 KB).
MAX_FILE_BYTES = 512 * 1024


def test_the_engine_stops_when_its_disk_refuses_writes(tmp_path: Path) -> None:
    pdf = (SAMPLES / "rx-de-text.pdf").read_bytes()
    serve = ServeProcess(tmp_path, max_file_bytes=MAX_FILE_BYTES)
    serve.start()
    submitted: list[str] = []
    try:
        with serve.client() as client:
            deadline = time.monotonic() + 120
            while client.get("/readyz").status_code == 200:
                assert time.monotonic() < deadline, "the engine's log never reached the file size limit"
                try:
                    resp = client.post("/v1/documents?force=true", files={"file": ("rx.pdf", pdf)})
                except httpx.HTTPError:
                    continue
                if resp.status_code == 202:
                    submitted.append(resp.json()["id"])
                time.sleep(0.05)
            assert client.get("/readyz").json() == {"status": "not ready"}
            assert client.get("/healthz").status_code == 200  # alive: it says what is wrong instead of dying
            # It stays stopped: nothing the disk never saw is handed out or answered any more.
            time.sleep(1.0)
            assert client.get("/readyz").status_code == 503
        log = serve.log.read_text()
        assert "workflow engine stopped: its database could not be written" in log
    finally:
        serve.stop()
    assert len(submitted) >= 2

    # On a disk that takes writes again, every document that got in carries on from its last durable step.
    serve = ServeProcess(tmp_path)
    serve.start()
    try:
        with serve.client() as client:
            for doc_id in submitted:
                body = wait_for(client, doc_id, ("completed", "needs_review", "failed", "rejected"), timeout=120)
                assert body["status"] in ("completed", "needs_review"), body
    finally:
        serve.stop()
