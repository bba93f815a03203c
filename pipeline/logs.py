"""Logging: every record of a document's journey carries its document id and workflow id.

Activities set the current document in a context variable; a filter copies it (or an explicit ``extra``) onto each
record, so library and application records alike can be traced to a document.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterator

_current: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar("docline_document", default=None)

FORMAT = "%(asctime)s %(levelname)s %(name)s [doc=%(doc_id)s wf=%(workflow_id)s]: %(message)s"


@contextlib.contextmanager
def document_context(doc_id: str, workflow_id: str) -> Iterator[None]:
    token = _current.set((doc_id, workflow_id))
    try:
        yield
    finally:
        _current.reset(token)


class DocumentFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        current = _current.get()
        if not hasattr(record, "doc_id"):
            record.doc_id = current[0] if current else "-"
        if not hasattr(record, "workflow_id"):
            record.workflow_id = current[1] if current else "-"
        return True


def setup_logging(level: str = "INFO") -> None:
    """Configure the root logger once at start-up."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(DocumentFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    if root.level > logging.DEBUG:
        # The workflow SDK logs every orchestrator turn and registration at INFO: one line per step drowns ours.
        for chatty in ("durabletask-worker", "durabletask-client", "WorkflowRuntime", "DaprWorkflowClient"):
            logging.getLogger(chatty).setLevel(logging.WARNING)
