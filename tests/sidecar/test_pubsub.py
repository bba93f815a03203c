"""Pub/sub through the Dapr Python SDK against ``docline sidecar``, as against daprd: ``publish_event``, streaming
``subscribe`` with success/retry/drop answers, programmatic subscriptions of a receiving app (the SDK's ``DaprApp``)
and declarative ``Subscription`` files, with retries (``Resiliency``) and dead-letter topics; ``pubsub.in-memory``
and ``pubsub.redis`` (a real redis-server)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
import redis
from dapr.clients import DaprClient
from dapr.clients.exceptions import DaprGrpcError
from dapr.clients.grpc._response import TopicEventResponse
from dapr.proto import api_service_v1, api_v1

from sidecar.runtime import cloudevents as ce
from sidecar.server import RunningSidecar, free_port
from tests.support.components import StartSidecar, write_components
from tests.support.services import RedisServer
from tests.support.subscriber import ReceivingApp

MEMORY = """\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: pubsub
spec:
  type: pubsub.in-memory
  version: v1
  metadata: []
"""

RETRY_TWICE = """\
---
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata:
  name: quick
spec:
  policies:
    retries:
      quick:
        policy: constant
        duration: 50ms
        maxRetries: 2
  targets:
    components:
      pubsub:
        inbound:
          retry: quick
