"""SQLite store: idempotent upserts, versioned events, outbox transactions and bound, queries."""

from __future__ import annotations

import numpy as np
import pytest

from dasedge.records import ModalFrequency, TrafficEvent
from service.store import open_store

from .conftest import T0, make_event, make_pick, make_vehicle

S = 1_000_000_000


def test_sqlite_pragmas_and_migrations(tmp_path):
    s = open_store(f"sqlite:///{tmp_path}/a/b.sqlite", synchronous="FULL")
    assert s.db.scalar("PRAGMA journal_mode") == "wal"
    assert s.db.scalar("PRAGMA synchronous") == 2  # FULL
    from service.store.migrations import MIGRATIONS

    assert s.schema_version() == MIGRATIONS[-1][0]
    assert s.migrate() == []  # nothing left to apply
    s.close()
    s2 = open_store(tmp_path / "a" / "b.sqlite")
    assert s2.db.scalar("PRAGMA synchronous") == 1  # NORMAL
    assert s2.db.scalar("SELECT COUNT(*) FROM schema_migrations") == len(MIGRATIONS)
    s2.close()


def test_bad_urls(tmp_path):
    with pytest.raises(ValueError, match="in-memory"):
        open_store("sqlite://")
    with pytest.raises(ValueError, match="scheme"):
        open_store("mysql://x/y")


def test_vehicles_idempotent_with_outbox(store):
    vs = [make_vehicle(i, t_ns=T0 + i * S, direction=1 if i % 2 else -1) for i in range(50)]
    assert store.put_vehicles(vs) == 50
    assert store.put_vehicles(vs) == 0  # unchanged: no new rows, no new outbox rows
    assert store.db.scalar("SELECT COUNT(*) FROM vehicles") == 50
    assert store.outbox_pending() == 50
    docs, total = store.query_vehicles(start_ns=T0 + 10 * S, end_ns=T0 + 20 * S, direction=1, limit=3, offset=1)
    assert total == 5  # 11,13,15,17,19
    assert [d["id"] for d in docs] == [vs[i].id for i in (13, 15, 17)]
    assert docs[0] == vs[13].to_dict()


def test_write_and_outbox_are_one_transaction(store):
    # a failing write (NOT NULL violation on the second record) must leave neither rows nor outbox rows
    good = make_vehicle(1, t_ns=T0)
    with pytest.raises(Exception):
        store.put_vehicle_dicts([good.to_dict(), {**good.to_dict(), "id": "bad", "fiber_id": None}])
    assert store.db.scalar("SELECT COUNT(*) FROM vehicles") == 0
    assert store.outbox_pending() == 0


def test_events_keep_highest_version_and_alert(store):
    e1 = make_event(1, t_ns=T0, mag=2.0, version=1)
    e3 = make_event(1, t_ns=T0, mag=2.4, version=3, status="update")
    e2 = make_event(1, t_ns=T0, mag=9.9, version=2, status="update")
    a = store.put_events([e1])
    assert [x["version"] for x in a] == [1]
    assert len(store.put_events([e3])) == 1
    assert store.put_events([e2]) == []  # older version ignored
    assert store.put_events([e3]) == []  # same version: idempotent
    assert store.get_event("ev0001")["magnitude"] == 2.4
    alerts = store.alerts_after(0)
    assert [(x["ref_id"], x["version"]) for x in alerts] == [("ev0001", 1), ("ev0001", 3)]
    assert alerts[1]["seq"] > alerts[0]["seq"]
    assert sorted(r["key"] for r in store.claim(10)) == ["ev0001:1", "ev0001:3"]


def test_event_queries(store):
    evs = [make_event(i, t_ns=T0 + i * 60 * S, mag=1.0 + 0.5 * i, depth_m=1000.0 * (i + 1)) for i in range(6)]
    store.put_events(evs)
    docs, total = store.query_events(min_magnitude=1.5, max_depth_m=4500.0, orderby="magnitude")
    assert total == 3 and [d["id"] for d in docs] == ["ev0003", "ev0002", "ev0001"]
    docs, _ = store.query_events(start_ns=T0 + 120 * S, orderby="time-asc", limit=2, offset=1)
    assert [d["id"] for d in docs] == ["ev0003", "ev0004"]
    with pytest.raises(ValueError):
        store.query_events(orderby="depth")


