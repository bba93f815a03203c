"""``pubsub.redis``: Redis streams, as Dapr's Redis pub/sub component uses them, so daprd and this sidecar can share
one Redis.

A topic is a stream; ``XADD`` appends ``data`` (the envelope) and ``metadata`` (the publish request's metadata as
JSON). Each app reads through a consumer group named by ``consumerID`` (default: the app id), with ``XREADGROUP``,
and acknowledges a message with ``XACK`` once the runtime is done with it. A message whose delivery was cut short
(the sidecar stopped, was killed, or ``processingTimeout`` passed) stays in the group's pending list, and the
reclaim loop (every ``redeliverInterval``) claims it again once it has been pending for ``processingTimeout``:
this is what makes delivery survive a SIGKILL. As in daprd's component, a delivery that failed after the runtime's
retries (and dead-letter topic, if any) is acknowledged and not redelivered.

Defaults as in daprd's code: ``processingTimeout`` 60s, ``redeliverInterval`` 15s (either 0 turns redelivery
off; a plain number is milliseconds), ``queueDepth`` 100, ``concurrency`` 10, ``readTimeout`` 3s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from dapr_components.duration import parse_duration
from dapr_components.spec import Component
from sidecar.components.errors import ComponentConfigError
from sidecar.components.pubsub import DeliveryAborted, Handler, Message, PubSub, TopicSubscription
from sidecar.components.redis_client import redis_client

log = logging.getLogger(__name__)

_RETRY_SECONDS = 1.0  # after a Redis error in a consumer loop


def _millis_or_duration(component: Component, name: str, default: float) -> float:
    """daprd reads a bare number as milliseconds here (for legacy reasons), anything else as a Go duration."""
    raw = component.value(name)
    if raw is None or raw.strip() == "":
        return default
    if raw.strip().isdigit():
        return int(raw) / 1000.0
    return parse_duration(raw, field=name)


def _positive_int(component: Component, name: str, default: int) -> int:
    raw = component.value(name)
    if raw is None or raw.strip() == "":
        return default
    if not raw.strip().isdigit() or int(raw) < 1:
        raise ComponentConfigError(f"pubsub.redis {component.name}: {name} must be a positive number, got {raw!r}")
    return int(raw)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class _StreamConsumer(TopicSubscription):
    def __init__(self, owner: RedisStreamsPubSub, topic: str, handler: Handler) -> None:
        self.owner = owner
        self.topic = topic
        self.handler = handler
        self.slots = asyncio.Semaphore(owner.concurrency)
        self.in_flight: dict[str, asyncio.Task[None]] = {}
        self.tasks = [
            asyncio.create_task(self._poll(), name=f"pubsub-redis-poll-{topic}"),
            asyncio.create_task(self._reclaim_loop(), name=f"pubsub-redis-reclaim-{topic}"),
        ]

    async def _poll(self) -> None:
        o = self.owner
        block_ms = max(1, round(o.read_timeout * 1000))
        while True:
            try:
                answer = await o.client.xreadgroup(
                    o.consumer_id, o.consumer_id, {self.topic: ">"}, count=o.queue_depth, block=block_ms
                )
            except ResponseError as exc:
                if "NOGROUP" in str(exc):
                    log.warning(
                        "redis streams: consumer group %s of %s is gone; recreating it", o.consumer_id, self.topic
                    )
                    with contextlib.suppress(Exception):
                        await o.create_group(self.topic)
                else:
                    log.error("redis streams: error reading from stream %s: %s", self.topic, exc)
                await asyncio.sleep(_RETRY_SECONDS)
                continue
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                log.error("redis streams: error reading from stream %s: %s", self.topic, exc)
                await asyncio.sleep(_RETRY_SECONDS)
                continue
            for _stream, entries in answer or []:
                for msg_id, fields in entries:
                    await self._start(_text(msg_id), fields)

    async def _start(self, msg_id: str, fields: dict[Any, Any] | None) -> None:
        if msg_id in self.in_flight:  # still being delivered here: never deliver it twice at once
            return
        await self.slots.acquire()
        task = asyncio.create_task(self._process(msg_id, fields), name=f"pubsub-redis-{self.topic}-{msg_id}")
        self.in_flight[msg_id] = task

        def done(_: asyncio.Task[None]) -> None:
            self.in_flight.pop(msg_id, None)
            self.slots.release()

        task.add_done_callback(done)

    async def _process(self, msg_id: str, fields: dict[Any, Any] | None) -> None:
        o = self.owner
        if fields is None:  # the entry was trimmed or deleted while pending: nothing left to deliver
            await o.client.xack(self.topic, o.consumer_id, msg_id)
            return
        values = {_text(k): v for k, v in fields.items()}
        metadata: dict[str, str] = {}
        if values.get("metadata"):
            try:
                metadata = {str(k): str(v) for k, v in json.loads(values["metadata"]).items()}
            except (ValueError, AttributeError) as exc:
                log.warning("redis streams: could not read the metadata of message %s: %s", msg_id, exc)
        data = values.get("data") or b""
        message = Message(
            topic=self.topic, data=data if isinstance(data, bytes) else str(data).encode(), metadata=metadata
        )
        try:
            if o.redelivers:
                await asyncio.wait_for(self.handler(message), timeout=o.processing_timeout)
            else:
                await self.handler(message)
        except (DeliveryAborted, TimeoutError):
            log.info(
                "redis streams: delivery of %s on %s cut short; it stays pending for redelivery", msg_id, self.topic
            )
            return
        except Exception as exc:  # as daprd's component: logged, then acknowledged
            log.error("redis streams: error processing message %s on %s: %s", msg_id, self.topic, exc)
        try:
            await o.client.xack(self.topic, o.consumer_id, msg_id)
        except Exception as exc:
            log.error("redis streams: error acknowledging message %s: %s", msg_id, exc)

    async def _reclaim_loop(self) -> None:
        if not self.owner.redelivers:
            return
        while True:
            try:
                await self._reclaim()
            except (ResponseError, RedisConnectionError, RedisTimeoutError, OSError) as exc:
                log.error("redis streams: error reclaiming pending messages of %s: %s", self.topic, exc)
            await asyncio.sleep(self.owner.redeliver_interval)

    async def _reclaim(self) -> None:
        """Claim the messages pending longer than processingTimeout (their consumer died or gave up on them)."""
        o = self.owner
        idle_ms = round(o.processing_timeout * 1000)
        while True:
            pending = await o.client.xpending_range(
                self.topic, o.consumer_id, min="-", max="+", count=o.queue_depth, idle=idle_ms
            )
            ids = [_text(p["message_id"]) for p in pending if _text(p["message_id"]) not in self.in_flight]
            if not ids:
                return
            claimed = await o.client.xclaim(self.topic, o.consumer_id, o.consumer_id, idle_ms, ids)
            found = {_text(msg_id): fields for msg_id, fields in claimed}
            for msg_id in ids:
                # an id XCLAIM no longer returns was deleted from the stream: acknowledge it away
                await self._start(msg_id, found.get(msg_id))

    async def close(self) -> None:
        self.owner.consumers.discard(self)
        for task in [*self.tasks, *self.in_flight.values()]:
            task.cancel()
        for task in [*self.tasks, *self.in_flight.values()]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


class RedisStreamsPubSub(PubSub):
    def __init__(self, component: Component, *, consumer_id: str) -> None:
        self.name = component.name
        self.client: Any = redis_client(component)
        self.consumer_id = (component.value("consumerID") or "").strip() or consumer_id
        self.processing_timeout = _millis_or_duration(component, "processingTimeout", 60.0)
        self.redeliver_interval = _millis_or_duration(component, "redeliverInterval", 15.0)
        self.queue_depth = _positive_int(component, "queueDepth", 100)
        self.concurrency = _positive_int(component, "concurrency", 10)
        self.read_timeout = parse_duration(component.value("readTimeout") or "3s", field="readTimeout")
        max_len = component.value("maxLenApprox")
        self.max_len = int(max_len) if max_len and max_len.isdigit() and int(max_len) > 0 else None
        ttl = component.value("streamTTL")
        self.stream_ttl = parse_duration(ttl, field="streamTTL") if ttl else 0.0
        if self.max_len and self.stream_ttl:
            log.warning("pubsub.redis %s: maxLenApprox and streamTTL cannot be used together", self.name)
        self.consumers: set[_StreamConsumer] = set()

    @property
    def redelivers(self) -> bool:
        return self.processing_timeout > 0 and self.redeliver_interval > 0

    async def init(self) -> None:
        await self.client.ping()

    async def create_group(self, topic: str) -> None:
        try:
            await self.client.xgroup_create(topic, self.consumer_id, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def publish(self, topic: str, data: bytes, metadata: dict[str, str]) -> None:
        fields: dict[str, bytes | str] = {"data": data, "metadata": json.dumps(metadata)}
        # one trimming strategy at a time; maxLenApprox wins
        trim_by_age = self.stream_ttl and not self.max_len
        min_id = f"{int((time.time() - self.stream_ttl) * 1000)}-1" if trim_by_age else None
        await self.client.xadd(topic, fields, maxlen=self.max_len, approximate=True, minid=min_id)

    async def subscribe(self, topic: str, handler: Handler) -> TopicSubscription:
        await self.create_group(topic)
        consumer = _StreamConsumer(self, topic, handler)
        self.consumers.add(consumer)
        return consumer

    async def close(self) -> None:
        for consumer in list(self.consumers):
            await consumer.close()
        await self.client.aclose()
