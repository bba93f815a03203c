"""Tracing and metrics: a span per activity in the trace of the REST request that submitted the document."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pipeline.tracing import setup_tracing
from tests.support.docline import run_app

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "documents"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_one_span_per_activity_in_the_request_trace(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    setup_tracing(exporter)
    with run_app(tmp_path, review_confidence_threshold=0.0) as app:
        client = app.client()
        resp = client.post(
            "/v1/documents",
            files={"file": ("rx.pdf", (SAMPLES / "rx-de-text.pdf").read_bytes())},
            headers={"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"},
        )
        doc = app.wait(resp.json()["id"])
        metrics = client.get("/metrics").text
    spans = [s for s in exporter.get_finished_spans() if s.context.trace_id == int(TRACE_ID, 16)]
    names = [s.name for s in spans]
    assert "POST /v1/documents" in names
    for activity in ("split_pages", "ocr_page", "classify", "extract", "finish"):
        assert f"docline.{activity}" in names, names
    ids = {s.attributes.get("docline.document_id") for s in spans if s.name.startswith("docline.") and s.attributes}
    assert doc["id"] in ids
    assert doc["status"] == "completed"
    # Prometheus: documents by status, activity durations, pages.
    assert 'docline_documents{status="completed"} 1.0' in metrics
    assert 'docline_activity_seconds_count{activity="extract",outcome="ok"}' in metrics
    assert 'docline_pages_total{source="text-layer"} 1.0' in metrics
    assert "docline_review_queue 0.0" in metrics


def _three_page_tiff() -> bytes:
    import io

    from PIL import Image, ImageDraw

    pages = []
    for k in range(1, 4):
        page = Image.new("L", (1200, 500), 255)
        ImageDraw.Draw(page).text((60, 200), f"Page {k} of a delivery note", fill=0, font_size=48)
        pages.append(page)
    out = io.BytesIO()
    pages[0].save(out, format="TIFF", save_all=True, append_images=pages[1:], dpi=(200, 200))
    return out.getvalue()


def test_progress_shows_the_stage_and_page_k_of_n(tmp_path: Path) -> None:
    with run_app(tmp_path) as app:
        client = app.client()
        doc_id = client.post("/v1/documents", files={"file": ("note.tif", _three_page_tiff())}).json()["id"]
        seen = set()
        while True:
            body = client.get(f"/v1/documents/{doc_id}").json()
            if body["progress"]:
                p = body["progress"]
                seen.add((p["stage"], p["page"], p["pages"]))
            if body["status"] in ("completed", "rejected", "failed", "needs_review"):
                break
        assert body["source"]["pages"] == 3
        if body["status"] == "needs_review":
            assert body["progress"]["stage"] == "needs_review"
        else:
            assert body["progress"] is None  # finished documents show no progress
    ocr = {page for stage, page, pages in seen if stage == "ocr" and pages == 3}
    assert ocr, seen  # page k of 3 was visible while OCR ran
    assert ocr <= {0, 1, 2, 3}
