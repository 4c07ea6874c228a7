"""Throughput, memory and latency of the traffic pipeline (no Kafka).

1. Throughput: one 60 s window of 800 channels x 1000 Hz (1 m spacing, the
   Åstfjord layout) through ``analyse_window`` on ONE core (BLAS/OpenMP
   threads pinned to 1 with threadpoolctl + env); real-time factor =
   data seconds / processing seconds, reported on CPU time of the process
   (median of ``--repeat`` runs; robust on a shared box) and on the best
   wall-clock run.  Peak RSS of the
   process (ru_maxrss) is reported as the memory per worker.
2. Latency (no Kafka): a scene is replayed at real time in 1 s blocks through
   the same windowing as the worker (60 s windows every ``step`` s, ownership
   rule); for every emitted vehicle, latency = wall clock at emission - wall
   clock at which the vehicle's exit time was "recorded".
3. Latency THROUGH Kafka (``--kafka-s``): a real broker (``$KAFKA_BOOTSTRAP``
   or a throwaway :class:`~dasedge.streaming.broker.LocalKafka`); a separate
   producer process publishes the scene's 1 s blocks at real time (each block
   when its last sample is due, like the ingest bridge of a live
   interrogator); the real traffic worker (:func:`pipelines.traffic.worker.serve`,
   consumer group, sink) reports vehicles; latency = the record's
   ``reported_ns`` (wall clock in the sink) - wall clock of the TRUE exit time
   of the matched vehicle.  Vehicles that leave before the first full window
   exists (``window_s``) are start-up and reported apart.

Usage: ``.venv/bin/python bench/bench_traffic.py [--repeat 5] [--latency-s 120] [--kafka-s 180 --steps 2,1]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dasedge.block import concat_time  # noqa: E402
from dasedge.synth.traffic import TrafficScene, TrafficSceneConfig  # noqa: E402
from pipelines.traffic.pipeline import TrafficState, analyse_window, process_window, windowed  # noqa: E402
from pipelines.traffic.site import SiteConfig  # noqa: E402


def throughput(repeat: int) -> dict:
    from threadpoolctl import threadpool_limits

    sc = TrafficScene(TrafficSceneConfig(duration_s=60.0, fs=1000.0, dx_m=1.0, length_m=799.0, seed=77,
                                         rate_per_min=4.0))
    block = concat_time(list(sc.iter_blocks(10.0)))
    assert block.shape == (60000, 800)
    site = SiteConfig()
    times, cpu = [], []
    with threadpool_limits(limits=1):
        analyse_window(block, site, TrafficState())  # warm-up (imports, caches)
        # the streaming worker also runs the stopped-vehicle search (entry-half Hough per direction)
        cpu_ev, cpu_nf, cpu_prev = [], [], []
        no_follow = SiteConfig(follower_pass=False)
        # the follower pass as it was before the widened search (truck slowness +-1 cell, raw maxima)
        prev_follow = SiteConfig(follower_dp=0.0, follower_hp_s=0.0, follower_known_s=1.0)
        for _ in range(repeat):  # the variants interleaved, so load changes on a shared box hit all alike
            t, c = time.perf_counter(), time.process_time()
            dets = analyse_window(block, site, TrafficState())
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
            c = time.process_time()
            analyse_window(block, site, TrafficState(), partial_out=[])
            cpu_ev.append(time.process_time() - c)
            c = time.process_time()
            analyse_window(block, no_follow, TrafficState())
            cpu_nf.append(time.process_time() - c)
            c = time.process_time()
            analyse_window(block, prev_follow, TrafficState())
            cpu_prev.append(time.process_time() - c)
    wall = float(np.min(times))
    cpu_s = float(np.median(cpu))
    return {"data_s": 60.0, "shape": list(block.shape), "wall_s_min": wall, "wall_s_all": times,
            "cpu_s_median": cpu_s, "cpu_s_all": cpu,
            "rtf_wall_best": 60.0 / wall, "rtf_cpu": 60.0 / cpu_s, "vehicles_in_window": len(dets),
            "cpu_s_median_with_stopped_search": float(np.median(cpu_ev)),
            "rtf_cpu_with_stopped_search": 60.0 / float(np.median(cpu_ev)),
            "cpu_s_median_without_follower_pass": float(np.median(cpu_nf)),
            "cpu_s_median_previous_follower_settings": float(np.median(cpu_prev)),
            # the worker runs the stopped search in 1 of k windows (k = stopped_step_s / step_s)
            "rtf_cpu_worker_amortised": 60.0 / (cpu_s + (float(np.median(cpu_ev)) - cpu_s) * site.step_s / site.stopped_step_s),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def latency(duration_s: float) -> dict:
    sc = TrafficScene(TrafficSceneConfig(duration_s=duration_s, fs=500.0, dx_m=2.0, length_m=600.0, seed=78,
                                         rate_per_min=4.0))
    blocks = list(sc.iter_blocks(1.0))
    site = SiteConfig()  # 60 s windows every 2 s
    t_scene0 = blocks[0].t0_ns
    wall0 = time.time_ns()

    def paced():
        for b in blocks:
            due = wall0 + (b.t_end_ns - t_scene0)  # the block is complete at its end time
            delay = (due - time.time_ns()) / 1e9
            if delay > 0:
                time.sleep(delay)
            yield b

    st = TrafficState()
    lat = []
    for w in windowed(paced(), site.window_s, site.step_s, tail=False):
        for v in process_window(w, site, st):
            exit_wall = wall0 + (v.t_end_ns - t_scene0)
            lat.append((v.reported_ns - exit_wall) / 1e9)
    lat = np.array(lat)
    return {"scene_s": duration_s, "vehicles": int(lat.size),
            "latency_s_p50": float(np.median(lat)) if lat.size else None,
            "latency_s_p95": float(np.percentile(lat, 95)) if lat.size else None,
            "latency_s_max": float(lat.max()) if lat.size else None, "latency_s_all": lat.round(3).tolist()}


def _produce_paced(bootstrap: str, topic: str, blocks: list, wall0_ns: int) -> None:
    """Publish each block when its last sample is due (real time), in a child process."""
    from dasedge.streaming.codec import encode_block
    from kafka import KafkaProducer

    from dasedge.streaming.broker import MESSAGE_MAX_BYTES

    prod = KafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=MESSAGE_MAX_BYTES, linger_ms=0)
    t0 = blocks[0].t0_ns
    for b in blocks:
        delay = (wall0_ns + (b.t_end_ns - t0) - time.time_ns()) / 1e9
        if delay > 0:
            time.sleep(delay)
        for k, v, h in encode_block(b):
            prod.send(topic, key=k, value=v, headers=h)
        prod.flush()
    prod.close()


def kafka_latency(duration_s: float, steps: list[float], seed: int = 79) -> dict:
    """Exit -> report latency through a real broker for each window step (see module docstring)."""
    import multiprocessing as mp
    import tempfile
    import threading
    import uuid

    from dasedge.streaming.broker import LocalKafka
    from dasedge.streaming.topics import create_topic
    from pipelines.traffic.score import match, scene_valid
    from pipelines.traffic.worker import TrafficSink, serve

    sc = TrafficScene(TrafficSceneConfig(duration_s=duration_s, fs=500.0, dx_m=2.0, length_m=600.0, seed=seed,
                                         rate_per_min=6.0))
    blocks = list(sc.iter_blocks(1.0))
    truth = sc.truth()
    t_scene0 = blocks[0].t0_ns
    out: dict = {"scene_s": duration_s, "seed": seed, "block_s": 1.0, "runs": []}
    env = os.environ.get("KAFKA_BOOTSTRAP")
    with tempfile.TemporaryDirectory() as tmp:
        kafka = None if env else LocalKafka(Path(tmp) / "kafka").start()
        bootstrap = env or kafka.bootstrap
        try:
            for step in steps:
                site = SiteConfig(step_s=step)
                topic = create_topic(bootstrap, f"bench-traffic-{uuid.uuid4().hex[:6]}", 1)
                sink = TrafficSink(store=None, producer=None)
                stop = threading.Event()
                th = threading.Thread(target=serve, args=(bootstrap, site, sink),
                                      kwargs=dict(topic=topic, group=f"g-{uuid.uuid4().hex[:6]}", stop_event=stop),
                                      daemon=True)
                th.start()
                time.sleep(8.0)  # let the consumer join its group before the data starts
                wall0 = time.time_ns() + int(1e9)
                cpu0 = time.process_time()
                pr = mp.get_context("fork").Process(target=_produce_paced, args=(bootstrap, topic, blocks, wall0))
                pr.start()
                pr.join()
                time.sleep(step + 5.0)  # last windows
                stop.set()
                th.join(timeout=30)
                cpu = time.process_time() - cpu0
                vs = sink.vehicles
                m = match(vs, truth["vehicles"], valid=scene_valid(truth))
                steady, startup = [], []
                for i, j in m["pairs"]:
                    tr = truth["vehicles"][j]
                    t_exit = max(tr["t_entry_ns"], tr["t_exit_ns"])
                    lat = (vs[i].reported_ns - (wall0 + (t_exit - t_scene0))) / 1e9
                    (steady if t_exit + site.margin_s * 1e9 > t_scene0 + site.window_s * 1e9 else startup).append(lat)
                lat = np.array(steady)
                out["runs"].append({
                    "step_s": step, "margin_s": site.margin_s, "window_s": site.window_s, "vehicles": len(vs),
                    "tp": m["tp"], "fp": m["fp"], "fn": m["fn"], "steady_n": int(lat.size),
                    "latency_s_p50": float(np.median(lat)) if lat.size else None,
                    "latency_s_p95": float(np.percentile(lat, 95)) if lat.size else None,
                    "latency_s_max": float(lat.max()) if lat.size else None,
                    "latency_s_all": np.sort(lat).round(2).tolist(), "startup_s": np.round(startup, 1).tolist(),
                    "worker_cpu_s_per_data_s": cpu / duration_s})
                print(json.dumps(out["runs"][-1]), flush=True)
        finally:
            if kafka is not None:
                kafka.stop()
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--latency-s", type=float, default=120.0)
    ap.add_argument("--kafka-s", type=float, default=0.0, help="scene length for the latency through Kafka (0 = skip)")
    ap.add_argument("--steps", default="2,1", help="window steps (s) for the Kafka latency runs")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    res = {}
    if args.repeat > 0:
        res["throughput"] = throughput(args.repeat)
        print(json.dumps(res["throughput"]), flush=True)
    if args.latency_s > 0:
        res["latency"] = latency(args.latency_s)
        print(json.dumps(res["latency"]), flush=True)
    if args.kafka_s > 0:
        res["kafka_latency"] = kafka_latency(args.kafka_s, [float(v) for v in args.steps.split(",")])
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
