"""The ``dapr.proto.runtime.v1.Dapr`` gRPC servicer: the Dapr runtime API subset docline uses.

State, output bindings, secrets, metadata, pub/sub (publish, bulk publish, streaming subscriptions) and the
Conversation API (Alpha1 and Alpha2), answering as daprd does:
unknown component names are InvalidArgument, etag mismatches Aborted, malformed etags InvalidArgument, component
failures Internal. One docline difference: an LLM provider's refusal of the request as asked (HTTP 4xx, or a 5xx
saying it was invalid) is InvalidArgument (or Unauthenticated, PermissionDenied, NotFound), not Internal, so the app
sees at once that asking again cannot help. Every other RPC of the service answers UNIMPLEMENTED.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
from dapr.proto import api_service_v1, api_v1, common_v1
from google.protobuf import json_format
from google.protobuf.empty_pb2 import Empty

from sidecar.components import LoadedComponents
from sidecar.components.conversation import ChatRequest, ChatResult, ConversationComponent
from sidecar.components.conversation.scrub import scrub_pii
from sidecar.components.errors import (
    BindingOperationError,
    ComponentConfigError,
    ComponentError,
    ConversationError,
    ConversationRefused,
    ETagInvalidError,
    ETagMismatchError,
    SecretNotFoundError,
)
from sidecar.components.state import StateOperation, StateStore, ttl_from_metadata
from sidecar.runtime.pubsub import PubSubAPIError, PubSubRuntime

log = logging.getLogger(__name__)

RUNTIME_VERSION = "docline-sidecar"

R = TypeVar("R")

# A provider's refusal, by its HTTP status, as the gRPC status the app sees (anything else: INVALID_ARGUMENT).
_REFUSED_STATUS = {
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
}


class _Abort(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _rpc(what: str) -> Callable[[Callable[..., Awaitable[R]]], Callable[..., Awaitable[R]]]:
    """Map docline's typed errors to the gRPC status daprd would answer with."""

    def wrap(fn: Callable[..., Awaitable[R]]) -> Callable[..., Awaitable[R]]:
        @functools.wraps(fn)
        async def handler(self: Any, request: Any, context: grpc.aio.ServicerContext) -> R:
            try:
                return await fn(self, request, context)
            except _Abort as exc:
                code, message = exc.code, exc.message
            except PubSubAPIError as exc:
                code, message = exc.grpc_code, exc.message
            except ETagMismatchError as exc:
                code, message = grpc.StatusCode.ABORTED, f"{what}: {exc}"
            except (ETagInvalidError, ComponentConfigError) as exc:
                code, message = grpc.StatusCode.INVALID_ARGUMENT, f"{what}: {exc}"
            except SecretNotFoundError as exc:
                code, message = grpc.StatusCode.INTERNAL, f"{what}: {exc}"
            except ConversationRefused as exc:
                # Not INTERNAL: the caller must see at once that asking the same again cannot help.
                code, message = _REFUSED_STATUS.get(exc.status, grpc.StatusCode.INVALID_ARGUMENT), f"{what}: {exc}"
            except (BindingOperationError, ConversationError, ComponentError) as exc:
                code, message = grpc.StatusCode.INTERNAL, f"{what}: {exc}"
            except Exception as exc:
                log.exception("%s failed", what)
                code, message = grpc.StatusCode.INTERNAL, f"{what}: {type(exc).__name__}: {exc}"
            await context.abort(code, message)
            raise AssertionError("unreachable: abort raises")

        return handler

    return wrap


def _struct_to_dict(message: Any) -> dict[str, Any]:
    result: dict[str, Any] = json_format.MessageToDict(message)
    return result


def _any_to_python(value: Any) -> Any:
    """Decode a google.protobuf.Any parameter (the SDK packs wrappers such as StringValue)."""
    from google.protobuf import wrappers_pb2

    for cls in (
        wrappers_pb2.StringValue,
        wrappers_pb2.BoolValue,
        wrappers_pb2.Int64Value,
        wrappers_pb2.Int32Value,
        wrappers_pb2.DoubleValue,
        wrappers_pb2.FloatValue,
    ):
        if value.Is(cls.DESCRIPTOR):
            holder = cls()
            value.Unpack(holder)
            return holder.value
    return None


