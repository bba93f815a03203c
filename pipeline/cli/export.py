"""``docline export --format json|csv``: every result from a running ``docline serve``, one row per document."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from pipeline.cli import app
from pipeline.cli.client import DEFAULT_URL, connect, iter_documents


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}, "c": [{"d": 2}]}`` → ``{"a.b": 1, "c.0.d": 2}`` (the dotted paths the API uses)."""
    out: dict[str, Any] = {}
    if isinstance(value, dict):
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}{k}."))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.update(flatten(v, f"{prefix}{i}."))
    else:
        out[prefix.rstrip(".")] = value
    return out


def rows(docs: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    fixed = ["id", "status", "document_type", "language", "filename", "sha256", "valid", "error"]
    table = []
    extra: list[str] = []
    for d in docs:
        row = {
            "id": d["id"],
            "status": d["status"],
            "document_type": d.get("document_type"),
            "language": d.get("language"),
            "filename": d["source"]["filename"],
            "sha256": d["source"]["sha256"],
            "valid": (d.get("validation") or {}).get("valid"),
            "error": (d.get("error") or {}).get("code"),
        }
        for k, v in flatten(d.get("data") or {}).items():
            key = f"data.{k}"
            row[key] = v
            if key not in extra:
                extra.append(key)
        table.append(row)
    return fixed + extra, table


@app.command()
def export(
    format_: Annotated[Literal["json", "csv"], typer.Option("--format", help="json or csv")] = "json",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="file to write (default: stdout)")] = None,
    url: Annotated[str, typer.Option(help="where docline serve listens", envvar="DOCLINE_URL")] = DEFAULT_URL,
    state: Annotated[str | None, typer.Option("--status", help="only documents with this status")] = "completed",
    type_: Annotated[str | None, typer.Option("--type", help="only documents of this type")] = None,
) -> None:
    """Export results (completed ones by default; --status '' for all)."""
    with connect(url) as client:
        docs = list(iter_documents(client, status=state or None, type=type_))
    out = output.open("w", newline="", encoding="utf-8") if output else sys.stdout
    try:
        if format_ == "json":
            json.dump(docs, out, indent=2, ensure_ascii=False)
            out.write("\n")
        else:
            header, table = rows(docs)
            writer = csv.DictWriter(out, fieldnames=header)
            writer.writeheader()
            writer.writerows(table)
    finally:
        if output:
            out.close()
