"""OpenTelemetry: one span per activity, parented on the REST request that submitted the document.

The W3C ``traceparent`` of the submitting request travels in the workflow input and in every activity input, so the
trace is continuous whichever sidecar runs the workflow (daprd also propagates it natively; ours may not).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor, SpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_propagator = TraceContextTextMapPropagator()
_TRACER = "docline.pipeline"


def setup_tracing(exporter: SpanExporter | None = None, *, console: bool = False) -> TracerProvider | None:
    """Install a tracer provider once at start-up (OpenTelemetry allows only one per process)."""
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        if exporter is not None:
            current.add_span_processor(SimpleSpanProcessor(exporter))
        return current
    provider = TracerProvider(resource=Resource.create({"service.name": "docline"}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    if console:
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


def tracer() -> trace.Tracer:
    return trace.get_tracer(_TRACER)


def current_traceparent() -> str | None:
    """The W3C traceparent of the active span, to carry into the workflow."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")


@contextlib.contextmanager
def activity_span(
    name: str, traceparent: str | None, attributes: Mapping[str, str | int] | None = None
) -> Iterator[trace.Span]:
    """A span for one activity execution, child of the submitting request's span."""
    parent = _propagator.extract({"traceparent": traceparent}) if traceparent else None
    with tracer().start_as_current_span(f"docline.{name}", context=parent, attributes=dict(attributes or {})) as span:
        yield span


def request_span(method: str, path: str, headers: Mapping[str, str]) -> contextlib.AbstractContextManager[trace.Span]:
    """A server span for one HTTP request, continuing the caller's trace when it sent a ``traceparent``."""
    parent = _propagator.extract(dict(headers))
    return tracer().start_as_current_span(
        f"{method} {path}",
        context=parent,
        kind=trace.SpanKind.SERVER,
        attributes={"http.request.method": method, "url.path": path},
    )
