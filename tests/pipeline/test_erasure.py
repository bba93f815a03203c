"""Erasure: DELETE removes every copy of a document, proven by searching every file of the data folder for its
bytes and values afterwards; retention erases finished documents the same way; a review records who, when and what."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipeline.inbox import settled_name
from tests.pipeline.test_llm import prescription_reply
from tests.support.docline import App, run_app, wait_for
from tests.support.llm_server import LLMServer, Reply

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "documents"
NAME = "erase-me-q7.pdf"
CORRECTED = "Zqxv Erasure-Proof"


def found_in(root: Path, needles: Iterable[bytes]) -> dict[bytes, list[str]]:
    """Which files under ``root`` hold each needle, byte for byte (SQLite files and their logs included)."""
    where: dict[bytes, list[str]] = {n: [] for n in needles}
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        for needle in where:
            if needle in data:
                where[needle].append(str(path.relative_to(root)))
    return where


def test_delete_leaves_nothing_of_the_document_in_the_data_folder(tmp_path: Path, llm_server: LLMServer) -> None:
    """Original, page text, drafts, LLM replies, review event, record, outbox result, processed inbox copy, workflow
    history: every one written, every one erased."""
    pdf = (SAMPLES / "rx-de-text.pdf").read_bytes()
    llm_server.default = Reply(json=prescription_reply("rx-de-text"))
    with run_app(tmp_path, openai_endpoint=llm_server.openai_base_url, review_confidence_threshold=1.0) as app:
        app.inbox.mkdir(parents=True, exist_ok=True)
        (app.inbox / NAME).write_bytes(pdf)
        app.scan()
        (doc_id,) = app.scan().json()["submitted"]
        client = app.client()
        app.wait(doc_id, ("needs_review",))
        decided = client.post(
            f"/v1/documents/{doc_id}/review",
            json={"decision": "approve", "corrections": {"patient.name": CORRECTED}},
        )
        assert decided.status_code == 202, decided.text
        assert app.wait(doc_id)["status"] == "completed"
        processed = app.inbox / settled_name("processed/", NAME, doc_id)
        deadline = time.monotonic() + 30
        while not processed.exists():
            assert time.monotonic() < deadline
            time.sleep(0.1)

        needles = [
            pdf[len(pdf) // 2 : len(pdf) // 2 + 48],  # the original's bytes
            hashlib.sha256(pdf).hexdigest().encode(),
            doc_id.encode(),
            NAME.encode(),
            b"Stefan Hoffmann",  # the patient, as read (page text, model replies, drafts)
            b"Bildschirmarbeit",  # a remark, in the page's text only
            CORRECTED.encode(),  # the reviewer's value (review event, record, outbox)
        ]
        before = found_in(tmp_path, needles)
        assert all(before.values()), {n: f for n, f in before.items() if not f}  # the search sees them all
        assert any("llm" not in f for f in before[b"Stefan Hoffmann"])

        assert client.delete(f"/v1/documents/{doc_id}").status_code == 204
        assert client.get(f"/v1/documents/{doc_id}").status_code == 404
        left: dict[bytes, list[str]] = {}
        deadline = time.monotonic() + 15  # the state store empties its write-ahead log within a second
        while time.monotonic() < deadline:
            left = {n: f for n, f in found_in(tmp_path, needles).items() if f}
            if not left:
                break
            time.sleep(0.5)
        assert not left, left

        # The same file dropped again is a new document, processed again.
        (app.inbox / NAME).write_bytes(pdf)
        app.scan()
        assert app.scan().json()["submitted"] == [doc_id]
        assert app.wait(doc_id, ("needs_review",))["status"] == "needs_review"


def _deleted_while_asking_the_model(app: App, llm_server: LLMServer) -> str:
    """A document deleted while its classification step waits on the model (1.5 s), which then writes its reply."""
    llm_server.default = Reply(json=prescription_reply("rx-de-text"), delay=1.5)
    client = app.client()
    pdf = (SAMPLES / "rx-de-text.pdf").read_bytes()
    doc_id: str = client.post("/v1/documents", files={"file": ("rx.pdf", pdf)}).json()["id"]
    deadline = time.monotonic() + 30
    while not llm_server.requests:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert client.delete(f"/v1/documents/{doc_id}").status_code == 204
    return doc_id


def _left_of(data: Path, doc_id: str) -> list[str]:
    """The document's blobs, and the files still naming it or its patient."""
    blobs = [p.name for p in (data / "blobs").iterdir() if p.name.startswith(doc_id)]
    return blobs + [f for files in found_in(data, [b"Stefan Hoffmann", doc_id.encode()]).values() for f in files]


