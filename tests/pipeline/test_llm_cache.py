"""The LLM reply cache (``pipeline.understanding.CachingClient``) through a real sidecar's state store and
Conversation API, against the loopback LLM server: replies round-trip as JSON, and whatever else sits under a
cache key (an old pickled entry, garbage, a foreign JSON value) is ignored — never unpickled, never a crash."""

from __future__ import annotations

import base64
import pickle
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dapr.clients import DaprClient
from dapr.clients.grpc import conversation as conv

from agents.llm import Llm, OutputMode, OutputModes
from pipeline.metrics import Metrics
from pipeline.settings import Settings
from pipeline.store import ResultStore
from pipeline.understanding import CachedReply, CachingClient
from tests.support.components import StartSidecar
from tests.support.docline import write_components
from tests.support.llm_server import LLMServer, Reply

COMPONENT = "llm"  # the conversation component tests.support.docline writes


@pytest.fixture
def dapr(tmp_path: Path, llm_server: LLMServer, component_sidecar: StartSidecar) -> Iterator[DaprClient]:
    component_sidecar(write_components(tmp_path / "app", openai_endpoint=llm_server.openai_base_url))
    with DaprClient() as client:
        yield client


@pytest.fixture
def cache(dapr: DaprClient) -> CachingClient:
    return CachingClient(dapr, ResultStore(dapr, Settings()), Metrics())


def _inputs(text: str) -> list[conv.ConversationInputAlpha2]:
    return [conv.ConversationInputAlpha2(messages=[conv.create_user_message(text)])]


def _read(reply: conv.ConversationResponseAlpha2) -> list[tuple[Any, ...]]:
    """What ``agents.llm`` reads of a reply: per output the model, the token counts and the choices' texts."""
    return [
        (
            o.model,
            o.usage and (o.usage.prompt_tokens, o.usage.completion_tokens, o.usage.total_tokens),
            [(c.index, c.finish_reason, c.message.content) for c in o.choices],
        )
        for o in reply.outputs
    ]


