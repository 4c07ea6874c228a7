"""Two edges push to one cloud: multi-site queries through the edge's own routers, alert fan-out (SSE, webhook)."""

from __future__ import annotations

import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import obspy

from service.alerts import verify_signature
from service.pusher import Pusher

from .helpers import T0, make_event, make_picks, make_vehicles


class _Receiver:
    """A tiny webhook receiver (real HTTP server on loopback)."""

    def __init__(self) -> None:
        self.got: list[tuple[dict, bytes]] = []
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _push_all(store, cloud, key, site):
    p = Pusher(store, cloud.url, key, site, batch_size=200, timeout_s=10)
    try:
        n = p.drain(max_seconds=60)
    finally:
        p.stop()
    assert store.outbox_pending() == 0
    return n


def test_multisite_queries_and_alert_fanout(cloud, tmp_path):
    from service.store import open_store

    key_a = cloud.register("site-a", fiber_id="fib-a")
    key_b = cloud.register("site-b", fiber_id="fib-b")
    edge_a = open_store(tmp_path / "a.sqlite")
    edge_b = open_store(tmp_path / "b.sqlite")
    edge_a.put_vehicles(make_vehicles(30, fiber="fib-a", seed=1))
    edge_b.put_vehicles(make_vehicles(20, fiber="fib-b", seed=2))
    ev_a = make_event(1, t_ns=T0 + 100 * 10**9, fiber="fib-a", mag=2.5)
    ev_b = make_event(2, t_ns=T0 + 200 * 10**9, fiber="fib-b", mag=3.5)
    edge_a.put_events([ev_a])
    edge_a.put_picks(make_picks(ev_a.id, t_ns=ev_a.origin_ns, fiber="fib-a"))
    edge_b.put_events([ev_b])
    edge_b.put_picks(make_picks(ev_b.id, t_ns=ev_b.origin_ns, n=6, fiber="fib-b"))
    _push_all(edge_a, cloud, key_a, "site-a")
    _push_all(edge_b, cloud, key_b, "site-b")
    h = {"X-API-Key": cloud.admin_key}
    base = cloud.url

    # traffic: the edge's vehicles endpoint, filtered by site
    def nveh(params):
        r = httpx.get(f"{base}/api/v1/traffic/vehicles", params=params, headers=h)
        assert r.status_code == 200, r.text
        return r.json()["count"]

    assert nveh({"site": "site-a"}) == 30
    assert nveh({"site": "site-b"}) == 20
    assert nveh({}) == 50
    r = httpx.get(f"{base}/api/v1/traffic/vehicles", params={"site": "site-b", "limit": 100}, headers=h)
    assert {v["fiber_id"] for v in r.json()["data"]} == {"fib-b"}
    # interval statistics aggregated per site: volumes add up to the vehicles of that site
    r = httpx.get(f"{base}/api/v1/traffic/stats", headers=h, params={
        "site": "site-a", "interval": "15min", "start": "2025-12-31T23:00:00", "end": "2026-01-01T02:00:00"})
    assert r.status_code == 200, r.text
    assert sum(row["volume"] for row in r.json()["data"]) == 30
    # seismic picks per site
    r = httpx.get(f"{base}/api/v1/seismic/picks", params={"site": "site-b"}, headers=h)
    assert r.json()["count"] == 6
    # fdsnws-event over all sites and per site
    r = httpx.get(f"{base}/fdsnws/event/1/query", params={"format": "text", "site": "site-b"}, headers=h)
    assert r.status_code == 200
    lines = [ln for ln in r.text.splitlines() if ln and not ln.startswith("#")]
    assert len(lines) == 1 and lines[0].split("|")[0].endswith(ev_b.id)
    r = httpx.get(f"{base}/fdsnws/event/1/query", params={"orderby": "time-asc"}, headers=h)
    cat = obspy.read_events(io.BytesIO(r.content))
    assert len(cat) == 2
    mags = sorted(round(e.preferred_magnitude().mag if e.preferred_magnitude() else e.magnitudes[0].mag, 2)
                  for e in cat)
    assert mags == [2.5, 3.5]
    r = httpx.get(f"{base}/fdsnws/event/1/query", params={"site": "nowhere"}, headers=h)
    assert r.status_code == 204
    # the site registry shows when each edge was last seen
    sites = {s["site_id"]: s for s in httpx.get(f"{base}/api/v1/sites", headers=h).json()["data"]}
    assert sites["site-a"]["last_seen"] and sites["site-b"]["last_seen"]

    # alerts: a webhook subscriber (M >= 3) and an SSE client on the cloud
    rcv = _Receiver()
    try:
        r = httpx.post(f"{base}/api/v1/subscriptions", headers=h,
                       json={"url": rcv.url, "filters": {"min_magnitude": 3.0}, "secret": "s" * 32})
        assert r.status_code == 201, r.text
        seen: list[dict] = []
        last = cloud.store.last_alert_seq()

        def listen():
            with httpx.stream("GET", f"{base}/api/v1/alerts/stream", headers={**h, "Last-Event-ID": str(last)},
                              params={"keepalive_s": 0.5}, timeout=30) as resp:
                for line in resp.iter_lines():
                    if line.startswith("data:"):
                        seen.append(json.loads(line[5:]))
                        return

        t = threading.Thread(target=listen, daemon=True)
        t.start()
        time.sleep(0.5)
        # edge b updates its event (v2, M3.6) and edge a reports a small new event (M1.0, filtered out)
        edge_b.put_events([make_event(2, t_ns=ev_b.origin_ns, fiber="fib-b", version=2, status="update", mag=3.6)])
        _push_all(edge_b, cloud, key_b, "site-b")
        edge_a.put_events([make_event(3, t_ns=T0 + 300 * 10**9, fiber="fib-a", mag=1.0)])
        _push_all(edge_a, cloud, key_a, "site-a")
        t.join(20)
        assert seen, "no SSE alert received"
        assert seen[0]["id"] == f"site-b/{ev_b.id}" and seen[0]["site_id"] == "site-b" and seen[0]["version"] == 2
        assert seen[0]["event"]["magnitude"] == 3.6 and seen[0]["event"]["site_id"] == "site-b"
        t_end = time.monotonic() + 20
        while not rcv.got and time.monotonic() < t_end:
            time.sleep(0.1)
        time.sleep(1.0)  # let any (wrong) second delivery arrive
        assert len(rcv.got) == 1
        headers, body = rcv.got[0]
        assert verify_signature("s" * 32, body, headers["x-dasedge-signature"])
        doc = json.loads(body)
        assert ev_b.id in json.dumps(doc) and "3.6" in json.dumps(doc)
    finally:
        rcv.close()
        edge_a.close()
        edge_b.close()
