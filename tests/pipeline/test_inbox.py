"""The inbox through the real cron input binding and localstorage binding."""

from __future__ import annotations

import json
import time
from pathlib import Path

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


def test_inbox_picks_up_complete_files_once_and_moves_them(tmp_path: Path) -> None:
    with run_app(tmp_path, cron="300ms", review_confidence_threshold=0.0) as app:
        app.inbox.mkdir(parents=True, exist_ok=True)
        (app.inbox / "junk.pdf").write_bytes(b"this is not a pdf at all")
        (app.inbox / "empty.png").write_bytes(b"")
        (app.inbox / ODD).write_bytes((SAMPLES / "rx-de-text.pdf").read_bytes())
        _wait_for(
            lambda: (app.inbox / "failed" / "junk.pdf").exists() and (app.inbox / "failed" / "empty.png").exists()
        )
        _wait_for(lambda: (app.inbox / "processed" / ODD).exists())
        assert not (app.inbox / "processed" / f"{ODD}.error.json").exists()
        error = json.loads((app.inbox / "failed" / "junk.pdf.error.json").read_text())
        assert error["status"] == "rejected"
        assert error["error"]["code"] == "unsupported_type"
        assert not (app.inbox / "junk.pdf").exists()
        client = app.client()
        doc = client.get(f"/v1/documents/{error['document_id']}").json()
        assert doc["status"] == "rejected"
        assert doc["source"]["filename"] == "junk.pdf"
        good = [d for d in client.get("/v1/documents").json()["items"] if d["status"] == "completed"]
        assert [d["source"]["filename"] for d in good] == [ODD]
        assert (app.outbox / f"{good[0]['id']}.json").exists()
        # Many more scans happen: still exactly the three documents.
        time.sleep(1.5)
        assert len(client.get("/v1/documents").json()["items"]) == 3


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
    _wait_for(lambda: (app.inbox / "failed" / "growing.pdf").exists())
    assert (app.inbox / "failed" / "growing.pdf").read_bytes() == b"%PDF-1.4 part one and part two"
