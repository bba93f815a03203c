"""``docline eval DIR``: accuracy, speed and LLM cost of the document workflow on documents with ground truth.

Runs like ``docline extract`` (embedded sidecar unless ``DAPR_GRPC_ENDPOINT`` is set, the component files of
``--resources-path``), so running it with two component folders compares two providers on the same documents.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli import app


@app.command("eval")
def eval_(
    folder: Annotated[
        Path,
        typer.Argument(
            help="documents, each with a ground-truth JSON beside it", metavar="DIR", exists=True, file_okay=False
        ),
    ],
    type_: Annotated[
        str | None, typer.Option("--type", help="only documents of this type, read as it (skips classification)")
    ] = None,
    schema: Annotated[
        list[Path] | None, typer.Option(help="a user-defined type: Python module or JSON Schema file", exists=True)
    ] = None,
    resources_path: Annotated[Path, typer.Option(help="Dapr component files")] = Path("components"),
    # Its own workflow database, so it can run beside a `docline serve` using .docline.
    data: Annotated[Path, typer.Option(help="where the embedded sidecar keeps its state")] = Path(".docline/eval"),
    only: Annotated[str | None, typer.Option(help="only documents whose file name contains this")] = None,
    jobs: Annotated[int, typer.Option(min=1, help="documents in the workflow at once")] = 1,
    timeout: Annotated[float, typer.Option(help="seconds each document may take")] = 600.0,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON (no progress bar)")] = False,
) -> None:
    """Score the workflow's results on DIR's documents against their ground truth: per field, per language, total;
    seconds per document; LLM calls and tokens; and the misses."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from pipeline.container import build, limit_malloc_arenas
    from pipeline.embedded import sidecar_for
    from pipeline.evaluation import evaluate, find_cases, render, summarize
    from pipeline.logs import setup_logging
    from pipeline.settings import Settings

    limit_malloc_arenas()  # before any thread exists: see its docstring
    setup_logging("WARNING")
    cases, problems = find_cases(folder, only=only, document_type=type_)
    for problem in problems:
        typer.echo(problem, err=True)
    if not cases:
        typer.echo(f"no documents with a ground truth in {folder}", err=True)
        raise typer.Exit(1)
    # A ground truth describes one document per file: a file is never split into parts here.
    settings = Settings(resources_path=resources_path, data=data, types=list(schema or []), bundles=False)
    started = time.monotonic()
    with sidecar_for(settings, app_port=None) as connected:
        container = build(connected)
        try:
            if type_ and type_ not in container.service.types:
                typer.echo(f"there is no document type {type_!r}", err=True)
                raise typer.Exit(1)
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                disable=as_json,
                transient=True,
            ) as progress:
                task = progress.add_task("evaluating", total=len(cases))
                documents = evaluate(
                    container.service,
                    cases,
                    requested_type=type_,
                    jobs=jobs,
                    timeout=timeout,
                    on_done=lambda _: progress.advance(task),
                )
            extractor = container.understanding.component or "offline"
        finally:
            container.close()
    report = summarize(
        documents,
        folder=folder,
        resources_path=resources_path,
        extractor=extractor,
        requested_type=type_,
        wall_seconds=time.monotonic() - started,
    )
    typer.echo(report.model_dump_json(indent=2) if as_json else render(report))
