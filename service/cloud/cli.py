"""``dasedge cloud``: run the cloud REST API (uvicorn) that aggregates many edges.

Typical setup::

    scripts/postgres.sh start /tmp/dasedge-pg 5432          # or any PostgreSQL
    export DASEDGE_DB_URL=postgresql://dasedge@127.0.0.1:5432/dasedge
    dasedge keys create --scope admin --name ops             # admin key (printed once)
    dasedge cloud --port 8090 &
    curl -X POST -H "X-API-Key: $ADMIN" -d '{"site_id": "edge-1", "fiber_id": "road-7"}' \\
         http://127.0.0.1:8090/api/v1/sites                  # -> the edge's ingestion key, once

then on the edge: ``DASEDGE_CLOUD_URL=http://cloud:8090 DASEDGE_SITE_ID=edge-1
DASEDGE_EDGE_KEY_FILE=/etc/dasedge/edge.key dasedge serve``.

Without ``DASEDGE_DB_URL`` the embedded default is a SQLite file
(``var/dasedge.sqlite``), enough for a single-machine demo.
"""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=None, help="bind address (default: settings, 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default: settings, 8080)")
    parser.add_argument("--db", default=None,
                        help="database URL: postgresql://... or a SQLite path (default: DASEDGE_DB_URL)")
    parser.add_argument("--no-webhooks", action="store_true", help="do not deliver webhooks from this process")
    parser.add_argument("--log-level", default="info")


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from service.cloud.app import create_cloud_app
    from service.settings import settings_from_cli

    settings = settings_from_cli(args)
    app = create_cloud_app(settings, webhooks=not args.no_webhooks)
    log.info("cloud API on http://%s:%d (db %s)", settings.host, settings.port, settings.db_url.split("@")[-1])
    try:
        uvicorn.run(app, host=settings.host, port=settings.port, log_level=args.log_level,
                    timeout_graceful_shutdown=3)
    finally:
        app.state.store.raw.close()
    return 0
