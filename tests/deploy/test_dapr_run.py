"""deploy/dapr.yaml, the multi-app run file for self-hosted Dapr, points at files that exist and agrees with itself."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.render import DEPLOY, load_documents

RUN_FILE = DEPLOY / "dapr.yaml"


def run_file() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(RUN_FILE.read_text(encoding="utf-8"))
    return data


def test_paths_resolve_by_the_multi_app_rules() -> None:
    run = run_file()
    assert run["version"] == 1
    (app,) = run["apps"]
    # `common` paths are relative to the run file; an app's other paths to its appDirPath.
    resources = (RUN_FILE.parent / run["common"]["resourcesPath"]).resolve()
    assert sorted(resources.glob("*.yaml")), resources
    app_dir = (RUN_FILE.parent / app["appDirPath"]).resolve()
    assert app_dir == DEPLOY.parent
    (configuration,) = load_documents(app_dir / app["configFilePath"])
    assert configuration["kind"] == "Configuration"


def test_the_command_is_the_projects_docline_script_serving_on_the_app_port() -> None:
    (app,) = run_file()["apps"]
    project = tomllib.loads((DEPLOY.parent / "pyproject.toml").read_text(encoding="utf-8"))
    assert "docline" in project["project"]["scripts"]
    command = app["command"]
    assert command[0].endswith("/docline")
    assert command[1] == "serve"
    assert command[command.index("--port") + 1] == str(app["appPort"])
    assert app["appHealthCheckPath"] == "/healthz"
    assert app["env"]["DAPR_GRPC_ENDPOINT"] == f"localhost:{app['daprGRPCPort']}"


def test_only_documented_template_properties() -> None:
    documented = yaml.safe_load((Path(__file__).parent / "dapr_documented.yaml").read_text(encoding="utf-8"))
    allowed = documented["run_file"]
    run = run_file()
    assert set(run) <= set(allowed["top"])
    assert set(run.get("common", {})) <= set(allowed["common"])
    for app in run["apps"]:
        unknown = set(app) - set(allowed["app"])
        assert not unknown, f"{sorted(unknown)} are not template properties ({allowed['url']})"
