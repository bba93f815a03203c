"""The engine's SQLite store: WAL, schema versioning, group commits that keep submission order."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from sidecar.store import SCHEMA_VERSION, Store, StoreError


def test_new_database_is_wal_and_versioned(tmp_path: Path) -> None:
    store = Store(tmp_path / "wf.db")
    assert store.query("PRAGMA journal_mode")[0][0] == "wal"
    assert store.query("SELECT max(version) FROM schema_version")[0][0] == SCHEMA_VERSION
    store.close()
    again = Store(tmp_path / "wf.db")  # reopening migrates nothing
    assert again.query("SELECT count(*) FROM schema_version")[0][0] == 1
    again.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    Store(tmp_path / "wf.db").close()
    with sqlite3.connect(tmp_path / "wf.db") as conn:
        conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION + 1,))
    with pytest.raises(StoreError, match="newer than this sidecar"):
        Store(tmp_path / "wf.db")


def test_unusable_path_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(StoreError):
        Store(tmp_path / "file" / "wf.db")


def test_group_commits_keep_order_and_report_failures(tmp_path: Path) -> None:
    async def run() -> tuple[list[int], Store]:
        store = Store(tmp_path / "wf.db")
        futs = [
            store.submit([("INSERT INTO inbox (id, instance_id, visible_at, event) VALUES (?, 'i', 0, x'')", (n,))])
            for n in range(1, 51)
        ]
        lazy = store.submit([("DELETE FROM inbox WHERE id = ?", (1,))], lazy=True)
        await asyncio.gather(*futs)
        await store.submit([])  # a barrier also flushes the lazy delete queued before it
        assert lazy.done()
        bad = store.submit([("INSERT INTO inbox (id, instance_id, visible_at, event) VALUES (2, 'i', 0, x'')", ())])
        with pytest.raises(StoreError):
            await bad
        rows = [r[0] for r in store.query("SELECT id FROM inbox ORDER BY id")]
        await store.aclose()
        return rows, store

    rows, store = asyncio.run(run())
    assert rows == list(range(2, 51))
    assert store.commits < 50  # concurrent submissions shared commits


def test_on_durable_callbacks_run_after_the_commit_and_survive_each_other(tmp_path: Path) -> None:
    seen: list[object] = []

    async def run() -> None:
        store = Store(tmp_path / "wf.db")
        insert = "INSERT INTO inbox (id, instance_id, visible_at, event) VALUES (?, 'i', 0, x'')"

        def boom(error: StoreError | None) -> None:
            raise RuntimeError("a broken callback")

        def durable(error: StoreError | None) -> None:
            # the row is committed by the time we are told: the reader connection sees it
            seen.append((error, store.query("SELECT count(*) FROM inbox")[0][0]))

        store.submit([(insert, (1,))], on_durable=boom)
        await store.submit([(insert, (2,))], on_durable=durable)
        failed = store.submit([(insert, (2,))], on_durable=lambda error: seen.append(type(error)))
        with pytest.raises(StoreError):
            await failed
        await store.aclose()

    asyncio.run(run())
    assert seen == [(None, 2), StoreError]


def test_nothing_is_committed_after_a_failed_group(tmp_path: Path) -> None:
    """A later group would build on changes the disk never got: after one failure every commit is refused (the
    engine stops; a restart recovers from what is durable)."""

    async def run() -> list[int]:
        store = Store(tmp_path / "wf.db")
        insert = "INSERT INTO inbox (id, instance_id, visible_at, event) VALUES (?, 'i', 0, x'')"
        await store.submit([(insert, (1,))])
        with pytest.raises(StoreError):
            await store.submit([(insert, (1,))])  # the same row again: this group fails
        with pytest.raises(StoreError, match="write failed"):
            await store.submit([(insert, (2,))])  # well-formed, and refused all the same
        with pytest.raises(StoreError):
            await store.submit([])  # a barrier cannot promise durability either
        await store.aclose()
        return [r[0] for r in Store(tmp_path / "wf.db").query("SELECT id FROM inbox")]

    assert asyncio.run(run()) == [1]
