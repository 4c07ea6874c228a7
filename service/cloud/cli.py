"""``dasedge cloud``: run the cloud REST API (uvicorn) that aggregates many edges.

Typical setup::

    scripts/postgres.sh start /tmp/dasedge-pg 5432          # or any PostgreSQL
    export DASEDGE_DB_URL=postgresql://dasedge@127.0.0.1:5432/dasedge
    dasedge keys create --scope admin --name ops             # admin key (printed once)
    dasedge cloud --port 8090 --workers 4 &
    curl -X POST -H "X-API-Key: $ADMIN" -d '{"site_id": "edge-1", "fiber_id": "road-7"}' \\
         http://127.0.0.1:8090/api/v1/sites                  # -> the edge's ingestion key, once

then on the edge: ``DASEDGE_CLOUD_URL=http://cloud:8090 DASEDGE_SITE_ID=edge-1
DASEDGE_EDGE_KEY_FILE=/etc/dasedge/edge.key dasedge serve``.

Without ``DASEDGE_DB_URL`` the embedded default is a SQLite file
(``var/dasedge.sqlite``), enough for a single-machine demo.

Several worker processes (``--workers N``, uvicorn's process manager) are
supported on PostgreSQL: the cloud app keeps no state that must be shared
between processes - every request reads and writes the database; each worker
runs its own SSE broker that *polls the alerts table* (``seq`` order, 0.25 s),
so an alert written through any worker reaches the SSE clients of every
worker; each worker runs a webhook dispatcher and deliveries are *claimed
with a lease* in the database (``FOR UPDATE SKIP LOCKED``), so no delivery is
attempted twice concurrently; migrations run under an advisory lock, once.
What stays per process: the Prometheus counters of ``/metrics`` (HTTP request
and ingestion counters describe the worker that answered the scrape; the
database-derived gauges are the same in every worker) - scrape each worker or
run one worker where exact counters matter; and the dashboard's live-waterfall
ring buffer (``POST /api/v1/live/waterfall``, in memory by design: a thumbnail
posted to one worker is shown only by that worker - edges do not push
waterfalls to the cloud, so the cloud dashboard shows results, which are in
the database, from every worker alike).  On SQLite, keep one worker
(SQLite serialises writers; several processes work but gain nothing).
``--no-webhooks`` turns delivery off in every worker of this command (run a
separate ``dasedge cloud --workers 1`` for delivery if wanted).
"""

from __future__ import annotations

import argparse
import logging
import os

log = logging.getLogger(__name__)

#: environment handed to worker processes (uvicorn imports the app factory in each)
_ENV_WEBHOOKS = "DASEDGE_CLOUD_WEBHOOKS"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=None, help="bind address (default: settings, 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default: settings, 8080)")
    parser.add_argument("--db", default=None,
                        help="database URL: postgresql://... or a SQLite path (default: DASEDGE_DB_URL)")
    parser.add_argument("--workers", type=int, default=1,
                        help="uvicorn worker processes (PostgreSQL; see the module notes), default 1")
    parser.add_argument("--no-webhooks", action="store_true", help="do not deliver webhooks from this process")
    parser.add_argument("--log-level", default="info")


def create_app_from_env():
    """App factory for uvicorn worker processes (``--workers > 1``): settings from the environment."""
    from service.cloud.app import create_cloud_app
    from service.settings import Settings

    return create_cloud_app(Settings(), webhooks=os.environ.get(_ENV_WEBHOOKS, "1") != "0")


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from service.cloud.app import create_cloud_app
    from service.settings import settings_from_cli

    settings = settings_from_cli(args)
    workers = max(1, int(getattr(args, "workers", 1) or 1))
    log.info("cloud API on http://%s:%d (db %s, %d worker(s))", settings.host, settings.port,
             settings.db_url.split("@")[-1], workers)
    if workers > 1:
        if settings.db_url.startswith(("postgresql", "postgres")) is False:
            log.warning("--workers %d on SQLite: writers serialise on the database lock; one worker is enough",
                        workers)
        # the factory re-reads the settings in each worker process: pass the CLI overrides on
        os.environ["DASEDGE_DB_URL"] = settings.db_url
        os.environ[_ENV_WEBHOOKS] = "0" if args.no_webhooks else "1"
        from service.store import open_store

        open_store(settings.db_url, outbox=False).close()  # migrate once before the workers start
        uvicorn.run("service.cloud.cli:create_app_from_env", factory=True, workers=workers, host=settings.host,
                    port=settings.port, log_level=args.log_level, timeout_graceful_shutdown=3)
        return 0
    app = create_cloud_app(settings, webhooks=not args.no_webhooks)
    try:
        uvicorn.run(app, host=settings.host, port=settings.port, log_level=args.log_level,
                    timeout_graceful_shutdown=3)
    finally:
        app.state.store.raw.close()
    return 0
