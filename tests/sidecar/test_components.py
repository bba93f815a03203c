"""Component files: parsing, placeholders, unsupported types, scopes, start-up failures, the metadata API, and the
repository's own ``components/`` (defaults and examples) loading cleanly."""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path

import pytest
from dapr.clients import DaprClient

from dapr_components.spec import load_component_documents
from sidecar.components import LoadedComponents, load_components
from sidecar.components.errors import ComponentConfigError, ComponentError, ComponentFileError
from sidecar.server import run_sidecar
from tests.support.components import StartSidecar, write_components
from tests.support.sidecar import sidecar_settings

REPO = Path(__file__).resolve().parents[2]


def _load(
    path: Path, app_id: str = "docline", app_port: int | None = None, environ: dict[str, str] | None = None
) -> LoadedComponents:
    async def go() -> LoadedComponents:
        loaded = await load_components(path, app_id=app_id, app_port=app_port, environ=environ)
        await loaded.close()
        return loaded

    return asyncio.run(go())


def test_documents_placeholders_and_other_kinds(tmp_path: Path) -> None:
    write_components(
        tmp_path,
        """
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: llm
spec:
  type: conversation.openai
  version: v1
  metadata:
    - name: key
      value: "{{DOCLINE_T_KEY}}"
    - name: endpoint
      value: "http://{{DOCLINE_T_HOST:localhost}}:{{DOCLINE_T_PORT:8000}}/v1"
    - name: maxTokens
      value: 512
    - name: missing
      value: "{{DOCLINE_T_UNSET}}"
---
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: not-a-component
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: store
spec:
  type: state.sqlite
  version: v1
  metadata:
    - name: connectionString
      secretKeyRef:
        name: db
        key: path
auth:
  secretStore: vault
scopes: [docline]
""",
    )
    docs = load_component_documents(tmp_path, environ={"DOCLINE_T_KEY": "sk-1", "DOCLINE_T_PORT": "9000"})
    assert [c.name for c in docs] == ["llm", "store"]
    llm, store = docs
    assert llm.value("key") == "sk-1"
    assert llm.value("endpoint") == "http://localhost:9000/v1"
    assert llm.value("maxtokens") == "512"  # names are case-insensitive, values strings
    assert llm.value("missing") == "{{DOCLINE_T_UNSET}}"
    assert store.secret_refs()["connectionString"].key == "path"
    assert store.auth is not None
    assert store.auth.secret_store == "vault"
    assert store.scopes == ["docline"]
    assert store.source == str(tmp_path / "components.yaml")


@pytest.mark.parametrize(
    "text",
    [
        "kind: Component\nmetadata: {name: x\n",  # broken YAML
        "kind: Component\nmetadata: {name: x}\n",  # no spec
        "kind: Component\nmetadata: {name: ''}\nspec: {type: state.sqlite}\n",  # empty name
        "- just\n- a list\n",
    ],
)
def test_bad_files_are_typed_errors(tmp_path: Path, text: str) -> None:
    write_components(tmp_path, text)
    with pytest.raises(ComponentFileError):
        load_component_documents(tmp_path)


def test_missing_resources_path() -> None:
    with pytest.raises(ComponentFileError):
        load_component_documents(Path("/nonexistent/components"))


def test_unsupported_types_are_logged_and_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_components(
        tmp_path,
        """
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: queue}
spec: {type: pubsub.kafka, version: v1}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: pg2}
spec: {type: state.postgresql, version: v2}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: echo}
spec: {type: conversation.echo, version: v1}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: elsewhere}
spec: {type: conversation.echo, version: v1}
scopes: [another-app]
""",
    )
    with caplog.at_level(logging.ERROR, logger="sidecar.components"):
        loaded = _load(tmp_path)
    assert [c.name for c in loaded.registered] == ["echo"]
    assert set(loaded.skipped) == {"queue", "pg2"}
    assert "pubsub.kafka is not supported" in caplog.text
    assert "version v2" in caplog.text


def test_bad_metadata_fails_start_unless_ignore_errors(tmp_path: Path) -> None:
    bad = (
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: inbox}\n"
        "spec:\n  type: bindings.localstorage\n  version: v1\n"
    )
    write_components(tmp_path / "strict", bad)
    with pytest.raises(ComponentConfigError, match="rootPath"):
        _load(tmp_path / "strict")
    write_components(tmp_path / "lenient", bad.replace("  version: v1\n", "  version: v1\n  ignoreErrors: true\n"))
    loaded = _load(tmp_path / "lenient")
    assert loaded.registered == []
    assert "inbox" in loaded.skipped


