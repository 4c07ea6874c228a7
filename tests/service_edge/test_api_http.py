"""Edge REST API over real HTTP (uvicorn on loopback): traffic, status, health, metrics, 422s."""

from __future__ import annotations

import csv
import io
import time

import numpy as np
import pytest

from dasedge.records import ModalFrequency, TrafficEvent

from .conftest import T0, make_pick, make_vehicle

S = 1_000_000_000
N = 300


@pytest.fixture(scope="module")
def traffic(live_edge):
    rng = np.random.default_rng(11)
    t = T0 + np.sort(rng.integers(0, 2 * 3600 * S, N))
    d = rng.choice([-1, 1], N)
    sp = rng.uniform(30, 120, N).round(1)
    cl = rng.choice(["car", "truck"], N, p=[0.85, 0.15])
    vs = [make_vehicle(i, t_ns=int(t[i]), direction=int(d[i]), speed=float(sp[i]), cls=str(cl[i])) for i in range(N)]
    live_edge.store.put_vehicles(vs)
    live_edge.store.put_traffic_events([TrafficEvent(id="te1", fiber_id="fib", kind="congestion", t_start_ns=T0,
                                                     t_end_ns=T0 + 600 * S, x_m=100.0, direction=1)])
    live_edge.store.put_modal([ModalFrequency(id="mf1", fiber_id="fib", t_ns=T0, window_s=60, frequency_hz=3.2,
                                              amplitude=0.1, mode=1)])
    return {"t": t, "d": d, "sp": sp, "cl": cl, "vs": vs}


def test_health_version_public(live_edge):
    with live_edge.client(None) as c:
        assert c.get("/health").json() == {"status": "ok"}
        v = c.get("/api/v1/version").json()
        from service.store.migrations import MIGRATIONS

        assert v["api"] == "v1" and v["schema_version"] == MIGRATIONS[-1][0]
        assert c.get("/openapi.json").status_code == 200


def test_vehicles_paging_filters_csv(live_edge, traffic):
    t, d = traffic["t"], traffic["d"]
    with live_edge.client() as c:
        r = c.get("/api/v1/traffic/vehicles", params={"start": "2026-01-01T00:30:00Z", "end": "2026-01-01T01:00:00Z",
                                                       "direction": "-1", "limit": 7, "offset": 2})
        assert r.status_code == 200
        body = r.json()
        m = (t >= T0 + 1800 * S) & (t < T0 + 3600 * S) & (d == -1)
        want = [traffic["vs"][i].id for i in np.flatnonzero(m)]
        assert body["count"] == m.sum() and [x["id"] for x in body["data"]] == want[2:9]
        r = c.get("/api/v1/traffic/vehicles", params={"vehicle_class": "truck", "format": "csv", "limit": 10000})
        assert r.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(r.text)))
        assert len(rows) == (traffic["cl"] == "truck").sum()
        assert all(row["vehicle_class"] == "truck" for row in rows)


