"""``docline types [NAME]``: the registered document types with their fields, labels and rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from pipeline.cli import app


@app.command("types")
def types_command(
    name: Annotated[str | None, typer.Argument(help="show one type in detail")] = None,
    type_files: Annotated[
        list[Path] | None,
        typer.Option("--types", help="user-defined type (JSON Schema or .py); default: DOCLINE_TYPES"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """List the document types docline can extract, with their fields."""
    from rich.console import Console
    from rich.table import Table

    from extractors.errors import DocumentError
    from extractors.types import build_registry
    from pipeline.settings import Settings

    paths = type_files if type_files else Settings().types
    try:
        registry = build_registry(paths)
        chosen = [registry.get(name)] if name else registry.all()
    except DocumentError as error:
        typer.echo(f"error: {error.message}", err=True)
        raise typer.Exit(2) from error
    described: list[dict[str, Any]] = [
        {
            "name": t.name,
            "title": t.title,
            "description": t.description,
            "source": t.source,
            "languages": t.label_languages(),
            "rules": [getattr(rule, "__name__", type(rule).__name__) for rule in t.rules],
            "fields": [
                {
                    "path": spec.path,
                    "kind": spec.kind,
                    "required": spec.required,
                    "description": spec.description,
                    "labels": {lang: list(labels) for lang, labels in t.labels.get(spec.path, {}).items()},
                }
                for spec in t.fields()
            ],
        }
        for t in chosen
    ]
    if as_json:
        typer.echo(json.dumps(described, indent=2, ensure_ascii=False))
        return
    console = Console()
    for entry in described:
        console.print(f"[bold]{entry['name']}[/bold] — {entry['title']} ({entry['source']})")
        if entry["description"]:
            console.print(entry["description"])
        table = Table("field", "kind", "labels (en, de)" if entry["languages"] else "labels")
        for field in entry["fields"]:
            labels = field["labels"]
            shown = ", ".join([*labels.get("en", [])[:2], *labels.get("de", [])[:2]]) or ", ".join(
                label for values in labels.values() for label in values[:2]
            )
            table.add_row(field["path"], field["kind"], shown)
        console.print(table)
        if entry["languages"]:
            console.print(f"label languages: {', '.join(entry['languages'])}")
        console.print()
