"""FastAPI dependencies: the container built at start-up, and bearer-token auth for every /v1 route."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from pipeline.container import Container
from pipeline.service import DocumentService

_bearer = HTTPBearer(auto_error=False, description="Required when DOCLINE_API_TOKEN is set")


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


def get_service(container: Annotated[Container, Depends(get_container)]) -> DocumentService:
    return container.service


MAX_NAME = 200


def require_token(
    request: Request,
    container: Annotated[Container, Depends(get_container)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str | None:
    """Refuse a request without a valid token (when there are tokens); answer who is calling: the user the proxy
    names in ``reviewer_header``, else the token's name, else None."""
    settings = container.settings
    tokens = settings.named_tokens()
    name: str | None = None
    if tokens:
        given = (credentials.credentials if credentials else "").encode()
        for candidate, token in tokens.items():  # every one compared: the time taken says nothing of which
            if secrets.compare_digest(given, token.get_secret_value().encode()):
                name = candidate
        if name is None:
            raise HTTPException(
                status_code=status.HTTP_401_UNAUTHORIZED,
                detail="Missing or wrong bearer token.",
                headers={"WWW-Authenticate": "Bearer"},
            )
    if settings.reviewer_header:
        user = request.headers.get(settings.reviewer_header, "").strip()
        if user:
            return user[:MAX_NAME]
    return name


def require_sidecar(
    container: Annotated[Container, Depends(get_container)],
    dapr_api_token: Annotated[str | None, Header(alias="dapr-api-token", include_in_schema=False)] = None,
) -> None:
    """Binding callbacks come from the sidecar only: it sends Dapr's app API token in ``dapr-api-token``. Without a
    configured token nothing can prove it is the sidecar, so the callback is refused."""
    expected = container.settings.app_api_token
    given = (dapr_api_token or "").encode()
    if expected is None or not secrets.compare_digest(given, expected.get_secret_value().encode()):
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="Only the Dapr sidecar may call this.")


ServiceDep = Annotated[DocumentService, Depends(get_service)]
CallerDep = Annotated[str | None, Depends(require_token)]
ContainerDep = Annotated[Container, Depends(get_container)]
