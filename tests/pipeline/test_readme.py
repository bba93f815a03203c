"""The README's examples, executed: every ```sh block except those that install or start servers (`make ...`,
`docline serve`), against a running docline, from a folder that looks like a checkout."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.support.docline import run_app

ROOT = Path(__file__).resolve().parents[2]


def readme_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL)
    return [b for b in blocks if "make " not in b and "docline serve" not in b]


def test_the_readme_has_runnable_examples() -> None:
    blocks = readme_blocks()
    assert any("curl" in b for b in blocks)
    assert any("docline extract" in b for b in blocks)
    assert any("docline eval" in b for b in blocks)


@pytest.mark.slow
def test_readme_examples_run(tmp_path: Path) -> None:
    work = tmp_path / "checkout"
    work.mkdir()
    for name in ("samples", "components", ".venv"):
        (work / name).symlink_to(ROOT / name)
    with run_app(tmp_path / "app", review_confidence_threshold=1.0) as app:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DAPR_", "DOCLINE_"))}
        env["DOCLINE_URL"] = app.url
        # One shell session, as a reader would type them in order.
        script = "\n".join(readme_blocks()).replace("http://localhost:8080", app.url)
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"README examples failed:\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
        assert '"status"' in done.stdout  # docline extract printed a result
        assert "docline eval: 2 documents" in done.stdout  # and docline eval its report on the text-layer samples
        # The examples did what they say: a document was submitted, its first page fetched, and a review decided.
        assert (work / "page-1.png").read_bytes().startswith(b"\x89PNG")
        decided = app.client().get("/v1/documents").json()["items"]
        assert any(d["review"] and d["review"]["decision"] == "approve" for d in decided)
