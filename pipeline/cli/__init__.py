"""The ``docline`` command line. Each subcommand lives in its own module; heavy imports stay inside commands."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="docline",
    help="Durable document extraction: scans in, validated structured data out.",
    no_args_is_help=True,
    add_completion=False,
)


def _register() -> None:
    # Each module adds its command when imported; `docline --help` lists them in this order.
    for module in ("serve", "extract", "eval", "status", "export", "ocr", "types"):
        importlib.import_module(f"pipeline.cli.{module}")
    importlib.import_module("sidecar.cli").register(app)


def main() -> None:
    _register()
    app()