def test_a_document_deleted_while_running_loses_what_its_last_step_wrote(tmp_path: Path, llm_server: LLMServer) -> None:
    with run_app(tmp_path, openai_endpoint=llm_server.openai_base_url, erase_grace_seconds=3) as app:
        doc_id = _deleted_while_asking_the_model(app, llm_server)
        time.sleep(5)  # the step ends (writing its reply to the cache), then the second look erases it
        assert not _left_of(tmp_path, doc_id)


def test_a_server_stopping_before_the_second_look_takes_it_at_once(tmp_path: Path, llm_server: LLMServer) -> None:
    with run_app(tmp_path, openai_endpoint=llm_server.openai_base_url, erase_grace_seconds=300) as app:
        doc_id = _deleted_while_asking_the_model(app, llm_server)
        time.sleep(3)  # the step ends and writes its reply; the second look is minutes away
    assert not _left_of(tmp_path, doc_id)


def test_retention_erases_finished_documents_only(tmp_path: Path) -> None:
    with run_app(tmp_path, review_confidence_threshold=0.0, retention_days=30) as app:
        client = app.client()
        done = client.post("/v1/documents", files={"file": ("rx.pdf", (SAMPLES / "rx-de-text.pdf").read_bytes())})
        doc_id = done.json()["id"]
        assert app.wait(doc_id)["status"] == "completed"
        service = app.container.service
        assert service.purge_expired(now=datetime.now(UTC) + timedelta(days=29)) == 0
        assert service.purge_expired(now=datetime.now(UTC) + timedelta(days=31)) == 1
        assert client.get(f"/v1/documents/{doc_id}").status_code == 404
        assert not (app.outbox / f"{doc_id}.json").exists()
        assert not any(p.name.startswith(doc_id) for p in (tmp_path / "blobs").iterdir())


def test_retention_runs_by_itself_and_spares_documents_in_review(tmp_path: Path) -> None:
    # 0.00003 days is 2.6 seconds; the purge looks every half second.
    with run_app(tmp_path, review_confidence_threshold=1.0, retention_days=0.00003, retention_check_seconds=0.5) as app:
        client = app.client()
        rejected = client.post("/v1/documents", files={"file": ("x.pdf", b"not a document")}).json()["id"]
        waiting = client.post(
            "/v1/documents", files={"file": ("rx.pdf", (SAMPLES / "rx-de-text.pdf").read_bytes())}
        ).json()["id"]
        assert app.wait(rejected)["status"] == "rejected"
        assert app.wait(waiting, ("needs_review",))["status"] == "needs_review"
        deadline = time.monotonic() + 30
        while client.get(f"/v1/documents/{rejected}").status_code != 404:
            assert time.monotonic() < deadline, "the finished document was not erased"
            time.sleep(0.3)
        assert client.get(f"/v1/documents/{waiting}").json()["status"] == "needs_review"


def test_a_review_records_who_when_and_what_changed(tmp_path: Path) -> None:
    tokens = {"alice": "alice-token-1", "bob": "bob-token-2"}
    with run_app(
        tmp_path, review_confidence_threshold=1.0, api_tokens=tokens, reviewer_header="X-Forwarded-User"
    ) as app:
        alice, bob = app.client("alice-token-1"), app.client("bob-token-2")
        assert app.client("wrong").get("/v1/documents").status_code == 401
        pdf = (SAMPLES / "rx-de-text.pdf").read_bytes()
        first = alice.post("/v1/documents", files={"file": ("rx.pdf", pdf)}).json()["id"]
        second = alice.post("/v1/documents?force=true", files={"file": ("rx.pdf", pdf)}).json()["id"]
        shown = wait_for(alice, first, ("needs_review",))["data"]["patient"]["name"]
        wait_for(alice, second, ("needs_review",))
        before = datetime.now(UTC)
        body = {"decision": "approve", "corrections": {"patient.name": "Lukas Weiß"}}
        assert alice.post(f"/v1/documents/{first}/review", json=body).status_code == 202
        # Behind a proxy that names the signed-in user, that name is recorded instead of the token's.
        proxied = {"X-Forwarded-User": "carol@example.org"}
        assert bob.post(f"/v1/documents/{second}/review", json=body, headers=proxied).status_code == 202
        done = {doc: wait_for(alice, doc)["review"] for doc in (first, second)}
    assert done[first]["reviewer"] == "alice"
    assert done[second]["reviewer"] == "carol@example.org"
    assert done[first]["changes"] == [{"field": "patient.name", "before": shown, "after": "Lukas Weiß"}]
    assert datetime.fromisoformat(done[first]["decided_at"]).astimezone(UTC) >= before - timedelta(seconds=5)
