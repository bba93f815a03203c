"""User-defined document types, loaded without touching docline's code.

Two forms:

* a Python module (a ``.py`` file or an importable module name) exposing either ``DOCUMENT_TYPE`` (a
  :class:`DocumentType`) or ``Model`` (a pydantic model) with optional ``NAME``, ``LABELS``, ``KEYWORDS``, ``RULES``,
  ``SENDER_CONSTANT`` (paths whose values are the sender's own, e.g. ``["supplier.name"]``);
* a JSON Schema file (``.json``): the type's name is ``x-docline-name`` or the slugified ``title``; each property may
  carry ``x-labels`` (``{lang: [label, …]}``) and ``"x-sender-constant": true``; the schema may carry
  ``x-keywords`` (``{lang: [word, …]}``).

Either way each field's name, title and description become label hints for the offline extractor
(:mod:`extractors.types.hints`), beside the labels given.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
from pydantic import BaseModel

from extractors.errors import DocumentError
from extractors.rules import required as required_rule
from extractors.types.base import DocumentType
from extractors.types.hints import merge_labels, schema_labels


class InvalidDocumentType(DocumentError):
    """A user-defined type that cannot be loaded: bad file, bad schema, missing model."""

    code = "invalid_document_type"


def load_user_type(source: str | Path) -> DocumentType:
    """The document type defined by ``source``: a ``.json`` schema file, a ``.py`` file or a module name."""
    text = str(source)
    path = Path(text)
    if path.suffix == ".json":
        return _from_json_schema(path)
    if path.suffix == ".py":
        if not path.is_file():
            raise InvalidDocumentType(f"document type module {text} does not exist")
        spec = importlib.util.spec_from_file_location(f"docline_user_type_{path.stem}", path)
        if spec is None or spec.loader is None:
            raise InvalidDocumentType(f"cannot import {text}")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as error:  # a user's module may fail in any way: report it as theirs
            raise InvalidDocumentType(f"importing {text} failed: {error}") from error
        return _from_module(module, text)
    try:
        module = importlib.import_module(text)
    except ImportError as error:
        raise InvalidDocumentType(f"cannot import document type module {text!r}: {error}") from error
    return _from_module(module, text)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _from_module(module: ModuleType, source: str) -> DocumentType:
    defined = getattr(module, "DOCUMENT_TYPE", None)
    if isinstance(defined, DocumentType):
        return defined
    model = getattr(module, "Model", None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise InvalidDocumentType(f"{source} defines neither DOCUMENT_TYPE nor a pydantic Model")
    name = str(getattr(module, "NAME", _slug(model.__name__)))
    schema = model.model_json_schema()
    return DocumentType(
        name=name,
        title=str(getattr(module, "TITLE", model.__name__)),
        description=(model.__doc__ or "").strip(),
        model=model,
        json_schema=schema,
        labels=merge_labels(getattr(module, "LABELS", {}), schema_labels(schema)),
        keywords=getattr(module, "KEYWORDS", {}),
        rules=list(getattr(module, "RULES", [])),
        kinds=getattr(module, "KINDS", {}),
        sender_constant=frozenset(getattr(module, "SENDER_CONSTANT", ())),
        source=source,
    )


def _required_paths(node: Any, prefix: str) -> list[str]:
    if not isinstance(node, dict):
        return []
    paths: list[str] = []
    properties = node.get("properties") or {}
    for name in node.get("required", []):
        path = f"{prefix}.{name}" if prefix else name
        paths.append(path)
        paths.extend(_required_paths(properties.get(name), path))
    return paths


def _from_json_schema(path: Path) -> DocumentType:
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise InvalidDocumentType(f"JSON Schema file {path} does not exist") from error
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidDocumentType(f"{path} is not a readable JSON file: {error}") from error
    if not isinstance(schema, dict) or schema.get("type", "object") != "object":
        raise InvalidDocumentType(f"{path}: a document type schema must describe an object")
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as error:
        raise InvalidDocumentType(f"{path} is not a valid JSON Schema: {error.message}") from error
    name = str(schema.get("x-docline-name") or _slug(str(schema.get("title") or path.stem)))
    if not name:
        raise InvalidDocumentType(f"{path}: the schema needs a title or x-docline-name")
    keywords = schema.get("x-keywords") or {}
    # The schema validator reports missing required fields itself; the rule also covers empty strings.
    rules = [required_rule(*_required_paths(schema, ""))]
    return DocumentType(
        name=name,
        title=str(schema.get("title") or name),
        description=str(schema.get("description") or ""),
        json_schema=schema,
        labels=schema_labels(schema),
        keywords={str(lang): [str(word) for word in words] for lang, words in keywords.items()},
        rules=rules,
        source=str(path),
    )
