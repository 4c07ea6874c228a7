"""The Kafka broker is stopped and restarted mid-stream (same data dir and port): the seismic
worker rides it out and its store ends with the results of an uninterrupted run."""

from __future__ import annotations

import signal
import time

from dasedge.streaming.broker import LocalKafka, free_port
from dasedge.streaming.topics import create_topic
from tests.seismic.helpers import tiny_onnx

from .helpers import (
    compare,
    committed,
    publish,
    records_of,
    seismic_held_back_records,
    seismic_results,
    seismic_worker,
    spike_scene,
    wait_committed,
)


def test_broker_restart_mid_stream(tmp_path):
    kafka = LocalKafka(tmp_path / "kafka", port=free_port(), heap="512m")
    kafka.start(timeout_s=240)
    w = None
    try:
        boot = kafka.bootstrap
        topic = create_topic(boot, "das.blocks", 1)
        blk, _ = spike_scene("fiber0", seed=5)
        recs = records_of(blk)
        half = len(recs) // 2
        publish(boot, topic, recs[:half])
        model = tiny_onnx(tmp_path / "tiny.onnx")
        # no idle exit: an outage plus a slow broker start on a loaded box can exceed any idle timeout;
        # the worker is stopped with SIGTERM (flushes its open events) once everything is committed
        w = seismic_worker(boot, topic, "restart", tmp_path / "edge.sqlite", model, tmp_path / "w.log",
                           idle_timeout=3600)
        w.start()
        # the first half fully processed (its last picker context stays uncommitted)
        wait_committed(boot, "restart", topic, half - seismic_held_back_records(), timeout=300, procs=[w])
        kafka.stop()
        down_s = 8.0
        time.sleep(down_s)
        assert w.alive(), "worker died while the broker was down:\n" + w.tail()
        kafka.start(timeout_s=240)
        publish(boot, topic, recs[half:])
        # all processed = committed up to the picker's restart context, which stays uncommitted
        full = len(recs) - seismic_held_back_records()
        wait_committed(boot, "restart", topic, full, timeout=600, procs=[w])
        w.proc.send_signal(signal.SIGTERM)
        assert w.wait(timeout=120) == 0, w.tail()
        assert committed(boot, "restart", topic) == full
        # reference: a fresh group over the complete topic, no outage
        ref = seismic_worker(boot, topic, "ref", tmp_path / "ref.sqlite", model, tmp_path / "ref.log")
        ref.start()
        assert ref.wait(timeout=600) == 0, ref.tail()
    finally:
        if w is not None:
            w.stop()  # a failed assertion must not leave the worker (idle timeout 1 h) running
        kafka.stop()
    picks, events = seismic_results(tmp_path / "edge.sqlite")
    ref_picks, ref_events = seismic_results(tmp_path / "ref.sqlite")
    lost_p, extra_p = compare(ref_picks, picks)
    lost_e, extra_e = compare(ref_events, events)
    print(f"broker restart ({down_s:.0f} s down mid-stream): picks {len(picks)}/{len(ref_picks)} (lost {lost_p}, "
          f"duplicated {extra_p}); events {len(events)}/{len(ref_events)} (lost {lost_e}, duplicated {extra_e})")
    assert len(ref_events) == 2 and len(ref_picks) > 100
    assert (lost_p, extra_p, lost_e, extra_e) == (0, 0, 0, 0)
    assert {k: v[2] for k, v in events.items()} == {k: v[2] for k, v in ref_events.items()}
