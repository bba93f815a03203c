"""Conversation API through the Dapr Python SDK against ``docline sidecar``, each provider type against the
loopback LLM server: request bodies, tool calls, structured output, usage, and fault handling."""

from __future__ import annotations

import json
from typing import Any

import grpc
import pytest
from dapr.clients import DaprClient
from dapr.clients.exceptions import DaprGrpcError
from dapr.clients.grpc import conversation as conv
from google.protobuf.struct_pb2 import Struct

from tests.support.components import StartSidecar
from tests.support.llm_server import LLMServer, Reply

SCHEMA: dict[str, Any] = {
    "title": "LensOrder",
    "type": "object",
    "properties": {"sphere": {"type": "number"}, "eye": {"type": "string", "enum": ["OD", "OS"]}},
    "required": ["sphere", "eye"],
}


def _component(name: str, kind: str, metadata: dict[str, str]) -> str:
    items = "".join(f'    - name: {k}\n      value: "{v}"\n' for k, v in metadata.items())
    return (
        f"apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\n"
        f"spec:\n  type: {kind}\n  version: v1\n  metadata:\n{items}"
    )


def _providers(llm: LLMServer, **extra: str) -> str:
    common = {"timeout": "2s", "maxRetries": "2", **extra}
    return "---\n".join(
        [
            _component(
                "llm-openai",
                "conversation.openai",
                {"key": "sk-test", "model": "gpt-test", "endpoint": llm.openai_base_url, **common},
            ),
            _component(
                "llm-anthropic",
                "conversation.anthropic",
                {"key": "ant-test", "model": "claude-test", "endpoint": llm.anthropic_base_url, **common},
            ),
            _component(
                "llm-azure",
                "conversation.openai",
                {
                    "key": "az-test",
                    "model": "my-deployment",
                    "endpoint": llm.url,
                    "apiType": "azure",
                    "apiVersion": "2025-01-01-preview",
                    **common,
                },
            ),
            _component("llm-ollama", "conversation.ollama", common),
            _component("llm-echo", "conversation.echo", {}),
        ]
    )


@pytest.fixture
def llm(llm_server: LLMServer, component_sidecar: StartSidecar, monkeypatch: pytest.MonkeyPatch) -> LLMServer:
    # daprd's conversation.ollama finds its server through OLLAMA_HOST; so does ours.
    monkeypatch.setenv("OLLAMA_HOST", llm_server.url)
    component_sidecar(_providers(llm_server))
    return llm_server


def _inputs(*messages: conv.ConversationMessage) -> list[conv.ConversationInputAlpha2]:
    return [conv.ConversationInputAlpha2(messages=list(messages))]


def _format() -> Struct:
    s = Struct()
    s.update(SCHEMA)
    return s


def _lookup_tool() -> conv.ConversationTools:
    params = {"type": "object", "properties": {"sku": {"type": "string"}}, "required": ["sku"]}
    return conv.ConversationTools(
        function=conv.ConversationToolsFunction(name="lookup_lens", description="Find a lens", parameters=params)
    )


def test_openai_messages_schema_and_usage(llm: LLMServer) -> None:
    llm.script(Reply(json={"sphere": -1.25, "eye": "OD"}, usage=(42, 9)))
    with DaprClient() as d:
        resp = d.converse_alpha2(
            "llm-openai",
            _inputs(conv.create_system_message("Extract the order."), conv.create_user_message("OD sph -1.25")),
            temperature=0.1,
            response_format=_format(),
        )
    body = llm.requests[-1].body
    assert llm.requests[-1].path == "/v1/chat/completions"
    assert llm.requests[-1].headers["authorization"] == "Bearer sk-test"
    assert body["model"] == "gpt-test"
    assert body["messages"] == [
        {"role": "system", "content": "Extract the order."},
        {"role": "user", "content": "OD sph -1.25"},
    ]
    assert body["temperature"] == pytest.approx(0.1)
    assert body["response_format"] == {"type": "json_schema", "json_schema": {"name": "LensOrder", "schema": SCHEMA}}
    out = resp.outputs[0]
    assert json.loads(out.choices[0].message.content) == {"sphere": -1.25, "eye": "OD"}
    assert out.choices[0].finish_reason == "stop"
    assert out.model == "gpt-test"
    assert out.usage is not None
    assert (out.usage.prompt_tokens, out.usage.completion_tokens, out.usage.total_tokens) == (42, 9, 51)


