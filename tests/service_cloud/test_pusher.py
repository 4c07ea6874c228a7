"""Store-and-forward pusher: edge SQLite outbox -> real cloud app on PostgreSQL over real HTTP.

Faults are injected by a small HTTP proxy in front of the cloud (see
``helpers.FaultProxy``): port closed, HTTP 500, slow (client timeout while
the cloud still commits), connection dropped after the cloud committed,
connection reset.  After every scenario the cloud holds exactly the records
written at the edge: same ids, same JSON docs, no duplicates.
"""

from __future__ import annotations

import json
import random
import statistics
import threading
import time

import pytest

from service.pusher import PushError, Pusher, backoff_delay

from .helpers import T0, FaultProxy, make_event, make_picks, make_traffic_event, make_vehicles


def _edge_docs(store, table: str, site: str | None = None) -> dict[str, dict]:
    """Docs by id; with ``site`` (cloud) each doc must name that site, which is then removed."""
    out = {}
    for r in store.db.fetchall(f"SELECT doc FROM {table}"):
        d = json.loads(r["doc"])
        if site is not None:
            assert d.pop("site_id") == site
        out[d["id"]] = d
    return out


def _assert_same(edge, cloud, site: str) -> None:
    for table in ("vehicles", "picks", "events", "traffic_events"):
        e = _edge_docs(edge, table)
        c = _edge_docs(cloud.store, table, site)
        assert c == e, f"{table}: {len(c)} at the cloud vs {len(e)} at the edge"
        n_rows = cloud.count(table, site)
        assert n_rows == len(e)  # no duplicate rows
    n_stats_e = int(edge.db.scalar("SELECT COUNT(*) FROM interval_stats"))
    assert cloud.count("interval_stats", site) == n_stats_e


def _fill(edge, *, n_veh: int = 120, tag: str = "") -> None:
    edge.put_vehicles(make_vehicles(n_veh, seed=1, tag=tag))
    ev = make_event(1, t_ns=T0 + 60 * 10**9)
    edge.put_events([ev])
    edge.put_picks(make_picks(ev.id, t_ns=ev.origin_ns))
    edge.put_events([make_event(1, t_ns=T0 + 60 * 10**9, version=2, status="update", mag=3.1)])
    edge.put_traffic_events([make_traffic_event(1, t_ns=T0)])
    edge.put_interval_stats([
        {"fiber_id": "fib-a", "interval_start_ns": T0 + k * 900 * 10**9, "interval_s": 900, "direction": 1,
         "volume": 10 + k, "flow_veh_h": 4 * (10 + k)} for k in range(4)
    ])


def test_backoff_full_jitter_bounds_and_growth():
    rng = random.Random(1)
    for attempt in range(12):
        cap = min(8.0, 0.25 * 2**attempt)
        draws = [backoff_delay(attempt, 0.25, 8.0, rng) for _ in range(400)]
        assert min(draws) >= 0.0 and max(draws) <= cap
        # full jitter: uniform on [0, cap] -> mean cap/2 (400 draws: sd of mean ~ cap*0.0144)
        assert abs(statistics.fmean(draws) - cap / 2) < 0.08 * cap


def test_pusher_survives_each_fault_without_loss_or_duplicates(cloud, edge_store):
    key = cloud.register("site-a", fiber_id="fib-a")
    _fill(edge_store)
    total = edge_store.outbox_pending()
    assert total == 120 + 2 + 8 + 1 + 4
    proxy = FaultProxy(cloud.server.port, delay_s=1.2)
    pusher = Pusher(edge_store, proxy.url, key, "site-a", batch_size=25, timeout_s=0.4,
                    backoff_initial_s=0.01, backoff_max_s=0.05, seed=3)
    try:
        # 1. cloud down: port closed
        with pytest.raises(PushError, match="Connect"):
            pusher.push_once()
        assert edge_store.outbox_pending() == total and cloud.count("cloud_ingest_log") == 0
        proxy.open()
        # 2. HTTP 500
        proxy.script.extend(["http500"])
        with pytest.raises(PushError) as ei:
            pusher.push_once()
        assert ei.value.status == 500
        assert cloud.count("cloud_ingest_log") == 0
        # 3. slow: the client times out, the cloud commits the batch later anyway
        proxy.script.extend(["slow"])
        with pytest.raises(PushError, match="Timeout"):
            pusher.push_once()
        t_end = time.monotonic() + 10
        while cloud.count("cloud_ingest_log") < 25 and time.monotonic() < t_end:
            time.sleep(0.05)
        assert cloud.count("cloud_ingest_log") == 25  # stored at the cloud, but not acked at the edge
        assert edge_store.outbox_pending() == total
        # 4. connection dropped after the cloud committed (twice), 5. reset before forwarding
        proxy.script.extend(["drop_after", "drop_after", "reset"])
        for _ in range(3):
            with pytest.raises(PushError):
                pusher.push_once()
        assert edge_store.outbox_pending() == total
        # recover: drain everything
        acked = pusher.drain(max_seconds=60)
        assert acked == total
        assert edge_store.outbox_pending() == 0
        assert edge_store.counter("outbox_acked") == total
    finally:
        pusher.stop()
        proxy.shutdown()
    # the re-sent first batch was recognised as duplicates by idempotency key
    assert pusher.stats.duplicates_reported >= 25
    assert cloud.count("cloud_ingest_log") == total
    _assert_same(edge_store, cloud, "site-a")
    ev = cloud.store.db.fetchone("SELECT version, status FROM events")
    assert ev == {"version": 2, "status": "update"}
    assert proxy.log[:6] == ["http500", "slow", "drop_after", "drop_after", "reset", "pass"]


