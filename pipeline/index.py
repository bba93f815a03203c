"""The document index: which documents there are, by status and time of creation, and how many per status, kept in
small state keys, so that listing a page or counting never reads every record and no key is written by every
submission (several app replicas write it at once).

Keys, all in the results state store:

- ``docline-idx-<status>-<slot>-<shard>``: the documents in ``status`` created in one 10-second slot whose id falls
  in ``shard`` (one of ``SHARDS``): a JSON list of ``[created, id, document type]``, ``created`` in epoch seconds.
  A status change moves the entry: it is added to its new bucket before the record is written and removed from the
  old one after, so a crash can leave a stale entry (listing reads the record and skips it), never a missing one.
- ``docline-idx-slots-<status>-<day>``: the slots of a day that have had entries of a status (only ever added to).
- ``docline-idx-days-<status>``: the days that have had entries of a status (only ever added to).
- ``docline-count-<status>-<shard>``: how many documents are in a status. Changed in the same state transaction as
  the record itself, with ETags, so the counts stay exact: a retried write that changes no status changes no count.

Buckets and counters are read-modify-written under optimistic concurrency (ETag, or first-write for a new key).
"""

from __future__ import annotations

import heapq
import json
import logging
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dapr.clients import DaprClient
from dapr.clients.grpc._request import TransactionalStateOperation, TransactionOperationType
from dapr.clients.grpc._state import Concurrency, StateOptions

from pipeline.models import Status

log = logging.getLogger(__name__)

STATUSES: tuple[Status, ...] = ("queued", "running", "needs_review", "completed", "failed", "rejected")
SHARDS = 16
SLOT_SECONDS = 10
ATTEMPTS = 50  # optimistic writes retried this often under contention before giving up


class IndexError_(RuntimeError):
    """An index key kept changing under us (too many concurrent writers) or the store refused it."""


@dataclass(frozen=True, order=True)
class Entry:
    """One listed document: newest first is descending (created, id)."""

    created: float
    id: str
    # Not part of the order: a stale entry and the current one name the same document with different types.
    document_type: str | None = field(default=None, compare=False)

    def to_json(self) -> list[Any]:
        return [self.created, self.id, self.document_type]

    @classmethod
    def from_json(cls, raw: Any) -> Entry:
        return cls(float(raw[0]), str(raw[1]), raw[2] if len(raw) > 2 else None)


def shard_of(doc_id: str) -> int:
    """Document ids are hex digests: their first digits spread evenly over the shards."""
    try:
        return int(doc_id[:4], 16) % SHARDS
    except ValueError:
        return 0


