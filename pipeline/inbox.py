"""The inbox: files dropped into the inbox storage binding become documents.

A cron input binding calls the app (``POST /docline-inbox-scan``); each scan lists the inbox through its binding
(local folder by default, S3 or Azure Blob by changing the component). A file is submitted only once its content
is the same on two consecutive scans (a copy still in progress is not), and never twice: what was submitted is
remembered in the state store by path and SHA-256, across restarts. When its document finishes, the file moves to
``processed/`` or ``failed/`` (with ``<name>.error.json`` beside it), under its own folder and with the document id
in its name (``processed/a/scan.<id>.pdf``), so files of one name from other folders or other days never overwrite
each other. Deleting a document erases what the inbox kept of it (:meth:`Inbox.erase`), and the same file dropped
again afterwards is a new document.
"""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
import threading
from collections.abc import Callable
from typing import Any

from dapr.clients import DaprClient
from pydantic import BaseModel, Field

from extractors.errors import DocumentError, FileTooLarge
from pipeline.models import TERMINAL, DocumentResult, StoredDocument
from pipeline.settings import Settings
from pipeline.storage import StorageBinding
from pipeline.store import message_too_large

log = logging.getLogger(__name__)

MAX_READS_PER_SCAN = 200
PROCESSED = "processed/"
FAILED = "failed/"
ERROR_SUFFIX = ".error.json"
BINDING_ENVELOPE = 64 * 1024  # the binding request around a file's base64: operation, metadata, framing
MAX_NAME_BYTES = 255  # one path component on common file systems (and S3's key parts stay readable)

# (data, filename, inbox_path) -> (document, created)
Submit = Callable[[bytes, str, str], tuple[StoredDocument, bool]]


class ScanReport(BaseModel):
    busy: bool = Field(False, description="another scan was still running; this one did nothing")
    seen: int = 0
    submitted: list[str] = Field(default_factory=list, description="document ids submitted by this scan")
    waiting: int = Field(0, description="files still changing (or seen once): picked up by a later scan")
    settled: int = 0


def _key(kind: str, *parts: str) -> str:
    return f"inbox-{kind}-" + hashlib.sha256("\0".join(parts).encode()).hexdigest()[:40]


def _names_key(doc_id: str) -> str:
    """The inbox names a document was dropped under (all of them, for erasure)."""
    return f"inbox-names-{doc_id}"


def settled_name(folder: str, name: str, doc_id: str) -> str:
    """Where inbox file ``name`` goes once its document ``doc_id`` is done: ``folder`` (``processed/`` or
    ``failed/``), the file's own sub-folder, and the id before the extension (``processed/a/scan.<id>.pdf``). The
    stem is shortened so the name and its ``.error.json`` stay within one file name's 255 bytes."""
    head, base = posixpath.split(name)
    stem, suffix = posixpath.splitext(base)
    if len(suffix.encode()) > 32:  # not an extension but part of a long name
        stem, suffix = base, ""
    room = MAX_NAME_BYTES - len(f".{doc_id}{suffix}{ERROR_SUFFIX}".encode())
    stem = stem.encode()[:room].decode(errors="ignore") or "file"
    return posixpath.join(folder.rstrip("/"), head, f"{stem}.{doc_id}{suffix}")


def content_id(data: bytes) -> str:
    """The document id the content has (``pipeline.service.document_id``): names a refused file in failed/."""
    return hashlib.sha256(data).hexdigest()[:24]


