"""Extraction through an LLM: a conversation component file pointing at the loopback LLM server (OpenAI wire
format), through the sidecar's Conversation API — and what happens when the provider keeps failing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.docline import run_app
from tests.support.llm_server import LLMServer, Reply

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "documents"


def prescription_reply(sample: str = "rx-de-clean") -> dict[str, Any]:
    """One JSON answer that serves as both the classification and the extraction of ``sample``."""
    truth = json.loads((SAMPLES / f"{sample}.json").read_text())
    return {"type": "prescription", "confidence": 0.97, **truth["fields"]}


def test_extraction_through_the_conversation_component(tmp_path: Path, llm_server: LLMServer) -> None:
    llm_server.default = Reply(json=prescription_reply())
    # Values the model read but OCR garbled are found with low confidence; this test is about the wiring.
    with run_app(
        tmp_path, extraction="llm", openai_endpoint=llm_server.openai_base_url, review_confidence_threshold=0.0
    ) as app:
        client = app.client()
        doc_id = client.post(
            "/v1/documents", files={"file": ("rx.png", (SAMPLES / "rx-de-clean.png").read_bytes())}
        ).json()["id"]
        done = app.wait(doc_id, ("completed", "failed", "rejected", "needs_review"))
    assert done["status"] == "completed", done
    assert done["document_type"] == "prescription"
    truth = json.loads((SAMPLES / "rx-de-clean.json").read_text())["fields"]
    assert done["data"]["patient"]["name"] == truth["patient"]["name"]
    assert done["data"]["right"]["sphere"] == truth["right"]["sphere"]
    assert done["usage"]["llm_calls"] == len(llm_server.requests) == 2
    assert done["usage"]["input_tokens"] > 0
    # The document text went to the model (as data, inside the prompt).
    sent = json.dumps(llm_server.requests[-1].body, ensure_ascii=False)
    assert "Brillenverordnung" in sent or "Hoffmann" in sent


def test_a_failing_provider_ends_in_review_not_in_a_crash(tmp_path: Path, llm_server: LLMServer) -> None:
    llm_server.default = Reply.server_error(500)
    with run_app(
        tmp_path,
        extraction="llm",
        openai_endpoint=llm_server.openai_base_url,
        openai_max_retries=1,
        llm_max_attempts=2,
        llm_first_retry_seconds=0.2,
    ) as app:
        client = app.client()
        doc_id = client.post(
            "/v1/documents", files={"file": ("rx.png", (SAMPLES / "rx-de-clean.png").read_bytes())}
        ).json()["id"]
        done = app.wait(doc_id, ("completed", "failed", "rejected", "needs_review"), timeout=120)
    assert done["status"] == "needs_review", done
    assert "llm_unavailable" in done["review"]["reasons"]
    assert done["document_type"] == "prescription"  # the offline classifier stood in
    assert len(llm_server.requests) >= 2  # it was tried, with retries


def _with_images(llm_server: LLMServer) -> list[Any]:
    return [
        r
        for r in llm_server.requests
        if any(
            isinstance(m.get("content"), list) and any(part.get("type") == "image_url" for part in m["content"])
            for m in r.body["messages"]
        )
    ]


def test_unsure_documents_are_read_by_the_vision_model(tmp_path: Path, llm_server: LLMServer) -> None:
    llm_server.default = Reply(json=prescription_reply())
    # Threshold 1.0: no draft is sure enough, so the pages go to the vision model (then to a person).
    with run_app(
        tmp_path,
        extraction="llm",
        openai_endpoint=llm_server.openai_base_url,
        openai_metadata={"visionModel": "gpt-4o"},
        review_confidence_threshold=1.0,
    ) as app:
        client = app.client()
        doc_id = client.post(
            "/v1/documents", files={"file": ("rx.png", (SAMPLES / "rx-de-clean.png").read_bytes())}
        ).json()["id"]
        done = app.wait(doc_id, ("completed", "failed", "rejected", "needs_review"))
    assert done["status"] == "needs_review"
    (seen,) = _with_images(llm_server)
    assert seen.body["model"] == "gpt-4o"  # the declared vision model, not the text model
    assert done["usage"]["llm_calls"] == len(llm_server.requests) == 3  # classify, extract, vision
    assert "llm_unavailable" not in done["review"]["reasons"]


def test_a_text_only_model_is_never_sent_images(tmp_path: Path, llm_server: LLMServer) -> None:
    llm_server.default = Reply(json=prescription_reply("rx-de-text"))
    # As unsure as above, but the component declares no vision model (a local text-only model, say).
    with run_app(
        tmp_path, extraction="llm", openai_endpoint=llm_server.openai_base_url, review_confidence_threshold=1.0
    ) as app:
        assert app.container.service.vision is False
        doc_id = (
            app.client()
            .post("/v1/documents", files={"file": ("rx.pdf", (SAMPLES / "rx-de-text.pdf").read_bytes())})
            .json()["id"]
        )
        done = app.wait(doc_id, ("completed", "failed", "rejected", "needs_review"))
    assert _with_images(llm_server) == []
    assert len(llm_server.requests) == 2  # classify, extract; the vision step did not apply
    assert done["status"] == "needs_review"
    assert done["review"]["reasons"] == ["low_confidence"]  # not llm_unavailable


EYES = """\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: eyes
spec:
  type: conversation.openai
  version: v1
  metadata:
    - name: key
      value: test-key
    - name: model
      value: vision-model
    - name: endpoint
      value: "{endpoint}"
