"""Dapr's pub/sub building block on the loaded pub/sub components: publishing, subscriptions and delivery.

Publishing (``PublishEvent``, ``BulkPublishEvent``, ``POST /v1.0/publish/<pubsub>/<topic>``) checks the component
and the topic scopes, wraps the data in a CloudEvent (``sidecar/runtime/cloudevents.py``) and hands it to the
broker. Subscriptions come from three places, as in daprd: declarative ``Subscription`` files in the resources path
(``dapr.io/v1alpha1`` with ``route``, ``dapr.io/v2alpha1`` with ``routes``; ``scopes`` name the app ids), the app's
``GET /dapr/subscribe`` once the app listens (programmatic; they replace a declarative one of the same topic), and
``SubscribeTopicEventsAlpha1`` streams. Each message is delivered as daprd delivers it:

- over HTTP, ``POST`` to the matching route with the CloudEvent as ``application/cloudevents+json``: a 2xx answer
  is success unless its JSON body says ``{"status": "RETRY"}`` or ``"DROP"`` (an unknown status is a retry), 404
  drops the message, anything else (or no answer) is a retry;
- on a stream, as a ``TopicEventRequest``, answered with SUCCESS, RETRY or DROP.

Retries and per-attempt timeouts follow the component's inbound ``Resiliency`` policy (none: one attempt). A message
dropped, expired, matching no route, or still failing when the retries are spent goes to the subscription's
``deadLetterTopic`` when it has one (then it counts as handled); otherwise a failure goes back to the broker, whose
own rules apply (``pubsub.redis`` acknowledges it, a delivery cut short by a crash is redelivered). Routing rules'
``match`` expressions are CEL over ``event``, as in daprd.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any, Literal

import aiohttp
import grpc
from dapr.proto import api_v1, appcallback_v1
from google.protobuf import struct_pb2

from dapr_components.spec import resource_documents
from sidecar.components import LoadedComponents
from sidecar.components.bindings import APP_TOKEN_HEADER, app_headers
from sidecar.components.errors import ComponentFileError
from sidecar.components.pubsub import DeliveryAborted, Message, PubSub, TopicSubscription
from sidecar.runtime import cloudevents as ce
from sidecar.runtime.resiliency import Resiliency

log = logging.getLogger(__name__)

Outcome = Literal["success", "retry", "drop"]
Kind = Literal["declarative", "programmatic", "streaming"]
_HEADER_SAFE = re.compile(r"^[\x20-\x7e]*$")
_APP_WAIT_SECONDS = 0.5


class PubSubAPIError(Exception):
    """A publish or subscribe request daprd would refuse, with the gRPC code, HTTP status and error code it uses."""

    def __init__(self, grpc_code: grpc.StatusCode, http_status: int, error_code: str, message: str) -> None:
        super().__init__(message)
        self.grpc_code = grpc_code
        self.http_status = http_status
        self.error_code = error_code
        self.message = message


class DeliveryFailed(Exception):
    """A message could not be delivered (retries spent, no dead-letter topic)."""


@dataclass(frozen=True)
class Rule:
    path: str
    match: str = ""
    program: Any = None  # the compiled CEL expression, when ``match`` is not empty

    def matches(self, event: dict[str, Any]) -> bool:
        if self.program is None:
            return True
        import cel

        context = cel.Context()
        context.add_variable("event", event)
        result = self.program.execute(context)
        if not isinstance(result, bool):
            raise ValueError(f"the result of match expression {self.match} was not a boolean")
        return result


def make_rule(path: str, match: str = "") -> Rule:
    if not match.strip():
        return Rule(path=path)
    import cel  # imported only when a subscription has a routing rule

    try:
        program = cel.compile(match)
    except Exception as exc:
        raise ComponentFileError(f"routing rule {match!r} is not a valid CEL expression: {exc}") from exc
    return Rule(path=path, match=match, program=program)


@dataclass
class Subscription:
    pubsub: str
    topic: str
    rules: list[Rule]
    kind: Kind
    metadata: dict[str, str] = field(default_factory=dict)
    dead_letter_topic: str = ""
    name: str = ""

    @property
    def raw_payload(self) -> bool:
        return ce.truthy(self.metadata.get("rawPayload"))


def subscription_from_json(item: Any, kind: Kind, name: str = "") -> Subscription:
    """One entry of ``/dapr/subscribe`` (or a declarative ``spec``): ``routes.rules``, then ``routes.default``,
    else ``route``; a subscription without any route is rejected, as daprd filters it out."""
    if not isinstance(item, dict):
        raise ValueError("a subscription must be a JSON object")
    routes = item.get("routes") or {}
    rules = [make_rule(str(r.get("path", "")), str(r.get("match") or "")) for r in routes.get("rules") or []]
    if routes.get("default"):
        rules.append(Rule(path=str(routes["default"])))
    elif item.get("route"):
        rules.append(Rule(path=str(item["route"])))
    pubsub = str(item.get("pubsubname") or item.get("pubsubName") or "")
    topic = str(item.get("topic") or "")
    if not pubsub or not topic:
        raise ValueError("a subscription needs pubsubname and topic")
    if not rules:
        raise ValueError(f"topic {topic} has an empty routes")
    metadata = {str(k): str(v) for k, v in (item.get("metadata") or {}).items()}
    return Subscription(pubsub, topic, rules, kind, metadata, str(item.get("deadLetterTopic") or ""), name)


def load_declarative(resources_path: Path | None, app_id: str) -> list[Subscription]:
    """The ``kind: Subscription`` documents under the resources path that apply to this app id."""
    found: list[Subscription] = []
    if resources_path is None:
        return found
    for file, index, doc in resource_documents(resources_path, "Subscription"):
        scopes = doc.get("scopes") or []
        if scopes and app_id not in scopes:
            continue
        name = str((doc.get("metadata") or {}).get("name") or f"{file.name}-{index}")
        try:
            found.append(subscription_from_json(doc.get("spec") or {}, "declarative", name))
        except ValueError as exc:
            raise ComponentFileError(f"{file} document {index}: not a valid Dapr Subscription: {exc}") from exc
    return found


def _topics(value: str | None) -> list[str]:
    return [t for t in (value or "").replace(" ", "").split(",") if t]


def _scoped_topics(value: str | None, app_id: str) -> list[str]:
    """``publishingScopes``/``subscriptionScopes``: ``app1=t1,t2;app2=t3``, this app's topics."""
    topics: list[str] = []
    for part in (value or "").replace(" ", "").split(";"):
        app, _, names = part.partition("=")
        if app == app_id and names:
            topics += [t for t in names.split(",") if t and t not in topics]
    return topics


