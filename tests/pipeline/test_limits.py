"""Limits that hold for a whole document: a page over the pixel budget (after scaling) ends ``rejected`` with
``page_too_large`` in one attempt, never retried."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from tests.support.docline import run_app


def test_a_page_over_the_pixel_budget_is_rejected_once(tmp_path: Path) -> None:
    # 1000×1000 pixels declaring 50 dpi, 20 inches: larger than paper, so A4's 85.5 dpi is guessed. OCR would read
    # it at 180 dpi, 2105×2105 = 4.4 MP, over a 4 MP budget.
    out = io.BytesIO()
    Image.new("1", (1000, 1000), 1).save(out, format="PNG", dpi=(50, 50))
    with run_app(tmp_path, max_page_pixels=4_000_000) as app:
        client = app.client()
        doc_id = client.post("/v1/documents", files={"file": ("big.png", out.getvalue())}).json()["id"]
        done = app.wait(doc_id)
        assert done["status"] == "rejected"
        assert done["error"]["code"] == "page_too_large"
        assert "4 megapixels" in done["error"]["message"]
        metrics = app.container.metrics.render().decode()
        # A refusal is the document's answer, not a failure: the OCR step ran once and was not retried.
        assert 'docline_activity_seconds_count{activity="ocr_page",outcome="ok"} 1.0' in metrics
        assert 'activity="ocr_page",outcome="error"' not in metrics


def test_every_message_fits_daprds_default_body_limit(tmp_path: Path) -> None:
    """With the sidecar at daprd's default 4 MiB: a 10 MB upload is stored in parts that fit it, and an inbox file
    too big to move in one request is refused where it lies, saying which limit to raise."""
    from pipeline.inbox import settled_name
    from pipeline.store import PART_BYTES

    assert PART_BYTES * 4 // 3 + 64 * 1024 <= 4 * 1024 * 1024
    big = io.BytesIO()
    Image.effect_noise((2400, 1400), 90).save(big, format="PNG", dpi=(300, 300))  # noise: no compression
    data = big.getvalue()
    assert len(data) > 3 * 1024 * 1024
    with run_app(tmp_path, review_confidence_threshold=0.0) as app:
        assert app.container.settings.dapr_max_body_bytes == 4 * 1024 * 1024
        client = app.client()
        resp = client.post("/v1/documents", files={"file": ("noise.png", data)})
        assert resp.status_code == 202, resp.text
        done = app.wait(resp.json()["id"])
        assert done["status"] in ("completed", "rejected"), done  # read through, whatever noise "says"
        stored = [p for p in (tmp_path / "blobs").iterdir() if "-x" in p.name]
        assert len(stored) >= 2
        assert max(p.stat().st_size for p in stored) <= PART_BYTES

        app.inbox.mkdir(parents=True, exist_ok=True)
        (app.inbox / "noise.png").write_bytes(data)
        for _ in range(2):
            app.scan()
        assert (app.inbox / "noise.png").exists()  # left in place: it could not be moved
        error = (app.inbox / "failed" / "noise.png.error.json").read_text()
        assert "file_too_large" in error
        assert "DOCLINE_DAPR_MAX_BODY_BYTES" in error
        assert not (app.inbox / settled_name("processed/", "noise.png", done["id"])).exists()
