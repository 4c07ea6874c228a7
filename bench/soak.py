"""Soak: both pipelines on a live synthetic feed at N x real time; lag and memory over time.

    .venv/bin/python bench/soak.py --minutes 30 --speed 2 --channels 100     # bench/run_soak.sh

* A local Apache Kafka broker (own data dir) or ``--bootstrap``.
* A producer thread publishes a synthetic traffic scene (``dasedge.synth.traffic``, 250 Hz,
  ``--channels`` x 4 m, looped with continuing time stamps and seq numbers) to
  ``das.blocks`` in 1 s blocks, paced at ``--speed`` x real time.
* ``dasedge traffic-worker`` and ``dasedge seismic-worker`` run as real subprocesses, each
  in its own consumer group on that topic, writing one SQLite store.
* Every ``--sample-s`` seconds: each group's lag (end offset - committed offset, records
  and seconds of data), each worker's RSS (``/proc/PID/status``), CPU time.
* Output: a JSON Lines trace and a Markdown summary (``--out``), with the verdict
  "keeps up" (lag bounded: the last quarter's max lag <= 2 x the first quarter's max lag +
  one window) and "memory flat" (RSS slope over the second half < 1 MB/min).

The seismic worker uses ``--model`` (default: the shipped PhaseNet-DAS ONNX if present,
else the tiny deterministic test picker, reported as such).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def cpu_s(pid: int) -> float:
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError):
        return float("nan")


class Feed(threading.Thread):
    """Publish a looped synthetic scene at ``speed`` x real time."""

    def __init__(self, bootstrap: str, topic: str, channels: int, speed: float, scene_s: float = 60.0):
        super().__init__(daemon=True)
        from dasedge.synth.traffic import TrafficScene, TrafficSceneConfig

        sc = TrafficScene(TrafficSceneConfig(duration_s=scene_s, fs=250.0, dx_m=4.0, length_m=4.0 * channels,
                                             rate_per_min=6.0, seed=7))
        self.blocks = list(sc.iter_blocks(1.0))
        self.bootstrap, self.topic, self.speed = bootstrap, topic, speed
        self.stop = threading.Event()
        self.sent = 0
        self.bytes = 0
        self.t_data_s = 0.0
        self.late_s = 0.0

    def run(self) -> None:
        from kafka import KafkaProducer

        from dasedge.streaming.broker import MESSAGE_MAX_BYTES
        from dasedge.streaming.codec import encode_block

        prod = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=5,
                             max_request_size=MESSAGE_MAX_BYTES, enable_idempotence=True)
        t0_ns = self.blocks[0].t0_ns
        period_ns = self.blocks[-1].t_end_ns - t0_ns
        wall0 = time.monotonic()
        i = 0
        while not self.stop.is_set():
            loop, j = divmod(i, len(self.blocks))
            b = self.blocks[j]
            blk = b.new(t0_ns=b.t0_ns + loop * period_ns, seq=i)
            due = wall0 + (blk.t_end_ns - t0_ns) / 1e9 / self.speed
            while (left := due - time.monotonic()) > 0 and not self.stop.is_set():
                time.sleep(min(left, 0.2))
            self.late_s = max(self.late_s, -left) if left < 0 else self.late_s
            for k, v, h in encode_block(blk):
                prod.send(self.topic, key=k, value=v, headers=h)
                self.bytes += len(v)
            self.sent += 1
            self.t_data_s = (blk.t_end_ns - t0_ns) / 1e9
            i += 1
        prod.flush()
        prod.close()


def group_lag(bootstrap: str, group: str, topic: str) -> int:
    from kafka import KafkaConsumer
    from kafka.structs import TopicPartition

    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in (c.partitions_for_topic(topic) or [])]
        ends = c.end_offsets(tps)
        return int(sum(ends[tp] - (c.committed(tp) or 0) for tp in tps))
    finally:
        c.close(autocommit=False)


def slope_mb_per_min(ts: list[float], ys: list[float]) -> float:
    t, y = np.asarray(ts), np.asarray(ys)
    ok = np.isfinite(y)
    if ok.sum() < 3:
        return float("nan")
    return float(np.polyfit(t[ok] / 60.0, y[ok], 1)[0])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--speed", type=float, default=2.0, help="data rate in x real time")
    ap.add_argument("--channels", type=int, default=100)
    ap.add_argument("--sample-s", type=float, default=10.0)
    ap.add_argument("--bootstrap", default=None, help="existing broker (default: start a LocalKafka)")
    ap.add_argument("--model", default=None, help="seismic ONNX model (default: shipped, else tiny test picker)")
    ap.add_argument("--work", default=None, help="work folder (default: a temporary one)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "soak_last.json"))
    args = ap.parse_args(argv)

    def _stop(signum, frame):  # SIGTERM (background jobs ignore SIGINT): stop the workers and broker cleanly
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, _stop)

    import tempfile

    from dasedge.streaming.topics import create_topic

    work = Path(args.work or tempfile.mkdtemp(prefix="dasedge-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    kafka = None
    if args.bootstrap:
        boot = args.bootstrap
    else:
        from dasedge.streaming.broker import LocalKafka

        kafka = LocalKafka(work / "kafka", heap="768m").start(timeout_s=240)
        boot = kafka.bootstrap
    topic = create_topic(boot, "das.blocks", 1)
    model, model_kind = args.model, "given"
    if model is None:
        shipped = sorted((ROOT / "models" / "phasenet_das").glob("*.onnx"))
        if shipped:
            model, model_kind = str(shipped[0]), f"shipped {shipped[0].name}"
        else:
            from tests.seismic.helpers import tiny_onnx

            model, model_kind = str(tiny_onnx(work / "tiny.onnx")), "tiny test picker (no shipped model yet)"
    store = work / "edge.sqlite"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmds = {
        "traffic": ["traffic-worker", "--bootstrap", boot, "--topic", topic, "--group", "soak-traffic",
                    "--store", str(store)],
        "seismic": ["seismic-worker", "--bootstrap", boot, "--topic", topic, "--group", "soak-seismic",
                    "--store", str(store), "--model", model, "--threads", "1"],
    }
    procs = {k: subprocess.Popen([sys.executable, "-m", "dasedge.cli", "-v", *c], cwd=ROOT, env=env,
                                 stdout=open(work / f"{k}.log", "wb"), stderr=subprocess.STDOUT)
             for k, c in cmds.items()}
    feed = Feed(boot, topic, args.channels, args.speed)
    feed.start()
    trace = []
    t_start = time.monotonic()
    trace_path = Path(args.out).with_suffix(".jsonl")
    try:
        with open(trace_path, "w") as fh:
            while time.monotonic() - t_start < args.minutes * 60:
                time.sleep(args.sample_s)
                row = {"t_s": round(time.monotonic() - t_start, 1), "sent": feed.sent, "data_s": feed.t_data_s}
                for k, p in procs.items():
                    if p.poll() is not None:
                        raise RuntimeError(f"{k} worker exited with {p.returncode}; see {work / (k + '.log')}")
                    row[f"{k}_lag"] = group_lag(boot, f"soak-{k}", topic)
                    row[f"{k}_rss_mb"] = round(rss_mb(p.pid), 1)
                    row[f"{k}_cpu_s"] = round(cpu_s(p.pid), 1)
                trace.append(row)
                fh.write(json.dumps(row) + "\n")
                fh.flush()
                print(json.dumps(row), flush=True)
    finally:
        feed.stop.set()
        feed.join(timeout=30)
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs.values():
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
        if kafka is not None:
            kafka.stop()
    # summary
    n = len(trace)
    q = max(1, n // 4)
    ts = [r["t_s"] for r in trace]
    mb_s = feed.bytes / (ts[-1] if ts else 1) / 1e6
    summary = {"minutes": args.minutes, "speed": args.speed, "channels": args.channels, "fs_hz": 250.0,
               "input_mb_per_s": round(mb_s, 3), "records": feed.sent, "feed_max_late_s": round(feed.late_s, 2),
               "model": model_kind, "work": str(work), "samples": n}
    for k in procs:
        lag = [r[f"{k}_lag"] for r in trace]
        rss = [r[f"{k}_rss_mb"] for r in trace]
        cpu = [r[f"{k}_cpu_s"] for r in trace]
        half = n // 2
        window_records = 60 if k == "traffic" else 2  # records a window holds back before it can commit
        summary[k] = {
            "lag_first_quarter_max": max(lag[:q]), "lag_last_quarter_max": max(lag[-q:]), "lag_last": lag[-1],
            "keeps_up": max(lag[-q:]) <= 2 * max(lag[:q]) + window_records,
            "rss_mb_first": rss[0], "rss_mb_last": rss[-1], "rss_mb_max": max(rss),
            "rss_slope_mb_per_min_second_half": round(slope_mb_per_min(ts[half:], rss[half:]), 3),
            "cpu_fraction_of_one_core": round((cpu[-1] - cpu[0]) / max(ts[-1] - ts[0], 1e-9), 3),
        }
        summary[k]["memory_flat"] = abs(summary[k]["rss_slope_mb_per_min_second_half"]) < 1.0
    Path(args.out).write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
