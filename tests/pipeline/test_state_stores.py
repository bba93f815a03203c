"""The output store is whatever the state component says: the same app on Redis and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.docline import run_app, state_component
from tests.support.services import PostgresServer, RedisServer

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "documents"


def _round_trip(tmp_path: Path, state: str) -> None:
    with run_app(tmp_path, state=state, review_confidence_threshold=0.0) as app:
        client = app.client()
        doc_id = client.post(
            "/v1/documents", files={"file": ("inv.pdf", (SAMPLES / "inv-en-text.pdf").read_bytes())}
        ).json()["id"]
        done = app.wait(doc_id)
        assert done["status"] == "completed"
        assert done["document_type"] == "invoice"
        listed = client.get("/v1/documents", params={"status": "completed"}).json()["items"]
        assert [d["id"] for d in listed] == [doc_id]
        assert (
            client.post(
                "/v1/documents", files={"file": ("again.pdf", (SAMPLES / "inv-en-text.pdf").read_bytes())}
            ).status_code
            == 200
        )


@pytest.mark.slow
def test_redis_state_store(tmp_path: Path, redis_server: RedisServer) -> None:
    _round_trip(tmp_path, state_component("state.redis", redisHost=redis_server.address, redisPassword=""))


@pytest.mark.slow
def test_postgresql_state_store(tmp_path: Path, postgres_server: PostgresServer) -> None:
    table = f"docline_{tmp_path.name.replace('-', '_')}"[:60]
    _round_trip(tmp_path, state_component("state.postgresql", connectionString=postgres_server.dsn, tableName=table))