class _RunsCode:
    """Unpickling this opens (creates) ``path``: proof that a pickle from the state store was executed."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (str(self.path), "w"))


def test_a_reply_round_trips_through_the_state_store(cache: CachingClient, llm_server: LLMServer) -> None:
    llm_server.script(Reply(json={"sphere": -1.25, "eye": "OD"}, usage=(42, 9)))
    view = cache.for_document("doc-1")
    first = view.converse_alpha2(COMPONENT, _inputs("read this"), temperature=0.0)
    assert len(llm_server.requests) == 1
    assert view.written == [view.key(COMPONENT, _inputs("read this"), temperature=0.0)]

    # A retried activity (a new view of the same document) gets the reply from the state store, not the provider.
    again = cache.for_document("doc-1").converse_alpha2(COMPONENT, _inputs("read this"), temperature=0.0)
    assert len(llm_server.requests) == 1
    assert isinstance(again, conv.ConversationResponseAlpha2)
    assert _read(again) == _read(first)
    assert again.context_id == first.context_id
    assert again.outputs[0].usage is not None
    assert again.outputs[0].usage.prompt_tokens == 42
    assert again.outputs[0].choices[0].message.content == first.outputs[0].choices[0].message.content

    # What the store holds is plain JSON of the reply fields docline reads.
    stored = ResultStore(cache._client, Settings()).get_value(
        view.key(COMPONENT, _inputs("read this"), temperature=0.0)
    )
    assert stored["format"] == "docline-llm-reply/1"
    assert _read(CachedReply.model_validate(stored).reply()) == _read(first)

    # Another document, or another request, is another entry.
    cache.for_document("doc-2").converse_alpha2(COMPONENT, _inputs("read this"), temperature=0.0)
    cache.for_document("doc-1").converse_alpha2(COMPONENT, _inputs("read that"), temperature=0.0)
    assert len(llm_server.requests) == 3


def test_agents_read_the_same_answer_from_the_cache(cache: CachingClient, llm_server: LLMServer) -> None:
    llm_server.default = Reply(json={"type": "prescription", "confidence": 0.9})
    ask: dict[str, Any] = {"operation": "classify", "system": "Classify.", "user": "Brillenverordnung", "schema": None}
    first, usage = Llm(cache.for_document("doc-1"), COMPONENT).complete_json(**ask)
    second, usage_again = Llm(cache.for_document("doc-1"), COMPONENT).complete_json(**ask)
    assert first == second == {"type": "prescription", "confidence": 0.9}
    assert [(u.tokens_in, u.tokens_out) for u in usage] == [(u.tokens_in, u.tokens_out) for u in usage_again]
    assert len(llm_server.requests) == 1


def test_forget_drops_what_a_failed_step_stored(cache: CachingClient, llm_server: LLMServer) -> None:
    llm_server.default = Reply(text="not json at all")
    view = cache.for_document("doc-1")
    view.converse_alpha2(COMPONENT, _inputs("q"))
    key = view.written[0]
    view.forget()
    assert view.written == []
    assert ResultStore(cache._client, Settings()).get_value(key) is None
    cache.for_document("doc-1").converse_alpha2(COMPONENT, _inputs("q"))
    assert len(llm_server.requests) == 2  # the retry asked the provider again


def test_foreign_entries_are_misses_never_executed(
    cache: CachingClient, dapr: DaprClient, llm_server: LLMServer, tmp_path: Path
) -> None:
    llm_server.default = Reply(json={"ok": True})
    marker = tmp_path / "pwned"
    store = ResultStore(dapr, Settings())
    planted: dict[str, Any] = {
        # The old format: base64 of a pickle, here one that would create ``marker`` when loaded.
        "old-pickle": base64.b64encode(pickle.dumps(_RunsCode(marker))).decode(),
        "empty-object": {},
        "wrong-shape": {"format": "docline-llm-reply/1", "outputs": "everything"},
        "other-version": {"format": "docline-llm-reply/0", "outputs": []},
        "a-list": [1, 2, 3],
    }
    for doc_id, value in planted.items():
        view = cache.for_document(doc_id)
        store.put_value(view.key(COMPONENT, _inputs("q")), value)
    raw = cache.for_document("raw-bytes")
    dapr.save_state(Settings().state_store, raw.key(COMPONENT, _inputs("q")), pickle.dumps(_RunsCode(marker)))

    for doc_id in [*planted, "raw-bytes"]:
        view = cache.for_document(doc_id)
        reply = view.converse_alpha2(COMPONENT, _inputs("q"))
        assert reply.outputs[0].choices[0].message.content  # the provider's answer
        assert view.written == [view.key(COMPONENT, _inputs("q"))]  # and it replaced the foreign entry
        assert _read(CachedReply.model_validate(store.get_value(view.written[0])).reply()) == _read(reply)
    assert len(llm_server.requests) == len(planted) + 1
    assert not marker.exists()


def test_an_activity_delivered_twice_at_once_asks_the_provider_once(
    cache: CachingClient, llm_server: LLMServer
) -> None:
    # At least once: a re-opened worker stream can hand the same activity out while its first run is still waiting
    # for the provider. Both runs see one reply; the provider is asked once.
    from concurrent.futures import ThreadPoolExecutor

    llm_server.default = Reply(json={"sphere": -2.0}, delay=0.5)

    def ask() -> conv.ConversationResponseAlpha2:
        return cache.for_document("doc-4").converse_alpha2(COMPONENT, _inputs("same page"))

    with ThreadPoolExecutor(max_workers=3) as pool:
        replies = [f.result() for f in [pool.submit(ask) for _ in range(3)]]
    assert len(llm_server.requests) == 1
    assert len({repr(_read(r)) for r in replies}) == 1
    # Another document's identical request is its own call, and does not wait on the first document's.
    cache.for_document("doc-5").converse_alpha2(COMPONENT, _inputs("same page"))
    assert len(llm_server.requests) == 2


def test_learned_output_modes_are_shared_through_the_state_store(dapr: DaprClient) -> None:
    store = ResultStore(dapr, Settings())
    OutputModes(store).learn(COMPONENT, OutputMode.JSON, model="qwen", refusal="HTTP 500: response_format")
    stored = store.get_value(OutputModes.key(COMPONENT))
    assert (stored["format"], stored["mode"], stored["model"]) == ("docline-llm-output-mode/1", "json_object", "qwen")

    replica = OutputModes(store)  # another replica, or the app after a restart
    assert replica.best(COMPONENT) is OutputMode.JSON
    replica.learn(COMPONENT, OutputMode.SCHEMA, model="qwen", refusal="")  # never back up to a refused mode
    assert replica.best(COMPONENT) is OutputMode.JSON
    replica.answered(COMPONENT, OutputMode.JSON, "qwen")
    assert replica.best(COMPONENT) is OutputMode.JSON

    # Another model behind the same component name: forgotten, here and in the store, and asked afresh.
    replica.answered(COMPONENT, OutputMode.JSON, "gpt-4.1-mini")
    assert replica.best(COMPONENT) is OutputMode.SCHEMA
    assert store.get_value(OutputModes.key(COMPONENT)) is None
    assert OutputModes(store).best(COMPONENT) is OutputMode.SCHEMA


def test_old_or_foreign_output_mode_entries_are_asked_afresh(dapr: DaprClient) -> None:
    store = ResultStore(dapr, Settings())
    key = OutputModes.key(COMPONENT)
    old = datetime.now(UTC) - timedelta(days=8)
    store.put_value(
        key,
        {
            "component": COMPONENT,
            "mode": "prompt",
            "learned_at": old.isoformat(),
            "format": "docline-llm-output-mode/1",
        },
    )
    assert OutputModes(store, relearn_after=timedelta(days=7)).best(COMPONENT) is OutputMode.SCHEMA
    assert store.get_value(key) is None
    for foreign in ({"mode": "prompt"}, [1, 2], "json_object"):
        store.put_value(key, foreign)
        assert OutputModes(store).best(COMPONENT) is OutputMode.SCHEMA