def test_openai_tool_calls_round_trip(llm: LLMServer) -> None:
    llm.script(Reply(tool_calls=[("lookup_lens", {"sku": "PAL-1.6"})]), Reply(text="It is a progressive lens."))
    with DaprClient() as d:
        first = d.converse_alpha2(
            "llm-openai", _inputs(conv.create_user_message("What is PAL-1.6?")), tools=[_lookup_tool()]
        )
        choice = first.outputs[0].choices[0]
        assert choice.finish_reason == "tool_calls"
        call = choice.message.tool_calls[0]
        assert call.function is not None
        assert call.id
        assert call.function.name == "lookup_lens"
        assert json.loads(call.function.arguments) == {"sku": "PAL-1.6"}
        assistant = conv.ConversationMessage(
            of_assistant=conv.ConversationMessageOfAssistant(content=[], tool_calls=[call])
        )
        second = d.converse_alpha2(
            "llm-openai",
            _inputs(
                conv.create_user_message("What is PAL-1.6?"),
                assistant,
                conv.create_tool_message(call.id, "lookup_lens", "progressive, index 1.6"),
            ),
            tools=[_lookup_tool()],
            tool_choice="auto",
        )
    assert second.outputs[0].choices[0].message.content == "It is a progressive lens."
    sent_tools = llm.requests[0].body["tools"]
    assert sent_tools[0]["function"]["name"] == "lookup_lens"
    assert sent_tools[0]["function"]["parameters"]["required"] == ["sku"]
    messages = llm.requests[1].body["messages"]
    assert messages[1]["role"] == "assistant"
    assert messages[1]["tool_calls"][0]["id"] == call.id
    assert messages[2] == {
        "role": "tool",
        "tool_call_id": call.id,
        "name": "lookup_lens",
        "content": "progressive, index 1.6",
    }
    assert llm.requests[1].body["tool_choice"] == "auto"


def test_anthropic_structured_output_and_system(llm: LLMServer) -> None:
    llm.script(Reply(json={"sphere": 0.5, "eye": "OS"}, usage=(30, 5)))
    with DaprClient() as d:
        resp = d.converse_alpha2(
            "llm-anthropic",
            _inputs(conv.create_system_message("Extract the order."), conv.create_user_message("OS +0.50")),
            temperature=0.0,
            response_format=_format(),
        )
    req = llm.requests[-1]
    assert req.path == "/v1/messages"
    # The key travels as x-api-key or (newer SDKs) as a bearer token.
    assert "ant-test" in (
        req.headers.get("x-api-key", ""),
        req.headers.get("authorization", "").removeprefix("Bearer "),
    )
    body = req.body
    assert body["model"] == "claude-test"
    assert body["system"] == "Extract the order."
    assert body["messages"] == [{"role": "user", "content": "OS +0.50"}]
    assert body["max_tokens"] > 0
    assert body["tool_choice"]["type"] == "tool"
    assert body["tools"][0]["input_schema"] == SCHEMA
    out = resp.outputs[0]
    assert json.loads(out.choices[0].message.content) == {"sphere": 0.5, "eye": "OS"}
    assert out.choices[0].finish_reason == "stop"
    assert out.usage is not None
    assert (out.usage.prompt_tokens, out.usage.completion_tokens, out.usage.total_tokens) == (30, 5, 35)


def test_anthropic_tool_calls(llm: LLMServer) -> None:
    llm.script(Reply(text="Let me look.", tool_calls=[("lookup_lens", {"sku": "SV-1.5"})]))
    with DaprClient() as d:
        resp = d.converse_alpha2(
            "llm-anthropic", _inputs(conv.create_user_message("SV-1.5?")), tools=[_lookup_tool()], tool_choice="auto"
        )
    choice = resp.outputs[0].choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Let me look."
    function = choice.message.tool_calls[0].function
    assert function is not None
    assert function.name == "lookup_lens"
    assert json.loads(function.arguments) == {"sku": "SV-1.5"}
    body = llm.requests[-1].body
    assert body["tools"][0]["name"] == "lookup_lens"
    assert body["tool_choice"] == {"type": "auto"}


def test_azure_openai_uses_deployment_and_api_version(llm: LLMServer) -> None:
    llm.script(Reply(text="hello from azure"))
    with DaprClient() as d:
        resp = d.converse_alpha2("llm-azure", _inputs(conv.create_user_message("hi")))
    req = llm.requests[-1]
    assert req.path == "/openai/deployments/my-deployment/chat/completions"
    assert req.headers["api-key"] == "az-test"
    assert resp.outputs[0].choices[0].message.content == "hello from azure"


