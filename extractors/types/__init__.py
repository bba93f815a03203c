"""Registered document types: the built-ins (``invoice``, ``prescription``) plus user-defined ones.

A :class:`TypeRegistry` is built once at start-up (``build_registry(settings.document_types)``) and passed down;
``get_type``/``registered_types`` without a registry use the built-ins only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path

from extractors.errors import UnknownDocumentType
from extractors.types.base import DocumentType, FieldKind, FieldSpec, Labels, TableHint
from extractors.types.invoice import INVOICE
from extractors.types.prescription import PRESCRIPTION
from extractors.types.user import InvalidDocumentType, load_user_type

__all__ = [
    "DocumentType",
    "FieldKind",
    "FieldSpec",
    "InvalidDocumentType",
    "Labels",
    "TableHint",
    "TypeRegistry",
    "build_registry",
    "builtin_registry",
    "get_type",
    "load_user_types",
    "registered_types",
]


class TypeRegistry:
    """Document types by name. Immutable once built: ``with_types`` returns a new registry."""

    def __init__(self, types: Iterable[DocumentType] = ()) -> None:
        self._types: dict[str, DocumentType] = {}
        for doc_type in types:
            if doc_type.name in self._types:
                raise InvalidDocumentType(
                    f"document type {doc_type.name!r} from {doc_type.source} is already defined by "
                    f"{self._types[doc_type.name].source}"
                )
            self._types[doc_type.name] = doc_type

    def get(self, name: str) -> DocumentType:
        try:
            return self._types[name]
        except KeyError:
            known = ", ".join(sorted(self._types))
            raise UnknownDocumentType(f"unknown document type {name!r}; known types: {known}") from None

    def names(self) -> list[str]:
        return list(self._types)

    def all(self) -> list[DocumentType]:
        return list(self._types.values())

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def with_types(self, types: Iterable[DocumentType]) -> TypeRegistry:
        return TypeRegistry([*self._types.values(), *types])


@cache
def builtin_registry() -> TypeRegistry:
    return TypeRegistry([INVOICE, PRESCRIPTION])


def load_user_types(paths: Sequence[str | Path]) -> list[DocumentType]:
    """The types defined by ``paths`` (JSON Schema files, ``.py`` files, module names, or directories of them)."""
    types: list[DocumentType] = []
    for entry in paths:
        path = Path(entry)
        if path.is_dir():
            types.extend(load_user_type(child) for child in sorted(path.iterdir()) if child.suffix in (".json", ".py"))
        else:
            types.append(load_user_type(entry))
    return types


def build_registry(user_type_paths: Sequence[str | Path] = ()) -> TypeRegistry:
    """The built-in types plus the user-defined ones at ``user_type_paths``."""
    return builtin_registry().with_types(load_user_types(user_type_paths))


def get_type(name: str, registry: TypeRegistry | None = None) -> DocumentType:
    """The type called ``name``; raises :class:`UnknownDocumentType` (code ``unknown_document_type``)."""
    return (registry or builtin_registry()).get(name)


def registered_types(registry: TypeRegistry | None = None) -> list[DocumentType]:
    return (registry or builtin_registry()).all()
