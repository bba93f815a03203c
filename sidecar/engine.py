"""The durable workflow engine: daprd's ``TaskHubSidecarService`` over gRPC, persisted in SQLite.

The engine is a single-threaded state machine on the asyncio loop. Working state (instances, their histories,
inboxes of pending events, pending activities) lives in memory; every change is also expressed as SQL and handed
to :class:`~sidecar.store.Store`, which commits in submission order with group commit. A workflow turn and all the
work it creates (activities, timers, child workflows, events to other instances) go into one transaction. Work is
handed to workers immediately — the FIFO commit order means nothing a worker reports back can be committed before
the change that created it — while RPC acknowledgements wait for the commit, so what a caller was told is durable.

Completion tokens carry a per-boot id, so a worker's answer to work handed out before a restart is ignored; the
work itself is still in the database and is handed out again.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import heapq
import itertools
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from dapr.ext.workflow._durabletask.internal import orchestrator_service_pb2_grpc as pbg
from dapr.ext.workflow._durabletask.internal import protos as pb
from google.protobuf import empty_pb2, wrappers_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from sidecar.store import Op, Store, StoreError

log = logging.getLogger(__name__)

RUNNING = pb.ORCHESTRATION_STATUS_RUNNING
COMPLETED = pb.ORCHESTRATION_STATUS_COMPLETED
CONTINUED_AS_NEW = pb.ORCHESTRATION_STATUS_CONTINUED_AS_NEW
FAILED = pb.ORCHESTRATION_STATUS_FAILED
CANCELED = pb.ORCHESTRATION_STATUS_CANCELED
TERMINATED = pb.ORCHESTRATION_STATUS_TERMINATED
PENDING = pb.ORCHESTRATION_STATUS_PENDING
SUSPENDED = pb.ORCHESTRATION_STATUS_SUSPENDED
STALLED = pb.ORCHESTRATION_STATUS_STALLED
TERMINAL = frozenset({COMPLETED, FAILED, CANCELED, TERMINATED})

# wait_for_external_event without a timeout records a timer at this instant; it is history only, never fired.
OPTIONAL_TIMER_SECONDS = 253402300799
HEALTH_PING_SECONDS = 10.0
# Events that belong to one execution and must not survive into the next one after continue_as_new.
_EXECUTION_BOUND = frozenset(
    {"timerFired", "taskCompleted", "taskFailed", "childWorkflowInstanceCompleted", "childWorkflowInstanceFailed"}
)


class EngineError(Exception):
    """A client request the engine refuses; carries the gRPC status it maps to."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _ts(t: float) -> Timestamp:
    seconds, nanos = divmod(int(t * 1e9), 1_000_000_000)
    if not 0 <= seconds <= OPTIONAL_TIMER_SECONDS:  # let protobuf's own check reject what it must
        ts = Timestamp()
        ts.FromNanoseconds(int(t * 1e9))
        return ts
    return Timestamp(seconds=seconds, nanos=nanos)  # FromNanoseconds is Python code, twice as slow


def _seconds(ts: Timestamp) -> float:
    return float(ts.seconds) + ts.nanos / 1e9


def _sv(value: str) -> wrappers_pb2.StringValue:
    return wrappers_pb2.StringValue(value=value)


def _event(t: float, event_id: int = -1, **kind: Any) -> pb.HistoryEvent:
    return pb.HistoryEvent(eventId=event_id, timestamp=_ts(t), **kind)


# Work items are sent as protobuf bytes assembled from the events' and requests' encodings, which the engine has
# anyway (they are what it stores): building WorkItem messages copied every event again, and gRPC then encoded them.
def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _tag(message: Any, name: str) -> bytes:
    """The key of a length-delimited field (sub-message, string or bytes)."""
    return _varint(message.DESCRIPTOR.fields_by_name[name].number << 3 | 2)


def _field(tag: bytes, payload: bytes) -> bytes:
    return tag + _varint(len(payload)) + payload


_ITEM_WORKFLOW = _tag(pb.WorkItem, "workflowRequest")
_ITEM_ACTIVITY = _tag(pb.WorkItem, "activityRequest")
_ITEM_TOKEN = _tag(pb.WorkItem, "completionToken")
_REQ_INSTANCE = _tag(pb.WorkflowRequest, "instanceId")
_REQ_EXECUTION = _tag(pb.WorkflowRequest, "executionId")
_REQ_PAST = _tag(pb.WorkflowRequest, "pastEvents")
_REQ_NEW = _tag(pb.WorkflowRequest, "newEvents")
_REQ_CACHED = _tag(pb.WorkflowRequest, "cachedHistory")
_STRING_VALUE = _tag(wrappers_pb2.StringValue, "value")
_EVENT_COUNT = _varint(pb.WorkflowRequest.DESCRIPTOR.fields_by_name["cachedHistory"].message_type.fields[0].number << 3)
HEALTH_PING_ITEM = pb.WorkItem(healthPing=pb.HealthPing()).SerializeToString()


def encode_workflow_item(
    instance_id: str, execution_id: str, past: list[bytes], new: list[bytes], cached: int | None, token: str
) -> bytes:
    """A WorkItem carrying a WorkflowRequest, from encoded history events (``cached``: the worker's prefix)."""
    parts = [
        _field(_REQ_INSTANCE, instance_id.encode()),
        _field(_REQ_EXECUTION, _field(_STRING_VALUE, execution_id.encode())),
    ]
    parts += [_field(_REQ_PAST, e) for e in past]
    parts += [_field(_REQ_NEW, e) for e in new]
    if cached is not None:
        parts.append(_field(_REQ_CACHED, _EVENT_COUNT + _varint(cached) if cached else b""))
    return _field(_ITEM_WORKFLOW, b"".join(parts)) + _field(_ITEM_TOKEN, token.encode())


def encode_activity_item(request: bytes, token: str) -> bytes:
    """A WorkItem carrying an encoded ActivityRequest."""
    return _field(_ITEM_ACTIVITY, request) + _field(_ITEM_TOKEN, token.encode())


@dataclass
class InboxItem:
    row: int
    visible_at: float
    event: pb.HistoryEvent
    data: bytes  # the event, encoded


@dataclass
class Turn:
    token: str
    stream: WorkerStream
    items: list[InboxItem]
    new_events: list[pb.HistoryEvent]
    new_data: list[bytes]


@dataclass
class Instance:
    id: str
    state: pb.WorkflowState
    parent: pb.ParentInstanceInfo | None
    history: list[pb.HistoryEvent] | None  # None: terminal and not held in memory
    history_data: list[bytes] = field(default_factory=list)  # the same events, encoded
    inbox: list[InboxItem] = field(default_factory=list)
    in_flight: Turn | None = None
    queued: bool = False
    waiters: list[asyncio.Future[None]] = field(default_factory=list)

    @property
    def status(self) -> int:
        return int(self.state.workflowStatus)

    @property
    def execution_id(self) -> str:
        return str(self.state.executionId.value)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


