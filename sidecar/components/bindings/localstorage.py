"""``bindings.localstorage``: files under ``rootPath``, with the operations and quirks of Dapr's component.

As in daprd: ``create`` writes to ``fileName`` (a random UUID if absent) and answers ``{"fileName": <relative>}``;
data that is a quoted JSON string is unquoted, and data that is valid base64 is decoded first (send binary content
base64-encoded); ``get`` returns the bytes; ``list`` returns a JSON array of absolute file paths under ``fileName``
(or the root), ``null`` when there are none; ``delete`` removes one file. Paths never escape ``rootPath``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
import posixpath
import re
import uuid
from pathlib import Path

from dapr_components.spec import Component
from sidecar.components.bindings import BindingResponse, OutputBinding
from sidecar.components.errors import BindingOperationError, ComponentConfigError

# Our own half-written files (create writes, then renames); everything else is listed, as daprd does.
_TMP = re.compile(r"^\..+\.[0-9a-f]{32}\.tmp$")
_DISALLOWED = (Path("/proc"), Path("/sys"), Path("/boot"), Path("/var/run/secrets"))


def _unquote(data: bytes) -> bytes:
    # Go's strconv.Unquote accepts a double-quoted string literal; JSON string escapes are close enough.
    if len(data) >= 2 and data[:1] == b'"' and data[-1:] == b'"':
        try:
            text = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return data
        if isinstance(text, str):
            return text.encode("utf-8")
    return data


def _maybe_base64(data: bytes) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return data


class LocalStorageBinding(OutputBinding):
    operations = ("create", "get", "list", "delete")

    def __init__(self, component: Component) -> None:
        root = component.value("rootPath")
        if not root:
            raise ComponentConfigError(f"bindings.localstorage {component.name}: property rootPath must not be empty")
        path = Path(os.path.abspath(root)).resolve()
        if any(path == p or p in path.parents for p in _DISALLOWED):
            raise ComponentConfigError(
                f"bindings.localstorage {component.name}: rootPath points to a disallowed location"
            )
        if path.exists() and not path.is_dir():
            raise ComponentConfigError(f"bindings.localstorage {component.name}: rootPath {path} is a file")
        path.mkdir(parents=True, exist_ok=True)
        self.root = path

    def _secure(self, name: str) -> Path:
        # Like daprd's securejoin: ".." is clamped at the root; a symlink leading outside is refused.
        clamped = posixpath.normpath("/" + name).lstrip("/")
        target = (self.root / clamped).resolve()
        if target != self.root and self.root not in target.parents:
            raise BindingOperationError(f"file name {name!r} points outside rootPath")
        return target

    async def invoke(self, operation: str, data: bytes, metadata: dict[str, str]) -> BindingResponse:
        name = metadata.get("fileName", "")
        if operation == "create":
            return await asyncio.to_thread(self._create, name or str(uuid.uuid4()), data)
        if operation == "get":
            return await asyncio.to_thread(self._get, name)
        if operation == "list":
            return await asyncio.to_thread(self._list, name)
        if operation == "delete":
            return await asyncio.to_thread(self._delete, name)
        raise BindingOperationError(f"unsupported operation {operation}")

    def _create(self, name: str, data: bytes) -> BindingResponse:
        target = self._secure(name)
        if target == self.root:
            raise BindingOperationError("create needs a fileName, not the root folder")
        payload = _maybe_base64(_unquote(data))
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename so a reader (e.g. the inbox scan) never sees half a file.
        # The temporary name must fit the file system's 255-byte limit even when the target's name just fits it.
        stem = target.name.encode()[:200].decode(errors="ignore") or "f"
        tmp = target.with_name(f".{stem}.{uuid.uuid4().hex}.tmp")
        try:
            tmp.write_bytes(payload)
            tmp.replace(target)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise BindingOperationError(f"error creating file {target}: {exc}") from exc
        rel = target.relative_to(self.root).as_posix()
        return BindingResponse(data=json.dumps({"fileName": rel}).encode())

    def _get(self, name: str) -> BindingResponse:
        target = self._secure(name)
        try:
            return BindingResponse(data=target.read_bytes())
        except FileNotFoundError as exc:
            raise BindingOperationError(f"file not found: {target}") from exc
        except OSError as exc:
            raise BindingOperationError(f"error reading file {target}: {exc}") from exc

    def _list(self, name: str) -> BindingResponse:
        target = self._secure(name)
        if not target.exists():
            raise BindingOperationError(f"error getting stats for path {target}: no such file or directory")
        if not target.is_dir():
            raise BindingOperationError(f"unable to list files as the file specified is not a directory: {target}")
        files = sorted(
            os.path.join(dirpath, f) for dirpath, _dirs, names in os.walk(target) for f in names if not _TMP.match(f)
        )
        return BindingResponse(data=json.dumps(files or None).encode())

    def _delete(self, name: str) -> BindingResponse:
        target = self._secure(name)
        if target == self.root:
            raise BindingOperationError("delete needs a fileName, not the root folder")
        try:
            target.unlink()
        except OSError as exc:
            raise BindingOperationError(f"error deleting file {target}: {exc}") from exc
        return BindingResponse()
