"""Secret store components: ``secretstores.local.env`` and ``secretstores.local.file``."""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dapr_components.spec import Component
from sidecar.components.errors import ComponentConfigError, SecretNotFoundError

__all__ = ["LocalEnvSecretStore", "LocalFileSecretStore", "SecretStore"]


class SecretStore(ABC):
    @abstractmethod
    def get(self, key: str) -> dict[str, str]:
        """The secret under ``key``: a map of names to values (one entry for single-valued stores)."""

    @abstractmethod
    def bulk(self) -> dict[str, dict[str, str]]: ...


class LocalEnvSecretStore(SecretStore):
    """Environment variables as secrets; with ``prefix``, only those starting with it, prefix stripped."""

    def __init__(self, component: Component, environ: Mapping[str, str] | None = None) -> None:
        self._env = os.environ if environ is None else environ
        self._prefix = component.value("prefix") or ""

    def get(self, key: str) -> dict[str, str]:
        value = self._env.get(self._prefix + key)
        if value is None:
            raise SecretNotFoundError(f"secret {key} not found")
        return {key: value}

    def bulk(self) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for name, value in self._env.items():
            if name.startswith(self._prefix):
                key = name[len(self._prefix) :]
                out[key] = {key: value}
        return out


def _flatten(data: Any, sep: str, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(data, dict):
        for k, v in data.items():
            out.update(_flatten(v, sep, f"{prefix}{sep}{k}" if prefix else str(k)))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out.update(_flatten(v, sep, f"{prefix}{sep}{i}" if prefix else str(i)))
    else:
        out[prefix] = data if isinstance(data, str) else json.dumps(data)
    return out


class LocalFileSecretStore(SecretStore):
    """A JSON file of secrets; nested keys are joined with ``nestedSeparator`` (``:``), or kept as maps when
    ``multiValued`` is true (then a top-level key's secret is the map of its flattened children)."""

    def __init__(self, component: Component) -> None:
        file = component.value("secretsFile")
        if not file:
            raise ComponentConfigError(f"secretstores.local.file {component.name}: metadata secretsFile is required")
        sep = component.value("nestedSeparator") or ":"
        multi = (component.value("multiValued") or "false").lower() == "true"
        try:
            data = json.loads(Path(file).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ComponentConfigError(f"secretstores.local.file {component.name}: cannot read {file}: {exc}") from exc
        if not isinstance(data, dict):
            raise ComponentConfigError(f"secretstores.local.file {component.name}: {file} is not a JSON object")
        self._secrets: dict[str, dict[str, str]] = {}
        if multi:
            for key, value in data.items():
                self._secrets[str(key)] = (
                    _flatten(value, sep) if isinstance(value, dict | list) else _flatten({key: value}, sep)
                )
        else:
            for key, value in _flatten(data, sep).items():
                self._secrets[key] = {key: value}

    def get(self, key: str) -> dict[str, str]:
        if key not in self._secrets:
            raise SecretNotFoundError(f"secret {key} not found")
        return dict(self._secrets[key])

    def bulk(self) -> dict[str, dict[str, str]]:
        return {k: dict(v) for k, v in self._secrets.items()}