def test_ollama_is_openai_compatible(llm: LLMServer) -> None:
    with DaprClient() as d:
        resp = d.converse_alpha2("llm-ollama", _inputs(conv.create_user_message("echo me")))
    assert llm.requests[-1].path == "/v1/chat/completions"
    assert llm.requests[-1].body["model"] == "llama3.2:latest"
    assert resp.outputs[0].choices[0].message.content == "echo me"


def test_echo_and_alpha1(llm: LLMServer) -> None:
    with DaprClient() as d:
        echoed = d.converse_alpha2("llm-echo", _inputs(conv.create_user_message("same words back")))
        assert echoed.outputs[0].choices[0].message.content == "same words back"
        llm.script(Reply(text="alpha1 answer"))
        old = d.converse_alpha1(
            "llm-openai", [conv.ConversationInput(content="question?", role="user")], temperature=0.3
        )
        assert old.outputs[0].result == "alpha1 answer"
    assert llm.requests[-1].body["messages"] == [{"role": "user", "content": "question?"}]
    assert llm.requests[-1].body["temperature"] == pytest.approx(0.3)


def test_retries_honour_retry_after(llm: LLMServer) -> None:
    llm.script(Reply.rate_limited(retry_after=2), Reply.server_error(503), Reply(text="finally"))
    with DaprClient() as d:
        resp = d.converse_alpha2("llm-openai", _inputs(conv.create_user_message("hi")))
    assert resp.outputs[0].choices[0].message.content == "finally"
    assert len(llm.requests) == 3
    # The second attempt waited for the server's Retry-After (the SDK's own backoff alone is under a second).
    assert llm.requests[1].received_at - llm.requests[0].received_at >= 1.9


@pytest.mark.parametrize("component", ["llm-openai", "llm-anthropic"])
def test_persistent_errors_surface_after_retries(llm: LLMServer, component: str) -> None:
    llm.script(*[Reply.server_error(500)] * 3)
    with DaprClient() as d, pytest.raises(DaprGrpcError) as failed:
        d.converse_alpha2(component, _inputs(conv.create_user_message("hi")))
    assert failed.value.code() == grpc.StatusCode.INTERNAL
    assert "HTTP 500" in (failed.value.details() or "")
    assert len(llm.requests) == 3  # one try + maxRetries 2


# What llama.cpp's server (llama-cpp-python) answers to a response_format it cannot serve: HTTP 500 with the
# request's validation error as the message.
LLAMACPP_REFUSAL = (
    "1 validation error for CreateChatCompletionRequest\nresponse_format.type\n"
    "  Input should be 'text' or 'json_object' [type=literal_error, input_value='json_schema']"
)


@pytest.mark.parametrize(
    ("component", "status", "message"),
    [
        ("llm-openai", 400, "Invalid schema for response_format 'LensOrder'"),
        ("llm-openai", 500, LLAMACPP_REFUSAL),
        ("llm-openai", 500, "invalid request: grammar could not be built"),
        ("llm-anthropic", 400, "tools.0.input_schema: JSON schema is invalid"),
        ("llm-anthropic", 500, "invalid_request_error: schema not supported"),
    ],
)
def test_refusals_are_not_retried(llm: LLMServer, component: str, status: int, message: str) -> None:
    llm.script(Reply.invalid_request(status, message), Reply(text="never asked"))
    with DaprClient() as d, pytest.raises(DaprGrpcError) as failed:
        d.converse_alpha2(component, _inputs(conv.create_user_message("hi")), response_format=_format())
    assert len(llm.requests) == 1  # maxRetries is 2: a refusal is not asked again
    assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = failed.value.details() or ""
    assert f"refused the request (HTTP {status})" in details
    assert message.splitlines()[0] in details  # the provider's own words reach the app


def test_rate_limits_and_real_server_errors_are_still_retried(llm: LLMServer) -> None:
    llm.script(Reply.rate_limited(retry_after=0), Reply(status=502, message="upstream connect error"), Reply(text="ok"))
    with DaprClient() as d:
        resp = d.converse_alpha2("llm-openai", _inputs(conv.create_user_message("hi")), response_format=_format())
    assert resp.outputs[0].choices[0].message.content == "ok"
    assert len(llm.requests) == 3


