"""A small REST client for the CLI commands that talk to a running ``docline serve`` (status, export)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import typer

DEFAULT_URL = "http://127.0.0.1:8080"


def connect(url: str) -> httpx.Client:
    # The CLI's one environment read: the same token the server was given (DOCLINE_API_TOKEN).
    token = os.environ.get("DOCLINE_API_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=url, headers=headers, timeout=30.0)


def get_json(client: httpx.Client, path: str, **params: Any) -> Any:
    try:
        resp = client.get(path, params={k: v for k, v in params.items() if v is not None})
    except httpx.HTTPError as exc:
        typer.echo(f"docline is not reachable at {client.base_url}: {exc}", err=True)
        raise typer.Exit(1) from exc
    if resp.status_code >= 400:
        detail = (
            resp.json().get("detail") if resp.headers.get("content-type", "").startswith("application/json") else ""
        )
        typer.echo(f"{resp.status_code}: {detail or resp.text}", err=True)
        raise typer.Exit(1)
    return resp.json()


def iter_documents(client: httpx.Client, **filters: Any) -> Iterator[dict[str, Any]]:
    cursor = None
    while True:
        page = get_json(client, "/v1/documents", limit=200, cursor=cursor, **filters)
        yield from page["items"]
        cursor = page.get("next")
        if not cursor:
            return
