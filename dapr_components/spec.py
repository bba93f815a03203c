"""Dapr ``Component`` documents: the pydantic model and the file reader.

Light on imports on purpose: the application reads a conversation component's endpoint, model, key and docline's
own metadata (``visionModel``, ``contextTokens``) from the same files as the sidecar, without any client library.

Placeholders: a string ``{{NAME}}`` or ``{{NAME:default}}`` is replaced by the environment variable ``NAME`` (or the
default) as the Dapr CLI does for ``dapr run``; daprd itself does not substitute them, so files meant for a cluster
should not rely on them. An unset variable without default is left as it is, with a warning. Secrets
(``secretKeyRef``) are not resolved here: that needs a secret store (see ``Component.secret_refs``).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dapr_components.errors import ComponentFileError

__all__ = [
    "Component",
    "ComponentAuth",
    "ComponentMetadata",
    "ComponentSpec",
    "MetadataItem",
    "SecretKeyRef",
    "component_files",
    "find_component",
    "load_component_documents",
    "resource_documents",
    "substitute_placeholders",
]

log = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\s*\}\}")


class SecretKeyRef(BaseModel):
    """``secretKeyRef``: the secret ``name`` in the component's secret store, and the ``key`` inside it."""

    model_config = ConfigDict(extra="ignore")

    name: str
    key: str = ""


class MetadataItem(BaseModel):
    """One ``spec.metadata`` entry: a plain ``value`` or a ``secretKeyRef``."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    name: str
    value: str | None = None
    secret_key_ref: SecretKeyRef | None = Field(default=None, alias="secretKeyRef")

    @field_validator("value", mode="before")
    @classmethod
    def _as_string(cls, value: Any) -> Any:
        # Dapr metadata values are strings; YAML may have given us a number or a boolean.
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        return value


class ComponentMetadata(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1)
    namespace: str | None = None


class ComponentSpec(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    type: str = Field(min_length=1)
    version: str = "v1"
    metadata: list[MetadataItem] = Field(default_factory=list)
    init_timeout: str | None = Field(default=None, alias="initTimeout")
    ignore_errors: bool = Field(default=False, alias="ignoreErrors")

    @field_validator("metadata", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value


class ComponentAuth(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    secret_store: str = Field(alias="secretStore")

    @classmethod
    def model_validate_any(cls, value: Mapping[str, Any]) -> ComponentAuth:
        # The Dapr docs spell it both `secretStore` and `secretstore`.
        data = dict(value)
        if "secretstore" in data and "secretStore" not in data:
            data["secretStore"] = data.pop("secretstore")
        return cls.model_validate(data)


class Component(BaseModel):
    """A Dapr ``Component`` resource (``apiVersion: dapr.io/v1alpha1``, ``kind: Component``)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    api_version: str = Field(default="dapr.io/v1alpha1", alias="apiVersion")
    kind: str = "Component"
    metadata: ComponentMetadata
    spec: ComponentSpec
    auth: ComponentAuth | None = None
    scopes: list[str] = Field(default_factory=list)
    source: str | None = Field(default=None, exclude=True, description="file the document came from")

    @field_validator("auth", mode="before")
    @classmethod
    def _auth(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return ComponentAuth.model_validate_any(value)
        return value

    @field_validator("scopes", mode="before")
    @classmethod
    def _scopes(cls, value: Any) -> Any:
        return [] if value is None else value

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def type(self) -> str:
        return self.spec.type

    def plain_metadata(self) -> dict[str, str]:
        """Metadata entries that have a plain value (secret references left out)."""
        return {item.name: item.value for item in self.spec.metadata if item.value is not None}

    def secret_refs(self) -> dict[str, SecretKeyRef]:
        """Metadata entries that are ``secretKeyRef``s, by metadata name."""
        return {item.name: item.secret_key_ref for item in self.spec.metadata if item.secret_key_ref is not None}

    def value(self, name: str, default: str | None = None) -> str | None:
        """A plain metadata value by name (case-insensitive, as Dapr's metadata decoding is)."""
        wanted = name.lower()
        for item in self.spec.metadata:
            if item.name.lower() == wanted and item.value is not None:
                return item.value
        return default

    def is_scoped_for(self, app_id: str) -> bool:
        return not self.scopes or app_id in self.scopes


def substitute_placeholders(value: Any, environ: Mapping[str, str] | None = None) -> Any:
    """Replace ``{{NAME}}`` / ``{{NAME:default}}`` in every string of a parsed YAML document."""
    env = os.environ if environ is None else environ
    if isinstance(value, str):

        def repl(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            log.warning("component placeholder {{%s}} has no value in the environment; left as is", name)
            return match.group(0)

        return _PLACEHOLDER.sub(repl, value)
    if isinstance(value, list):
        return [substitute_placeholders(v, env) for v in value]
    if isinstance(value, dict):
        return {k: substitute_placeholders(v, env) for k, v in value.items()}
    return value


def component_files(path: Path) -> list[Path]:
    """The YAML files daprd would read from a resources path: the file itself, or a folder's *.yaml/*.yml."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ComponentFileError(f"resources path {path} does not exist")
    return sorted(p for p in path.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml"))


def _documents(file: Path) -> Iterator[Any]:
    try:
        text = file.read_text(encoding="utf-8")
        yield from yaml.safe_load_all(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise ComponentFileError(f"cannot read component file {file}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ComponentFileError(f"component file {file} is not valid YAML: {exc}") from exc


def resource_documents(
    path: Path, kind: str, environ: Mapping[str, str] | None = None
) -> Iterator[tuple[Path, int, dict[str, Any]]]:
    """Every document of ``kind`` (``Component``, ``Subscription``, ``Resiliency``) in a file or a folder of files,
    placeholders substituted, with the file and index it came from; documents of other kinds are skipped."""
    for file in component_files(path):
        for index, doc in enumerate(_documents(file)):
            if doc is None:
                continue
            if not isinstance(doc, dict):
                raise ComponentFileError(f"{file} document {index}: expected a mapping, got {type(doc).__name__}")
            if doc.get("kind") != kind:
                log.debug("%s document %d: kind %r is not a %s; skipped", file, index, doc.get("kind"), kind)
                continue
            yield file, index, substitute_placeholders(doc, environ)


def load_component_documents(path: Path, environ: Mapping[str, str] | None = None) -> list[Component]:
    """All ``kind: Component`` documents in a file or a folder of files (other kinds are skipped).

    Raises ComponentFileError for unreadable files, invalid YAML, or a Component document missing required fields.
    """
    components: list[Component] = []
    for file, index, doc in resource_documents(path, "Component", environ):
        try:
            component = Component.model_validate(doc)
        except ValidationError as exc:
            raise ComponentFileError(f"{file} document {index}: not a valid Dapr Component: {exc}") from exc
        components.append(component.model_copy(update={"source": str(file)}))
    return components


def find_component(path: Path, name: str, environ: Mapping[str, str] | None = None) -> Component | None:
    """The component called ``name`` in a resources path (file or folder), or None when there is none.

    Raises ComponentFileError as :func:`load_component_documents` does.
    """
    return next((c for c in load_component_documents(path, environ) if c.name == name), None)
