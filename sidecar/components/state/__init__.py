"""State store components: one async interface, backed by SQLite, Redis or PostgreSQL.

Keys reach a store already prefixed (``appid||key``) by the runtime, as daprd does. Etag rules, as in daprd's
stores: a write or delete with an etag succeeds only if the stored etag matches (a missing key never matches);
a first-write write without etag succeeds only if the key does not exist; otherwise last write wins.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Literal

from sidecar.components.errors import ComponentConfigError

__all__ = ["StateEntry", "StateOperation", "StateStore", "is_json", "ttl_from_metadata"]


@dataclass(frozen=True)
class StateEntry:
    key: str
    value: bytes
    etag: str


@dataclass(frozen=True)
class StateOperation:
    """One write (``upsert``) or delete of a transaction or a bulk save."""

    kind: Literal["upsert", "delete"]
    key: str
    value: bytes = b""
    etag: str | None = None
    first_write: bool = False
    ttl_seconds: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)


class StateStore(ABC):
    """What the runtime needs from a state store component."""

    #: Capabilities reported by the metadata API (the names daprd reports).
    features: tuple[str, ...] = ("ETAG", "TRANSACTIONAL", "TTL")

    async def init(self) -> None:  # noqa: B027 - optional hook
        """Connect and create tables; called once at start."""

    @abstractmethod
    async def get(self, key: str) -> StateEntry | None: ...

    async def bulk_get(self, keys: list[str]) -> list[StateEntry | None]:
        return [await self.get(key) for key in keys]

    async def set(self, op: StateOperation) -> None:
        await self.transact([op])

    async def delete(self, op: StateOperation) -> None:
        await self.transact([op])

    @abstractmethod
    async def transact(self, ops: list[StateOperation]) -> None:
        """Apply all operations atomically; raise ETagMismatchError (and apply none) if any etag check fails."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


def is_json(value: bytes) -> bool:
    """Whether a value is UTF-8 JSON: stores keep such values as text, other bytes as base64 (like daprd)."""
    try:
        json.loads(value.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return False
    return True


def ttl_from_metadata(metadata: dict[str, str]) -> int | None:
    """``ttlInSeconds`` request metadata: None = not given, -1 = never expire."""
    raw = metadata.get("ttlInSeconds")
    if raw is None or raw == "":
        return None
    try:
        ttl = int(raw)
    except ValueError as exc:
        raise ComponentConfigError(f"ttlInSeconds must be an integer, got {raw!r}") from exc
    if ttl < -1:
        raise ComponentConfigError(f"ttlInSeconds must be -1 or more, got {ttl}")
    return ttl
