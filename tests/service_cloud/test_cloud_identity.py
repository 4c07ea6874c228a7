"""Two edges push colliding record ids to one cloud (PostgreSQL, real HTTP).

Stable ids derive from fiber + time, so two edges whose fibers share a name
produce identical ids - even identical records with identical idempotency
keys.  Cloud identity is ``(site_id, id)``: both sites' rows are kept, queries,
fdsnws ``eventid`` and alerts tell them apart, the SSE stream and webhook
subscriptions filter by site, and interval-statistics completeness comes
from each edge's pushed coverage.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time

import httpx

from .helpers import T0, make_event, make_picks, make_vehicles
from .test_cloud_multisite import _push_all, _Receiver

S = 10**9
FIBER = "fiber-1"  # both sites call their fiber the same


def _setup(cloud, tmp_path):
    from service.store import open_store

    keys = {s: cloud.register(s, fiber_id=FIBER) for s in ("site-a", "site-b")}
    edges = {s: open_store(tmp_path / f"{s}.sqlite") for s in keys}
    same = make_vehicles(20, fiber=FIBER, seed=7)  # identical records (and idempotency keys) on both edges
    more = make_vehicles(40, fiber=FIBER, seed=8)[20:]
    edges["site-a"].put_vehicles(same + more)
    edges["site-b"].put_vehicles(same + [dataclasses.replace(v, speed_kmh=v.speed_kmh + 10.0) for v in more])
    ev = {s: make_event(1, t_ns=T0 + 100 * S, fiber=FIBER, mag=m) for s, m in (("site-a", 2.5), ("site-b", 3.5))}
    ev["site-b"] = dataclasses.replace(ev["site-b"], latitude=-33.9, longitude=151.2)  # far from site a
    for s, e in ev.items():
        edges[s].put_events([e])
        edges[s].put_picks(make_picks(e.id, t_ns=e.origin_ns, n=8 if s == "site-a" else 6, fiber=FIBER))
    # coverage: site a processed 10 of the first 15 minutes, site b all of them
    edges["site-a"].add_coverage("traffic-worker", T0, T0 + 600 * S)
    edges["site-b"].add_coverage("traffic-worker", T0 - 60 * S, T0 + 900 * S)
    for s in keys:
        _push_all(edges[s], cloud, keys[s], s)
    return keys, edges, ev


def test_colliding_ids_from_two_edges(cloud, tmp_path):
    keys, edges, ev = _setup(cloud, tmp_path)
    h = {"X-API-Key": cloud.admin_key}
    base = cloud.url
    try:
        assert ev["site-a"].id == ev["site-b"].id  # the collision under test
        # every record of both sites is there, none overwritten
        assert cloud.count("vehicles", "site-a") == 40 and cloud.count("vehicles", "site-b") == 40
        assert cloud.count("events") == 2 and cloud.count("picks") == 14

        def vehicles(site):
            r = httpx.get(f"{base}/api/v1/traffic/vehicles", params={"site": site, "limit": 100}, headers=h)
            assert r.status_code == 200, r.text
            return {v["id"]: v for v in r.json()["data"]}

        va, vb = vehicles("site-a"), vehicles("site-b")
        assert set(va) == set(vb) and len(va) == 40
        assert all(v["site_id"] == "site-a" for v in va.values()) and all(v["site_id"] == "site-b" for v in vb.values())
        for v in make_vehicles(40, fiber=FIBER, seed=8)[20:]:
            assert abs(va[v.id]["speed_kmh"] - v.speed_kmh) < 1e-9 and abs(vb[v.id]["speed_kmh"] - v.speed_kmh - 10) < 1e-9

        # fdsnws: two events, ids <site>/<id>; eventid selects one site's
        eid = ev["site-a"].id
        r = httpx.get(f"{base}/fdsnws/event/1/query", params={"format": "text"}, headers=h)
        rows = {ln.split("|")[0]: ln.split("|") for ln in r.text.splitlines()[1:] if ln}
        assert set(rows) == {f"site-a/{eid}", f"site-b/{eid}"}
        assert abs(float(rows[f"site-b/{eid}"][10]) - 3.5) < 1e-6
        r = httpx.get(f"{base}/fdsnws/event/1/query", params={"format": "json", "eventid": f"site-b/{eid}"}, headers=h)
        feats = r.json()["features"]
        assert [f["id"] for f in feats] == [f"site-b/{eid}"] and feats[0]["properties"]["mag"] == 3.5
        r = httpx.get(f"{base}/fdsnws/event/1/query", params={"format": "text", "eventid": eid}, headers=h)
        assert len(r.text.splitlines()) == 3  # a bare id matches on every site
        # QuakeML with arrivals: each event with its own site's picks, unique public ids
        import io

        import obspy

        r = httpx.get(f"{base}/fdsnws/event/1/query", params={"includearrivals": "true"}, headers=h)
        cat = obspy.read_events(io.BytesIO(r.content))
        npicks = sorted(len(e.picks) for e in cat)
        assert npicks == [6, 8]
        ids = [str(p.resource_id) for e in cat for p in e.picks]
        assert len(set(ids)) == 14
        # geographic filter on the cloud: only site b's event is near Sydney
        r = httpx.get(f"{base}/fdsnws/event/1/query", headers=h,
                      params={"format": "text", "latitude": -33.87, "longitude": 151.21, "maxradius": 1})
        assert [ln.split("|")[0] for ln in r.text.splitlines()[1:] if ln] == [f"site-b/{eid}"]

        # JSON event endpoint: ?site= selects, a bare id held by two sites is ambiguous (409)
        r = httpx.get(f"{base}/api/v1/seismic/events/{eid}", params={"site": "site-a"}, headers=h)
        assert r.status_code == 200 and r.json()["magnitude"] == 2.5 and r.json()["site_id"] == "site-a"
        r = httpx.get(f"{base}/api/v1/seismic/events/{eid}", headers=h)
        assert r.status_code == 409
        r = httpx.get(f"{base}/api/v1/seismic/events/{eid}", params={"site": "site-b"}, headers=h)
        assert r.status_code == 200 and r.json()["magnitude"] == 3.5
        r = httpx.get(f"{base}/api/v1/seismic/picks", params={"event_id": f"site-b/{eid}"}, headers=h)
        assert r.json()["count"] == 6

        # the dashboard's event list attaches each site's own picks to its event
        r = httpx.get(f"{base}/api/v1/live/overview", headers=h)
        assert r.status_code == 200, r.text
        assert sorted((e["site_id"], len(e["picks"])) for e in r.json()["events"]) == [("site-a", 8), ("site-b", 6)]

        # completeness from each edge's coverage: a 10/15 min, b 15/15 min; all sites = mean
        def comp(params):
            r = httpx.get(f"{base}/api/v1/traffic/stats", headers=h, params={
                "interval": "15min", "start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:15:00Z", **params})
            assert r.status_code == 200, r.text
            return {row["completeness_pct"] for row in r.json()["data"]}

        assert comp({"site": "site-a"}) == {round(100 * 600 / 900, 3)}
        assert comp({"site": "site-b"}) == {100.0}
        assert comp({}) == {round((100 * 600 / 900 + 100) / 2, 3)}
    finally:
        for e in edges.values():
            e.close()


def test_sse_and_webhooks_filter_by_site(cloud, tmp_path):
    keys, edges, ev = _setup(cloud, tmp_path)
    h = {"X-API-Key": cloud.admin_key}
    base = cloud.url
    rcv = _Receiver()
    try:
        r = httpx.post(f"{base}/api/v1/subscriptions", headers=h,
                       json={"url": rcv.url, "filters": {"site": "site-b"}, "secret": "k" * 32})
        assert r.status_code == 201, r.text
        # polling list per site
        r = httpx.get(f"{base}/api/v1/alerts", params={"site": "site-a"}, headers=h)
        assert [(a["site_id"], a["id"]) for a in r.json()] == [("site-a", f"site-a/{ev['site-a'].id}")]
        seen: list[dict] = []
        connected = threading.Event()

        def listen():
            with httpx.stream("GET", f"{base}/api/v1/alerts/stream", headers={**h, "Last-Event-ID": "0"},
                              params={"keepalive_s": 0.3, "site": "site-b"}, timeout=30) as resp:
                for line in resp.iter_lines():
                    if line.startswith(": connected"):
                        connected.set()
                    if line.startswith("data:"):
                        seen.append(json.loads(line[5:]))
                        if len(seen) == 2:
                            return

        t = threading.Thread(target=listen, daemon=True)
        t.start()
        assert connected.wait(10)
        # both sites update their (same-id) event; only site b's reach this stream and the webhook
        for s, mag in (("site-a", 2.6), ("site-b", 3.6)):
            edges[s].put_events([dataclasses.replace(ev[s], version=2, status="update", magnitude=mag)])
            _push_all(edges[s], cloud, keys[s], s)
        t.join(20)
        assert [(a["site_id"], a["version"]) for a in seen] == [("site-b", 1), ("site-b", 2)]
        assert seen[1]["event"]["magnitude"] == 3.6
        t_end = time.monotonic() + 20
        while not rcv.got and time.monotonic() < t_end:
            time.sleep(0.1)
        time.sleep(1.0)  # a wrong (site a) delivery would arrive meanwhile
        bodies = [json.loads(b) for _, b in rcv.got]
        assert [(b["site_id"], b["version"], b["event"]["magnitude"]) for b in bodies] == [("site-b", 2, 3.6)]
    finally:
        rcv.close()
        for e in edges.values():
            e.close()
