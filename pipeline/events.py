"""Document events: a status change (``needs_review``, ``completed``, ``rejected``, ``failed``) as a CloudEvent, sent
through Dapr only: published to the pub/sub component ``events_pubsub`` and/or posted through the HTTP output
binding ``events_binding`` (a webhook, signed with HMAC-SHA256 over the body).

The event says which document, its status and type, and where its result is; the extracted data (personal data) is
added only with ``events_include_data``. Its ``id`` is fixed by the workflow, so a retried or replayed publish sends
the same event again (at least once) and receivers drop duplicates by ``id``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import datetime
from typing import Any

from dapr.clients import DaprClient
from pydantic import BaseModel, Field

from pipeline.models import ErrorInfo, StoredDocument
from pipeline.settings import Settings

log = logging.getLogger(__name__)

CLOUDEVENT_CONTENT_TYPE = "application/cloudevents+json"
SIGNATURE_HEADER = "X-Docline-Signature"
EVENT_SOURCE = "docline"


class DocumentEvent(BaseModel):
    """The ``data`` of a document event."""

    document_id: str
    status: str
    document_type: str | None = None
    language: str | None = None
    result_url: str
    error: ErrorInfo | None = None
    review_reasons: list[str] = Field(default_factory=list)
    pages: int | None = None
    media_type: str | None = None
    data: dict[str, Any] | None = Field(None, description="extracted data, only with events_include_data")


def event_type(status: str) -> str:
    return f"io.docline.document.{status}"


def cloud_event(
    doc: StoredDocument,
    *,
    status: str,
    event_id: str,
    occurred_at: datetime,
    settings: Settings,
    traceparent: str | None = None,
) -> dict[str, Any]:
    """The CloudEvent 1.0 (structured JSON) announcing ``doc`` reaching ``status``."""
    payload = DocumentEvent(
        document_id=doc.id,
        status=status,
        document_type=doc.document_type,
        language=doc.language,
        result_url=settings.result_url(doc.id),
        error=doc.error,
        review_reasons=list(doc.review.reasons) if doc.review else [],
        pages=doc.source.pages,
        media_type=doc.source.media_type,
        data=doc.data if settings.events_include_data else None,
    )
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": event_id,
        "source": EVENT_SOURCE,
        "type": event_type(status),
        "subject": doc.id,
        "time": occurred_at.isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "data": payload.model_dump(mode="json", exclude_none=not settings.events_include_data),
    }
    if traceparent:
        event["traceparent"] = event["traceid"] = traceparent
    return event


def signature(secret: bytes, body: bytes) -> str:
    """The webhook signature header's value: ``sha256=`` and the hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class Events:
    """Sends document events through the sidecar (any daprd or ``docline sidecar``)."""

    def __init__(self, client: DaprClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings

    def _secret(self) -> bytes:
        s = self.settings
        assert s.events_secret_store is not None  # the settings refuse a webhook without one
        values = self.client.get_secret(s.events_secret_store, s.events_secret_name).secret
        value = values.get(s.events_secret_name) or (next(iter(values.values())) if len(values) == 1 else None)
        if not value:
            raise LookupError(f"secret {s.events_secret_name} in {s.events_secret_store} is empty or missing")
        return value.encode()

    def send(self, event: dict[str, Any]) -> None:
        """Publish and/or post one event; raises when either fails (the activity is retried)."""
        s = self.settings
        body = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
        if s.events_pubsub:
            self.client.publish_event(s.events_pubsub, s.events_topic, body, data_content_type=CLOUDEVENT_CONTENT_TYPE)
        if s.events_binding:
            headers = {"Content-Type": CLOUDEVENT_CONTENT_TYPE, SIGNATURE_HEADER: signature(self._secret(), body)}
            self.client.invoke_binding(s.events_binding, "post", body, binding_metadata=headers)
        log.info("event %s (%s) sent for document %s", event["id"], event["type"], event["subject"])