def slot_of(created: float) -> int:
    return int(created // SLOT_SECONDS)


def day_of(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).strftime("%Y%m%d")


def bucket_key(status: str, slot: int, shard: int) -> str:
    return f"docline-idx-{status}-{slot}-{shard:02d}"


def slots_key(status: str, day: str) -> str:
    return f"docline-idx-slots-{status}-{day}"


def days_key(status: str) -> str:
    return f"docline-idx-days-{status}"


def count_key(status: str, shard: int) -> str:
    return f"docline-count-{status}-{shard:02d}"


def cursor_of(entry: Entry) -> str:
    """An opaque page cursor: where the next page starts (after this entry)."""
    return f"{entry.created!r}~{entry.id}"


def parse_cursor(cursor: str) -> tuple[float, str] | None:
    created, sep, doc_id = cursor.partition("~")
    try:
        return (float(created), doc_id) if sep and doc_id else None
    except ValueError:
        return None


class DocumentIndex:
    def __init__(self, client: DaprClient, store: str) -> None:
        self._client = client
        self._store = store
        self._known: set[str] = set()  # directory entries (days, slots) this process knows are written
        self._lock = threading.Lock()

    # -- small JSON values under optimistic concurrency
    def _read(self, key: str) -> tuple[Any, str | None]:
        item = self._client.get_state(self._store, key)
        return (json.loads(item.data) if item.data else None), (item.etag or None)

    def _write(self, key: str, value: Any, etag: str | None) -> bool:
        """Write over ``etag`` (None: only if the key does not exist); False if someone else wrote first."""
        try:
            self._client.save_state(
                self._store,
                key,
                json.dumps(value, separators=(",", ":")),
                etag=etag,
                options=StateOptions(concurrency=Concurrency.first_write),
            )
            return True
        except Exception as exc:  # an ETag mismatch (or the key exists): read again
            log.debug("index key %s changed meanwhile: %s", key, exc)
            return False

    def _change(self, key: str, change: Any) -> None:
        for _ in range(ATTEMPTS):
            old, etag = self._read(key)
            new = change(old)
            if new == old or self._write(key, new, etag):
                return
        raise IndexError_(f"could not update {key}: too many concurrent writers")

    # -- entries
    def add(self, status: str, entry: Entry) -> None:
        """List ``entry`` under ``status`` (idempotent; replaces an entry of the same id, e.g. a new type)."""
        self._note_slot(status, entry.created)
        item = entry.to_json()

        def put(old: Any) -> list[Any]:
            kept = [e for e in old or [] if e[1] != entry.id]
            return sorted([*kept, item])

        self._change(bucket_key(status, slot_of(entry.created), shard_of(entry.id)), put)

    def remove(self, status: str, entry: Entry) -> None:
        def drop(old: Any) -> Any:
            if not old:
                return old
            return [e for e in old if e[1] != entry.id]

        self._change(bucket_key(status, slot_of(entry.created), shard_of(entry.id)), drop)

    def _note_slot(self, status: str, created: float) -> None:
        """Make sure listing walks to this slot: its day in the days list, the slot in the day's list."""
        day, slot = day_of(created), slot_of(created)
        marker = f"{status}/{day}/{slot}"
        with self._lock:
            if marker in self._known:
                return
        self._change(slots_key(status, day), lambda old: old if old and slot in old else sorted({*(old or []), slot}))
        day_marker = f"{status}/{day}"
        with self._lock:
            known_day = day_marker in self._known
        if not known_day:
            self._change(days_key(status), lambda old: old if old and day in old else sorted({*(old or []), day}))
        with self._lock:
            self._known.update((marker, day_marker))

    # -- walking, newest first (or oldest first)
    def walk(
        self, status: str, *, after: tuple[float, str] | None = None, oldest_first: bool = False
    ) -> Iterator[Entry]:
        """Entries listed under ``status``, newest first (``oldest_first`` reverses), those past ``after`` only.
        Reads one bucket slot (all shards in one bulk read) at a time."""
        newest = not oldest_first
        days = sorted(self._read(days_key(status))[0] or [], reverse=newest)
        for day in days:
            if after is not None and (day > day_of(after[0]) if newest else day < day_of(after[0])):
                continue
            slots = sorted(self._read(slots_key(status, day))[0] or [], reverse=newest)
            for slot in slots:
                if after is not None and (slot > slot_of(after[0]) if newest else slot < slot_of(after[0])):
                    continue
                keys = [bucket_key(status, slot, shard) for shard in range(SHARDS)]
                entries: list[Entry] = []
                for item in self._client.get_bulk_state(self._store, keys).items:
                    if item.data:
                        entries.extend(Entry.from_json(raw) for raw in json.loads(item.data))
                entries.sort(reverse=newest)
                for entry in entries:
                    if after is not None:
                        position = (entry.created, entry.id)
                        if (position >= after) if newest else (position <= after):
                            continue
                    yield entry

    def walk_all(self, statuses: Iterable[str], *, after: tuple[float, str] | None = None) -> Iterator[Entry]:
        """Newest first across several statuses (one lazy walk each, merged)."""
        walks = [self.walk(status, after=after) for status in statuses]
        yield from heapq.merge(*walks, reverse=True)

    # -- counts
    def counts(self) -> dict[str, int]:
        keys = [count_key(status, shard) for status in STATUSES for shard in range(SHARDS)]
        counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
        for item in self._client.get_bulk_state(self._store, keys).items:
            if item.data:
                status = item.key.removeprefix("docline-count-").rsplit("-", 1)[0]
                counts[status] = counts.get(status, 0) + int(json.loads(item.data))
        return counts

    def counter_ops(self, deltas: dict[tuple[str, int], int]) -> list[TransactionalStateOperation]:
        """The transaction operations that apply ``deltas`` ((status, shard) → change) over the counters' current
        versions (a counter not there yet is created first, at 0, so it has a version to write over)."""
        ops: list[TransactionalStateOperation] = []
        for (status, shard), delta in sorted(deltas.items()):
            if delta == 0:
                continue
            key = count_key(status, shard)
            value, etag = self._read(key)
            if etag is None:
                self._write(key, 0, None)  # first-write: fine if another writer created it meanwhile
                value, etag = self._read(key)
            ops.append(TransactionalStateOperation(key, json.dumps(int(value or 0) + delta), etag=etag))
        return ops

    def set_counts(self, counts: dict[tuple[str, int], int]) -> None:
        """Overwrite counters (a rebuild from the records)."""
        for (status, shard), value in counts.items():
            self._client.save_state(self._store, count_key(status, shard), json.dumps(value))

    def transact(self, ops: list[TransactionalStateOperation]) -> None:
        self._client.execute_state_transaction(self._store, ops)


def delete_op(key: str) -> TransactionalStateOperation:
    return TransactionalStateOperation(key, operation_type=TransactionOperationType.delete)