def test_pusher_chaos_concurrent_writes_and_edge_restart(cloud, tmp_path):
    """Random faults + outages while the edge keeps writing, and an edge restart with a leased batch."""
    from service.store import open_store

    key = cloud.register("site-a", fiber_id="fib-a")
    path = tmp_path / "edge.sqlite"
    edge = open_store(path)
    proxy = FaultProxy(cloud.server.port, delay_s=0.6, seed=7)
    proxy.open()
    proxy.script.extend(["http500", "slow", "drop_after", "reset"])  # each fault at least once, then random
    proxy.chaos = {"pass": 0.4, "http500": 0.15, "slow": 0.15, "drop_after": 0.15, "reset": 0.15}

    def new_pusher(store):
        return Pusher(store, proxy.url, key, "site-a", batch_size=40, timeout_s=0.3, backoff_initial_s=0.02,
                      backoff_max_s=0.2, idle_poll_s=0.05, lease_s=1.0, seed=11)

    p = new_pusher(edge)
    p.start()
    written = 0
    try:
        for k in range(6):
            edge.put_vehicles(make_vehicles(50, start_ns=T0 + k * 10**12, seed=k, tag=f"b{k}"))
            written += 50
            if k == 2:  # cloud outage: port closed for a while
                proxy.close()
                time.sleep(0.5)
                proxy.open()
            time.sleep(0.2)
        # edge "crash": stop the loop, lease a batch that is never acked, drop the store
        p.stop()
        # rows written after the pusher stopped, so a lease exists even if it had drained everything
        edge.put_vehicles(make_vehicles(30, start_ns=T0 + 8 * 10**12, seed=98, tag="leased"))
        written += 30
        leased = edge.claim(30, lease_s=1.0)
        edge.close()
        # restart from the same file
        edge = open_store(path)
        edge.put_vehicles(make_vehicles(40, start_ns=T0 + 9 * 10**12, seed=99, tag="after"))
        written += 40
        p = new_pusher(edge)
        p.start()
        time.sleep(1.0)
        proxy.chaos = None  # the network heals
        t_end = time.monotonic() + 90
        while edge.outbox_pending() > 0 and time.monotonic() < t_end:
            time.sleep(0.1)
        assert edge.outbox_pending() == 0
    finally:
        p.stop()
        proxy.shutdown()
    assert len(leased) > 0
    modes = set(proxy.log)
    assert {"http500", "slow", "drop_after", "reset", "pass"} <= modes
    assert cloud.count("vehicles", "site-a") == written == int(edge.db.scalar("SELECT COUNT(*) FROM vehicles"))
    assert cloud.count("cloud_ingest_log") == written
    _assert_same(edge, cloud, "site-a")
    edge.close()


