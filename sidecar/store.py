"""SQLite persistence for the workflow engine.

The engine keeps its working state in memory and sends every change here as a list of SQL operations. A single
writer thread commits whatever has queued up in one transaction (group commit), so concurrent completions share
one fsync, and commits land strictly in submission order. Reads happen at start-up (recovery) and for terminal
instances whose history is no longer held in memory.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1

# Migrations by target version; a later release appends (version, statements) and never edits an old entry.
_MIGRATIONS: list[tuple[int, list[str]]] = [
    (
        1,
        [
            """CREATE TABLE instances (
                instance_id TEXT PRIMARY KEY,
                status INTEGER NOT NULL,
                created_at REAL NOT NULL,
                parent_id TEXT,
                state BLOB NOT NULL,
                parent BLOB
            )""",
            "CREATE INDEX instances_parent ON instances(parent_id)",
            """CREATE TABLE history (
                instance_id TEXT NOT NULL,
                seq INTEGER NOT NULL,
                event BLOB NOT NULL,
                PRIMARY KEY (instance_id, seq)
            ) WITHOUT ROWID""",
            """CREATE TABLE inbox (
                id INTEGER PRIMARY KEY,
                instance_id TEXT NOT NULL,
                visible_at REAL NOT NULL,
                event BLOB NOT NULL
            )""",
            "CREATE INDEX inbox_instance ON inbox(instance_id)",
            """CREATE TABLE activities (
                id INTEGER PRIMARY KEY,
                instance_id TEXT NOT NULL,
                request BLOB NOT NULL
            )""",
            "CREATE INDEX activities_instance ON activities(instance_id)",
        ],
    ),
]

Op = tuple[str, Sequence[Any]]


class StoreError(Exception):
    """The engine's database cannot be opened or written."""


@dataclass
class _Batch:
    ops: list[Op]
    future: asyncio.Future[None] | None
    loop: asyncio.AbstractEventLoop | None = field(default=None)


class Store:
    """One SQLite database in WAL mode with durable (synchronous=FULL) group commits."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = self._connect()
        self._migrate()
        self._queue: list[_Batch] = []
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._writer, name="sidecar-store", daemon=True)
        self._thread.start()

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open workflow database {self.path}: {exc}") from exc
        return conn

    def _migrate(self) -> None:
        conn = self._conn
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
        current = row[0] or 0
        if current > SCHEMA_VERSION:
            raise StoreError(f"{self.path} has schema version {current}, newer than this sidecar ({SCHEMA_VERSION})")
        for version, statements in _MIGRATIONS:
            if version <= current:
                continue
            conn.execute("BEGIN IMMEDIATE")
            for sql in statements:
                conn.execute(sql)
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
            conn.execute("COMMIT")
            log.info("workflow database %s migrated to schema version %d", self.path, version)

    # -- reads (start-up and cold lookups) -----------------------------------------------------------------------
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._cond:  # the connection is shared with the writer thread; reads are rare
            return self._conn.execute(sql, params).fetchall()

    # -- writes ---------------------------------------------------------------------------------------------------
    def submit(self, ops: list[Op]) -> asyncio.Future[None]:
        """Queue ops for the next group commit; the future resolves once they are durable."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        with self._cond:
            if self._closed:
                raise StoreError("workflow database is closed")
            self._queue.append(_Batch(ops, fut, loop))
            self._cond.notify()
        return fut

    def _writer(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue and self._closed:
                    return
                batches, self._queue = self._queue, []
                error: BaseException | None = None
                try:
                    self._conn.execute("BEGIN IMMEDIATE")
                    for batch in batches:
                        for sql, params in batch.ops:
                            self._conn.execute(sql, params)
                    self._conn.execute("COMMIT")
                except sqlite3.Error as exc:  # a failed commit must not leave a half-applied turn behind
                    log.exception("workflow database commit failed")
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                    error = StoreError(f"commit failed: {exc}")
            for batch in batches:
                if batch.future is not None and batch.loop is not None:
                    batch.loop.call_soon_threadsafe(_resolve, batch.future, error)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout=10)
        self._conn.close()


def _resolve(fut: asyncio.Future[None], error: BaseException | None) -> None:
    if fut.done():
        return
    if error is None:
        fut.set_result(None)
    else:
        fut.set_exception(error)
