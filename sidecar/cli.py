"""``docline sidecar``: the local Dapr-compatible sidecar, with daprd's own flag names."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Annotated

import typer

from sidecar.components.errors import ComponentError
from sidecar.server import SidecarError, SidecarSettings, serve

app = typer.Typer(add_completion=False)


@app.command("sidecar")
def sidecar(
    dapr_grpc_port: Annotated[int, typer.Option("--dapr-grpc-port", help="gRPC port (0 picks a free one)")] = 50001,
    dapr_http_port: Annotated[int, typer.Option("--dapr-http-port", help="HTTP port for /v1.0/healthz")] = 3500,
    resources_path: Annotated[
        Path | None, typer.Option("--resources-path", help="folder of Dapr component YAML files")
    ] = None,
    app_port: Annotated[
        int | None,
        typer.Option("--app-port", help="the app's HTTP port: input bindings call POST /<binding-name> on it"),
    ] = None,
    app_id: Annotated[str, typer.Option("--app-id")] = "docline",
    data: Annotated[Path, typer.Option("--data", help="directory for the sidecar's database")] = Path(
        ".docline/sidecar"
    ),
    host: Annotated[str, typer.Option("--host", help="address to listen on")] = "127.0.0.1",
    max_body_size: Annotated[
        str, typer.Option("--max-body-size", help="largest request or answer, as daprd's flag (e.g. 4Mi, 64Mi)")
    ] = "4Mi",
    log_level: Annotated[str, typer.Option("--log-level")] = "info",
) -> None:
    """Run the local Dapr-compatible sidecar (workflow engine + runtime API) until interrupted."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = SidecarSettings(
        host=host,
        grpc_port=dapr_grpc_port,
        http_port=dapr_http_port,
        resources_path=resources_path,
        app_port=app_port,
        app_id=app_id,
        data_dir=data,
        max_body_size=max_body_size,  # parsed by the settings ("4Mi" → bytes)
    )
    try:
        with contextlib.suppress(KeyboardInterrupt):
            serve(settings)
    except (SidecarError, ComponentError) as exc:
        typer.echo(f"docline sidecar: {exc}", err=True)
        raise typer.Exit(1) from exc


def register(parent: typer.Typer) -> None:
    """Add ``sidecar`` to the ``docline`` command line."""
    parent.command("sidecar")(sidecar)
