"""The document workflow's durable identity: instances record the workflow version they started on."""

from __future__ import annotations

from pathlib import Path

import grpc
from dapr.ext.workflow._durabletask.internal import orchestrator_service_pb2_grpc as pbg
from dapr.ext.workflow._durabletask.internal import protos as pb

from pipeline.workflow import WORKFLOW_VERSION, workflow_id
from tests.support.docline import App

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
