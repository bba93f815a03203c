"""Limits that hold for a whole document: a page over the pixel budget (after scaling) ends ``rejected`` with
``page_too_large`` in one attempt, never retried."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from tests.support.docline import run_app


def test_a_page_over_the_pixel_budget_is_rejected_once(tmp_path: Path) -> None:
    # 1000×1000 pixels declaring 50 dpi: OCR would read it at 180 dpi, 3600×3600 = 13 MP, over a 4 MP budget.
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
