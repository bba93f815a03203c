"""SQLite persistence for the workflow engine.

The engine keeps its working state in memory and sends every change here as a list of SQL operations. Changes
submitted in the same turn of the event loop (and those that arrive while a commit waits for the disk) are committed
together in the next transaction (group commit), so concurrent completions share one fsync, and commits land
strictly in submission order. Reads happen at start-up (recovery) and for ended instances whose history is no longer
held in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
LAZY_SECONDS = 0.05

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
OnDurable = Callable[["StoreError | None"], None]
_Pending = tuple[list[Op], asyncio.Future[None] | None, OnDurable | None]


class StoreError(Exception):
    """The engine's database cannot be opened or written."""


class Store:
    """One SQLite database in WAL mode with durable (synchronous=FULL) group commits.

    A group's statements and its COMMIT run on the event loop thread, once every callback that was ready has run
    (so everything those callbacks submitted is in the group). The COMMIT blocks the loop for one fsync; the GIL is
    released meanwhile and gRPC's own threads keep receiving, so what arrives then forms the next group. Committing
    on a helper thread cost two thread switches per commit, more CPU than the wait it hid (and, on a loaded
    machine, more latency too).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            # Deleted and overwritten rows are zeroed, not left in free space: a purged workflow's history is gone.
            self._conn.execute("PRAGMA secure_delete=ON")
            self._migrate()
            # reads get their own connection: WAL lets them run beside a commit, and they see only committed data
            self._reader = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open workflow database {path}: {exc}") from exc
        self._pending: list[_Pending] = []
        self._scheduled = False  # a commit is due on the next turn of the event loop
        self._lazy_timer: asyncio.TimerHandle | None = None
        self._closed = False
        # After one failed group nothing more is committed: a later group would build on changes the disk never got.
        self._broken: StoreError | None = None
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
        return self._reader.execute(sql, params).fetchall()

    def submit(self, ops: list[Op], *, lazy: bool = False, on_durable: OnDurable | None = None) -> asyncio.Future[None]:
        """Queue ops for the next group commit; the future resolves once they are durable.

        An empty list is a barrier: it resolves once everything submitted before it is durable. ``lazy`` ops do not
        start a commit of their own: they ride along with the next one, or are committed after ``LAZY_SECONDS``.
        ``on_durable`` is called right after the commit (with the error, if any), without the extra turn of the
        event loop a future's done-callback takes.
        """
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._queue(loop, ops, fut, on_durable, lazy)
        return fut

    def submit_then(self, ops: list[Op], on_durable: OnDurable, *, lazy: bool = False) -> None:
        """Like :meth:`submit` for a caller that only needs ``on_durable`` (no future to create and resolve)."""
        self._queue(asyncio.get_running_loop(), ops, None, on_durable, lazy)

    def _queue(
        self,
        loop: asyncio.AbstractEventLoop,
        ops: list[Op],
        fut: asyncio.Future[None] | None,
        on_durable: OnDurable | None,
        lazy: bool,
    ) -> None:
        if self._closed:
            raise StoreError("workflow database is closed")
        self._pending.append((ops, fut, on_durable))
        if lazy:
            if self._lazy_timer is None and not self._scheduled:
                self._lazy_timer = loop.call_later(LAZY_SECONDS, self._commit_pending)
        elif not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._commit_pending)

    def _commit_pending(self) -> None:
        """Commit everything queued as one transaction and resolve its futures."""
        self._scheduled = False
        if self._lazy_timer is not None:
            self._lazy_timer.cancel()
            self._lazy_timer = None
        pending, self._pending = self._pending, []
        if self._broken is not None:
            _resolve(pending, self._broken)
            return
        if not any(ops for ops, _, _ in pending):  # only barriers: everything before them is already durable
            _resolve(pending, None)
            return
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            for ops, _, _ in pending:
                for sql, params in ops:
                    conn.execute(sql, params)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:  # a failed group must not leave a half-applied turn behind
            log.exception("workflow database write failed")
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            self._broken = StoreError(f"write failed: {exc}")
            _resolve(pending, self._broken)
            return
        self.commits += 1
        self.batches += len(pending)
        _resolve(pending, None)

    def truncate_log(self) -> None:
        """Move the write-ahead log into the database and empty it, so no older version of a deleted row stays in
        it (call after the deleting commit is durable)."""
        if self._broken is not None or self._closed:
            return
        try:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:  # a reader in the way: the next purge, or the automatic checkpoints, try again
            log.warning("workflow database: the write-ahead log could not be emptied", exc_info=True)

    async def aclose(self) -> None:
        """Commit what is queued, then close the database."""
        if self._pending:
            self._commit_pending()
        if self._lazy_timer is not None:
            self._lazy_timer.cancel()
        self._closed = True
        self._reader.close()
        self._conn.close()

    def close(self) -> None:
        """Close without an event loop (nothing may be queued)."""
        self._closed = True
        self._reader.close()
        self._conn.close()


def _resolve(pending: list[_Pending], error: StoreError | None) -> None:
    for _, fut, on_durable in pending:
        if fut is not None and not fut.done():
            if error is None:
                fut.set_result(None)
            else:
                fut.set_exception(error)
                if on_durable is not None:
                    fut.exception()  # reported through on_durable; nobody needs to retrieve it from the future
        if on_durable is not None:
            try:
                on_durable(error)
            except Exception:  # one failing callback must not keep the rest of the group from being told
                log.exception("callback after a workflow database commit failed")
