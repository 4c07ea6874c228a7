"""Poison records on a real broker: all in the DLQ with a reason, every good record processed."""

from __future__ import annotations

import numpy as np
from kafka import KafkaConsumer, KafkaProducer

from dasedge.streaming.codec import encode_block
from dasedge.streaming.runtime import WindowSpec, run_worker

from .common import count, sample_block

FS = 50.0
T0 = 1_700_000_000 * 10**9


def _good(i: int):
    blk = sample_block(nt=int(FS), nch=8, seed=i, seq=i).new(t0_ns=T0 + i * 10**9, dt_s=1 / FS)
    (rec,) = encode_block(blk, codec="lz4" if i % 3 == 0 else "none")
    return rec, blk


def _poison(i: int, good):
    key, value, headers = good
    kind = i % 8
    if kind == 0:
        return key, value[: len(value) // 2], headers                      # truncated value
    if kind == 1:
        return key, value, [(k, v) for k, v in headers if k != "das.shape"]  # missing header
    if kind == 2:
        return b"other-app", b'{"json": "from another producer"}', []      # not a DAS record
    if kind == 3:
        return key, value, [(k, b"float64" if k == "das.dtype" else v) for k, v in headers]
    if kind == 4:
        nan = np.full(len(value) // 4, np.nan, dtype="<f4").tobytes()    # non-finite samples
        return key, nan, [(k, b"none" if k == "das.codec" else v) for k, v in headers]
    if kind == 5:
        return key, value, [(k, b"\xff\xfe" if k == "das.t0_ns" else v) for k, v in headers]
    if kind == 6:
        return key, None, headers                                           # tombstone
    return key, bytes(np.random.default_rng(i).integers(0, 256, 97, dtype=np.uint8)), [("das.v", b"1")]


def test_poison_records_go_to_dlq_and_good_ones_are_processed(kafka_bootstrap, fresh_topic):
    topic = fresh_topic("fuzz", partitions=2)
    n_good, n_poison = 60, 240
    goods = [_good(i) for i in range(n_good)]
    prod = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=5,
                         max_request_size=32 * 1024 * 1024)
    sent_poison = []
    gi = 0
    rng = np.random.default_rng(3)
    order = rng.permutation(np.r_[np.zeros(n_good, int), np.ones(n_poison, int)])
    for j, is_poison in enumerate(order):
        if is_poison:
            rec = _poison(len(sent_poison), goods[len(sent_poison) % n_good][0])
            meta = prod.send(topic, key=rec[0], value=rec[1], headers=rec[2]).get(timeout=30)
            sent_poison.append((meta.partition, meta.offset))
        else:
            (k, v, h), _ = goods[gi]
            prod.send(topic, key=k, value=v, headers=h).get(timeout=30)
            gi += 1
    prod.close()

    windows: list[tuple[str, int, int]] = []
    sunk: list = []

    def process(w, state):
        windows.append((w.fiber_id, w.t0_ns, w.n_time))
        assert np.isfinite(w.data).all()
        return [(w.fiber_id, w.t0_ns)]

    metrics = run_worker(kafka_bootstrap, topic, "fuzz-dlq", process, sunk.extend,
                         WindowSpec(length_s=1.0, step_s=1.0), idle_timeout_s=6, prometheus=False)

    # every poison record is in the DLQ with its origin and a one-line reason
    cons = KafkaConsumer(topic + ".DLQ", bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest",
                         consumer_timeout_ms=8000, enable_auto_commit=False)
    dlq = {}
    for m in cons:
        h = dict(m.headers)
        assert h["dlq.topic"].decode() == topic
        reason = h["dlq.error"].decode()
        assert reason and "\n" not in reason
        dlq[(int(h["dlq.partition"]), int(h["dlq.offset"]))] = reason
    cons.close()
    assert set(dlq) == set(sent_poison), (len(dlq), len(sent_poison))
    assert metrics["dlq"] == n_poison
    # every good record was processed exactly once (one tumbling window per 1 s block)
    starts = sorted(t for _, t, _ in windows)
    assert starts == [T0 + i * 10**9 for i in range(n_good)], (len(starts), n_good)
    assert {n for _, _, n in windows} == {int(FS)}
    assert len(sunk) == n_good
    count("dlq_broker_poison", n_poison)
    reasons = sorted({r.split(":")[0][:40] for r in dlq.values()})
    print(f"dlq: {n_poison} poison records in {topic}.DLQ with reasons {reasons}; {n_good} good processed")
