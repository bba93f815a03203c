"""SQLite persistence for the workflow engine.

The engine keeps its working state in memory and sends every change here as a list of SQL operations. Changes
submitted during one pass of the event loop are committed together in one transaction at the end of that pass
(group commit), so concurrent completions share one fsync, and commits land strictly in submission order.
Committing on the loop thread itself (a durable WAL commit costs well under a millisecond) avoids handing the GIL
back and forth with a writer thread, which cost more than the commit. Reads happen at start-up (recovery) and for
ended instances whose history is no longer held in memory.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Sequence
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


class Store:
    """One SQLite database in WAL mode with durable (synchronous=FULL) group commits."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._migrate()
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open workflow database {path}: {exc}") from exc
        self._pending: list[tuple[list[Op], asyncio.Future[None]]] = []
        self._flush_scheduled = False
        self._closed = False
        self.commits = 0  # counters for benchmarks and logs
        self.batches = 0

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

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Read committed data (start-up and cold lookups)."""
        return self._conn.execute(sql, params).fetchall()

    def submit(self, ops: list[Op]) -> asyncio.Future[None]:
        """Queue ops for the group commit at the end of this loop pass; the future resolves once they are durable."""
        if self._closed:
            raise StoreError("workflow database is closed")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._pending.append((ops, fut))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return fut

    def _flush(self) -> None:
        self._flush_scheduled = False
        pending, self._pending = self._pending, []
        if not pending:
            return
        error: StoreError | None = None
        if not any(ops for ops, _ in pending):  # only barriers: everything before them is already durable
            for _, fut in pending:
                if not fut.done():
                    fut.set_result(None)
            return
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            for ops, _ in pending:
                for sql, params in ops:
                    self._conn.execute(sql, params)
            self._conn.execute("COMMIT")
            self.commits += 1
            self.batches += len(pending)
        except sqlite3.Error as exc:  # a failed commit must not leave a half-applied turn behind
            log.exception("workflow database commit failed")
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            error = StoreError(f"commit failed: {exc}")
        for _, fut in pending:
            if fut.done():
                continue
            if error is None:
                fut.set_result(None)
            else:
                fut.set_exception(error)

    def close(self) -> None:
        if self._pending:
            self._flush()
        self._closed = True
        self._conn.close()
