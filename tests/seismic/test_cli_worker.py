"""Batch CLI (real file, tiny ONNX model) and the Kafka worker give the same picks and events."""

from __future__ import annotations

import argparse
import io as _io
import json
import threading
import time
from contextlib import redirect_stdout

import numpy as np
import pytest

from dasedge import io
from dasedge.cli import main
from dasedge.synth.quake import simulate_quake_scene
from tests.seismic.helpers import match_events, spike_block, tiny_onnx


@pytest.fixture(scope="module")
def spike_scene(tmp_path_factory):
    d = tmp_path_factory.mktemp("seis")
    # epicentres off the fiber ends: a moveout of many samples (with a flat moveout the common-mode
    # removal - median over channels at each sample - would also remove the arrival)
    events = [dict(origin_s=12.0, x_m=-2500.0, y_m=1500.0, depth_m=4000.0, magnitude=2.0),
              dict(origin_s=33.0, x_m=4500.0, y_m=-2000.0, depth_m=5000.0, magnitude=2.0)]
    blk, truth = simulate_quake_scene(n_channels=200, dx_m=8.0, duration_s=60.0, events=events, seed=31, snr_db=10.0)
    blk = spike_block(truth, blk)
    path = io.write(blk, d / "scene.hdf5", fmt="optodas")
    model = tiny_onnx(d / "tiny.onnx")
    return blk, truth, path, model


def _run_cli(path, model, *extra):
    buf = _io.StringIO()
    with redirect_stdout(buf):
        rc = main(["seismic", str(path), "--model", str(model), "--preset", "latency", "--chunk-s", "7", *extra])
    assert rc == 0
    return [json.loads(line) for line in buf.getvalue().splitlines()]


def test_cli_json_lines_against_truth(spike_scene, tmp_path):
    blk, truth, path, model = spike_scene
    rows = _run_cli(path, model, "--quakeml", str(tmp_path / "ev.xml"))
    picks = [r for r in rows if r["kind"] == "pick"]
    events = [r for r in rows if r["kind"] == "event"]
    for r in picks:
        assert set(r) >= {"channel", "distance_m", "time", "phase", "score"} and r["phase"] in ("P", "S")
    t_truth = {}
    for a in truth["arrivals"]:
        t_truth.setdefault((a["channel"], a["phase"]), []).append(a["t_ns"])
    good = 0
    for r in picks:
        t = np.datetime64(r["time"].rstrip("Z"), "ns").astype(np.int64)
        good += min(abs(t - x) for x in t_truth.get((r["channel"], r["phase"]), [10**20])) <= 10_000_000
    assert good >= 0.95 * len(truth["arrivals"]) and len(picks) <= 1.02 * len(truth["arrivals"])
    assert len(events) == 2
    for e, t in zip(sorted(events, key=lambda e: e["time"]), truth["events"]):
        assert set(e) >= {"time", "x_m", "depth_m", "magnitude", "num_picks"}
        assert abs(np.datetime64(e["time"].rstrip("Z"), "ns").astype(np.int64) - t["origin_ns"]) < 0.2e9
        assert abs(e["x_m"] - t["x_m"]) < 1000
    from obspy import read_events

    assert len(read_events(str(tmp_path / "ev.xml"))) == 2