def test_stats_endpoint_matches_independent_aggregation(live_edge, traffic):
    t, d, sp = traffic["t"], traffic["d"], traffic["sp"]
    with live_edge.client() as c:
        r = c.get("/api/v1/traffic/stats", params={"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T02:00:00Z",
                                                    "interval": "1h", "direction": "1"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["source"] == "vehicles" and body["interval_s"] == 3600
        assert [x["interval_start"] for x in body["data"]] == ["2026-01-01T00:00:00.000000Z",
                                                                "2026-01-01T01:00:00.000000Z"]
        for h, row in enumerate(body["data"]):
            m = (d == 1) & ((t - T0) // (3600 * S) == h)
            assert row["volume"] == m.sum() and row["flow_veh_h"] == pytest.approx(m.sum())
            assert row["p85_speed_kmh"] == pytest.approx(np.percentile(sp[m], 85))
        r = c.get("/api/v1/traffic/stats", params={"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T02:00:00Z",
                                                    "interval": "15min", "format": "csv"})
        rows = list(csv.DictReader(io.StringIO(r.text)))
        assert sum(int(x["volume"]) for x in rows) == N


def test_traffic_events_and_modal(live_edge, traffic):
    with live_edge.client() as c:
        ev = c.get("/api/v1/traffic/events", params={"kind": "congestion"}).json()
        assert ev["count"] == 1 and ev["data"][0]["id"] == "te1"
        assert c.get("/api/v1/traffic/modal").json()["data"][0]["frequency_hz"] == 3.2


@pytest.mark.parametrize("path,params,needle", [
    ("/api/v1/traffic/vehicles", {"start": "yesterday"}, "start"),
    ("/api/v1/traffic/vehicles", {"direction": "2"}, "direction"),
    ("/api/v1/traffic/vehicles", {"limit": "0"}, "limit"),
    ("/api/v1/traffic/stats", {"interval": "7min"}, "interval"),
    ("/api/v1/traffic/stats", {"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, "end must be after"),
    ("/api/v1/traffic/stats", {"start": "1990-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z", "interval": "1min"},
     "range too long"),
    ("/fdsnws/event/1/query", {"orderby": "depth"}, "orderby"),
    ("/fdsnws/event/1/query", {"offset": "0"}, "offset"),
    ("/api/v1/seismic/picks", {"min_score": "nan"}, "min_score"),
])
def test_malformed_queries_are_422_with_message(live_edge, path, params, needle):
    with live_edge.client() as c:
        r = c.get(path, params=params)
    assert r.status_code == 422
    assert needle in r.json()["detail"]


def test_status_ready_and_metrics(live_edge, traffic):
    store = live_edge.store
    with live_edge.client() as c:
        assert c.get("/ready").status_code == 200
        store.heartbeat("traffic-worker", lag_s=0.7, throughput=123.0, model_version="phasenet-das-1",
                        last_data_ns=T0, detail={"partitions_assigned": 0, "model_loaded": True})
        r = c.get("/ready")
        assert r.status_code == 503 and r.json()["checks"]["component:traffic-worker"]["partitions_assigned"] == 0
        store.heartbeat("traffic-worker", detail={"partitions_assigned": 3, "model_loaded": True})
        assert c.get("/ready").status_code == 200
        store.heartbeat("traffic-worker", detail={"partitions_assigned": 3}, at_ns=time.time_ns() - 3600 * S)
        assert c.get("/ready").json()["checks"]["component:traffic-worker"]["ok"] is False  # stale heartbeat
        store.heartbeat("traffic-worker", detail={"partitions_assigned": 3, "model_loaded": True})
        newest = make_pick(99_999, t_ns=T0 + 400 * 86_400 * S)  # newer than anything other tests write
        store.put_picks([newest])
        st = c.get("/api/v1/status").json()
        (comp,) = st["components"]
        assert comp["lag_s"] == 0.7 and comp["model_version"] == "phasenet-das-1" and comp["throughput"] == 123.0
        assert st["outbox"]["pending"] == store.outbox_pending() and st["ready"] is True
        assert st["last_data_time"] == newest.to_dict()["time"]
        text = c.get("/metrics").text
        assert 'dasedge_outbox_pending{kind="vehicle"} 300.0' in text
        assert 'dasedge_kafka_lag_seconds{component="traffic-worker"} 0.7' in text
        assert 'dasedge_http_requests_total{method="GET",route="/ready",status="503"}' in text
        assert "dasedge_http_request_duration_seconds_bucket" in text


def test_outbox_threshold_makes_not_ready(tmp_path):
    from .conftest import make_live_edge

    edge, server = make_live_edge(tmp_path, outbox_ready_max=5)
    try:
        with edge.client(None) as c:
            assert c.get("/ready").status_code == 200
            edge.store.put_vehicles([make_vehicle(i, t_ns=T0 + i * S) for i in range(5)])
            r = c.get("/ready")
            assert r.status_code == 503 and r.json()["checks"]["outbox"] == {"ok": False, "pending": 5, "max": 5}
    finally:
        server.stop()
        edge.store.close()
