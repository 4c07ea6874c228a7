"""Fixtures: a real cloud app on PostgreSQL served by uvicorn on loopback, and an edge SQLite store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from .helpers import ServerThread


@dataclass
class Cloud:
    store: Any
    app: Any
    server: ServerThread
    admin_key: str

    @property
    def url(self) -> str:
        return self.server.url

    def register(self, site_id: str, **fields: Any) -> str:
        """Register a site over HTTP; returns its bound ingestion key."""
        r = httpx.post(f"{self.url}/api/v1/sites", json={"site_id": site_id, **fields},
                       headers={"X-API-Key": self.admin_key}, timeout=10)
        assert r.status_code == 201, r.text
        return r.json()["api_key"]

    def count(self, table: str, site: str | None = None) -> int:
        if site is None:
            return int(self.store.db.scalar(f"SELECT COUNT(*) FROM {table}"))
        return int(self.store.db.scalar(f"SELECT COUNT(*) FROM {table} WHERE site_id = ?", (site,)))


@pytest.fixture
def cloud(pg_fresh_url):
    from service.auth import create_key
    from service.cloud.app import create_cloud_app
    from service.settings import Settings
    from service.store import open_store

    store = open_store(pg_fresh_url, outbox=False)
    _, admin = create_key(store, ["admin"], name="test-admin")
    app = create_cloud_app(Settings(db_url=pg_fresh_url, environment="test"), store=store)
    with ServerThread(app) as srv:
        yield Cloud(store=store, app=app, server=srv, admin_key=admin)
    store.close()


@pytest.fixture
def edge_store(tmp_path):
    from service.store import open_store

    s = open_store(tmp_path / "edge.sqlite")
    yield s
    s.close()
