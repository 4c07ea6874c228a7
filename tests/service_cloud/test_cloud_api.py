"""Cloud API over real HTTP on PostgreSQL: site registry, bound ingestion keys, idempotent ingest."""

from __future__ import annotations

import json

import httpx

from service.pusher import idempotency_key

from .helpers import T0, make_event, make_picks, make_vehicles


def _items(kind: str, docs: list[dict]) -> list[dict]:
    return [{"idempotency_key": idempotency_key(kind, d["id"], d), "kind": kind, "record": d} for d in docs]


def test_site_registry_and_key_binding(cloud):
    key_a = cloud.register("site-a", name="A road", fiber_id="fib-a", latitude=46.5, longitude=7.4)
    key_b = cloud.register("site-b", fiber_id="fib-b")
    h = {"X-API-Key": cloud.admin_key}
    r = httpx.get(f"{cloud.url}/api/v1/sites", headers=h)
    assert r.status_code == 200
    sites = {s["site_id"]: s for s in r.json()["data"]}
    assert set(sites) == {"site-a", "site-b"}
    assert sites["site-a"]["latitude"] == 46.5 and sites["site-a"]["name"] == "A road"
    assert "api_key" not in sites["site-a"]  # the key is shown once, at creation
    # the key is a write key bound to its site
    vs = [v.to_dict() for v in make_vehicles(3)]
    body = {"edge_id": "site-a", "items": _items("vehicle", vs)}
    assert httpx.post(f"{cloud.url}/api/v1/ingest", json=body, headers={"X-API-Key": key_b}).status_code == 403
    assert httpx.post(f"{cloud.url}/api/v1/ingest", json=body).status_code == 401
    assert httpx.post(f"{cloud.url}/api/v1/ingest", json=body, headers={"X-API-Key": "dk_00000000.nope-nope-nope-nope-nope"}).status_code == 401
    unknown = {"edge_id": "site-zzz", "items": body["items"]}
    assert httpx.post(f"{cloud.url}/api/v1/ingest", json=unknown, headers={"X-API-Key": key_a}).status_code == 403
    # an edge key cannot register sites (admin only) nor read (write includes read: allowed)
    r = httpx.post(f"{cloud.url}/api/v1/sites", json={"site_id": "evil"}, headers={"X-API-Key": key_a})
    assert r.status_code == 403
    r = httpx.post(f"{cloud.url}/api/v1/ingest", json=body, headers={"X-API-Key": key_a})
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 3
    assert cloud.count("vehicles", "site-a") == 3
    # rotating the key revokes the old one
    r = httpx.post(f"{cloud.url}/api/v1/sites", json={"site_id": "site-a", "rotate_key": True}, headers=h)
    new_key = r.json()["api_key"]
    assert httpx.post(f"{cloud.url}/api/v1/ingest", json=body, headers={"X-API-Key": key_a}).status_code == 401
    assert httpx.post(f"{cloud.url}/api/v1/ingest", json=body, headers={"X-API-Key": new_key}).status_code == 200
    # malformed batches -> 422
    bad = {"edge_id": "site-a", "items": [{"idempotency_key": "x", "kind": "nonsense", "record": {}}]}
    assert httpx.post(f"{cloud.url}/api/v1/ingest", json=bad, headers={"X-API-Key": new_key}).status_code == 422


