"""``state.postgresql``: the table layout of Dapr's PostgreSQL state store (v1), etag = the row's ``xmin``."""

from __future__ import annotations

import base64
import json
from typing import Any

from psycopg import sql
from psycopg.errors import UniqueViolation
from psycopg_pool import AsyncConnectionPool

from dapr_components.duration import parse_duration
from dapr_components.spec import Component
from sidecar.components.errors import ComponentConfigError, ETagInvalidError, ETagMismatchError
from sidecar.components.state import StateEntry, StateOperation, StateStore, is_json

_LIVE = "(expiredate IS NULL OR expiredate > now())"


class PostgreSQLStateStore(StateStore):
    def __init__(self, component: Component) -> None:
        conn = component.value("connectionString")
        if not conn:
            raise ComponentConfigError(f"state.postgresql {component.name}: metadata connectionString is required")
        self._conn_str = conn
        table = component.value("tableName", "state") or "state"
        self._table = sql.Identifier(*table.split(".", 1))
        self._timeout = parse_duration(component.value("timeout", "20s") or "20s", field="timeout")
        self._pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            conn, min_size=1, max_size=4, open=False, timeout=self._timeout
        )

    async def init(self) -> None:
        await self._pool.open(wait=True, timeout=self._timeout)
        async with self._pool.connection() as conn:
            await conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (key text NOT NULL PRIMARY KEY, value jsonb NOT NULL, "
                    "isbinary boolean NOT NULL, insertdate TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(), "
                    "updatedate TIMESTAMP WITH TIME ZONE NULL, expiredate TIMESTAMP WITH TIME ZONE NULL)"
                ).format(self._table)
            )

    async def get(self, key: str) -> StateEntry | None:
        return (await self.bulk_get([key]))[0]

    async def bulk_get(self, keys: list[str]) -> list[StateEntry | None]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                sql.SQL("SELECT key, value, isbinary, xmin::text FROM {} WHERE key = ANY(%s) AND " + _LIVE).format(
                    self._table
                ),
                (keys,),
            )
            rows = await cur.fetchall()
        found: dict[str, StateEntry] = {}
        for key, value, is_binary, xmin in rows:
            data = base64.b64decode(value) if is_binary else json.dumps(value, ensure_ascii=False).encode("utf-8")
            found[key] = StateEntry(key=key, value=data, etag=xmin)
        return [found.get(key) for key in keys]

    async def transact(self, ops: list[StateOperation]) -> None:
        async with self._pool.connection() as conn, conn.transaction():
            for op in ops:
                await self._apply(conn, op)

    async def _apply(self, conn: Any, op: StateOperation) -> None:
        if op.etag and not op.etag.isdigit():
            raise ETagInvalidError(f"etag {op.etag!r} is not a PostgreSQL row version")
        t = self._table
        if op.kind == "delete":
            if op.etag:
                cur = await conn.execute(
                    sql.SQL("DELETE FROM {} WHERE key = %s AND xmin = %s::text::xid AND " + _LIVE).format(t),
                    (op.key, op.etag),
                )
                if cur.rowcount == 0:
                    raise ETagMismatchError(f"possible etag mismatch deleting key {op.key!r}")
            else:
                await conn.execute(sql.SQL("DELETE FROM {} WHERE key = %s").format(t), (op.key,))
            return
        binary = not is_json(op.value)
        value = json.dumps(base64.b64encode(op.value).decode("ascii")) if binary else op.value.decode("utf-8")
        ttl = op.ttl_seconds if op.ttl_seconds and op.ttl_seconds > 0 else None
        expires = "now() + make_interval(secs => %s)" if ttl else "NULL"
        params: tuple[Any, ...] = (op.key, value, binary, *((ttl,) if ttl else ()))
        if op.etag:
            cur = await conn.execute(
                sql.SQL(
                    "UPDATE {} SET value = %s::jsonb, isbinary = %s, updatedate = now(), expiredate = "
                    + expires
                    + " WHERE key = %s AND xmin = %s::text::xid AND "
                    + _LIVE
                ).format(t),
                (value, binary, *((ttl,) if ttl else ()), op.key, op.etag),
            )
            if cur.rowcount == 0:
                raise ETagMismatchError(f"possible etag mismatch saving key {op.key!r}")
            return
        if op.first_write:
            await conn.execute(sql.SQL("DELETE FROM {} WHERE key = %s AND NOT " + _LIVE).format(t), (op.key,))
            try:
                async with conn.transaction():
                    await conn.execute(
                        sql.SQL(
                            "INSERT INTO {} (key, value, isbinary, expiredate) VALUES (%s, %s::jsonb, %s, "
                            + expires
                            + ")"
                        ).format(t),
                        params,
                    )
            except UniqueViolation as exc:
                raise ETagMismatchError(f"first-write: key {op.key!r} already exists") from exc
            return
        await conn.execute(
            sql.SQL(
                "INSERT INTO {} (key, value, isbinary, expiredate) VALUES (%s, %s::jsonb, %s, "
                + expires
                + ") ON CONFLICT (key) DO UPDATE SET value = excluded.value, isbinary = excluded.isbinary, "
                "updatedate = now(), expiredate = excluded.expiredate"
            ).format(t),
            params,
        )

    async def close(self) -> None:
        await self._pool.close()
