"""``docline types``: lists built-in and user-defined types with their fields."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from pipeline.cli import _register, app

_register()
runner = CliRunner()


def test_lists_builtin_types_with_fields() -> None:
    result = runner.invoke(app, ["types"])
    assert result.exit_code == 0, result.output
    assert "invoice" in result.output
    assert "prescription" in result.output
    assert "total_amount" in result.output
    assert "right.sphere" in result.output


def test_json_includes_user_types_labels_and_rules(tmp_path: Path) -> None:
    schema = tmp_path / "note.json"
    schema.write_text(
        json.dumps(
            {
                "title": "Delivery note",
                "type": "object",
                "required": ["number"],
                "properties": {"number": {"type": "string", "x-labels": {"de": ["Lieferschein-Nr"]}}},
            }
        )
    )
    result = runner.invoke(app, ["types", "--types", str(schema), "--json"])
    assert result.exit_code == 0, result.output
    described = {entry["name"]: entry for entry in json.loads(result.output)}
    assert set(described) == {"invoice", "prescription", "delivery_note"}
    note = described["delivery_note"]
    assert note["fields"] == [
        {
            "path": "number",
            "kind": "text",
            "required": True,
            "description": "",
            "labels": {"de": ["Lieferschein-Nr"], "und": ["number"]},
        }
    ]
    assert note["rules"] == ["required(number)"]
    assert "totals_add_up" in described["invoice"]["rules"]
    assert described["invoice"]["languages"] == ["de", "en", "es", "fr", "it", "ja", "nl", "pt"]


def test_unknown_type_is_a_clear_error() -> None:
    result = runner.invoke(app, ["types", "passport"])
    assert result.exit_code == 2
    assert "unknown document type 'passport'" in result.output
