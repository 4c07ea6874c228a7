"""Consumer runtime on the real broker: rebalance, restart without loss, dead letters."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from dasedge.streaming.codec import decode_record, encode_block
from dasedge.streaming.runtime import WindowSpec, Worker
from tests.streaming.helpers import (
    T0,
    SqliteSink,
    consume_all,
    expected_window,
    produce_blocks,
    producer,
    ramp_block,
    wait_for,
    window_row,
)

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def expected_rows(fibers, n_blocks, length_s=1.0, step_s=0.5, n=100, dt=0.01):
    """Window ids the stream must produce, derived from the block layout only."""
    dur_ns = round(n_blocks * n * dt * 1e9)
    starts = range(T0, T0 + dur_ns - round(length_s * 1e9) + 1, round(step_s * 1e9))
    return {f"{f}|{s}": (f, s) for f in fibers for s in starts}


def test_two_workers_share_partitions_and_process_every_window_once(kafka_bootstrap, fresh_topic, tmp_path):
    """Worker 2 joins mid-stream: the partitions are split, no window is lost or stored twice."""
    topic = fresh_topic("rebal", partitions=4)
    sink = SqliteSink(tmp_path / "r.db")
    lock = threading.Lock()

    def locked_sink(rows):
        with lock:
            sink(rows)

    stop = threading.Event()
    spec = WindowSpec(length_s=1.0, step_s=0.5)
    workers = [Worker(kafka_bootstrap, topic, "g-rebal", window_row, locked_sink, window=spec) for _ in range(2)]
    threads = [threading.Thread(target=w.run, args=(stop,), daemon=True) for w in workers]
    fibers = [f"fiber-{i}" for i in range(4)]
    threads[0].start()
    try:
        wait_for(lambda: len(workers[0].assigned) == 4, 60, "worker 1 to own all 4 partitions")
        for i, f in enumerate(fibers):  # first half of the stream, one fiber per partition
            produce_blocks(kafka_bootstrap, topic, [ramp_block(f, b) for b in range(4)], partition=i)
        first_half = expected_rows(fibers, 4)
        wait_for(lambda: len(sink.rows()) >= len(first_half), 60, "worker 1 to store the first half")
        threads[1].start()
        wait_for(lambda: workers[0].assigned and workers[1].assigned
                 and len(workers[0].assigned | workers[1].assigned) == 4
                 and not workers[0].assigned & workers[1].assigned, 60, "a 2+2 partition split")
        for i, f in enumerate(fibers):  # second half: windows across the split use both halves
            produce_blocks(kafka_bootstrap, topic, [ramp_block(f, b) for b in range(4, 8)], partition=i)
        want = expected_rows(fibers, 8)
        wait_for(lambda: len(sink.rows()) >= len(want), 90, f"{len(want)} windows in the sink")
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    rows = sink.rows()
    assert {r[0] for r in rows} == set(want)
    assert all(r[5] == 1 for r in rows), "a window was stored twice"
    for rid, fiber, start, checksum, n, _ in rows:
        assert checksum == pytest.approx(expected_window(fiber, start, 1.0).astype(np.float64).sum(), rel=1e-12)
    assert workers[1].metrics.windows > 0, "the second worker must process windows"
    assert sum(w.metrics.windows for w in workers) == len(want)


def test_killed_worker_resumes_without_loss_and_restores_state(kafka_bootstrap, fresh_topic, tmp_path):
    topic = fresh_topic("restart", partitions=1)
    db = tmp_path / "sink.db"
    SqliteSink(db)
    fiber = "fiber-r"
    produce_blocks(kafka_bootstrap, topic, [ramp_block(fiber, b) for b in range(20)])  # 20 s -> 39 windows
    want = expected_rows([fiber], 20)
    cmd = [sys.executable, "-m", "tests.streaming.worker_proc", kafka_bootstrap, topic, "g-restart", str(db), "0.1"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p1 = subprocess.Popen(cmd, cwd=ROOT, env=env)
    try:
        wait_for(lambda: len(SqliteSink(db).rows()) >= 10, 90, "the first worker to store 10 windows")
    finally:
        p1.send_signal(signal.SIGKILL)
        p1.wait(10)
    stored_before = len(SqliteSink(db).rows())
    assert stored_before < len(want), "worker finished before it was killed; the test proves nothing"
    p2 = subprocess.Popen(cmd[:-1] + ["0"], cwd=ROOT, env=env)
    try:
        wait_for(lambda: len(SqliteSink(db).rows()) >= len(want), 90, "the restarted worker to finish")
    finally:
        p2.send_signal(signal.SIGTERM)
        p2.wait(10)
    rows = SqliteSink(db).rows()
    assert {r[0] for r in rows} == set(want)
    for i, (rid, fib, start, checksum, n, writes) in enumerate(rows):
        assert checksum == pytest.approx(expected_window(fib, start, 1.0).astype(np.float64).sum(), rel=1e-12)
        # per-stream state (a running window count) was restored from the commit, never reset
        assert n == i + 1, f"window {i} carries state n={n}"
    # at most the one un-committed poll batch (2 records -> <= 4 windows) is stored twice
    assert sum(r[5] - 1 for r in rows) <= 4


def test_failed_commit_is_survived_and_retried(kafka_bootstrap, fresh_topic, tmp_path):
    """A commit rejected by the group (UnknownMemberId after a broker restart, a rebalance) must
    not kill the worker: results are already sunk, the commit is retried, nothing is lost."""
    from kafka.errors import CommitFailedError

    topic = fresh_topic("commitfail", partitions=1)
    sink = SqliteSink(tmp_path / "c.db")
    fiber = "fiber-c"
    produce_blocks(kafka_bootstrap, topic, [ramp_block(fiber, b) for b in range(6)])
    want = expected_rows([fiber], 6)
    w = Worker(kafka_bootstrap, topic, "g-commitfail", window_row, sink, window=WindowSpec(length_s=1.0, step_s=0.5))
    real_commit, failures = w.consumer.commit, []

    def flaky_commit(offsets=None, **kw):
        if len(failures) < 2:
            failures.append(offsets)
            raise CommitFailedError("simulated: member unknown to the coordinator")
        return real_commit(offsets, **kw)

    w.consumer.commit = flaky_commit
    try:
        w.run(idle_timeout_s=8, poll_timeout_ms=300)  # closes the consumer when idle
    finally:
        w.close()
    assert len(failures) == 2 and w.metrics.commit_failures == 2
    assert {r[0] for r in sink.rows()} == set(want)
    from kafka import KafkaConsumer
    from kafka.structs import TopicPartition

    # the last block stays pinned by its still-open window, so the final commit is at record 5
    c = KafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id="g-commitfail", enable_auto_commit=False)
    try:
        assert c.committed(TopicPartition(topic, 0)) == 5, "the retried commit must land"
    finally:
        c.close()


def test_poison_records_go_to_the_dlq_and_nothing_else_is_lost(kafka_bootstrap, fresh_topic, tmp_path):
    topic = fresh_topic("poison", partitions=1)
    fiber = "fiber-p"
    good = [ramp_block(fiber, b) for b in range(6)]
    [(k1, v1, h1)] = encode_block(good[1])
    bad_version = [(k, b"7" if k == "das.v" else v) for k, v in h1]
    poison = [
        (b"fiber-p", b"\x00garbage bytes\xff", []),                  # garbage, no headers
        (k1, v1, bad_version),                                        # wrong headers
        (k1, v1[: len(v1) // 2], h1),                                 # truncated value
    ]
    p = producer(kafka_bootstrap)
    order = [good[0], poison[0], good[1], poison[1], good[2], good[3], poison[2], good[4], good[5]]
    for item in order:
        recs = encode_block(item) if not isinstance(item, tuple) else [item]
        for k, v, h in recs:
            p.send(topic, key=k, value=v, headers=h).get(timeout=30)
    p.close()
    sink = SqliteSink(tmp_path / "p.db")
    w = Worker(kafka_bootstrap, topic, "g-poison", window_row, sink, window=WindowSpec(1.0, 0.5))
    m = w.run(idle_timeout_s=4)
    rows = sink.rows()
    assert {r[0] for r in rows} == set(expected_rows([fiber], 6))
    assert m["dlq_total"] == 3 and m["gaps_total"] == 0
    dlq = consume_all(kafka_bootstrap, topic + ".DLQ")
    assert len(dlq) == 3
    originals = [poison[0], poison[1], poison[2]]
    offsets = [1, 3, 6]
    for rec, (k, v, h), off in zip(dlq, originals, offsets):
        hd = dict(rec.headers)
        assert rec.key == k and rec.value == v
        assert [x for x in rec.headers if not x[0].startswith("dlq.")] == list(h)
        assert hd["dlq.topic"] == topic.encode() and hd["dlq.partition"] == b"0" and hd["dlq.offset"] == str(off).encode()
    reasons = [dict(r.headers)["dlq.error"].decode() for r in dlq]
    assert "missing header das.v" in reasons[0]
    assert "version 7" in reasons[1]
    assert "bytes, expected" in reasons[2]
    # the committed offset moved past the last record
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id="g-poison", enable_auto_commit=False)
    assert c.committed(TopicPartition(topic, 0)) is not None
    c.close()


def test_metrics_are_exported_to_prometheus(kafka_bootstrap, fresh_topic):
    from prometheus_client import REGISTRY, generate_latest

    topic = fresh_topic("prom")
    produce_blocks(kafka_bootstrap, topic, [ramp_block("fiber-m", b) for b in range(3)])
    w = Worker(kafka_bootstrap, topic, "g-prom", window_row, lambda rows: None, window=WindowSpec(1.0, 1.0))
    m = w.run(idle_timeout_s=5)
    assert m["records"] == 3 and m["windows"] == 3 and m["lag_records"] == 0
    text = generate_latest(REGISTRY).decode()
    assert f'dasedge_stream_windows_total{{group="g-prom",topic="{topic}"}} 3.0' in text
    assert "dasedge_kafka_lag_seconds" in text
