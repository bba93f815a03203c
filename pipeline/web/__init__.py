"""The review page: static HTML/CSS/JS served at ``/`` that talks to the ``/v1`` REST API from the browser.

No build step and nothing fetched from outside: the three files in ``static/`` are the whole page. The app includes
``router``; the page itself needs no token (it holds no data), the ``/v1`` calls it makes carry the bearer token.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Final

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

__all__ = ["ASSETS", "router"]

# An allow-list rather than a static mount: no path from the URL ever reaches the file system.
ASSETS: Final[dict[str, str]] = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}

# The page is tiny and changes with the package: revalidate every time instead of serving a stale build.
_HEADERS: Final[dict[str, str]] = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    # Everything the page loads comes from this origin; page images arrive as blob: URLs (fetched with the token).
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "Referrer-Policy": "no-referrer",
}

router = APIRouter(include_in_schema=False)


def _asset(name: str) -> Response:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise HTTPException(status_code=404, detail="not found")
    body = files(__package__).joinpath("static", name).read_bytes()
    return Response(content=body, media_type=media_type, headers=_HEADERS)


@router.api_route("/", methods=["GET", "HEAD"])
def review_page() -> Response:
    """The single page: queue and document views are client-side routes (``#/…``)."""
    return _asset("index.html")


@router.api_route("/ui/{name}", methods=["GET", "HEAD"])
def review_asset(name: str) -> Response:
    """The page's script and stylesheet."""
    return _asset(name)
