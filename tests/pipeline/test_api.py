"""The REST API end to end: a real sidecar, real state store and bindings, the real workflow."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.docline import App, run_app

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "documents"


def _upload(client: httpx.Client, name: str, data: bytes, **params: object) -> httpx.Response:
    return client.post("/v1/documents", files={"file": (name, data)}, params=params)


def test_hostile_files_end_rejected_with_a_reason(docline_app: App) -> None:
    client = docline_app.client()
    cases = {
        "empty.pdf": (b"", "empty_file"),
        "zip-renamed.pdf": (b"PK\x03\x04" + b"\x00" * 200, "unsupported_type"),
        "truncated.pdf": (b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog", "corrupt_file"),
    }
    ids = {}
    for name, (data, _code) in cases.items():
        resp = _upload(client, name, data)
        assert resp.status_code == 202, resp.text
        ids[name] = resp.json()["id"]
    for name, (_data, code) in cases.items():
        body = docline_app.wait(ids[name])
        assert body["status"] == "rejected"
        assert body["error"]["code"] == code, body
        assert body["error"]["message"]
        assert body["source"]["filename"] == name
    assert client.get("/healthz").json() == {"status": "ok"}
    # The next good document still completes.
    good = _upload(client, "rx.pdf", (SAMPLES / "rx-de-text.pdf").read_bytes())
    body = docline_app.wait(good.json()["id"], ("completed", "needs_review"))
    assert body["document_type"] == "prescription"
    assert body["source"]["media_type"] == "application/pdf"
    assert body["source"]["pages"] == 1
    ids["rx.pdf"] = body["id"]
    # Each result was also written to the outbox.
    assert {p.stem for p in docline_app.outbox.glob("*.json")} >= set(ids.values())


def test_same_content_returns_the_existing_document(docline_app: App) -> None:
    client = docline_app.client()
    first = _upload(client, "a.pdf", b"not a document")
    assert first.status_code == 202
    again = _upload(client, "b.pdf", b"not a document")
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    forced = _upload(client, "b.pdf", b"not a document", force="true")
    assert forced.status_code == 202
    assert forced.json()["id"] != first.json()["id"]


def test_list_paginates_and_filters(docline_app: App) -> None:
    client = docline_app.client()
    ids = [_upload(client, f"{i}.bin", f"junk {i}".encode()).json()["id"] for i in range(5)]
    for doc_id in ids:
        docline_app.wait(doc_id)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/documents", params=params).json()
        seen += [d["id"] for d in page["items"]]
        cursor = page["next"]
        if not cursor:
            break
    assert seen == list(reversed(ids))
    rejected = client.get("/v1/documents", params={"status": "rejected"}).json()["items"]
    assert {d["id"] for d in rejected} == set(ids)
    assert client.get("/v1/documents", params={"status": "completed"}).json()["items"] == []
    assert client.get("/v1/documents", params={"status": "bogus"}).status_code == 422


def test_delete_and_missing(docline_app: App) -> None:
    client = docline_app.client()
    doc_id = _upload(client, "x.bin", b"junk").json()["id"]
    docline_app.wait(doc_id)
    assert client.delete(f"/v1/documents/{doc_id}").status_code == 204
    assert client.get(f"/v1/documents/{doc_id}").status_code == 404
    assert client.delete(f"/v1/documents/{doc_id}").status_code == 404
    assert client.get("/v1/documents/nope/pages/1.png").status_code == 404
    resp = client.post("/v1/documents/nope/review", json={"decision": "approve"})
    assert resp.status_code == 404
    for odd in ("..%2F..%2Fetc", "a||b", "x" * 300, "%F0%9F%92%A5"):
        assert client.get(f"/v1/documents/{odd}").status_code == 404
    unknown = client.post("/v1/documents", files={"file": ("a.pdf", b"%PDF-")}, data={"type": "no_such_type"})
    assert unknown.status_code == 422


def test_token_and_size_limit(tmp_path: Path) -> None:
    with run_app(tmp_path, api_token="s3cret", max_upload_bytes=1000) as app:
        anonymous = app.client()
        for method, path in [
            ("GET", "/v1/documents"),
            ("GET", "/v1/documents/x"),
            ("GET", "/v1/documents/x/pages/1.png"),
            ("DELETE", "/v1/documents/x"),
            ("POST", "/v1/documents/x/review"),
        ]:
            assert anonymous.request(method, path).status_code == 401, (method, path)
        assert _upload(anonymous, "a.pdf", b"x").status_code == 401
        assert _upload(app.client("wrong"), "a.pdf", b"x").status_code == 401
        client = app.client("s3cret")
        assert _upload(client, "big.pdf", b"%PDF-" + b"0" * 2000).status_code == 413
        assert _upload(client, "small.pdf", b"%PDF-").status_code == 202
        # Probes stay open; metrics are behind the token too (tests/pipeline/test_security.py).
        assert anonymous.get("/healthz").status_code == 200
        assert anonymous.get("/readyz").status_code == 200
        assert anonymous.get("/metrics").status_code == 401


def _crashed_before_its_workflow(docline_app: App, data: bytes) -> str:
    """The record a crash between writing a document's record and starting its workflow leaves: status queued."""
    from pipeline.models import Source, StoredDocument
    from pipeline.service import document_id
    from pipeline.store import sha256_hex
    from pipeline.workflow import workflow_id

    service = docline_app.container.service
    doc_id = document_id(sha256_hex(data))
    service.results.put(
        StoredDocument(
            id=doc_id,
            status="queued",
            source=Source(filename="rx.pdf", sha256=sha256_hex(data)),
            workflow_id=workflow_id(doc_id),
            original_key=service.blobs.put(data),
        )
    )
    return doc_id