def test_picks_modal_traffic_events(store):
    store.put_picks([make_pick(i, t_ns=T0 + i * S, event_id="ev1" if i < 3 else None) for i in range(6)])
    docs, total = store.query_picks(event_id="ev1")
    assert total == 3 and docs[0]["time"].startswith("2026-01-01T00:00:00")
    m = ModalFrequency(id="m1", fiber_id="fib", t_ns=T0, window_s=60.0, frequency_hz=2.5, amplitude=1.0, mode=1)
    store.put_modal([m])
    assert store.query_modal(mode=1)[0] == [m.to_dict()]
    te = TrafficEvent(id="te1", fiber_id="fib", kind="wrong_way", t_start_ns=T0, t_end_ns=T0 + 10 * S, x_m=10.0,
                      direction=-1, detail={"speed_kmh": 40})
    store.put_traffic_events([te])
    assert store.query_traffic_events(kind="wrong_way", start_ns=T0 + 5 * S)[0] == [te.to_dict()]
    assert store.query_traffic_events(kind="congestion")[1] == 0


def test_outbox_claim_ack_nack(store):
    store.put_picks([make_pick(i, t_ns=T0 + i * S) for i in range(5)])
    store.put_events([make_event(1, t_ns=T0)])
    first = store.claim(3, lease_s=60)
    assert first[0]["kind"] == "event"  # highest priority first
    assert [r["kind"] for r in first[1:]] == ["pick", "pick"]
    second = store.claim(10)
    assert {r["seq"] for r in second}.isdisjoint({r["seq"] for r in first})  # leased rows hidden
    assert len(second) == 3
    store.nack([r["seq"] for r in second])
    third = store.claim(10)
    assert {r["seq"] for r in third} == {r["seq"] for r in second} and all(r["attempts"] == 1 for r in third)
    assert store.ack([r["seq"] for r in first + third]) == 6
    assert store.outbox_pending() == 0 and store.outbox_stats()["acked_total"] == 6


def test_outbox_bound_drops_low_priority_first(tmp_path):
    s = open_store(tmp_path / "b.sqlite", outbox_max_rows=10)
    s.put_vehicles([make_vehicle(i, t_ns=T0 + i * S) for i in range(4)])
    s.put_picks([make_pick(i, t_ns=T0 + i * S) for i in range(8)])  # 12 rows > 10: 2 oldest picks go
    st = s.outbox_stats()
    assert st["pending"] == 10 and st["by_kind"] == {"vehicle": 4, "pick": 6} and st["dropped_total"] == 2
    kept = {r["key"] for r in s.claim(100) if r["kind"] == "pick"}
    assert kept == {f"pk{i:05d}" for i in range(2, 8)}
    # vehicles are never dropped: the outbox may exceed the bound
    s2 = open_store(tmp_path / "c.sqlite", outbox_max_rows=3)
    s2.put_vehicles([make_vehicle(i, t_ns=T0 + i * S) for i in range(5)])
    assert s2.outbox_pending() == 5 and s2.outbox_stats()["dropped_total"] == 0
    s.close(), s2.close()


def test_interval_stats_from_vehicles_match_numpy(store):
    rng = np.random.default_rng(3)
    n = 400
    t = T0 + np.sort(rng.integers(0, 3600 * S, n))
    d = rng.choice([-1, 1], n)
    sp = rng.uniform(20, 130, n).round(2)
    cl = rng.choice(["car", "truck"], n, p=[0.8, 0.2])
    store.put_vehicles([make_vehicle(i, t_ns=int(t[i]), direction=int(d[i]), speed=float(sp[i]), cls=str(cl[i]))
                        for i in range(n)])
    rows, src = store.query_interval_stats(start_ns=T0, end_ns=T0 + 3600 * S, interval_s=900)
    assert src == "vehicles" and len(rows) == 8
    for r in rows:
        k = (t - T0) // (900 * S)
        b = int((np.datetime64(r["interval_start"].rstrip("Z")) - np.datetime64("2026-01-01T00:00:00")) /
                np.timedelta64(900, "s"))
        m = (k == b) & (d == r["direction"])
        assert r["volume"] == m.sum()
        assert r["flow_veh_h"] == pytest.approx(m.sum() * 4)
        assert r["mean_speed_kmh"] == pytest.approx(sp[m].mean())
        assert r["p50_speed_kmh"] == pytest.approx(np.percentile(sp[m], 50))
        assert r["p85_speed_kmh"] == pytest.approx(np.percentile(sp[m], 85))
        assert r["class_counts"]["truck"] == (cl[m] == "truck").sum()
        assert sum(r["speed_bins"]["counts"]) == m.sum()
        assert r["speed_bins"]["counts"][5] == ((sp[m] >= 50) & (sp[m] < 60)).sum()
        assert r["heavy_share"] == pytest.approx((cl[m] == "truck").mean())
    by_cls, _ = store.query_interval_stats(start_ns=T0, end_ns=T0 + 3600 * S, interval_s=3600, by_class=True)
    assert sum(r["volume"] for r in by_cls) == n and {r["vehicle_class"] for r in by_cls} == {"car", "truck"}


