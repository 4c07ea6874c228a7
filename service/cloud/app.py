"""The cloud API: many edges push into one PostgreSQL (or SQLite) store.

``create_cloud_app(settings)`` builds the FastAPI app:

* ``GET /health`` (public), ``GET /api/v1/version`` (public);
* site registry: ``GET /api/v1/sites`` (read), ``GET /api/v1/sites/{site_id}``
  (read), ``POST /api/v1/sites`` (admin) - registers an edge/site and, unless
  it already has one (or ``rotate_key`` is set), creates the edge's ingestion
  key: scope ``write``, **bound to that site** (``sites.key_id``), returned
  once in the response;
* ``POST /api/v1/ingest`` (write): batches from :mod:`service.pusher`; the key
  must be the one bound to ``edge_id`` (or an admin key), stored idempotently
  (:mod:`service.cloud.ingest`); rows get ``site_id = edge_id``;
* the edge's read interfaces over all sites - traffic, seismic picks,
  fdsnws-event, alerts SSE and webhook subscriptions - by mounting the edge
  helper's routers (:mod:`service.edge.routers`) with a ``?site=`` filter where
  they support it;
* the live dashboard (:mod:`service.web`) for all sites.

Alerts: event versions arriving from edges go through the store's
``put_event_dicts`` which creates alert rows; the SSE stream and the webhook
dispatcher of :mod:`service.alerts` fan them out to cloud subscribers.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from service.auth import AdminKey, ReadKey, WriteKey, create_key

from .ingest import BatchError, IngestBatch, IngestResult, apply_batch, ensure_schema

log = logging.getLogger(__name__)

VERSION = "1"


def _unique_id(route: APIRoute) -> str:
    tag = route.tags[0] if route.tags else "default"
    return f"{tag}-{route.name}"


class SiteIn(BaseModel):
    """A site (one edge box / fiber segment) in the cloud registry."""

    site_id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:-]+$")
    name: str = ""
    fiber_id: str = ""
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)
    chainage_from_m: float | None = None
    chainage_to_m: float | None = None
    rotate_key: bool = False


def _site_out(row: dict[str, Any]) -> dict[str, Any]:
    from dasedge.block import iso_utc

    out = {k: row.get(k) for k in ("site_id", "name", "fiber_id", "latitude", "longitude", "chainage_from_m",
                                    "chainage_to_m", "key_id")}
    out["last_seen"] = None if row.get("last_seen_ns") is None else iso_utc(int(row["last_seen_ns"]))
    return out


def sites_router() -> APIRouter:
    r = APIRouter(prefix="/api/v1/sites", tags=["sites"])

    @r.get("", summary="List registered sites")
    def list_sites(request: Request, key: ReadKey) -> dict[str, Any]:
        rows = [_site_out(s) for s in request.app.state.store.list_sites()]
        return {"data": rows, "count": len(rows)}

    @r.get("/{site_id}", summary="One site")
    def get_site(site_id: str, request: Request, key: ReadKey) -> dict[str, Any]:
        row = request.app.state.store.get_site(site_id)
        if row is None:
            raise HTTPException(404, f"unknown site {site_id!r}")
        return _site_out(row)

    @r.post("", status_code=201, summary="Register a site and create its ingestion key")
    def post_site(body: SiteIn, request: Request, key: AdminKey) -> dict[str, Any]:
        store = request.app.state.store
        cur = store.get_site(body.site_id)
        fields = body.model_dump(exclude={"site_id", "rotate_key"}, exclude_none=True)
        plain = None
        if cur is None or not cur.get("key_id") or body.rotate_key:
            if cur is not None and cur.get("key_id"):
                store.revoke_api_key(cur["key_id"])
            key_id, plain = create_key(store, ["write"], name=f"edge:{body.site_id}")
            fields["key_id"] = key_id
        row = store.upsert_site(body.site_id, **fields)
        out = _site_out(row)
        if plain is not None:
            out["api_key"] = plain  # shown once
        return out

    return r


def ingest_router() -> APIRouter:
    r = APIRouter(prefix="/api/v1", tags=["ingest"])

    @r.post("/ingest", response_model=IngestResult, summary="Idempotent batch ingestion from an edge")
    async def ingest(body: IngestBatch, request: Request, key: WriteKey) -> IngestResult:
        import asyncio
        import time

        store = request.app.state.store.raw
        site = store.get_site(body.edge_id)
        if site is None:
            raise HTTPException(403, f"edge {body.edge_id!r} is not registered (POST /api/v1/sites)")
        if site.get("key_id") != key.key_id and not key.has("admin"):
            raise HTTPException(403, f"this API key is not bound to edge {body.edge_id!r}")
        hook = getattr(request.app.state, "ingest_hook", None)
        cm = getattr(request.app.state, "cloud_metrics", None)
        try:
            res, alerts = await asyncio.to_thread(apply_batch, store, body)
        except (BatchError, KeyError, ValueError, TypeError) as exc:
            raise HTTPException(422, f"malformed batch: {exc}") from None
        await asyncio.to_thread(store.upsert_site, body.edge_id, last_seen_ns=time.time_ns())
        if cm is not None:
            cm.items.labels(body.edge_id, "accepted").inc(res.accepted)
            cm.items.labels(body.edge_id, "duplicate").inc(res.duplicates)
            cm.batches.labels(body.edge_id).inc()
        if hook is not None:  # test hook: e.g. drop the connection after the commit
            await hook(request, res)
        return res

    return r


#: store query methods that take ``site_id``: the cloud fills it from ``?site=``
SITE_AWARE = frozenset({
    "query_vehicles", "vehicle_arrays", "query_interval_stats", "query_traffic_events", "query_modal",
    "query_picks", "query_events",
})
_SITE: ContextVar[str | None] = ContextVar("dasedge_cloud_site", default=None)


class SiteFilteredStore:
    """Delegating store wrapper: the query methods default ``site_id`` to the request's ``?site=``.

    This lets the cloud mount the edge routers unchanged (they call
    ``store.query_*`` without a site) and still offer a multi-site filter.
    """

    def __init__(self, store: Any) -> None:
        self._store = store

    @property
    def raw(self) -> Any:
        return self._store

    @staticmethod
    def current_site() -> str | None:
        """The request's ``?site=`` filter (``None``: all sites)."""
        return _SITE.get()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if name in SITE_AWARE:
            def scoped(*args: Any, **kw: Any) -> Any:
                site = _SITE.get()
                if site and kw.get("site_id") is None:
                    kw["site_id"] = site
                return attr(*args, **kw)

            return scoped
        return attr


