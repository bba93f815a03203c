"""Document events: each status change as a CloudEvent through a Dapr pub/sub component and a signed webhook
(``bindings.http``), received by a real app on loopback; and no event lost when ``docline serve`` is SIGKILLed."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from dapr.clients import DaprClient
from dapr.clients.grpc._response import TopicEventResponse
from dapr.common.pubsub.subscription import StreamCancelledError, StreamInactiveError

from pipeline.events import SIGNATURE_HEADER, cloud_event, signature
from pipeline.models import Source, StoredDocument
from pipeline.settings import Settings
from sidecar.server import SidecarSettings, run_sidecar
from tests.support.docline import ServeProcess, run_app, wait_for
from tests.support.services import RedisServer
from tests.support.subscriber import ReceivingApp

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "documents" / "rx-de-text.pdf"
SECRET = "s3cret-for-tests"

MEMORY_PUBSUB = """\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: docline-events
spec:
  type: pubsub.in-memory
  version: v1
  metadata: []
"""


def webhook(url: str) -> str:
    return f"""\
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: docline-webhook
spec:
  type: bindings.http
  version: v1
  metadata:
    - name: url
      value: {url}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: docline-secrets
spec:
  type: secretstores.local.env
  version: v1
  metadata:
    - name: prefix
      value: DOCLINE_TEST_
"""


def redis_pubsub(server: RedisServer, consumer: str) -> str:
    return f"""\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: docline-events
spec:
  type: pubsub.redis
  version: v1
  metadata:
    - name: redisHost
      value: "{server.address}"
    - name: consumerID
      value: "{consumer}"
    - name: processingTimeout
      value: "1s"
    - name: redeliverInterval
      value: "500ms"