"""


def redis_pubsub(server: RedisServer, **metadata: str) -> str:
    values = {"redisHost": server.address, **metadata}
    items = "".join(f'    - name: {k}\n      value: "{v}"\n' for k, v in values.items())
    return (
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: pubsub\n"
        f"spec:\n  type: pubsub.redis\n  version: v1\n  metadata:\n{items}"
    )


def subscription(topic: str, route: str, *, dead_letter: str = "", rules: str = "") -> str:
    dead = f"  deadLetterTopic: {dead_letter}\n" if dead_letter else ""
    return (
        "---\napiVersion: dapr.io/v2alpha1\nkind: Subscription\nmetadata:\n"
        f"  name: sub-{topic}\nspec:\n  pubsubname: pubsub\n  topic: {topic}\n"
        f"  routes:\n{rules}    default: {route}\n{dead}"
    )


class Stream:
    """A streaming subscription read on a thread, answering each message with the next scripted reply."""

    def __init__(self, client: DaprClient, topic: str, *answers: str, dead_letter: str | None = None) -> None:
        self.sub = client.subscribe("pubsub", topic, dead_letter_topic=dead_letter)
        self.answers = list(answers)
        self.messages: list[Any] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for message in self.sub:
                self.messages.append(message)
                answer = self.answers.pop(0) if self.answers else "success"
                self.sub.respond(message, TopicEventResponse(answer).status)
        except Exception:  # closed
            return

    def wait_for(self, n: int, timeout: float = 15.0) -> list[Any]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.messages) >= n, f"{len(self.messages)} of {n} messages"
        return self.messages

    def close(self) -> None:
        self.sub.close()


def test_publish_and_streaming_subscribe_carry_a_cloudevent(component_sidecar: StartSidecar) -> None:
    component_sidecar(MEMORY, app_id="publisher")
    with DaprClient() as client:
        stream = Stream(client, "orders")
        try:
            client.publish_event("pubsub", "orders", json.dumps({"n": 1}), data_content_type="application/json")
            client.publish_event("pubsub", "orders", "plain words")
            first, second = stream.wait_for(2)
        finally:
            stream.close()
    assert first.data() == {"n": 1}
    assert first.data_content_type() == "application/json"
    assert first.source() == "publisher"
    assert first.type() == "com.dapr.event.sent"
    assert first.spec_version() == "1.0"
    assert first.topic() == "orders"
    assert first.pubsub_name() == "pubsub"
    extensions = first.extensions()
    assert extensions["topic"] == "orders"
    assert extensions["pubsubname"] == "pubsub"
    assert extensions["traceparent"].startswith("00-")
    assert extensions["traceid"] == extensions["traceparent"]
    assert "time" in extensions
    assert second.data() == "plain words"
    assert second.data_content_type() == "text/plain"
    assert first.id() != second.id()


def test_a_published_cloudevent_keeps_its_id_and_overrides_apply(component_sidecar: StartSidecar) -> None:
    component_sidecar(MEMORY)
    own = {"specversion": "1.0", "id": "evt-1", "source": "me", "type": "x.happened", "data": {"a": 1}}
    with DaprClient() as client:
        stream = Stream(client, "t")
        try:
            client.publish_event("pubsub", "t", json.dumps(own), data_content_type=ce.CLOUDEVENT_CONTENT_TYPE)
            client.publish_event(
                "pubsub", "t", "x", publish_metadata={"cloudevent.id": "evt-2", "cloudevent.type": "y.happened"}
            )
            one, two = stream.wait_for(2)
        finally:
            stream.close()
    assert (one.id(), one.source(), one.type()) == ("evt-1", "me", "x.happened")
    assert (two.id(), two.type()) == ("evt-2", "y.happened")


def test_streaming_retry_is_redelivered_and_drop_goes_to_the_dead_letter_topic(
    component_sidecar: StartSidecar,
) -> None:
    component_sidecar(MEMORY + RETRY_TWICE)
    with DaprClient() as client:
        stream = Stream(client, "work", "retry", "success", "drop", dead_letter="work-dead")
        dead = Stream(client, "work-dead")
        try:
            client.publish_event("pubsub", "work", "first")
            first = stream.wait_for(2)
            assert [m.id() for m in first] == [first[0].id()] * 2  # the same event again after RETRY
            client.publish_event("pubsub", "work", "second")
            stream.wait_for(3)
            (dropped,) = dead.wait_for(1)
            assert dropped.data() == "second"
            assert dropped.topic() == "work-dead"
            time.sleep(0.3)
            assert len(stream.messages) == 3  # a dropped message is not retried
        finally:
            stream.close()
            dead.close()


def test_publish_errors_answer_as_daprd(component_sidecar: StartSidecar) -> None:
    memory_limited = MEMORY.replace("metadata: []", 'metadata:\n    - name: allowedTopics\n      value: "a,b"')
    component_sidecar(memory_limited)
    with DaprClient() as client:
        for pubsub, topic, code in (
            ("nope", "a", grpc.StatusCode.INVALID_ARGUMENT),
            ("pubsub", "", grpc.StatusCode.INVALID_ARGUMENT),
            ("pubsub", "c", grpc.StatusCode.PERMISSION_DENIED),
        ):
            with pytest.raises(DaprGrpcError) as info:
                client.publish_event(pubsub, topic, "x")
            assert info.value.code() == code, info.value
        client.publish_event("pubsub", "a", "allowed")


def test_programmatic_subscription_of_a_receiving_app(
    component_sidecar: StartSidecar, receiving_app: ReceivingApp
) -> None:
    route = receiving_app.subscribe("pubsub", "orders", dead_letter_topic="orders-dead")
    dead_route = receiving_app.subscribe("pubsub", "orders-dead")
    receiving_app.start()
    receiving_app.script(route, (200, {"status": "RETRY"}), 200, 404)
    running = component_sidecar(MEMORY + RETRY_TWICE, app_port=receiving_app.port, app_id="receiver")
    wait_subscribed(running, 2)
    with DaprClient() as client:
        client.publish_event("pubsub", "orders", json.dumps({"order": 7}), data_content_type="application/json")
        first, again = receiving_app.wait_for(2, route)
        assert first.event["id"] == again.event["id"]
        assert first.event["data"] == {"order": 7}
        assert first.headers["content-type"] == ce.CLOUDEVENT_CONTENT_TYPE
        assert first.headers["pubsubname"] == "pubsub"
        assert first.headers["traceparent"] == first.event["traceparent"]
        client.publish_event("pubsub", "orders", "gone")  # 404: dropped, so dead-lettered
        (dead,) = receiving_app.wait_for(1, dead_route)
        assert dead.event["data"] == "gone"
        assert dead.event["topic"] == "orders"
    meta = metadata(running)
    subs = {(s.pubsub_name, s.topic): s for s in meta.subscriptions}
    assert set(subs) == {("pubsub", "orders"), ("pubsub", "orders-dead")}
    assert subs[("pubsub", "orders")].dead_letter_topic == "orders-dead"
    assert [r.path for r in subs[("pubsub", "orders")].rules.rules] == [route]
    assert ("pubsub", "pubsub.in-memory") in {(c.name, c.type) for c in meta.registered_components}
    published = httpx.post(f"{running.http_endpoint}/v1.0/publish/pubsub/orders", content=b"over http")
    assert published.status_code == 204
    assert receiving_app.wait_for(4, route)[-1].event["data"] == "over http"
    missing = httpx.post(f"{running.http_endpoint}/v1.0/publish/nope/orders", content=b"x")
    assert missing.status_code == 404
    assert missing.json()["errorCode"] == "ERR_PUBSUB_NOT_FOUND"


def test_declarative_subscription_routes_by_rule_retries_then_dead_letters(
    component_sidecar: StartSidecar, receiving_app: ReceivingApp
) -> None:
    for path in ("/big", "/other", "/dead"):
        receiving_app.route(path)
    receiving_app.start()
    receiving_app.script("/other", 500, 500, 500)  # one try and two retries, all failing
    rules = "    rules:\n      - match: event.data.size > 10\n        path: /big\n"
    files = (
        MEMORY
        + RETRY_TWICE
        + subscription("parcels", "/other", dead_letter="parcels-dead", rules=rules)
        + subscription("parcels-dead", "/dead")
    )
    wait_subscribed(component_sidecar(files, app_port=receiving_app.port), 2)
    with DaprClient() as client:
        client.publish_event("pubsub", "parcels", json.dumps({"size": 11}), data_content_type="application/json")
        (big,) = receiving_app.wait_for(1, "/big")
        assert big.event["data"] == {"size": 11}
        client.publish_event("pubsub", "parcels", json.dumps({"size": 2}), data_content_type="application/json")
        (dead,) = receiving_app.wait_for(1, "/dead")
    assert dead.event["data"] == {"size": 2}
    assert len(receiving_app.received("/other")) == 3


def test_redis_streams_deliver_and_share_the_stream_format_of_daprd(
    component_sidecar: StartSidecar, receiving_app: ReceivingApp, redis_server: RedisServer
) -> None:
    route = receiving_app.subscribe("pubsub", "redis-orders")
    receiving_app.start()
    wait_subscribed(component_sidecar(redis_pubsub(redis_server), app_port=receiving_app.port, app_id="rx"), 1)
    with DaprClient() as client:
        client.publish_event("pubsub", "redis-orders", json.dumps({"n": 5}), data_content_type="application/json")
    (got,) = receiving_app.wait_for(1, route)
    assert got.event["data"] == {"n": 5}
    assert got.event["source"] == "rx"
    r = redis.Redis(host=redis_server.host, port=redis_server.port)
    ((_, fields),) = r.xrange("redis-orders")
    assert set(fields) == {b"data", b"metadata"}
    assert json.loads(fields[b"data"])["id"] == got.event["id"]
    deadline = time.monotonic() + 5
    while r.xpending("redis-orders", "rx")["pending"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert r.xpending("redis-orders", "rx")["pending"] == 0  # acknowledged once delivered


def metadata(running: RunningSidecar) -> Any:
    """The raw GetMetadata answer (the SDK's wrapper leaves the subscriptions out)."""
    with grpc.insecure_channel(running.grpc_endpoint) as channel:
        return api_service_v1.DaprStub(channel).GetMetadata(api_v1.GetMetadataRequest())


def wait_subscribed(running: RunningSidecar, n: int, timeout: float = 15.0) -> None:
    """The sidecar reads subscriptions once the app listens; wait until it reports ``n`` of them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(metadata(running).subscriptions) >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {n} subscriptions after {timeout} s")


class SidecarProcess:
    """``docline sidecar`` as a child process (its own process group), to be SIGKILLed and started again."""

    def __init__(self, resources: Path, data: Path, app_port: int, log: Path) -> None:
        self.grpc_port, self.http_port = free_port(), free_port()
        self.args = [
            str(Path(sys.executable).parent / "docline"),
            "sidecar",
            "--dapr-grpc-port",
            str(self.grpc_port),
            "--dapr-http-port",
            str(self.http_port),
            "--resources-path",
            str(resources),
            "--app-port",
            str(app_port),
            "--app-id",
            "rx",
            "--data",
            str(data),
        ]
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.args, stdout=out, stderr=out, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-2000:]
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{self.http_port}/v1.0/healthz", timeout=1).status_code == 204:
                    return
            time.sleep(0.1)
        raise AssertionError(f"docline sidecar did not start: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def test_no_event_is_lost_across_a_sigkill_of_the_sidecar(
    tmp_path: Path, receiving_app: ReceivingApp, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis streams keep what was published; what was being delivered when the sidecar died stays pending in the
    consumer group and is claimed again after ``processingTimeout`` by the restarted sidecar."""
    receiving_app.route("/orders")
    receiving_app.delay = 0.2  # deliveries take a while, so some are in flight at the kill
    receiving_app.start()
    component = redis_pubsub(
        redis_server, processingTimeout="1s", redeliverInterval="500ms", concurrency="3", consumerID="crash-rx"
    )
    resources = write_components(tmp_path / "resources", component + subscription("crash-orders", "/orders"))
    sidecar = SidecarProcess(resources, tmp_path / "data", receiving_app.port, tmp_path / "sidecar.log")
    monkeypatch.setenv("DAPR_GRPC_ENDPOINT", sidecar.endpoint)
    monkeypatch.setenv("DAPR_HTTP_ENDPOINT", f"http://127.0.0.1:{sidecar.http_port}")
    sidecar.start()
    try:
        with DaprClient() as client:
            for n in range(20):
                client.publish_event(
                    "pubsub", "crash-orders", json.dumps({"n": n}), data_content_type="application/json"
                )
        receiving_app.wait_for(3, "/orders")
        sidecar.kill()
        delivered_before = {d.event["data"]["n"] for d in receiving_app.received("/orders")}
        assert len(delivered_before) < 20
        sidecar.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if {d.event["data"]["n"] for d in receiving_app.received("/orders")} == set(range(20)):
                break
            time.sleep(0.1)
        assert {d.event["data"]["n"] for d in receiving_app.received("/orders")} == set(range(20))
        r = redis.Redis(host=redis_server.host, port=redis_server.port)
        deadline = time.monotonic() + 10
        while r.xpending("crash-orders", "crash-rx")["pending"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert r.xpending("crash-orders", "crash-rx")["pending"] == 0
    finally:
        sidecar.kill()
