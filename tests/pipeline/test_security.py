"""Fail closed: a blank token stops start-up, the binding callback takes only the sidecar (Dapr's app API token),
and /metrics sits behind the API token or on a port of its own."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from pipeline.settings import Settings
from sidecar.server import SidecarSettings, free_port
from tests.support.docline import ServeProcess, run_app

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "documents"
DOCLINE = str(Path(sys.executable).parent / "docline")


@pytest.mark.parametrize("blank", ["", " ", "\t\n"])
def test_a_blank_token_is_refused_not_taken_as_no_token(blank: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APP_API_TOKEN", raising=False)
    monkeypatch.setenv("DOCLINE_API_TOKEN", blank)
    with pytest.raises(ValidationError, match="DOCLINE_API_TOKEN is empty or blank"):
        Settings()
    monkeypatch.delenv("DOCLINE_API_TOKEN")
    monkeypatch.setenv("APP_API_TOKEN", blank)
    with pytest.raises(ValidationError, match="APP_API_TOKEN is empty or blank"):
        Settings()
    with pytest.raises(ValidationError, match="APP_API_TOKEN is empty or blank"):
        SidecarSettings()
    monkeypatch.delenv("APP_API_TOKEN")
    assert Settings().api_token is None  # unset is still "no authentication"


def test_serve_does_not_start_with_a_blank_token(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAPR_", "DOCLINE_", "APP_API"))}
    env["DOCLINE_API_TOKEN"] = "   "
    done = subprocess.run(
        [DOCLINE, "serve", "--port", str(free_port()), "--data", str(tmp_path / "data")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert "DOCLINE_API_TOKEN is empty or blank" in done.stderr
    assert not (tmp_path / "data").exists()  # refused before anything started


def test_the_inbox_callback_takes_only_the_sidecar(tmp_path: Path) -> None:
    with run_app(tmp_path) as app:
        route = f"{app.url}/docline-inbox-scan"
        assert httpx.post(route).status_code == 403
        assert httpx.post(route, headers={"dapr-api-token": "guess"}).status_code == 403
        assert httpx.post(route, headers={"Authorization": "Bearer guess"}).status_code == 403
        assert httpx.options(route).status_code == 403
        assert app.scan().status_code == 200
        # Without an app token (daprd started without APP_API_TOKEN) nothing can prove it is the sidecar.
        settings = app.container.settings
        assert settings.app_api_token is not None
        sent = {"dapr-api-token": settings.app_api_token.get_secret_value()}
        app.container.settings = settings.model_copy(update={"app_api_token": None})
        try:
            assert httpx.post(route, headers=sent).status_code == 403
        finally:
            app.container.settings = settings


def test_metrics_need_the_api_token_when_one_is_set(tmp_path: Path) -> None:
    with run_app(tmp_path, api_token="s3cret") as app:
        assert app.client().get("/metrics").status_code == 401
        scraped = app.client("s3cret").get("/metrics")
        assert scraped.status_code == 200
        assert "docline_documents" in scraped.text
        assert app.client().get("/healthz").status_code == 200  # probes stay open


def test_serve_with_a_metrics_port_and_its_own_sidecar_token(tmp_path: Path) -> None:
    """``docline serve`` on the embedded sidecar: /metrics only on its own port, and the cron binding's inbox scans
    reach the app with the token the embedded sidecar was given (an outsider's scan is refused)."""
    metrics_port = free_port()
    serve = ServeProcess(tmp_path, env={"DOCLINE_API_TOKEN": "s3cret", "DOCLINE_METRICS_PORT": str(metrics_port)})
    serve.start()
    try:
        client = httpx.Client(base_url=serve.url, headers={"Authorization": "Bearer s3cret"}, timeout=30)
        assert client.get("/metrics").status_code == 404
        scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10)
        assert scraped.status_code == 200
        assert "docline_documents" in scraped.text
        assert httpx.post(f"{serve.url}/docline-inbox-scan").status_code == 403
        inbox = tmp_path / "inbox"
        inbox.mkdir(exist_ok=True)
        (inbox / "rx.pdf").write_bytes((SAMPLES / "rx-de-text.pdf").read_bytes())
        deadline = time.monotonic() + 60
        while not client.get("/v1/documents").json()["items"] and time.monotonic() < deadline:
            time.sleep(0.3)
        assert client.get("/v1/documents").json()["items"], "the embedded sidecar's cron scans never got in"
    finally:
        serve.stop()
