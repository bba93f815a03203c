"""Bundles end to end: a file of several documents is split into parts, each a child workflow of the bundle's with
its own result and review; an unsure split waits for a reviewer; a file of one document runs as it always did.

Real sidecar and engine in this process, the offline extractor, born-digital PDFs (no OCR needed)."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pypdf
import pytest
import zxingcpp
from dapr.ext.workflow._durabletask.internal import orchestrator_service_pb2_grpc as pbg
from dapr.ext.workflow._durabletask.internal import protos as pb
from PIL import Image, ImageDraw, ImageFont

from pipeline.workflow import BUNDLES_PATCH, workflow_id
from tests.support.docline import App, run_app
from tests.support.pdfs import text_pdf_pages

FINAL = ("completed", "failed", "rejected")


def invoice(number: str, seller: str, place: str, counter: str = "", total: str = "285,60") -> list[str]:
    return [
        seller,
        f"Marktplatz 3, {place}",
        "Tel. 040 123456",
        "",
        "Rechnung",
        f"Rechnungsnummer: {number}",
        "Rechnungsdatum: 03.05.2024",
        "Kunde: Brillen Berger KG",
        "",
        "Beschreibung   Menge   Preis   Betrag",
        "Gleitsichtglas   2   120,00   240,00",
        "Nettobetrag   240,00",
        "MwSt 19%   45,60",
        f"Gesamtbetrag   {total}",
        counter,
    ]


def continuation(counter: str = "") -> list[str]:
    return [*(f"Position {i}   1   10,00   10,00" for i in range(1, 12)), counter]


PRESCRIPTION = [
    "Augenarztpraxis Dr. Sabine Hoffmann",
    "Hauptstrasse 12, 10115 Berlin",
    "Tel. 030 765432",
    "",
    "Brillenverordnung",
    "Patient: Lukas Weiss",
    "Geburtsdatum: 16.05.1999",
    "Datum: 14.03.2025",
    "Sph -1,25 Cyl -0,50 Achse 90",
]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    with run_app(tmp_path_factory.mktemp("bundles"), bundles=True, review_confidence_threshold=0.0) as running:
        yield running


def submit(app: App, name: str, pages: list[list[str]]) -> str:
    res = app.client().post("/v1/documents", files={"file": (name, text_pdf_pages(pages), "application/pdf")})
    assert res.status_code == 202, res.text
    return str(res.json()["id"])


def history(app: App, doc_id: str) -> list[Any]:
    endpoint = app.container.settings.dapr_grpc_endpoint
    with grpc.insecure_channel(endpoint.removeprefix("http://")) as channel:
        reply = pbg.TaskHubSidecarServiceStub(channel).GetInstanceHistory(
            pb.GetInstanceHistoryRequest(instanceId=workflow_id(doc_id))
        )
    return list(reply.events)


def with_parts(app: App, doc_id: str, timeout: float = 60) -> dict[str, Any]:
    """The bundle's record once it lists its parts."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        doc: dict[str, Any] = app.client().get(f"/v1/documents/{doc_id}").json()
        if doc["parts"] or doc["status"] in FINAL:
            return doc
        time.sleep(0.2)
    raise AssertionError(f"{doc_id} listed no parts in {timeout}s")


def settle(app: App, doc_id: str, timeout: float = 90) -> dict[str, Any]:
    """The document's final result; one held for review of its fields is approved as it is (its own review)."""
    deadline = time.monotonic() + timeout
    doc = app.wait(doc_id, (*FINAL, "needs_review"))
    # A split decision takes a moment to reach the workflow: until then the record still waits for it.
    while doc["status"] == "needs_review" and "split_unsure" in doc["review"]["reasons"]:
        assert time.monotonic() < deadline, doc
        time.sleep(0.2)
        doc = app.client().get(f"/v1/documents/{doc_id}").json()
    doc = app.wait(doc_id, (*FINAL, "needs_review"))
    if doc["status"] == "needs_review":
        res = app.client().post(f"/v1/documents/{doc_id}/review", json={"decision": "approve"})
        assert res.status_code == 202, res.text
        doc = app.wait(doc_id)
    return doc


