"""The edge REST API: ``create_app(settings) -> FastAPI``.

Layout: one router per resource in :mod:`service.edge.routers` (traffic,
seismic, fdsnws, alerts, subscriptions, keys, health).  Versioned under
``/api/v1``; the fdsnws-event interface lives at ``/fdsnws/event/1``.
``app.state`` holds ``settings``, ``store`` (:class:`service.store.Store`),
``broker`` (SSE), ``metrics`` and ``dispatcher`` (webhooks).

Authentication: ``X-API-Key`` (see :mod:`service.auth`).  Public routes:
``/health``, ``/ready``, ``/api/v1/version``, ``/fdsnws/event/1/version``,
``/fdsnws/event/1/application.wadl``, ``/docs``, ``/redoc``,
``/openapi.json``, the static dashboard page ``/dashboard/`` (its
``/api/v1/live/*`` data feeds need ``read``; :mod:`service.web`) and
``/metrics`` when ``settings.public_metrics``.
Everything else needs ``read``; creating/deleting subscriptions needs
``write``; key administration needs ``admin``.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute

import dasedge
from service.alerts import AlertBroker, WebhookDispatcher
from service.auth import require_scope
from service.edge.deps import AUTH_RESPONSES
from service.edge.metrics import CONTENT_TYPE, Metrics, MetricsMiddleware
from service.edge.routers import alerts, fdsn, health, keys, seismic, subscriptions, traffic
from service.settings import Settings
from service.store import Store, open_store

log = logging.getLogger(__name__)

PUBLIC_PATHS = frozenset({
    "/health", "/ready", "/api/v1/version", "/fdsnws/event/1/version", "/fdsnws/event/1/application.wadl",
    "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json",
    "/dashboard/", "/dashboard/{name}",  # static dashboard page (service.web); its data feeds need a key
})


def _unique_id(route: APIRoute) -> str:
    tag = route.tags[0] if route.tags else "default"
    return f"{tag}-{route.name}"


def create_app(settings: Settings | None = None, *, store: Store | None = None,
               start_dispatcher: bool = True) -> FastAPI:
    """Build the edge app.

    Parameters
    ----------
    settings
        Defaults to :class:`Settings` from the environment.
    store
        An open store (otherwise ``settings.db_url`` is opened at startup and
        closed at shutdown).
    start_dispatcher
        Run the webhook dispatcher thread inside the app's lifespan.
    """
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        own = store is None
        app.state.store = store or open_store(settings.db_url, outbox_max_rows=settings.outbox_max_rows,
                                              synchronous=settings.sqlite_synchronous)
        app.state.broker = AlertBroker(app.state.store)
        await app.state.broker.start()
        app.state.dispatcher = None
        if start_dispatcher:
            app.state.dispatcher = WebhookDispatcher.from_settings(app.state.store, settings).start()
        try:
            yield
        finally:
            await app.state.broker.stop()
            if app.state.dispatcher is not None:
                app.state.dispatcher.stop()
            if own:
                app.state.store.close()

    app = FastAPI(
        title="dasedge edge API",
        version=dasedge.__version__,
        description=(
            "Traffic monitoring and earthquake picking/alerts from fiber-optic DAS on an edge box. "
            "Authenticate with the `X-API-Key` header (scopes read < write < admin)."
        ),
        lifespan=lifespan,
        generate_unique_id_function=_unique_id,
    )
    app.state.settings = settings
    if store is not None:
        app.state.store = store
    app.state.metrics = Metrics(app)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        msgs = []
        for e in exc.errors():
            loc = ".".join(str(x) for x in e.get("loc", ()) if x not in ("query", "body", "path", "header"))
            msgs.append(f"{loc or 'request'}: {e.get('msg')}")
        return JSONResponse({"detail": "; ".join(msgs), "errors": _jsonable(exc.errors())}, status_code=422)

    for r in (health, traffic, seismic, fdsn, alerts, subscriptions, keys):
        app.include_router(r.router)
    from service import web  # live dashboard (page + /api/v1/live/* feeds), see service.web

    app.include_router(web.router(lambda: app.state.store))

    metrics_deps = [] if settings.public_metrics else [Depends(require_scope("read"))]

    @app.get("/metrics", tags=["health"], response_class=Response, dependencies=metrics_deps,
             responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
                        **({} if settings.public_metrics else AUTH_RESPONSES)})
    def metrics(request: Request):
        """Prometheus exposition (``dasedge_*`` metrics, base units)."""
        return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE)

    def openapi():
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            # our 422 body: a readable message plus the structured errors
            schema.setdefault("components", {}).setdefault("schemas", {})["HTTPValidationError"] = {
                "title": "HTTPValidationError", "type": "object", "required": ["detail"],
                "properties": {"detail": {"type": "string", "description": "what is wrong, readable"},
                               "errors": {"type": "array", "items": {"type": "object"}}},
            }
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
    return app


def _jsonable(errors: list) -> list:
    out = []
    for e in errors:
        out.append({k: (v if isinstance(v, (str, int, float, bool, type(None), list)) else str(v))
                    for k, v in e.items() if k in ("type", "loc", "msg", "input")})
    return out
