"""Prometheus metrics: documents by status, activity durations, pages, LLM calls/tokens/latency, review queue.

One ``Metrics`` object is built at start-up with its own registry (no import-time global state) and passed down.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _StatusCollector(Collector):
    """Documents by status, read from the index's counters at scrape time (small keys, never the records), so it is
    right after restarts and the same on every replica."""

    def __init__(self, counts: Callable[[], dict[str, int]]) -> None:
        self._counts = counts

    def collect(self) -> Iterable[Metric]:
        try:
            counts = self._counts()
        except Exception:  # the sidecar may be down; the scrape must still answer
            counts = {}
        docs = GaugeMetricFamily("docline_documents", "Documents by status", labels=["status"])
        for status in ("queued", "running", "needs_review", "completed", "failed", "rejected"):
            docs.add_metric([status], counts.get(status, 0))
        yield docs
        queue = GaugeMetricFamily("docline_review_queue", "Documents waiting for a reviewer")
        queue.add_metric([], counts.get("needs_review", 0))
        yield queue


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.activity_seconds = Histogram(
            "docline_activity_seconds", "Activity duration", ["activity", "outcome"], registry=self.registry
        )
        self.pages = Counter("docline_pages", "Pages read", ["source"], registry=self.registry)
        self.documents_finished = Counter(
            "docline_documents_finished", "Documents reaching a final status", ["status"], registry=self.registry
        )
        self.llm_calls = Counter("docline_llm_calls", "LLM calls", ["purpose"], registry=self.registry)
        self.llm_tokens = Counter("docline_llm_tokens", "LLM tokens", ["direction"], registry=self.registry)
        self.llm_seconds = Histogram("docline_llm_seconds", "LLM call latency", ["purpose"], registry=self.registry)
        self._status: _StatusCollector | None = None

    def watch_statuses(self, counts: Callable[[], dict[str, int]]) -> None:
        if self._status is None:
            self._status = _StatusCollector(counts)
            self.registry.register(self._status)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def serve(self, host: str, port: int) -> Callable[[], None]:
        """``GET /metrics`` on a port of its own (a thread); returns the function that stops it."""
        server, thread = start_http_server(port, addr=host, registry=self.registry)

        def stop() -> None:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)

        return stop
