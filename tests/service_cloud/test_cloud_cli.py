"""``dasedge cloud`` as a real process (SQLite embedded default), fed by an edge pusher."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx

from service.pusher import Pusher
from tests.fixtures.http import wait_healthy

from .helpers import make_vehicles


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dasedge_cloud_process_on_sqlite(tmp_path, edge_store):
    db = tmp_path / "cloud.sqlite"
    env = {**os.environ, "DASEDGE_ENV_FILE": str(tmp_path / "none.env")}
    env.pop("DASEDGE_DB_URL", None)
    admin = subprocess.run(
        [sys.executable, "-m", "dasedge.cli", "keys", "--db", str(db), "create", "--scope", "admin"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert admin.returncode == 0, admin.stderr
    admin_key = admin.stdout.strip()
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "dasedge.cli", "cloud", "--db", str(db), "--port", str(port), "--no-webhooks",
         "--log-level", "warning"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, timeout=60)
        r = httpx.post(f"{url}/api/v1/sites", json={"site_id": "edge-1", "fiber_id": "fib-a"},
                       headers={"X-API-Key": admin_key})
        assert r.status_code == 201, r.text
        key = r.json()["api_key"]
        edge_store.put_vehicles(make_vehicles(42, seed=4))
        p = Pusher(edge_store, url, key, "edge-1", batch_size=10)
        try:
            assert p.drain(max_seconds=60) == 42
        finally:
            p.stop()
        r = httpx.get(f"{url}/api/v1/traffic/vehicles", params={"site": "edge-1", "limit": 1},
                      headers={"X-API-Key": admin_key})
        assert r.json()["count"] == 42
        r = httpx.get(f"{url}/api/v1/live/overview", params={"site": "edge-1", "window_s": 86400},
                      headers={"X-API-Key": admin_key})
        assert r.status_code == 200 and r.json()["stats"]["total"] == 42 and r.json()["sites"] == ["edge-1"]
    finally:
        proc.terminate()
        proc.wait(20)
    assert db.exists()


def test_dasedge_serve_pushes_to_dasedge_cloud(tmp_path, postgres_url):
    """Two real processes: ``dasedge serve`` (edge, SQLite) pushes its outbox to ``dasedge cloud`` (PostgreSQL)."""
    import psycopg

    from service.store import open_store

    name = "t_cli_" + os.urandom(4).hex()
    with psycopg.connect(postgres_url, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    cloud_db = postgres_url.rpartition("/")[0] + "/" + name
    env = {**os.environ, "DASEDGE_ENV_FILE": str(tmp_path / "none.env")}
    for k in ("DASEDGE_DB_URL", "DASEDGE_CLOUD_URL", "DASEDGE_EDGE_KEY", "DASEDGE_SITE_ID"):
        env.pop(k, None)
    admin = subprocess.run([sys.executable, "-m", "dasedge.cli", "keys", "--db", cloud_db, "create", "--scope", "admin"],
                           capture_output=True, text=True, env=env, timeout=120)
    assert admin.returncode == 0, admin.stderr
    cport, eport = _free_port(), _free_port()
    cloud = subprocess.Popen([sys.executable, "-m", "dasedge.cli", "cloud", "--db", cloud_db, "--port", str(cport),
                              "--no-webhooks", "--log-level", "warning"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    procs = [cloud]
    curl = f"http://127.0.0.1:{cport}"
    try:
        wait_healthy(curl, cloud)
        r = httpx.post(f"{curl}/api/v1/sites", json={"site_id": "edge-9", "fiber_id": "fib-a"},
                       headers={"X-API-Key": admin.stdout.strip()})
        kf = tmp_path / "edge.key"
        kf.write_text(r.json()["api_key"])
        kf.chmod(0o600)
        edge_db = tmp_path / "edge.sqlite"
        edge_env = {**env, "DASEDGE_CLOUD_URL": curl, "DASEDGE_EDGE_KEY_FILE": str(kf), "DASEDGE_SITE_ID": "edge-9",
                    "DASEDGE_PUSH_INTERVAL_S": "0.2", "DASEDGE_ENVIRONMENT": "test"}
        edge = subprocess.Popen([sys.executable, "-m", "dasedge.cli", "serve", "--db", str(edge_db), "--port",
                                 str(eport), "--no-dispatcher", "--log-level", "warning"], env=edge_env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append(edge)
        wait_healthy(f"http://127.0.0.1:{eport}", edge)
        # a worker process writes results into the edge store; the edge's pusher forwards them
        store = open_store(edge_db)
        store.put_vehicles(make_vehicles(33, seed=12))
        t_end = time.monotonic() + 60
        n = 0
        while time.monotonic() < t_end:
            n = httpx.get(f"{curl}/api/v1/traffic/vehicles", params={"site": "edge-9", "limit": 1},
                          headers={"X-API-Key": admin.stdout.strip()}).json()["count"]
            if n == 33 and store.outbox_pending() == 0:
                break
            time.sleep(0.3)
        assert n == 33 and store.outbox_pending() == 0
        store.close()
    finally:
        for p in reversed(procs):
            p.terminate()
            p.wait(20)