"""


def test_a_separate_vision_component_reads_the_images(tmp_path: Path, llm_server: LLMServer) -> None:
    llm_server.default = Reply(json=prescription_reply("rx-de-text"))
    with run_app(
        tmp_path,
        extraction="llm",
        openai_endpoint=llm_server.openai_base_url,
        extra=EYES.format(endpoint=llm_server.openai_base_url),
        vision_component="eyes",
        review_confidence_threshold=1.0,
    ) as app:
        assert app.container.understanding.component == "llm"  # text goes to the other component
        doc_id = (
            app.client()
            .post("/v1/documents", files={"file": ("rx.pdf", (SAMPLES / "rx-de-text.pdf").read_bytes())})
            .json()["id"]
        )
        done = app.wait(doc_id, ("completed", "failed", "rejected", "needs_review"))
    (seen,) = _with_images(llm_server)
    assert seen.body["model"] == "vision-model"
    assert [r.body["model"] for r in llm_server.requests if r is not seen] == ["gpt-4o-mini", "gpt-4o-mini"]
    assert "llm_unavailable" not in done["review"]["reasons"]


def test_rate_limits_are_waited_out(tmp_path: Path, llm_server: LLMServer) -> None:
    llm_server.default = Reply(json=prescription_reply())
    llm_server.script(Reply.rate_limited(retry_after=1), Reply.server_error(503))
    with run_app(
        tmp_path,
        extraction="llm",
        openai_endpoint=llm_server.openai_base_url,
        openai_max_retries=0,  # the activity's retry policy does the backing off here
        review_confidence_threshold=0.0,
        llm_first_retry_seconds=0.5,
    ) as app:
        doc_id = (
            app.client()
            .post("/v1/documents", files={"file": ("rx.pdf", (SAMPLES / "rx-de-text.pdf").read_bytes())})
            .json()["id"]
        )
        done = app.wait(doc_id)
    assert done["status"] == "completed", done
    assert [r.path for r in llm_server.requests].count("/v1/chat/completions") == 4  # 429, 503, then two answers
    assert done["usage"]["llm_calls"] == 2  # only the answered calls count


def _formats(llm_server: LLMServer, start: int = 0) -> list[str | None]:
    return [(r.body.get("response_format") or {}).get("type") for r in llm_server.requests[start:]]


def test_a_refused_json_schema_is_learned_once_for_all_documents_and_restarts(
    tmp_path: Path, llm_server: LLMServer
) -> None:
    # A local llama.cpp server: HTTP 500 to json_schema, answers in JSON object mode.
    refusal = "1 validation error: response_format.type Input should be 'text' or 'json_object'"
    llm_server.refuse("json_schema", Reply.invalid_request(500, refusal))
    llm_server.default = Reply(json=prescription_reply("rx-de-text"))
    pdf = (SAMPLES / "rx-de-text.pdf").read_bytes()

    def submit(app: Any) -> dict[str, Any]:
        doc_id = app.client().post("/v1/documents?force=true", files={"file": ("rx.pdf", pdf)}).json()["id"]
        return dict(app.wait(doc_id, ("completed", "failed", "rejected", "needs_review")))

    with run_app(
        tmp_path, extraction="llm", openai_endpoint=llm_server.openai_base_url, review_confidence_threshold=0.0
    ) as app:
        first = submit(app)
        # classify: json_schema refused once (no back-off retries), then JSON mode; extract starts in JSON mode
        assert _formats(llm_server) == ["json_schema", "json_object", "json_object"]
        assert first["status"] == "completed", first
        assert first["usage"]["llm_calls"] == 2
        seen = len(llm_server.requests)
        assert submit(app)["status"] == "completed"
        assert _formats(llm_server, seen) == ["json_object", "json_object"]
    seen = len(llm_server.requests)
    # A restart (or another replica) reads what was learned from the state store.
    with run_app(
        tmp_path, extraction="llm", openai_endpoint=llm_server.openai_base_url, review_confidence_threshold=0.0
    ) as app:
        assert submit(app)["status"] == "completed"
    assert _formats(llm_server, seen) == ["json_object", "json_object"]
