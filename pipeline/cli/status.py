"""``docline status [ID]``: one document's result, or the list of documents, from a running ``docline serve``."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from pipeline.cli import app
from pipeline.cli.client import DEFAULT_URL, connect, get_json, iter_documents


@app.command()
def status(
    doc_id: Annotated[str | None, typer.Argument(help="a document id; omit for the list")] = None,
    url: Annotated[str, typer.Option(help="where docline serve listens", envvar="DOCLINE_URL")] = DEFAULT_URL,
    state: Annotated[str | None, typer.Option("--status", help="only documents with this status")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Show where documents are."""
    from rich.console import Console
    from rich.table import Table

    with connect(url) as client:
        if doc_id:
            typer.echo(json.dumps(get_json(client, f"/v1/documents/{doc_id}"), indent=2, ensure_ascii=False))
            return
        docs = list(iter_documents(client, status=state))
    if as_json:
        typer.echo(json.dumps(docs, indent=2, ensure_ascii=False))
        return
    table = Table("id", "status", "type", "file", "pages", "error")
    for d in docs:
        progress = d.get("progress") or {}
        shown = d["status"] + (f" ({progress['stage']})" if progress and d["status"] == "running" else "")
        error = (d.get("error") or {}).get("code", "")
        table.add_row(
            d["id"],
            shown,
            d.get("document_type") or "",
            d["source"]["filename"],
            str(d["source"].get("pages") or ""),
            error,
        )
    Console().print(table)
