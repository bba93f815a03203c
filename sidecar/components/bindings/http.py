"""``bindings.http``: an output binding that sends HTTP requests to ``url``, as Dapr's HTTP binding does.

Operations ``create`` (= POST), ``get``, ``head``, ``post``, ``put``, ``patch``, ``delete``, ``options``, ``trace``.
Request metadata: ``path`` is appended to ``url``; every key starting with a capital letter is sent as a header
(``Content-Type`` defaults to ``application/json; charset=utf-8`` for a request with a body); ``traceparent`` and
``tracestate`` are passed on; ``errorIfNot2XX`` (default true, also a component field) makes a non-2xx answer an
error. The response is the body, with ``statusCode``, ``status`` and the response headers as metadata. Component
fields: ``url`` (required), ``responseTimeout``, ``maxResponseBodySize`` (default 100Mi), ``securityToken`` with
``securityTokenHeader``. mTLS fields are not served.
"""

from __future__ import annotations

import re
from http import HTTPStatus

import aiohttp

from dapr_components.duration import parse_duration
from dapr_components.spec import Component
from sidecar.components.bindings import BindingResponse, OutputBinding
from sidecar.components.errors import BindingOperationError, ComponentConfigError

_SIZE = re.compile(r"^\s*(\d+)\s*(|k|Ki|M|Mi|G|Gi|K|KB|MB|GB)\s*$")
_UNITS = {"": 1, "k": 1000, "K": 1000, "KB": 1000, "M": 10**6, "MB": 10**6, "G": 10**9, "GB": 10**9}
_UNITS |= {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3}
_WITH_BODY = ("POST", "PUT", "PATCH")
_METHODS = (*_WITH_BODY, "GET", "HEAD", "DELETE", "OPTIONS", "TRACE")


def _truthy(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "t", "yes", "y", "on")


def parse_size(text: str, *, field: str) -> int:
    """A Kubernetes-style quantity (``100Mi``, ``2M``, ``512``) in bytes."""
    match = _SIZE.match(text)
    if match is None:
        raise ComponentConfigError(f"{field}: {text!r} is not a size like '100Mi' or '2M'")
    return int(match.group(1)) * _UNITS[match.group(2)]


class HTTPBinding(OutputBinding):
    operations = ("create", "get", "head", "post", "put", "patch", "delete", "options", "trace")

    def __init__(self, component: Component) -> None:
        url = component.value("url")
        if not url:
            raise ComponentConfigError(f"bindings.http {component.name}: metadata url is required")
        self.url = url
        timeout = component.value("responseTimeout")
        self.timeout = parse_duration(timeout, field="responseTimeout") if timeout else None
        self.max_body = parse_size(component.value("maxResponseBodySize") or "100Mi", field="maxResponseBodySize")
        self.token = component.value("securityToken") or ""
        self.token_header = component.value("securityTokenHeader") or ""
        self.error_if_not_2xx = _truthy(component.value("errorIfNot2XX") or "true")
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:  # created on the sidecar's event loop, on first use
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        return self._session

    async def invoke(self, operation: str, data: bytes, metadata: dict[str, str]) -> BindingResponse:
        method = operation.upper()
        if method == "CREATE":
            method = "POST"
        if method not in _METHODS:
            raise BindingOperationError(f"invalid operation: {operation}")
        url = self.url
        if metadata.get("path"):
            url = url.rstrip("/") + "/" + metadata["path"].lstrip("/")
        fail_on_status = self.error_if_not_2xx
        if metadata.get("errorIfNot2XX"):
            fail_on_status = _truthy(metadata["errorIfNot2XX"])
        headers: dict[str, str] = {}
        if method in _WITH_BODY and "Content-Type" not in metadata:
            headers["Content-Type"] = "application/json; charset=utf-8"
        if "Accept" not in metadata:
            headers["Accept"] = "application/json; charset=utf-8"
        if self.token and self.token_header:
            headers[self.token_header] = self.token
        headers |= {k: v for k, v in metadata.items() if k[:1].isupper()}
        for key in ("traceparent", "tracestate", "baggage"):
            if metadata.get(key):
                headers[key] = metadata[key]
        body = data if method in _WITH_BODY else None
        try:
            async with self._client().request(method, url, data=body, headers=headers) as resp:
                content = await resp.content.read(self.max_body)
                status = resp.status
                answer = {k: ", ".join(resp.headers.getall(k)) for k in resp.headers}
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise BindingOperationError(f"{method} {url}: {exc}") from exc
        reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
        answer |= {"statusCode": str(status), "status": f"{status} {reason}".strip()}
        if fail_on_status and status // 100 != 2:
            raise BindingOperationError(f"received status code {status}")
        return BindingResponse(data=content, metadata=answer)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
