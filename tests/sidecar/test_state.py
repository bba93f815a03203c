"""State API through the Dapr Python SDK against ``docline sidecar``, on SQLite, a real Redis and a real PostgreSQL."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from pathlib import Path

import grpc
import pytest
from dapr.clients import DaprClient
from dapr.clients.exceptions import DaprGrpcError
from dapr.clients.grpc._request import TransactionalStateOperation, TransactionOperationType
from dapr.clients.grpc._state import Concurrency, StateOptions

from tests.support.components import StartSidecar
from tests.support.services import PostgresServer, RedisServer

STORE = "docline-state"


def _component(kind: str, metadata: dict[str, str]) -> str:
    items = "".join(f'    - name: {k}\n      value: "{v}"\n' for k, v in metadata.items())
    return (
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: docline-state\n"
        f"spec:\n  type: {kind}\n  version: v1\n  metadata:\n{items}"
    )


@pytest.fixture(params=["sqlite", "redis", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path, component_sidecar: StartSidecar) -> str:
    """Starts a sidecar whose `docline-state` is the parametrised store; returns the store kind."""
    kind: str = request.param
    if kind == "sqlite":
        yaml_text = _component("state.sqlite", {"connectionString": str(tmp_path / "state.db")})
    elif kind == "redis":
        redis: RedisServer = request.getfixturevalue("redis_server")
        yaml_text = _component("state.redis", {"redisHost": redis.address})
    else:
        pg: PostgresServer = request.getfixturevalue("postgres_server")
        table = f"state_{uuid.uuid4().hex[:8]}"
        yaml_text = _component("state.postgresql", {"connectionString": pg.dsn, "tableName": table})
    component_sidecar(yaml_text)
    return kind


def _key() -> str:
    return f"k-{uuid.uuid4().hex}"


def _code(exc: pytest.ExceptionInfo[DaprGrpcError]) -> grpc.StatusCode:
    code: grpc.StatusCode = exc.value.code()
    return code


def test_save_get_delete_round_trip(store: str) -> None:
    key, binary_key = _key(), _key()
    doc = {"invoice": "INV-7", "total": 12.5, "lines": [1, 2]}
    blob = bytes(range(256))
    with DaprClient() as d:
        assert d.get_state(STORE, key).data == b""
        assert d.get_state(STORE, key).etag == ""
        d.save_state(STORE, key, json.dumps(doc))
        d.save_state(STORE, binary_key, blob)
        got = d.get_state(STORE, key)
        assert json.loads(got.data) == doc
        assert got.etag != ""
        assert d.get_state(STORE, binary_key).data == blob
        d.delete_state(STORE, key)
        assert d.get_state(STORE, key).data == b""
        assert d.get_state(STORE, binary_key).data == blob


def test_etag_concurrency(store: str) -> None:
    key = _key()
    with DaprClient() as d:
        d.save_state(STORE, key, '"v1"')
        etag1 = d.get_state(STORE, key).etag
        d.save_state(STORE, key, '"v2"', etag=etag1)
        etag2 = d.get_state(STORE, key).etag
        assert etag2 != etag1
        with pytest.raises(DaprGrpcError) as stale_write:
            d.save_state(STORE, key, '"v3"', etag=etag1)
        assert _code(stale_write) == grpc.StatusCode.ABORTED
        assert d.get_state(STORE, key).data == b'"v2"'
        with pytest.raises(DaprGrpcError) as stale_delete:
            d.delete_state(STORE, key, etag=etag1)
        assert _code(stale_delete) == grpc.StatusCode.ABORTED
        with pytest.raises(DaprGrpcError) as missing:
            d.save_state(STORE, _key(), '"x"', etag=etag2)
        assert _code(missing) == grpc.StatusCode.ABORTED
        d.delete_state(STORE, key, etag=etag2)
        assert d.get_state(STORE, key).data == b""


def test_first_write_wins(store: str) -> None:
    key = _key()
    first = StateOptions(concurrency=Concurrency.first_write)
    with DaprClient() as d:
        d.save_state(STORE, key, '"first"', options=first)
        with pytest.raises(DaprGrpcError) as second:
            d.save_state(STORE, key, '"second"', options=first)
        assert _code(second) == grpc.StatusCode.ABORTED
        assert d.get_state(STORE, key).data == b'"first"'
        # Last-write (the default) still overwrites.
        d.save_state(STORE, key, '"third"')
        assert d.get_state(STORE, key).data == b'"third"'


def test_bulk_get(store: str) -> None:
    present, absent = _key(), _key()
    with DaprClient() as d:
        d.save_state(STORE, present, '{"a": 1}')
        items = d.get_bulk_state(STORE, keys=[present, absent]).items
    assert [i.key for i in items] == [present, absent]
    assert json.loads(items[0].data) == {"a": 1}
    assert items[0].etag != ""
    assert items[1].data == b""
    assert items[1].etag == ""


def test_transaction_is_atomic(store: str) -> None:
    a, b, c = _key(), _key(), _key()
    with DaprClient() as d:
        d.save_state(STORE, a, '"a0"')
        d.execute_state_transaction(
            STORE,
            [
                TransactionalStateOperation(key=b, data='"b1"'),
                TransactionalStateOperation(key=a, operation_type=TransactionOperationType.delete),
            ],
        )
        assert d.get_state(STORE, a).data == b""
        assert d.get_state(STORE, b).data == b'"b1"'
        stale = d.get_state(STORE, b).etag
        d.save_state(STORE, b, '"b2"')
        with pytest.raises(DaprGrpcError) as failed:
            d.execute_state_transaction(
                STORE,
                [
                    TransactionalStateOperation(key=c, data='"c1"'),
                    TransactionalStateOperation(key=b, data='"b3"', etag=stale),
                ],
            )
        assert _code(failed) == grpc.StatusCode.ABORTED
        # Nothing of the failed transaction was applied.
        assert d.get_state(STORE, c).data == b""
        assert d.get_state(STORE, b).data == b'"b2"'


def test_ttl_expires(store: str) -> None:
    key, keep = _key(), _key()
    with DaprClient() as d:
        d.save_state(STORE, key, '"short"', state_metadata={"ttlInSeconds": "1"})
        d.save_state(STORE, keep, '"long"')
        assert d.get_state(STORE, key).data == b'"short"'
        deadline = time.monotonic() + 10
        while d.get_state(STORE, key).data and time.monotonic() < deadline:
            time.sleep(0.2)
        assert d.get_state(STORE, key).data == b""
        assert d.get_state(STORE, keep).data == b'"long"'


def test_unknown_store_and_bad_key(store: str) -> None:
    with DaprClient() as d:
        with pytest.raises(DaprGrpcError) as unknown:
            d.get_state("no-such-store", "k")
        assert _code(unknown) == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(DaprGrpcError) as bad_key:
            d.save_state(STORE, "a||b", '"x"')
        assert _code(bad_key) == grpc.StatusCode.INVALID_ARGUMENT


def test_redis_rejects_malformed_etag(redis_server: RedisServer, component_sidecar: StartSidecar) -> None:
    component_sidecar(_component("state.redis", {"redisHost": redis_server.address}))
    with DaprClient() as d, pytest.raises(DaprGrpcError) as bad:
        d.save_state(STORE, _key(), '"x"', etag="not-a-version")
    assert _code(bad) == grpc.StatusCode.INVALID_ARGUMENT


def test_sqlite_keys_are_prefixed_like_daprd(tmp_path: Path, component_sidecar: StartSidecar) -> None:
    db = tmp_path / "prefixed.db"
    component_sidecar(_component("state.sqlite", {"connectionString": str(db)}), app_id="myapp")
    with DaprClient() as d:
        d.save_state(STORE, "order-1", '{"n": 1}')
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT key, value, is_binary FROM state").fetchall()
    assert rows == [("myapp||order-1", '{"n": 1}', 0)]


def test_key_prefix_none(tmp_path: Path, component_sidecar: StartSidecar) -> None:
    db = tmp_path / "plain.db"
    component_sidecar(_component("state.sqlite", {"connectionString": str(db), "keyPrefix": "none"}))
    with DaprClient() as d:
        d.save_state(STORE, "a||b", '"ok"')
        assert d.get_state(STORE, "a||b").data == b'"ok"'
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT key FROM state").fetchall() == [("a||b",)]
