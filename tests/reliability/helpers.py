"""Shared parts of the reliability tests: scenes, publishing, worker subprocesses, results."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- scenes
def spike_scene(fiber_id: str = "fiber0", seed: int = 31, duration_s: float = 40.0, n_channels: int = 120):
    """A synthetic earthquake scene the tiny test ONNX model picks exactly (spikes at arrivals)."""
    from dasedge.synth.quake import simulate_quake_scene
    from tests.seismic.helpers import spike_block

    events = [dict(origin_s=9.0, x_m=-2500.0, y_m=1500.0, depth_m=4000.0, magnitude=2.0),
              dict(origin_s=24.0, x_m=3500.0, y_m=-2000.0, depth_m=5000.0, magnitude=2.0)]
    blk, truth = simulate_quake_scene(n_channels=n_channels, dx_m=8.0, duration_s=duration_s, events=events,
                                      seed=seed, snr_db=10.0)
    return spike_block(truth, blk).new(fiber_id=fiber_id), truth


def records_of(blk, block_s: float = 0.5, **encode_kw) -> list[tuple[bytes, bytes, list]]:
    from dasedge.streaming.codec import encode_block

    n = int(round(block_s / blk.dt_s))
    out = []
    for i in range(0, blk.n_time, n):
        out += encode_block(blk.select(samples=slice(i, i + n)).new(seq=i // n), **encode_kw)
    return out


def publish(bootstrap: str, topic: str, records, partition: int | None = None) -> int:
    from kafka import KafkaProducer

    from dasedge.streaming.broker import MESSAGE_MAX_BYTES

    prod = KafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=MESSAGE_MAX_BYTES, linger_ms=5)
    futs = [prod.send(topic, key=k, value=v, headers=h, partition=partition) for k, v, h in records]
    prod.flush()
    for f in futs:
        f.get(timeout=60)
    prod.close()
    return len(futs)


def partition_of(key: bytes, n_partitions: int) -> int:
    """Partition kafka-python's default partitioner gives ``key`` (murmur2, like the JVM client)."""
    from kafka.partitioner.default import murmur2

    return (murmur2(key) & 0x7FFFFFFF) % n_partitions


def fibers_on_distinct_partitions(n: int, n_partitions: int, prefix: str = "fiber") -> list[str]:
    out, used, i = [], set(), 0
    while len(out) < n:
        name = f"{prefix}{i}"
        p = partition_of(name.encode(), n_partitions)
        if p not in used:
            used.add(p)
            out.append(name)
        i += 1
    return out


# --------------------------------------------------------------- workers
@dataclass
class WorkerProc:
    """``dasedge seismic-worker`` as a real subprocess."""

    argv: list[str]
    log: Path
    proc: subprocess.Popen | None = None
    kills: int = 0
    starts: int = 0
    history: list[int] = field(default_factory=list)

    def start(self) -> "WorkerProc":
        env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
        out = open(self.log, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "dasedge.cli", *self.argv], cwd=ROOT, env=env,
                                     stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        out.close()
        self.starts += 1
        return self

    def kill9(self) -> None:
        assert self.proc is not None and self.proc.poll() is None, "worker already exited"
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.kills += 1

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"worker did not finish within {timeout} s; log tail:\n{self.tail()}") from None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.proc.kill()
            self.proc.wait()

    def tail(self, n: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return ""


def seismic_worker(bootstrap: str, topic: str, group: str, store: Path, model: Path, log: Path,
                   idle_timeout: float = 8.0, extra: list[str] | None = None) -> WorkerProc:
    argv = ["seismic-worker", "--bootstrap", bootstrap, "--topic", topic, "--group", group, "--store", str(store),
            "--model", str(model), "--preset", "latency", "--threads", "1", "--idle-timeout", str(idle_timeout),
            *(extra or [])]
    return WorkerProc(argv, log)


def seismic_held_back_records(block_s: float = 1.0, record_s: float = 0.5, preset: str = "latency") -> int:
    """Records at the end of a finite stream a seismic worker leaves uncommitted on purpose.

    Its runtime windows are the picker's restart context plus one block long and step by one
    block, so the last ``window - block`` seconds stay pinned (they are re-read after a restart).
    """
    from pipelines.seismic.picking import PickerConfig
    from pipelines.seismic.worker import restart_window_s

    window_s = restart_window_s(PickerConfig.preset(preset), block_s)
    return int(round((window_s - block_s) / record_s))


def committed(bootstrap: str, group: str, topic: str) -> int:
    """Sum of the group's committed offsets on ``topic`` (0 if none)."""
    from kafka import KafkaConsumer
    from kafka.structs import TopicPartition

    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                      client_id="rel-probe")
    try:
        parts = c.partitions_for_topic(topic) or set()
        total = 0
        for p in parts:
            off = c.committed(TopicPartition(topic, p))
            total += off or 0
        return total
    finally:
        c.close(autocommit=False)


