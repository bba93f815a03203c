"""``docline serve``: a flag given wins over its ``DOCLINE_*`` variable; a flag not given leaves the variable be."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from pipeline.cli.serve import serve_settings
from sidecar.server import free_port
from tests.support.docline import wait_for, write_components

REPO = Path(__file__).resolve().parents[2]
FLAG_VARIABLES = ("DOCLINE_HOST", "DOCLINE_PORT", "DOCLINE_RESOURCES_PATH", "DOCLINE_DATA")


def test_flags_override_the_environment_only_when_given(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in FLAG_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert serve_settings().port == 8080
    assert serve_settings().resources_path == Path("components")

    monkeypatch.setenv("DOCLINE_HOST", "0.0.0.0")
    monkeypatch.setenv("DOCLINE_PORT", "9123")
    monkeypatch.setenv("DOCLINE_RESOURCES_PATH", str(tmp_path / "res"))
    monkeypatch.setenv("DOCLINE_DATA", str(tmp_path / "data"))
    from_env = serve_settings()
    assert (from_env.host, from_env.port) == ("0.0.0.0", 9123)
    assert (from_env.resources_path, from_env.data) == (tmp_path / "res", tmp_path / "data")

    flagged = serve_settings(port=8081, data=tmp_path / "other")
    assert (flagged.host, flagged.port) == ("0.0.0.0", 8081)
    assert (flagged.resources_path, flagged.data) == (tmp_path / "res", tmp_path / "other")


def test_serve_listens_where_the_environment_says(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAPR_", "DOCLINE_"))}
    env.update(
        DOCLINE_PORT=str(port),
        DOCLINE_RESOURCES_PATH=str(write_components(tmp_path)),
        DOCLINE_DATA=str(tmp_path / "data"),
    )
    log = tmp_path / "serve.log"
    cmd = [str(Path(sys.executable).parent / "docline"), "serve", "--log-level", "warning"]
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=out, start_new_session=True, cwd=tmp_path)
    try:
        ready = False
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None and not ready:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
            except httpx.HTTPError:
                time.sleep(0.2)
        assert ready, log.read_text()[-3000:]
        # The embedded sidecar keeps its state where DOCLINE_DATA says, not in ./.docline.
        assert (tmp_path / "data").is_dir()
        assert not (tmp_path / ".docline").exists()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def test_data_holds_everything_local_with_the_shipped_components(tmp_path: Path) -> None:
    """``--data X`` keeps the results, originals, inbox and outbox under X, not in ./.docline: two servers with
    different --data share nothing."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAPR_", "DOCLINE_"))}
    env["DOCLINE_REVIEW_CONFIDENCE_THRESHOLD"] = "0"  # completes without a reviewer: its result goes to the outbox
    data = tmp_path / "elsewhere"
    cmd = [str(Path(sys.executable).parent / "docline"), "serve", "--port", str(port), "--log-level", "warning"]
    cmd += ["--resources-path", str(REPO / "components"), "--data", str(data)]
    log = tmp_path / "serve.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=out, start_new_session=True, cwd=tmp_path)
    try:
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            try:
                if client.get("/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        pdf = (REPO / "samples" / "documents" / "rx-de-text.pdf").read_bytes()
        doc_id = client.post("/v1/documents", files={"file": ("rx.pdf", pdf)}).json()["id"]
        assert wait_for(client, doc_id)["status"] == "completed"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    assert not (tmp_path / ".docline").exists()
    assert (data / "state.db").is_file()
    assert (data / "sidecar" / "workflows.db").is_file()
    assert (data / "inbox").is_dir()
    assert any((data / "blobs").iterdir())
    assert json.loads((data / "outbox" / f"{doc_id}.json").read_text())["status"] == "completed"
