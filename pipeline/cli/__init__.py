"""The ``docline`` command line. Each subcommand lives in its own module; heavy imports stay inside commands."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="docline",
    help="Durable document extraction: scans in, validated structured data out.",
    no_args_is_help=True,
    add_completion=False,
)


def _register() -> None:
    # One line per subcommand module, so `docline --help` lists them in this order.
    __import__("sidecar.cli", fromlist=["register"]).register(app)
    __import__("pipeline.cli.types")  # docline types
    from pipeline.cli import export, extract, ocr, serve, status  # noqa: F401  (serve, extract, status, export, ocr)


def main() -> None:
    _register()
    app()
