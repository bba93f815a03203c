"""CloudEvents envelopes as daprd builds and reads them (``components-contrib/pubsub/envelope.go``).

Publishing wraps the data in a CloudEvent 1.0 (``id``, ``source`` = the app id, ``type`` =
``com.dapr.event.sent``, ``specversion``, ``datacontenttype`` (default ``text/plain``), ``data`` or
``data_base64``, ``topic``, ``pubsubname``, ``traceid``/``traceparent``, ``tracestate``, ``time``); metadata
``cloudevent.id|source|type|subject|traceparent|traceid|tracestate`` overrides those fields. Data published as
``application/cloudevents+json`` is taken as the event itself: its own fields are kept, missing ones filled in, and
``topic``/``pubsubname`` set. ``rawPayload=true`` sends the bytes without an envelope; ``ttlInSeconds`` adds an
``expiration`` after which the event is dropped instead of delivered.
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

CLOUDEVENT_CONTENT_TYPE = "application/cloudevents+json"
JSON_CONTENT_TYPE = "application/json"
DEFAULT_TYPE = "com.dapr.event.sent"
DEFAULT_SOURCE = "Dapr"
DEFAULT_DATA_CONTENT_TYPE = "text/plain"
SPEC_VERSION = "1.0"
# the fields a delivered TopicEventRequest carries itself; everything else of the envelope is an extension
_OWN_FIELDS = frozenset({"id", "source", "datacontenttype", "type", "specversion", "data", "data_base64"})
_OVERRIDES = ("id", "source", "type", "subject", "traceid", "traceparent", "tracestate")


def is_content_type(content_type: str, expected: str) -> bool:
    """``content_type`` is ``expected``, parameters (``; charset=...``) aside, case-insensitively."""
    return content_type.lower().split(";", 1)[0].strip() == expected


def is_string_content_type(content_type: str) -> bool:
    return content_type.lower().startswith("text/") or is_content_type(content_type, "application/xml")


def truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "t", "yes", "y", "on")


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_traceparent() -> str:
    """A fresh W3C trace context, unsampled (daprd's default when tracing is not configured)."""
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00"


def _metadata_value(metadata: dict[str, str], name: str) -> str:
    wanted = name.lower()  # daprd decodes the overrides case-insensitively
    return next((v for k, v in metadata.items() if k.lower() == wanted), "")


def envelope(
    *,
    data: bytes,
    content_type: str,
    topic: str,
    pubsub: str,
    source: str,
    metadata: dict[str, str],
    traceparent: str,
    tracestate: str = "",
) -> dict[str, Any]:
    """The CloudEvent daprd publishes for ``data`` (raises ValueError if data sent as a CloudEvent is not JSON)."""
    if is_content_type(content_type, CLOUDEVENT_CONTENT_TYPE):
        return _from_cloud_event(data, topic=topic, pubsub=pubsub, traceparent=traceparent, tracestate=tracestate)
    fields = {name: _metadata_value(metadata, f"cloudevent.{name}") for name in _OVERRIDES}
    trace = fields["traceparent"] or fields["traceid"] or traceparent
    content_type = content_type or DEFAULT_DATA_CONTENT_TYPE
    event: dict[str, Any] = {
        "id": fields["id"] or str(uuid.uuid4()),
        "specversion": SPEC_VERSION,
        "datacontenttype": content_type,
        "source": fields["source"] or source or DEFAULT_SOURCE,
        "type": fields["type"] or DEFAULT_TYPE,
        "topic": topic,
        "pubsubname": pubsub,
        "traceid": trace,
        "traceparent": trace,
        "tracestate": fields["tracestate"] or tracestate,
        "time": now_rfc3339(),
    }
    if is_content_type(content_type, JSON_CONTENT_TYPE):
        try:
            event["data"] = json.loads(data)
        except ValueError:
            event["data"] = data.decode("utf-8", errors="replace")
    elif is_content_type(content_type, "application/octet-stream") or is_content_type(
        content_type, "application/cloudevents+protobuf"
    ):
        event["data_base64"] = base64.b64encode(data).decode()
    else:
        event["data"] = data.decode("utf-8", errors="replace")
    if fields["subject"]:
        event["subject"] = fields["subject"]
    return event


def _from_cloud_event(data: bytes, *, topic: str, pubsub: str, traceparent: str, tracestate: str) -> dict[str, Any]:
    event = json.loads(data)
    if not isinstance(event, dict):
        raise ValueError("a CloudEvent must be a JSON object")
    event.setdefault("time", now_rfc3339())
    if "traceid" not in event:
        event["traceid"] = traceparent
        event["traceparent"] = traceparent
    event.setdefault("tracestate", tracestate)
    event["topic"] = topic
    event["pubsubname"] = pubsub
    for name, default in (("source", DEFAULT_SOURCE), ("type", DEFAULT_TYPE), ("specversion", SPEC_VERSION)):
        if event.get(name) is None:
            event[name] = default
    return event


def apply_ttl(event: dict[str, Any], metadata: dict[str, str], features: tuple[str, ...]) -> None:
    """``ttlInSeconds``: daprd stamps an ``expiration`` unless the broker expires messages itself."""
    raw = metadata.get("ttlInSeconds", "")
    if not raw or "MESSAGE_TTL" in features:
        return
    ttl = int(raw)  # ValueError for the caller: daprd refuses a bad TTL
    expires = datetime.now(UTC) + timedelta(seconds=ttl)
    event["expiration"] = expires.strftime("%Y-%m-%dT%H:%M:%SZ")


def has_expired(event: dict[str, Any]) -> bool:
    raw = event.get("expiration")
    if not isinstance(raw, str) or not raw:
        return False
    try:
        expires = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return False
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    return expires < datetime.now(UTC)


def from_raw_payload(data: bytes, *, topic: str, pubsub: str) -> dict[str, Any]:
    """What a subscriber with ``rawPayload=true`` gets: a CloudEvent made up around the bytes, data in base64."""
    return {
        "id": str(uuid.uuid4()),
        "specversion": SPEC_VERSION,
        "datacontenttype": "application/octet-stream",
        "source": DEFAULT_SOURCE,
        "type": DEFAULT_TYPE,
        "topic": topic,
        "pubsubname": pubsub,
        "data_base64": base64.b64encode(data).decode(),
    }


def event_data(event: dict[str, Any]) -> bytes:
    """The event's data as the gRPC ``TopicEventRequest.data`` carries it (raises ValueError if unreadable)."""
    if event.get("data_base64") is not None:
        encoded = event["data_base64"]
        if not isinstance(encoded, str):
            raise ValueError("data_base64 is not a string")
        return base64.b64decode(encoded, validate=True)
    data = event.get("data")
    if data is None:
        return b""
    content_type = str(event.get("datacontenttype") or "")
    if is_string_content_type(content_type):
        if not isinstance(data, str):
            raise ValueError("unexpected data type encountered in envelope")
        return data.encode()
    if is_content_type(content_type, JSON_CONTENT_TYPE) or is_content_type(content_type, CLOUDEVENT_CONTENT_TYPE):
        return json.dumps(data, separators=(",", ":")).encode()
    return b""


def extensions(event: dict[str, Any]) -> dict[str, Any]:
    """The envelope's fields other than the ones ``TopicEventRequest`` has fields for."""
    return {k: v for k, v in event.items() if k not in _OWN_FIELDS}
