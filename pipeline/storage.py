"""Files through a Dapr storage output binding, whatever the component type behind it.

The app names a binding (``docline-blobs``, ``docline-outbox``, ``docline-inbox``); the component file decides
whether that is a local folder, an S3 bucket, an Azure Blob container or a GCS bucket. Each type speaks its own
dialect through the same four operations (documented at docs.dapr.io, "Bindings component specs"):

- ``bindings.localstorage``: the name in metadata ``fileName``; ``list`` takes no data and answers a JSON array
  of paths under the component's rootPath (``null`` when empty); ``create`` decodes data that is valid base64.
- ``bindings.aws.s3``: ``key``; ``list`` takes data ``{prefix, marker, maxResults}`` and answers S3's ListObjects
  (``Contents[].Key``, ``IsTruncated``, ``NextMarker``); ``decodeBase64`` / ``encodeBase64`` are component
  settings that request metadata overrides.
- ``bindings.azure.blobstorage``: ``blobName``; ``list`` takes ``{prefix, marker, maxResults}`` and answers a JSON
  array of blobs (``Name``) with the next marker in response metadata ``marker``; ``decodeBase64`` is a component
  setting only.
- ``bindings.gcp.bucket``: ``key``; ``list`` takes ``{prefix, maxResults}`` (no marker) and answers a JSON array of
  objects (``Name``); ``decodeBase64`` / ``encodeBase64`` as request metadata.

File contents always travel base64-encoded (the only binary-safe way through the binding API that every type
decodes); Azure Blob components must therefore set ``decodeBase64: "true"`` (deploy/ does for its buckets).

The dialects are pure functions of (name, data) → request and answer → names/bytes, tested without a network;
:class:`StorageBinding` learns its component's type once from the sidecar's metadata and applies the matching one.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from dapr.clients import DaprClient

log = logging.getLogger(__name__)

# A file the app writes to a local folder once, to learn the folder's path as the binding reports it in `list`.
# (The name predates this module: existing inbox folders already hold one.)
ROOT_MARKER = "docline-inbox.marker"
PAGE_SIZE = 1000
MAX_PAGES = 10_000  # a runaway marker (a store answering the same page forever) ends with an error, not a hang


class StorageError(RuntimeError):
    """The storage binding is missing, of a type docline cannot use, or answered something unexpected."""


@dataclass(frozen=True)
class BindingRequest:
    """One output-binding invocation: operation, data and request metadata, exactly as sent to the sidecar."""

    operation: str
    data: bytes = b""
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ListPage:
    """Names found by one ``list`` call, and the marker for the next call (``None``: this was the last page)."""

    names: list[str]
    next_marker: str | None = None


class Dialect(Protocol):
    """How one component type spells create/get/delete/list."""

    type: ClassVar[str]

    def create(self, name: str, data: bytes) -> BindingRequest: ...

    def get(self, name: str) -> BindingRequest: ...

    def delete(self, name: str) -> BindingRequest: ...

    def list(self, prefix: str, marker: str | None, page_size: int) -> BindingRequest: ...

    def parse_list(self, data: bytes, metadata: Mapping[str, str]) -> ListPage: ...


def _b64(data: bytes) -> bytes:
    return base64.b64encode(data)


def _json(data: bytes) -> Any:
    try:
        return json.loads(data or b"null")
    except ValueError as exc:
        raise StorageError(f"the storage binding's list answer is not JSON: {data[:80]!r}") from exc


def _names(items: Any, field_name: str) -> list[str]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise StorageError(f"the storage binding's list answer is not an array: {str(items)[:80]}")
    names = []
    for item in items:
        name = item.get(field_name) if isinstance(item, dict) else None
        if not isinstance(name, str):
            raise StorageError(f"a listed item has no {field_name!r}: {str(item)[:80]}")
        names.append(name)
    return names


class LocalStorage:
    """``bindings.localstorage``: ``list`` answers paths as the component sees them (see :meth:`relative`)."""

    type: ClassVar[str] = "bindings.localstorage"

    def create(self, name: str, data: bytes) -> BindingRequest:
        # The component decodes data that is valid base64, so binary (and base64-looking text) goes encoded.
        return BindingRequest("create", _b64(data), {"fileName": name})

    def get(self, name: str) -> BindingRequest:
        return BindingRequest("get", b"", {"fileName": name})

    def delete(self, name: str) -> BindingRequest:
        return BindingRequest("delete", b"", {"fileName": name})

    def list(self, prefix: str, marker: str | None, page_size: int) -> BindingRequest:
        # No paging or prefix: the whole tree under rootPath comes back; the caller filters.
        return BindingRequest("list", b"", {})

    def parse_list(self, data: bytes, metadata: Mapping[str, str]) -> ListPage:
        raw = _json(data)
        if raw is None:
            return ListPage([])
        if not isinstance(raw, list) or not all(isinstance(p, str) for p in raw):
            raise StorageError(f"the local storage list answer is not an array of paths: {str(raw)[:80]}")
        return ListPage(list(raw))

    @staticmethod
    def root_from(paths: Sequence[str]) -> str | None:
        """The folder prefix of the listed paths, found by the marker file the app wrote at the root."""
        for path in paths:
            if path == ROOT_MARKER:
                return ""
            if path.endswith("/" + ROOT_MARKER):
                return path[: -len(ROOT_MARKER)]
        return None


class S3:
    """``bindings.aws.s3`` (and S3-compatible stores such as MinIO)."""

    type: ClassVar[str] = "bindings.aws.s3"

    def create(self, name: str, data: bytes) -> BindingRequest:
        # The binding merges decodeBase64 from the request over the component's, so this holds either way.
        return BindingRequest("create", _b64(data), {"key": name, "decodeBase64": "true"})

    def get(self, name: str) -> BindingRequest:
        # Raw bytes back even if the component sets encodeBase64 (request metadata wins, as for decodeBase64).
        return BindingRequest("get", b"", {"key": name, "encodeBase64": "false"})

    def delete(self, name: str) -> BindingRequest:
        return BindingRequest("delete", b"", {"key": name})

    def list(self, prefix: str, marker: str | None, page_size: int) -> BindingRequest:
        return _bucket_list(prefix, marker, page_size)

    def parse_list(self, data: bytes, metadata: Mapping[str, str]) -> ListPage:
        raw = _json(data)
        if not isinstance(raw, dict):
            raise StorageError(f"the S3 list answer is not an object: {str(raw)[:80]}")
        names = _names(raw.get("Contents"), "Key")
        if not raw.get("IsTruncated") or not names:
            return ListPage(names)
        # S3 sends NextMarker only when a delimiter was given; otherwise the last key is the marker.
        next_marker = raw.get("NextMarker") or names[-1]
        return ListPage(names, str(next_marker))


class AzureBlob:
    """``bindings.azure.blobstorage``: the component must set ``decodeBase64: "true"``; request metadata other
    than the documented keys would become the blob's user metadata, so none is sent."""

    type: ClassVar[str] = "bindings.azure.blobstorage"

    def create(self, name: str, data: bytes) -> BindingRequest:
        return BindingRequest("create", _b64(data), {"blobName": name})

    def get(self, name: str) -> BindingRequest:
        return BindingRequest("get", b"", {"blobName": name})

    def delete(self, name: str) -> BindingRequest:
        return BindingRequest("delete", b"", {"blobName": name})

    def list(self, prefix: str, marker: str | None, page_size: int) -> BindingRequest:
        return _bucket_list(prefix, marker, page_size)

    def parse_list(self, data: bytes, metadata: Mapping[str, str]) -> ListPage:
        names = _names(_json(data), "Name")
        return ListPage(names, metadata.get("marker") or None)


