"""The document index (``pipeline.index``) through a real sidecar's SQLite state store: listing by status and time
a page at a time, exact counts per status from counters, several writers at once, and the move from the single
index key of earlier releases."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dapr.clients import DaprClient

from pipeline.index import SHARDS, Entry, bucket_key, shard_of, slot_of
from pipeline.models import Source, StoredDocument
from pipeline.settings import Settings
from pipeline.store import LEGACY_INDEX_KEY, Listed, ResultStore
from tests.support.components import StartSidecar

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _state(root: Path) -> str:
    return (
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: docline-state\nspec:\n"
        f'  type: state.sqlite\n  version: v1\n  metadata:\n    - name: connectionString\n      value: "{root}/s.db"\n'
        "---\napiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: docline-outbox\nspec:\n"
        f'  type: bindings.localstorage\n  version: v1\n  metadata:\n    - name: rootPath\n      value: "{root}/out"\n'
    )


@pytest.fixture
def dapr(tmp_path: Path, component_sidecar: StartSidecar) -> Any:
    component_sidecar(_state(tmp_path))
    with DaprClient() as client:
        yield client


def _doc(n: int, status: str = "queued", seconds: float = 0.0, type_: str | None = None) -> StoredDocument:
    doc_id = hashlib.sha256(str(n).encode()).hexdigest()[:24]  # as document ids are: digests
    created = START + timedelta(seconds=seconds)
    return StoredDocument(
        id=doc_id,
        status=status,  # type: ignore[arg-type]
        document_type=type_,
        source=Source(filename=f"{n}.pdf", sha256="0" * 64),
        created_at=created,
        updated_at=created,
        workflow_id=f"docline-{doc_id}",
        original_key="sha256-" + "0" * 64,
    )


def _all(store: ResultStore, **filters: Any) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        page = store.list(limit=7, cursor=cursor, **filters)
        ids.extend(d.id for d in page.items)
        if not page.next:
            return ids
        cursor = page.next


def test_counts_follow_a_document_through_its_life(dapr: DaprClient) -> None:
    store = ResultStore(dapr, Settings())
    doc = _doc(1)
    store.put(doc, was=None)
    assert store.counts()["queued"] == 1
    for status in ("running", "needs_review", "completed"):
        was = Listed.of(doc)
        doc.status = status  # type: ignore[assignment]
        doc.document_type = "invoice"
        store.put(doc, was=was)
        counts = store.counts()
        assert counts[status] == 1
        assert sum(counts.values()) == 1
        assert [d.id for d in store.list(status=status).items] == [doc.id]
        assert store.list(status="queued").items == []
    store.put(doc, was=Listed.of(doc))  # a retried write that changes nothing changes no count
    store.put(doc)  # nor does one that reads how the record was listed
    assert store.counts()["completed"] == 1
    assert [d.id for d in store.list(type_="invoice").items] == [doc.id]
    assert store.list(type_="prescription").items == []
    store.delete(doc.id)
    assert sum(store.counts().values()) == 0
    assert store.list().items == []


def test_pages_newest_first_by_status_across_slots_and_days(dapr: DaprClient) -> None:
    store = ResultStore(dapr, Settings())
    docs = [_doc(n, "completed" if n % 3 else "failed", seconds=n * 997.0) for n in range(60)]  # ~7 days
    for doc in docs:
        store.put(doc, was=None)
    newest_first = [d.id for d in sorted(docs, key=lambda d: d.created_at or START, reverse=True)]
    assert _all(store) == newest_first
    failed = {d.id for d in docs if d.status == "failed"}
    assert _all(store, status="failed") == [i for i in newest_first if i in failed]
    assert store.counts()["completed"] == 40
    assert store.list(cursor="not a cursor").items == []
    # Retention walks the oldest first and stops at the cutoff.
    cutoff = START + timedelta(seconds=10 * 997.0 + 1)
    assert sorted(store.finished_before(cutoff)) == sorted(d.id for d in docs[:11])


def test_a_status_change_left_half_done_is_never_missing_from_a_list(dapr: DaprClient) -> None:
    """The new entry is written before the record, the old one removed after: a crash in between leaves a stale
    entry, which listing skips by the record, and never a document that no list shows."""
    store = ResultStore(dapr, Settings())
    doc = _doc(7)
    store.put(doc, was=None)
    # The crash's leftover, with the type the document was classified as meanwhile: entries for one document may
    # differ in their type, and merging the statuses' walks must not compare it.
    store.index.add("running", Entry((doc.created_at or START).timestamp(), doc.id, "prescription"))
    assert [d.id for d in store.list().items] == [doc.id]  # listed once, though two entries name it
    assert store.list(status="running").items == []  # the record says queued
    assert [d.id for d in store.list(status="queued").items] == [doc.id]


def test_writers_at_once_keep_exact_counts_and_spread_over_keys(dapr: DaprClient) -> None:
    """Two stores (two replicas) writing 64 documents created in the same ten seconds: every one listed, the counts
    exact, and the writes spread over the shards' keys instead of one."""
    stores = [ResultStore(dapr, Settings()), ResultStore(dapr, Settings())]
    docs = [_doc(n, seconds=n / 10) for n in range(64)]

    def life(i: int) -> None:
        store, doc = stores[i % 2], docs[i]
        store.put(doc, was=None)
        was = Listed.of(doc)
        doc.status = "completed" if i % 4 else "rejected"  # type: ignore[assignment]
        store.put(doc, was=was)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(life, range(64)))
    counts = stores[0].counts()
    assert (counts["completed"], counts["rejected"], counts["queued"]) == (48, 16, 0)
    assert sorted(_all(stores[1])) == sorted(d.id for d in docs)
    shards = Counter(shard_of(d.id) for d in docs)
    assert len(shards) > SHARDS // 2
    slot = slot_of(docs[0].created_at.timestamp())  # type: ignore[union-attr]
    written = [
        k for k in (bucket_key("completed", slot, s) for s in range(SHARDS)) if dapr.get_state("docline-state", k).data
    ]
    assert len(written) > SHARDS // 2


def test_the_single_index_key_of_earlier_releases_is_moved(dapr: DaprClient) -> None:
    store = ResultStore(dapr, Settings())
    docs = [_doc(n, "completed" if n % 2 else "needs_review", seconds=n) for n in range(10)]
    for doc in docs:  # records as an earlier release wrote them: no index entries, no counters
        dapr.save_state("docline-state", f"doc-{doc.id}", doc.model_dump_json())
    dapr.save_state("docline-state", LEGACY_INDEX_KEY, json.dumps([d.id for d in docs]))
    assert store.list().items == []
    assert store.migrate_legacy_index() == 10
    assert store.migrate_legacy_index() == 0  # once
    assert (store.counts()["completed"], store.counts()["needs_review"]) == (5, 5)
    assert _all(store) == [d.id for d in reversed(docs)]


def test_a_type_filter_looks_past_pages_of_other_types(dapr: DaprClient) -> None:
    store = ResultStore(dapr, Settings())
    docs = [_doc(n, "completed", seconds=n, type_="invoice" if n == 0 else "prescription") for n in range(120)]
    for doc in docs:
        store.put(doc, was=None)
    assert [d.id for d in store.list(type_="invoice", limit=5).items] == [docs[0].id]
    assert len(_all(store, type_="prescription")) == 119