@dataclass
class Activity:
    id: int
    instance_id: str
    execution_id: str
    request: pb.ActivityRequest
    data: bytes  # the request, encoded
    stream: WorkerStream | None = None


@dataclass(eq=False)
class WorkerStream:
    """One open GetWorkItems stream and the work currently handed to it."""

    id: int
    stateful: bool
    pings: bool
    turns: dict[str, str] = field(default_factory=dict)  # token -> instance id
    activities: set[int] = field(default_factory=set)
    warm: dict[str, int] = field(default_factory=dict)  # instance id -> history length the worker caches
    wake: asyncio.Future[bool] | None = None  # set while the stream waits for work; True means "send a ping"
    last_sent: float = 0.0  # loop time of the last item sent (pings go to streams idle this long)
    ping_timer: asyncio.TimerHandle | None = None


WorkRef = tuple[str, str | int]  # ("o", instance id) or ("a", activity id)


class _Handlers:
    """Stands in for a gRPC server to collect the method handlers generated code registers."""

    def __init__(self) -> None:
        self.service = ""
        self.handlers: dict[str, grpc.RpcMethodHandler] = {}

    def add_generic_rpc_handlers(self, handlers: tuple[grpc.GenericRpcHandler, ...]) -> None:
        pass  # the same handlers, which generated code also registers by name

    def add_registered_method_handlers(self, service: str, handlers: dict[str, grpc.RpcMethodHandler]) -> None:
        self.service, self.handlers = service, dict(handlers)