class GcpBucket(S3):
    """``bindings.gcp.bucket``: objects named and base64 handled as for S3; ``list`` has no marker (one page)."""

    type: ClassVar[str] = "bindings.gcp.bucket"

    def list(self, prefix: str, marker: str | None, page_size: int) -> BindingRequest:
        return _bucket_list(prefix, None, page_size)  # the binding documents no marker

    def parse_list(self, data: bytes, metadata: Mapping[str, str]) -> ListPage:
        return ListPage(_names(_json(data), "Name"))


def _bucket_list(prefix: str, marker: str | None, page_size: int) -> BindingRequest:
    """The ``list`` request the bucket bindings share: a JSON body with page size, prefix and marker."""
    body: dict[str, Any] = {"maxResults": page_size}
    if prefix:
        body["prefix"] = prefix
    if marker:
        body["marker"] = marker
    return BindingRequest("list", json.dumps(body).encode(), {})


DIALECTS: dict[str, Dialect] = {d.type: d for d in (LocalStorage(), S3(), AzureBlob(), GcpBucket())}


def dialect_for(component_type: str) -> Dialect:
    """The dialect of a component type (``bindings.aws.s3``), or a :class:`StorageError` naming the ones we speak."""
    try:
        return DIALECTS[component_type]
    except KeyError:
        known = ", ".join(sorted(DIALECTS))
        raise StorageError(
            f"docline cannot store files through a {component_type} binding (use one of: {known})"
        ) from None


