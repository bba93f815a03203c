"""The app's configuration reads only what the manifests provide: every environment variable that deploy/ sets for
docline is one that ``pipeline.settings.Settings`` reads, and the values load into valid settings."""

from __future__ import annotations

import pytest
import yaml
from pydantic import AliasChoices

from tests.deploy.dockerfile import FINAL, makefile_tesseract_packages
from tests.deploy.render import DEPLOY, OVERLAYS, app_container, only

settings_module = pytest.importorskip("pipeline.settings", reason="pipeline/settings.py has not landed")
Settings = settings_module.Settings


def readable_names() -> set[str]:
    """Every environment variable name Settings reads: DOCLINE_<FIELD> or a field's explicit alias."""
    prefix = Settings.model_config.get("env_prefix", "")
    names: set[str] = set()
    for field_name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(str(choice) for choice in alias.choices)
        elif isinstance(alias, str):
            names.add(alias)
        else:
            names.add(f"{prefix}{field_name}".upper())
    return names


def manifest_env(overlay: str) -> dict[str, str]:
    """The docline container's environment in one overlay: its env literals and its ConfigMap."""
    container = app_container(overlay)
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(only(overlay, "ConfigMap", source["configMapRef"]["name"])["data"])
    for entry in container.get("env", []):
        env[entry["name"]] = entry.get("value", "<from a secret>")
    return env


def dapr_run_env() -> dict[str, str]:
    run = yaml.safe_load((DEPLOY / "dapr.yaml").read_text(encoding="utf-8"))
    (app,) = run["apps"]
    return {**run.get("common", {}).get("env", {}), **app.get("env", {})}


ENVIRONMENTS = [*sorted(OVERLAYS), "dapr-run"]


def env_for(environment: str) -> dict[str, str]:
    return dapr_run_env() if environment == "dapr-run" else manifest_env(environment)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_variable_set_is_one_the_settings_read(environment: str) -> None:
    env = env_for(environment)
    unread = set(env) - readable_names()
    assert not unread, f"{environment} sets variables docline never reads: {sorted(unread)}"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_values_load_into_valid_settings(environment: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in readable_names():
        monkeypatch.delenv(name, raising=False)
    env = {k: v for k, v in env_for(environment).items() if v != "<from a secret>"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.dapr_grpc_endpoint == env["DAPR_GRPC_ENDPOINT"]
    assert settings.state_store == "docline-state"
    assert settings.conversation_component == "docline-llm"
    assert settings.inbox_scan_route == "docline-inbox-scan"


def test_the_check_notices_a_variable_nobody_reads() -> None:
    assert "DOCLINE_OCR_LANGUAGES" in readable_names()
    assert "DOCLINE_OCR_LANGAUGES" not in readable_names()


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_ocr_languages_are_installed_in_the_image(overlay: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCLINE_OCR_LANGUAGES", manifest_env(overlay)["DOCLINE_OCR_LANGUAGES"])
    languages = Settings().ocr_languages
    packages = {f"tesseract-ocr-{lang.replace('_', '-')}" for lang in languages}
    image = {w for run in FINAL.all("RUN") for w in run.split() if w.startswith("tesseract-ocr")}
    assert packages <= image <= makefile_tesseract_packages()


def test_data_dir_is_a_writable_volume() -> None:
    container = app_container("prod")
    data = container["args"][container["args"].index("--data") + 1]
    assert data in {m["mountPath"] for m in container["volumeMounts"]}
    (workdir,) = FINAL.all("WORKDIR")
    assert workdir == data  # embedded components' relative paths resolve from here


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_app_knows_the_body_limit_its_daprd_was_given(environment: str) -> None:
    """daprd refuses requests over its --max-body-size (4 MB unless raised); the inbox moves a file in one request,
    so the app must know the limit daprd really has: the manifests raise both together."""
    from sidecar.server import parse_size

    if environment == "dapr-run":
        (app,) = yaml.safe_load((DEPLOY / "dapr.yaml").read_text(encoding="utf-8"))["apps"]
        daprd = int(app["daprHTTPMaxRequestSize"]) * 1024 * 1024  # the CLI's flag, in MB
    else:
        annotations = only(environment, "Deployment")["spec"]["template"]["metadata"]["annotations"]
        daprd = parse_size(annotations["dapr.io/max-body-size"])
    assert int(env_for(environment)["DOCLINE_DAPR_MAX_BODY_BYTES"]) == daprd