def test_a_bundle_becomes_one_child_workflow_per_document(app: App) -> None:
    bundle_id = submit(
        app,
        "stack.pdf",
        [
            invoice("RE-2024-0815", "Optik Nord GmbH", "20095 Hamburg", "Seite 1 von 2"),
            continuation("Seite 2 von 2"),
            PRESCRIPTION,
        ],
    )
    parts = with_parts(app, bundle_id)
    assert [p["pages"] for p in parts["parts"]] == [[1, 2], [3]]
    assert parts["split"]["starts"] == [1, 3]
    assert not parts["split"]["unsure"]

    results = [settle(app, p["id"]) for p in parts["parts"]]
    assert [r["document_type"] for r in results] == ["invoice", "prescription"]
    assert [r["bundle"] for r in results] == [{"id": bundle_id, "pages": [1, 2]}, {"id": bundle_id, "pages": [3]}]
    assert [r["source"]["pages"] for r in results] == [2, 1]
    assert results[0]["source"]["filename"] == "stack (pages 1-2).pdf"
    assert results[0]["data"]["invoice_number"] == "RE-2024-0815"
    assert results[1]["data"]["patient"]["name"] == "Lukas Weiss"
    # A part's field points at its own page 1, whose image is the bundle's page 3.
    assert results[1]["fields"]["patient.name"]["page"] == 1
    png = app.client().get(f"/v1/documents/{results[1]['id']}/pages/1.png")
    assert png.status_code == 200
    assert png.content == app.client().get(f"/v1/documents/{bundle_id}/pages/3.png").content

    bundle = app.wait(bundle_id)
    assert bundle["status"] == "completed"
    assert bundle["data"] is None
    assert bundle["document_type"] is None
    assert [(p["status"], p["document_type"]) for p in bundle["parts"]] == [
        (r["status"], r["document_type"]) for r in results
    ]
    # Each part ran as a child workflow of the bundle's, and no page travelled through history.
    created = [
        e.childWorkflowInstanceCreated for e in history(app, bundle_id) if e.HasField("childWorkflowInstanceCreated")
    ]
    assert [c.instanceId for c in created] == [workflow_id(r["id"]) for r in results]
    started = next(e.executionStarted for e in history(app, results[0]["id"]) if e.HasField("executionStarted"))
    assert started.parentInstance.workflowInstance.instanceId == workflow_id(bundle_id)
    assert len(started.input.value) < 4000, "the part's input holds page keys, not pages"
    # The outbox has a result for the bundle and for each part.
    assert {f"{d}.json" for d in [bundle_id, *(r["id"] for r in results)]} <= {p.name for p in app.outbox.iterdir()}


def test_an_unsure_split_waits_for_a_reviewer_who_moves_the_boundary(app: App) -> None:
    bundle_id = submit(
        app,
        "unsure.pdf",
        [invoice("RE-2024-0901", "Optik Nord GmbH", "20095 Hamburg"), continuation(), continuation()],
    )
    waiting = app.wait(bundle_id, ("needs_review", *FINAL))
    assert waiting["status"] == "needs_review", waiting
    assert waiting["review"]["reasons"] == ["split_unsure"]
    assert waiting["split"]["unsure"]
    assert waiting["split"]["pages"] == 3
    client = app.client()
    bad = client.post(f"/v1/documents/{bundle_id}/review", json={"decision": "approve", "boundaries": [4]})
    assert bad.status_code == 422, bad.text
    fields = client.post(
        f"/v1/documents/{bundle_id}/review", json={"decision": "approve", "corrections": {"invoice_number": "1"}}
    )
    assert fields.status_code == 422, fields.text

    res = client.post(f"/v1/documents/{bundle_id}/review", json={"decision": "approve", "boundaries": [3]})
    assert res.status_code == 202, res.text
    for part in with_parts(app, bundle_id)["parts"]:
        settle(app, part["id"])
    bundle = app.wait(bundle_id)
    assert bundle["status"] == "completed"
    assert [p["pages"] for p in bundle["parts"]] == [[1, 2], [3]]
    assert bundle["review"]["decision"] == "approve"
    assert bundle["review"]["corrections"] == {"boundaries": [3]}
    assert all(p["status"] in FINAL for p in bundle["parts"])


def test_a_reviewer_can_say_the_file_is_one_document(app: App) -> None:
    doc_id = submit(app, "one.pdf", [invoice("RE-2024-0902", "Optik Nord GmbH", "20095 Hamburg"), continuation()])
    assert app.wait(doc_id, ("needs_review", *FINAL))["review"]["reasons"] == ["split_unsure"]
    res = app.client().post(f"/v1/documents/{doc_id}/review", json={"decision": "approve", "boundaries": []})
    assert res.status_code == 202, res.text
    doc = settle(app, doc_id)
    assert doc["status"] == "completed"
    assert doc["parts"] == []
    assert doc["document_type"] == "invoice"
    assert doc["data"]["invoice_number"] == "RE-2024-0902"