def test_secret_ref_without_store_is_an_error(tmp_path: Path) -> None:
    write_components(
        tmp_path,
        """
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: llm}
spec:
  type: conversation.openai
  version: v1
  metadata:
    - name: key
      secretKeyRef: {name: OPENAI_API_KEY}
auth: {secretStore: missing-store}
""",
    )
    with pytest.raises(ComponentConfigError, match="missing-store"):
        _load(tmp_path)


def test_sidecar_refuses_to_start_on_broken_component(tmp_path: Path) -> None:
    write_components(
        tmp_path / "res",
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: s}\nspec: {type: state.redis, version: v1}\n",
    )
    with (
        pytest.raises(ComponentError, match="redisHost"),
        run_sidecar(sidecar_settings(tmp_path / "sc", resources_path=tmp_path / "res")),
    ):
        pass


def test_metadata_api_lists_components(
    tmp_path: Path, component_sidecar: StartSidecar, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    component_sidecar(REPO / "components", app_id="docline")
    with DaprClient() as d:
        meta = d.get_metadata()
    assert meta.application_id == "docline"
    found = {c.name: (c.type, c.version, list(c.capabilities)) for c in meta.registered_components}
    assert found["docline-state"][0] == "state.sqlite"
    assert {"ETAG", "TRANSACTIONAL", "TTL"} <= set(found["docline-state"][2])
    assert found["docline-inbox"] == ("bindings.localstorage", "v1", ["OUTPUT_BINDING"])


def test_repository_defaults_load_cleanly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Relative paths in components/ resolve from the working directory, as with daprd.
    monkeypatch.chdir(tmp_path)
    loaded = _load(REPO / "components", app_port=8080)
    names = {c.name: c.type for c in loaded.registered}
    assert names == {
        "docline-state": "state.sqlite",
        "docline-inbox": "bindings.localstorage",
        "docline-outbox": "bindings.localstorage",
        "docline-blobs": "bindings.localstorage",
        "docline-inbox-scan": "bindings.cron",
    }
    assert loaded.skipped == {}
    assert (tmp_path / ".docline" / "inbox").is_dir()
    assert (tmp_path / ".docline" / "state.db").is_file()


def test_repository_defaults_keep_their_files_under_the_data_folder(tmp_path: Path) -> None:
    # docline serve --data X hands the sidecar DOCLINE_DATA=X for the files' {{DOCLINE_DATA:.docline}}.
    _load(REPO / "components", app_port=8080, environ={"DOCLINE_DATA": str(tmp_path / "x")})
    assert sorted(p.name for p in (tmp_path / "x").iterdir()) == ["blobs", "inbox", "outbox", "state.db"]


LLM_EXAMPLES = sorted(
    path.stem
    for path in (REPO / "components" / "examples").glob("*.yaml")
    if any(c.type.startswith("conversation.") for c in load_component_documents(path))
)


def test_every_llm_example_is_covered() -> None:
    assert {"openai", "azure-openai", "anthropic", "ollama", "nvidia-nim", "llamacpp"} <= set(LLM_EXAMPLES)


@pytest.mark.parametrize("example", LLM_EXAMPLES)
def test_llm_examples_load(example: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", "ANTHROPIC_API_KEY", "NVIDIA_API_KEY"):
        monkeypatch.setenv(var, f"test-{var}")
    examples = REPO / "components" / "examples"
    shutil.copy(examples / "secretstore-env.yaml", tmp_path)
    shutil.copy(examples / f"{example}.yaml", tmp_path)
    loaded = _load(tmp_path)
    assert loaded.skipped == {}
    assert "docline-llm" in loaded.conversation


def test_local_model_example_waits_for_slow_answers(tmp_path: Path) -> None:
    shutil.copy(REPO / "components" / "examples" / "llamacpp.yaml", tmp_path)
    llm = _load(tmp_path).conversation["docline-llm"]
    assert llm.timeout == 300.0
    assert llm.model == "qwen"
    assert getattr(llm, "endpoint", "").startswith("http://127.0.0.1:")


def test_state_examples_parse() -> None:
    examples = REPO / "components" / "examples"
    redis = load_component_documents(examples / "state-redis.yaml")[0]
    assert (redis.name, redis.type, redis.value("redisHost")) == ("docline-state", "state.redis", "localhost:6379")
    pg = load_component_documents(examples / "state-postgresql.yaml")[0]
    assert (pg.name, pg.type) == ("docline-state", "state.postgresql")
    assert pg.secret_refs()["connectionString"].name == "DOCLINE_PG_URL"
