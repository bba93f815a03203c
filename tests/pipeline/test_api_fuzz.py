"""The REST API fuzzed from its own OpenAPI schema (schemathesis): no request earns a 5xx; with a token set, every
``/v1`` operation in the schema refuses a request without it; upload limits hold, also for a body that does not
say how long it is."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis

# Imported at collection: on first use schemathesis imports its OpenAPI loader, pytest's assertion rewriting parses
# it, and under CPython 3.11 that parse with the app's threads running raised "AST constructor recursion depth
# mismatch" (cpython#106905).
import schemathesis.specs.openapi.schemas
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tests.support.docline import App, run_app

TOKEN = "fuzz-token"
LIMIT = 1_000_000  # bytes: small, so hand-made uploads cross it cheaply
SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "documents"


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    # Every document waits for review, so the review operation is fuzzed against a document that takes one.
    root = tmp_path_factory.mktemp("fuzz")
    with run_app(root, api_token=TOKEN, max_upload_bytes=LIMIT, review_confidence_threshold=1.0) as app:
        yield app


@pytest.mark.slow
def test_no_request_gets_a_server_error(fuzz_app: App) -> None:
    """Every operation, with generated parameters and bodies (valid and invalid), answers below 500."""
    # Driven through hypothesis directly: the schema comes from the running app, which a fixture starts.
    api = schemathesis.openapi.from_url(f"{fuzz_app.url}/openapi.json")
    # Deleting comes last, so the other operations meet the known document first.
    operations = sorted((result.ok() for result in api.get_all_operations()), key=lambda op: op.method == "delete")
    assert len(operations) >= 8
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=fuzz_app.url, headers=auth, timeout=30) as client:
        resp = client.post("/v1/documents", files={"file": ("rx.pdf", (SAMPLES / "rx-de-text.pdf").read_bytes())})
        known = fuzz_app.wait(resp.json()["id"], ("needs_review", "completed", "rejected"))["id"]
    for operation in operations:
        _fuzz(fuzz_app.url, operation, known)


def _fuzz(url: str, operation: Any, known: str) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
        # the same operations on a document that exists (where the schema has a document id)
        operation.as_strategy(GenerationMode.POSITIVE, path_parameters={"doc_id": known})
        if "{doc_id}" in operation.path
        else st.nothing(),
    )

    @given(case=cases)
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def call(case: Any) -> None:
        response = case.call(base_url=url, headers=auth, timeout=30)
        assert response.status_code < 500, f"{response.status_code} {response.text[:300]}\n{case.as_curl_command()}"

    call()


def _v1_operations(openapi: dict[str, Any]) -> list[tuple[str, str]]:
    ops = []
    for path, item in openapi["paths"].items():
        if not path.startswith("/v1"):
            continue
        for method in item:
            if method in {"get", "post", "put", "patch", "delete"}:
                ops.append((method.upper(), path.replace("{doc_id}", "abc").replace("{number}", "1")))
    return ops


def test_every_v1_operation_in_the_schema_needs_the_token(fuzz_app: App) -> None:
    with httpx.Client(base_url=fuzz_app.url, timeout=30) as client:
        ops = _v1_operations(client.get("/openapi.json").json())
        assert len(ops) >= 6, ops
        for method, path in ops:
            for headers in (
                {},
                {"Authorization": "Bearer wrong"},
                {"Authorization": TOKEN},
                {"Authorization": "Basic x"},
            ):
                resp = client.request(method, path, headers=headers)
                assert resp.status_code == 401, (method, path, headers, resp.status_code)
        # The review page and the operations endpoints stay open (the page asks for the token itself).
        assert client.get("/healthz").status_code == 200


def test_upload_limits(fuzz_app: App) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=fuzz_app.url, timeout=60, headers=auth) as client:
        under = client.post("/v1/documents", files={"file": ("a.pdf", b"%PDF-" + b"1" * (LIMIT - 5))})
        assert under.status_code == 202, under.text
        over = client.post("/v1/documents", files={"file": ("a.pdf", b"%PDF-" + b"1" * (LIMIT - 4))})
        assert over.status_code == 413
        assert "limit" in over.json()["detail"]

        # A body far over the limit is refused while it arrives, whether or not it declares its length.
        declared = client.post(
            "/v1/documents", content=b"0" * (2 * LIMIT), headers={"Content-Type": "multipart/form-data; boundary=b"}
        )
        assert declared.status_code == 413

        def endless() -> Iterator[bytes]:
            yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.pdf"\r\n\r\n%PDF-'
            for _ in range(2000):  # 128 MiB if it were all read
                yield b"0" * 65536
            yield b"\r\n--b--\r\n"

        streamed = client.post(
            "/v1/documents", content=endless(), headers={"Content-Type": "multipart/form-data; boundary=b"}
        )
        assert streamed.status_code == 413
        assert client.get("/healthz").status_code == 200
        listed = client.get("/v1/documents", params={"limit": 500}).json()["items"]
        assert all(d["source"]["size"] <= LIMIT for d in listed if "size" in d["source"])
