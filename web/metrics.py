"""``GET /metrics``: the sink's counters in Prometheus's text format (``--metrics off``: 404).

The counters live in :class:`mailsink.stats.Stats` (no Prometheus there);
at each scrape a collector built from a :meth:`~mailsink.stats.Stats.snapshot`
and the store's counts is rendered by ``prometheus-client`` into a registry
of its own, so that apps built side by side (tests) never share a series and
nothing is registered globally.  Every HTTP request is counted here by its
route template (``/api/v1/message/<message_id>``), never by its path, so
the number of series stays small whatever clients ask for.
"""

from __future__ import annotations

from collections.abc import Iterator

from flask import Blueprint, Response, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from mailsink.stats import LATENCY_BUCKETS, Snapshot
from mailsink.web.errors import ApiError
from mailsink.web.state import AppState, app_state

bp = Blueprint("metrics", __name__)


@bp.after_app_request
def count_request(response: Response) -> Response:
    """Count the request by route, method and status."""
    rule = request.url_rule
    route = rule.rule if rule is not None else "unmatched"
    app_state().stats.record_http(route, request.method, response.status_code)
    return response


@bp.get("/metrics")
def metrics() -> Response:
    """Render every counter in Prometheus's text exposition format."""
    state = app_state()
    if not state.settings.metrics:
        raise ApiError("metrics are turned off (--metrics off)", 404)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SinkCollector(state))
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


class SinkCollector(Collector):
    """Yield the sink's metrics from one snapshot of its counters."""

    def __init__(self, state: AppState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        """Return every metric family, read now."""
        snap = self.state.stats.snapshot()
        store = self.state.mailbox.store
        yield from _counters(snap)
        yield GaugeMetricFamily("mailsink_messages", "Messages in the store", store.count())
        yield GaugeMetricFamily("mailsink_messages_unread", "Unread messages", store.unread())
        yield GaugeMetricFamily(
            "mailsink_store_bytes",
            "Bytes the store takes on disk (0 for the memory store)",
            store.disk_usage(),
        )
        yield GaugeMetricFamily(
            "mailsink_smtp_sessions_open", "SMTP connections open now", snap.sessions_open
        )
        yield GaugeMetricFamily(
            "mailsink_websocket_clients",
            "WebSocket clients on /api/events",
            len(self.state.websockets.clients),
        )
        requests = CounterMetricFamily(
            "mailsink_http_requests", "HTTP requests by route", labels=["route", "method", "status"]
        )
        for (route, method, status), count in sorted(snap.http_requests.items()):
            requests.add_metric([route, method, str(status)], count)
        yield requests
        buckets = [
            (f"{bound:g}", count)
            for bound, count in zip(LATENCY_BUCKETS, snap.latency_buckets, strict=False)
        ]
        buckets.append(("+Inf", snap.latency_buckets[-1]))
        yield HistogramMetricFamily(
            "mailsink_ingest_seconds",
            "Seconds from a message's arrival at ingest to its being stored",
            buckets=buckets,
            sum_value=snap.latency_sum,
        )


def _counters(snap: Snapshot) -> Iterator[Metric]:
    """Yield the plain counters."""
    yield CounterMetricFamily(
        "mailsink_messages_received", "Messages received and stored", snap.accepted
    )
    yield CounterMetricFamily(
        "mailsink_messages_received_bytes", "Bytes of the messages received", snap.accepted_bytes
    )
    rejected = CounterMetricFamily(
        "mailsink_messages_rejected", "SMTP commands refused, by reason", labels=["reason"]
    )
    for reason, count in snap.rejected.items():
        rejected.add_metric([reason], count)
    yield rejected
    yield CounterMetricFamily("mailsink_messages_deleted", "Messages deleted", snap.deleted)
    yield CounterMetricFamily("mailsink_smtp_sessions", "SMTP connections opened", snap.sessions)
    yield CounterMetricFamily(
        "mailsink_smtp_tls_sessions", "SMTP connections that were encrypted", snap.tls_sessions
    )
