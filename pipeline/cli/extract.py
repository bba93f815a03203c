"""``docline extract FILE...``: run the document workflow for files and print the results as JSON.

Uses the same workflow as ``docline serve`` (embedded sidecar unless ``DAPR_GRPC_ENDPOINT`` is set); waits for each
document to finish (or to need a review, which a terminal cannot give) with a progress bar.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli import app


@app.command()
def extract(
    files: Annotated[list[Path], typer.Argument(help="documents to extract", exists=True, dir_okay=False)],
    type_: Annotated[str | None, typer.Option("--type", help="document type (skips classification)")] = None,
    schema: Annotated[
        list[Path] | None, typer.Option(help="a user-defined type: Python module or JSON Schema file", exists=True)
    ] = None,
    resources_path: Annotated[Path, typer.Option(help="Dapr component files")] = Path("components"),
    # Its own workflow database, so it can run beside a `docline serve` using .docline.
    data: Annotated[Path, typer.Option(help="where the embedded sidecar keeps its state")] = Path(".docline/extract"),
    as_json: Annotated[bool, typer.Option("--json", help="print only JSON (no progress bar)")] = False,
    force: Annotated[bool, typer.Option(help="process again even if the content was processed before")] = False,
    timeout: Annotated[float, typer.Option(help="seconds to wait for all documents")] = 600.0,
) -> None:
    """Extract structured data from documents and print the result (an array for several files, or for a file of
    several documents: its own result, then each part's)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from pipeline.container import build, limit_malloc_arenas
    from pipeline.embedded import sidecar_for
    from pipeline.logs import setup_logging
    from pipeline.models import TERMINAL
    from pipeline.settings import Settings

    limit_malloc_arenas()  # before any thread exists: see its docstring
    setup_logging("WARNING")
    settings = Settings(resources_path=resources_path, data=data, types=list(schema or []))
    results: list[object] = []
    with sidecar_for(settings, app_port=None) as connected:
        container = build(connected)
        try:
            ids = [
                container.service.submit(path.read_bytes(), path.name, requested_type=type_, force=force)[0].id
                for path in files
            ]
            done: dict[str, object] = {}
            deadline = time.monotonic() + timeout
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[stage]}"),
                TimeElapsedColumn(),
                disable=as_json,
                transient=True,
            ) as progress:
                tasks = {
                    i: progress.add_task(path.name, total=None, stage="queued")
                    for i, path in zip(ids, files, strict=True)
                }
                while len(done) < len(ids) and time.monotonic() < deadline:
                    for doc_id in ids:
                        if doc_id in done:
                            continue
                        doc = container.service.get(doc_id)
                        stage = doc.progress.stage if doc.progress else doc.status
                        total = doc.progress.pages if doc.progress and doc.progress.pages else None
                        page = doc.progress.page if doc.progress and doc.progress.page else 0
                        progress.update(tasks[doc_id], stage=stage, total=total, completed=page)
                        # A file of several documents is done when each of its parts is (or waits for a person).
                        settled = doc.parts and all(p.status in (*TERMINAL, "needs_review") for p in doc.parts)
                        if doc.status in TERMINAL or doc.status == "needs_review" or settled:
                            done[doc_id] = doc.result().model_dump(mode="json")
                            progress.update(tasks[doc_id], stage=doc.status, total=1, completed=1)
                    time.sleep(0.2)
            for i in ids:
                doc = container.service.get(i)
                results.append(done.get(i) or doc.result().model_dump(mode="json"))
                # Each part's own result follows its bundle's.
                results.extend(container.service.get(p.id).result().model_dump(mode="json") for p in doc.parts)
        finally:
            container.close()
    typer.echo(json.dumps(results[0] if len(results) == 1 else results, indent=2, ensure_ascii=False))
    if any(r.get("status") in ("failed", "rejected") for r in results if isinstance(r, dict)):
        raise typer.Exit(2)