@dataclass
class _Broker:
    name: str
    component: PubSub
    allowed: list[str]
    protected: list[str]
    publishing: list[str]
    subscribing: list[str]

    def allows(self, topic: str, scoped: list[str]) -> bool:
        """daprd's ``IsOperationAllowed``."""
        if self.allowed and topic not in self.allowed:
            return False
        if topic not in self.protected and not scoped:
            return True
        return topic in scoped


class StreamConnection:
    """One ``SubscribeTopicEventsAlpha1`` stream: events go out through ``outgoing``, answers come back by id."""

    def __init__(self, subscription: Subscription, number: int) -> None:
        self.subscription = subscription
        self.number = number
        self.outgoing: asyncio.Queue[Any] = asyncio.Queue()
        self.waiting: dict[str, asyncio.Future[int]] = {}
        self.closed = False
        self.handle: TopicSubscription | None = None

    async def send(self, request: Any) -> int:
        if self.closed:
            raise DeliveryAborted("the subscription stream is closed")
        if request.id in self.waiting:
            raise RuntimeError(f"no client stream expecting publish response for id {request.id}")
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.waiting[request.id] = future
        try:
            self.outgoing.put_nowait(api_v1.SubscribeTopicEventsResponseAlpha1(event_message=request))
            return await future
        finally:
            self.waiting.pop(request.id, None)

    def answer(self, processed: Any) -> None:
        future = self.waiting.get(processed.id)
        if future is not None and not future.done():
            future.set_result(processed.status.status)

    def close(self) -> None:
        self.closed = True
        for future in self.waiting.values():
            if not future.done():
                future.set_exception(DeliveryAborted("the subscription stream closed"))
        self.outgoing.put_nowait(None)


