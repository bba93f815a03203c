"""Secret stores through the Dapr Python SDK, and ``secretKeyRef`` resolution in other components."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest
from dapr.clients import DaprClient

from tests.support.components import StartSidecar
from tests.support.llm_server import LLMServer


def _store(name: str, kind: str, metadata: dict[str, str]) -> str:
    items = "".join(f'    - name: {k}\n      value: "{v}"\n' for k, v in metadata.items()) or "    []\n"
    return (
        f"apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\n"
        f"spec:\n  type: {kind}\n  version: v1\n  metadata:\n{items}"
    )


def test_local_env_store(component_sidecar: StartSidecar, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCLINE_T_API_KEY", "s3cret")
    monkeypatch.setenv("DOCLINE_T_OTHER", "two")
    component_sidecar(
        _store("env", "secretstores.local.env", {})
        + "---\n"
        + _store("pfx", "secretstores.local.env", {"prefix": "DOCLINE_T_"})
    )
    with DaprClient() as d:
        assert d.get_secret("env", "DOCLINE_T_API_KEY").secret == {"DOCLINE_T_API_KEY": "s3cret"}
        assert d.get_secret("pfx", "API_KEY").secret == {"API_KEY": "s3cret"}
        bulk = d.get_bulk_secret("pfx").secrets
        assert bulk["API_KEY"] == {"API_KEY": "s3cret"}
        assert bulk["OTHER"] == {"OTHER": "two"}
        with pytest.raises(grpc.RpcError) as missing:
            d.get_secret("env", "DOCLINE_T_NOT_SET")
        assert "not found" in (missing.value.details() or "")
        with pytest.raises(grpc.RpcError) as unknown:
            d.get_secret("no-such-store", "x")
        assert unknown.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_local_file_store(tmp_path: Path, component_sidecar: StartSidecar) -> None:
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps({"db": {"user": "docline", "password": "pw"}, "token": "t0k", "port": 5432}))
    component_sidecar(
        _store("flat", "secretstores.local.file", {"secretsFile": str(secrets)})
        + "---\n"
        + _store("multi", "secretstores.local.file", {"secretsFile": str(secrets), "multiValued": "true"})
        + "---\n"
        + _store("dots", "secretstores.local.file", {"secretsFile": str(secrets), "nestedSeparator": "."})
    )
    with DaprClient() as d:
        assert d.get_secret("flat", "db:password").secret == {"db:password": "pw"}
        assert d.get_secret("flat", "port").secret == {"port": "5432"}
        assert d.get_secret("dots", "db.user").secret == {"db.user": "docline"}
        assert d.get_secret("multi", "db").secret == {"user": "docline", "password": "pw"}
        assert d.get_secret("multi", "token").secret == {"token": "t0k"}
        assert set(d.get_bulk_secret("flat").secrets) == {"db:user", "db:password", "token", "port"}


def test_secret_key_ref_resolves_component_metadata(
    tmp_path: Path, llm_server: LLMServer, component_sidecar: StartSidecar, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCLINE_T_LLM_KEY", "from-env-store")
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps({"state": {"path": str(tmp_path / "resolved.db")}}))
    component_sidecar(
        _store("env", "secretstores.local.env", {})
        + "---\n"
        + _store("files", "secretstores.local.file", {"secretsFile": str(secrets)})
        + f"""---
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
        name: DOCLINE_T_LLM_KEY
    - name: endpoint
      value: {llm_server.openai_base_url}
auth:
  secretStore: env
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: results
spec:
  type: state.sqlite
  version: v1
  metadata:
    - name: connectionString
      secretKeyRef:
        name: "state:path"
        key: "state:path"
auth:
  secretstore: files
"""
    )
    from dapr.clients.grpc import conversation as conv

    with DaprClient() as d:
        d.converse_alpha2("llm", [conv.ConversationInputAlpha2(messages=[conv.create_user_message("hi")])])
        d.save_state("results", "k", '"v"')
    assert llm_server.requests[-1].headers["authorization"] == "Bearer from-env-store"
    assert (tmp_path / "resolved.db").exists()
