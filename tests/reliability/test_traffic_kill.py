"""kill -9 of real ``dasedge traffic-worker`` processes at random points of a replayed scene:
the store ends with exactly the vehicles of an uninterrupted run (0 lost, 0 duplicated)."""

from __future__ import annotations

import os

import sqlite3

import pytest

from dasedge.synth.traffic import TrafficScene, TrafficSceneConfig

from .helpers import WorkerProc, committed, compare, publish, rng_fractions, wait_committed

N_KILLS = int(os.environ.get("RELIABILITY_KILLS", "3"))  # CI 3; bench/run_soak.sh: 20


def traffic_worker(bootstrap, topic, group, store, log, idle=8.0) -> WorkerProc:
    return WorkerProc(["traffic-worker", "--bootstrap", bootstrap, "--topic", topic, "--group", group,
                       "--store", str(store), "--step", "10", "--idle-timeout", str(idle)], log)


def vehicles(store) -> dict[str, tuple]:
    db = sqlite3.connect(str(store))
    try:
        rows = {r[0]: tuple(r[1:]) for r in db.execute(
            "SELECT id, t_ref_ns, direction, vehicle_class, speed_kmh FROM vehicles")}
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        db.close()
    return rows


@pytest.fixture(scope="module")
def scene_topic(kafka_bootstrap):
    from dasedge.streaming.codec import encode_block
    from dasedge.streaming.topics import create_topic
    from tests.fixtures.kafka import unique_topic

    sc = TrafficScene(TrafficSceneConfig(duration_s=150.0, fs=250.0, dx_m=4.0, length_m=400.0, rate_per_min=5.0,
                                         seed=4242))
    recs = [r for b in sc.iter_blocks(2.0) for r in encode_block(b)]
    topic = create_topic(kafka_bootstrap, unique_topic("rel-traffic"), 1)
    return topic, publish(kafka_bootstrap, topic, recs), sc.truth()


def test_kill9_traffic_worker_no_loss_no_duplicates(kafka_bootstrap, scene_topic, tmp_path):
    topic, n, truth = scene_topic
    ref = traffic_worker(kafka_bootstrap, topic, "ref-" + topic, tmp_path / "ref.sqlite", tmp_path / "ref.log").start()
    assert ref.wait(timeout=600) == 0, ref.tail()
    ref_v = vehicles(tmp_path / "ref.sqlite")
    # 60 s windows every 10 s: the commit stays behind the oldest record an unfinished window needs
    ref_commit = committed(kafka_bootstrap, "ref-" + topic, topic)
    assert 0 < ref_commit <= n
    assert len(ref_v) >= 0.6 * len(truth["vehicles"]) > 0

    group = "kill-" + topic
    w = traffic_worker(kafka_bootstrap, topic, group, tmp_path / "edge.sqlite", tmp_path / "w.log")
    for frac in rng_fractions(seed=5, n=N_KILLS, lo=0.1, hi=0.9):
        w.start()
        target = min(ref_commit - 1, max(1, int(frac * ref_commit), (w.history[-1] + 1) if w.history else 1))
        w.history.append(wait_committed(kafka_bootstrap, group, topic, target, timeout=400,
                                        procs=[w]))
        w.kill9()
    w.start()
    assert w.wait(timeout=600) == 0, w.tail()
    assert committed(kafka_bootstrap, group, topic) == ref_commit
    got = vehicles(tmp_path / "edge.sqlite")
    lost, extra = compare(ref_v, got)
    print(f"traffic kill -9 x{w.kills} at committed offsets {w.history}/{n}: vehicles {len(got)} vs {len(ref_v)} "
          f"(lost {lost}, duplicated {extra}); truth {len(truth['vehicles'])}")
    assert (lost, extra) == (0, 0)
    assert got == ref_v  # same speed, class, direction, time for every vehicle
