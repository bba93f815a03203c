"""An embedded ``docline sidecar`` for ``docline serve`` and ``docline extract`` when no sidecar is configured.

This is the only place the application touches the ``sidecar`` package; once it runs, docline connects to it
exactly as to daprd (gRPC and HTTP endpoints in the settings).
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Iterator

from pipeline.settings import Settings

log = logging.getLogger(__name__)


@contextlib.contextmanager
def sidecar_for(settings: Settings, *, app_port: int | None) -> Iterator[Settings]:
    """Yield settings pointing at a sidecar: the configured one, or an embedded one started here."""
    if settings.dapr_grpc_endpoint:
        yield settings
        return
    from pydantic import SecretStr

    from sidecar.server import SidecarSettings, run_sidecar

    # The sidecar proves itself to the app's binding routes with this token; nobody else learns it.
    app_token = settings.app_api_token or SecretStr(secrets.token_urlsafe(32))
    sidecar_settings = SidecarSettings(
        grpc_port=0,  # free ports: an embedded sidecar must never collide with a real daprd on 50001/3500
        http_port=0,
        resources_path=settings.resources_path if settings.resources_path.exists() else None,
        data_dir=settings.data / "sidecar",
        app_port=app_port,
        app_id="docline",
        app_api_token=app_token,
        # The shipped component files keep every file under the data folder: {{DOCLINE_DATA:.docline}}/...
        component_env={"DOCLINE_DATA": str(settings.data)},
        max_body_size=settings.dapr_max_body_bytes,
    )
    with run_sidecar(sidecar_settings) as running:
        log.info("embedded sidecar at %s", running.grpc_endpoint)
        yield settings.model_copy(
            update={
                "dapr_grpc_endpoint": running.grpc_endpoint,
                "dapr_http_endpoint": running.http_endpoint,
                "app_api_token": app_token,
            }
        )
