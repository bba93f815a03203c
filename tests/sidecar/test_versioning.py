"""Workflow versioning through the engine: named versions (``register_versioned_workflow``) and patches
(``ctx.is_patched``), as the Dapr SDK uses them. The engine records the version and patches a worker reports for a
turn on that turn's ``OrchestratorStarted`` event, so every later replay takes the same path."""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from typing import Any

import dapr.ext.workflow as wf
import pytest
from dapr.ext.workflow import WorkflowStatus

from tests.support.sidecar import Workers, wait_for_custom_status

pytestmark = pytest.mark.timeout(60)

WAIT = 30


def _output(state: Any) -> Any:
    assert state is not None
    assert state.runtime_status == WorkflowStatus.COMPLETED, state
    return json.loads(state.serialized_output)


def _started(client: wf.DaprWorkflowClient, workflow: str, iid: str) -> str:
    """``workflow`` started as ``iid``, once it has run its first turn."""
    client.schedule_new_workflow(workflow, instance_id=iid)
    wait_for_custom_status(client, iid, WAIT)
    return iid


def _released(client: wf.DaprWorkflowClient, iid: str) -> Any:
    """The output of a waiting instance once it is sent the event it waits for."""
    client.raise_workflow_event(iid, "go")
    return _output(client.wait_for_workflow_completion(iid, timeout_in_seconds=WAIT))


def _with_steps(rt: wf.WorkflowRuntime) -> wf.WorkflowRuntime:
    """``rt`` with the activities ``original`` and ``patched`` (fresh functions: the SDK marks what it registered)."""

    def original(ctx: wf.WorkflowActivityContext, label: str) -> str:
        return f"original {label}"

    def patched(ctx: wf.WorkflowActivityContext, label: str) -> str:
        return f"patched {label}"

    rt.register_activity(original, name="original")
    rt.register_activity(patched, name="patched")
    return rt


def test_a_patch_taken_once_is_taken_on_every_replay(workers: Workers) -> None:
    """A new instance takes the patched branch; replaying later turns must take it again, or the replay would
    schedule the old activity and the instance would fail as non-deterministic."""
    rt = _with_steps(workers.runtime())

    def flow(ctx: wf.DaprWorkflowContext, _: Any) -> Generator[Any, Any, Any]:
        first = yield ctx.call_activity("patched" if ctx.is_patched("new-step") else "original", input="1")
        second = yield ctx.call_activity("patched" if ctx.is_patched("new-step") else "original", input="2")
        return [first, second]

    rt.register_workflow(flow)
    rt.start()
    client = workers.client()
    iid = client.schedule_new_workflow(flow, instance_id="patched-1")
    assert _output(client.wait_for_workflow_completion(iid, timeout_in_seconds=WAIT)) == ["patched 1", "patched 2"]


def test_an_instance_started_before_a_patch_keeps_the_original_path(workers: Workers) -> None:
    """Deploying patched code while an instance waits: it replays its history with the original branch, a new
    instance takes the patch."""
    old = _with_steps(workers.runtime())

    def before(ctx: wf.DaprWorkflowContext, _: Any) -> Generator[Any, Any, Any]:
        ctx.set_custom_status("waiting")
        first = yield ctx.call_activity("original", input="1")
        yield ctx.wait_for_external_event("go")
        return first

    old.register_workflow(before, name="flow")
    old.start()
    client = workers.client()
    iid = _started(client, "flow", "before-patch")
    old.shutdown()

    new = _with_steps(workers.runtime())

    def after(ctx: wf.DaprWorkflowContext, _: Any) -> Generator[Any, Any, Any]:
        ctx.set_custom_status("waiting")
        first = yield ctx.call_activity("patched" if ctx.is_patched("new-step") else "original", input="1")
        yield ctx.wait_for_external_event("go")
        return first

    new.register_workflow(after, name="flow")
    new.start()
    assert _released(client, iid) == "original 1"
    assert _released(client, _started(client, "flow", "after-patch")) == "patched 1"


def test_an_instance_keeps_the_named_version_it_started_with(workers: Workers) -> None:
    """A worker that registers v1 and v2 (latest) finishes a v1 instance with v1 and starts new ones with v2."""

    def version(activity: str, label: str) -> Callable[[wf.DaprWorkflowContext, Any], Generator[Any, Any, Any]]:
        """A fresh workflow function (the SDK marks what it registered) that waits, then calls ``activity``."""

        def flow(ctx: wf.DaprWorkflowContext, _: Any) -> Generator[Any, Any, Any]:
            ctx.set_custom_status("waiting")
            yield ctx.wait_for_external_event("go")
            result = yield ctx.call_activity(activity, input=label)
            return result

        return flow

    old = _with_steps(workers.runtime())
    old.register_versioned_workflow(version("original", "v1"), name="versioned", version_name="v1", is_latest=True)
    old.start()
    client = workers.client()
    iid = _started(client, "versioned", "started-on-v1")
    old.shutdown()

    new = _with_steps(workers.runtime())
    new.register_versioned_workflow(version("original", "v1"), name="versioned", version_name="v1", is_latest=False)
    new.register_versioned_workflow(version("patched", "v2"), name="versioned", version_name="v2", is_latest=True)
    new.start()
    assert _released(client, iid) == "original v1"
    assert _released(client, _started(client, "versioned", "started-on-v2")) == "patched v2"
