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