def all_pages(fetch: Callable[[str | None], ListPage], binding: str = "storage") -> Iterator[str]:
    """Names from ``fetch(marker)`` page after page, starting with no marker, until a page has no next marker."""
    marker: str | None = None
    for _ in range(MAX_PAGES):
        page = fetch(marker)
        yield from page.names
        if page.next_marker is None:
            return
        if page.next_marker == marker:
            raise StorageError(f"binding {binding}: list returned the same marker twice ({marker})")
        marker = page.next_marker
    raise StorageError(f"binding {binding}: list did not end after {MAX_PAGES} pages")


class StorageBinding:
    """Files in one storage binding: ``create``/``get``/``delete`` by name, ``list`` of names (all pages).

    Names are relative to the store's root (``processed/scan.pdf``). The component type is asked of the sidecar
    on first use, so building one never needs the sidecar to be up.
    """

    def __init__(self, client: DaprClient, binding: str, *, page_size: int = PAGE_SIZE) -> None:
        self._client = client
        self.binding = binding
        self._page_size = page_size
        self._dialect: Dialect | None = None
        self._root: str | None = None  # localstorage only: the listed paths' prefix
        self._lock = threading.Lock()

    @property
    def dialect(self) -> Dialect:
        if self._dialect is None:
            with self._lock:
                if self._dialect is None:
                    self._dialect = dialect_for(self._component_type())
                    log.debug("storage binding %s is %s", self.binding, self._dialect.type)
        return self._dialect

    def _component_type(self) -> str:
        for component in self._client.get_metadata().registered_components:
            if component.name == self.binding:
                return str(component.type)
        raise StorageError(f"the sidecar has no component named {self.binding!r} (check the component files)")

    def _invoke(self, request: BindingRequest) -> Any:
        return self._client.invoke_binding(self.binding, request.operation, request.data, request.metadata)

    def create(self, name: str, data: bytes) -> None:
        self._invoke(self.dialect.create(name, data))

    def get(self, name: str) -> bytes:
        return bytes(self._invoke(self.dialect.get(name)).data)

    def delete(self, name: str) -> None:
        self._invoke(self.dialect.delete(name))

    def list(self, prefix: str = "") -> list[str]:
        """Every name under ``prefix`` (all pages), without the app's own root marker."""
        return [n for n in self._iter(prefix) if n != ROOT_MARKER]

    def _iter(self, prefix: str) -> Iterator[str]:
        dialect = self.dialect
        if isinstance(dialect, LocalStorage):
            root = self._local_root()
            for path in self._page(dialect, prefix, None).names:
                name = path[len(root) :] if root and path.startswith(root) else path
                if name.startswith(prefix):
                    yield name
            return
        yield from all_pages(lambda marker: self._page(dialect, prefix, marker), self.binding)

    def _page(self, dialect: Dialect, prefix: str, marker: str | None) -> ListPage:
        resp = self._invoke(dialect.list(prefix, marker, self._page_size))
        return dialect.parse_list(bytes(resp.data), dict(resp.binding_metadata))

    def _local_root(self) -> str:
        """Local storage lists paths under its rootPath (which the app is not told) but takes names relative to it:
        a marker file written at the root, found in the listing, tells the prefix to strip."""
        if self._root is None:
            self.create(ROOT_MARKER, b"docline storage root\n")
            dialect = self.dialect
            root = LocalStorage.root_from(self._page(dialect, "", None).names)
            if root is None:
                raise StorageError(f"binding {self.binding}: the root marker it was given is not in its listing")
            self._root = root
        return self._root
