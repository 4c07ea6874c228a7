"""``dasedge serve``: run the edge REST API (uvicorn), the webhook dispatcher and,
when configured, the cloud pusher (``service.pusher``)."""

from __future__ import annotations

import argparse
import importlib
import logging

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=None, help="bind address (default: settings, 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default: settings, 8080)")
    parser.add_argument("--db", default=None, help="database URL or SQLite path (default: DASEDGE_DB_URL)")
    parser.add_argument("--no-dispatcher", action="store_true", help="do not deliver webhooks from this process")
    parser.add_argument("--no-pusher", action="store_true", help="do not push the outbox to the cloud")
    parser.add_argument("--public-metrics", action="store_true", help="serve /metrics without an API key")
    parser.add_argument("--log-level", default="info")


def _start_pusher(settings, store):
    """Start ``service.pusher`` if it is importable and a cloud URL is configured."""
    if not settings.cloud_url:
        return None
    try:
        mod = importlib.import_module("service.pusher")
    except ModuleNotFoundError:
        log.warning("cloud_url set but service.pusher is not available; outbox is kept locally")
        return None
    factory = getattr(mod, "pusher_from_settings", None)
    pusher = factory(store, settings) if factory is not None else None
    if pusher is None:
        log.warning("cloud_url set but no pusher could be built (missing edge key?); outbox is kept locally")
        return None
    pusher.start()
    return pusher


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from service.edge.app import create_app
    from service.settings import settings_from_cli
    from service.store import open_store

    settings = settings_from_cli(args, **({"public_metrics": True} if args.public_metrics else {}))
    store = open_store(settings.db_url, outbox_max_rows=settings.outbox_max_rows,
                       synchronous=settings.sqlite_synchronous)
    pusher = None if args.no_pusher else _start_pusher(settings, store)
    app = create_app(settings, store=store, start_dispatcher=not args.no_dispatcher)
    log.info("serving on http://%s:%d (db %s)", settings.host, settings.port, settings.db_url.split("@")[-1])
    try:
        uvicorn.run(app, host=settings.host, port=settings.port, log_level=args.log_level,
                    timeout_graceful_shutdown=3)
    finally:
        if pusher is not None and hasattr(pusher, "stop"):
            pusher.stop()
        store.close()
    return 0