@pytest.mark.integration
def test_kafka_worker_matches_batch(spike_scene, kafka_bootstrap, fresh_topic, tmp_path):
    from kafka import KafkaConsumer, KafkaProducer

    from dasedge.streaming.broker import MESSAGE_MAX_BYTES
    from dasedge.streaming.codec import encode_block
    from dasedge.streaming.runtime import WindowSpec, run_worker
    from pipelines.seismic.worker import SeismicProcess, SeismicSink, build_factory
    from service.store import open_store

    blk, truth, path, model = spike_scene
    batch = _run_cli(path, model)
    src, picks_t, events_t = fresh_topic("das"), fresh_topic("picks"), fresh_topic("events")
    prod = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", max_request_size=MESSAGE_MAX_BYTES)
    for i in range(0, blk.n_time, 50):  # 0.5 s blocks
        for k, v, h in encode_block(blk.select(samples=slice(i, i + 50)).new(seq=i // 50)):
            prod.send(src, key=k, value=v, headers=h)
    prod.flush()

    args = argparse.Namespace(model=str(model), site=None, preset="latency", threshold=None, min_picks=None, threads=1)
    process = SeismicProcess(build_factory(args))
    store = open_store(tmp_path / "edge.db")
    sink = SeismicSink(store, prod, picks_topic=picks_t, events_topic=events_t)
    stop = threading.Event()
    run_worker(kafka_bootstrap, src, "seis-test", process, sink, WindowSpec(length_s=1.0, step_s=1.0),
               stop_event=stop, idle_timeout_s=8.0)
    sink(process.flush())
    prod.close()

    def consume(topic):
        c = KafkaConsumer(topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=4000)
        out = [json.loads(r.value) for r in c]
        c.close()
        return out

    s_picks = consume(picks_t)
    s_msgs = consume(events_t)
    b_picks = sorted((r["channel"], r["time"], r["phase"]) for r in batch if r["kind"] == "pick")
    assert sorted((r["channel"], r["time"], r["phase"]) for r in s_picks) == b_picks
    last = {}
    for m in s_msgs:
        last[m["id"]] = m
    s_events = sorted(last.values(), key=lambda e: e["time"])
    b_events = sorted((r for r in batch if r["kind"] == "event"), key=lambda e: e["time"])
    assert [e["status"] for e in s_events] == ["final"] * len(b_events)
    for s, b in zip(s_events, b_events, strict=True):
        assert (s["time"], s["x_m"], s["depth_m"], s["magnitude"], s["num_picks"]) == (
            b["time"], b["x_m"], b["depth_m"], b["magnitude"], b["num_picks"])
    # the store holds the same events (upserted to their highest version) and all picks
    rows, _ = store.query_events(orderby="time-asc")
    assert sorted(r["id"] for r in rows) == sorted(e["id"] for e in s_events)
    assert {m["status"] for m in s_msgs} == {"new", "final"} or {m["status"] for m in s_msgs} == {"new", "update", "final"}
    p_rows, _ = store.query_picks(limit=100000)
    assert len(p_rows) == len(b_picks)


def test_cli_on_real_prodml_noise_file(das_samples, tmp_path):
    """Real Silixa PRODML file (200 Hz, 1 m, ambient noise): resampled to 100 Hz, channels averaged
    toward 8-10 m; the tiny model sees no spikes, so no events; picks (if any) map to file channels."""
    path = das_samples / "prodml_2.0.h5"
    info = io.scan(path)
    model = tiny_onnx(tmp_path / "tiny.onnx")
    rows = _run_cli(path, model)
    assert [r for r in rows if r["kind"] == "event"] == []
    blk = io.read(path)
    for r in rows:
        assert r["channel"] in set(blk.channel_index.tolist())
        assert blk.distance_m.min() <= r["distance_m"] <= blk.distance_m.max()
    # the same processing path through the library: 9-10 channels averaged, 100 Hz
    from pipelines.seismic.preprocess import prepare

    prep = prepare(blk.select(samples=slice(0, 2000)), highpass_hz=None)
    assert prep.cmap.factor in (8, 9, 10) and info.dt_s == 0.005
    assert prep.model_input.shape == (1000, blk.n_channel // prep.cmap.factor)


def test_site_file_sets_velocities_and_thresholds(tmp_path):
    from pipelines.seismic.cli import processor_factory
    from pipelines.seismic.picking import OracleAnnotator

    site = tmp_path / "site.yaml"
    site.write_text("fiber_id: f9\nvp_km_s: 5.5\nassociation: {min_picks: 33, max_sigma11: 0.4}\n"
                    "picker: {threshold: 0.45}\nmagnitude_k: {S: -6.0}\n")
    args = argparse.Namespace(site=str(site), preset="latency", threshold=None, min_picks=None)
    proc = processor_factory(args, annotator=OracleAnnotator([]))()
    assert proc.assoc_cfg.vp == 5.5 and proc.assoc_cfg.vs == pytest.approx(5.5 / 1.73)
    assert proc.assoc_cfg.min_picks == 33 and proc.assoc_cfg.max_sigma11 == 0.4
    assert proc.picker_cfg.threshold == 0.45 and proc.picker_cfg.window == 1024
    assert proc.relation.k["S"] == -6.0 and proc.picker.fiber_id == "f9"