def test_ingest_is_idempotent_and_keeps_highest_event_version(cloud):
    key = cloud.register("site-a", fiber_id="fib-a")
    h = {"X-API-Key": key}
    vs = [v.to_dict() for v in make_vehicles(50)]
    ev1 = make_event(1, t_ns=T0 + 10**11, version=1, status="new")
    ev2 = make_event(1, t_ns=T0 + 10**11, version=2, status="update", mag=2.9)
    picks = [p.to_dict() for p in make_picks("ev0001", t_ns=T0 + 10**11)]
    items = _items("vehicle", vs) + _items("pick", picks) + _items("event", [ev1.to_dict()])
    r1 = httpx.post(f"{cloud.url}/api/v1/ingest", json={"edge_id": "site-a", "items": items}, headers=h)
    assert r1.status_code == 200, r1.text
    assert r1.json() == {"edge_id": "site-a", "received": 59, "accepted": 59, "duplicates": 0,
                         "by_kind": {"vehicle": 50, "pick": 8, "event": 1}, "alerts": 1}
    # the same batch again (a retry after a lost response): all duplicates, nothing new
    r2 = httpx.post(f"{cloud.url}/api/v1/ingest", json={"edge_id": "site-a", "items": items}, headers=h)
    assert r2.json()["accepted"] == 0 and r2.json()["duplicates"] == 59
    # duplicates inside one batch are collapsed too
    r3 = httpx.post(f"{cloud.url}/api/v1/ingest", json={"edge_id": "site-a", "items": items[:5] * 3}, headers=h)
    assert r3.json()["accepted"] == 0 and r3.json()["duplicates"] == 15
    # the event update has a new key -> applied; then the old version arriving late is ignored
    r4 = httpx.post(f"{cloud.url}/api/v1/ingest", json={"edge_id": "site-a", "items": _items("event", [ev2.to_dict()])}, headers=h)
    assert r4.json()["accepted"] == 1 and r4.json()["alerts"] == 1
    ev1b = make_event(1, t_ns=T0 + 10**11, version=1, status="new", mag=1.0)
    r5 = httpx.post(f"{cloud.url}/api/v1/ingest", json={"edge_id": "site-a", "items": _items("event", [ev1b.to_dict()])}, headers=h)
    assert r5.json()["alerts"] == 0
    assert cloud.count("vehicles") == 50
    assert cloud.count("picks") == 8
    assert cloud.count("events") == 1
    row = cloud.store.db.fetchone("SELECT version, magnitude, site_id, doc FROM events")
    assert row["version"] == 2 and abs(row["magnitude"] - 2.9) < 1e-9 and row["site_id"] == "site-a"
    assert json.loads(row["doc"])["status"] == "update"
    # stored docs equal what the edge sent
    got = {json.loads(r["doc"])["id"]: json.loads(r["doc"]) for r in cloud.store.db.fetchall("SELECT doc FROM vehicles")}
    assert got == {d["id"]: {**d, "site_id": "site-a"} for d in vs}  # plus the site they came from
    # two cloud alerts (v1 and v2), fanned out from the alerts table
    assert [a["version"] for a in cloud.store.alerts_after(0)] == [1, 2]


def test_malformed_records_are_422_and_nothing_is_written(cloud):
    key = cloud.register("site-a", fiber_id="fib-a")
    h = {"X-API-Key": key}
    good = [v.to_dict() for v in make_vehicles(2)]
    bad = dict(good[1])
    del bad["speed_kmh"]
    body = {"edge_id": "site-a", "items": _items("vehicle", [good[0], bad])}
    r = httpx.post(f"{cloud.url}/api/v1/ingest", json=body, headers=h)
    assert r.status_code == 422 and "items[1]" in r.json()["detail"] and "speed_kmh" in r.json()["detail"]
    bad_time = dict(good[1], t_ref="not-a-time")
    r = httpx.post(f"{cloud.url}/api/v1/ingest", json={"edge_id": "site-a", "items": _items("vehicle", [bad_time])},
                   headers=h)
    assert r.status_code == 422
    assert cloud.count("vehicles") == 0 and cloud.count("cloud_ingest_log") == 0


def test_cloud_metrics_count_accepted_and_duplicates(cloud):
    key = cloud.register("site-m", fiber_id="fib-a")
    vs = [v.to_dict() for v in make_vehicles(7)]
    body = {"edge_id": "site-m", "items": _items("vehicle", vs)}
    for _ in range(2):
        assert httpx.post(f"{cloud.url}/api/v1/ingest", json=body, headers={"X-API-Key": key}).status_code == 200
    assert httpx.get(f"{cloud.url}/metrics").status_code == 401
    text = httpx.get(f"{cloud.url}/metrics", headers={"X-API-Key": cloud.admin_key}).text
    assert 'dasedge_cloud_ingest_items_total{result="accepted",site="site-m"} 7.0' in text
    assert 'dasedge_cloud_ingest_items_total{result="duplicate",site="site-m"} 7.0' in text
    assert 'dasedge_cloud_ingest_batches_total{site="site-m"} 2.0' in text
    assert 'dasedge_cloud_site_last_seen_age_seconds{site="site-m"}' in text
    assert 'dasedge_http_requests_total{method="POST",route="/api/v1/ingest",status="200"} 2.0' in text