def test_a_file_of_one_document_has_no_parts_and_no_child_workflow(app: App) -> None:
    doc_id = submit(
        app,
        "single.pdf",
        [
            invoice("RE-2024-0903", "Optik Nord GmbH", "20095 Hamburg", "Seite 1 von 2"),
            continuation("Seite 2 von 2"),
        ],
    )
    doc = settle(app, doc_id)
    assert doc["status"] == "completed"
    assert doc["document_type"] == "invoice"
    assert doc["parts"] == []
    assert doc["bundle"] is None
    assert doc["split"]["starts"] == [1]
    assert not doc["split"]["unsure"]
    events = history(app, doc_id)
    assert not any(e.HasField("childWorkflowInstanceCreated") for e in events)
    patches = {p for e in events if e.HasField("workflowStarted") for p in e.workflowStarted.version.patches}
    assert BUNDLES_PATCH in patches


def test_bundles_can_be_turned_off(tmp_path: Path) -> None:
    with run_app(tmp_path, bundles=False, review_confidence_threshold=0.0) as off:
        doc_id = submit(off, "stack.pdf", [invoice("RE-1", "Optik Nord GmbH", "20095 Hamburg"), PRESCRIPTION])
        doc = settle(off, doc_id)
        assert doc["parts"] == []
        assert doc["split"] is None
        assert not any(e.HasField("childWorkflowInstanceCreated") for e in history(off, doc_id))


def qr_sheet_pdf(text: str) -> bytes:
    """A scanned separator sheet: an image-only PDF page with a heading and a QR code, more than a blank page's text
    (so it is the barcode that makes it a separator)."""
    symbol = zxingcpp.write_barcode_to_image(zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode), scale=10)
    sheet = Image.new("L", (1240, 1754), 255)
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 56)
    ImageDraw.Draw(sheet).text((200, 250), "SEPARATOR SHEET", font=font, fill=0)
    qr = Image.fromarray(np.asarray(symbol))
    sheet.paste(qr, ((sheet.width - qr.width) // 2, 500))
    out = io.BytesIO()
    sheet.save(out, format="PDF", resolution=150)
    return out.getvalue()


def test_a_barcode_sheet_between_documents_separates_them(app: App) -> None:
    writer = pypdf.PdfWriter()
    for data in (
        text_pdf_pages([invoice("RE-2024-0904", "Optik Nord GmbH", "20095 Hamburg")]),
        qr_sheet_pdf("DOCLINE-SEPARATOR"),
        text_pdf_pages([PRESCRIPTION]),
    ):
        writer.append(pypdf.PdfReader(io.BytesIO(data)))
    out = io.BytesIO()
    writer.write(out)
    res = app.client().post("/v1/documents", files={"file": ("separated.pdf", out.getvalue(), "application/pdf")})
    assert res.status_code == 202, res.text
    bundle = with_parts(app, res.json()["id"])
    assert bundle["split"]["separators"] == [2]
    assert [p["pages"] for p in bundle["parts"]] == [[1], [3]]
    assert "separator_sheet" in bundle["split"]["gaps"][0]["signals"]


def test_a_deleted_part_does_not_fail_its_bundle_and_deleting_the_bundle_takes_its_parts(app: App) -> None:
    client = app.client()
    bundle_id = submit(
        app,
        "deleted.pdf",
        [
            invoice("RE-2024-0905", "Optik Nord GmbH", "20095 Hamburg", "1/1"),
            invoice("A-17", "Brillen Süd AG", "80331 München", "1/1", total="999,00"),  # does not add up: review
        ],
    )
    first, second = (p["id"] for p in with_parts(app, bundle_id)["parts"])
    waiting = app.wait(second, ("needs_review", *FINAL))
    assert waiting["status"] == "needs_review", waiting
    assert client.delete(f"/v1/documents/{second}").status_code == 204  # its workflow ends terminated
    # The part's pages are the bundle's too: erasing the part leaves them (and the original) to the bundle.
    assert client.get(f"/v1/documents/{bundle_id}/pages/2.png").status_code == 200
    assert not [p for p in (app.root / "blobs").iterdir() if p.name.startswith(f"{second}-")]
    settle(app, first)
    bundle = app.wait(bundle_id)
    assert bundle["status"] == "completed"
    assert [p["status"] for p in bundle["parts"]] == ["completed", None]
    assert [p for p in (app.root / "blobs").iterdir() if p.name.startswith(f"{first}-")]
    assert client.delete(f"/v1/documents/{bundle_id}").status_code == 204
    assert client.get(f"/v1/documents/{first}").status_code == 404
    left = [p.name for p in (app.root / "blobs").iterdir() if p.name.startswith((f"{first}-", f"{bundle_id}-"))]
    assert not left, left
