"""The cloud with several uvicorn worker processes on PostgreSQL (``dasedge cloud --workers 2``).

Nothing the cloud serves may depend on per-process memory: alerts written
through any worker reach SSE clients connected to every worker (each worker's
broker polls the alerts table), and the webhook dispatchers of all workers
share the deliveries through leased claims (each alert delivered once).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import httpx

from service.pusher import Pusher
from tests.fixtures.http import wait_healthy

from .helpers import T0, make_event
from .test_cloud_multisite import _Receiver
from .test_cloud_cli import _free_port


def _start_cloud(db_url: str, tmp_path, workers: int):
    env = {**os.environ, "DASEDGE_ENV_FILE": str(tmp_path / "none.env"), "DASEDGE_ENVIRONMENT": "test",
           "DASEDGE_DISPATCHER_POLL_S": "0.1"}
    port = _free_port()
    log = open(tmp_path / "cloud.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "dasedge.cli", "cloud", "--db", db_url, "--port", str(port), "--workers",
         str(workers), "--log-level", "warning"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, proc, timeout=90, log=tmp_path / "cloud.log")
    return proc, url, log


def _stop(proc, log) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # our own session: the manager and its workers
            proc.wait(10)
    log.close()


def _worker_pids(proc) -> set[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(proc.pid)], capture_output=True, text=True)
    return {int(x) for x in out.stdout.split()}


def test_two_workers_fan_out_sse_and_deliver_each_webhook_once(pg_fresh_url, tmp_path, edge_store):
    from service.auth import create_key
    from service.store import open_store

    s = open_store(pg_fresh_url, outbox=False)
    _, admin = create_key(s, ["admin"], name="admin")
    s.close()
    proc, url, log = _start_cloud(pg_fresh_url, tmp_path, workers=2)
    rcv = _Receiver()
    h = {"X-API-Key": admin}
    try:
        assert len(_worker_pids(proc)) >= 2
        key = httpx.post(f"{url}/api/v1/sites", json={"site_id": "edge-1"}, headers=h).json()["api_key"]
        r = httpx.post(f"{url}/api/v1/subscriptions", headers=h, json={"url": rcv.url, "secret": "w" * 32})
        assert r.status_code == 201, r.text
        n_clients, n_events = 6, 3
        seen: list[list[int]] = [[] for _ in range(n_clients)]
        ready = [threading.Event() for _ in range(n_clients)]

        def listen(i: int) -> None:
            # a new connection each: the kernel spreads them over the worker processes
            with httpx.stream("GET", f"{url}/api/v1/alerts/stream", headers=h, params={"keepalive_s": 0.3},
                              timeout=40) as resp:
                for line in resp.iter_lines():
                    if line.startswith(": connected"):
                        ready[i].set()
                    elif line.startswith("data:"):
                        seen[i].append(json.loads(line[5:])["seq"])
                        if len(seen[i]) == n_events:
                            return

        ts = [threading.Thread(target=listen, args=(i,), daemon=True) for i in range(n_clients)]
        for t in ts:
            t.start()
        assert all(e.wait(20) for e in ready)
        edge_store.put_events([make_event(i, t_ns=T0 + i * 60 * 10**9, mag=3.0 + i / 10) for i in range(n_events)])
        p = Pusher(edge_store, url, key, "edge-1", batch_size=1)  # one event per request: several workers write
        try:
            assert p.drain(max_seconds=60) == n_events
        finally:
            p.stop()
        for t in ts:
            t.join(30)
        assert all(len(x) == n_events and x == sorted(x) for x in seen), seen
        t_end = time.monotonic() + 30
        while len(rcv.got) < n_events and time.monotonic() < t_end:
            time.sleep(0.1)
        time.sleep(1.5)  # a duplicate delivery from the other worker would arrive meanwhile
        keys = [hd["idempotency-key"] for hd, _ in rcv.got]
        assert len(keys) == n_events and len(set(keys)) == n_events, keys
    finally:
        rcv.close()
        _stop(proc, log)


def test_two_dispatchers_share_deliveries_without_duplicates(pg_fresh_url):
    """Two dispatcher loops (two processes' worth: separate stores/connections) over 40 due deliveries."""
    from service.alerts import WebhookDispatcher
    from service.store import open_store

    stores = [open_store(pg_fresh_url, outbox=False) for _ in range(2)]
    rcv = _Receiver()
    try:
        stores[0].create_subscription(rcv.url, secret="d" * 32)
        evs = [make_event(i, t_ns=T0 + i * 10**9) for i in range(40)]
        stores[0].put_event_dicts([e.to_dict() for e in evs], site_id="s1")
        ds = [WebhookDispatcher(st, poll_s=0.01) for st in stores]
        for d in ds:
            d.batch = 5
        barrier = threading.Barrier(2)

        def loop(d):
            barrier.wait()
            for _ in range(40):
                d.run_once()

        ts = [threading.Thread(target=loop, args=(d,)) for d in ds]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        keys = [hd["idempotency-key"] for hd, _ in rcv.got]
        assert len(keys) == 40 and len(set(keys)) == 40
        assert all(d.delivered > 0 for d in ds)  # both took a share
        for d in ds:
            d.stop()
    finally:
        rcv.close()
        for st in stores:
            st.close()
