"""The review flow: a document waits in needs_review until a person approves (with corrections) or rejects it,
or until the review timeout; all through the REST API and the workflow's external event."""

from __future__ import annotations

from pathlib import Path

from tests.support.docline import run_app

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "documents"


def test_approve_with_corrections_and_reject(tmp_path: Path) -> None:
    # Threshold 1.0: every document is sent to a person.
    with run_app(tmp_path, review_confidence_threshold=1.0) as app:
        client = app.client()
        rx = client.post("/v1/documents", files={"file": ("rx.png", (SAMPLES / "rx-de-clean.png").read_bytes())})
        inv = client.post("/v1/documents", files={"file": ("inv.png", (SAMPLES / "inv-fr-clean.png").read_bytes())})
        rx_id, inv_id = rx.json()["id"], inv.json()["id"]

        waiting = app.wait(rx_id, ("needs_review",))
        assert waiting["document_type"] == "prescription"
        assert waiting["review"]["required"] is True
        assert waiting["review"]["reasons"]
        # The reviewer sees the page and where each field was read.
        page = client.get(f"/v1/documents/{rx_id}/pages/1.png")
        assert page.status_code == 200
        assert page.content.startswith(b"\x89PNG")
        located = [f for f in waiting["fields"].values() if f["bbox"]]
        assert located
        assert all(f["page"] == 1 for f in located)
        queue = client.get("/v1/documents", params={"status": "needs_review"}).json()["items"]
        assert rx_id in {d["id"] for d in queue}

        bad = client.post(
            f"/v1/documents/{rx_id}/review",
            json={"decision": "approve", "corrections": {"patient.name.first": "Lukas"}},
        )
        assert bad.status_code == 422
        resp = client.post(
            f"/v1/documents/{rx_id}/review",
            json={"decision": "approve", "corrections": {"patient.name": "Lukas Weiß"}},
        )
        assert resp.status_code == 202, resp.text
        done = app.wait(rx_id)
        assert done["status"] == "completed"
        assert done["data"]["patient"]["name"] == "Lukas Weiß"
        assert done["fields"]["patient.name"]["value"] == "Lukas Weiß"
        assert done["review"]["decision"] == "approve"
        assert done["review"]["corrections"] == {"patient.name": "Lukas Weiß"}
        # Decided documents take no second decision.
        assert client.post(f"/v1/documents/{rx_id}/review", json={"decision": "reject"}).status_code == 409

        app.wait(inv_id, ("needs_review",))
        assert client.post(f"/v1/documents/{inv_id}/review", json={"decision": "reject"}).status_code == 202
        rejected = app.wait(inv_id)
        assert rejected["status"] == "rejected"
        assert rejected["error"]["code"] == "rejected_by_reviewer"
        assert rejected["review"]["decision"] == "reject"


def test_review_times_out(tmp_path: Path) -> None:
    with run_app(tmp_path, review_confidence_threshold=1.0, review_timeout_seconds=1.0) as app:
        client = app.client()
        doc_id = client.post(
            "/v1/documents", files={"file": ("rx.png", (SAMPLES / "rx-de-clean.png").read_bytes())}
        ).json()["id"]
        done = app.wait(doc_id)
        assert done["status"] == "rejected"
        assert done["error"]["code"] == "review_timeout"
        assert done["review"]["decision"] == "timeout"
