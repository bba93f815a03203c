"""``pubsub.in-memory``: topics inside this sidecar process, as Dapr's in-memory component keeps them.

As in daprd: every subscription of a topic gets every message, one at a time and in publish order; a topic ending
in ``*`` subscribes to every topic starting with what comes before it (``SUBSCRIBE_WILDCARDS``); nothing is
persisted, so messages not yet delivered are lost when the sidecar stops or is killed, and a message whose delivery
failed (after the runtime's retries and dead-letter topic) is logged and gone. Use ``pubsub.redis`` where messages
must outlive the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from dapr_components.spec import Component
from sidecar.components.pubsub import DeliveryAborted, Handler, Message, PubSub, TopicSubscription

log = logging.getLogger(__name__)


def topic_matches(pattern: str, topic: str) -> bool:
    """daprd's event bus: an exact name, or ``prefix*`` for any longer topic starting with ``prefix``."""
    if pattern == topic:
        return True
    return pattern.endswith("*") and topic.startswith(pattern[:-1]) and topic != pattern[:-1]


class _MemorySubscription(TopicSubscription):
    def __init__(self, bus: InMemoryPubSub, topic: str, handler: Handler) -> None:
        self.bus = bus
        self.topic = topic
        self.handler = handler
        self.queue: asyncio.Queue[Message] = asyncio.Queue()
        self.task = asyncio.create_task(self._run(), name=f"pubsub-memory-{topic}")

    async def _run(self) -> None:
        while True:
            message = await self.queue.get()
            try:
                await self.handler(message)
            except DeliveryAborted:
                log.info("in-memory pub/sub: delivery on %s aborted; the message is dropped", self.topic)
            except Exception as exc:  # daprd's component logs the error and moves on
                log.error("in-memory pub/sub: message on %s not delivered: %s", self.topic, exc)

    async def close(self) -> None:
        self.bus.subscriptions.discard(self)
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


class InMemoryPubSub(PubSub):
    features = ("SUBSCRIBE_WILDCARDS",)

    def __init__(self, component: Component, *, consumer_id: str = "") -> None:
        self.name = component.name
        self.subscriptions: set[_MemorySubscription] = set()

    async def publish(self, topic: str, data: bytes, metadata: dict[str, str]) -> None:
        for sub in list(self.subscriptions):
            if topic_matches(sub.topic, topic):
                sub.queue.put_nowait(Message(topic=sub.topic, data=data, metadata=dict(metadata)))

    async def subscribe(self, topic: str, handler: Handler) -> TopicSubscription:
        sub = _MemorySubscription(self, topic, handler)
        self.subscriptions.add(sub)
        return sub

    async def close(self) -> None:
        for sub in list(self.subscriptions):
            await sub.close()
