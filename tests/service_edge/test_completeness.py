"""Completeness of interval statistics: processed-window coverage from a real worker on a real broker.

Ground truth is the produced stream itself: data for [0, 30) s and [45, 90) s
(blocks 30..44 never sent), so a 1-min bin starting at 0 s is 45/60 covered
and the next one 30/60.  The worker runs the real consumer runtime on Kafka
with ``WorkerHeartbeat.track`` around its ``process`` and ``on_poll`` as hook;
the API (real HTTP, ``dasedge serve``) must report those fractions.
"""

from __future__ import annotations

import pytest

from dasedge.streaming.runtime import WindowSpec, Worker
from service.store import open_store
from service.store.heartbeat import WorkerHeartbeat
from tests.streaming.helpers import T0, produce_blocks, ramp_block

from .conftest import make_live_edge, make_vehicle

S = 10**9


@pytest.fixture(scope="module")
def cov_edge(tmp_path_factory):
    edge, server = make_live_edge(tmp_path_factory.mktemp("cov"))
    yield edge
    server.stop()
    edge.store.close()


def test_worker_coverage_gives_completeness_over_http(kafka_bootstrap, fresh_topic, cov_edge):
    topic = fresh_topic("cov", partitions=1)
    fiber = "fiber-cov"
    produce_blocks(kafka_bootstrap, topic, [ramp_block(fiber, b) for b in [*range(30), *range(45, 90)]])
    store = cov_edge.store
    hb = WorkerHeartbeat(store, "traffic-worker", every_s=0.0)
    w = Worker(kafka_bootstrap, topic, "g-cov", hb.track(lambda win, st: []), lambda rows: None,
               window=WindowSpec(length_s=2.0, step_s=1.0), on_poll=hb.on_poll)
    try:
        w.run(idle_timeout_s=6, poll_timeout_ms=300)
    finally:
        w.close()
    hb.flush_coverage()
    spans = store.get_coverage("traffic-worker", start_ns=T0 - 3600 * S, end_ns=T0 + 3600 * S)[""]
    # two spans, split at the gap; the last window (89 s..91 s) is still open, so coverage ends at 89-90 s
    assert len(spans) == 2
    (a0, b0), (a1, b1) = spans
    assert a0 == T0 and b0 == T0 + 30 * S and a1 == T0 + 45 * S and T0 + 88 * S <= b1 <= T0 + 90 * S
    store.put_vehicles([make_vehicle(1, t_ns=T0 + 10 * S), make_vehicle(2, t_ns=T0 + 70 * S),
                        make_vehicle(3, t_ns=T0 + 200 * S)])
    with cov_edge.client() as c:
        r = c.get("/api/v1/traffic/stats", params={"interval": "1min", "start": "2026-01-01T00:00:00Z",
                                                    "end": "2026-01-01T00:04:00Z", "source": "vehicles"})
    assert r.status_code == 200, r.text
    comp = {row["interval_start"][:19]: row["completeness_pct"] for row in r.json()["data"]}
    assert comp["2026-01-01T00:00:00"] == pytest.approx(100 * 45 / 60, abs=100 / 60)
    assert comp["2026-01-01T00:01:00"] == pytest.approx(100 * 30 / 60, abs=100 / 60)
    assert comp["2026-01-01T00:03:00"] == 0.0  # a vehicle but no processed data (e.g. written by hand)


def test_no_coverage_reported_means_unknown(tmp_path):
    s = open_store(tmp_path / "s.sqlite")
    try:
        s.put_vehicles([make_vehicle(1, t_ns=T0 + 10 * S)])
        rows, used = s.query_interval_stats(start_ns=T0, end_ns=T0 + 60 * S, interval_s=60, source="vehicles")
        assert used == "vehicles" and rows[0]["completeness_pct"] is None
        s.add_coverage("traffic-worker", T0, T0 + 15 * S)
        s.add_coverage("traffic-worker", T0 + 15 * S, T0 + 30 * S)  # touching: merged
        s.add_coverage("traffic-worker", T0 + 5 * S, T0 + 20 * S)  # inside: no change
        assert s.get_coverage("traffic-worker", start_ns=T0, end_ns=T0 + 60 * S) == {"": [(T0, T0 + 30 * S)]}
        rows, _ = s.query_interval_stats(start_ns=T0, end_ns=T0 + 60 * S, interval_s=60, source="vehicles")
        assert rows[0]["completeness_pct"] == 50.0
        # stored rows without completeness get it from coverage too; rows that carry it keep theirs
        s.put_interval_stats([
            {"fiber_id": "fib", "interval_start_ns": T0, "interval_s": 60, "direction": 1, "volume": 3},
            {"fiber_id": "fib", "interval_start_ns": T0, "interval_s": 60, "direction": -1, "volume": 2,
             "completeness": 0.9},
        ])
        rows, used = s.query_interval_stats(start_ns=T0, end_ns=T0 + 60 * S, interval_s=60, source="stored")
        assert used == "stored"
        assert {r["direction"]: r["completeness_pct"] for r in rows} == {1: 50.0, -1: 90.0}
        # coverage spans are queued for the cloud (the one already covered is not)
        assert s.outbox_stats()["by_kind"].get("coverage") == 2
    finally:
        s.close()


def test_failed_windows_are_not_covered(tmp_path):
    from types import SimpleNamespace

    s = open_store(tmp_path / "s.sqlite")
    hb = WorkerHeartbeat(s, "traffic-worker", every_s=0.0)

    def process(win, st):
        if win.t0_ns == T0 + 10 * S:
            raise RuntimeError("boom")
        return []

    p = hb.track(process)
    for k in range(20):
        try:
            p(SimpleNamespace(t0_ns=T0 + k * S, t_end_ns=T0 + (k + 1) * S), None)
        except RuntimeError:
            pass
    assert hb.flush_coverage() == 2
    assert s.get_coverage("traffic-worker", start_ns=T0, end_ns=T0 + 60 * S) == {
        "": [(T0, T0 + 10 * S), (T0 + 11 * S, T0 + 20 * S)]}
    s.close()