def _same(text: str) -> str:
    return text


def _content(parts: Any) -> str:
    return "".join(part.text for part in parts)


def alpha2_messages(request: Any) -> list[dict[str, Any]]:
    """The Alpha2 request's inputs as one OpenAI-shaped message list (all inputs form one conversation)."""
    messages: list[dict[str, Any]] = []
    scrub_all = request.HasField("scrub_pii") and request.scrub_pii
    for conv_input in request.inputs:
        clean = scrub_pii if scrub_all or conv_input.scrub_pii else _same
        for message in conv_input.messages:
            kind = message.WhichOneof("message_types")
            if kind is None:
                continue
            body = getattr(message, kind)
            if kind == "of_tool":
                entry: dict[str, Any] = {
                    "role": "tool",
                    "tool_call_id": body.tool_id,
                    "content": clean(_content(body.content)),
                }
                if body.name:
                    entry["name"] = body.name
                messages.append(entry)
                continue
            role = kind.removeprefix("of_")
            entry = {"role": role, "content": clean(_content(body.content))}
            if body.name:
                entry["name"] = body.name
            if kind == "of_assistant" and len(body.tool_calls):
                entry["tool_calls"] = [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.function.name, "arguments": call.function.arguments},
                    }
                    for call in body.tool_calls
                ]
            messages.append(entry)
    return messages


def alpha2_tools(request: Any) -> list[dict[str, Any]]:
    tools: list[dict[str, Any]] = []
    for tool in request.tools:
        if not tool.HasField("function"):
            continue
        fn: dict[str, Any] = {"name": tool.function.name}
        if tool.function.description:
            fn["description"] = tool.function.description
        if tool.function.HasField("parameters"):
            fn["parameters"] = _struct_to_dict(tool.function.parameters)
        tools.append({"type": "function", "function": fn})
    return tools


