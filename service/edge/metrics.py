"""Prometheus metrics of the edge API (``dasedge_*``, base units).

One :class:`~prometheus_client.CollectorRegistry` per app (tests create many
apps).  Request metrics come from a pure-ASGI middleware (safe with
streaming responses); store-derived gauges are read at scrape time by
:class:`StoreCollector`.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class StoreCollector:
    """Scrape-time gauges from the store (outbox, pipelines, alerts, webhooks)."""

    def __init__(self, app):
        self.app = app

    def collect(self):
        store = self.app.state.store
        ob = store.outbox_stats()
        g = GaugeMetricFamily("dasedge_outbox_pending", "rows waiting in the store-and-forward outbox", labels=["kind"])
        for k, v in ob["by_kind"].items():
            g.add_metric([k], v)
        yield g
        yield CounterMetricFamily("dasedge_outbox_dropped", "outbox rows dropped by the size bound",
                                  value=ob["dropped_total"])
        yield CounterMetricFamily("dasedge_outbox_acked", "outbox rows acknowledged by the cloud",
                                  value=ob["acked_total"])
        now = time.time_ns()
        lag = GaugeMetricFamily("dasedge_kafka_lag_seconds", "consumer lag reported by a pipeline", labels=["component"])
        age = GaugeMetricFamily("dasedge_heartbeat_age_seconds", "seconds since the component's last heartbeat",
                                labels=["component"])
        last = GaugeMetricFamily("dasedge_last_data_timestamp_seconds", "time of the newest data a component processed",
                                 labels=["component"])
        for r in store.get_status():
            c = r["component"]
            age.add_metric([c], (now - r["heartbeat_ns"]) / 1e9)
            if r["lag_s"] is not None:
                lag.add_metric([c], r["lag_s"])
            if r["last_data_ns"] is not None:
                last.add_metric([c], r["last_data_ns"] / 1e9)
        yield lag
        yield age
        yield last
        yield GaugeMetricFamily("dasedge_alerts_last_sequence", "sequence of the newest alert",
                                value=store.last_alert_seq())
        broker = getattr(self.app.state, "broker", None)
        yield GaugeMetricFamily("dasedge_sse_clients", "connected SSE clients", value=broker.clients if broker else 0)
        d = GaugeMetricFamily("dasedge_webhook_deliveries", "webhook deliveries by state", labels=["status"])
        for row in store.db.fetchall("SELECT status, COUNT(*) AS n FROM deliveries GROUP BY status"):
            d.add_metric([row["status"]], row["n"])
        yield d


class Metrics:
    def __init__(self, app):
        self.registry = CollectorRegistry()
        self.requests = Counter("dasedge_http_requests", "HTTP requests", ["method", "route", "status"],
                                registry=self.registry)
        self.duration = Histogram("dasedge_http_request_duration_seconds", "HTTP request duration",
                                  ["method", "route"], registry=self.registry,
                                  buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.registry.register(StoreCollector(app))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Count requests and time them per route template."""

    def __init__(self, app, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        status = [500]

        async def send_wrapper(msg):
            if msg["type"] == "http.response.start":
                status[0] = msg["status"]
            await send(msg)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            self.metrics.requests.labels(scope["method"], path, str(status[0])).inc()
            self.metrics.duration.labels(scope["method"], path).observe(time.perf_counter() - t0)
