"""Pipeline workers report heartbeats through their sinks (what /ready and /status read)."""

from __future__ import annotations

from service.store import open_store
from service.store.heartbeat import WorkerHeartbeat


def test_heartbeat_is_throttled_and_lands_in_status(tmp_path):
    store = open_store(tmp_path / "s.sqlite")
    t = [10**18]
    hb = WorkerHeartbeat(store, "seismic-worker", every_s=5.0, detail={"model_loaded": True}, clock=lambda: t[0])
    assert hb() is True
    t[0] += 2 * 10**9
    assert hb() is False  # within 5 s: no write
    t[0] += 4 * 10**9
    assert hb() is True
    rows = {r["component"]: r for r in store.get_status()}
    assert rows["seismic-worker"]["heartbeat_ns"] == t[0]
    assert rows["seismic-worker"]["detail"]["model_loaded"] is True
    assert WorkerHeartbeat(None, "x")() is False
    store.close()


def test_worker_sinks_beat_even_without_records(tmp_path):
    from pipelines.seismic.worker import SeismicSink
    from pipelines.traffic.worker import TrafficSink

    store = open_store(tmp_path / "s.sqlite")
    TrafficSink(store)([])
    SeismicSink(store)([])
    names = {r["component"] for r in store.get_status()}
    assert {"traffic-worker", "seismic-worker"} <= names
    store.close()


def test_on_poll_reports_assignment_lag_and_data_time(tmp_path):
    """The runtime hook writes partitions_assigned at once when the assignment changes (so /ready
    flips without waiting for the throttle), and otherwise beats at most every ``every_s``."""
    from types import SimpleNamespace

    store = open_store(tmp_path / "s.sqlite")
    t = [10**18]
    hb = WorkerHeartbeat(store, "traffic-worker", every_s=5.0, clock=lambda: t[0])
    worker = SimpleNamespace(assigned={0, 2}, last_data_end_ns=123, metrics=SimpleNamespace(lag_seconds=1.5))
    assert hb.on_poll(worker) is True
    row = {r["component"]: r for r in store.get_status()}["traffic-worker"]
    assert row["detail"]["partitions_assigned"] == 2 and row["lag_s"] == 1.5 and row["last_data_ns"] == 123
    t[0] += 10**9
    assert hb.on_poll(worker) is False  # same assignment, within the throttle
    worker.assigned = set()  # revoked: reported immediately
    assert hb.on_poll(worker) is True
    assert {r["component"]: r for r in store.get_status()}["traffic-worker"]["detail"]["partitions_assigned"] == 0
    store.close()
