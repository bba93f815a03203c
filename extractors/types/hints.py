"""Label hints from a schema: the words a form is likely to print next to each field.

A user-defined type rarely lists every label a sender prints. Its schema already names each field three ways: the
property name (``date_of_birth``, ``dateOfBirth``), the ``title`` and the ``description``. Each becomes a label hint
in :data:`ANY_LANGUAGE`; ``x-labels`` (``{"de": ["Lieferschein-Nr."], "fr": [...]}``) add the printed labels per
language as given. ``examples`` are values, not labels: they are not hints.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from extractors.types.base import resolve_node, split_name

ANY_LANGUAGE = "und"  # ISO 639-2 "undetermined": hints derived from names, written in the schema's own language
MAX_HINT_WORDS = 6  # a longer description is a sentence, not a label
_CLAUSE_END = re.compile(r"[.;:,(\[]")


def schema_labels(schema: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
    """Field path → language → label hints, for every leaf of ``schema`` (``$ref``, ``anyOf`` with null and arrays
    followed as :meth:`DocumentType.fields` follows them)."""
    out: dict[str, dict[str, list[str]]] = {}
    _walk(schema, schema, "", (), out)
    return out


def merge_labels(*sources: Mapping[str, Mapping[str, Sequence[str]]]) -> dict[str, dict[str, list[str]]]:
    """The union of label maps, each path's and language's labels in first-seen order without repeats."""
    merged: dict[str, dict[str, list[str]]] = {}
    for source in sources:
        for path, per_language in source.items():
            target = merged.setdefault(path, {})
            for language, labels in per_language.items():
                known = target.setdefault(str(language), [])
                known.extend(str(label) for label in labels if str(label) not in known)
    return merged


def _walk(
    root: dict[str, Any],
    raw: dict[str, Any],
    path: str,
    parents: tuple[str, ...],
    out: dict[str, dict[str, list[str]]],
) -> None:
    node = resolve_node(root, raw)
    if "properties" in node or node.get("type") == "object":
        for name, child in (node.get("properties") or {}).items():
            child_path = f"{path}.{name}" if path else str(name)
            resolved = resolve_node(root, child)
            _walk(root, child, child_path, (*parents, _title_words(str(name), resolved)), out)
        return
    if node.get("type") == "array" and isinstance(node.get("items"), dict):
        _walk(root, node["items"], f"{path}[]", parents, out)
        return
    if not path:
        return
    hints = _field_hints(path.rsplit(".", 1)[-1].removesuffix("[]"), node, parents)
    per_language: dict[str, list[str]] = {}
    translated = node.get("x-labels")
    if isinstance(translated, dict):
        for language, labels in translated.items():
            if isinstance(labels, list):
                per_language[str(language)] = [str(label) for label in labels]
    if hints:
        per_language[ANY_LANGUAGE] = [*per_language.get(ANY_LANGUAGE, []), *hints]
    if per_language:
        out[path] = per_language


def _title_words(name: str, node: Mapping[str, Any]) -> str:
    title = node.get("title")
    return str(title) if isinstance(title, str) and title.strip() else split_name(name)


def _field_hints(name: str, node: Mapping[str, Any], parents: tuple[str, ...]) -> list[str]:
    """The field's title, its name as words, its description when label-sized (else its first clause), and the
    same prefixed by the enclosing object's title (``patient.name`` → ``patient name``)."""
    own: list[str] = []
    title = node.get("title")
    if isinstance(title, str):
        own.append(title)
    own.append(split_name(name))
    description = node.get("description")
    if isinstance(description, str) and description.strip():
        first = description.strip()
        if len(first.split()) > MAX_HINT_WORDS:
            first = _CLAUSE_END.split(first, maxsplit=1)[0]
        if 0 < len(first.split()) <= MAX_HINT_WORDS:
            own.append(first.strip())
    hints = [" ".join(hint.split()) for hint in own if hint and hint.strip()]
    # The leaf's parent below the root gives the context a form prints ("Patient name", "Claimant's date of birth").
    parent = parents[-2] if len(parents) >= 2 else None
    if parent:
        hints.extend(f"{parent} {hint}" for hint in list(hints) if not hint.lower().startswith(parent.lower()))
    # The same words once, as first written ("Postcode", the pydantic title, and "postcode", the name).
    unique: dict[str, str] = {}
    for hint in hints:
        unique.setdefault(hint.casefold(), hint)
    return list(unique.values())