Postman = Callable[[Subscription, dict[str, Any], bytes, str, Message], Awaitable[Outcome]]


class PubSubRuntime:
    """Publishing and every subscription of the sidecar's pub/sub components."""

    def __init__(
        self,
        components: LoadedComponents,
        *,
        resiliency: Resiliency,
        declarative: list[Subscription],
        app_host: str = "127.0.0.1",
        app_port: int | None = None,
        app_token: str | None = None,
    ) -> None:
        self.app_id = components.app_id
        self.app_headers = app_headers(app_token)  # daprd's APP_API_TOKEN, on every call to the app
        self.brokers = {
            name: _Broker(
                name,
                broker,
                allowed=_topics(_meta(components.pubsub_metadata[name], "allowedTopics")),
                protected=_topics(_meta(components.pubsub_metadata[name], "protectedTopics")),
                publishing=_scoped_topics(_meta(components.pubsub_metadata[name], "publishingScopes"), self.app_id),
                subscribing=_scoped_topics(_meta(components.pubsub_metadata[name], "subscriptionScopes"), self.app_id),
            )
            for name, broker in components.pubsub.items()
        }
        self.resiliency = resiliency
        self.declarative = declarative
        self.app_host = app_host
        self.app_port = app_port
        self.active: list[tuple[Subscription, TopicSubscription]] = []
        self.streams: dict[int, StreamConnection] = {}
        self._numbers = count(1)
        self._session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # -- publishing ------------------------------------------------------------------------------------------
    def _broker(self, pubsub: str) -> _Broker:
        if not self.brokers:
            raise PubSubAPIError(
                grpc.StatusCode.FAILED_PRECONDITION,
                400,
                "ERR_PUBSUB_NOT_CONFIGURED",
                f"pubsub {pubsub} is not configured",
            )
        if not pubsub:
            raise PubSubAPIError(grpc.StatusCode.INVALID_ARGUMENT, 404, "ERR_PUBSUB_EMPTY", "pubsub name is empty")
        broker = self.brokers.get(pubsub)
        if broker is None:
            raise PubSubAPIError(
                grpc.StatusCode.INVALID_ARGUMENT, 404, "ERR_PUBSUB_NOT_FOUND", f"pubsub {pubsub} is not found"
            )
        return broker

    async def publish(
        self,
        pubsub: str,
        topic: str,
        data: bytes,
        *,
        content_type: str = "",
        metadata: dict[str, str] | None = None,
        traceparent: str = "",
        tracestate: str = "",
    ) -> None:
        metadata = dict(metadata or {})
        broker = self._broker(pubsub)
        if not topic:
            raise PubSubAPIError(
                grpc.StatusCode.INVALID_ARGUMENT, 404, "ERR_TOPIC_NAME_EMPTY", f"topic is empty in pubsub {pubsub}"
            )
        if not broker.allows(topic, broker.publishing):
            raise PubSubAPIError(
                grpc.StatusCode.PERMISSION_DENIED,
                403,
                "ERR_PUBSUB_FORBIDDEN",
                f"topic {topic} is not allowed for app id {self.app_id}",
            )
        trace = traceparent or ce.new_traceparent()
        body = data
        if not ce.truthy(metadata.get("rawPayload")):
            try:
                event = ce.envelope(
                    data=data,
                    content_type=content_type,
                    topic=topic,
                    pubsub=pubsub,
                    source=self.app_id,
                    metadata=metadata,
                    traceparent=trace,
                    tracestate=tracestate,
                )
                ce.apply_ttl(event, metadata, broker.component.features)
            except ValueError as exc:
                raise PubSubAPIError(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    400,
                    "ERR_PUBSUB_CLOUD_EVENTS_SER",
                    f"cannot create cloudevent for app {self.app_id}: {exc}",
                ) from exc
            body = json.dumps(event, separators=(",", ":")).encode()
        else:
            metadata |= {"traceid": trace, "tracestate": tracestate}
        try:
            await broker.component.publish(topic, body, metadata)
        except Exception as exc:
            raise PubSubAPIError(
                grpc.StatusCode.INTERNAL,
                500,
                "ERR_PUBSUB_PUBLISH_MESSAGE",
                f"error when publishing to topic {topic} in pubsub {pubsub}: {exc}",
            ) from exc

    # -- subscriptions ---------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the app's subscriptions once the app listens (declarative ones included, as daprd does)."""
        if not self.brokers:
            return
        if self.app_port is None:
            if self.declarative:
                log.warning("pub/sub: no app port, so declarative subscriptions have nobody to deliver to")
            return
        self._tasks.append(asyncio.create_task(self._start_app_subscriptions(), name="pubsub-app-subscriptions"))

    async def _start_app_subscriptions(self) -> None:
        await self._wait_for_app()
        programmatic = await self._programmatic()
        chosen: dict[tuple[str, str], Subscription] = {}
        for sub in [*self.declarative, *programmatic]:  # a programmatic subscription replaces a declarative one
            chosen[(sub.pubsub, sub.topic)] = sub
        for sub in chosen.values():
            await self._start_subscription(sub)

    async def _wait_for_app(self) -> None:
        """daprd waits for the app's port before it reads subscriptions; so does this."""
        logged = False
        while True:
            try:
                _, writer = await asyncio.open_connection(self.app_host, self.app_port)
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
                return
            except OSError:
                if not logged:
                    log.info("pub/sub: waiting for the app to listen on port %s", self.app_port)
                    logged = True
                await asyncio.sleep(_APP_WAIT_SECONDS)

    async def _programmatic(self) -> list[Subscription]:
        url = f"http://{self.app_host}:{self.app_port}/dapr/subscribe"
        try:
            async with self._http().get(url, headers={"dapr-app-id": self.app_id, **self.app_headers}) as resp:
                if resp.status == 404:
                    log.debug("user app did not subscribe to any topic")
                    return []
                if resp.status != 200:
                    log.error("app returned http status code %d from subscription endpoint", resp.status)
                    return []
                items = json.loads(await resp.read() or b"[]")
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.error("error getting topic list from app: %s", exc)
            return []
        subscriptions: list[Subscription] = []
        for item in items or []:
            try:
                subscriptions.append(subscription_from_json(item, "programmatic"))
            except (ValueError, ComponentFileError) as exc:
                log.warning("app subscription %s skipped: %s", item, exc)
        return subscriptions

    async def _start_subscription(self, sub: Subscription) -> None:
        broker = self.brokers.get(sub.pubsub)
        if broker is None:
            log.error("subscription to %s on pubsub %s: pubsub not found", sub.topic, sub.pubsub)
            return
        if not broker.allows(sub.topic, broker.subscribing):
            log.error("subscription to topic '%s' on pubsub '%s' is not allowed", sub.topic, sub.pubsub)
            return
        delay = 0.5
        while True:  # as daprd: a subscription that cannot start is retried with back-off
            try:
                handle = await broker.component.subscribe(sub.topic, self._handler(sub, self._deliver_http))
                break
            except Exception as exc:
                log.error("failed to subscribe to %s on pubsub %s: %s; will retry", sub.topic, sub.pubsub, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        self.active.append((sub, handle))
        log.info("app is subscribed to topic %s through pubsub %s (%s)", sub.topic, sub.pubsub, sub.kind)

    async def open_stream(
        self, pubsub: str, topic: str, metadata: dict[str, str], dead_letter_topic: str
    ) -> StreamConnection:
        broker = self.brokers.get(pubsub)
        if broker is None:
            raise PubSubAPIError(grpc.StatusCode.UNKNOWN, 404, "ERR_PUBSUB_NOT_FOUND", f"pubsub {pubsub} not found")
        if not broker.allows(topic, broker.subscribing):
            raise PubSubAPIError(
                grpc.StatusCode.UNKNOWN,
                403,
                "ERR_PUBSUB_FORBIDDEN",
                f"subscription to topic '{topic}' on pubsub '{pubsub}' is not allowed",
            )
        sub = Subscription(pubsub, topic, [Rule(path="/")], "streaming", dict(metadata), dead_letter_topic)
        conn = StreamConnection(sub, next(self._numbers))

        async def deliver(s: Subscription, event: dict[str, Any], body: bytes, path: str, msg: Message) -> Outcome:
            return await self._deliver_stream(conn, event, path, msg)

        conn.handle = await broker.component.subscribe(topic, self._handler(sub, deliver))
        self.streams[conn.number] = conn
        log.info("Subscribing to pubsub '%s' topic '%s' ConnectionID %d", pubsub, topic, conn.number)
        return conn

    async def close_stream(self, conn: StreamConnection) -> None:
        conn.close()
        self.streams.pop(conn.number, None)
        if conn.handle is not None:
            await conn.handle.close()
        log.info("Unsubscribed from pubsub '%s' topic '%s'", conn.subscription.pubsub, conn.subscription.topic)

    def subscriptions(self) -> list[Subscription]:
        """What the metadata API lists: the running subscriptions of every kind."""
        return [sub for sub, _ in self.active] + [c.subscription for c in self.streams.values()]

    # -- delivery --------------------------------------------------------------------------------------------
    def _handler(self, sub: Subscription, postman: Postman) -> Callable[[Message], Awaitable[None]]:
        async def handle(message: Message) -> None:
            await self._handle(sub, postman, message)

        return handle

    async def _handle(self, sub: Subscription, postman: Postman, message: Message) -> None:
        try:
            if sub.raw_payload:
                event = ce.from_raw_payload(message.data, topic=message.topic, pubsub=sub.pubsub)
                for key in ("traceid", "traceparent", "tracestate"):
                    if message.metadata.get(key):
                        event[key] = message.metadata[key]
                body = json.dumps(event, separators=(",", ":")).encode()
            else:
                event = json.loads(message.data)
                if not isinstance(event, dict):
                    raise ValueError("the message is not a JSON object")
                body = message.data
            path = next((rule.path for rule in sub.rules if rule.matches(event)), None)
        except Exception as exc:
            log.error("error reading the event in pubsub %s and topic %s: %s", sub.pubsub, message.topic, exc)
            if await self._dead_letter(sub, message):
                return
            raise DeliveryFailed(str(exc)) from exc
        if ce.has_expired(event):
            log.warning("dropping expired pub/sub event %s as of %s", event.get("id"), event.get("expiration"))
            await self._dead_letter(sub, message)
            return
        if path is None:
            log.debug(
                "no matching route for event %s in pubsub %s and topic %s", event.get("id"), sub.pubsub, sub.topic
            )
            await self._dead_letter(sub, message)
            return
        policy = self.resiliency.pubsub_inbound(sub.pubsub)
        delays = policy.retry.delays() if policy.retry is not None else iter(())
        while True:
            try:
                if policy.timeout is not None:
                    outcome = await asyncio.wait_for(postman(sub, event, body, path, message), policy.timeout)
                else:
                    outcome = await postman(sub, event, body, path, message)
            except DeliveryAborted:
                raise
            except Exception as exc:
                log.warning("error delivering pub/sub event %s to the app: %s", event.get("id"), exc)
                outcome = "retry"
            if outcome == "success":
                return
            if outcome == "drop":
                log.warning("DROP status returned from app while processing pub/sub event %s", event.get("id"))
                if sub.dead_letter_topic and not await self._dead_letter(sub, message):
                    raise DeliveryFailed(f"event {event.get('id')} dropped; the dead-letter topic did not take it")
                return
            delay = next(delays, None)
            if delay is None:
                break
            await asyncio.sleep(delay)
        if await self._dead_letter(sub, message):
            return
        raise DeliveryFailed(f"pub/sub event {event.get('id')} on {sub.topic} was not delivered")

    async def _dead_letter(self, sub: Subscription, message: Message) -> bool:
        """Publish the message as it came to the subscription's dead-letter topic; True once it is there."""
        if not sub.dead_letter_topic:
            return False
        try:
            await self.brokers[sub.pubsub].component.publish(sub.dead_letter_topic, message.data, message.metadata)
        except Exception as exc:
            log.error(
                "error sending message to dead letter, origin topic: %s dead letter topic %s err: %s",
                message.topic,
                sub.dead_letter_topic,
                exc,
            )
            return False
        return True

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))
        return self._session

    async def _deliver_http(
        self, sub: Subscription, event: dict[str, Any], body: bytes, path: str, message: Message
    ) -> Outcome:
        url = f"http://{self.app_host}:{self.app_port}/{path.lstrip('/')}"
        headers = {
            k: v
            for k, v in message.metadata.items()
            if k and _HEADER_SAFE.match(k) and _HEADER_SAFE.match(v) and ":" not in k
        }
        headers = {k: v for k, v in headers.items() if k.lower() != APP_TOKEN_HEADER}  # a publisher cannot forge it
        headers |= {"Content-Type": ce.CLOUDEVENT_CONTENT_TYPE, "pubsubname": sub.pubsub, **self.app_headers}
        trace = event.get("traceparent") or event.get("traceid")
        if isinstance(trace, str) and trace:
            headers["traceparent"] = trace
            if isinstance(event.get("tracestate"), str) and event["tracestate"]:
                headers["tracestate"] = event["tracestate"]
        try:
            async with self._http().post(url, data=body, headers=headers) as resp:
                answer = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, OSError) as exc:
            log.warning("error returned from app channel while sending pub/sub event to app: %s", exc)
            return "retry"
        if 200 <= status <= 299:
            try:
                reply = json.loads(answer)
            except ValueError:
                return "success"  # no JSON body: success, as daprd reads it
            said = reply.get("status", "") if isinstance(reply, dict) else ""
            if said in ("", "SUCCESS"):
                return "success"
            if said == "DROP":
                return "drop"
            if said != "RETRY":
                log.warning(
                    "unknown status returned from app while processing pub/sub event %s: %s", event.get("id"), said
                )
            return "retry"
        if status == 404:
            log.error("non-retriable error returned from app while processing pub/sub event %s: 404", event.get("id"))
            return "drop"
        log.warning("retriable error returned from app while processing pub/sub event %s: %d", event.get("id"), status)
        return "retry"

    async def _deliver_stream(
        self, conn: StreamConnection, event: dict[str, Any], path: str, message: Message
    ) -> Outcome:
        extensions = struct_pb2.Struct()
        extensions.update(ce.extensions(event))
        request = appcallback_v1.TopicEventRequest(
            id=str(event.get("id") or ""),
            source=str(event.get("source") or ""),
            type=str(event.get("type") or ""),
            spec_version=str(event.get("specversion") or ""),
            data_content_type=str(event.get("datacontenttype") or ""),
            data=ce.event_data(event),
            topic=message.topic,
            pubsub_name=conn.subscription.pubsub,
            path=path,
            extensions=extensions,
        )
        status = await conn.send(request)
        if status == appcallback_v1.TopicEventResponse.SUCCESS:
            return "success"
        if status == appcallback_v1.TopicEventResponse.DROP:
            return "drop"
        return "retry"

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for conn in list(self.streams.values()):
            await self.close_stream(conn)
        for _, handle in self.active:
            with contextlib.suppress(Exception):
                await handle.close()
        self.active.clear()
        if self._session is not None:
            await self._session.close()


def _meta(metadata: dict[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in metadata.items() if k.lower() == wanted), None)


__all__ = [
    "DeliveryFailed",
    "PubSubAPIError",
    "PubSubRuntime",
    "StreamConnection",
    "Subscription",
    "load_declarative",
    "subscription_from_json",
]
