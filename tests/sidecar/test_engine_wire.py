"""Work items the engine assembles from encoded parts are the bytes protobuf itself would produce."""

from __future__ import annotations

import pytest
from dapr.ext.workflow._durabletask.internal import protos as pb
from google.protobuf import wrappers_pb2

from sidecar.engine import HEALTH_PING_ITEM, encode_activity_item, encode_workflow_item


def _events(n: int, payload: str) -> list[pb.HistoryEvent]:
    return [
        pb.HistoryEvent(
            eventId=i,
            taskCompleted=pb.TaskCompletedEvent(
                taskScheduledId=i, result=wrappers_pb2.StringValue(value=payload * (i + 1))
            ),
        )
        for i in range(n)
    ]


@pytest.mark.parametrize("cached", [None, 0, 1, 3, 300])
@pytest.mark.parametrize("payload", ["", "x", "Grüße 眼镜 " * 40])
def test_workflow_item_matches_protobuf(cached: int | None, payload: str) -> None:
    past, new = _events(3, payload), _events(2, payload + "!")
    reference = pb.WorkflowRequest(
        instanceId=f"order-{payload[:5]}", executionId=wrappers_pb2.StringValue(value="e1"), newEvents=new
    )
    reference.pastEvents.extend(past)
    if cached is not None:
        reference.cachedHistory.eventCount = cached
    expected = pb.WorkItem(workflowRequest=reference, completionToken="boot:o7")

    encoded = encode_workflow_item(
        reference.instanceId,
        "e1",
        [e.SerializeToString() for e in past],
        [e.SerializeToString() for e in new],
        cached,
        "boot:o7",
    )

    assert encoded == expected.SerializeToString()
    parsed = pb.WorkItem.FromString(encoded)
    assert parsed == expected
    assert parsed.workflowRequest.HasField("cachedHistory") == (cached is not None)


@pytest.mark.parametrize("size", [0, 1, 127, 128, 20_000])
def test_activity_item_matches_protobuf(size: int) -> None:
    request = pb.ActivityRequest(
        name="step",
        taskId=5,
        input=wrappers_pb2.StringValue(value="v" * size),
        workflowInstance=pb.WorkflowInstance(instanceId="i", executionId=wrappers_pb2.StringValue(value="e")),
    )
    expected = pb.WorkItem(activityRequest=request, completionToken="boot:12")
    assert encode_activity_item(request.SerializeToString(), "boot:12") == expected.SerializeToString()


def test_health_ping_item() -> None:
    assert pb.WorkItem.FromString(HEALTH_PING_ITEM).HasField("healthPing")