async def site_filter(
    site: str | None = Query(None, max_length=200, pattern=r"^[^\x00-\x1f]*$",
                             description="only this site (edge id); all sites if absent"),
) -> None:
    """Router dependency: remember ``?site=`` for :class:`SiteFilteredStore` (async, so the context propagates)."""
    _SITE.set(site or None)


def _include_edge_routers(app: FastAPI) -> list[str]:
    """Mount the edge helper's read routers (traffic, seismic, fdsnws, alerts, subscriptions) with ``?site=``."""
    import importlib

    mounted = []
    for name in ("traffic", "seismic", "fdsn", "alerts", "subscriptions", "keys"):
        mod = importlib.import_module(f"service.edge.routers.{name}")
        deps = [Depends(site_filter)] if name in ("traffic", "seismic", "fdsn") else []
        app.include_router(mod.router, dependencies=deps)
        mounted.append(name)
    return mounted


def create_cloud_app(settings: Any = None, *, store: Any = None, webhooks: bool = True) -> FastAPI:
    """Build the cloud FastAPI app.

    Parameters
    ----------
    settings
        :class:`service.settings.Settings` (``db_url`` is the cloud database:
        ``postgresql://...`` in production, a SQLite path as the embedded default).
    store
        An already open store (tests); otherwise ``open_store(settings.db_url, outbox=False)``.
    webhooks
        Run the webhook dispatcher thread (:class:`service.alerts.WebhookDispatcher`).
    """
    from service.settings import Settings
    from service.store import open_store

    settings = settings or Settings()
    if store is None:
        store = open_store(settings.db_url, outbox=False)
    ensure_schema(store)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        from service.alerts import AlertBroker, WebhookDispatcher

        broker = AlertBroker(store)
        app.state.broker = broker
        await broker.start()
        dispatcher = WebhookDispatcher.from_settings(store, settings).start() if webhooks else None
        try:
            yield
        finally:
            await broker.stop()
            if dispatcher is not None:
                dispatcher.stop()

    app = FastAPI(
        title="dasedge cloud",
        version=VERSION,
        openapi_url="/api/v1/openapi.json",
        generate_unique_id_function=_unique_id,
        lifespan=lifespan,
    )
    app.state.store = SiteFilteredStore(store)
    app.state.settings = settings
    app.state.role = "cloud"

    @app.get("/health", tags=["health"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", tags=["health"])
    def ready() -> Any:
        """Database reachable and migrated (503 otherwise)."""
        from fastapi.responses import JSONResponse

        try:
            v = store.schema_version()
        except Exception as exc:  # noqa: BLE001 - any DB failure means not ready
            return JSONResponse({"ready": False, "database": f"{type(exc).__name__}"}, status_code=503)
        return {"ready": True, "schema": v}

    @app.get("/api/v1/version", tags=["health"])
    def version() -> dict[str, Any]:
        return {"service": "dasedge-cloud", "api": VERSION, "schema": store.schema_version()}

    _add_metrics(app, store)
    app.include_router(sites_router())
    app.include_router(ingest_router())
    app.state.edge_routers = _include_edge_routers(app)

    from service import web

    app.include_router(web.router(lambda: store))
    return app


class CloudMetrics:
    """Ingestion counters (``dasedge_cloud_*``) on the app's Prometheus registry."""

    def __init__(self, registry: Any) -> None:
        from prometheus_client import Counter

        self.items = Counter("dasedge_cloud_ingest_items", "items received from edges", ["site", "result"],
                             registry=registry)
        self.batches = Counter("dasedge_cloud_ingest_batches", "batches stored", ["site"], registry=registry)


class SiteCollector:
    """Scrape-time gauge: seconds since each registered edge last pushed."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def collect(self):
        import time

        from prometheus_client.core import GaugeMetricFamily

        g = GaugeMetricFamily("dasedge_cloud_site_last_seen_age_seconds", "seconds since the edge last pushed",
                              labels=["site"])
        now = time.time_ns()
        for s in self.store.list_sites():
            if s.get("last_seen_ns") is not None:
                g.add_metric([s["site_id"]], (now - int(s["last_seen_ns"])) / 1e9)
        yield g


def _add_metrics(app: FastAPI, store: Any) -> None:
    """``GET /metrics`` (read scope): the edge's HTTP/store metrics plus cloud ingestion counters."""
    from fastapi.responses import Response

    from service.auth import require_scope
    from service.edge.metrics import CONTENT_TYPE, Metrics, MetricsMiddleware

    metrics = Metrics(app)
    metrics.registry.register(SiteCollector(store))
    app.state.metrics = metrics
    app.state.cloud_metrics = CloudMetrics(metrics.registry)
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    # response_model=None: the return annotation is a string here (PEP 563) naming a local import,
    # which pydantic cannot resolve - /openapi.json and /docs failed with a 500 without it
    @app.get("/metrics", tags=["health"], response_class=Response, response_model=None,
             dependencies=[Depends(require_scope("read"))],
             responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
    def prometheus_metrics() -> Response:
        """Prometheus exposition (``dasedge_*``, base units)."""
        return Response(metrics.render(), media_type=CONTENT_TYPE)

