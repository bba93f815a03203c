"""The command line: `docline extract` (embedded sidecar, same workflow) with a user-defined type, and
`docline status` / `docline export` against a running server."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sidecar.server import free_port
from tests.support.docline import run_app, write_components

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "documents"
DOCLINE = str(Path(sys.executable).parent / "docline")


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("DAPR_", "DOCLINE_"))}


@pytest.mark.slow
def test_extract_with_a_user_defined_type(tmp_path: Path) -> None:
    schema = {
        "title": "Eye test",
        "x-docline-name": "eye_test",
        "type": "object",
        "x-keywords": {"de": ["Brillenverordnung"]},
        "properties": {
            "patient": {"type": "string", "x-labels": {"de": ["Patient"], "en": ["Patient"]}},
            "date_of_birth": {"type": "string", "format": "date", "x-labels": {"de": ["Geburtsdatum"]}},
        },
        "required": ["patient"],
    }
    (tmp_path / "eye_test.json").write_text(json.dumps(schema))
    components = write_components(tmp_path)
    args = [DOCLINE, "extract", str(SAMPLES / "rx-de-text.pdf"), str(SAMPLES / "inv-en-text.pdf")]
    args += ["--schema", str(tmp_path / "eye_test.json"), "--type", "eye_test", "--json"]
    args += ["--resources-path", str(components), "--data", str(tmp_path / "data")]
    done = subprocess.run(args, env=_env(), capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout)
    assert [r["document_type"] for r in results] == ["eye_test", "eye_test"]
    assert results[0]["data"]["patient"] == "Stefan Hoffmann"
    assert results[0]["status"] in ("completed", "needs_review")
    assert results[1]["status"] == "needs_review"  # an invoice has no "Patient": the required field is missing


def test_extract_reports_a_rejected_file(tmp_path: Path) -> None:
    bad = tmp_path / "empty.pdf"
    bad.write_bytes(b"")
    args = [DOCLINE, "extract", str(bad), "--json", "--resources-path", str(write_components(tmp_path))]
    args += ["--data", str(tmp_path / "data")]
    done = subprocess.run(args, env=_env(), capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2
    result = json.loads(done.stdout)
    assert result["status"] == "rejected"
    assert result["error"]["code"] == "empty_file"


def test_status_and_export_talk_to_a_running_server(tmp_path: Path) -> None:
    with run_app(tmp_path, review_confidence_threshold=0.0) as app:
        doc_id = (
            app.client()
            .post("/v1/documents", files={"file": ("inv.pdf", (SAMPLES / "inv-en-text.pdf").read_bytes())})
            .json()["id"]
        )
        app.wait(doc_id)
        env = {**_env(), "DOCLINE_URL": app.url}
        status = subprocess.run([DOCLINE, "status", "--json"], env=env, capture_output=True, text=True, timeout=60)
        assert status.returncode == 0, status.stderr
        assert [d["id"] for d in json.loads(status.stdout)] == [doc_id]
        one = subprocess.run([DOCLINE, "status", doc_id], env=env, capture_output=True, text=True, timeout=60)
        assert json.loads(one.stdout)["status"] == "completed"
        exported = subprocess.run(
            [DOCLINE, "export", "--format", "csv"], env=env, capture_output=True, text=True, timeout=60
        )
        assert exported.returncode == 0, exported.stderr
        rows = list(csv.DictReader(io.StringIO(exported.stdout)))
        assert rows[0]["id"] == doc_id
        assert rows[0]["document_type"] == "invoice"
        assert rows[0]["data.invoice_number"]
        as_json = subprocess.run([DOCLINE, "export"], env=env, capture_output=True, text=True, timeout=60)
        assert json.loads(as_json.stdout)[0]["id"] == doc_id
    missing = subprocess.run([DOCLINE, "status"], env=env, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1
    assert "not reachable" in missing.stderr


@pytest.mark.slow
def test_serve_feeds_the_samples_and_reports_each_to_its_final_status(tmp_path: Path) -> None:
    """What `make run` shows: every sample with its status, then a summary, while the server keeps serving."""
    samples = tmp_path / "samples"
    samples.mkdir()
    for name in ("rx-de-text.pdf", "inv-en-text.pdf"):
        (samples / name).write_bytes((SAMPLES / name).read_bytes())
    (samples / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog")
    components = write_components(tmp_path)
    port = str(free_port())
    cmd = [DOCLINE, "serve", "--feed-samples", "--samples", str(samples), "--port", port]
    cmd += ["--resources-path", str(components), "--data", str(tmp_path / "data"), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.strip())
            if "samples:" in line:
                break
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    statuses = {line.split()[1]: line.split()[0] for line in lines if line.endswith(tuple("0123456789abcdef"))}
    assert statuses.keys() == {"broken.pdf", "inv-en-text.pdf", "rx-de-text.pdf"}, lines
    assert statuses["broken.pdf"] == "rejected"
    assert statuses["inv-en-text.pdf"] == "completed"
    assert statuses["rx-de-text.pdf"] in ("completed", "needs_review")
    assert lines[-1].startswith("3 samples: "), lines
    assert "1 rejected" in lines[-1]
    assert "still running" not in lines[-1]


@pytest.mark.slow
def test_the_second_reader_setting_reaches_the_ocr_step(tmp_path: Path) -> None:
    pytest.importorskip("rapidocr", reason="the rapidocr extra is not installed")
    from tests.extractors.test_second_reader import handwritten_form

    form = tmp_path / "form.png"
    form.write_bytes(handwritten_form())
    texts = {}
    for reader in ("", "rapidocr"):
        root = tmp_path / (reader or "tesseract")  # its own stores: the same file is otherwise the same document
        components = write_components(root)
        args = [DOCLINE, "extract", str(form), "--type", "prescription", "--json", "--resources-path", str(components)]
        args += ["--data", str(root / "data")]
        env = {**_env(), "DOCLINE_OCR_SECOND_READER": reader} if reader else _env()
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=180, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
        result = json.loads(done.stdout)
        texts[reader] = json.dumps(result["data"], ensure_ascii=False)
    # Tesseract alone misreads the handwritten date of birth (26.05.1999 as 16.05.1999); the second reader does not.
    assert "1999-05-26" in texts["rapidocr"]
    assert texts["rapidocr"] != texts[""]
