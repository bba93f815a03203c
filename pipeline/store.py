"""The output store: document records through the Dapr state API, results to the outbox binding, and a blob store
(originals, page images, OCR output) through an output binding, content-addressed by SHA-256.

Everything here goes through ``DaprClient`` only, so the components decide where data lives (SQLite, Redis,
PostgreSQL; local files, S3, Azure Blob).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import grpc
from cachetools import LRUCache
from dapr.clients import DaprClient
from dapr.clients.grpc._request import TransactionalStateOperation
from dapr.clients.grpc._state import Concurrency, StateOptions

from pipeline.index import (
    ATTEMPTS,
    SHARDS,
    STATUSES,
    DocumentIndex,
    Entry,
    cursor_of,
    delete_op,
    parse_cursor,
    shard_of,
)
from pipeline.models import TERMINAL, DocumentList, DocumentResult, StoredDocument
from pipeline.settings import Settings
from pipeline.storage import StorageBinding

log = logging.getLogger(__name__)

LEGACY_INDEX_KEY = "docline-index"  # the single list of ids before pipeline.index
_DOC_PREFIX = "doc-"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def blob_key(digest: str, owner: str | None = None) -> str:
    """Flat names: object stores and local folders both take them without creating directories. A document's blobs
    carry its id (``<id>-sha256-<hex>``): the same bytes in two documents are two blobs, so erasing one document
    never takes another's page or draft."""
    return f"{owner}-sha256-{digest}" if owner else f"sha256-{digest}"


# Every blob key, in any text (a workflow's history, a record): owner, digest, and the part count of a parted blob.
BLOB_KEYS = re.compile(r"(?:[0-9a-f]{24}(?:-[0-9a-f]{8})?-)?sha256-[0-9a-f]{64}(?:-x[0-9]+)?")


UPRIGHT_PREFIX = "upright:"


def upright_key(source_key: str, page_key: str) -> str:
    """The key of a page image drawn when first asked for: from its source blob (the page scan, or the whole PDF of a
    text-layer page) and the stored Page whose boxes it must match. Most pages are never looked at, so drawing and
    PNG-encoding every upright page up front cost more CPU than OCR's own image work (see the README, Performance)."""
    return f"{UPRIGHT_PREFIX}{source_key}:{page_key}"


def message_too_large(exc: BaseException) -> bool:
    """The sidecar (or this client) refused a gRPC message over its size limit: daprd's max body size, or the base64
    of a file near it. A property of the file, not a passing fault: retrying cannot help."""
    code = getattr(exc, "code", None)
    return isinstance(exc, grpc.RpcError) and callable(code) and code() == grpc.StatusCode.RESOURCE_EXHAUSTED


class StoreError(RuntimeError):
    """The state store or a binding failed (infrastructure, not the document): the activity is retried."""


# daprd takes requests up to 4 MiB by default (--max-body-size): a part travels base64-encoded (4/3 of its size) with
# the binding request around it, so 3 MiB less room for that envelope fits any sidecar with default settings.
DAPR_DEFAULT_MAX_BODY = 4 * 1024 * 1024
PART_BYTES = (DAPR_DEFAULT_MAX_BODY - 64 * 1024) * 3 // 4
_PARTED = re.compile(r"((?:[0-9a-f]{24}(?:-[0-9a-f]{8})?-)?sha256-[0-9a-f]{64})-x([0-9]+)")


def _part_name(key: str, index: int) -> str:
    return f"{key}-{index}"


class RecentBlobs:
    """The most recently written or read small blobs, by key, within a byte budget. Keys are content hashes, so a
    remembered blob is never stale: the next steps of a document in this process read its pages and drafts from
    memory instead of through the sidecar (each binding call cost the process 0.8-1.4 ms of CPU, client and sidecar
    together; a document's steps read ~5 of them back)."""

    def __init__(self, max_bytes: int, max_item_bytes: int) -> None:
        self._max_item_bytes = min(max_item_bytes, max_bytes)
        self._lock = threading.Lock()  # cachetools' caches are not thread-safe; activities run in threads
        self._blobs: LRUCache[str, bytes] = LRUCache(max_bytes, getsizeof=len)

    def get(self, key: str) -> bytes | None:
        with self._lock:
            return self._blobs.get(key)

    def remember(self, key: str, data: bytes) -> None:
        if len(data) <= self._max_item_bytes:
            with self._lock:
                self._blobs[key] = data

    def forget(self, key: str) -> None:
        with self._lock:
            self._blobs.pop(key, None)