class Engine(pbg.TaskHubSidecarServiceServicer):
    """TaskHubSidecarService over an in-memory state machine persisted to a :class:`Store`."""

    def __init__(self, store: Store, *, app_id: str = "", health_ping_seconds: float = HEALTH_PING_SECONDS) -> None:
        self.store = store
        self.app_id = app_id
        self.health_ping_seconds = health_ping_seconds
        self.boot = uuid.uuid4().hex[:12]
        self.instances: dict[str, Instance] = {}
        self.activities: dict[int, Activity] = {}
        # Work waiting for a worker, and the streams waiting for work. Why not asyncio.Queue: its get() needs a
        # timeout per item for health pings, and arming and cancelling that timer was ~5 % of the sidecar's CPU;
        # here each stream has one ping timer that fires only when it is due.
        self._work: collections.deque[WorkRef] = collections.deque()
        self._idle: collections.deque[WorkerStream] = collections.deque()
        self._timers: list[tuple[float, str]] = []
        self._timer_wake = asyncio.Event()
        self._timer_task: asyncio.Task[None] | None = None
        self._tokens = itertools.count(1)
        self._stream_ids = itertools.count(1)
        self._streams: set[WorkerStream] = set()
        self._next_row = 1
        self._next_activity = 1
        self._after_commit: list[Callable[[], None]] = []
        # Set when a durable commit failed: the memory is then ahead of the disk, so the engine serves nothing more
        # (every RPC answers UNAVAILABLE, the sidecar's health check fails) until a restart recovers from the disk.
        self.failure: str | None = None
        self.stopped = asyncio.Event()

    def add_to_server(self, server: grpc.aio.Server) -> None:
        """Serve TaskHubSidecarService on ``server``; GetWorkItems sends the encoded work items it yields as they are.

        Registered as one generic handler: grpc.aio keeps a pending request call per *registered* method and waits
        on all of them for every incoming RPC.
        """
        found = _Handlers()
        pbg.add_TaskHubSidecarServiceServicer_to_server(self, found)
        if "GetWorkItems" not in found.handlers:
            raise RuntimeError("the generated TaskHubSidecarService code did not register its methods by name")
        handlers: dict[str, grpc.RpcMethodHandler] = {}
        for name, handler in found.handlers.items():
            if handler.unary_stream is not None:  # GetWorkItems: its items are encoded already
                serializer = None if name == "GetWorkItems" else handler.response_serializer
                handlers[name] = grpc.unary_stream_rpc_method_handler(
                    self._refused_when_failed_stream(handler.unary_stream),
                    request_deserializer=handler.request_deserializer,
                    response_serializer=serializer,
                )
            elif handler.unary_unary is not None:
                handlers[name] = grpc.unary_unary_rpc_method_handler(
                    self._refused_when_failed(handler.unary_unary),
                    request_deserializer=handler.request_deserializer,
                    response_serializer=handler.response_serializer,
                )
            else:
                handlers[name] = handler
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(found.service, handlers),))

    def _refused_when_failed(self, fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        async def call(request: Any, context: Any) -> Any:
            if self.failure is not None:
                await context.abort(grpc.StatusCode.UNAVAILABLE, self.failure)
            return await fn(request, context)

        return call

    def _refused_when_failed_stream(self, fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        async def call(request: Any, context: Any) -> AsyncIterator[Any]:
            if self.failure is not None:
                await context.abort(grpc.StatusCode.UNAVAILABLE, self.failure)
            async for item in fn(request, context):
                yield item
            if self.failure is not None:  # the stream ended because the engine stopped: tell the worker why
                await context.abort(grpc.StatusCode.UNAVAILABLE, self.failure)

        return call

    def fail(self, error: BaseException) -> None:
        """A durable commit failed: stop. What is in memory may be ahead of the disk, and going on would hand out
        work and answers the disk never saw; a restart recovers everything up to the last durable commit."""
        if self.failure is not None:
            return
        self.failure = f"workflow engine stopped: its database could not be written ({error})"
        log.critical("%s; restart the sidecar once the disk takes writes again", self.failure)
        self._work.clear()
        self._timers.clear()
        for stream in list(self._idle):  # waiting streams wake up, see the failure and end
            if stream.wake is not None and not stream.wake.done():
                stream.wake.set_result(False)
        self.stopped.set()

    # -- life cycle -------------------------------------------------------------------------------------------------
    def recover(self) -> None:
        """Load the database into memory and queue everything that was pending when the last process stopped."""
        for iid, state_b, parent_b in self.store.query("SELECT instance_id, state, parent FROM instances"):
            state = pb.WorkflowState.FromString(state_b)
            parent = pb.ParentInstanceInfo.FromString(parent_b) if parent_b else None
            inst = Instance(iid, state, parent, None if state.workflowStatus in TERMINAL else [])
            self.instances[iid] = inst
        for iid, event_b in self.store.query(
            "SELECT h.instance_id, h.event FROM history h JOIN instances i USING (instance_id) "
            f"WHERE i.status NOT IN ({','.join(str(s) for s in TERMINAL)}) ORDER BY h.instance_id, h.seq"
        ):
            inst = self.instances[iid]
            if inst.history is not None:
                inst.history.append(pb.HistoryEvent.FromString(event_b))
                inst.history_data.append(event_b)
        max_row = 0
        for row, iid, visible_at, event_b in self.store.query(
            "SELECT id, instance_id, visible_at, event FROM inbox ORDER BY id"
        ):
            max_row = max(max_row, row)
            if iid in self.instances:
                self.instances[iid].inbox.append(
                    InboxItem(row, visible_at, pb.HistoryEvent.FromString(event_b), event_b)
                )
        self._next_row = max_row + 1
        max_act = 0
        for act_id, iid, request_b in self.store.query("SELECT id, instance_id, request FROM activities ORDER BY id"):
            max_act = max(max_act, act_id)
            req = pb.ActivityRequest.FromString(request_b)
            self.activities[act_id] = Activity(act_id, iid, str(req.workflowInstance.executionId.value), req, request_b)
            self._work.append(("a", act_id))
        self._next_activity = max_act + 1
        now = time.time()
        for inst in self.instances.values():
            for item in inst.inbox:
                if item.visible_at > now:
                    heapq.heappush(self._timers, (item.visible_at, inst.id))
            self._schedule(inst)
        log.info(
            "workflow engine recovered %d instances, %d pending activities, %d timers",
            len(self.instances),
            len(self.activities),
            len(self._timers),
        )

    def start(self) -> None:
        self._timer_task = asyncio.get_running_loop().create_task(self._timer_loop(), name="sidecar-timers")

    async def stop(self) -> None:
        if self._timer_task is not None:
            self._timer_task.cancel()
            await asyncio.gather(self._timer_task, return_exceptions=True)

    # -- scheduling -------------------------------------------------------------------------------------------------
    def _ready_items(self, inst: Instance, now: float) -> list[InboxItem]:
        if inst.in_flight is not None or inst.terminal or inst.history is None:
            return []
        ready = [i for i in inst.inbox if i.visible_at <= now]
        if not inst.history and not any(i.event.HasField("executionStarted") for i in ready):
            return []  # a scheduled start: events raised early wait for the start
        if inst.status == SUSPENDED and not any(
            i.event.HasField("executionResumed") or i.event.HasField("executionTerminated") for i in ready
        ):
            return []  # a suspended instance keeps its events until it is resumed (or terminated)
        return ready

    def _schedule(self, inst: Instance) -> None:
        if not inst.queued and self._ready_items(inst, time.time()):
            inst.queued = True
            self._put(("o", inst.id))

    def _put(self, ref: WorkRef) -> None:
        self._work.append(ref)
        self._wake_one()

    def _wake_one(self) -> None:
        # a stream is in _idle exactly while its wake future is set
        while self._idle:
            stream = self._idle.popleft()
            wake, stream.wake = stream.wake, None
            if wake is not None and not wake.done():  # done: cancelled, its stream is closing
                wake.set_result(False)
                return

    def _ping_due(self, stream: WorkerStream) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        due = stream.last_sent + self.health_ping_seconds
        if now >= due:
            if stream.wake is not None and not stream.wake.done():
                stream.wake.set_result(True)
                stream.wake = None
                self._idle.remove(stream)
            due = now + self.health_ping_seconds
        stream.ping_timer = loop.call_at(due, self._ping_due, stream)

    async def _timer_loop(self) -> None:
        while True:
            now = time.time()
            while self._timers and self._timers[0][0] <= now:
                _, iid = heapq.heappop(self._timers)
                inst = self.instances.get(iid)
                if inst is not None:
                    self._schedule(inst)
            self._timer_wake.clear()
            delay = self._timers[0][0] - now if self._timers else 3600.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._timer_wake.wait(), timeout=max(delay, 0.001))

    def _add_inbox(self, inst: Instance, event: pb.HistoryEvent, ops: list[Op], visible_at: float = 0.0) -> None:
        row = self._next_row
        self._next_row += 1
        data = event.SerializeToString()
        inst.inbox.append(InboxItem(row, visible_at, event, data))
        ops.append(
            (
                "INSERT INTO inbox (id, instance_id, visible_at, event) VALUES (?, ?, ?, ?)",
                (row, inst.id, visible_at, data),
            )
        )
        if visible_at > time.time():
            heapq.heappush(self._timers, (visible_at, inst.id))
            self._timer_wake.set()

    def _save_instance(self, inst: Instance, ops: list[Op]) -> None:
        ops.append(
            (
                # an instance's creation time and parent never change (a reused ID deletes its row first), so a
                # turn updates status and state in place; OR REPLACE rewrote the row and its parent index entry
                "INSERT INTO instances (instance_id, status, created_at, parent_id, state, parent) "
                "VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (instance_id) DO UPDATE SET status = excluded.status, state = excluded.state",
                (
                    inst.id,
                    inst.status,
                    _seconds(inst.state.createdTimestamp),
                    inst.parent.workflowInstance.instanceId if inst.parent else None,
                    inst.state.SerializeToString(),
                    inst.parent.SerializeToString() if inst.parent else None,
                ),
            )
        )

    def _notify(self, inst: Instance) -> None:
        waiters, inst.waiters = inst.waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    def _forget_history_cache(self, iid: str) -> None:
        for stream in self._streams:
            stream.warm.pop(iid, None)

    def _drop_activities(self, iid: str, ops: list[Op]) -> None:
        for act_id in [a.id for a in self.activities.values() if a.instance_id == iid]:
            act = self.activities.pop(act_id)
            if act.stream is not None:
                act.stream.activities.discard(act_id)
        ops.append(("DELETE FROM activities WHERE instance_id = ?", (iid,)))

    def _clear_inbox(self, inst: Instance, ops: list[Op]) -> None:
        inst.inbox = []
        ops.append(("DELETE FROM inbox WHERE instance_id = ?", (inst.id,)))

    # -- instance creation ------------------------------------------------------------------------------------------
    def _create_instance(
        self,
        iid: str,
        name: str,
        input_: wrappers_pb2.StringValue | None,
        ops: list[Op],
        *,
        parent: pb.ParentInstanceInfo | None = None,
        start_at: float | None = None,
        tags: dict[str, str] | None = None,
        execution_id: str = "",
    ) -> Instance:
        existing = self.instances.get(iid)
        if existing is not None:
            if not existing.terminal:
                raise EngineError(grpc.StatusCode.ALREADY_EXISTS, f"workflow instance '{iid}' already exists")
            self._delete_instance(existing, ops)  # an ID is reusable once its instance has ended
        now = time.time()
        execution_id = execution_id or uuid.uuid4().hex
        state = pb.WorkflowState(
            instanceId=iid,
            name=name,
            workflowStatus=PENDING,
            createdTimestamp=_ts(now),
            lastUpdatedTimestamp=_ts(now),
            executionId=_sv(execution_id),
        )
        if input_ is not None:
            state.input.CopyFrom(input_)
        if parent is not None:
            state.parentInstanceId.value = parent.workflowInstance.instanceId
        if start_at is not None:
            state.scheduledStartTimestamp.CopyFrom(_ts(start_at))
        for k, v in (tags or {}).items():
            state.tags[k] = v
        inst = Instance(iid, state, parent, [])
        self.instances[iid] = inst
        self._save_instance(inst, ops)
        self._add_inbox(inst, self._started_event(inst, input_, now, start_at), ops, start_at or 0.0)
        return inst

    def _started_event(
        self, inst: Instance, input_: wrappers_pb2.StringValue | None, now: float, start_at: float | None = None
    ) -> pb.HistoryEvent:
        started = pb.ExecutionStartedEvent(
            name=inst.state.name,
            workflowInstance=pb.WorkflowInstance(instanceId=inst.id, executionId=_sv(inst.execution_id)),
        )
        if input_ is not None:
            started.input.CopyFrom(input_)
        if inst.parent is not None:
            started.parentInstance.CopyFrom(inst.parent)
        if start_at is not None:
            started.scheduledStartTimestamp.CopyFrom(_ts(start_at))
        for k, v in inst.state.tags.items():
            started.tags[k] = v
        ev = _event(now, executionStarted=started)
        ev.router.sourceAppID = self.app_id
        return ev

    def _delete_instance(self, inst: Instance, ops: list[Op]) -> None:
        self.instances.pop(inst.id, None)
        self._drop_activities(inst.id, ops)
        for table in ("instances", "history", "inbox"):
            ops.append((f"DELETE FROM {table} WHERE instance_id = ?", (inst.id,)))
        self._forget_history_cache(inst.id)
        self._notify(inst)

    # -- ending an execution ----------------------------------------------------------------------------------------
    def _finish(
        self,
        inst: Instance,
        status: int,
        ops: list[Op],
        output: wrappers_pb2.StringValue | None,
        failure: pb.TaskFailureDetails | None,
        now: float,
    ) -> None:
        """Record a terminal status, drop the execution's pending work and tell the parent workflow."""
        st = inst.state
        st.workflowStatus = status  # type: ignore[assignment]
        st.ClearField("output")
        st.ClearField("failureDetails")
        if output is not None:
            st.output.CopyFrom(output)
        if failure is not None:
            st.failureDetails.CopyFrom(failure)
        st.completedTimestamp.CopyFrom(_ts(now))
        st.lastUpdatedTimestamp.CopyFrom(_ts(now))
        self._clear_inbox(inst, ops)
        self._drop_activities(inst.id, ops)
        self._forget_history_cache(inst.id)
        self._save_instance(inst, ops)
        parent = inst.parent
        if parent is None:
            return
        pinst = self.instances.get(parent.workflowInstance.instanceId)
        if pinst is None or pinst.terminal or pinst.execution_id != parent.workflowInstance.executionId.value:
            return
        if status == COMPLETED:
            done = pb.ChildWorkflowInstanceCompletedEvent(taskScheduledId=parent.taskScheduledId)
            if output is not None:
                done.result.CopyFrom(output)
            self._add_inbox(pinst, _event(now, childWorkflowInstanceCompleted=done), ops)
        else:
            details = failure or pb.TaskFailureDetails(
                errorType="WorkflowTerminated" if status == TERMINATED else "WorkflowFailed",
                errorMessage=f"child workflow '{inst.id}' ended with status {pb.OrchestrationStatus.Name(status)}",
            )
            failed = pb.ChildWorkflowInstanceFailedEvent(taskScheduledId=parent.taskScheduledId, failureDetails=details)
            self._add_inbox(pinst, _event(now, childWorkflowInstanceFailed=failed), ops)
        self._schedule(pinst)

    # -- GetWorkItems -----------------------------------------------------------------------------------------------
    async def GetWorkItems(self, request: pb.GetWorkItemsRequest, context: Any) -> AsyncIterator[bytes]:
        """Stream work items, already encoded (see :meth:`add_to_server`)."""
        caps = set(request.capabilities)
        stream = WorkerStream(
            next(self._stream_ids),
            stateful=pb.WORKER_CAPABILITY_STATEFUL_HISTORY in caps,
            pings=pb.WORKER_CAPABILITY_HEALTH_PING in caps,
        )
        self._streams.add(stream)
        log.debug("worker stream %d opened (stateful history: %s)", stream.id, stream.stateful)
        loop = asyncio.get_running_loop()
        stream.last_sent = loop.time()
        if stream.pings:
            stream.ping_timer = loop.call_later(self.health_ping_seconds, self._ping_due, stream)
        work = self._work
        try:
            while self.failure is None:
                if not work:
                    # a wake-up only says "look again": cancelled while waiting, the stream takes nothing
                    wake: asyncio.Future[bool] = loop.create_future()
                    stream.wake = wake
                    self._idle.append(stream)
                    if await wake:
                        yield HEALTH_PING_ITEM
                        stream.last_sent = loop.time()
                    continue
                item = self._work_item(work.popleft(), stream)
                if item is not None:
                    stream.last_sent = loop.time()
                    yield item
        finally:
            self._release(stream)

    def _work_item(self, ref: WorkRef, stream: WorkerStream) -> bytes | None:
        kind, key = ref
        if kind == "a":
            act = self.activities.get(int(key))
            if act is None or act.stream is not None:
                return None
            act.stream = stream
            stream.activities.add(act.id)
            return encode_activity_item(act.data, f"{self.boot}:{act.id}")
        inst = self.instances.get(str(key))
        if inst is None:
            return None
        inst.queued = False
        now = time.time()
        items = self._ready_items(inst, now)
        if not items:
            return None
        assert inst.history is not None
        started = _event(now, workflowStarted=pb.WorkflowStartedEvent())
        new_events = [started] + [i.event for i in items]
        new_data = [started.SerializeToString()] + [i.data for i in items]
        token = f"{self.boot}:o{next(self._tokens)}"
        inst.in_flight = Turn(token, stream, items, new_events, new_data)
        stream.turns[token] = inst.id
        past = inst.history_data
        cached = stream.warm.get(inst.id) if stream.stateful else None
        if cached is not None and cached <= len(past):
            past = past[cached:]  # the worker holds the prefix from its previous turn here
        else:
            cached = None
        if stream.stateful:
            stream.warm[inst.id] = len(inst.history)
        return encode_workflow_item(inst.id, inst.execution_id, past, new_data, cached, token)

    def _release(self, stream: WorkerStream) -> None:
        """A worker's stream closed: everything handed to it goes back to the queue."""
        self._streams.discard(stream)
        if stream.ping_timer is not None:
            stream.ping_timer.cancel()
        if stream.wake is not None:
            stream.wake = None
            self._idle.remove(stream)
        for token, iid in stream.turns.items():
            inst = self.instances.get(iid)
            if inst is not None and inst.in_flight is not None and inst.in_flight.token == token:
                inst.in_flight = None
                self._schedule(inst)
        for act_id in stream.activities:
            act = self.activities.get(act_id)
            if act is not None and act.stream is stream:
                act.stream = None
                self._put(("a", act_id))
        if self._work:  # a wake-up this stream took but did not use goes to another stream
            self._wake_one()
        log.debug("worker stream %d closed; %d items requeued", stream.id, len(stream.turns) + len(stream.activities))

    # -- completions ------------------------------------------------------------------------------------------------
    async def CompleteActivityTask(self, res: pb.ActivityResponse, context: Any) -> pb.CompleteTaskResponse:
        boot, _, key = res.completionToken.partition(":")
        act = self.activities.pop(int(key), None) if boot == self.boot and key.isdigit() else None
        if act is None:
            log.debug("ignoring stale activity completion for %s", res.instanceId)
            return pb.CompleteTaskResponse()
        if act.stream is not None:
            act.stream.activities.discard(act.id)
        ops: list[Op] = [("DELETE FROM activities WHERE id = ?", (act.id,))]
        inst = self.instances.get(act.instance_id)
        if inst is not None and not inst.terminal and inst.execution_id == act.execution_id:
            now = time.time()
            task_id = act.request.taskId
            if res.HasField("failureDetails"):
                ev = _event(
                    now,
                    taskFailed=pb.TaskFailedEvent(
                        taskScheduledId=task_id,
                        failureDetails=res.failureDetails,
                        taskExecutionId=act.request.taskExecutionId,
                    ),
                )
            else:
                done = pb.TaskCompletedEvent(taskScheduledId=task_id, taskExecutionId=act.request.taskExecutionId)
                if res.HasField("result"):
                    done.result.CopyFrom(res.result)
                ev = _event(now, taskCompleted=done)
            self._add_inbox(inst, ev, ops)
            self._schedule(inst)
        # lazy: the result rides along with the commit of the turn that consumes it, one fsync instead of two; if
        # the process dies first, this activity (the only one in flight) runs again
        self._commit_in_background(ops, lazy=True)
        return pb.CompleteTaskResponse()

    async def CompleteOrchestratorTask(self, res: pb.WorkflowResponse, context: Any) -> pb.CompleteTaskResponse:
        inst = self.instances.get(res.instanceId)
        turn = inst.in_flight if inst is not None else None
        if inst is None or turn is None or turn.token != res.completionToken:
            log.debug("ignoring stale workflow completion for %s", res.instanceId)
            return pb.CompleteTaskResponse()
        inst.in_flight = None
        turn.stream.turns.pop(turn.token, None)
        ops = self._apply_turn(inst, turn, res)

        def drop_history() -> None:
            if inst.terminal and inst.in_flight is None:
                inst.history = None  # ended and durable: read it back from the database if anyone asks
                inst.history_data = []

        self._commit_in_background(ops, drop_history if inst.terminal else None)
        return pb.CompleteTaskResponse()

    def _commit_in_background(
        self, ops: list[Op], then: Callable[[], None] | None = None, *, lazy: bool = False
    ) -> None:
        """Commit a worker's completion without making the worker wait for the disk.

        Safe because nothing is lost if the process dies first: the activity or the turn is still pending in the
        database and is handed out again (activities run at least once; a replayed turn yields the same actions).
        Client-facing calls, and the answers to them, always wait for the commit.
        """

        after, self._after_commit = self._after_commit, []
        if then is not None:
            after.append(then)

        def durable(error: Exception | None) -> None:
            if error is not None:
                self.fail(error)
                return
            for fn in after:
                fn()

        self.store.submit_then(ops, durable, lazy=lazy)

    CompleteWorkflowTask = CompleteOrchestratorTask

    def _apply_turn(self, inst: Instance, turn: Turn, res: pb.WorkflowResponse) -> list[Op]:
        now = time.time()
        ops: list[Op] = []
        assert inst.history is not None
        done_rows = {i.row for i in turn.items}
        inst.inbox = [i for i in inst.inbox if i.row not in done_rows]
        ops.extend(("DELETE FROM inbox WHERE id = ?", (row,)) for row in done_rows)
        if res.HasField("version"):
            # The workflow version and the patches (ctx.is_patched) this turn ran with are recorded on its
            # OrchestratorStarted event: every later replay reads them there and takes the same code path.
            # (A stateful worker caches only history before this turn, so it receives the recorded event.)
            started = turn.new_events[0]
            started.workflowStarted.version.CopyFrom(res.version)
            turn.new_data[0] = started.SerializeToString()
        self._append_history(inst, turn.new_events, ops, turn.new_data)
        st = inst.state
        if st.workflowStatus == PENDING:
            st.workflowStatus = RUNNING
        if not st.HasField("startedAt"):
            st.startedAt.CopyFrom(_ts(now))
        st.lastUpdatedTimestamp.CopyFrom(_ts(now))
        if res.HasField("customStatus"):
            st.customStatus.CopyFrom(res.customStatus)
        else:
            st.ClearField("customStatus")
        produced: list[pb.HistoryEvent] = []
        complete: pb.CompleteWorkflowAction | None = None
        for action in res.actions:
            kind = action.WhichOneof("workflowActionType")
            if kind == "completeWorkflow":
                complete = action.completeWorkflow
            elif kind is not None:
                self._apply_action(inst, action, kind, produced, ops, now)
        self._append_history(inst, produced, ops)
        for item in turn.items:
            term = item.event.executionTerminated if item.event.HasField("executionTerminated") else None
            if term is not None and term.recurse:
                # again now: a turn that was in flight when the terminate arrived may have created more children
                self._terminate_children(inst, term.input if term.HasField("input") else None, ops, now)
        if complete is not None:
            self._complete(inst, complete, ops, now)
        else:
            self._save_instance(inst, ops)
        self._schedule(inst)
        self._notify(inst)
        return ops

    def _append_history(
        self, inst: Instance, events: list[pb.HistoryEvent], ops: list[Op], data: list[bytes] | None = None
    ) -> None:
        """Append events (``data``: their encodings, when the caller has them) in memory and in the database."""
        assert inst.history is not None
        if data is None:
            data = [e.SerializeToString() for e in events]
        base = len(inst.history)
        inst.history.extend(events)
        inst.history_data.extend(data)
        ops.extend(
            ("INSERT INTO history (instance_id, seq, event) VALUES (?, ?, ?)", (inst.id, base + n, d))
            for n, d in enumerate(data)
        )

    def _apply_action(
        self,
        inst: Instance,
        action: pb.WorkflowAction,
        kind: str,
        produced: list[pb.HistoryEvent],
        ops: list[Op],
        now: float,
    ) -> None:
        aid = action.id
        if kind == "scheduleTask":
            a = action.scheduleTask
            sched = pb.TaskScheduledEvent(name=a.name, taskExecutionId=a.taskExecutionId)
            if a.HasField("input"):
                sched.input.CopyFrom(a.input)
            if a.HasField("version"):
                sched.version.CopyFrom(a.version)
            produced.append(_event(now, aid, taskScheduled=sched))
            self._new_activity(inst, aid, a.name, a.input if a.HasField("input") else None, a.taskExecutionId, ops)
        elif kind == "createTimer":
            a = action.createTimer
            created = pb.TimerCreatedEvent(fireAt=a.fireAt, name=a.name)
            origin = a.WhichOneof("origin")
            if origin is not None:
                getattr(created, origin).CopyFrom(getattr(a, origin))
            produced.append(_event(now, aid, timerCreated=created))
            if a.fireAt.seconds < OPTIONAL_TIMER_SECONDS:  # the optional timer is recorded, never fired
                fire_at = _seconds(a.fireAt)
                fired = _event(fire_at, timerFired=pb.TimerFiredEvent(fireAt=a.fireAt, timerId=aid))
                self._add_inbox(inst, fired, ops, fire_at)
        elif kind == "createChildWorkflow":
            a = action.createChildWorkflow
            child_id = a.instanceId or f"{inst.id}:{aid:04x}"
            created_ev = pb.ChildWorkflowInstanceCreatedEvent(instanceId=child_id, name=a.name)
            if a.HasField("input"):
                created_ev.input.CopyFrom(a.input)
            produced.append(_event(now, aid, childWorkflowInstanceCreated=created_ev))
            parent = pb.ParentInstanceInfo(
                taskScheduledId=aid,
                name=_sv(inst.state.name),
                workflowInstance=pb.WorkflowInstance(instanceId=inst.id, executionId=_sv(inst.execution_id)),
                appID=self.app_id,
            )
            try:
                child = self._create_instance(
                    child_id, a.name, a.input if a.HasField("input") else None, ops, parent=parent
                )
                self._schedule(child)
            except EngineError as exc:
                failed = pb.ChildWorkflowInstanceFailedEvent(
                    taskScheduledId=aid,
                    failureDetails=pb.TaskFailureDetails(errorType="WorkflowAlreadyExists", errorMessage=exc.message),
                )
                self._add_inbox(inst, _event(now, childWorkflowInstanceFailed=failed), ops)
        elif kind == "createDetachedWorkflow":
            a = action.createDetachedWorkflow
            produced.append(
                _event(
                    now,
                    aid,
                    detachedWorkflowInstanceCreated=pb.DetachedWorkflowInstanceCreatedEvent(instanceId=a.instanceId),
                )
            )
            try:
                start_at = _seconds(a.scheduledStartTimestamp) if a.HasField("scheduledStartTimestamp") else None
                detached = self._create_instance(
                    a.instanceId or uuid.uuid4().hex,
                    a.name,
                    a.input if a.HasField("input") else None,
                    ops,
                    start_at=start_at,
                    tags=dict(a.tags),
                )
                self._schedule(detached)
            except EngineError as exc:
                log.warning("workflow %s: detached workflow not started: %s", inst.id, exc.message)
        elif kind == "sendEvent":
            a = action.sendEvent
            sent = pb.EventSentEvent(instanceId=a.instance.instanceId, name=a.name)
            if a.HasField("data"):
                sent.input.CopyFrom(a.data)
            produced.append(_event(now, aid, eventSent=sent))
            target = self.instances.get(a.instance.instanceId)
            if target is not None and not target.terminal:
                raised = pb.EventRaisedEvent(name=a.name)
                if a.HasField("data"):
                    raised.input.CopyFrom(a.data)
                self._add_inbox(target, _event(now, eventRaised=raised), ops)
                self._schedule(target)
        elif kind == "terminateWorkflow":
            a = action.terminateWorkflow
            target = self.instances.get(a.instanceId)
            if target is not None:
                self._terminate(target, a.reason if a.HasField("reason") else None, a.recurse, ops, now)
        elif kind == "workflowVersionNotAvailable":
            inst.state.workflowStatus = STALLED
            stalled = pb.ExecutionStalledEvent(
                reason=pb.VERSION_NOT_AVAILABLE, description="the worker has no registered version of this workflow"
            )
            produced.append(_event(now, executionStalled=stalled))
        else:
            log.warning("workflow %s: ignoring unknown action %s", inst.id, kind)

    def _new_activity(
        self,
        inst: Instance,
        task_id: int,
        name: str,
        input_: wrappers_pb2.StringValue | None,
        task_execution_id: str,
        ops: list[Op],
    ) -> None:
        act_id = self._next_activity
        self._next_activity += 1
        req = pb.ActivityRequest(
            name=name,
            taskId=task_id,
            taskExecutionId=task_execution_id,
            workflowInstance=pb.WorkflowInstance(instanceId=inst.id, executionId=_sv(inst.execution_id)),
        )
        if input_ is not None:
            req.input.CopyFrom(input_)
        data = req.SerializeToString()
        self.activities[act_id] = Activity(act_id, inst.id, inst.execution_id, req, data)
        ops.append(("INSERT INTO activities (id, instance_id, request) VALUES (?, ?, ?)", (act_id, inst.id, data)))
        # an activity has effects outside the engine: hand it out only once the turn that scheduled it is durable
        self._after_commit.append(lambda: self._put(("a", act_id)))

    def _complete(self, inst: Instance, a: pb.CompleteWorkflowAction, ops: list[Op], now: float) -> None:
        status = int(a.workflowStatus)
        result = a.result if a.HasField("result") else None
        if status == CONTINUED_AS_NEW:
            self._continue_as_new(inst, result, list(a.carryoverEvents), ops, now)
            return
        failure = a.failureDetails if a.HasField("failureDetails") else None
        completed = pb.ExecutionCompletedEvent(workflowStatus=status)  # type: ignore[arg-type]
        if result is not None:
            completed.result.CopyFrom(result)
        if failure is not None:
            completed.failureDetails.CopyFrom(failure)
        self._append_history(inst, [_event(now, executionCompleted=completed)], ops)
        self._finish(inst, status, ops, result, failure, now)

    def _continue_as_new(
        self,
        inst: Instance,
        new_input: wrappers_pb2.StringValue | None,
        carryover: list[pb.HistoryEvent],
        ops: list[Op],
        now: float,
    ) -> None:
        # The new execution sees its start, then the carried-over events, then whatever was already waiting.
        waiting = [i.event for i in inst.inbox if i.event.WhichOneof("eventType") not in _EXECUTION_BOUND]
        self._clear_inbox(inst, ops)
        self._drop_activities(inst.id, ops)
        self._forget_history_cache(inst.id)
        inst.history = []
        inst.history_data = []
        ops.append(("DELETE FROM history WHERE instance_id = ?", (inst.id,)))
        st = inst.state
        st.executionId.value = uuid.uuid4().hex
        st.ClearField("input")
        st.ClearField("output")
        st.ClearField("failureDetails")
        if new_input is not None:
            st.input.CopyFrom(new_input)
        if st.workflowStatus != SUSPENDED:
            st.workflowStatus = RUNNING
        self._save_instance(inst, ops)
        self._add_inbox(inst, self._started_event(inst, new_input, now), ops)
        for ev in [*carryover, *waiting]:
            self._add_inbox(inst, ev, ops)

    def _terminate(
        self,
        inst: Instance,
        output: wrappers_pb2.StringValue | None,
        recursive: bool,
        ops: list[Op],
        now: float,
    ) -> None:
        if inst.terminal:
            return
        if recursive:
            self._terminate_children(inst, output, ops, now)
        if not inst.history and inst.in_flight is None:
            # never started: nothing to tell a worker, end it here
            self._append_history(
                inst, [_event(now, executionTerminated=pb.ExecutionTerminatedEvent(input=output))], ops
            )
            self._finish(inst, TERMINATED, ops, output, None, now)
            self._notify(inst)
            return
        term = pb.ExecutionTerminatedEvent(recurse=recursive)
        if output is not None:
            term.input.CopyFrom(output)
        self._add_inbox(inst, _event(now, executionTerminated=term), ops)
        self._schedule(inst)

    def _terminate_children(
        self, inst: Instance, output: wrappers_pb2.StringValue | None, ops: list[Op], now: float
    ) -> None:
        children = [
            c
            for c in self.instances.values()
            if c.parent is not None
            and c.parent.workflowInstance.instanceId == inst.id
            and c.parent.workflowInstance.executionId.value == inst.execution_id
        ]
        for child in children:
            if not any(i.event.HasField("executionTerminated") for i in child.inbox):  # else already on its way out
                self._terminate(child, output, True, ops, now)

    # -- client API -------------------------------------------------------------------------------------------------
    async def _guard(self, context: Any, fn: Callable[[], list[Op]]) -> None:
        try:
            ops = fn()
        except EngineError as exc:
            self._after_commit = []
            await context.abort(exc.code, exc.message)
            return
        after, self._after_commit = self._after_commit, []
        try:
            await self.store.submit(ops)
        except StoreError as exc:
            self.fail(exc)
            await context.abort(grpc.StatusCode.UNAVAILABLE, self.failure or str(exc))
            return
        for then in after:
            then()

    def _get(self, iid: str) -> Instance:
        inst = self.instances.get(iid)
        if inst is None:
            raise EngineError(grpc.StatusCode.NOT_FOUND, f"no workflow instance with ID '{iid}'")
        return inst

    async def Hello(self, request: empty_pb2.Empty, context: Any) -> empty_pb2.Empty:
        return empty_pb2.Empty()

    async def StartInstance(self, req: pb.CreateInstanceRequest, context: Any) -> pb.CreateInstanceResponse:
        iid = req.instanceId or uuid.uuid4().hex

        def run() -> list[Op]:
            if not req.name:
                raise EngineError(grpc.StatusCode.INVALID_ARGUMENT, "a workflow name is required")
            ops: list[Op] = []
            start_at = _seconds(req.scheduledStartTimestamp) if req.HasField("scheduledStartTimestamp") else None
            inst = self._create_instance(
                iid,
                req.name,
                req.input if req.HasField("input") else None,
                ops,
                start_at=start_at,
                tags=dict(req.tags),
                execution_id=req.executionId.value if req.HasField("executionId") else "",
            )
            self._schedule(inst)
            return ops

        await self._guard(context, run)
        return pb.CreateInstanceResponse(instanceId=iid)

    def _state_response(self, iid: str, with_payloads: bool) -> pb.GetInstanceResponse:
        inst = self.instances.get(iid)
        if inst is None:
            return pb.GetInstanceResponse(exists=False)
        state = pb.WorkflowState()
        state.CopyFrom(inst.state)
        if not with_payloads:
            state.ClearField("input")
            state.ClearField("output")
        return pb.GetInstanceResponse(exists=True, workflowState=state)

    async def GetInstance(self, req: pb.GetInstanceRequest, context: Any) -> pb.GetInstanceResponse:
        await self.store.submit([])  # answer only with state that is durable
        return self._state_response(req.instanceId, req.getInputsAndOutputs)

    async def _wait(self, req: pb.GetInstanceRequest, done: Callable[[Instance], bool]) -> pb.GetInstanceResponse:
        while True:
            inst = self.instances.get(req.instanceId)
            if inst is None or done(inst):
                await self.store.submit([])  # answer only with state that is durable
                return self._state_response(req.instanceId, req.getInputsAndOutputs)
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            inst.waiters.append(fut)
            await fut

    async def WaitForInstanceStart(self, req: pb.GetInstanceRequest, context: Any) -> pb.GetInstanceResponse:
        return await self._wait(req, lambda i: i.status != PENDING)

    async def WaitForInstanceCompletion(self, req: pb.GetInstanceRequest, context: Any) -> pb.GetInstanceResponse:
        return await self._wait(req, lambda i: i.terminal)

    async def RaiseEvent(self, req: pb.RaiseEventRequest, context: Any) -> pb.RaiseEventResponse:
        def run() -> list[Op]:
            inst = self._get(req.instanceId)
            ops: list[Op] = []
            if inst.terminal:
                log.info("event '%s' for ended workflow %s dropped", req.name, inst.id)
                return ops
            raised = pb.EventRaisedEvent(name=req.name)
            if req.HasField("input"):
                raised.input.CopyFrom(req.input)
            self._add_inbox(inst, _event(time.time(), eventRaised=raised), ops)
            self._schedule(inst)
            return ops

        await self._guard(context, run)
        return pb.RaiseEventResponse()

    async def TerminateInstance(self, req: pb.TerminateRequest, context: Any) -> pb.TerminateResponse:
        def run() -> list[Op]:
            inst = self._get(req.instanceId)
            ops: list[Op] = []
            self._terminate(inst, req.output if req.HasField("output") else None, req.recursive, ops, time.time())
            return ops

        await self._guard(context, run)
        return pb.TerminateResponse()

    async def SuspendInstance(self, req: pb.SuspendRequest, context: Any) -> pb.SuspendResponse:
        def run() -> list[Op]:
            inst = self._get(req.instanceId)
            ops: list[Op] = []
            if inst.status in (RUNNING, PENDING):
                ev = pb.ExecutionSuspendedEvent()
                if req.HasField("reason"):
                    ev.input.CopyFrom(req.reason)
                inst.state.workflowStatus = SUSPENDED
                inst.state.lastUpdatedTimestamp.CopyFrom(_ts(time.time()))
                self._save_instance(inst, ops)
                self._add_inbox(inst, _event(time.time(), executionSuspended=ev), ops)
                self._notify(inst)
            return ops

        await self._guard(context, run)
        return pb.SuspendResponse()

    async def ResumeInstance(self, req: pb.ResumeRequest, context: Any) -> pb.ResumeResponse:
        def run() -> list[Op]:
            inst = self._get(req.instanceId)
            ops: list[Op] = []
            if inst.status == SUSPENDED:
                ev = pb.ExecutionResumedEvent()
                if req.HasField("reason"):
                    ev.input.CopyFrom(req.reason)
                inst.state.workflowStatus = RUNNING if inst.history else PENDING
                inst.state.lastUpdatedTimestamp.CopyFrom(_ts(time.time()))
                self._save_instance(inst, ops)
                self._add_inbox(inst, _event(time.time(), executionResumed=ev), ops)
                self._schedule(inst)
                self._notify(inst)
            return ops

        await self._guard(context, run)
        return pb.ResumeResponse()

    async def PurgeInstances(self, req: pb.PurgeInstancesRequest, context: Any) -> pb.PurgeInstancesResponse:
        count = 0

        def purge(inst: Instance, ops: list[Op], force: bool) -> None:
            nonlocal count
            if not inst.terminal and not force:
                raise EngineError(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"workflow instance '{inst.id}' is {pb.OrchestrationStatus.Name(inst.status)}; "
                    "only ended instances can be purged",
                )
            if req.recursive:
                for child in [
                    c for c in self.instances.values() if c.parent and c.parent.workflowInstance.instanceId == inst.id
                ]:
                    if child.terminal or force:
                        purge(child, ops, force)
            self._delete_instance(inst, ops)
            count += 1

        def run() -> list[Op]:
            ops: list[Op] = []
            if req.WhichOneof("request") == "purgeInstanceFilter":
                f = req.purgeInstanceFilter
                lo = _seconds(f.createdTimeFrom) if f.HasField("createdTimeFrom") else float("-inf")
                hi = _seconds(f.createdTimeTo) if f.HasField("createdTimeTo") else float("inf")
                statuses = set(f.runtimeStatus) or set(TERMINAL)
                for inst in list(self.instances.values()):
                    created = _seconds(inst.state.createdTimestamp)
                    if inst.id in self.instances and inst.terminal and inst.status in statuses and lo <= created <= hi:
                        purge(inst, ops, False)
            else:
                one = self.instances.get(req.instanceId)
                if one is not None:
                    purge(one, ops, req.force)
            return ops

        await self._guard(context, run)
        if count:
            # A purge is an erasure: the deleted rows were zeroed (secure_delete), and their older versions go with
            # the write-ahead log, emptied here (a rare call, so the extra fsync is no burden).
            self.store.truncate_log()
        return pb.PurgeInstancesResponse(deletedInstanceCount=count, isComplete=wrappers_pb2.BoolValue(value=True))

    async def ListInstanceIDs(self, req: pb.ListInstanceIDsRequest, context: Any) -> pb.ListInstanceIDsResponse:
        ids = sorted(i for i in self.instances if i > req.continuationToken)
        size = req.pageSize or len(ids)
        page = ids[:size]
        token = page[-1] if len(ids) > size and page else ""
        return pb.ListInstanceIDsResponse(instanceIds=page, continuationToken=token)

    def _history(self, inst: Instance) -> list[pb.HistoryEvent]:
        if inst.history is not None:
            return inst.history
        rows = self.store.query("SELECT event FROM history WHERE instance_id = ? ORDER BY seq", (inst.id,))
        return [pb.HistoryEvent.FromString(r[0]) for r in rows]

    async def GetInstanceHistory(
        self, req: pb.GetInstanceHistoryRequest, context: Any
    ) -> pb.GetInstanceHistoryResponse:
        inst = self.instances.get(req.instanceId)
        if inst is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no workflow instance with ID '{req.instanceId}'")
            return pb.GetInstanceHistoryResponse()
        # a history being written by a commit still in flight is served from memory, so it is never torn
        return pb.GetInstanceHistoryResponse(events=self._history(inst))

    async def RerunWorkflowFromEvent(
        self, req: pb.RerunWorkflowFromEventRequest, context: Any
    ) -> pb.RerunWorkflowFromEventResponse:
        new_id = req.newInstanceID or uuid.uuid4().hex

        def run() -> list[Op]:
            src = self._get(req.sourceInstanceID)
            if not src.terminal:
                raise EngineError(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"workflow instance '{src.id}' has not ended; it cannot be rerun",
                )
            history = self._history(src)
            at = next(
                (n for n, e in enumerate(history) if e.HasField("taskScheduled") and e.eventId == req.eventID), None
            )
            if at is None:
                raise EngineError(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"workflow instance '{src.id}' has no activity scheduled with event ID {req.eventID}",
                )
            ops: list[Op] = []
            input_ = req.input if req.overwriteInput else (src.state.input if src.state.HasField("input") else None)
            inst = self._create_instance(new_id, src.state.name, input_, ops)
            self._clear_inbox(inst, ops)
            now = time.time()
            prefix: list[pb.HistoryEvent] = []
            for e in history[:at]:
                copy = pb.HistoryEvent()
                copy.CopyFrom(e)
                if copy.HasField("executionStarted"):
                    copy.executionStarted.workflowInstance.instanceId = new_id
                    copy.executionStarted.workflowInstance.executionId.value = inst.execution_id
                    copy.executionStarted.ClearField("input")
                    if input_ is not None:
                        copy.executionStarted.input.CopyFrom(input_)
                prefix.append(copy)
            target = pb.HistoryEvent()
            target.CopyFrom(history[at])
            target.taskScheduled.rerunParentInstanceInfo.instanceID = src.id
            prefix.append(target)
            self._append_history(inst, prefix, ops)
            # every activity scheduled in the kept prefix without a result in it runs again
            done = {e.taskCompleted.taskScheduledId for e in prefix if e.HasField("taskCompleted")}
            done |= {e.taskFailed.taskScheduledId for e in prefix if e.HasField("taskFailed")}
            for e in prefix:
                if e.HasField("taskScheduled") and e.eventId not in done:
                    t = e.taskScheduled
                    self._new_activity(
                        inst, e.eventId, t.name, t.input if t.HasField("input") else None, t.taskExecutionId, ops
                    )
            inst.state.workflowStatus = RUNNING
            inst.state.startedAt.CopyFrom(_ts(now))
            self._save_instance(inst, ops)
            return ops

        await self._guard(context, run)
        return pb.RerunWorkflowFromEventResponse(newInstanceID=new_id)
