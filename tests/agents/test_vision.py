"""The vision agent: settings from the conversation component file (key from a Dapr secret store), page crops
sent as image content parts through the OpenAI and Anthropic SDKs to the loopback LLM server."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import openai
import pytest
from dapr.clients import DaprClient
from PIL import Image, ImageDraw

from agents.vision import (
    VisionSettings,
    VisionUnavailable,
    extract_from_image,
    low_confidence_pages,
    low_confidence_regions,
    read_region,
    vision_settings,
)
from extractors.errors import CorruptFile
from extractors.types import get_type
from tests.agents.layout import document_from_text
from tests.support.components import StartSidecar, write_components
from tests.support.llm_server import LLMServer, Reply

COMPONENTS = """
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: llm
spec:
  type: conversation.openai
  version: v1
  metadata:
    - name: key
      secretKeyRef:
        name: OPENAI_KEY
        key: OPENAI_KEY
    - name: model
      value: gpt-test-mini
    - name: visionModel
      value: gpt-test
    - name: endpoint
      value: "{endpoint}"
    - name: timeout
      value: 5s
auth:
  secretStore: env
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: claude
spec:
  type: conversation.anthropic
  version: v1
  metadata:
    - name: key
      value: ant-test
    - name: model
      value: claude-test
    - name: visionModel
      value: claude-test
    - name: endpoint
      value: "{anthropic}"
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: text-only
spec:
  type: conversation.openai
  version: v1
  metadata:
    - name: key
      value: local
    - name: model
      value: qwen
    - name: endpoint
      value: "{endpoint}"
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: env
spec:
  type: secretstores.local.env
  version: v1
