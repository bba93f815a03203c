"""The review page's router: serves its three files with safe headers, and nothing else."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from pipeline.web import ASSETS, router


@pytest.fixture
def client() -> TestClient:
    app = FastAPI()
    app.include_router(router)
    return TestClient(app)


def test_root_serves_the_page(client: TestClient) -> None:
    res = client.get("/")
    assert res.status_code == 200
    assert res.headers["content-type"].startswith("text/html")
    assert '<script src="ui/app.js"' in res.text
    assert "default-src 'self'" in res.headers["content-security-policy"]
    # Nothing the page references may live outside this origin: no CDN is reachable at run time.
    assert "http://" not in res.text
    assert "https://" not in res.text


@pytest.mark.parametrize("name", sorted(set(ASSETS) - {"index.html"}))
def test_assets_are_served_with_their_type(client: TestClient, name: str) -> None:
    res = client.get(f"/ui/{name}")
    assert res.status_code == 200
    assert res.headers["content-type"].split(";")[0] == ASSETS[name].split(";")[0]
    assert res.headers["x-content-type-options"] == "nosniff"
    assert "https://" not in res.text


@pytest.mark.parametrize("name", ["nope.js", "..%2F__init__.py", "%2E%2E%2Fweb%2F__init__.py", "static"])
def test_unknown_names_are_not_found(client: TestClient, name: str) -> None:
    assert client.get(f"/ui/{name}").status_code == 404


def test_page_is_not_in_the_openapi_schema(client: TestClient) -> None:
    paths = client.get("/openapi.json").json().get("paths", {})
    assert "/" not in paths
    assert "/ui/{name}" not in paths
