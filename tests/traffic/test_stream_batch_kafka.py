"""The streaming worker (real Kafka broker) and the batch path report the same vehicles."""

from __future__ import annotations

import json
import threading

import pytest
from kafka import KafkaConsumer

from pipelines.traffic.pipeline import run_blocks
from pipelines.traffic.score import match, scene_valid
from pipelines.traffic.site import SiteConfig
from pipelines.traffic.worker import TrafficSink, serve
from tests.streaming.helpers import produce_blocks, producer

pytestmark = pytest.mark.integration


def test_streaming_worker_equals_batch(kafka_bootstrap, fresh_topic, small_scene, tmp_path):
    blocks, truth = small_scene
    site = SiteConfig(step_s=10.0)
    batch = run_blocks(blocks, site, tail=False)  # the stream has no "end of archive" tail window

    topic_in = fresh_topic("das")
    topic_out = fresh_topic("veh")
    produce_blocks(kafka_bootstrap, topic_in, blocks)
    from service.store import open_store

    store = open_store(tmp_path / "edge.sqlite")
    prod = producer(kafka_bootstrap)
    sink = TrafficSink(store=store, producer=prod, topic=topic_out)
    stop = threading.Event()
    serve(kafka_bootstrap, site, sink, topic=topic_in, group="traffic-test", stop_event=stop, idle_timeout_s=8.0)
    prod.close()
    # the worker reported its assignment and data time to the status table (what /ready reads)
    status = {r["component"]: r for r in store.get_status()}["traffic-worker"]
    assert status["detail"]["partitions_assigned"] == 1 and status["last_data_ns"] >= blocks[0].t0_ns
    # ... and the data time it processed (completeness of interval statistics): one span, the whole
    # stream except the tail the last window could not reach
    spans = store.get_coverage("traffic-worker", start_ns=blocks[0].t0_ns, end_ns=blocks[-1].t_end_ns)[""]
    assert len(spans) == 1 and spans[0][0] == blocks[0].t0_ns
    assert blocks[-1].t_end_ns - spans[0][1] <= site.step_s * 1e9

    stream = sink.vehicles
    assert [v.id for v in stream] == [v.id for v in batch]
    for a, b in zip(stream, batch):
        assert (a.speed_kmh, a.direction, a.vehicle_class, a.t_ref_ns) == (b.speed_kmh, b.direction, b.vehicle_class, b.t_ref_ns)
        assert a.reported_ns is not None
    # the output topic holds one JSON record per vehicle, keyed by id
    c = KafkaConsumer(topic_out, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=4000)
    recs = list(c)
    c.close()
    assert sorted(r.key.decode() for r in recs) == sorted(v.id for v in batch)
    assert {json.loads(r.value)["vehicle_class"] for r in recs} <= {"car", "truck"}
    # and they are real vehicles
    m = match(stream, truth["vehicles"], valid=scene_valid(truth))
    assert m["fp"] == 0 and m["tp"] >= 0.8 * m["n_true"]