"""


def page_image(text: str = "Sph -1,25") -> bytes:
    image = Image.new("RGB", (600, 200), "white")
    ImageDraw.Draw(image).text((50, 80), text, fill="black")
    out = io.BytesIO()
    image.save(out, format="JPEG")
    return out.getvalue()


@pytest.fixture
def resources(tmp_path: Path, llm_server: LLMServer) -> Path:
    text = COMPONENTS.replace("{endpoint}", llm_server.openai_base_url).replace(
        "{anthropic}", llm_server.anthropic_base_url
    )
    return write_components(tmp_path / "components", text)


def test_settings_resolve_the_key_through_the_secret_store(
    resources: Path, component_sidecar: StartSidecar, monkeypatch: pytest.MonkeyPatch, llm_server: LLMServer
) -> None:
    monkeypatch.setenv("OPENAI_KEY", "sk-from-secret-store")
    component_sidecar(resources)
    with DaprClient() as client:
        settings = vision_settings(resources, "llm", client)
    assert settings.provider == "openai"
    assert settings.api_key == "sk-from-secret-store"
    assert (settings.model, settings.endpoint, settings.timeout) == ("gpt-test", llm_server.openai_base_url, 5.0)
    assert "sk-from" not in repr(settings)

    llm_server.script(Reply(text="Sph -1,25", usage=(300, 4)))
    text, usage = read_region(page_image(), settings, bbox=(40, 70, 300, 110), hint="a sphere power")
    assert text == "Sph -1,25"
    assert (usage.provider, usage.model, usage.operation, usage.tokens_in, usage.tokens_out) == (
        "openai",
        "gpt-test",
        "vision",
        300,
        4,
    )
    request = llm_server.requests[-1]
    headers = {name.lower(): value for name, value in request.headers.items()}
    assert headers["authorization"] == "Bearer sk-from-secret-store"
    parts = request.body["messages"][-1]["content"]
    (image_part,) = [part for part in parts if part["type"] == "image_url"]
    url = image_part["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    crop = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert crop.size == (260 + 16, 40 + 16)  # the box plus an 8 px margin on each side
    assert "sphere power" in next(part["text"] for part in parts if part["type"] == "text")


def test_extract_from_image_through_anthropic(resources: Path, llm_server: LLMServer) -> None:
    settings = vision_settings(resources, "claude")
    assert settings.provider == "anthropic"
    document = document_from_text("R  Sph -1,25  Cyl -0,50  Axis 90", low_conf_words=frozenset({"-1,25"}))
    llm_server.script(Reply(json={"right": {"sphere": -1.25, "cylinder": -0.5, "axis": 90}}))
    extraction = extract_from_image([page_image()], get_type("prescription"), settings, document)
    assert extraction.data["right"] == {"sphere": -1.25, "cylinder": -0.5, "axis": 90}
    assert extraction.method == "vision"
    assert extraction.fields["right.sphere"].text == "-1,25"
    assert extraction.fields["right.sphere"].confidence < extraction.fields["right.axis"].confidence
    body = llm_server.requests[-1].body
    assert body["tool_choice"] == {"type": "tool", "name": "answer"}
    assert body["tools"][0]["input_schema"]["title"] == "Prescription"
    image_part = body["messages"][0]["content"][0]
    assert image_part["type"] == "image"
    assert image_part["source"]["media_type"] == "image/png"


def test_extract_from_image_through_openai_json_schema(llm_server: LLMServer) -> None:
    settings = VisionSettings(provider="openai", model="gpt-test", api_key="k", endpoint=llm_server.openai_base_url)
    llm_server.script(Reply(json={"total_amount": 12.5, "currency": "EUR"}))
    extraction = extract_from_image([page_image("Total 12,50 EUR")], get_type("invoice"), settings)
    assert extraction.data == {"total_amount": 12.5, "currency": "EUR"}
    assert llm_server.requests[-1].body["response_format"]["type"] == "json_schema"


def test_low_confidence_regions_and_pages() -> None:
    document = document_from_text("clear line here\nscrawl  blur", low_conf_words=frozenset({"scrawl", "blur"}))
    page = document.pages[0]
    assert low_confidence_regions(page) == [(0.0, 30.0, 120.0, 50.0)]
    assert low_confidence_pages(document) == []
    assert low_confidence_pages(document, threshold=0.9) == [1]


def test_configuration_and_input_errors_are_typed(resources: Path, llm_server: LLMServer) -> None:
    with pytest.raises(VisionUnavailable, match="no component"):
        vision_settings(resources, "missing")
    with pytest.raises(VisionUnavailable, match="secret"):
        vision_settings(resources, "llm")  # a secretKeyRef but no Dapr client to resolve it
    with pytest.raises(VisionUnavailable, match="no vision support"):
        vision_settings(resources, "env", dedicated=True)
    settings = vision_settings(resources, "claude")
    with pytest.raises(CorruptFile):
        read_region(b"not an image", settings)
    assert llm_server.requests == []


def test_only_a_declared_vision_model_is_sent_images(resources: Path, llm_server: LLMServer) -> None:
    with pytest.raises(VisionUnavailable, match="visionModel"):
        vision_settings(resources, "text-only")  # a text-only model: the vision step does not apply
    # A component named for vision alone (DOCLINE_VISION_COMPONENT): its model is the one that reads images.
    dedicated = vision_settings(resources, "text-only", dedicated=True)
    assert (dedicated.model, dedicated.endpoint) == ("qwen", llm_server.openai_base_url)
    # A component that declares one sends its visionModel, whatever its text model is.
    claude = vision_settings(resources, "claude")
    assert claude.model == "claude-test"
    assert llm_server.requests == []


@pytest.mark.parametrize(
    "refusal",
    [
        Reply.invalid_request(400, "Invalid content type. image_url is only supported by certain models."),
        Reply.invalid_request(500, "invalid request: image input is not supported by this model"),
    ],
    ids=["400", "500"],
)
def test_a_model_that_refuses_images_makes_vision_not_apply(llm_server: LLMServer, refusal: Reply) -> None:
    settings = VisionSettings(
        provider="openai", model="qwen", api_key="k", endpoint=llm_server.openai_base_url, max_retries=0
    )
    llm_server.script(refusal)
    with pytest.raises(VisionUnavailable, match="refused the request"):
        extract_from_image([page_image("Total 12,50 EUR")], get_type("invoice"), settings)
    assert len(llm_server.requests) == 1


def test_a_vision_provider_failing_is_an_error_to_retry(llm_server: LLMServer) -> None:
    settings = VisionSettings(
        provider="openai", model="gpt-test", api_key="k", endpoint=llm_server.openai_base_url, max_retries=0
    )
    llm_server.script(Reply.server_error(503))
    with pytest.raises(openai.InternalServerError):  # not VisionUnavailable: the activity's retry policy asks again
        extract_from_image([page_image("Total 12,50 EUR")], get_type("invoice"), settings)
