"""Streaming throughput through the real Apache Kafka broker.

Measures, in one run on one broker:

1. **ingest**: OptoDAS files -> ``Ingest.replay(speed=None)`` -> broker (acks=all, idempotent);
2. **bare**: a plain kafka-python consumer reading the same topic (no decode, no group);
3. **runtime**: ``dasedge.streaming.runtime.Worker`` (consumer group, zero-copy decode,
   sliding windows, ``process`` + ``sink`` + commit per poll) on the same topic.

bare and runtime are repeated alternately; the report gives medians and the ratio
runtime / bare (goal >= 0.8).  Timing starts at the first record received, so group
join time is excluded.

    .venv/bin/python bench/bench_streaming.py [--seconds 40] [--channels 500] [--fs 1000]
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dasedge.block import DASBlock  # noqa: E402
from dasedge.io.optodas import write_tree  # noqa: E402
from dasedge.streaming.broker import MESSAGE_MAX_BYTES, LocalKafka  # noqa: E402
from dasedge.streaming.ingest import Ingest, IngestConfig  # noqa: E402
from dasedge.streaming.runtime import WindowSpec, Worker  # noqa: E402
from dasedge.streaming.topics import create_topic  # noqa: E402
from dasedge.machine import cpu_model  # noqa: E402


def machine() -> str:
    cpu = cpu_model()
    load = os.getloadavg()
    return f"nproc {os.cpu_count()}, {cpu}, load average {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f} at start"


def make_archive(root: Path, seconds: int, fs: int, nch: int, file_s: int = 10) -> int:
    rng = np.random.default_rng(0)
    t0 = 1_767_225_600 * 10**9
    blocks = []
    for i in range(seconds // file_s):
        data = np.cumsum(rng.standard_normal((file_s * fs, nch), dtype=np.float32), axis=0)
        blocks.append(DASBlock(data=data, t0_ns=t0 + i * file_s * 10**9, dt_s=1 / fs,
                               distance_m=np.arange(nch) * 2.0, gauge_length_m=8.0))
    write_tree(blocks, root, "bench", raw_int=False)
    return sum(b.data.nbytes for b in blocks)


def bare_consume(bootstrap: str, topic: str, n: int) -> tuple[float, int]:
    from kafka import KafkaConsumer

    c = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                      max_partition_fetch_bytes=MESSAGE_MAX_BYTES, fetch_max_bytes=64 * 1024 * 1024,
                      enable_auto_commit=False, group_id=None)
    got, nbytes, t_first = 0, 0, None
    cpu0 = time.process_time()
    while got < n:
        for recs in c.poll(timeout_ms=1000).values():
            if t_first is None:
                t_first = time.perf_counter()
            for r in recs:
                got += 1
                nbytes += len(r.value)
    el = time.perf_counter() - t_first
    cpu = time.process_time() - cpu0
    c.close()
    return el, nbytes, cpu


def runtime_consume(bootstrap: str, topic: str, n: int, spec: WindowSpec) -> tuple[float, int, int]:
    results = []

    def process(w, state):
        return [(w.fiber_id, w.t0_ns, float(w.data[0, 0]))]

    w = Worker(bootstrap, topic, f"bench-{uuid.uuid4().hex[:6]}", process, results.extend, window=spec,
               max_poll_records=16, prometheus=False)
    t_first = None
    cpu0 = time.process_time()
    while w.metrics.records < n:
        w.poll_once(1000)
        if t_first is None and w.metrics.records:
            t_first = time.perf_counter()
    el = time.perf_counter() - t_first
    cpu = time.process_time() - cpu0
    w.close()
    return el, w.metrics.bytes, w.metrics.windows, cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=60, help="seconds of data (multiple of 10)")
    ap.add_argument("--fs", type=int, default=1000)
    ap.add_argument("--channels", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "streaming.md")
    args = ap.parse_args()
    spec = WindowSpec(length_s=2.0, step_s=1.0)
    env = os.environ.get("KAFKA_BOOTSTRAP")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        kafka = None
        if env:
            bootstrap = env
        else:
            kafka = LocalKafka(tmp / "kafka").start()
            bootstrap = kafka.bootstrap
        try:
            header = machine()
            raw = make_archive(tmp / "archive", args.seconds, args.fs, args.channels)
            topic = create_topic(bootstrap, f"bench-{uuid.uuid4().hex[:6]}", 1)
            ing = Ingest(bootstrap, tmp / "ledger.sqlite", IngestConfig(topic=topic, chunk_s=1.0, fiber_id="bench"))
            t = time.perf_counter()
            stats = ing.replay([tmp / "archive"], speed=None)
            t_ing = time.perf_counter() - t
            ing.close()
            n = stats.records
            bare, rt = [], []
            for _ in range(args.repeats):
                bare.append(bare_consume(bootstrap, topic, n))
                rt.append(runtime_consume(bootstrap, topic, n, spec))
        finally:
            if kafka is not None:
                kafka.stop()
    rec_mb = stats.bytes / n / 1e6
    bare_mbs = statistics.median(nb / el / 1e6 for el, nb, _ in bare)
    rt_mbs = statistics.median(nb / el / 1e6 for el, nb, _, _ in rt)
    rt_blocks = statistics.median(n / el for el, _, _, _ in rt)
    bare_blocks = statistics.median(n / el for el, _, _ in bare)
    rt_windows = statistics.median(nw / el for el, _, nw, _ in rt)
    bare_cpu = statistics.median(cpu / (nb / 1e9) for _, nb, cpu in bare)
    rt_cpu = statistics.median(cpu / (nb / 1e9) for _, nb, _, cpu in rt)
    ratio = rt_mbs / bare_mbs
    lines = [
        "# Streaming benchmark (real Apache Kafka 4.3.1, KRaft, same host)",
        "",
        f"- date: {_dt.datetime.now(_dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {header} (broker, producer and consumers share these cores)",
        f"- data: {args.seconds} s x {args.channels} ch x {args.fs} Hz float32 = {raw / 1e6:.0f} MB in "
        f"{args.seconds // 10} OptoDAS files; 1 s blocks = {n} records of {rec_mb:.2f} MB, 1 partition",
        f"- runtime: window {spec.length_s:g} s every {spec.step_s:g} s (each sample copied into 2 windows), "
        "trivial process, in-memory sink, commit after every poll (max_poll_records 16)",
        f"- medians of {args.repeats} alternating runs; clocks start at the first record (group join excluded)",
        "",
        "| stage | blocks/s | MB/s | consumer CPU s per GB |",
        "|---|---|---|---|",
        f"| ingest: files -> broker (read + encode + idempotent acks=all) | {n / t_ing:.1f} | {stats.bytes / t_ing / 1e6:.1f} | |",
        f"| bare kafka-python consumer (no decode) | {bare_blocks:.1f} | {bare_mbs:.1f} | {bare_cpu:.2f} |",
        f"| dasedge runtime: decoded windows | {rt_blocks:.1f} | {rt_mbs:.1f} | {rt_cpu:.2f} |",
        "",
        f"**runtime / bare throughput = {ratio:.2f}** (goal >= 0.80); windows/s = {rt_windows:.1f}; "
        f"CPU per GB runtime / bare = {rt_cpu / bare_cpu:.2f}",
        "",
        "Raw runs (wall s): bare " + ", ".join(f"{r[0]:.2f}" for r in bare)
        + "; runtime " + ", ".join(f"{r[0]:.2f}" for r in rt),
        "",
        "Notes: on a shared, overloaded 2-core box the wall-clock ratio is dominated by scheduling noise "
        "(single runs vary 2x); the CPU-per-GB ratio is the steadier figure for the runtime's own cost "
        "(zero-copy decode + one window copy + validation + commit per poll). Both consumers fetch with "
        "the same size limits (32 MiB per partition, 64 MiB per fetch).",
        "",
        "Reproduce: `.venv/bin/python bench/bench_streaming.py`"
        + (f" --seconds {args.seconds}" if args.seconds != 60 else ""),
        "",
    ]
    text = "\n".join(lines)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
