"""``state.sqlite``: the embedded default state store, in the same table layout as Dapr's SQLite component.

sqlite3 is blocking, so every statement runs on one dedicated thread (which also serialises writers).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import sqlite3
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from dapr_components.duration import parse_duration
from dapr_components.spec import Component
from sidecar.components.errors import ComponentConfigError, ETagMismatchError
from sidecar.components.state import StateEntry, StateOperation, StateStore, is_json

T = TypeVar("T")
CHECKPOINT_SECONDS = 1.0
log = logging.getLogger(__name__)

_IDENT_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def _identifier(name: str, field: str) -> str:
    if not name or not set(name) <= _IDENT_OK:
        raise ComponentConfigError(f"{field} must be letters, digits and underscores, got {name!r}")
    return name


class SQLiteStateStore(StateStore):
    def __init__(self, component: Component) -> None:
        conn = component.value("connectionString")
        if not conn:
            raise ComponentConfigError(f"state.sqlite {component.name}: metadata connectionString is required")
        self._conn_str = conn
        self._table = _identifier(component.value("tableName", "state") or "state", "tableName")
        self._busy_timeout = parse_duration(component.value("busyTimeout", "2s") or "2s", field="busyTimeout")
        self._wal = (component.value("disableWAL", "false") or "false").lower() != "true"
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sqlite-{component.name}")
        self._db: sqlite3.Connection | None = None
        self._checkpoint_due: asyncio.TimerHandle | asyncio.Task[Any] | None = None
        self._last_checkpoint = -CHECKPOINT_SECONDS

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _open(self) -> None:
        uri = self._conn_str.startswith("file:")
        if not uri and self._conn_str != ":memory:":
            Path(self._conn_str).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self._conn_str, uri=uri, timeout=self._busy_timeout, isolation_level=None)
        if self._wal:
            db.execute("PRAGMA journal_mode=WAL")
        # A deleted or overwritten value is zeroed, not left in the file's free space (erasure means gone).
        db.execute("PRAGMA secure_delete=ON")
        db.execute(
            f"CREATE TABLE IF NOT EXISTS {self._table} ("
            "key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL, is_binary BOOLEAN NOT NULL, etag TEXT NOT NULL, "
            "expiration_time TIMESTAMP DEFAULT NULL, update_time TIMESTAMP DEFAULT NULL)"
        )
        self._db = db

    async def init(self) -> None:
        await self._run(self._open)

    @property
    def _conn(self) -> sqlite3.Connection:
        assert self._db is not None, "init() not called"
        return self._db

    def _get(self, key: str) -> StateEntry | None:
        row = self._conn.execute(
            f"SELECT value, is_binary, etag FROM {self._table} WHERE key = ? "
            "AND (expiration_time IS NULL OR expiration_time > CURRENT_TIMESTAMP)",
            (key,),
        ).fetchone()
        if row is None:
            return None
        value, is_binary, etag = row
        data = base64.b64decode(value) if is_binary else str(value).encode("utf-8")
        return StateEntry(key=key, value=data, etag=etag)

    async def get(self, key: str) -> StateEntry | None:
        result: StateEntry | None = await self._run(self._get, key)
        return result

    def _bulk_get(self, keys: list[str]) -> list[StateEntry | None]:
        return [self._get(key) for key in keys]

    async def bulk_get(self, keys: list[str]) -> list[StateEntry | None]:
        result: list[StateEntry | None] = await self._run(self._bulk_get, keys)
        return result

    def _apply(self, op: StateOperation) -> None:
        db, table = self._conn, self._table
        live = "(expiration_time IS NULL OR expiration_time > CURRENT_TIMESTAMP)"
        if op.kind == "delete":
            if op.etag:
                cur = db.execute(f"DELETE FROM {table} WHERE key = ? AND etag = ? AND {live}", (op.key, op.etag))
                if cur.rowcount == 0:
                    raise ETagMismatchError(f"possible etag mismatch deleting key {op.key!r}")
            else:
                db.execute(f"DELETE FROM {table} WHERE key = ?", (op.key,))
            return
        binary = not is_json(op.value)
        text = base64.b64encode(op.value).decode("ascii") if binary else op.value.decode("utf-8")
        etag = str(uuid.uuid4())
        expires = (
            f"datetime(CURRENT_TIMESTAMP, '+{op.ttl_seconds} seconds')"
            if op.ttl_seconds and op.ttl_seconds > 0
            else "NULL"
        )
        if op.etag:
            cur = db.execute(
                f"UPDATE {table} SET value = ?, is_binary = ?, etag = ?, update_time = CURRENT_TIMESTAMP, "
                f"expiration_time = {expires} WHERE key = ? AND etag = ? AND {live}",
                (text, binary, etag, op.key, op.etag),
            )
            if cur.rowcount == 0:
                raise ETagMismatchError(f"possible etag mismatch saving key {op.key!r}")
            return
        if op.first_write:
            # An expired row does not count as existing.
            db.execute(f"DELETE FROM {table} WHERE key = ? AND NOT {live}", (op.key,))
            try:
                db.execute(
                    f"INSERT INTO {table} (key, value, is_binary, etag, update_time, expiration_time) "
                    f"VALUES (?, ?, ?, ?, CURRENT_TIMESTAMP, {expires})",
                    (op.key, text, binary, etag),
                )
            except sqlite3.IntegrityError as exc:
                raise ETagMismatchError(f"first-write: key {op.key!r} already exists") from exc
            return
        db.execute(
            f"INSERT INTO {table} (key, value, is_binary, etag, update_time, expiration_time) "
            f"VALUES (?, ?, ?, ?, CURRENT_TIMESTAMP, {expires}) ON CONFLICT (key) DO UPDATE SET "
            "value = excluded.value, is_binary = excluded.is_binary, etag = excluded.etag, "
            "update_time = excluded.update_time, expiration_time = excluded.expiration_time",
            (op.key, text, binary, etag),
        )

    def _transact(self, ops: list[StateOperation]) -> None:
        db = self._conn
        db.execute("BEGIN IMMEDIATE")
        try:
            for op in ops:
                self._apply(op)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    async def transact(self, ops: list[StateOperation]) -> None:
        await self._run(self._transact, ops)
        if self._wal and any(op.kind == "delete" for op in ops):
            self._empty_log_soon()

    def _empty_log_soon(self) -> None:
        """Older versions of a deleted value stay in the write-ahead log until it is emptied: do that shortly after
        a delete (at most once per CHECKPOINT_SECONDS, so frequent deletes share one)."""
        if self._checkpoint_due is not None:
            return
        loop = asyncio.get_running_loop()
        delay = max(0.0, self._last_checkpoint + CHECKPOINT_SECONDS - loop.time())

        async def checkpoint() -> None:
            try:
                await self._run(self._checkpoint)
            except sqlite3.Error:
                log.warning("state.sqlite: the write-ahead log could not be emptied", exc_info=True)
            finally:
                self._checkpoint_due = None
                self._last_checkpoint = loop.time()

        def start() -> None:
            self._checkpoint_due = loop.create_task(checkpoint())

        self._checkpoint_due = loop.call_later(delay, start)

    def _checkpoint(self) -> None:
        if self._db is not None:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    async def close(self) -> None:
        due, self._checkpoint_due = self._checkpoint_due, None
        if due is not None:
            due.cancel()
        await self._run(self._close)
        self._executor.shutdown(wait=True)
