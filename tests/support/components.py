"""Fixtures for component tests: write component YAML to a folder and run a real ``docline sidecar`` on it.

``component_sidecar(yaml_text_or_path, app_port=None)`` starts the sidecar (free ports, own data folder), points
the Dapr SDK at it through DAPR_GRPC_ENDPOINT / DAPR_HTTP_ENDPOINT, and stops it after the test.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sidecar.server import RunningSidecar, run_sidecar
from tests.support.sidecar import sidecar_settings

__all__ = ["StartSidecar", "component_sidecar", "write_components"]

StartSidecar = Callable[..., RunningSidecar]

_counter = itertools.count()


def write_components(folder: Path, text: str, name: str = "components.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def component_sidecar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StartSidecar]:
    stack = contextlib.ExitStack()

    def start(
        components: str | Path,
        *,
        app_port: int | None = None,
        app_id: str = "docline-test",
        app_token: str | None = None,
    ) -> RunningSidecar:
        n = next(_counter)
        resources = components if isinstance(components, Path) else write_components(tmp_path / f"res{n}", components)
        settings = sidecar_settings(
            tmp_path / f"sidecar{n}",
            resources_path=resources,
            app_port=app_port,
            app_id=app_id,
            app_api_token=app_token,
        )
        running = stack.enter_context(run_sidecar(settings))
        for key, value in running.environ().items():
            monkeypatch.setenv(key, value)
        return running

    with stack:
        yield start
