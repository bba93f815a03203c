"""``docline serve``: the application (REST API, review page, inbox, workflow worker) on one port.

Without ``DAPR_GRPC_ENDPOINT`` it starts an embedded ``docline sidecar`` first; with it, it connects to that sidecar
(daprd on a cluster) exactly the same way.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pipeline.cli import app

if TYPE_CHECKING:
    from pipeline.settings import Settings

log = logging.getLogger(__name__)

FEED_IN_FLIGHT = 3
FEED_WAIT_SECONDS = 600  # how long --feed-samples reports on the samples before leaving them to the review page
SAMPLE_SUFFIXES = (".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp")


def sample_files(root: Path) -> list[Path]:
    """The bundled sample documents (ground-truth files beside them are skipped)."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SAMPLE_SUFFIXES)


def serve_settings(
    *, host: str | None = None, port: int | None = None, resources_path: Path | None = None, data: Path | None = None
) -> Settings:
    """The settings for ``serve``: ``DOCLINE_*`` variables (and defaults), overridden by the flags actually given."""
    from pipeline.settings import Settings

    flags = {"host": host, "port": port, "resources_path": resources_path, "data": data}
    given: dict[str, Any] = {name: value for name, value in flags.items() if value is not None}
    return Settings(**given)


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="address to listen on (default: DOCLINE_HOST, else 127.0.0.1)")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="HTTP port of the API and review page (default: DOCLINE_PORT, else 8080)")
    ] = None,
    resources_path: Annotated[
        Path | None, typer.Option(help="Dapr component files (default: DOCLINE_RESOURCES_PATH, else components)")
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(
            help="everything local: the embedded sidecar's database and the shipped components' files"
            " (results, originals, inbox, outbox; default: DOCLINE_DATA, else .docline)"
        ),
    ] = None,
    feed_samples: Annotated[bool, typer.Option(help="submit the bundled samples once the server is up")] = False,
    samples: Annotated[Path, typer.Option(help="folder of samples for --feed-samples")] = Path("samples"),
    log_level: Annotated[str, typer.Option(help="logging level")] = "info",
) -> None:
    """Run docline: REST API, review page, inbox and workflow worker."""
    import uvicorn

    from pipeline.api.app import create_app
    from pipeline.container import build, limit_malloc_arenas
    from pipeline.embedded import sidecar_for
    from pipeline.logs import setup_logging
    from pipeline.tracing import setup_tracing

    limit_malloc_arenas()  # before any thread exists: see its docstring
    setup_logging(log_level)
    # A flag given on the command line wins; otherwise DOCLINE_* from the environment, then the defaults.
    try:
        settings = serve_settings(host=host, port=port, resources_path=resources_path, data=data)
    except ValueError as exc:  # pydantic's ValidationError: a setting docline refuses to start with
        typer.echo(f"docline serve: {exc}", err=True)
        raise typer.Exit(2) from exc
    setup_tracing(console=settings.trace_console)
    stop_metrics: Callable[[], None] | None = None
    with sidecar_for(settings, app_port=settings.port) as connected:
        container = build(connected)
        try:
            api = create_app(container)
            config = uvicorn.Config(
                api, host=settings.host, port=settings.port, log_level=log_level.lower(), access_log=False
            )
            server = uvicorn.Server(config)
            if settings.metrics_port is not None:
                stop_metrics = container.metrics.serve(settings.host, settings.metrics_port)
            if feed_samples:
                threading.Thread(
                    target=_feed,
                    args=(server, container, sample_files(samples), settings.host, settings.port),
                    daemon=True,
                ).start()
            server.run()
        finally:
            if stop_metrics is not None:
                stop_metrics()
            container.close()


def _feed(server: object, container: object, files: list[Path], host: str, port: int) -> None:
    """Submit the samples a few at a time (text-layer PDFs first), so the first results show within seconds
    instead of every document waiting behind every other's OCR."""
    from pipeline.container import Container
    from pipeline.models import TERMINAL

    assert isinstance(container, Container)
    while not getattr(server, "started", False):
        time.sleep(0.1)
    shown = "localhost" if host in ("0.0.0.0", "127.0.0.1") else host
    base = f"http://{shown}:{port}"
    typer.echo(
        f"\ndocline is up; feeding it {len(files)} sample document(s).\n"
        f"  review page:  {base}/\n"
        f"  REST API:     {base}/v1/documents   (OpenAPI: {base}/docs)\n"
    )
    in_flight: list[str] = []
    settled: dict[str, int] = {}

    def report_settled() -> None:
        for doc_id in list(in_flight):
            doc = container.service.get(doc_id)
            if doc.status in TERMINAL or doc.status == "needs_review":
                in_flight.remove(doc_id)
                settled[doc.status] = settled.get(doc.status, 0) + 1
                typer.echo(f"  {doc.status:<13} {doc.source.filename:<24} {base}/v1/documents/{doc.id}")

    ordered = sorted(files, key=lambda p: (p.suffix.lower() != ".pdf", p.stat().st_size))
    for path in ordered:
        while len(in_flight) >= FEED_IN_FLIGHT:
            time.sleep(0.5)
            report_settled()
        try:
            doc, _ = container.service.submit(path.read_bytes(), path.name)
            in_flight.append(doc.id)
        except Exception as exc:  # one bad sample must not stop the others
            log.warning("could not submit %s: %s", path, exc)
    deadline = time.monotonic() + FEED_WAIT_SECONDS
    while in_flight and time.monotonic() < deadline and getattr(server, "started", False):
        time.sleep(0.5)
        report_settled()
    summary = ", ".join(f"{count} {status}" for status, count in sorted(settled.items()))
    pending = f", {len(in_flight)} still running" if in_flight else ""
    typer.echo(
        f"\n  {len(ordered)} samples: {summary or 'none settled'}{pending}."
        f" Review them on {base}/ or list them with `docline status`; Ctrl+C stops the server."
    )