def test_outbox_full_policy_end_to_end(cloud, tmp_path):
    """Bounded outbox: the oldest low-priority rows (picks) are dropped first and counted; vehicles never."""
    from service.store import open_store

    key = cloud.register("site-a", fiber_id="fib-a")
    edge = open_store(tmp_path / "edge.sqlite", outbox_max_rows=50)
    ev = make_event(1, t_ns=T0)
    picks = make_picks(ev.id, t_ns=T0, n=40)
    edge.put_picks(picks)  # 40 rows, priority 0
    edge.put_vehicles(make_vehicles(30, seed=2))  # 70 > 50: the 20 oldest picks are dropped
    assert edge.outbox_pending() == 50
    assert edge.counter("outbox_dropped") == 20
    more = make_vehicles(60, start_ns=T0 + 10**13, seed=3, tag="m")
    edge.put_vehicles(more)  # only vehicles + 20 picks left -> the remaining picks go, vehicles stay
    assert edge.counter("outbox_dropped") == 40
    assert edge.outbox_pending() == 90  # over the bound: priority-2 rows are never dropped
    p = Pusher(edge, cloud.url, key, "site-a", batch_size=64, timeout_s=5)
    try:
        assert p.drain(max_seconds=60) == 90
    finally:
        p.stop()
    # every vehicle reached the cloud; dropped picks did not (they stay queryable at the edge)
    assert cloud.count("vehicles") == 90
    assert cloud.count("picks") == 0
    assert int(edge.db.scalar("SELECT COUNT(*) FROM picks")) == 40
    edge.close()


def test_pusher_background_thread_picks_up_new_rows(cloud, edge_store):
    key = cloud.register("site-a", fiber_id="fib-a")
    p = Pusher(edge_store, cloud.url, key, "site-a", batch_size=100, idle_poll_s=0.05)
    p.start()
    try:
        edge_store.put_vehicles(make_vehicles(10, seed=5))
        t_end = time.monotonic() + 20
        while cloud.count("vehicles") < 10 and time.monotonic() < t_end:
            time.sleep(0.05)
        assert cloud.count("vehicles") == 10
        edge_store.put_vehicles(make_vehicles(15, start_ns=T0 + 10**13, seed=6, tag="x"))
        while cloud.count("vehicles") < 25 and time.monotonic() < t_end:
            time.sleep(0.05)
        assert cloud.count("vehicles") == 25
    finally:
        p.stop()
    assert p.stats.failures == 0 and p.stats.items_acked == 25
    assert not isinstance(p._thread, threading.Thread)


def test_pusher_from_settings_and_status_heartbeat(cloud, edge_store, tmp_path):
    from service.pusher import pusher_from_settings
    from service.settings import Settings

    key = cloud.register("edge-7", fiber_id="fib-a")
    assert pusher_from_settings(edge_store, Settings(environment="test")) is None  # no cloud configured
    kf = tmp_path / "edge.key"
    kf.write_text(key + "\n")
    kf.chmod(0o600)
    s = Settings(environment="test", cloud_url=cloud.url, edge_key_file=kf, site_id="edge-7", push_batch=7)
    p = pusher_from_settings(edge_store, s)
    assert p is not None and p.edge_id == "edge-7" and p.batch_size == 7
    assert key not in repr(s)  # the secret never shows up in the settings' repr
    edge_store.put_vehicles(make_vehicles(20, seed=8))
    try:
        assert p.drain(max_seconds=30) == 20
        p._heartbeat(force=True)
    finally:
        p.stop()
    assert cloud.count("vehicles", "edge-7") == 20
    (st,) = [r for r in edge_store.get_status() if r["component"] == "pusher"]
    assert st["detail"]["items_acked"] == 20 and st["detail"]["cloud_reachable"] is True


def test_retry_after_is_honoured(cloud, edge_store):
    """A 503 with ``Retry-After: 0.4`` sets the retry delay (the jittered backoff alone would be <= 1 ms)."""
    import asyncio

    key = cloud.register("site-a", fiber_id="fib-a")
    edge_store.put_vehicles(make_vehicles(5, seed=9))
    calls: list[float] = []

    from starlette.middleware.base import BaseHTTPMiddleware
    from starlette.responses import PlainTextResponse

    class Busy(BaseHTTPMiddleware):
        async def dispatch(self, request, call_next):
            if request.url.path == "/api/v1/ingest":
                calls.append(time.monotonic())
                if len(calls) == 1:
                    await asyncio.sleep(0)
                    return PlainTextResponse("busy", status_code=503, headers={"Retry-After": "0.4"})
            return await call_next(request)

    from service.cloud.app import create_cloud_app
    from service.settings import Settings

    from .helpers import ServerThread

    app = create_cloud_app(Settings(environment="test"), store=cloud.store,
                           webhooks=False)
    app.add_middleware(Busy)
    with ServerThread(app) as srv:
        p = Pusher(edge_store, srv.url, key, "site-a", backoff_initial_s=0.001, backoff_max_s=5.0, seed=1)
        try:
            assert p.drain(max_seconds=30) == 5
        finally:
            p.stop()
    assert len(calls) == 2
    assert p.stats.backoffs_s == [0.4]  # the jittered backoff (<= 0.001 s) was raised to Retry-After
    assert p.stats.status_counts == {503: 1, 200: 1}

