"""`docline serve` killed with SIGKILL in the middle of a batch, then restarted: every document completes, with
exactly one result each, and no LLM call that had completed is made again (the loopback LLM server counts)."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.pipeline.test_llm import prescription_reply
from tests.support.docline import ServeProcess, wait_for
from tests.support.llm_server import LLMServer, Reply

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "documents"
# Text-layer PDFs reach the LLM at once, scans after OCR: at each kill, documents are at different stages.
BATCH = ["inv-en-text.pdf", "rx-de-clean.png", "rx-de-text.pdf", "rx-en-lowdpi.png", "inv-en-lowdpi.jpg"]
REPLY_DELAY = 0.3


def _wait_requests(llm: LLMServer, count: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while len(llm.requests) < count:
        assert time.monotonic() < deadline, f"only {len(llm.requests)} LLM calls after {timeout}s"
        time.sleep(0.05)


@pytest.mark.slow
def test_sigkill_mid_batch_then_restart(tmp_path: Path, llm_server: LLMServer) -> None:
    llm_server.default = Reply(json=prescription_reply(), delay=REPLY_DELAY)
    serve = ServeProcess(
        tmp_path,
        openai_endpoint=llm_server.openai_base_url,
        env={"DOCLINE_REVIEW_CONFIDENCE_THRESHOLD": "0"},
    )
    kills: list[float] = []
    try:
        serve.start()
        with serve.client() as client:
            ids = []
            for name in BATCH:
                resp = client.post("/v1/documents", files={"file": (name, (SAMPLES / name).read_bytes())})
                assert resp.status_code == 202, resp.text
                ids.append(resp.json()["id"])
        for calls in (3, 7):  # two kills, each with documents at different stages
            _wait_requests(llm_server, calls)
            kills.append(time.monotonic())
            serve.kill()
            serve.start()
        with serve.client() as client:
            results = [wait_for(client, doc_id, timeout=120) for doc_id in ids]
            listed = client.get("/v1/documents", params={"limit": 100}).json()["items"]
    finally:
        serve.stop()

    assert [r["status"] for r in results] == ["completed"] * len(BATCH), [(r["status"], r["error"]) for r in results]
    assert sorted(d["id"] for d in listed) == sorted(ids)  # exactly one document each
    outbox = sorted(p.stem for p in (tmp_path / "outbox").glob("*.json"))
    assert outbox == sorted(ids)  # one result file each
    for r in results:
        assert json.loads((tmp_path / "outbox" / f"{r['id']}.json").read_text())["status"] == "completed"

    # Each LLM call is asked once. A repeat is allowed only for a call still in flight when the process died.
    bodies = Counter(json.dumps(req.body, sort_keys=True) for req in llm_server.requests)
    for body, count in bodies.items():
        if count == 1:
            continue
        first = min(req.received_at for req in llm_server.requests if json.dumps(req.body, sort_keys=True) == body)
        assert any(kill - REPLY_DELAY - 0.5 <= first <= kill for kill in kills), "a completed LLM call was repeated"
    # Every document was classified and extracted by the model, and only those calls were paid for (plus repeats of
    # in-flight calls): the results account for every call they used.
    assert sum(r["usage"]["llm_calls"] for r in results) == len(bodies)