class DaprRuntimeServicer(api_service_v1.DaprServicer):
    """Serves the loaded components over the Dapr runtime gRPC API."""

    def __init__(self, components: LoadedComponents, pubsub: PubSubRuntime) -> None:
        self.components = components
        self.pubsub = pubsub
        self.extended_metadata: dict[str, str] = {}

    # -- state -----------------------------------------------------------------------------------------------
    def _store(self, name: str) -> tuple[StateStore, str]:
        if not self.components.state:
            raise _Abort(grpc.StatusCode.FAILED_PRECONDITION, "state store is not configured")
        store = self.components.state.get(name)
        if store is None:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, f"state store {name} is not found")
        return store, self.components.state_key_prefix[name]

    @staticmethod
    def _key(prefix: str, key: str) -> str:
        if not key:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "state key must not be empty")
        if prefix and "||" in key:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, f"input key/keyPrefix '{key}' can't contain '||'")
        return f"{prefix}||{key}" if prefix else key

    @staticmethod
    def _op(kind: str, prefix: str, item: Any) -> StateOperation:
        etag = item.etag.value if item.HasField("etag") and item.etag.value else None
        first_write = (
            item.HasField("options")
            and item.options.concurrency == common_v1.StateOptions.StateConcurrency.CONCURRENCY_FIRST_WRITE
        )
        metadata = dict(item.metadata)
        return StateOperation(
            kind="delete" if kind == "delete" else "upsert",
            key=DaprRuntimeServicer._key(prefix, item.key),
            value=bytes(item.value) if kind != "delete" else b"",
            etag=etag,
            first_write=bool(first_write),
            ttl_seconds=ttl_from_metadata(metadata),
            metadata=metadata,
        )

    @_rpc("fail to get state")
    async def GetState(self, request: Any, context: Any) -> Any:
        store, prefix = self._store(request.store_name)
        entry = await store.get(self._key(prefix, request.key))
        if entry is None:
            return api_v1.GetStateResponse()
        return api_v1.GetStateResponse(data=entry.value, etag=entry.etag)

    @_rpc("fail to get bulk state")
    async def GetBulkState(self, request: Any, context: Any) -> Any:
        store, prefix = self._store(request.store_name)
        keys = list(request.keys)
        entries = await store.bulk_get([self._key(prefix, k) for k in keys])
        items = [
            api_v1.BulkStateItem(key=key) if e is None else api_v1.BulkStateItem(key=key, data=e.value, etag=e.etag)
            for key, e in zip(keys, entries, strict=True)
        ]
        return api_v1.GetBulkStateResponse(items=items)

    @_rpc("failed saving state in state store")
    async def SaveState(self, request: Any, context: Any) -> Any:
        store, prefix = self._store(request.store_name)
        ops = [self._op("upsert", prefix, item) for item in request.states]
        if ops:
            await store.transact(ops)
        return Empty()

    @_rpc("failed deleting state")
    async def DeleteState(self, request: Any, context: Any) -> Any:
        store, prefix = self._store(request.store_name)
        await store.transact([self._op("delete", prefix, request)])
        return Empty()

    @_rpc("failed deleting state")
    async def DeleteBulkState(self, request: Any, context: Any) -> Any:
        store, prefix = self._store(request.store_name)
        ops = [self._op("delete", prefix, item) for item in request.states]
        if ops:
            await store.transact(ops)
        return Empty()

    @_rpc("error while executing state transaction")
    async def ExecuteStateTransaction(self, request: Any, context: Any) -> Any:
        store, prefix = self._store(request.storeName)
        ops: list[StateOperation] = []
        for op in request.operations:
            if op.operationType not in ("upsert", "delete"):
                raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, f"operation type {op.operationType} not supported")
            ops.append(self._op(op.operationType, prefix, op.request))
        if ops:
            await store.transact(ops)
        return Empty()

    # -- bindings --------------------------------------------------------------------------------------------
    @_rpc("error invoking output binding")
    async def InvokeBinding(self, request: Any, context: Any) -> Any:
        binding = self.components.output_bindings.get(request.name)
        if binding is None:
            raise _Abort(grpc.StatusCode.INTERNAL, f"error invoking output binding {request.name}: binding not found")
        response = await binding.invoke(request.operation, bytes(request.data), dict(request.metadata))
        return api_v1.InvokeBindingResponse(data=response.data, metadata=response.metadata)

    # -- secrets ---------------------------------------------------------------------------------------------
    def _secret_store(self, name: str) -> Any:
        if not self.components.secrets:
            raise _Abort(grpc.StatusCode.FAILED_PRECONDITION, "secret store is not configured")
        store = self.components.secrets.get(name)
        if store is None:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, f"failed finding secret store with key {name}")
        return store

    @_rpc("failed getting secret")
    async def GetSecret(self, request: Any, context: Any) -> Any:
        store = self._secret_store(request.store_name)
        return api_v1.GetSecretResponse(data=store.get(request.key))

    @_rpc("failed getting secrets")
    async def GetBulkSecret(self, request: Any, context: Any) -> Any:
        store = self._secret_store(request.store_name)
        data = {key: api_v1.SecretResponse(secrets=values) for key, values in store.bulk().items()}
        return api_v1.GetBulkSecretResponse(data=data)

    # -- metadata --------------------------------------------------------------------------------------------
    @_rpc("failed getting metadata")
    async def GetMetadata(self, request: Any, context: Any) -> Any:
        registered = [
            api_v1.RegisteredComponents(name=c.name, type=c.type, version=c.version, capabilities=list(c.capabilities))
            for c in self.components.registered
        ]
        kinds = {
            "declarative": api_v1.DECLARATIVE,
            "programmatic": api_v1.PROGRAMMATIC,
            "streaming": api_v1.STREAMING,
        }
        subscriptions = [
            api_v1.PubsubSubscription(
                pubsub_name=sub.pubsub,
                topic=sub.topic,
                metadata=sub.metadata,
                rules=api_v1.PubsubSubscriptionRules(
                    rules=[api_v1.PubsubSubscriptionRule(match=r.match, path=r.path) for r in sub.rules]
                ),
                dead_letter_topic=sub.dead_letter_topic,
                type=kinds[sub.kind],
            )
            for sub in self.pubsub.subscriptions()
        ]
        return api_v1.GetMetadataResponse(
            id=self.components.app_id,
            registered_components=registered,
            extended_metadata=self.extended_metadata,
            runtime_version=RUNTIME_VERSION,
            subscriptions=subscriptions,
        )

    @_rpc("failed setting metadata")
    async def SetMetadata(self, request: Any, context: Any) -> Any:
        self.extended_metadata[request.key] = request.value
        return Empty()

    # -- pub/sub ---------------------------------------------------------------------------------------------
    @staticmethod
    def _trace(context: Any) -> tuple[str, str]:
        headers = dict(context.invocation_metadata() or ())
        return str(headers.get("traceparent", "")), str(headers.get("tracestate", ""))

    @_rpc("error publishing event")
    async def PublishEvent(self, request: Any, context: Any) -> Any:
        traceparent, tracestate = self._trace(context)
        await self.pubsub.publish(
            request.pubsub_name,
            request.topic,
            bytes(request.data),
            content_type=request.data_content_type,
            metadata=dict(request.metadata),
            traceparent=traceparent,
            tracestate=tracestate,
        )
        return Empty()

    @_rpc("error bulk publishing events")
    async def BulkPublishEvent(self, request: Any, context: Any) -> Any:
        """daprd's default bulk publisher: each entry published on its own; the failed ones are listed."""
        traceparent, tracestate = self._trace(context)
        failed = []
        for entry in request.entries:
            try:
                await self.pubsub.publish(
                    request.pubsub_name,
                    request.topic,
                    bytes(entry.event),
                    content_type=entry.content_type,
                    metadata=dict(request.metadata) | dict(entry.metadata),
                    traceparent=traceparent,
                    tracestate=tracestate,
                )
            except PubSubAPIError as exc:
                if exc.error_code != "ERR_PUBSUB_PUBLISH_MESSAGE":
                    raise  # the request itself is wrong (no such pubsub, forbidden topic): answer it as an error
                failed.append(api_v1.BulkPublishResponseFailedEntry(entry_id=entry.entry_id, error=exc.message))
        return api_v1.BulkPublishResponse(failedEntries=failed)

    BulkPublishEventAlpha1 = BulkPublishEvent

    async def SubscribeTopicEventsAlpha1(self, request_iterator: Any, context: Any) -> AsyncIterator[Any]:
        """A streaming subscription: the first message subscribes, the following ones answer delivered events."""
        try:
            first = await anext(aiter(request_iterator))
        except StopAsyncIteration:
            return
        initial = first.initial_request if first.HasField("initial_request") else None
        problem = (
            "initial request is required"
            if initial is None
            else "pubsubName is required"
            if not initial.pubsub_name
            else "topic is required"
            if not initial.topic
            else ""
        )
        if initial is None or problem:
            await context.abort(grpc.StatusCode.UNKNOWN, problem)
            return
        try:
            conn = await self.pubsub.open_stream(
                initial.pubsub_name, initial.topic, dict(initial.metadata), initial.dead_letter_topic
            )
        except PubSubAPIError as exc:
            await context.abort(exc.grpc_code, exc.message)
            return

        async def answers() -> None:
            try:
                async for message in request_iterator:
                    if not message.HasField("event_processed"):
                        log.error("subscription stream: duplicate initial request received")
                        break
                    conn.answer(message.event_processed)
            except (grpc.aio.AioRpcError, asyncio.CancelledError):
                pass
            finally:
                conn.close()

        reader = asyncio.create_task(answers(), name=f"subscription-stream-{conn.number}")
        try:
            yield api_v1.SubscribeTopicEventsResponseAlpha1(
                initial_response=api_v1.SubscribeTopicEventsResponseInitialAlpha1()
            )
            while (outgoing := await conn.outgoing.get()) is not None:
                yield outgoing
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
            await self.pubsub.close_stream(conn)

    # -- conversation ----------------------------------------------------------------------------------------
    def _llm(self, name: str) -> ConversationComponent:
        if not self.components.conversation:
            raise _Abort(grpc.StatusCode.FAILED_PRECONDITION, "conversation component is not configured")
        llm = self.components.conversation.get(name)
        if llm is None:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, f"conversation component {name} is not found")
        return llm

    @_rpc("error invoking conversation")
    async def ConverseAlpha1(self, request: Any, context: Any) -> Any:
        llm = self._llm(request.name)
        scrub_all = request.HasField("scrubPII") and request.scrubPII
        messages = [
            {"role": i.role or "user", "content": scrub_pii(i.content) if scrub_all or i.scrubPII else i.content}
            for i in request.inputs
        ]
        if not messages:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "conversation inputs must not be empty")
        chat = ChatRequest(
            messages=messages, temperature=request.temperature if request.HasField("temperature") else None
        )
        result = await llm.chat(chat)
        outputs = [
            api_v1.ConversationResult(result=scrub_pii(c.content) if scrub_all else c.content) for c in result.choices
        ]
        response = api_v1.ConversationResponse(outputs=outputs)
        if request.HasField("contextID"):
            response.contextID = request.contextID
        return response

    @_rpc("error invoking conversation")
    async def ConverseAlpha2(self, request: Any, context: Any) -> Any:
        llm = self._llm(request.name)
        messages = alpha2_messages(request)
        if not messages:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "conversation inputs must not be empty")
        params = {k: _any_to_python(v) for k, v in request.parameters.items()}
        max_tokens = request.max_tokens if request.HasField("max_tokens") else None
        if max_tokens is None and isinstance(params.get("max_tokens"), int):
            max_tokens = params["max_tokens"]
        chat = ChatRequest(
            messages=messages,
            tools=alpha2_tools(request),
            tool_choice=request.tool_choice if request.HasField("tool_choice") else None,
            response_format=_struct_to_dict(request.response_format) if request.HasField("response_format") else None,
            temperature=request.temperature if request.HasField("temperature") else None,
            max_tokens=max_tokens or None,
        )
        result = await llm.chat(chat)
        if request.HasField("scrub_pii") and request.scrub_pii:
            choices = [dataclasses.replace(c, content=scrub_pii(c.content)) for c in result.choices]
            result = dataclasses.replace(result, choices=choices)
        response = api_v1.ConversationResponseAlpha2(outputs=[self._alpha2_output(result)])
        if request.HasField("context_id"):
            response.context_id = request.context_id
        return response

    @staticmethod
    def _alpha2_output(result: ChatResult) -> Any:
        choices = []
        for c in result.choices:
            calls = [
                api_v1.ConversationToolCalls(
                    id=t.id, function=api_v1.ConversationToolCallsOfFunction(name=t.name, arguments=t.arguments)
                )
                for t in c.tool_calls
            ]
            message = api_v1.ConversationResultMessage(content=c.content, tool_calls=calls)
            choices.append(
                api_v1.ConversationResultChoices(finish_reason=c.finish_reason, index=c.index, message=message)
            )
        output = api_v1.ConversationResultAlpha2(choices=choices)
        if result.model:
            output.model = result.model
        if result.usage is not None:
            u = result.usage
            output.usage.CopyFrom(
                api_v1.ConversationResultAlpha2CompletionUsage(
                    prompt_tokens=u.prompt_tokens,
                    completion_tokens=u.completion_tokens,
                    total_tokens=u.total_tokens,
                    prompt_tokens_details=api_v1.ConversationResultAlpha2CompletionUsagePromptTokensDetails(
                        cached_tokens=u.cached_tokens
                    ),
                    completion_tokens_details=api_v1.ConversationResultAlpha2CompletionUsageCompletionTokensDetails(
                        reasoning_tokens=u.reasoning_tokens
                    ),
                )
            )
        return output