def wait_committed(bootstrap: str, group: str, topic: str, target: int, timeout: float, procs=()) -> int:
    deadline = time.monotonic() + timeout
    c = 0
    while time.monotonic() < deadline:
        c = committed(bootstrap, group, topic)
        if c >= target:
            return c
        for p in procs:
            if not p.alive():
                raise AssertionError(f"worker exited early (rc {p.proc.returncode}):\n{p.tail()}")
        time.sleep(0.3)
    raise AssertionError(f"group {group} committed {c} < {target} within {timeout} s")


# --------------------------------------------------------------- results
def seismic_results(store: Path) -> tuple[dict[str, tuple], dict[str, tuple]]:
    """``picks: id -> (fiber, t_ns, channel, phase)`` and final ``events: id -> (origin_ns, status, ...)``."""
    db = sqlite3.connect(str(store))
    try:
        picks = {r[0]: tuple(r[1:]) for r in db.execute("SELECT id, fiber_id, t_ns, channel, phase FROM picks")}
        events = {r[0]: tuple(r[1:]) for r in db.execute(
            "SELECT id, fiber_id, origin_ns, status, magnitude, depth_m FROM events")}
        n_rows = db.execute("SELECT COUNT(*) FROM picks").fetchone()[0]
        assert n_rows == len(picks)
        ok = db.execute("PRAGMA integrity_check").fetchone()[0]
        assert ok == "ok", ok
    finally:
        db.close()
    return picks, events


def compare(ref: dict, got: dict) -> tuple[int, int]:
    """``(lost, extra)``: ids in the reference missing from ``got``, and ids ``got`` has that the
    reference has not (a re-emitted result with a different id = a duplicate)."""
    return len(set(ref) - set(got)), len(set(got) - set(ref))


def rng_fractions(seed: int, n: int, lo: float = 0.15, hi: float = 0.85) -> list[float]:
    return sorted(np.random.default_rng(seed).uniform(lo, hi, n).tolist())


# --------------------------------------------------------- hanging reader
SILIXA_SAMPLE = "silixa_h5_1.hdf5"
#: byte range of the Silixa sample (global heap of its string attributes) whose zeroing makes
#: libhdf5 (h5py 3.16 / HDF5 2.0.0) loop forever in C inside ``io.scan``; found by the file fuzzer
SILIXA_HANG_RANGE = (770728, 771205)


def corrupted_silixa(src_dir: Path, dst: Path) -> Path:
    """A copy of the Silixa sample with the heap range above zeroed (hangs the HDF5 library)."""
    data = bytearray((Path(src_dir) / SILIXA_SAMPLE).read_bytes())
    a, b = SILIXA_HANG_RANGE
    data[a:b] = bytes(b - a)
    dst.write_bytes(bytes(data))
    return dst


def probe_or_hang(path: str):
    """Ingest probe target for tests: a file named ``hang-*`` blocks the reader forever
    (like libhdf5 on a corrupted attribute), ``crash-*`` kills the reader process with SIGSEGV;
    any other file is probed normally."""
    if Path(path).name.startswith("hang-"):
        while True:
            time.sleep(3600)
    if Path(path).name.startswith("crash-"):  # a reader that kills its process (like a segfault in C)
        os.kill(os.getpid(), signal.SIGSEGV)
    from dasedge.streaming.ingest import probe_file

    return probe_file(path)


def probe_children(parent_pid: int) -> list[int]:
    """PIDs of live ingest probe children started by ``parent_pid`` (from their environment)."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            env = (d / "environ").read_bytes().split(b"\0")
            state = (d / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if f"DASEDGE_PROBE_PARENT={parent_pid}".encode() in env and state != "Z":
            out.append(int(d.name))
    return out
