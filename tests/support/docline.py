"""Fixtures that run the docline application for real: component files in a temporary folder, an in-process
``docline sidecar`` on free ports, the app (REST API, worker, inbox) on a free port — or ``docline serve`` as a
child process, for tests that kill it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from sidecar.server import SidecarSettings, free_port, run_sidecar

COMPONENTS = """\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: docline-state
spec:
  type: state.sqlite
  version: v1
  metadata:
    - name: connectionString
      value: "{root}/state.db"
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: docline-blobs
spec:
  type: bindings.localstorage
  version: v1
  metadata:
    - name: rootPath
      value: "{root}/blobs"
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: docline-outbox
spec:
  type: bindings.localstorage
  version: v1
  metadata:
    - name: rootPath
      value: "{root}/outbox"
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: docline-inbox
spec:
  type: bindings.localstorage
  version: v1
  metadata:
    - name: rootPath
      value: "{root}/inbox"
"""

CRON = """\
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: docline-inbox-scan
spec:
  type: bindings.cron
  version: v1
  metadata:
    - name: schedule
      value: "@every {every}"
"""

OPENAI = """\
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: llm
spec:
  type: conversation.openai
  version: v1
  metadata:
    - name: key
      value: test-key
    - name: model
      value: gpt-4o-mini
    - name: endpoint
      value: "{endpoint}"