def test_a_record_without_its_workflow_is_recovered(docline_app: App) -> None:
    """A crash between writing a document's record and starting its workflow: start-up recovery starts it."""
    service = docline_app.container.service
    data = (SAMPLES / "rx-de-text.pdf").read_bytes()
    doc_id = _crashed_before_its_workflow(docline_app, data)
    # Submitting the same content again finds the record and starts its workflow.
    again = _upload(docline_app.client(), "rx.pdf", data)
    assert again.status_code == 200
    assert docline_app.wait(doc_id, ("completed", "needs_review"))["document_type"] == "prescription"
    assert service.recover() == 0


def test_recovery_starts_queued_documents_without_a_workflow(docline_app: App) -> None:
    service = docline_app.container.service
    doc_id = _crashed_before_its_workflow(docline_app, (SAMPLES / "rx-de-text.pdf").read_bytes())
    assert service.recover() == 1  # listed with its record: the index entry is written first
    assert docline_app.wait(doc_id, ("completed", "needs_review"))["source"]["pages"] == 1


def test_concurrent_uploads_are_all_listed(docline_app: App) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def upload(i: int) -> str:
        with docline_app.client() as client:
            resp = _upload(client, f"{i}.bin", f"concurrent junk {i}".encode())
            assert resp.status_code == 202
            return str(resp.json()["id"])

    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(upload, range(24)))
    listed = docline_app.client().get("/v1/documents", params={"limit": 100}).json()["items"]
    assert {d["id"] for d in listed} == ids


def test_deleting_a_running_document_keeps_it_deleted(docline_app: App) -> None:
    import time

    from tests.pipeline.test_observability import _three_page_tiff

    client = docline_app.client()
    doc_id = _upload(client, "note.tif", _three_page_tiff()).json()["id"]
    while client.get(f"/v1/documents/{doc_id}").json()["status"] == "queued":
        time.sleep(0.05)
    assert client.delete(f"/v1/documents/{doc_id}").status_code == 204
    time.sleep(3)  # activities that were in flight finish meanwhile; none may bring the record back
    assert client.get(f"/v1/documents/{doc_id}").status_code == 404
    assert doc_id not in {d["id"] for d in client.get("/v1/documents").json()["items"]}
    good = _upload(client, "rx.pdf", (SAMPLES / "rx-de-text.pdf").read_bytes()).json()["id"]
    assert docline_app.wait(good, ("completed", "needs_review"))["document_type"] == "prescription"


def test_a_versioned_write_does_not_resurrect_a_deleted_record(docline_app: App) -> None:
    client = docline_app.client()
    doc_id = _upload(client, "x.bin", b"junk for etags").json()["id"]
    docline_app.wait(doc_id)
    results = docline_app.container.service.results
    doc, etag = results.get_versioned(doc_id)
    assert doc is not None
    assert etag
    results.put(doc, etag=etag)  # the version it read: accepted
    stale = etag
    doc, etag = results.get_versioned(doc_id)
    with pytest.raises(Exception, match=r"(?i)etag"):
        results.put(doc, etag=stale)  # an older version: refused
    results.delete(doc_id)
    with pytest.raises(Exception, match=r"(?i)etag"):
        results.put(doc, etag=etag)
    assert results.get(doc_id) is None
