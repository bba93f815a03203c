"""The document workflow's durable identity (instances record the workflow version they started on) and its
review reasons."""

from __future__ import annotations

from pathlib import Path

import grpc
from dapr.ext.workflow._durabletask.internal import orchestrator_service_pb2_grpc as pbg
from dapr.ext.workflow._durabletask.internal import protos as pb

from pipeline.workflow import WORKFLOW_VERSION, workflow_id
from tests.support.docline import App
from tests.support.pdfs import text_pdf

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "documents"


def test_a_document_records_the_workflow_version_it_ran_with(docline_app: App) -> None:
    """So a release with a new version can finish this document with the code it started on."""
    client = docline_app.client()
    resp = client.post("/v1/documents", files={"file": ("rx.pdf", (SAMPLES / "rx-de-text.pdf").read_bytes())})
    doc_id = resp.json()["id"]
    docline_app.wait(doc_id, ("completed", "needs_review"))

    endpoint = docline_app.container.settings.dapr_grpc_endpoint
    with grpc.insecure_channel(endpoint.removeprefix("http://")) as channel:
        history = pbg.TaskHubSidecarServiceStub(channel).GetInstanceHistory(
            pb.GetInstanceHistoryRequest(instanceId=workflow_id(doc_id))
        )
    turns = [e.workflowStarted for e in history.events if e.HasField("workflowStarted")]
    assert len(turns) > 1
    assert turns[0].version.name == WORKFLOW_VERSION


def _invoice(net: str, tax: str = "53,20", total: str = "333,20") -> bytes:
    """A born-digital invoice whose table prints two rows adding up to 280,00, and ``net``, ``tax`` and ``total``
    as its totals."""
    lines = [
        "Optik Mueller GmbH",
        "USt-IdNr.: DE136695976",
        "Rechnung                        Rechnungsnummer: RE-2024-0042",
        "                                Rechnungsdatum: 03.04.2024",
        "",
        "Beschreibung          Menge  Einzelpreis      Betrag",
        "Fassung Titan             1       120,00      120,00",
        "Glaeser entspiegelt       2        80,00      160,00",
        "",
        f"                         Nettobetrag   {net:>13} EUR",
        f"                         MwSt. 19 %    {tax:>13} EUR",
        f"                         Gesamtbetrag  {total:>13} EUR",
    ]
    return text_pdf(lines, font="Courier", font_size=9)


def test_an_incomplete_line_item_table_waits_for_review_and_says_so(docline_app: App) -> None:
    client = docline_app.client()
    # The net the page prints is more than its rows: a row is missing (here: never printed; a reader's miss looks
    # the same). The document is not completed silently.
    short = client.post("/v1/documents", files={"file": ("short.pdf", _invoice("330,00"))}).json()["id"]
    whole = client.post("/v1/documents", files={"file": ("whole.pdf", _invoice("280,00"))}).json()["id"]
    waiting = docline_app.wait(short, ("needs_review", "completed"))
    assert waiting["status"] == "needs_review"
    assert "line_items_incomplete" in waiting["review"]["reasons"]
    assert "line_items_incomplete" in {e["code"] for e in waiting["validation"]["errors"]}
    done = docline_app.wait(whole, ("needs_review", "completed"))
    assert [item["amount"] for item in done["data"]["line_items"]] == [120.0, 160.0]
    assert "line_items_incomplete" not in (done["review"] or {}).get("reasons", [])


def test_items_adding_up_to_more_than_the_totals_wait_for_review_as_line_item_trouble(docline_app: App) -> None:
    """Rows summing past the total (a row misread, or one counted twice) are named as such, not only as a failed
    validation: the reviewer knows to look at the line items."""
    client = docline_app.client()
    over = client.post("/v1/documents", files={"file": ("over.pdf", _invoice("200,00", "38,00", "238,00"))})
    waiting = docline_app.wait(over.json()["id"], ("needs_review", "completed"))
    assert waiting["status"] == "needs_review"
    assert "line_items_mismatch" in {e["code"] for e in waiting["validation"]["errors"]}
    assert "line_items_mismatch" in waiting["review"]["reasons"]
    assert "line_items_incomplete" not in waiting["review"]["reasons"]
