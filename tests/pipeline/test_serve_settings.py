"""``docline serve``: a flag given wins over its ``DOCLINE_*`` variable; a flag not given leaves the variable be."""

from __future__ import annotations

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
from tests.support.docline import write_components

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