"""


def _doc(**changes: Any) -> StoredDocument:
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "id": "0123456789abcdef01234567",
        "status": "completed",
        "document_type": "prescription",
        "data": {"patient": {"name": "Lukas Weiß"}},
        "source": Source(filename="weiss-lukas.pdf", sha256="0" * 64, pages=1, media_type="application/pdf"),
        "created_at": now,
        "updated_at": now,
        "workflow_id": "docline-x",
        "original_key": "sha256-0",
    }
    return StoredDocument.model_validate(values | changes)


def test_an_event_names_the_document_and_its_result_but_no_personal_data_unless_asked() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    settings = Settings(public_url="https://docs.example/")
    event = cloud_event(_doc(), status="completed", event_id="e1", occurred_at=when, settings=settings)
    assert event["id"] == "e1"
    assert event["type"] == "io.docline.document.completed"
    assert event["subject"] == "0123456789abcdef01234567"
    assert event["time"] == "2026-01-02T03:04:05Z"
    assert event["data"]["result_url"] == "https://docs.example/v1/documents/0123456789abcdef01234567"
    assert "Weiß" not in json.dumps(event, ensure_ascii=False)
    assert "weiss" not in json.dumps(event)  # the file name may name a person: left out
    with_data = cloud_event(
        _doc(),
        status="completed",
        event_id="e1",
        occurred_at=when,
        settings=settings.model_copy(update={"events_include_data": True}),
    )
    assert with_data["data"]["data"] == {"patient": {"name": "Lukas Weiß"}}


def test_a_webhook_needs_a_secret_store() -> None:
    with pytest.raises(ValueError, match="SECRET_STORE"):
        Settings(events_binding="docline-webhook")


def test_status_changes_are_published_and_posted_signed(
    tmp_path: Path, receiving_app: ReceivingApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCLINE_TEST_docline-webhook-secret", SECRET)
    receiving_app.route("/hooks")
    receiving_app.start()
    extra = MEMORY_PUBSUB + webhook(f"{receiving_app.url}/hooks")
    with run_app(
        tmp_path,
        extra=extra,
        events_pubsub="docline-events",
        events_binding="docline-webhook",
        events_secret_store="docline-secrets",
    ) as app:
        published: list[Any] = []
        with DaprClient(address=app.container.settings.dapr_grpc_endpoint) as client:
            sub = client.subscribe("docline-events", "docline-documents")

            def read() -> None:
                with contextlib.suppress(StreamCancelledError, StreamInactiveError):
                    for message in sub:
                        published.append(message)
                        sub.respond(message, TopicEventResponse("success").status)

            threading.Thread(target=read, daemon=True).start()
            with app.client() as http:
                doc_id = http.post("/v1/documents", files={"file": ("rx.pdf", SAMPLE.read_bytes())}).json()["id"]
            done = app.wait(doc_id)
            (hook,) = receiving_app.wait_for(1, "/hooks")
            deadline = time.monotonic() + 10
            while not published and time.monotonic() < deadline:
                time.sleep(0.05)
            sub.close()
    status = done["status"]
    assert hook.event["type"] == f"io.docline.document.{status}"
    assert hook.event["data"]["document_id"] == doc_id
    assert hook.event["data"]["result_url"].endswith(f"/v1/documents/{doc_id}")
    assert hook.headers["content-type"] == "application/cloudevents+json"
    assert hook.headers[SIGNATURE_HEADER.lower()] == signature(SECRET.encode(), hook.body)
    (message,) = published
    assert message.id() == hook.event["id"]  # one event, one id, both ways
    assert message.type() == hook.event["type"]
    assert message.data()["status"] == status


def test_no_event_is_lost_when_docline_serve_is_killed(
    tmp_path: Path, receiving_app: ReceivingApp, redis_server: RedisServer
) -> None:
    """docline publishes to Redis through its embedded sidecar; a receiving app with its own sidecar subscribes
    declaratively. docline is SIGKILLed while documents run and started again: every document's final event
    arrives (perhaps twice, with the same id)."""
    receiving_app.route("/docline-events")
    receiving_app.start()
    subscription = (
        "---\napiVersion: dapr.io/v2alpha1\nkind: Subscription\nmetadata:\n  name: docline-events\n"
        "spec:\n  pubsubname: docline-events\n  topic: docline-documents\n  routes:\n    default: /docline-events\n"
    )
    receiver_resources = tmp_path / "receiver"
    receiver_resources.mkdir()
    (receiver_resources / "pubsub.yaml").write_text(redis_pubsub(redis_server, "receiver") + subscription)
    receiver = SidecarSettings(
        grpc_port=0,
        http_port=0,
        resources_path=receiver_resources,
        app_port=receiving_app.port,
        app_id="receiver",
        data_dir=tmp_path / "receiver-data",
    )
    serve = ServeProcess(
        tmp_path / "docline",
        extra=redis_pubsub(redis_server, "docline"),
        env={"DOCLINE_EVENTS_PUBSUB": "docline-events"},
    )
    with run_sidecar(receiver):
        serve.start()
        try:
            ids = []
            with serve.client() as http:
                for _ in range(3):
                    files = {"file": ("rx.pdf", SAMPLE.read_bytes())}
                    ids.append(http.post("/v1/documents?force=true", files=files).json()["id"])
            serve.kill()  # right after the submissions: the documents are still running
            serve.start()
            with serve.client() as http:
                finals = {doc_id: wait_for(http, doc_id, timeout=120)["status"] for doc_id in ids}
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                got = {d.event["data"]["document_id"]: d.event for d in receiving_app.received("/docline-events")}
                if set(got) >= set(ids) and all(got[i]["data"]["status"] == finals[i] for i in ids):
                    break
                time.sleep(0.2)
            received = receiving_app.received("/docline-events")
            by_id: dict[str, set[str]] = {}
            for delivery in received:
                by_id.setdefault(delivery.event["id"], set()).add(delivery.event["data"]["document_id"])
            assert all(len(docs) == 1 for docs in by_id.values())  # an id never names two documents
            final_events = {
                d.event["data"]["document_id"]
                for d in received
                if d.event["data"]["status"] in ("completed", "rejected")
            }
            assert final_events == set(ids), (finals, [d.event["data"] for d in received])
        finally:
            serve.stop()
