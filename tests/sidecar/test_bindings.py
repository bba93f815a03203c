"""Bindings through the Dapr Python SDK against ``docline sidecar``: localstorage round trips, cron reaching an app."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
import pytest
from dapr.clients import DaprClient

from sidecar.components.bindings.cron import Schedule
from sidecar.components.errors import ComponentConfigError
from tests.support.components import StartSidecar
from tests.support.subscriber import ReceivingApp


def _localstorage(name: str, root: Path) -> str:
    return (
        f"apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\nspec:\n"
        f"  type: bindings.localstorage\n  version: v1\n  metadata:\n    - name: rootPath\n      value: {root}\n"
    )


@pytest.fixture
def inbox(tmp_path: Path, component_sidecar: StartSidecar) -> Path:
    root = tmp_path / "inbox"
    component_sidecar(_localstorage("docline-inbox", root))
    return root


def test_localstorage_create_get_list_delete(inbox: Path) -> None:
    pdf = b"%PDF-1.7\n\x00\xff binary \x89 content"
    with DaprClient() as d:
        created = d.invoke_binding(
            "docline-inbox", "create", base64.b64encode(pdf), binding_metadata={"fileName": "2026/scan.pdf"}
        )
        assert json.loads(created.data) == {"fileName": "2026/scan.pdf"}
        assert (inbox / "2026" / "scan.pdf").read_bytes() == pdf
        got = d.invoke_binding("docline-inbox", "get", binding_metadata={"fileName": "2026/scan.pdf"})
        assert got.data == pdf
        # Not base64 (it has a space), so written as it is.
        d.invoke_binding("docline-inbox", "create", "Hello World", binding_metadata={"fileName": "note.txt"})
        assert (inbox / "note.txt").read_text() == "Hello World"
        listed = json.loads(d.invoke_binding("docline-inbox", "list").data)
        assert listed == sorted([str(inbox / "2026" / "scan.pdf"), str(inbox / "note.txt")])
        assert json.loads(d.invoke_binding("docline-inbox", "list", binding_metadata={"fileName": "2026"}).data) == [
            str(inbox / "2026" / "scan.pdf")
        ]
        d.invoke_binding("docline-inbox", "delete", binding_metadata={"fileName": "2026/scan.pdf"})
        d.invoke_binding("docline-inbox", "delete", binding_metadata={"fileName": "note.txt"})
        assert json.loads(d.invoke_binding("docline-inbox", "list").data) is None


def test_localstorage_create_without_name_uses_uuid(inbox: Path) -> None:
    with DaprClient() as d:
        created = json.loads(d.invoke_binding("docline-inbox", "create", '"quoted text"').data)
    assert len(created["fileName"]) == 36
    assert (inbox / created["fileName"]).read_text() == "quoted text"


def test_localstorage_errors(inbox: Path) -> None:
    # The SDK's invoke_binding lets grpc.RpcError through (it wraps state errors only).
    with DaprClient() as d:
        with pytest.raises(grpc.RpcError) as missing:
            d.invoke_binding("docline-inbox", "get", binding_metadata={"fileName": "nope.pdf"})
        assert missing.value.code() == grpc.StatusCode.INTERNAL
        assert "file not found" in (missing.value.details() or "")
        with pytest.raises(grpc.RpcError) as bad_op:
            d.invoke_binding("docline-inbox", "rename", binding_metadata={"fileName": "x"})
        assert "unsupported operation" in (bad_op.value.details() or "")
        with pytest.raises(grpc.RpcError):
            d.invoke_binding("no-such-binding", "list")


def test_localstorage_paths_stay_under_root(inbox: Path, tmp_path: Path) -> None:
    with DaprClient() as d:
        created = d.invoke_binding("docline-inbox", "create", "x y", binding_metadata={"fileName": "../../escape.txt"})
        # Like daprd's securejoin, ".." is clamped at the root.
        assert json.loads(created.data) == {"fileName": "escape.txt"}
        assert (inbox / "escape.txt").exists()
        assert not (tmp_path / "escape.txt").exists()
        (inbox / "link").symlink_to(tmp_path)
        with pytest.raises(grpc.RpcError) as outside:
            d.invoke_binding("docline-inbox", "get", binding_metadata={"fileName": "link/secret"})
        assert "outside rootPath" in (outside.value.details() or "")


class _App:
    """A tiny HTTP app that records the binding calls it receives."""

    def __init__(self, route: str) -> None:
        self.route = route
        self.posts: list[dict[str, str]] = []
        self.options = 0
        self.option_headers: list[dict[str, str]] = []
        app = self

        class Handler(BaseHTTPRequestHandler):
            def do_OPTIONS(self) -> None:
                app.options += 1
                app.option_headers.append({k.lower(): v for k, v in self.headers.items()})
                self.send_response(200 if self.path == f"/{app.route}" else 404)
                self.end_headers()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                if self.path == f"/{app.route}":
                    app.posts.append(dict(self.headers))
                    self.send_response(200)
                else:
                    self.send_response(404)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def app() -> Iterator[_App]:
    a = _App("docline-inbox-scan")
    try:
        yield a
    finally:
        a.close()


def _cron(name: str, schedule: str) -> str:
    return (
        f"apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\nspec:\n  type: bindings.cron\n"
        f'  version: v1\n  metadata:\n    - name: schedule\n      value: "{schedule}"\n'
    )


def _wait_for(predicate: object, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_cron_binding_calls_the_app(app: _App, component_sidecar: StartSidecar) -> None:
    component_sidecar(_cron("docline-inbox-scan", "@every 300ms"), app_port=app.port)
    assert _wait_for(lambda: len(app.posts) >= 3)
    assert app.options >= 1
    assert "readTimeUTC" in app.posts[0]


def test_cron_binding_sends_the_app_api_token(app: _App, component_sidecar: StartSidecar) -> None:
    # daprd sends APP_API_TOKEN as dapr-api-token on every call to the app; so must we, or the app refuses it.
    component_sidecar(_cron("docline-inbox-scan", "@every 200ms"), app_port=app.port, app_token="t0ken")
    assert _wait_for(lambda: len(app.posts) >= 1)
    assert {k.lower(): v for k, v in app.posts[0].items()}["dapr-api-token"] == "t0ken"
    assert app.option_headers[0].get("dapr-api-token") == "t0ken"


def test_cron_binding_not_delivered_when_app_has_no_route(app: _App, component_sidecar: StartSidecar) -> None:
    component_sidecar(_cron("other-binding", "@every 200ms"), app_port=app.port)
    assert _wait_for(lambda: app.options >= 1)
    time.sleep(0.5)
    assert app.posts == []


@pytest.mark.parametrize(
    ("text", "interval"),
    [("@every 2s", 2.0), ("@every 1m30s", 90.0), ("@every 500ms", 0.5)],
)
def test_schedule_intervals(text: str, interval: float) -> None:
    assert Schedule(text).next_delay(0.0) == interval


def test_schedule_cron_expressions() -> None:
    # 6 fields, seconds first (daprd's parser): every 10 seconds.
    every10 = Schedule("*/10 * * * * *")
    assert every10.next_delay(1_700_000_003.0) == pytest.approx(7.0)
    # 5 fields: every minute at second 0; descriptors too.
    assert Schedule("* * * * *").next_delay(1_700_000_000.0) == pytest.approx(40.0)
    assert Schedule("@hourly").next_delay(1_699_999_200.0) == pytest.approx(3600.0)
    for bad in ("@every", "@every soon", "61 * * * * *", "not a schedule"):
        with pytest.raises(ComponentConfigError):
            Schedule(bad)


def test_http_binding_sends_requests_as_daprs_http_binding(
    component_sidecar: StartSidecar, receiving_app: ReceivingApp
) -> None:
    receiving_app.route("/hooks/docline")
    receiving_app.start()
    receiving_app.script("/hooks/docline", (202, {"ok": True}), 500)
    component_sidecar(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: webhook\nspec:\n  type: bindings.http\n"
        f"  version: v1\n  metadata:\n    - name: url\n      value: {receiving_app.url}/hooks\n"
    )
    with DaprClient() as d:
        answer = d.invoke_binding(
            "webhook",
            "post",
            json.dumps({"a": 1}),
            binding_metadata={"path": "docline", "X-Signature": "sha256=abc", "lowercase": "not a header"},
        )
        assert json.loads(answer.data) == {"ok": True}
        assert answer.binding_metadata["statusCode"] == "202"
        (sent,) = receiving_app.received("/hooks/docline")
        assert sent.event == {"a": 1}
        assert sent.headers["x-signature"] == "sha256=abc"
        assert sent.headers["content-type"] == "application/json; charset=utf-8"
        assert "lowercase" not in sent.headers
        with pytest.raises(grpc.RpcError, match="received status code 500"):
            d.invoke_binding("webhook", "post", "{}", binding_metadata={"path": "docline"})
        lenient = d.invoke_binding(
            "webhook", "post", "{}", binding_metadata={"path": "docline", "errorIfNot2XX": "false"}
        )
        assert lenient.binding_metadata["statusCode"] == "200"


def test_requests_over_daprds_default_body_limit_are_refused(inbox: Path, tmp_path: Path) -> None:
    """daprd takes requests up to 4 MiB unless --max-body-size says more; so does the docline sidecar, so what
    works here works against a daprd with default settings."""
    from sidecar.server import run_sidecar
    from tests.support.components import write_components
    from tests.support.sidecar import sidecar_settings

    over = b"%PDF" + b"\x00" * (4 * 1024 * 1024)
    under = b"%PDF" + b"\x00" * (3 * 1024 * 1024 - 64 * 1024)  # base64: just under 4 MiB
    with DaprClient(max_grpc_message_length=64 * 1024 * 1024) as d:
        with pytest.raises(grpc.RpcError) as refused:
            d.invoke_binding("docline-inbox", "create", over, binding_metadata={"fileName": "over.bin"})
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        d.invoke_binding("docline-inbox", "create", base64.b64encode(under), binding_metadata={"fileName": "ok.bin"})
        assert (inbox / "ok.bin").read_bytes() == under
    # Raised as daprd's flag is (`docline sidecar --max-body-size 8Mi`), it takes more.
    resources = write_components(tmp_path / "res-raised", _localstorage("docline-inbox", inbox))
    raised = sidecar_settings(tmp_path / "raised", resources_path=resources, max_body_size="8Mi")
    assert raised.max_body_size == 8 * 1024 * 1024
    with (
        run_sidecar(raised) as running,
        DaprClient(address=running.grpc_endpoint, max_grpc_message_length=64 * 1024 * 1024) as d,
    ):
        d.invoke_binding("docline-inbox", "create", over, binding_metadata={"fileName": "over.bin"})
    assert (inbox / "over.bin").stat().st_size == len(over)
