"""The self-hosted resource files (deploy/selfhosted/resources) load into a real Dapr-compatible runtime, the
``docline sidecar``, against a real redis-server, and serve the calls docline makes on them: results state, the
blob binding, the actor state store and the conversation component's secret reference."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from dapr.clients import DaprClient

from tests.deploy.render import DEPLOY
from tests.support.components import StartSidecar
from tests.support.services import RedisServer

RESOURCES = DEPLOY / "selfhosted" / "resources"


def test_selfhosted_resources_serve_the_apps_calls(
    tmp_path: Path, redis_server: RedisServer, component_sidecar: StartSidecar, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-deploy-test")  # what the local.env secret store hands docline-llm
    resources = tmp_path / "resources"
    resources.mkdir()
    files = tmp_path / "files"
    for source in sorted(RESOURCES.glob("*.yaml")):
        text = source.read_text(encoding="utf-8")
        # `dapr init`'s Redis and the run directory, moved to this test's server and folder.
        text = text.replace("localhost:6379", redis_server.address).replace(".docline/selfhosted", str(files))
        (resources / source.name).write_text(text, encoding="utf-8")
    component_sidecar(resources, app_id="docline")

    with DaprClient() as dapr:
        registered = {c.name: c.type for c in dapr.get_metadata().registered_components}
        assert registered["docline-workflows"] == "state.redis"
        assert registered["docline-state"] == "state.redis"
        assert registered["docline-llm"] == "conversation.openai"
        assert {"docline-inbox", "docline-outbox", "docline-blobs", "docline-inbox-scan"} <= set(registered)

        dapr.save_state("docline-state", "deploy-test", json.dumps({"status": "completed"}))
        assert json.loads(dapr.get_state("docline-state", "deploy-test").data) == {"status": "completed"}

        page = b"\x89PNG\r\n\x1a\n page image bytes \x00\xff"
        dapr.invoke_binding("docline-blobs", "create", base64.b64encode(page), binding_metadata={"fileName": "p1.png"})
        assert (files / "blobs" / "p1.png").read_bytes() == page
        got = dapr.invoke_binding("docline-blobs", "get", binding_metadata={"fileName": "p1.png"})
        assert got.data == page
