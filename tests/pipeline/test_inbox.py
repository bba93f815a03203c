"""The inbox through the real cron input binding and localstorage binding."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest

from pipeline.inbox import content_id, settled_name
from pipeline.models import DocumentResult, StoredDocument
from tests.support.docline import App, run_app


def _wait_for(predicate, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "documents"
ODD = "Rezept für Müller 😀 (1).pdf"


def _drop_sample(app: App) -> tuple[bytes, str]:
    """A sample prescription dropped into the inbox as rx.pdf, scanned until submitted: its bytes and document id
    (the first scan only records a new file)."""
    data = (SAMPLES / "rx-de-text.pdf").read_bytes()
    app.inbox.mkdir(parents=True, exist_ok=True)
    (app.inbox / "rx.pdf").write_bytes(data)
    app.scan()
    (doc_id,) = app.scan().json()["submitted"]
    return data, doc_id


def test_inbox_picks_up_complete_files_once_and_moves_them(tmp_path: Path) -> None:
    with run_app(tmp_path, cron="300ms", review_confidence_threshold=0.0) as app:
        app.inbox.mkdir(parents=True, exist_ok=True)
        junk, good = b"this is not a pdf at all", (SAMPLES / "rx-de-text.pdf").read_bytes()
        (app.inbox / "junk.pdf").write_bytes(junk)
        (app.inbox / "empty.png").write_bytes(b"")
        (app.inbox / ODD).write_bytes(good)
        failed_junk = app.inbox / settled_name("failed/", "junk.pdf", content_id(junk))
        failed_empty = app.inbox / settled_name("failed/", "empty.png", content_id(b""))
        processed = app.inbox / settled_name("processed/", ODD, content_id(good))
        _wait_for(lambda: failed_junk.exists() and failed_empty.exists())
        _wait_for(processed.exists)
        assert processed.read_bytes() == good
        assert not processed.with_name(processed.name + ".error.json").exists()
        error = json.loads(failed_junk.with_name(failed_junk.name + ".error.json").read_text())
        assert error["status"] == "rejected"
        assert error["error"]["code"] == "unsupported_type"
        assert error["document_id"] == content_id(junk)
        assert not (app.inbox / "junk.pdf").exists()
        client = app.client()
        doc = client.get(f"/v1/documents/{error['document_id']}").json()
        assert doc["status"] == "rejected"
        assert doc["source"]["filename"] == "junk.pdf"
        good_docs = [d for d in client.get("/v1/documents").json()["items"] if d["status"] == "completed"]
        assert [d["source"]["filename"] for d in good_docs] == [ODD]
        assert (app.outbox / f"{good_docs[0]['id']}.json").exists()
        # Many more scans happen: still exactly the three documents.
        time.sleep(1.5)
        assert len(client.get("/v1/documents").json()["items"]) == 3


def test_files_of_one_name_never_overwrite_each_other(docline_app: App) -> None:
    """The same name in two folders, and again later with other content: each settled copy keeps its folder and
    gets its document's id, so none replaces another in processed/ or failed/."""
    app = docline_app
    first, second, third = b"not a document, take 1", b"not a document, take 2", b"not a document, take 3"
    for folder, data in (("a", first), ("b", second)):
        (app.inbox / folder).mkdir(parents=True, exist_ok=True)
        (app.inbox / folder / "scan.pdf").write_bytes(data)
    settled = [
        app.inbox / settled_name("failed/", f"{f}/scan.pdf", content_id(d)) for f, d in (("a", first), ("b", second))
    ]
    for _ in range(3):
        app.scan()
    _wait_for(lambda: all(p.exists() for p in settled))
    (app.inbox / "a" / "scan.pdf").write_bytes(third)  # the same name again, another day
    later = app.inbox / settled_name("failed/", "a/scan.pdf", content_id(third))
    _wait_for(lambda: bool(app.scan()) and later.exists())
    assert [p.read_bytes() for p in (*settled, later)] == [first, second, third]
    assert settled[0].parent == later.parent == app.inbox / "failed" / "a"


def test_settled_names_fit_one_file_name() -> None:
    doc_id = "0123456789abcdef01234567"
    assert settled_name("processed/", "x/scan.pdf", doc_id) == f"processed/x/scan.{doc_id}.pdf"
    assert settled_name("failed/", "README", doc_id) == f"failed/README.{doc_id}"
    long = "ü" * 127 + ".pdf"  # 258 bytes: just over one file name
    name = settled_name("failed/", long, doc_id).rsplit("/", 1)[1]
    assert name.endswith(f".{doc_id}.pdf")
    assert len((name + ".error.json").encode()) <= 255


