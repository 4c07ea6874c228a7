"""kill -9 of real ``dasedge seismic-worker`` processes at random points of a replayed scene.

The reference is one uninterrupted worker (its own consumer group and store) on the same
topic; the interrupted run must end with exactly the same pick and event ids in its store:
0 lost, 0 extra (a re-emitted result with a different id would be a duplicate).
"""

from __future__ import annotations

import os

import pytest

from tests.seismic.helpers import tiny_onnx

from .helpers import (
    compare,
    committed,
    publish,
    records_of,
    rng_fractions,
    seismic_results,
    seismic_held_back_records,
    seismic_worker,
    spike_scene,
    wait_committed,
)

N_KILLS = int(os.environ.get("RELIABILITY_KILLS", "3"))  # CI 3; bench/run_soak.sh: 20


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_onnx(tmp_path_factory.mktemp("model") / "tiny.onnx")


@pytest.fixture(scope="module")
def one_fiber_topic(kafka_bootstrap):
    from dasedge.streaming.topics import create_topic
    from tests.fixtures.kafka import unique_topic

    topic = create_topic(kafka_bootstrap, unique_topic("rel-seis"), 1)
    blk, truth = spike_scene("fiber0")
    n = publish(kafka_bootstrap, topic, records_of(blk))
    return topic, n, truth


@pytest.fixture(scope="module")
def reference(kafka_bootstrap, one_fiber_topic, model, tmp_path_factory):
    topic, n, truth = one_fiber_topic
    d = tmp_path_factory.mktemp("ref")
    w = seismic_worker(kafka_bootstrap, topic, "ref-" + topic, d / "ref.sqlite", model, d / "ref.log").start()
    assert w.wait(timeout=400) == 0, w.tail()
    picks, events = seismic_results(d / "ref.sqlite")
    # everything is processed; the last picker context stays uncommitted (re-read after a restart)
    assert committed(kafka_bootstrap, "ref-" + topic, topic) == n - seismic_held_back_records()
    # the reference itself is right: both events found, a pick for most arrivals
    assert len([e for e in events.values() if e[2] == "final"]) == 2, events
    assert len(picks) >= 0.9 * len(truth["arrivals"])
    return picks, events


@pytest.fixture(scope="module")
def killed_run(kafka_bootstrap, one_fiber_topic, model, tmp_path_factory):
    topic, n, _ = one_fiber_topic
    d = tmp_path_factory.mktemp("kill")
    group = "kill-" + topic
    store = d / "edge.sqlite"
    w = seismic_worker(kafka_bootstrap, topic, group, store, model, d / "w.log")
    for frac in rng_fractions(seed=11, n=N_KILLS):
        w.start()
        # each kill after new progress: at least one more committed record than at the previous kill
        # kill points spread over the committable range (the last picker context is never committed)
        span = n - 1 - seismic_held_back_records()
        target = min(span, max(1, int(frac * span), (w.history[-1] + 1) if w.history else 1))
        at = wait_committed(kafka_bootstrap, group, topic, target, timeout=300, procs=[w])
        w.kill9()
        w.history.append(at)
    w.start()
    assert w.wait(timeout=400) == 0, w.tail()
    assert committed(kafka_bootstrap, group, topic) == n - seismic_held_back_records()
    return w, n, seismic_results(store)


def test_kill9_seismic_worker_no_loss_no_duplicates(killed_run, reference):
    w, n, (picks, events) = killed_run
    ref_picks, ref_events = reference
    lost_p, extra_p = compare(ref_picks, picks)
    lost_e, extra_e = compare(ref_events, events)
    print(f"seismic kill -9 x{w.kills} at committed offsets {w.history}/{n}: picks {len(picks)} vs {len(ref_picks)} "
          f"(lost {lost_p}, duplicated {extra_p}); events {len(events)} vs {len(ref_events)} "
          f"(lost {lost_e}, duplicated {extra_e})")
    assert w.kills == N_KILLS
    assert (lost_p, extra_p, lost_e, extra_e) == (0, 0, 0, 0)


def test_kill9_seismic_worker_events_reach_final_status(killed_run, reference):
    _, _, (_, events) = killed_run
    _, ref_events = reference
    assert {k: v[2] for k, v in events.items()} == {k: v[2] for k, v in ref_events.items()}
