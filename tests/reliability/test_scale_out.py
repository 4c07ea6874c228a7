"""Scale-out: three ``dasedge seismic-worker`` processes in one consumer group share a topic
with three fibers on three partitions; one is killed (SIGKILL) mid-stream; the survivors
take over its partition and the store ends with exactly the reference results.

Partitioning facts this relies on (checked here, see bench/results/reliability.md):
ingest keys records by fiber id, so one fiber = one partition = one worker at a time;
the seismic worker keeps one processor per *fiber*, so scale-out is by fibers (channel-block
keys would split one fiber's processor state over workers).
"""

from __future__ import annotations

import ast
import re

import pytest

from tests.seismic.helpers import tiny_onnx

from .helpers import (
    compare,
    committed,
    fibers_on_distinct_partitions,
    partition_of,
    publish,
    records_of,
    seismic_results,
    seismic_held_back_records,
    seismic_worker,
    spike_scene,
    wait_committed,
)

N_PART = 3


def worker_metrics(log_text: str) -> dict:
    m = re.findall(r"seismic worker stopped: (\{.*\})", log_text)
    return ast.literal_eval(m[-1]) if m else {}


@pytest.fixture(scope="module")
def three_fiber_topic(kafka_bootstrap):
    from dasedge.streaming.topics import create_topic
    from tests.fixtures.kafka import unique_topic

    topic = create_topic(kafka_bootstrap, unique_topic("rel-scale"), N_PART)
    fibers = fibers_on_distinct_partitions(N_PART, N_PART)
    recs = []
    for i, f in enumerate(fibers):
        blk, _ = spike_scene(f, seed=40 + i)
        recs.append(records_of(blk))
    # interleave the fibers like a live feed
    n = publish(kafka_bootstrap, topic, [r[j] for j in range(max(len(x) for x in recs)) for r in recs if j < len(r)])
    return topic, n, fibers


def test_keys_put_one_fiber_on_one_partition(three_fiber_topic):
    from dasedge.streaming.codec import encode_block

    _, _, fibers = three_fiber_topic
    assert len({partition_of(f.encode(), N_PART) for f in fibers}) == N_PART
    from tests.fuzz.common import sample_block

    blk = sample_block(nt=200, nch=120, fiber_id="fiberX").new(dt_s=0.01)
    keys = {k for k, _, _ in records_of(blk)}
    assert keys == {b"fiberX"}  # default: key = fiber id
    # channel-block keys exist in the codec (fiber#first_channel) for wider fibers
    cb = {k for k, _, _ in encode_block(blk, channels_per_record=40, key_by_channel_block=True)}
    assert cb == {b"fiberX#0", b"fiberX#40", b"fiberX#80"}


def test_three_workers_one_killed(kafka_bootstrap, three_fiber_topic, tmp_path):
    topic, n, fibers = three_fiber_topic
    model = tiny_onnx(tmp_path / "tiny.onnx")
    # reference: one uninterrupted worker over all three fibers
    ref = seismic_worker(kafka_bootstrap, topic, "ref-" + topic, tmp_path / "ref.sqlite", model,
                         tmp_path / "ref.log", idle_timeout=8, extra=None)
    ref.argv = ["-v", *ref.argv]
    ref.start()
    assert ref.wait(timeout=600) == 0, ref.tail()
    ref_commit = committed(kafka_bootstrap, "ref-" + topic, topic)  # the picker's restart context stays uncommitted
    ref_picks, ref_events = seismic_results(tmp_path / "ref.sqlite")
    assert {v[0] for v in ref_picks.values()} == set(fibers)
    assert len([e for e in ref_events.values() if e[2] == "final"]) == 2 * N_PART

    group = "scale-" + topic
    store = tmp_path / "edge.sqlite"
    workers = [seismic_worker(kafka_bootstrap, topic, group, store, model, tmp_path / f"w{i}.log", idle_timeout=20)
               for i in range(3)]
    for w in workers:
        w.argv = ["-v", *w.argv]
        w.start()
    wait_committed(kafka_bootstrap, group, topic, n // 3, timeout=400, procs=workers)
    # kill a worker that owns a partition (the log names its assignment)
    victim = next((w for w in workers if re.search(r"assigned partitions \[\d", w.tail(100000))), workers[0])
    victim.kill9()
    for w in workers:
        if w is not victim:
            assert w.wait(timeout=600) == 0, w.tail()
    assert n - 3 * seismic_held_back_records() <= committed(kafka_bootstrap, group, topic) == ref_commit
    picks, events = seismic_results(store)
    lost_p, extra_p = compare(ref_picks, picks)
    lost_e, extra_e = compare(ref_events, events)
    assigned = [re.findall(r"assigned partitions (\[[\d, ]*\])", w.tail(100000)) for w in workers]
    m = worker_metrics(ref.tail(100000))
    mb_s = m.get("bytes", 0) / max(m.get("busy_s", 0), 1e-9) / 1e6
    print(f"scale-out: 3 workers, 1 killed; assignments {assigned}; picks {len(picks)}/{len(ref_picks)} "
          f"(lost {lost_p}, duplicated {extra_p}); events {len(events)}/{len(ref_events)} "
          f"(lost {lost_e}, duplicated {extra_e}); reference worker {m.get('bytes', 0) / 1e6:.1f} MB in "
          f"{m.get('busy_s', 0):.1f} s busy = {mb_s:.2f} MB/s per worker")
    assert (lost_p, extra_p, lost_e, extra_e) == (0, 0, 0, 0)
    # the survivors really took over: together they were assigned every partition
    seen = set()
    for w, a in zip(workers, assigned):
        if w is not victim:
            for lst in a:
                seen |= set(ast.literal_eval(lst))
    assert seen == set(range(N_PART))
