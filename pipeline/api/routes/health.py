"""Liveness, readiness, Prometheus metrics, and the inbox scan the cron input binding triggers."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from pipeline.api.deps import ContainerDep
from pipeline.inbox import ScanReport
from pipeline.metrics import CONTENT_TYPE
from pipeline.models import StoredDocument

router = APIRouter(tags=["operations"])
# Behind the API token on the API port, or open on a port of its own (see ``pipeline.api.app``).
metrics_router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(container: ContainerDep, response: Response) -> dict[str, str]:
    if container.ready():
        return {"status": "ready"}
    response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return {"status": "not ready"}


@metrics_router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE: {}}}})
def metrics(container: ContainerDep) -> Response:
    return Response(container.metrics.render(), media_type=CONTENT_TYPE)


def scan_inbox(container: ContainerDep) -> ScanReport:
    """Called by the sidecar's cron input binding (the route is the binding's name)."""
    service = container.service

    def submit(data: bytes, filename: str, path: str) -> tuple[StoredDocument, bool]:
        return service.submit(data, filename, inbox_path=path)

    return container.inbox.scan(submit)


def inbox_probe() -> Response:
    return Response(status_code=status.HTTP_200_OK)
