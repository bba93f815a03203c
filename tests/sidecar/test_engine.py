"""The workflow engine, driven by the real Dapr SDK (WorkflowRuntime, DaprWorkflowClient) against a real sidecar."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dapr.ext.workflow as wf
import grpc
import pytest
from dapr.ext.workflow import WorkflowState, WorkflowStatus
from dapr.ext.workflow._durabletask.internal import orchestrator_service_pb2_grpc as pbg
from dapr.ext.workflow._durabletask.internal import protos as pb
from google.protobuf import wrappers_pb2

from sidecar.server import RunningSidecar, run_sidecar
from tests.support.sidecar import Workers, sidecar_settings, wait_for_custom_status

pytestmark = pytest.mark.timeout(60)

WAIT = 30


def _out(state: Any) -> Any:
    return json.loads(state.serialized_output) if state.serialized_output else None


def test_health_endpoints_answer_204(sidecar: RunningSidecar) -> None:
    for path in ("/v1.0/healthz", "/v1.0/healthz/outbound"):
        with urllib.request.urlopen(sidecar.http_endpoint + path, timeout=5) as resp:
            assert resp.status == 204


def test_activity_chain_history_and_list(workers: Workers) -> None:
    rt = workers.runtime()

    def add_one(ctx: wf.WorkflowActivityContext, x: int) -> int:
        return x + 1

    def chain(ctx: wf.DaprWorkflowContext, n: int) -> Any:
        v = 0
        for _ in range(n):
            v = yield ctx.call_activity(add_one, input=v)
        return v

    rt.register_activity(add_one)
    rt.register_workflow(chain)
    rt.start()
    c = workers.client()
    iid = c.schedule_new_workflow(chain, input=10, instance_id="chain-1")
    state = c.wait_for_workflow_completion(iid, timeout_in_seconds=WAIT)
    assert state is not None
    assert state.runtime_status == WorkflowStatus.COMPLETED
    assert _out(state) == 10
    assert json.loads(state.serialized_input) == 10

    history = c.get_workflow_history(iid)
    kinds = Counter(e.event_type.name for e in history)
    assert kinds["TASK_SCHEDULED"] == 10
    assert kinds["TASK_COMPLETED"] == 10
    assert kinds["EXECUTION_STARTED"] == 1
    assert kinds["EXECUTION_COMPLETED"] == 1
    assert history[-1].event_type.name == "EXECUTION_COMPLETED"

    iid2 = c.schedule_new_workflow(chain, input=1, instance_id="chain-2")
    c.wait_for_workflow_completion(iid2, timeout_in_seconds=WAIT)
    page = c.list_workflow_instance_ids(page_size=1)
    assert page.instance_ids == ["chain-1"]
    rest = c.list_workflow_instance_ids(page_size=10, continuation_token=page.continuation_token)
    assert rest.instance_ids == ["chain-2"]
    assert rest.continuation_token is None or rest.continuation_token == ""


def test_starting_an_existing_running_instance_is_refused(workers: Workers) -> None:
    rt = workers.runtime()

    def waits(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        return (yield ctx.wait_for_external_event("go"))

    rt.register_workflow(waits)
    rt.start()
    c = workers.client()
    c.schedule_new_workflow(waits, instance_id="dup")
    with pytest.raises(grpc.RpcError) as err:
        c.schedule_new_workflow(waits, instance_id="dup")
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    c.raise_workflow_event("dup", "go", data=1)
    assert _out(c.wait_for_workflow_completion("dup", timeout_in_seconds=WAIT)) == 1
    # once ended, the ID can be used again
    c.schedule_new_workflow(waits, instance_id="dup")
    c.raise_workflow_event("dup", "go", data=2)
    assert _out(c.wait_for_workflow_completion("dup", timeout_in_seconds=WAIT)) == 2


def test_retry_policy_retries_then_succeeds_or_fails(workers: Workers) -> None:
    rt = workers.runtime()
    attempts: Counter[str] = Counter()

    def flaky(ctx: wf.WorkflowActivityContext, key: str) -> str:
        attempts[key] += 1
        if key == "always" or attempts[key] < 3:
            raise ValueError(f"boom {key} {attempts[key]}")
        return f"ok after {attempts[key]}"

    policy = wf.RetryPolicy(first_retry_interval=timedelta(milliseconds=100), max_number_of_attempts=4)

    def retrying(ctx: wf.DaprWorkflowContext, key: str) -> Any:
        return (yield ctx.call_activity(flaky, input=key, retry_policy=policy))

    rt.register_activity(flaky)
    rt.register_workflow(retrying)
    rt.start()
    c = workers.client()
    ok = c.schedule_new_workflow(retrying, input="sometimes")
    bad = c.schedule_new_workflow(retrying, input="always")
    state = c.wait_for_workflow_completion(ok, timeout_in_seconds=WAIT)
    assert state is not None
    assert _out(state) == "ok after 3"
    state = c.wait_for_workflow_completion(bad, timeout_in_seconds=WAIT)
    assert state is not None
    assert state.runtime_status == WorkflowStatus.FAILED
    assert state.failure_details is not None
    assert "boom always 4" in state.failure_details.message
    assert attempts["always"] == 4


def test_child_workflows_and_fan_out(workers: Workers) -> None:
    rt = workers.runtime()

    def square(ctx: wf.WorkflowActivityContext, x: int) -> int:
        return x * x

    def child(ctx: wf.DaprWorkflowContext, n: int) -> Any:
        if n < 0:
            raise ValueError("negative input")
        squares = yield wf.when_all([ctx.call_activity(square, input=i) for i in range(n)])
        return sum(squares)

    def parent(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        results = yield wf.when_all(
            [ctx.call_child_workflow(child, input=n, instance_id=f"{ctx.instance_id}-c{n}") for n in (2, 3, 4)]
        )
        try:
            yield ctx.call_child_workflow(child, input=-1)
        except Exception as exc:  # the child's failure surfaces in the parent
            return {"sums": results, "error": str(exc)}
        return {"sums": results, "error": None}

    for fn in (child, parent):
        rt.register_workflow(fn)
    rt.register_activity(square)
    rt.start()
    c = workers.client()
    iid = c.schedule_new_workflow(parent, instance_id="fam")
    state = c.wait_for_workflow_completion(iid, timeout_in_seconds=WAIT)
    assert state is not None
    assert state.runtime_status == WorkflowStatus.COMPLETED
    out = _out(state)
    assert out["sums"] == [1, 5, 14]
    assert "negative input" in out["error"]
    child_state = c.get_workflow_state("fam-c3")
    assert child_state is not None
    assert child_state.runtime_status == WorkflowStatus.COMPLETED


def test_timers_and_when_any(workers: Workers) -> None:
    rt = workers.runtime()

    def slow(ctx: wf.WorkflowActivityContext, _: Any) -> str:
        time.sleep(3)
        return "slow"

    def timed(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        start = ctx.current_utc_datetime
        yield ctx.create_timer(timedelta(seconds=1))
        waited = (ctx.current_utc_datetime - start).total_seconds()
        winner = yield wf.when_any([ctx.create_timer(timedelta(milliseconds=200)), ctx.call_activity(slow)])
        return {"waited": waited, "timer_won": not isinstance(winner.get_result(), str)}

    rt.register_activity(slow)
    rt.register_workflow(timed)
    rt.start()
    c = workers.client()
    iid = c.schedule_new_workflow(timed)
    state = c.wait_for_workflow_completion(iid, timeout_in_seconds=WAIT)
    assert state is not None
    assert state.runtime_status == WorkflowStatus.COMPLETED
    out = _out(state)
    assert out["waited"] >= 1.0
    assert out["timer_won"] is True
    fired = [e for e in c.get_workflow_history(iid) if e.event_type.name == "TIMER_FIRED"]
    assert len(fired) == 2


def test_external_events_with_and_without_timeout(workers: Workers) -> None:
    rt = workers.runtime()

    def waiter(ctx: wf.DaprWorkflowContext, timeout_s: float | None) -> Any:
        timeout = timedelta(seconds=timeout_s) if timeout_s else None
        try:
            value = yield ctx.wait_for_external_event("approval", timeout=timeout)
        except TimeoutError:
            return "timed out"
        return value

    rt.register_workflow(waiter)
    rt.start()
    c = workers.client()
    forever = c.schedule_new_workflow(waiter, input=None)
    short = c.schedule_new_workflow(waiter, input=0.5)
    answered = c.schedule_new_workflow(waiter, input=20)
    c.wait_for_workflow_start(forever, timeout_in_seconds=WAIT)
    c.raise_workflow_event(answered, "approval", data={"ok": True})
    assert _out(c.wait_for_workflow_completion(short, timeout_in_seconds=WAIT)) == "timed out"
    assert _out(c.wait_for_workflow_completion(answered, timeout_in_seconds=WAIT)) == {"ok": True}

    # the open-ended wait recorded an "optional" timer at the end of time, which never fires
    history = c.get_workflow_history(forever)
    assert [e.event_type.name for e in history].count("TIMER_CREATED") == 1
    raw = _raw_history(workers.running, forever)
    created = [e.timerCreated for e in raw if e.HasField("timerCreated")]
    assert created[0].fireAt.seconds == 253402300799
    assert created[0].fireAt.nanos == 999999999
    assert created[0].HasField("externalEvent")
    state = c.get_workflow_state(forever)
    assert state is not None
    assert state.runtime_status == WorkflowStatus.RUNNING
    c.raise_workflow_event(forever, "approval", data="late")
    assert _out(c.wait_for_workflow_completion(forever, timeout_in_seconds=WAIT)) == "late"
    assert not any(e.HasField("timerFired") for e in _raw_history(workers.running, forever))


def _raw_history(running: RunningSidecar, iid: str) -> list[pb.HistoryEvent]:
    with grpc.insecure_channel(running.grpc_endpoint) as ch:
        return list(
            pbg.TaskHubSidecarServiceStub(ch).GetInstanceHistory(pb.GetInstanceHistoryRequest(instanceId=iid)).events
        )


def test_continue_as_new_keeps_events_in_order(workers: Workers) -> None:
    rt = workers.runtime()

    def counter(ctx: wf.DaprWorkflowContext, seen: list[int]) -> Any:
        value = yield ctx.wait_for_external_event("n")
        seen = [*seen, value]
        if len(seen) < 4:
            ctx.continue_as_new(seen, save_events=True)
            return None
        return seen

    rt.register_workflow(counter)
    rt.start()
    c = workers.client()
    iid = c.schedule_new_workflow(counter, input=[])
    for n in range(1, 5):
        c.raise_workflow_event(iid, "n", data=n)
    state = c.wait_for_workflow_completion(iid, timeout_in_seconds=WAIT)
    assert state is not None
    assert state.runtime_status == WorkflowStatus.COMPLETED
    assert _out(state) == [1, 2, 3, 4]
    assert json.loads(state.serialized_input) == [1, 2, 3]
    # history restarts with each execution
    assert sum(1 for e in c.get_workflow_history(iid) if e.event_type.name == "EXECUTION_STARTED") == 1


def test_custom_status(workers: Workers) -> None:
    rt = workers.runtime()

    def staged(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        ctx.set_custom_status("waiting for review")
        yield ctx.wait_for_external_event("go")
        ctx.set_custom_status("done")
        return 1

    rt.register_workflow(staged)
    rt.start()
    c = workers.client()
    iid = c.schedule_new_workflow(staged)
    state: WorkflowState | None = wait_for_custom_status(c, iid, WAIT)
    assert state is not None
    assert state.serialized_custom_status == "waiting for review"
    c.raise_workflow_event(iid, "go")
    state = c.wait_for_workflow_completion(iid, timeout_in_seconds=WAIT)
    assert state is not None
    assert state.serialized_custom_status == "done"


def test_suspend_keeps_events_until_resume(workers: Workers) -> None:
    rt = workers.runtime()

    def waits(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        return (yield ctx.wait_for_external_event("go"))

    rt.register_workflow(waits)
    rt.start()
    c = workers.client()
    iid = c.schedule_new_workflow(waits)
    c.wait_for_workflow_start(iid, timeout_in_seconds=WAIT)
    c.pause_workflow(iid)
    state = c.get_workflow_state(iid)
    assert state is not None
    assert state.runtime_status == WorkflowStatus.SUSPENDED
    c.raise_workflow_event(iid, "go", data="kept")
    with pytest.raises(TimeoutError):
        c.wait_for_workflow_completion(iid, timeout_in_seconds=1)
    state = c.get_workflow_state(iid)
    assert state is not None
    assert state.runtime_status == WorkflowStatus.SUSPENDED
    c.resume_workflow(iid)
    state = c.wait_for_workflow_completion(iid, timeout_in_seconds=WAIT)
    assert state is not None
    assert state.runtime_status == WorkflowStatus.COMPLETED
    assert _out(state) == "kept"


def test_terminate_reaches_children_and_purge_removes_them(workers: Workers) -> None:
    rt = workers.runtime()
    ran: Counter[str] = Counter()

    def mark(ctx: wf.WorkflowActivityContext, name: str) -> None:
        ran[name] += 1

    def child(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        yield ctx.wait_for_external_event("never")
        yield ctx.call_activity(mark, input="child")

    def parent(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        yield wf.when_all([ctx.call_child_workflow(child, instance_id=f"{ctx.instance_id}-k{i}") for i in range(3)])

    rt.register_activity(mark)
    rt.register_workflow(child)
    rt.register_workflow(parent)
    rt.start()
    c = workers.client()
    iid = c.schedule_new_workflow(parent, instance_id="p")
    for i in range(3):
        c.wait_for_workflow_start(f"p-k{i}", timeout_in_seconds=WAIT)
    with pytest.raises(grpc.RpcError) as err:
        c.purge_workflow(iid)  # still running
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    c.terminate_workflow(iid, output="stop", recursive=True)
    state = c.wait_for_workflow_completion(iid, timeout_in_seconds=WAIT)
    assert state is not None
    assert state.runtime_status == WorkflowStatus.TERMINATED
    assert _out(state) == "stop"
    for i in range(3):
        kid = c.wait_for_workflow_completion(f"p-k{i}", timeout_in_seconds=WAIT)
        assert kid is not None
        assert kid.runtime_status == WorkflowStatus.TERMINATED
        c.raise_workflow_event(f"p-k{i}", "never")  # dropped: the child has ended
    assert ran["child"] == 0

    c.purge_workflow(iid, recursive=True)
    assert c.get_workflow_state(iid) is None
    assert all(c.get_workflow_state(f"p-k{i}") is None for i in range(3))
    with pytest.raises(grpc.RpcError) as err:
        c.get_workflow_history(iid)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_recursive_terminate_reaches_children_created_by_the_turn_in_flight(sidecar: RunningSidecar) -> None:
    """Terminate arrives while the parent's first turn (which creates a child) is still with the worker."""
    terminated = pb.ORCHESTRATION_STATUS_TERMINATED
    with grpc.insecure_channel(sidecar.grpc_endpoint) as ch:
        stub = pbg.TaskHubSidecarServiceStub(ch)
        stub.StartInstance(pb.CreateInstanceRequest(instanceId="tp", name="parent-wf"))
        stream = stub.GetWorkItems(pb.GetWorkItemsRequest(), timeout=WAIT)
        first = next(stream)
        assert first.workflowRequest.instanceId == "tp"
        stub.TerminateInstance(pb.TerminateRequest(instanceId="tp", recursive=True))  # no child exists yet
        create = pb.CreateChildWorkflowAction(instanceId="tp-kid", name="kid-wf")
        stub.CompleteOrchestratorTask(
            pb.WorkflowResponse(
                instanceId="tp",
                completionToken=first.completionToken,
                actions=[pb.WorkflowAction(id=0, createChildWorkflow=create)],
            )
        )
        ended: set[str] = set()
        while ended != {"tp", "tp-kid"}:  # a kid left running would leave the stream silent until its deadline
            item = next(stream)
            turn = item.workflowRequest
            actions = []
            if any(e.HasField("executionTerminated") for e in turn.newEvents):
                done = pb.CompleteWorkflowAction(workflowStatus=terminated)
                actions.append(pb.WorkflowAction(id=1, completeWorkflow=done))
                ended.add(turn.instanceId)
            stub.CompleteOrchestratorTask(
                pb.WorkflowResponse(instanceId=turn.instanceId, completionToken=item.completionToken, actions=actions)
            )
        stream.cancel()
        kid = stub.GetInstance(pb.GetInstanceRequest(instanceId="tp-kid")).workflowState
        assert kid.workflowStatus == terminated
        assert kid.parentInstanceId.value == "tp"