class Inbox:
    def __init__(self, client: DaprClient, settings: Settings, state: Any) -> None:
        self._files = StorageBinding(client, settings.inbox_binding)
        self._state = state  # a ResultStore (get_value / put_value / get)
        self._scan_lock = threading.Lock()
        self._running: dict[str, str] = {}  # inbox name → id of its unfinished document (this process only)
        # The largest file the binding can carry to processed/ or failed/ in one request (base64, plus the envelope).
        self._max_file_bytes = (settings.dapr_max_body_bytes - BINDING_ENVELOPE) * 3 // 4

    # -- binding operations
    def list_files(self) -> list[str]:
        return sorted(
            n
            for n in self._files.list()
            if n and not n.startswith((PROCESSED, FAILED)) and not n.endswith(".error.json") and not n.endswith("/")
        )

    def _get(self, name: str) -> bytes:
        return self._files.get(name)

    def _create(self, name: str, data: bytes) -> None:
        self._files.create(name, data)

    def _delete(self, name: str) -> None:
        self._files.delete(name)

    def _exists(self, name: str) -> bool:
        return name in self._files.list(name)

    # -- the scan
    def scan(self, submit: Submit) -> ScanReport:
        # The cron fires every few seconds; a scan still running (a big backlog) is not joined by another.
        if not self._scan_lock.acquire(blocking=False):
            return ScanReport(busy=True)
        try:
            report = ScanReport()
            reads = 0
            for name in self.list_files():
                report.seen += 1
                try:
                    if self._still_running(name):
                        continue
                    if reads >= MAX_READS_PER_SCAN:  # bounded memory and time per scan; the rest next time
                        report.waiting += 1
                        continue
                    reads += 1
                    self._scan_one(name, submit, report)
                except Exception:  # one unreadable file must not stop the others
                    log.exception("inbox: could not handle %s", name)
            return report
        finally:
            self._scan_lock.release()

    def _still_running(self, name: str) -> bool:
        """A file this process submitted whose document is not finished is not read again on every scan."""
        doc_id = self._running.get(name)
        if doc_id is None:
            return False
        doc = self._state.get(doc_id)
        if doc is not None and doc.status not in TERMINAL:
            return True
        del self._running[name]
        return False

    def _scan_one(self, name: str, submit: Submit, report: ScanReport) -> None:
        if self._state.get_value(_key("refused", name)):
            return  # too large to move: its error file says so; not read again on every scan
        try:
            data = self._get(name)
        except Exception as exc:
            if not message_too_large(exc):
                if not self._exists(name):  # settled meanwhile, by the workflow or another replica
                    log.debug("inbox: %s was moved before it was read", name)
                    return
                raise
            self._refuse_in_place(name, self._too_large())
            report.settled += 1
            return
        if len(data) > self._max_file_bytes:  # readable, but it could not be moved to processed/ or failed/
            self._refuse_in_place(name, self._too_large())
            report.settled += 1
            return
        digest = hashlib.sha256(data).hexdigest()
        seen_key = _key("seen", name)
        observed = {"sha256": digest, "size": len(data)}
        if self._state.get_value(seen_key) != observed:
            self._state.put_value(seen_key, observed)
            report.waiting += 1
            return
        claim_key = _key("claim", name, digest)
        doc_id = self._state.get_value(claim_key)
        existing = self._state.get(doc_id) if doc_id is not None else None
        if existing is None:  # not submitted yet, or its document was deleted since: a new document
            try:
                doc, _created = submit(data, posixpath.basename(name), name)
            except DocumentError as exc:  # refused before any workflow (e.g. over the size limit)
                self._fail_unsubmitted(name, data, exc)
                report.settled += 1
                return
            # The name first (erasure finds the claim through it), then the claim.
            self._state.update_value(_names_key(doc.id), lambda names: _with(names, name))
            self._state.put_value(claim_key, doc.id)
            report.submitted.append(doc.id)
            log.info("inbox: %s submitted as document %s", name, doc.id, extra={"doc_id": doc.id})
            existing = doc
        # A file whose document already finished (same content submitted earlier, or a move interrupted by a crash)
        # is settled here; normally the workflow's last activity settles it.
        if existing.status in TERMINAL:
            self.settle(name, existing.result())
            report.settled += 1
        else:
            self._running[name] = existing.id

    def _too_large(self) -> FileTooLarge:
        return FileTooLarge(
            f"The file is over {self._max_file_bytes / 1e6:.1f} MB, more than the inbox binding moves in one request"
            " (the sidecar's largest request: daprd's --max-body-size or dapr.io/max-body-size, given to docline as"
            " DOCLINE_DAPR_MAX_BODY_BYTES). Send it over REST, which takes it in parts, or raise both limits."
        )

    def _fail_unsubmitted(self, name: str, data: bytes, exc: DocumentError) -> None:
        target = settled_name(FAILED, name, content_id(data))
        body = {"document_id": None, "status": "rejected", "error": exc.to_dict()}
        self._create(target + ERROR_SUFFIX, json.dumps(body, indent=2).encode())
        try:
            self._create(target, data)
        except Exception as error:
            if not message_too_large(error):
                raise
            self._refuse_in_place(name, exc)
            return
        self._delete(name)
        log.warning("inbox: %s refused: %s", name, exc.message)

    def _refuse_in_place(self, name: str, exc: DocumentError) -> None:
        """A file too large to copy through the binding cannot be moved: it stays where it is, ``failed/`` gets
        its error file, and later scans skip it (until it is removed: a new file needs a new name)."""
        target = FAILED + name  # the file stays where it is, so its path alone names it
        message = f"{exc.message} It stays in the inbox; remove it, or send it in parts."
        body = {"document_id": None, "status": "rejected", "error": {"code": exc.code, "message": message}}
        self._create(target + ERROR_SUFFIX, json.dumps(body, indent=2).encode())
        self._state.put_value(_key("refused", name), True)
        log.warning("inbox: %s refused and left in place: %s", name, exc.message)

    # -- after the document finished
    def settle(self, name: str, result: DocumentResult) -> None:
        """Move ``name`` to processed/ or failed/ (idempotent: a missing source means it already moved)."""
        ok = result.status == "completed"
        target = settled_name(PROCESSED if ok else FAILED, name, result.id)
        try:
            data = self._get(name)
        except Exception:
            log.debug("inbox: %s already moved", name)
            return
        if not ok:
            error = result.error.model_dump() if result.error else {"code": result.status, "message": result.status}
            body = {"document_id": result.id, "status": result.status, "error": error}
            self._create(target + ERROR_SUFFIX, json.dumps(body, indent=2).encode())
        self._create(target, data)
        try:
            self._delete(name)
        except Exception:
            # The workflow's last activity and a scan may settle one file at once: gone is what was wanted.
            if self._exists(name):
                raise
            log.debug("inbox: %s was moved meanwhile", name)
        self._state.delete_value(_key("seen", name))
        log.info("inbox: %s moved to %s", name, target, extra={"doc_id": result.id})

    # -- erasure
    def erase(self, doc: StoredDocument) -> None:
        """Everything the inbox kept of ``doc``: its settled copies and error files, the file itself if it still
        waits in the inbox with the document's content, and the bookkeeping that would stop the same file dropped
        again from becoming a new document."""
        names = set(self._state.get_value(_names_key(doc.id)) or [])
        if doc.inbox_path:
            names.add(doc.inbox_path)
        for name in sorted(names):
            for folder in (PROCESSED, FAILED):
                target = settled_name(folder, name, doc.id)
                for file in (target, target + ERROR_SUFFIX):
                    self._delete_quietly(file)
            try:
                waiting = self._get(name)
            except Exception:  # moved away already, as usual
                waiting = None
            if waiting is not None and hashlib.sha256(waiting).hexdigest() == doc.source.sha256:
                self._delete_quietly(name)  # deleted while running: never settled
            self._state.delete_value(_key("claim", name, doc.source.sha256))
            self._state.delete_value(_key("seen", name))
            self._running.pop(name, None)
        self._state.delete_value(_names_key(doc.id))

    def _delete_quietly(self, name: str) -> None:
        try:
            self._delete(name)
        except Exception:  # not there: nothing to erase (a binding answers a missing file with an error)
            log.debug("inbox: nothing to delete at %s", name)


def _with(names: Any, name: str) -> list[str]:
    listed = list(names or [])
    return listed if name in listed else [*listed, name]
