"""Throughput, memory and latency of the traffic pipeline (no Kafka).

1. Throughput: one 60 s window of 800 channels x 1000 Hz (1 m spacing, the
   Åstfjord layout) through ``analyse_window`` on ONE core (BLAS/OpenMP
   threads pinned to 1 with threadpoolctl + env); real-time factor =
   data seconds / processing seconds, reported on CPU time of the process
   (median of ``--repeat`` runs; robust on a shared box) and on the best
   wall-clock run.  Peak RSS of the
   process (ru_maxrss) is reported as the memory per worker.
2. Latency: a scene is replayed at real time in 1 s blocks through the same
   windowing as the worker (60 s windows every 2 s, ownership rule); for
   every emitted vehicle, latency = wall clock at emission - wall clock at
   which the vehicle's exit time was "recorded".

Usage: ``.venv/bin/python bench/bench_traffic.py [--repeat 5] [--latency-s 120]``
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
        for _ in range(repeat):
            t, c = time.perf_counter(), time.process_time()
            dets = analyse_window(block, site, TrafficState())
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
    wall = float(np.min(times))
    cpu_s = float(np.median(cpu))
    return {"data_s": 60.0, "shape": list(block.shape), "wall_s_min": wall, "wall_s_all": times,
            "cpu_s_median": cpu_s, "cpu_s_all": cpu,
            "rtf_wall_best": 60.0 / wall, "rtf_cpu": 60.0 / cpu_s, "vehicles_in_window": len(dets),
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


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--latency-s", type=float, default=120.0)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    res = {"throughput": throughput(args.repeat)}
    print(json.dumps(res["throughput"]), flush=True)
    if args.latency_s > 0:
        res["latency"] = latency(args.latency_s)
        print(json.dumps(res["latency"]), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
