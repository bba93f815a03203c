"""The FastAPI application: REST API under /v1 (bearer auth when a token is set), operations endpoints, the
inbox-scan route for the cron binding (the sidecar only), and the review page at / (``pipeline.web``)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from extractors.errors import DocumentError
from pipeline.api.deps import require_sidecar, require_token
from pipeline.api.routes import documents, health, layouts
from pipeline.container import Container
from pipeline.inbox import ScanReport
from pipeline.tracing import request_span

log = logging.getLogger(__name__)

_ENVELOPE = 64 * 1024  # multipart boundaries, part headers and the small form fields beside the file


def create_app(container: Container) -> FastAPI:
    app = FastAPI(
        title="docline",
        version="0.1.0",
        description="Durable document extraction: scans in, validated structured data out.",
        # Refuse a body over the upload limit (plus room for the multipart envelope) while it arrives, with 413:
        # without this, the form parser spools the whole upload to disk before the route can look at its size.
        max_body_size=container.settings.max_upload_bytes + _ENVELOPE,
    )
    app.state.container = container
    app.include_router(documents.router, dependencies=[Depends(require_token)])
    app.include_router(layouts.router, dependencies=[Depends(require_token)])
    app.include_router(health.router)
    if container.settings.metrics_port is None:  # else it has a port of its own (``serve_metrics``)
        app.include_router(health.metrics_router, dependencies=[Depends(require_token)])
    # The cron input binding posts to /<binding name>; daprd and docline sidecar both call it this way.
    route = f"/{container.settings.inbox_scan_route}"
    sidecar_only = [Depends(require_sidecar)]
    app.add_api_route(
        route,
        health.scan_inbox,
        methods=["POST"],
        response_model=ScanReport,
        tags=["operations"],
        dependencies=sidecar_only,
        responses={403: {"description": "Not called by the Dapr sidecar (no or wrong dapr-api-token)"}},
    )
    # The sidecar asks with OPTIONS whether the app listens to the binding before delivering; no scan for that.
    app.add_api_route(
        route, health.inbox_probe, methods=["OPTIONS"], include_in_schema=False, dependencies=sidecar_only
    )
    if container.settings.app_api_token is None:
        log.warning(
            "APP_API_TOKEN is not set: the app refuses the sidecar's binding calls (the inbox is not scanned); "
            "give daprd and the app the same APP_API_TOKEN"
        )

    @app.middleware("http")
    async def trace_requests(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        # The span is current while the route runs, so a submitted workflow carries this trace.
        with request_span(request.method, request.url.path, request.headers) as span:
            response = await call_next(request)
            span.set_attribute("http.response.status_code", response.status_code)
            return response

    @app.exception_handler(DocumentError)
    async def document_error(_request: Request, exc: DocumentError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": exc.message, "code": exc.code})

    _mount_review_page(app)
    return app


def _mount_review_page(app: FastAPI) -> None:
    """The review page (``pipeline.web``) is static and needs no token; the /v1 calls it makes carry one."""
    from pipeline import web

    app.include_router(web.router)