def test_stored_interval_stats_upsert(store):
    rows = [{"fiber_id": "fib", "interval_start_ns": T0 + k * 900 * S, "interval_s": 900, "direction": 1,
             "volume": k, "flow_veh_h": 4.0 * k, "completeness_pct": 100.0} for k in range(4)]
    assert store.put_interval_stats(rows) == 4
    assert store.put_interval_stats(rows) == 0
    rows[2] = {**rows[2], "volume": 99}
    assert store.put_interval_stats(rows) == 1
    got, src = store.query_interval_stats(start_ns=T0, end_ns=T0 + 3600 * S, interval_s=900)
    assert src == "stored" and [r["volume"] for r in got] == [0, 1, 99, 3]
    assert got[0]["interval_start"] == "2026-01-01T00:00:00.000000Z"
    assert store.outbox_stats()["by_kind"] == {"interval_stats": 5}


def test_status_heartbeat_keeps_previous_values(store):
    store.heartbeat("traffic-worker", lag_s=1.5, model_version="m1", detail={"partitions_assigned": 2})
    store.heartbeat("traffic-worker", last_data_ns=T0)
    (row,) = store.get_status()
    assert row["lag_s"] == 1.5 and row["model_version"] == "m1" and row["last_data_ns"] == T0
    assert row["detail"] == {}


def test_sites_registry(store):
    store.upsert_site("s1", name="A1 km 12", latitude=46.0, longitude=7.0, lanes=2)
    store.upsert_site("s1", last_seen_ns=T0)
    s = store.get_site("s1")
    assert s["name"] == "A1 km 12" and s["last_seen_ns"] == T0 and s["doc"] == {"lanes": 2}
    assert [x["site_id"] for x in store.list_sites()] == ["s1"]


def test_aggregation_agrees_with_traffic_pipeline_stats(store):
    """The store's vectorised aggregation and pipelines.traffic.stats (per-bin loops) agree."""
    from pipelines.traffic.stats import interval_stats as pipeline_stats

    rng = np.random.default_rng(5)
    n = 300
    t = T0 + np.sort(rng.integers(0, 1800 * S, n))
    vs = [make_vehicle(i, t_ns=int(t[i]), direction=int(rng.choice([-1, 1])), speed=float(rng.uniform(30, 110)),
                       cls=str(rng.choice(["car", "truck"], p=[0.7, 0.3]))) for i in range(n)]
    store.put_vehicles(vs)
    mine, _ = store.query_interval_stats(start_ns=T0, end_ns=T0 + 1800 * S, interval_s=300, source="vehicles")
    theirs = [r for r in pipeline_stats(vs, 300, t_start_ns=T0, t_end_ns=T0 + 1800 * S)
              if r["vehicle_class"] == "all" and r["volume"] > 0]
    key = lambda r: (r["interval_start"], r["direction"])  # noqa: E731
    mine, theirs = sorted(mine, key=key), sorted(theirs, key=key)
    assert [key(r) for r in mine] == [key(r) for r in theirs]
    for a, b in zip(mine, theirs):
        assert a["volume"] == b["volume"]
        for f in ("mean_speed_kmh", "p50_speed_kmh", "p85_speed_kmh", "heavy_share", "flow_veh_h"):
            assert a[f] == pytest.approx(b[f]), f
    # the pipeline's rows can be stored as-is: "all" rows are the all-class rows, completeness -> pct
    store.put_interval_stats(pipeline_stats(vs, 300, t_start_ns=T0, t_end_ns=T0 + 1800 * S,
                                            coverage=[(T0, T0 + 900 * S)]))
    stored, src = store.query_interval_stats(start_ns=T0, end_ns=T0 + 1800 * S, interval_s=300)
    assert src == "stored" and len(stored) == 12  # 6 bins x 2 directions, class "all"
    assert [r["completeness_pct"] for r in stored[:6:2]] == [100.0, 100.0, 100.0]
    assert stored[-1]["completeness_pct"] == 0.0 and stored[0]["vehicle_class"] is None
    by_cls, _ = store.query_interval_stats(start_ns=T0, end_ns=T0 + 1800 * S, interval_s=300, by_class=True)
    assert len(by_cls) == 24 and sum(r["volume"] for r in by_cls) == n