# Pages' words and drafts only (a few KB each): also remembering page images and originals (up to 1 MiB each, 8 MiB
# in all) raised the server's peak on the 100-page scan by ~29 MB (long-lived megabyte buffers among the page
# images' short-lived ones keep the heap from shrinking), for ~35 fewer binding reads per 18 samples.
RECENT_BLOB_BYTES = 4 * 1024 * 1024
RECENT_BLOB_MAX_ITEM = 64 * 1024


class BlobStore:
    """Immutable, content-addressed blobs: writing the same bytes twice is a no-op by construction.

    A blob over ``part_bytes`` is written as parts of that size, and its key says how many (``sha256-<hex>-x<n>``):
    the binding API has one unary message per call, carrying base64, so a whole 40 MB original cost the server
    (and an in-process sidecar) about 12 times its size in copies at once, and a file over one Dapr message (about
    48 MB of base64) could not be stored at all. In parts, only one part's copies are alive at a time.
    """

    def __init__(
        self, client: DaprClient, binding: str, *, part_bytes: int = PART_BYTES, recent_bytes: int = RECENT_BLOB_BYTES
    ) -> None:
        self._files = StorageBinding(client, binding)
        self._part_bytes = part_bytes
        self._recent = RecentBlobs(recent_bytes, min(part_bytes, RECENT_BLOB_MAX_ITEM))

    def put(self, data: bytes, *, owner: str | None = None) -> str:
        """Store ``data``; ``owner`` is the document it belongs to (see :func:`blob_key`)."""
        key = blob_key(sha256_hex(data), owner)
        if len(data) <= self._part_bytes:
            self._files.create(key, data)
            self._recent.remember(key, data)
            return key
        view = memoryview(data)
        count = -(-len(data) // self._part_bytes)
        key = f"{key}-x{count}"
        for i in range(count):
            self._files.create(_part_name(key, i), bytes(view[i * self._part_bytes : (i + 1) * self._part_bytes]))
        return key

    def put_json(self, value: Any, *, owner: str | None = None) -> str:
        return self.put(json.dumps(value, sort_keys=True, separators=(",", ":")).encode(), owner=owner)

    def get(self, key: str) -> bytes:
        parted = _PARTED.fullmatch(key)
        if parted is None:
            data = self._recent.get(key)
            if data is None:
                data = self._files.get(key)
                self._recent.remember(key, data)
            return data
        return b"".join(self._files.get(_part_name(key, i)) for i in range(int(parted.group(2))))

    def get_json(self, key: str) -> Any:
        return json.loads(self.get(key))

    def page_image(self, key: str) -> bytes:
        """The PNG of a page image key: a stored blob, or an :func:`upright_key` drawn now."""
        if not key.startswith(UPRIGHT_PREFIX):
            return self.get(key)
        source_key, _, page_key = key[len(UPRIGHT_PREFIX) :].partition(":")
        from extractors.model import Page
        from extractors.ocr import render_page

        return render_page(self.get(source_key), Page.model_validate(self.get_json(page_key)))

    def delete(self, key: str) -> None:
        self._recent.forget(key)
        parted = _PARTED.fullmatch(key)
        for name in [_part_name(key, i) for i in range(int(parted.group(2)))] if parted else [key]:
            self._files.delete(name)

    def erase(self, keys: Iterable[str]) -> None:
        """Delete these blobs; one already gone is no error (erasure may be repeated)."""
        for key in sorted(set(keys)):
            try:
                self.delete(key)
            except Exception:  # a binding answers a missing file with an error
                log.debug("blob %s: nothing to delete", key)

    def sweep(self, owner: str) -> int:
        """Delete every blob of document ``owner`` the store lists (a step that was still running when the
        document was deleted wrote it after the erasure). Returns how many names it deleted."""
        names = [n for n in self._files.list(f"{owner}-sha256-") if n.startswith(f"{owner}-sha256-")]
        for name in names:
            self._recent.forget(name)
            try:
                self._files.delete(name)
            except Exception:
                log.debug("blob %s: nothing to delete", name)
        return len(names)


@dataclass(frozen=True)
class Listed:
    """How the index lists a record: its status and document type (a change of either moves its entry)."""

    status: str
    document_type: str | None

    @classmethod
    def of(cls, doc: StoredDocument) -> Listed:
        return cls(doc.status, doc.document_type)


_READ = Listed("", None)  # put(): read the stored record to learn how it is listed now


def _entry(doc: StoredDocument) -> Entry:
    created = doc.created_at or doc.updated_at
    return Entry(created.timestamp() if created else 0.0, doc.id, doc.document_type)


class ResultStore:
    """Document records in the state store, the index for listing and counting them (``pipeline.index``), and the
    outbox."""

    def __init__(self, client: DaprClient, settings: Settings) -> None:
        self._client = client
        self._store = settings.state_store
        self._outbox = StorageBinding(client, settings.outbox_binding)
        self.index = DocumentIndex(client, self._store)

    # -- records
    def get(self, doc_id: str) -> StoredDocument | None:
        return self.get_versioned(doc_id)[0]

    def get_versioned(self, doc_id: str) -> tuple[StoredDocument | None, str | None]:
        """The record and its ETag, for an update that must not resurrect a record deleted meanwhile."""
        item = self._client.get_state(self._store, _DOC_PREFIX + doc_id)
        if not item.data:
            return None, None
        return StoredDocument.model_validate_json(item.data), item.etag or None

    def get_many(self, ids: Iterable[str]) -> list[StoredDocument]:
        keys = [_DOC_PREFIX + i for i in ids]
        if not keys:
            return []
        found = {i.key: i.data for i in self._client.get_bulk_state(self._store, keys).items if i.data}
        return [StoredDocument.model_validate_json(found[k]) for k in keys if k in found]

    def put(self, doc: StoredDocument, *, etag: str | None = None, was: Listed | None = _READ) -> None:
        """Write the record; with ``etag``, only over that version (raises if it changed or was deleted). ``was`` is
        how the record was listed before (None: a new record; default: read it). The index entry moves to the new
        status before the record is written and leaves the old one after; the counts change with the record, in
        one state transaction."""
        if was is _READ:
            stored = self.get(doc.id)
            was = Listed.of(stored) if stored is not None else None
        now = Listed.of(doc)
        entry = _entry(doc)
        if was != now:
            self.index.add(doc.status, entry)
        shard = shard_of(doc.id)
        deltas: dict[tuple[str, int], int] = {}
        if was is None or was.status != doc.status:
            deltas[(doc.status, shard)] = 1
            if was is not None:
                deltas[(was.status, shard)] = -1
        record = TransactionalStateOperation(_DOC_PREFIX + doc.id, doc.model_dump_json(), etag=etag)
        self._transact(doc.id, etag, record, deltas)
        if was is not None and was.status != doc.status:
            self.index.remove(was.status, entry)

    def _transact(
        self, doc_id: str, etag: str | None, record: TransactionalStateOperation, deltas: dict[tuple[str, int], int]
    ) -> None:
        """The record and the counters in one transaction. A counter written by someone else meanwhile is read
        again; the record's own version having changed is the caller's error."""
        for _ in range(ATTEMPTS):
            try:
                self.index.transact([record, *self.index.counter_ops(deltas)])
                return
            except Exception:
                if not deltas or (etag is not None and self.get_versioned(doc_id)[1] != etag):
                    raise
        raise StoreError(f"could not write document {doc_id}: its counters kept changing")

    def delete(self, doc_id: str) -> None:
        """The record, its entry in the index and its count, and its result in the outbox."""
        self.delete_outbox(doc_id)
        doc = self.get(doc_id)
        if doc is None:
            return
        record = delete_op(_DOC_PREFIX + doc_id)
        self._transact(doc_id, None, record, {(doc.status, shard_of(doc_id)): -1})
        self.index.remove(doc.status, _entry(doc))

    # -- listing and counting, through the index
    def counts(self) -> dict[str, int]:
        """Documents per status, from the counters (no record is read)."""
        return self.index.counts()

    def queued(self) -> Iterator[StoredDocument]:
        """The documents waiting to start (start-up checks that each has its workflow)."""
        walk = self.index.walk("queued")
        while chunk := list(itertools.islice(walk, 200)):
            yield from (d for d in self.get_many(e.id for e in chunk) if d.status == "queued")

    def finished_before(self, cutoff: datetime) -> list[str]:
        """Ids of the documents in a final status whose record last changed before ``cutoff`` (oldest first)."""
        found: list[str] = []
        for status in sorted(TERMINAL):
            candidates = itertools.takewhile(
                lambda e: e.created < cutoff.timestamp(), self.index.walk(status, oldest_first=True)
            )
            while chunk := list(itertools.islice(candidates, 200)):
                for doc in self.get_many(e.id for e in chunk):
                    changed = doc.updated_at or doc.created_at
                    if doc.status == status and changed is not None and changed < cutoff:
                        found.append(doc.id)
        return found

    def migrate_legacy_index(self) -> int:
        """Before this index, ids were one list under ``docline-index``: list those documents in the index and set
        the counters from their records, then drop the list. Repeatable (the counts are set, not added to)."""
        ids = self.get_value(LEGACY_INDEX_KEY)
        if not ids:
            return 0
        counts: dict[tuple[str, int], int] = {(status, shard): 0 for status in STATUSES for shard in range(SHARDS)}
        for i in range(0, len(ids), 200):
            for doc in self.get_many(ids[i : i + 200]):
                self.index.add(doc.status, _entry(doc))
                counts[(doc.status, shard_of(doc.id))] += 1
        self.index.set_counts(counts)
        self.delete_value(LEGACY_INDEX_KEY)
        log.info("document index: %d documents moved from the single index key", len(ids))
        return len(ids)

    def list(
        self, *, status: str | None = None, type_: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> DocumentList:
        """Newest first; ``cursor`` is the ``next`` of the previous page. Reads the index a slot at a time and the
        records of the candidates only, skipping entries a status change left behind."""
        after = parse_cursor(cursor) if cursor else None
        if cursor and after is None:
            return DocumentList(items=[], next=None)
        walk = self.index.walk(status, after=after) if status else self.index.walk_all(STATUSES, after=after)
        items: list[DocumentResult] = []
        seen: set[str] = set()
        last: Entry | None = None
        while len(items) < limit:
            taken = list(itertools.islice(walk, max(limit, 50)))
            if not taken:
                break
            chunk = [e for e in taken if not type_ or e.document_type == type_]
            records = {d.id: d for d in self.get_many(e.id for e in chunk)}
            for entry in chunk:
                doc = records.get(entry.id)
                if doc is None or entry.id in seen or (status and doc.status != status):
                    continue  # deleted, listed twice, or moved on since
                if type_ and doc.document_type != type_:
                    continue
                seen.add(entry.id)
                items.append(doc.result())
                last = entry
                if len(items) == limit:
                    break
        more = len(items) == limit and last is not None
        return DocumentList(items=items, next=cursor_of(last) if more and last else None)

    # -- small key/value records for other parts of the application (inbox bookkeeping)
    def get_value(self, key: str) -> Any:
        item = self._client.get_state(self._store, key)
        return json.loads(item.data) if item.data else None

    def put_value(self, key: str, value: Any) -> None:
        self._client.save_state(self._store, key, json.dumps(value))

    def delete_value(self, key: str) -> None:
        self._client.delete_state(self._store, key)

    def update_value(self, key: str, change: Callable[[Any], Any]) -> Any:
        """Read-modify-write of a small value under optimistic concurrency (several app replicas may write it):
        ``change(old)`` → new value (``old`` is None when there is none; a new value of None deletes the key);
        unchanged values are not written; a new key is written only if nobody created it meanwhile (first-write).
        Returns the value as written."""
        for _ in range(ATTEMPTS):
            item = self._client.get_state(self._store, key)
            old = json.loads(item.data) if item.data else None
            new = change(old)
            if new == old:
                return new
            options = StateOptions(concurrency=Concurrency.first_write)
            try:
                if new is None:
                    self._client.delete_state(self._store, key, etag=item.etag or None, options=options)
                else:
                    self._client.save_state(self._store, key, json.dumps(new), etag=item.etag or None, options=options)
                return new
            except Exception as exc:  # an etag mismatch: someone else wrote in between; read again
                log.debug("%s write conflict, retrying: %s", key, exc)
        raise StoreError(f"could not update {key} (too many concurrent writers)")

    def get_values(self, keys: Iterable[str]) -> dict[str, Any]:
        """The values of ``keys`` that exist, in one call."""
        wanted = [*keys]
        if not wanted:
            return {}
        return {i.key: json.loads(i.data) for i in self._client.get_bulk_state(self._store, wanted).items if i.data}

    # -- outbox: one JSON file per result, named by document id, so rewriting it is idempotent
    def write_outbox(self, result: DocumentResult) -> None:
        self._outbox.create(f"{result.id}.json", result.model_dump_json(indent=2).encode())

    def delete_outbox(self, doc_id: str) -> None:
        try:
            self._outbox.delete(f"{doc_id}.json")
        except Exception:  # none written (not finished), or deleted before
            log.debug("outbox %s.json: nothing to delete", doc_id)