"""


def state_component(type_: str, **metadata: str) -> str:
    """A ``docline-state`` component of another type (e.g. ``state.redis``) to use instead of SQLite."""
    items = "".join(f'    - name: {k}\n      value: "{v}"\n' for k, v in metadata.items())
    return (
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: docline-state\n"
        f"spec:\n  type: {type_}\n  version: v1\n  metadata:\n{items}"
    )


def write_components(
    root: Path,
    *,
    cron: str | None = None,
    openai_endpoint: str | None = None,
    openai_max_retries: int | None = None,
    openai_metadata: dict[str, str] | None = None,
    state: str | None = None,
    extra: str | None = None,
) -> Path:
    """A components folder whose files keep all data under ``root`` (``state`` replaces the SQLite store; ``extra``
    is more resources, e.g. a pub/sub component, in a file of its own); ``openai_metadata`` adds metadata to the
    ``llm`` component."""
    folder = root / "components"
    folder.mkdir(parents=True, exist_ok=True)
    text = COMPONENTS.format(root=root)
    if state is not None:
        text = state + "---\n" + text.split("---\n", 1)[1]
    if cron:
        text += CRON.format(every=cron)
    if openai_endpoint:
        text += OPENAI.format(endpoint=openai_endpoint)
        if openai_max_retries is not None:
            text += f'    - name: maxRetries\n      value: "{openai_max_retries}"\n'
        for name, value in (openai_metadata or {}).items():
            text += f'    - name: {name}\n      value: "{value}"\n'
    (folder / "docline.yaml").write_text(text)
    if extra:
        (folder / "extra.yaml").write_text(extra)
    return folder


@dataclass
class App:
    """A running docline app: its URL, its settings and container, and the folders the components point at."""

    url: str
    root: Path
    container: Any

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def outbox(self) -> Path:
        return self.root / "outbox"

    def scan(self) -> httpx.Response:
        """One inbox scan, called as the sidecar's cron binding calls it (with Dapr's app API token)."""
        token = self.container.settings.app_api_token
        assert token is not None, "run_app always gives the app and its sidecar a token"
        headers = {"dapr-api-token": token.get_secret_value()}
        return httpx.post(f"{self.url}/docline-inbox-scan", headers=headers, timeout=60.0)

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30.0)

    def wait(
        self, doc_id: str, statuses: tuple[str, ...] = ("completed", "failed", "rejected"), timeout: float = 90
    ) -> dict[str, Any]:
        return wait_for(self.client(self._token), doc_id, statuses, timeout)

    _token: str | None = None


def wait_for(
    client: httpx.Client,
    doc_id: str,
    statuses: tuple[str, ...] = ("completed", "failed", "rejected"),
    timeout: float = 90.0,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            resp = client.get(f"/v1/documents/{doc_id}")
        except httpx.HTTPError:
            time.sleep(0.3)
            continue
        if resp.status_code == 200:
            body = resp.json()
            if body["status"] in statuses:
                return body
        time.sleep(0.2)
    raise AssertionError(f"document {doc_id} did not reach {statuses} in {timeout}s; last seen: {body}")


@contextlib.contextmanager
def run_app(
    root: Path,
    *,
    cron: str | None = None,
    openai_endpoint: str | None = None,
    openai_max_retries: int | None = None,
    openai_metadata: dict[str, str] | None = None,
    state: str | None = None,
    extra: str | None = None,
    **settings: Any,
) -> Iterator[App]:
    """The app in this process: sidecar thread, workflow worker, uvicorn thread. Everything stops at exit."""
    import uvicorn

    from pipeline.api.app import create_app
    from pipeline.container import build
    from pipeline.settings import Settings

    components = write_components(
        root,
        cron=cron,
        openai_endpoint=openai_endpoint,
        openai_max_retries=openai_max_retries,
        openai_metadata=openai_metadata,
        state=state,
        extra=extra,
    )
    port = free_port()
    app_token = settings.pop("app_api_token", None) or secrets.token_hex(16)  # the sidecar's proof to the app
    sidecar_settings = SidecarSettings(
        grpc_port=0,
        http_port=0,
        resources_path=components,
        app_port=port,
        data_dir=root / "sidecar",
        app_api_token=app_token,
    )
    with run_sidecar(sidecar_settings) as running:
        app_settings = Settings(
            port=port,
            resources_path=components,
            data=root,
            dapr_grpc_endpoint=running.grpc_endpoint,
            dapr_http_endpoint=running.http_endpoint,
            app_api_token=app_token,
            **settings,
        )
        container = build(app_settings)
        server = uvicorn.Server(uvicorn.Config(create_app(container), host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 20
            while not server.started:
                if time.monotonic() > deadline or not thread.is_alive():
                    raise RuntimeError("the app did not start")
                time.sleep(0.05)
            token = app_settings.api_token.get_secret_value() if app_settings.api_token else None
            app = App(url=f"http://127.0.0.1:{port}", root=root, container=container)
            app._token = token
            yield app
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            container.close()


@pytest.fixture
def docline_app(tmp_path: Path) -> Iterator[App]:
    """docline with the offline extractor (no conversation component), everything under tmp_path."""
    with run_app(tmp_path) as app:
        yield app


class ServeProcess:
    """``docline serve`` as a child process (its own process group) that a test may SIGKILL and start again."""

    def __init__(
        self,
        root: Path,
        *,
        openai_endpoint: str | None = None,
        env: dict[str, str] | None = None,
        extra: str | None = None,
        max_file_bytes: int | None = None,
    ) -> None:
        self.root = root
        # RLIMIT_FSIZE for the process: no file it writes grows past this (a disk that refuses writes: EFBIG).
        self.max_file_bytes = max_file_bytes
        self.components = write_components(root, cron="1s", openai_endpoint=openai_endpoint, extra=extra)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("DAPR_", "DOCLINE_"))}
        self.env.update(env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = root / "serve.log"

    def start(self, timeout: float = 60.0) -> None:
        cmd = [
            str(Path(sys.executable).parent / "docline"),
            "serve",
            "--port",
            str(self.port),
            "--resources-path",
            str(self.components),
            "--data",
            str(self.root / "data"),
            "--log-level",
            "warning",
        ]
        if self.max_file_bytes is not None:  # util-linux's prlimit: no preexec_fn in a process with threads
            cmd = ["prlimit", f"--fsize={self.max_file_bytes}", "--", *cmd]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(cmd, env=self.env, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"docline serve exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"docline serve did not become ready: {self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30.0)
