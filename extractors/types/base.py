"""What a document type is: a schema (pydantic model or plain JSON Schema), multilingual label hints, rules.

Field paths are dotted (``seller.vat_id``); array items use ``[]`` in specs (``line_items[].amount``) and indexes in
data paths (``line_items.0.amount``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import jsonschema
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from extractors.rules import Rule, TableRule, ValidationIssue

FieldKind = Literal[
    "text",
    "name",
    "address",
    "date",
    "amount",
    "number",
    "int",
    "currency",
    "iban",
    "vat_id",
    "identifier",
    "diopter",
    "prism_base",
    "lens_type",
    "boolean",
    "choice",
]
Labels = Mapping[str, Mapping[str, Sequence[str]]]
"""field path → language → labels printed next to that field (``{"invoice_number": {"de": ["Rechnungsnummer"]}}``)."""


@dataclass(frozen=True)
class Option:
    """One allowed value of a ``choice`` field (a JSON Schema ``enum`` or ``oneOf`` of ``const``) and the words a
    form prints for it (its ``title``, ``x-labels``, or the value itself split into words)."""

    value: Any
    labels: tuple[str, ...]


@dataclass(frozen=True)
class FieldSpec:
    """One leaf field of a type, as the extractors and ``docline types`` see it."""

    path: str
    kind: FieldKind
    description: str = ""
    required: bool = False
    options: tuple[Option, ...] = ()  # a choice field's allowed values
    pattern: str | None = None  # the JSON Schema ``pattern`` (or a ``format``'s shape) a value must match
    # The same on every document of one sender (the seller's name, VAT ID, IBAN): the only values a layout memory
    # may keep (``agents.layout_memory``); everything else it keeps is where values sit, never what they are.
    sender_constant: bool = False


@dataclass(frozen=True)
class TableHint:
    """A grid of values: rows and columns named by labels, the value at ``path.format(row=..., column=...)``.

    Prescriptions print powers as a table: one row per eye (R/OD/rechts), one column per quantity (Sph, Cyl, …).
    """

    path: str
    rows: Labels
    columns: Labels


@dataclass(frozen=True)
class DocumentType:
    """A registered document type. ``model`` is ``None`` for types defined by a plain JSON Schema file."""

    name: str
    json_schema: dict[str, Any]
    model: type[BaseModel] | None = None
    title: str = ""
    description: str = ""
    labels: Labels = field(default_factory=dict)
    keywords: Mapping[str, Sequence[str]] = field(default_factory=dict)
    rules: Sequence[Rule] = ()
    table_rules: Sequence[TableRule] = ()  # rules that also see what the document's tables print
    kinds: Mapping[str, FieldKind] = field(default_factory=dict)
    tables: Sequence[TableHint] = ()
    source: str = "builtin"
    # Paths whose values are the sender's own (see ``FieldSpec.sender_constant``); a JSON Schema property may say
    # so itself with ``"x-sender-constant": true``.
    sender_constant: frozenset[str] = frozenset()

    def fields(self) -> list[FieldSpec]:
        """The leaf fields in schema order, with the kind the offline extractor reads them as."""
        specs: list[FieldSpec] = []
        _walk(self.json_schema, self.json_schema, "", True, specs, self.kinds, self.sender_constant)
        return specs

    def label_languages(self) -> list[str]:
        return sorted({lang for per_lang in self.labels.values() for lang in per_lang})

    def coerce(
        self, data: Mapping[str, Any], language: str | None = None
    ) -> tuple[dict[str, Any], list[ValidationIssue]]:
        """``data`` checked against the schema, in JSON form (ISO dates, numbers), plus the schema violations.

        Fields that violate the schema are reported and left out of the result, so rules see only valid values.
        ``language`` (the document's, ISO 639-1 or Tesseract code) reaches the model's validators as the validation
        context, for values whose meaning depends on it (a German prescription's prism base ``BO`` is *oben*, up).
        """
        raw = dict(data)
        if self.model is None:
            return _coerce_json_schema(self.json_schema, raw)
        issues: list[ValidationIssue] = []
        for _attempt in range(50):
            try:
                return self.model.model_validate(raw, context={"language": language}).model_dump(mode="json"), issues
            except PydanticValidationError as error:
                removed = False
                for problem in error.errors():
                    loc = [str(part) for part in problem["loc"]]
                    issues.append(
                        ValidationIssue(field=".".join(loc) or "$", code="invalid_value", message=problem["msg"])
                    )
                    removed = _remove_path(raw, loc) or removed
                if not removed:
                    break
        return {}, issues


def _remove_path(data: Any, loc: list[str]) -> bool:
    current = data
    for part in loc[:-1]:
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return False
    last = loc[-1] if loc else None
    if isinstance(current, dict) and last in current:
        del current[last]
        return True
    if isinstance(current, list) and last is not None and last.isdigit() and int(last) < len(current):
        current.pop(int(last))
        return True
    return False


def _coerce_json_schema(schema: dict[str, Any], data: dict[str, Any]) -> tuple[dict[str, Any], list[ValidationIssue]]:
    validator_class = jsonschema.validators.validator_for(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    issues: list[ValidationIssue] = []
    for _attempt in range(50):
        errors = list(validator.iter_errors(data))
        if not errors:
            return data, issues
        removed = False
        for problem in errors:
            if problem.validator == "required":
                # Reported by the type's ``required`` rule, with the field's own path.
                continue
            loc = [str(part) for part in problem.absolute_path]
            issues.append(ValidationIssue(field=".".join(loc) or "$", code="invalid_value", message=problem.message))
            removed = _remove_path(data, loc) or removed
        if not removed:
            return data, issues
    return data, issues


def resolve_node(root: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """``node`` with ``$ref`` followed and an optional field's ``anyOf: [X, null]`` narrowed to ``X``."""
    while "$ref" in node:
        reference = node["$ref"]
        target: Any = root
        for part in reference.removeprefix("#/").split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    options = node.get("anyOf") or node.get("oneOf")
    if options:
        # Optional fields are ``anyOf: [X, null]``: the non-null branch is the field's shape.
        non_null = [resolve_node(root, option) for option in options if option.get("type") != "null"]
        if len(non_null) == 1:
            merged = {k: v for k, v in node.items() if k not in ("anyOf", "oneOf")}
            return {**non_null[0], **merged}
    return node


def _kind_of(node: dict[str, Any], path: str) -> FieldKind:
    types = node.get("type")
    type_name = types if isinstance(types, str) else next((t for t in types or [] if t != "null"), "string")
    if node.get("format") == "date" or node.get("format") == "date-time":
        return "date"
    if type_name == "boolean":
        return "boolean"
    if _options(node):
        return "choice"
    if type_name == "integer":
        return "int"
    if type_name == "number":
        return "amount"
    last = path.rsplit(".", 1)[-1].removesuffix("[]")
    if last in ("currency", "currency_code"):
        return "currency"
    if last == "iban":
        return "iban"
    if last in ("vat_id", "vat_number", "tax_id"):
        return "vat_id"
    return "text"


def split_name(name: str) -> str:
    """A property name as words: ``date_of_birth``, ``dateOfBirth`` and ``Date-Of-Birth`` → ``date of birth``;
    runs of capitals stay one word (``VAFileNumber`` → ``VA file number``)."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[A-Za-z])(?=[0-9])", " ", name)
    words = [word for word in re.split(r"[\s_\-.]+", spaced) if word]
    return " ".join(word if len(word) > 1 and word.isupper() else word.lower() for word in words)


def _option_labels(option: Any, node: dict[str, Any]) -> tuple[str, ...]:
    labels = [str(node["title"])] if isinstance(node.get("title"), str) else []
    translated = node.get("x-labels")
    if isinstance(translated, dict):
        labels.extend(str(label) for values in translated.values() if isinstance(values, list) for label in values)
    if isinstance(option, str) and option:
        labels.append(split_name(option))
    return tuple(dict.fromkeys(label for label in labels if label.strip()))


def _options(node: dict[str, Any]) -> tuple[Option, ...]:
    """A field's allowed values: ``enum``, or ``oneOf``/``anyOf`` whose branches are each a ``const``."""
    if isinstance(node.get("enum"), list):
        return tuple(Option(value, _option_labels(value, {})) for value in node["enum"] if value is not None)
    branches = node.get("oneOf") or node.get("anyOf")
    if isinstance(branches, list) and branches and all(isinstance(b, dict) and "const" in b for b in branches):
        return tuple(Option(b["const"], _option_labels(b["const"], b)) for b in branches if b["const"] is not None)
    return ()


# The shapes of JSON Schema string formats a form prints (an e-mail address, a time of day).
FORMAT_PATTERNS = {
    "email": r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}",
    "time": r"\d{1,2}:\d{2}(?::\d{2})?",
}


def _pattern(node: dict[str, Any]) -> str | None:
    pattern = node.get("pattern")
    if isinstance(pattern, str) and pattern:
        return pattern
    return FORMAT_PATTERNS.get(str(node.get("format", "")))


def _walk(
    root: dict[str, Any],
    node: dict[str, Any],
    prefix: str,
    required_here: bool,
    out: list[FieldSpec],
    kinds: Mapping[str, FieldKind],
    sender: frozenset[str] = frozenset(),
) -> None:
    node = resolve_node(root, node)
    type_name = node.get("type")
    if "properties" in node or type_name == "object":
        required_names = set(node.get("required", []))
        for name, child in node.get("properties", {}).items():
            path = f"{prefix}.{name}" if prefix else name
            _walk(root, child, path, required_here and name in required_names, out, kinds, sender)
        return
    if type_name == "array" and isinstance(node.get("items"), dict):
        _walk(root, node["items"], f"{prefix}[]", False, out, kinds, sender)
        return
    out.append(
        FieldSpec(
            path=prefix,
            kind=kinds.get(prefix, _kind_of(node, prefix)),
            description=str(node.get("description", "")),
            required=required_here and bool(prefix),
            options=_options(node),
            pattern=_pattern(node),
            sender_constant=prefix in sender or node.get("x-sender-constant") is True,
        )
    )