def test_terminate_without_recursion_leaves_children_running(workers: Workers) -> None:
    rt = workers.runtime()

    def child(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        return (yield ctx.wait_for_external_event("go"))

    def parent(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        return (yield ctx.call_child_workflow(child, instance_id="solo-child"))

    rt.register_workflow(child)
    rt.register_workflow(parent)
    rt.start()
    c = workers.client()
    iid = c.schedule_new_workflow(parent)
    c.wait_for_workflow_start("solo-child", timeout_in_seconds=WAIT)
    c.terminate_workflow(iid, recursive=False)
    c.wait_for_workflow_completion(iid, timeout_in_seconds=WAIT)
    c.raise_workflow_event("solo-child", "go", data=5)
    kid = c.wait_for_workflow_completion("solo-child", timeout_in_seconds=WAIT)
    assert kid is not None
    assert kid.runtime_status == WorkflowStatus.COMPLETED
    parent_state = c.get_workflow_state(iid)
    assert parent_state is not None
    assert parent_state.runtime_status == WorkflowStatus.TERMINATED


def test_scheduled_start_waits(workers: Workers) -> None:
    rt = workers.runtime()

    def stamp(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        started = ctx.current_utc_datetime.isoformat()
        early = yield ctx.wait_for_external_event("early")
        return [started, early]

    rt.register_workflow(stamp)
    rt.start()
    c = workers.client()
    start_at = datetime.now(UTC) + timedelta(seconds=1.5)
    iid = c.schedule_new_workflow(stamp, start_at=start_at)
    c.raise_workflow_event(iid, "early", data="kept for the start")
    time.sleep(0.2)
    state = c.get_workflow_state(iid)
    assert state is not None
    assert state.runtime_status == WorkflowStatus.PENDING
    state = c.wait_for_workflow_completion(iid, timeout_in_seconds=WAIT)
    assert state is not None
    started, early = _out(state)
    assert datetime.fromisoformat(started).replace(tzinfo=UTC) >= start_at - timedelta(milliseconds=5)
    assert early == "kept for the start"


def test_several_workers_share_the_work(workers: Workers) -> None:
    seen: dict[str, set[str]] = {}
    lock = threading.Lock()

    def make(tag: str) -> wf.WorkflowRuntime:
        rt = workers.runtime()

        def work(ctx: wf.WorkflowActivityContext, i: int) -> int:
            with lock:
                seen.setdefault(tag, set()).add(ctx.workflow_id)
            time.sleep(0.02)
            return i

        def fan(ctx: wf.DaprWorkflowContext, n: int) -> Any:
            return sum((yield wf.when_all([ctx.call_activity("work", input=i) for i in range(n)])))

        rt.register_activity(work, name="work")
        rt.register_workflow(fan, name="fan")
        rt.start()
        return rt

    make("a")
    make("b")
    c = workers.client()
    ids = [c.schedule_new_workflow("fan", input=20) for _ in range(6)]
    for iid in ids:
        state = c.wait_for_workflow_completion(iid, timeout_in_seconds=WAIT)
        assert state is not None
        assert _out(state) == sum(range(20))
    assert set(seen) == {"a", "b"}


def test_rerun_from_an_activity(workers: Workers) -> None:
    rt = workers.runtime()
    calls: Counter[int] = Counter()

    def step(ctx: wf.WorkflowActivityContext, i: int) -> int:
        calls[i] += 1
        return i * 10

    def steps(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
        out = []
        for i in range(3):
            out.append((yield ctx.call_activity(step, input=i)))
        return out

    rt.register_activity(step)
    rt.register_workflow(steps)
    rt.start()
    c = workers.client()
    iid = c.schedule_new_workflow(steps)
    assert _out(c.wait_for_workflow_completion(iid, timeout_in_seconds=WAIT)) == [0, 10, 20]
    scheduled = [e for e in c.get_workflow_history(iid) if e.event_type.name == "TASK_SCHEDULED"]
    new_id = c.rerun_workflow_from_event(iid, scheduled[1].event_id, new_instance_id="rerun-1")
    state = c.wait_for_workflow_completion(new_id, timeout_in_seconds=WAIT)
    assert state is not None
    assert _out(state) == [0, 10, 20]
    assert calls == Counter({0: 1, 1: 2, 2: 2})


def test_stale_and_abandoned_work_items(sidecar: RunningSidecar) -> None:
    """A stream that closes gives its work back; a completion with its old token is ignored."""
    with grpc.insecure_channel(sidecar.grpc_endpoint) as ch:
        stub = pbg.TaskHubSidecarServiceStub(ch)
        stub.StartInstance(pb.CreateInstanceRequest(instanceId="raw", name="raw-wf"))
        first = stub.GetWorkItems(pb.GetWorkItemsRequest())
        item = next(first)
        assert item.workflowRequest.instanceId == "raw"
        first.cancel()
        second = stub.GetWorkItems(pb.GetWorkItemsRequest())
        again = next(second)
        assert again.workflowRequest.instanceId == "raw"
        assert again.completionToken != item.completionToken
        done = pb.CompleteWorkflowAction(workflowStatus=pb.ORCHESTRATION_STATUS_COMPLETED)
        # the abandoned token is ignored: the instance stays pending
        stub.CompleteOrchestratorTask(
            pb.WorkflowResponse(
                instanceId="raw",
                completionToken=item.completionToken,
                actions=[pb.WorkflowAction(id=0, completeWorkflow=done)],
            )
        )
        state = stub.GetInstance(pb.GetInstanceRequest(instanceId="raw"))
        assert state.workflowState.workflowStatus == pb.ORCHESTRATION_STATUS_PENDING
        stub.CompleteOrchestratorTask(
            pb.WorkflowResponse(
                instanceId="raw",
                completionToken=again.completionToken,
                actions=[pb.WorkflowAction(id=0, completeWorkflow=done)],
            )
        )
        state = stub.GetInstance(pb.GetInstanceRequest(instanceId="raw"))
        assert state.workflowState.workflowStatus == pb.ORCHESTRATION_STATUS_COMPLETED
        second.cancel()


def test_bad_requests_get_clear_errors(sidecar: RunningSidecar) -> None:
    with grpc.insecure_channel(sidecar.grpc_endpoint) as ch:
        stub = pbg.TaskHubSidecarServiceStub(ch)
        for call, req in (
            (stub.RaiseEvent, pb.RaiseEventRequest(instanceId="nope", name="x")),
            (stub.TerminateInstance, pb.TerminateRequest(instanceId="nope")),
            (stub.SuspendInstance, pb.SuspendRequest(instanceId="nope")),
            (stub.GetInstanceHistory, pb.GetInstanceHistoryRequest(instanceId="nope")),
        ):
            with pytest.raises(grpc.RpcError) as err:
                call(req)
            assert err.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.RpcError) as err:
            stub.StartInstance(pb.CreateInstanceRequest(instanceId="x"))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert not stub.GetInstance(pb.GetInstanceRequest(instanceId="nope")).exists


def test_restart_redelivers_work_and_ignores_old_tokens(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with run_sidecar(sidecar_settings(data)) as first, grpc.insecure_channel(first.grpc_endpoint) as ch:
        stub = pbg.TaskHubSidecarServiceStub(ch)
        stub.StartInstance(pb.CreateInstanceRequest(instanceId="r", name="r-wf"))
        stream = stub.GetWorkItems(pb.GetWorkItemsRequest())
        old = next(stream)
        stream.cancel()
    with run_sidecar(sidecar_settings(data)) as second, grpc.insecure_channel(second.grpc_endpoint) as ch:
        stub = pbg.TaskHubSidecarServiceStub(ch)
        stream = stub.GetWorkItems(pb.GetWorkItemsRequest())
        again = next(stream)
        assert again.workflowRequest.instanceId == "r"
        schedule = pb.WorkflowAction(id=0, scheduleTask=pb.ScheduleTaskAction(name="act"))
        stale = pb.WorkflowResponse(instanceId="r", completionToken=old.completionToken, actions=[schedule])
        stub.CompleteOrchestratorTask(stale)
        assert not any(
            e.HasField("taskScheduled")
            for e in stub.GetInstanceHistory(pb.GetInstanceHistoryRequest(instanceId="r")).events
        )
        stub.CompleteOrchestratorTask(
            pb.WorkflowResponse(instanceId="r", completionToken=again.completionToken, actions=[schedule])
        )
        activity = next(stream)
        assert activity.activityRequest.name == "act"
        stream.cancel()
    # the activity was handed out but never completed: the next sidecar hands it out again
    with run_sidecar(sidecar_settings(data)) as third, grpc.insecure_channel(third.grpc_endpoint) as ch:
        stub = pbg.TaskHubSidecarServiceStub(ch)
        stream = stub.GetWorkItems(pb.GetWorkItemsRequest())
        redelivered = next(stream)
        assert redelivered.activityRequest.name == "act"
        assert redelivered.activityRequest.taskId == 0
        stub.CompleteActivityTask(
            pb.ActivityResponse(instanceId="r", taskId=0, completionToken=activity.completionToken)
        )  # stale: ignored
        stub.CompleteActivityTask(
            pb.ActivityResponse(
                instanceId="r",
                taskId=0,
                completionToken=redelivered.completionToken,
                result=wrappers_pb2.StringValue(value="1"),
            )
        )
        turn = next(stream)
        kinds = [e.WhichOneof("eventType") for e in turn.workflowRequest.newEvents]
        assert kinds == ["workflowStarted", "taskCompleted"]
        stream.cancel()


def test_idle_streams_get_health_pings_only_when_asked(tmp_path: Path) -> None:
    settings = sidecar_settings(tmp_path, health_ping_seconds=0.2)
    with run_sidecar(settings) as running, grpc.insecure_channel(running.grpc_endpoint) as ch:
        stub = pbg.TaskHubSidecarServiceStub(ch)
        pinged = stub.GetWorkItems(pb.GetWorkItemsRequest(capabilities=[pb.WORKER_CAPABILITY_HEALTH_PING]))
        assert next(pinged).HasField("healthPing")
        pinged.cancel()
        silent = stub.GetWorkItems(pb.GetWorkItemsRequest(), timeout=1.0)
        with pytest.raises(grpc.RpcError) as err:
            next(silent)
        assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


def test_stateful_workers_get_history_deltas(sidecar: RunningSidecar) -> None:
    with grpc.insecure_channel(sidecar.grpc_endpoint) as ch:
        stub = pbg.TaskHubSidecarServiceStub(ch)
        stream = stub.GetWorkItems(pb.GetWorkItemsRequest(capabilities=[pb.WORKER_CAPABILITY_STATEFUL_HISTORY]))
        stub.StartInstance(pb.CreateInstanceRequest(instanceId="d", name="d-wf"))
        sizes = []
        for n in range(3):
            item = next(stream)
            turn = item.workflowRequest
            cached = turn.cachedHistory.eventCount if turn.HasField("cachedHistory") else None
            sizes.append((cached, len(turn.pastEvents), len(turn.newEvents)))
            action = pb.WorkflowAction(id=n, scheduleTask=pb.ScheduleTaskAction(name="a"))
            stub.CompleteOrchestratorTask(
                pb.WorkflowResponse(instanceId="d", completionToken=item.completionToken, actions=[action])
            )
            activity = next(stream)
            stub.CompleteActivityTask(
                pb.ActivityResponse(instanceId="d", taskId=n, completionToken=activity.completionToken)
            )
        full = stub.GetInstanceHistory(pb.GetInstanceHistoryRequest(instanceId="d")).events
        stream.cancel()
    # turn 1: nothing past; turn 2: the worker holds 0 events and gets turn 1's 3; turn 3: holds 3, gets 3 more
    assert sizes == [(None, 0, 2), (0, 3, 2), (3, 3, 2)]
    assert len(full) == 9


def test_purge_by_filter_removes_only_ended_instances(workers: Workers) -> None:
    rt = workers.runtime()

    def quick(ctx: wf.DaprWorkflowContext, x: int) -> Any:
        if x < 0:
            raise ValueError("negative")
        if x == 0:
            yield ctx.wait_for_external_event("never")
        return x

    rt.register_workflow(quick)
    rt.start()
    c = workers.client()
    for iid, x in (("f-ok", 1), ("f-bad", -1), ("f-open", 0)):
        c.schedule_new_workflow(quick, input=x, instance_id=iid)
    c.wait_for_workflow_completion("f-ok", timeout_in_seconds=WAIT)
    c.wait_for_workflow_completion("f-bad", timeout_in_seconds=WAIT)
    with grpc.insecure_channel(workers.running.grpc_endpoint) as ch:
        stub = pbg.TaskHubSidecarServiceStub(ch)
        only_failed = pb.PurgeInstanceFilter(runtimeStatus=[pb.ORCHESTRATION_STATUS_FAILED])
        res = stub.PurgeInstances(pb.PurgeInstancesRequest(purgeInstanceFilter=only_failed))
        assert res.deletedInstanceCount == 1
        res = stub.PurgeInstances(pb.PurgeInstancesRequest(purgeInstanceFilter=pb.PurgeInstanceFilter()))
        assert res.deletedInstanceCount == 1
    assert c.get_workflow_state("f-ok") is None
    assert c.get_workflow_state("f-bad") is None
    still = c.get_workflow_state("f-open")
    assert still is not None
    assert still.runtime_status == WorkflowStatus.RUNNING
