"""Layout memories through the whole application: a reviewer's correction teaches the sender's layout, the next
document of that layout is read right without a review, on another replica too (two ``docline serve`` on one
sidecar share the memory through the state store); reviews count hits; ``/v1/layouts`` lists and forgets memories;
deleting the document that taught a memory takes it back."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sidecar.server import RunningSidecar, SidecarSettings, run_sidecar
from tests.support.docline import ServeProcess, run_app, wait_for, write_components
from tests.support.pdfs import text_pdf

ENDED = ("needs_review", "completed", "rejected", "failed")


def invoice(number: str, day: str, buyer: str, amounts: tuple[str, str, str], *, down: int = 0) -> bytes:
    """A born-digital invoice of one sender, in words the invoice type does not know (Vorgang, vom, Zahlbetrag)."""
    net, tax, total = amounts
    lines = [
        *[""] * down,
        "Optik Sonnenschein GmbH",
        "Hauptstrasse 5, 10115 Berlin",
        "St.Nr DE136695976",
        "",
        f"Beleg                          Vorgang    {number}",
        f"Kunde {buyer:<25}vom        {day}",
        "",
        "Pos  Beschreibung       Menge        Betrag",
        f"1    Fassung            1    {net:>14}",
        "",
        f"                         Warenwert  {net:>14}",
        f"                         Steuer     {tax:>14}",
        f"                         Zahlbetrag {total:>14} EUR",
        "",
        "Konto DE89 3704 0044 0532 0130 00",
    ]
    return text_pdf(lines, font="Courier", font_size=10)


FIRST = invoice("A-2024-0042", "03.04.2024", "Brillenhaus Schmidt", ("1.234,56", "234,57", "1.469,13"))
CORRECTIONS = {
    "invoice_number": "A-2024-0042",
    "issue_date": "2024-04-03",
    "net_amount": 1234.56,
    "tax_amount": 234.57,
    "total_amount": 1469.13,
}
SECOND = invoice("A-2024-117", "11.05.2024", "Augenwerk Nord", ("539,56", "102,52", "642,08"), down=3)
SECOND_DATA = {
    "invoice_number": "A-2024-117",
    "issue_date": "2024-05-11",
    "net_amount": 539.56,
    "tax_amount": 102.52,
    "total_amount": 642.08,
}


def submit(client: httpx.Client, name: str, data: bytes) -> str:
    response = client.post("/v1/documents", files={"file": (name, data)}, data={"type": "invoice"})
    assert response.status_code in (200, 202), response.text
    return str(response.json()["id"])


def review_first(client: httpx.Client) -> str:
    """The first document goes to review (its number, date and amounts are not found); a reviewer corrects it."""
    first = submit(client, "first.pdf", FIRST)
    waiting = wait_for(client, first, ENDED)
    assert waiting["status"] == "needs_review"
    assert waiting["data"].get("invoice_number") != "A-2024-0042"
    decided = client.post(f"/v1/documents/{first}/review", json={"decision": "approve", "corrections": CORRECTIONS})
    assert decided.status_code == 202, decided.text
    assert wait_for(client, first)["status"] == "completed"
    return first


def layouts_when(client: httpx.Client, ready: Callable[[list[dict[str, Any]]], bool]) -> list[dict[str, Any]]:
    """The memories once ``ready`` says so: learning is an activity after the review, so it may come a moment later."""
    deadline = time.monotonic() + 20
    while True:
        items: list[dict[str, Any]] = client.get("/v1/layouts").json()["items"]
        if ready(items) or time.monotonic() > deadline:
            return items
        time.sleep(0.1)


@pytest.fixture
def shared_sidecar(tmp_path: Path) -> Iterator[RunningSidecar]:
    """One sidecar (SQLite state store, local blob folders) for several app replicas."""
    components = write_components(tmp_path / "shared")
    settings = SidecarSettings(
        grpc_port=0, http_port=0, resources_path=components, data_dir=tmp_path / "shared" / "sidecar"
    )
    with run_sidecar(settings) as running:
        yield running


def test_two_replicas_share_a_memory_and_deletion_takes_it_back(tmp_path: Path, shared_sidecar: RunningSidecar) -> None:
    env = {
        "DAPR_GRPC_ENDPOINT": shared_sidecar.grpc_endpoint,
        "DAPR_HTTP_ENDPOINT": shared_sidecar.http_endpoint,
        "DOCLINE_OFFLINE": "true",
    }
    replicas = [ServeProcess(tmp_path / name, env=env) for name in ("a", "b")]
    try:
        for replica in replicas:
            replica.start()
        a, b = (replica.client() for replica in replicas)
        first = review_first(a)

        # Replica b sees what a's review taught: the sender and the fields, learned from the first document.
        (memory,) = layouts_when(b, bool)
        assert memory["document_type"] == "invoice"
        assert memory["current"] is True
        assert memory["documents"] == [first]
        assert memory["sender"]["seller.vat_id"] == "DE136695976"
        assert {"invoice_number", "issue_date", "total_amount"} <= set(memory["fields"])
        assert "Brillenhaus" not in str(memory)  # the buyer is no sender: never kept

        # The next document of that layout, sent to b, is read the learned way and needs no review.
        second = submit(b, "second.pdf", SECOND)
        done = wait_for(b, second, ENDED)
        assert done["status"] == "completed", done["validation"]
        assert {path: done["data"][path] for path in SECOND_DATA} == SECOND_DATA
        assert done["fields"]["invoice_number"]["layout"] == memory["id"]

        # Deleting the document that taught it takes the memory back, for every replica.
        assert b.delete(f"/v1/documents/{first}").status_code == 204
        assert a.get("/v1/layouts").json()["items"] == []
        assert a.delete(f"/v1/layouts/{memory['id']}").status_code == 404
        assert a.delete("/v1/layouts/not-a-layout").status_code == 404
    finally:
        for replica in replicas:
            replica.stop()


def test_reviews_count_hits_and_a_forgotten_memory_is_no_longer_used(tmp_path: Path) -> None:
    # Threshold 1.0: every document goes to a person, so the second one's review judges the memory.
    with run_app(tmp_path, offline=True, review_confidence_threshold=1.0) as app:
        client = app.client()
        review_first(client)
        (memory,) = layouts_when(client, bool)
        second = submit(client, "second.pdf", SECOND)
        waiting = wait_for(client, second, ENDED)
        assert waiting["status"] == "needs_review"
        assert {path: waiting["data"][path] for path in SECOND_DATA} == SECOND_DATA
        from_memory = {path for path, field in waiting["fields"].items() if field["layout"] == memory["id"]}
        assert set(SECOND_DATA) <= from_memory
        # The reviewer approves as read: a hit, and a second lesson.
        assert client.post(f"/v1/documents/{second}/review", json={"decision": "approve"}).status_code == 202
        wait_for(client, second)
        (judged,) = layouts_when(client, lambda items: bool(items and items[0]["hits"]))
        assert (judged["hits"], judged["misses"], judged["hit_rate"]) == (1, 0, 1.0)
        assert len(judged["documents"]) == 2

        assert client.delete(f"/v1/layouts/{memory['id']}").status_code == 204
        assert client.get("/v1/layouts").json()["items"] == []
        third = submit(client, "third.pdf", invoice("A-2024-5", "01.06.2024", "Nord", ("10,00", "1,90", "11,90")))
        read = wait_for(client, third, ENDED)
        assert all(field["layout"] is None for field in read["fields"].values())
        assert read["data"].get("invoice_number") != "A-2024-5"
