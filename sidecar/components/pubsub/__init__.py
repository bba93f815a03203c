"""Pub/sub components: brokers the runtime publishes to and consumes from, as Dapr's pub/sub components are.

A component only moves bytes and their metadata; the runtime (``sidecar/runtime/pubsub.py``) wraps them in
CloudEvents, picks routes, retries deliveries and sends failures to dead-letter topics. A subscription's handler
returns normally when the runtime is done with a message (delivered, dropped or dead-lettered) and raises when it is
not; :class:`DeliveryAborted` means "the subscription is closing: keep the message for redelivery".
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

__all__ = ["DeliveryAborted", "Handler", "Message", "PubSub", "TopicSubscription"]


@dataclass(frozen=True)
class Message:
    """One message as the broker holds it: the bytes published and the publish request's metadata."""

    topic: str
    data: bytes
    metadata: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Message], Awaitable[None]]


class DeliveryAborted(Exception):
    """The subscription closed while the message was being delivered: the broker must not consider it handled."""


class TopicSubscription(ABC):
    """A running consumer of one topic; closing it stops the deliveries."""

    @abstractmethod
    async def close(self) -> None: ...


class PubSub(ABC):
    """What the runtime needs from a pub/sub component."""

    #: Features reported by the metadata API (daprd's names, e.g. ``SUBSCRIBE_WILDCARDS``, ``MESSAGE_TTL``).
    features: tuple[str, ...] = ()

    async def init(self) -> None:  # noqa: B027 - optional hook
        """Connect; called once at start."""

    @abstractmethod
    async def publish(self, topic: str, data: bytes, metadata: dict[str, str]) -> None: ...

    @abstractmethod
    async def subscribe(self, topic: str, handler: Handler) -> TopicSubscription: ...

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Stop every consumer and release connections."""