def test_a_deleted_documents_file_is_processed_again_and_its_copies_are_gone(docline_app: App) -> None:
    app = docline_app
    data, doc_id = _drop_sample(app)
    app.wait(doc_id)
    processed = app.inbox / settled_name("processed/", "rx.pdf", doc_id)
    _wait_for(processed.exists)

    client = app.client()
    assert client.delete(f"/v1/documents/{doc_id}").status_code == 204
    assert not processed.exists()
    (app.inbox / "rx.pdf").write_bytes(data)  # dropped again: a new document, not "seen before"
    app.scan()
    assert app.scan().json()["submitted"] == [doc_id]
    assert app.wait(doc_id)["status"] == "completed"
    _wait_for(processed.exists)


def test_a_document_deleted_while_running_takes_its_inbox_file_along(docline_app: App) -> None:
    app = docline_app
    _data, doc_id = _drop_sample(app)
    # Deleted at once (queued or running): the workflow stops, and the file it would have settled goes too, so
    # later scans do not make it a document again.
    assert app.client().delete(f"/v1/documents/{doc_id}").status_code == 204
    assert not (app.inbox / "rx.pdf").exists()
    assert [app.scan().json()["submitted"] for _ in range(3)] == [[], [], []]
    time.sleep(1.0)
    assert app.client().get(f"/v1/documents/{doc_id}").status_code == 404
    assert sorted(p.name for p in app.inbox.rglob("*") if p.is_file()) == ["docline-inbox.marker"]


def test_a_file_settled_twice_at_once_is_moved_once_without_an_error(docline_app: App) -> None:
    """The workflow's last activity and a scan may settle one file together: the one that deletes it second finds
    it gone, and that is what it wanted."""
    app = docline_app
    data, doc_id = _drop_sample(app)
    result = app.wait(doc_id)
    processed = app.inbox / settled_name("processed/", "rx.pdf", doc_id)
    _wait_for(processed.exists)

    inbox = app.container.inbox
    (app.inbox / "rx.pdf").write_bytes(data)  # as the other settler found it
    copy = inbox._create

    def copy_while_the_other_settler_deletes(name: str, body: bytes) -> None:
        copy(name, body)
        (app.inbox / "rx.pdf").unlink()

    inbox._create = copy_while_the_other_settler_deletes
    try:
        inbox.settle("rx.pdf", DocumentResult.model_validate(result))
    finally:
        inbox._create = copy
    assert processed.read_bytes() == data
    assert not (app.inbox / "rx.pdf").exists()


def test_a_file_moved_between_listing_and_reading_is_passed_over_quietly(
    docline_app: App, caplog: pytest.LogCaptureFixture
) -> None:
    """Listed, then settled by the workflow (or another replica) before this scan reads it: nothing to do."""
    inbox = docline_app.container.inbox
    docline_app.inbox.mkdir(parents=True, exist_ok=True)
    (docline_app.inbox / "gone.pdf").write_bytes(b"settled elsewhere first")
    read = inbox._get

    def read_after_it_moved(name: str) -> bytes:
        (docline_app.inbox / name).unlink()
        return read(name)

    def submit(data: bytes, filename: str, name: str) -> tuple[StoredDocument, bool]:
        raise AssertionError(f"{name} was submitted")

    inbox._get = read_after_it_moved
    try:
        with caplog.at_level(logging.ERROR, logger="pipeline.inbox"):
            report = inbox.scan(submit)
    finally:
        inbox._get = read
    assert report.seen == 1
    assert report.submitted == []
    assert report.settled == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_file_still_being_written_waits(docline_app: App) -> None:
    """Scans are triggered by hand here: the first sighting of a file only records it."""
    app = docline_app
    app.inbox.mkdir(parents=True, exist_ok=True)
    target = app.inbox / "growing.pdf"
    target.write_bytes(b"%PDF-1.4 part one")
    scan = app.scan()
    assert scan.status_code == 200
    assert scan.json()["submitted"] == []
    target.write_bytes(b"%PDF-1.4 part one and part two")  # changed since: still not complete
    assert app.scan().json()["submitted"] == []
    submitted = app.scan().json()["submitted"]
    assert len(submitted) == 1
    app.wait(submitted[0])
    # The same file seen again (before or after it moved) is never submitted twice.
    assert app.scan().json()["submitted"] == []
    failed = app.inbox / settled_name("failed/", "growing.pdf", submitted[0])
    _wait_for(failed.exists)
    assert failed.read_bytes() == b"%PDF-1.4 part one and part two"