def test_slow_reply_times_out(llm_server: LLMServer, component_sidecar: StartSidecar) -> None:
    component_sidecar(
        _component(
            "llm-slow",
            "conversation.openai",
            {"key": "k", "endpoint": llm_server.openai_base_url, "timeout": "300ms", "maxRetries": "1"},
        )
    )
    llm_server.script(Reply.slow(1.5), Reply.slow(1.5))
    with DaprClient() as d, pytest.raises(DaprGrpcError) as failed:
        d.converse_alpha2("llm-slow", _inputs(conv.create_user_message("hi")))
    assert "timed out" in (failed.value.details() or "")
    assert len(llm_server.requests) == 2


def test_malformed_json_is_a_clear_error(llm: LLMServer) -> None:
    llm.script(*[Reply.malformed_json()] * 3)
    with DaprClient() as d, pytest.raises(DaprGrpcError) as failed:
        d.converse_alpha2("llm-openai", _inputs(conv.create_user_message("hi")))
    assert failed.value.code() == grpc.StatusCode.INTERNAL
    assert "llm-openai" in (failed.value.details() or "")


@pytest.mark.parametrize("component", ["llm-openai", "llm-anthropic"])
def test_truncated_output_reports_length(llm: LLMServer, component: str) -> None:
    llm.script(Reply.truncated_output('{"sphere": -2.0, "eye": "OD"}'))
    with DaprClient() as d:
        resp = d.converse_alpha2(component, _inputs(conv.create_user_message("hi")))
    choice = resp.outputs[0].choices[0]
    assert choice.finish_reason == "length"
    assert choice.message.content == '{"sphere": -2.0, "eye": "OD"}'[:14]


def test_unknown_conversation_component(llm: LLMServer) -> None:
    with DaprClient() as d, pytest.raises(DaprGrpcError) as failed:
        d.converse_alpha2("no-such-llm", _inputs(conv.create_user_message("hi")))
    assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_cache_ttl_answers_identical_requests_from_memory(
    llm_server: LLMServer, component_sidecar: StartSidecar
) -> None:
    component_sidecar(
        _component(
            "llm-cached", "conversation.openai", {"key": "k", "endpoint": llm_server.openai_base_url, "cacheTTL": "10m"}
        )
    )
    llm_server.script(Reply(text="first"), Reply(text="second"))
    with DaprClient() as d:
        a = d.converse_alpha2("llm-cached", _inputs(conv.create_user_message("same")))
        b = d.converse_alpha2("llm-cached", _inputs(conv.create_user_message("same")))
        c = d.converse_alpha2("llm-cached", _inputs(conv.create_user_message("different")))
    assert [r.outputs[0].choices[0].message.content for r in (a, b, c)] == ["first", "first", "second"]
    assert len(llm_server.requests) == 2


def test_scrub_pii_cleans_inputs_and_outputs(llm: LLMServer) -> None:
    llm.script(Reply(text="Reply to jane@example.org or +1 555 123 4567."), Reply(text="a1 from bob@example.com"))
    with DaprClient() as d:
        resp = d.converse_alpha2(
            "llm-openai",
            _inputs(conv.create_user_message("Patient mail jane@example.org, card 4111 1111 1111 1111, sph -1.25")),
            scrub_pii=True,
        )
        old = d.converse_alpha1(
            "llm-openai", [conv.ConversationInput(content="ssn 123-45-6789", scrub_pii=True)], scrub_pii=True
        )
    sent = llm.requests[0].body["messages"][0]["content"]
    assert sent == "Patient mail <EMAIL_ADDRESS>, card <CREDIT_CARD>, sph -1.25"
    assert resp.outputs[0].choices[0].message.content == "Reply to <EMAIL_ADDRESS> or <PHONE_NUMBER>."
    assert llm.requests[1].body["messages"][0]["content"] == "ssn <SSN>"
    assert old.outputs[0].result == "a1 from <EMAIL_ADDRESS>"


@pytest.mark.parametrize(
    "text",
    ["OD sph -1.25 cyl -0.50 axis 180", "Invoice 2026-11-26 total 1234.50 EUR", "PD 62/64, order 12345"],
)
def test_scrub_pii_keeps_prescription_numbers(text: str) -> None:
    from sidecar.components.conversation.scrub import scrub_pii

    assert scrub_pii(text) == text
