"""Small helpers shared by the streaming integration tests."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import numpy as np
from kafka import KafkaConsumer, KafkaProducer

from dasedge.block import DASBlock
from dasedge.streaming.broker import MESSAGE_MAX_BYTES
from dasedge.streaming.codec import encode_block

T0 = 1_767_225_600 * 10**9  # 2026-01-01T00:00:00Z, on every window grid


def ramp_block(fiber: str, i: int, *, n: int = 100, nch: int = 8, dt: float = 0.01, seq: int | None = None) -> DASBlock:
    """Block ``i`` of a fiber: sample k of channel c = k + 10000 c (+ a fiber offset)."""
    off = 1e6 * (sum(map(ord, fiber)) % 97)
    k = np.arange(i * n, (i + 1) * n, dtype=np.float64)[:, None]
    data = (k + 10000 * np.arange(nch)[None, :] + off).astype(np.float32)
    return DASBlock(data=data, t0_ns=T0 + round(i * n * dt * 1e9), dt_s=dt, distance_m=np.arange(nch) * 4.0,
                    fiber_id=fiber, seq=i if seq is None else seq)


def expected_window(fiber: str, start_ns: int, length_s: float, *, nch: int = 8, dt: float = 0.01) -> np.ndarray:
    off = 1e6 * (sum(map(ord, fiber)) % 97)
    k0 = round((start_ns - T0) / 1e9 / dt)
    k = np.arange(k0, k0 + round(length_s / dt), dtype=np.float64)[:, None]
    return (k + 10000 * np.arange(nch)[None, :] + off).astype(np.float32)


def producer(bootstrap: str) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=MESSAGE_MAX_BYTES, linger_ms=5)


def produce_blocks(bootstrap: str, topic: str, blocks, partition: int | None = None) -> None:
    p = producer(bootstrap)
    futs = [p.send(topic, key=k, value=v, headers=h, partition=partition) for b in blocks for k, v, h in encode_block(b)]
    p.flush()
    for f in futs:
        f.get(timeout=60)
    p.close()


def consume_all(bootstrap: str, topic: str, idle_ms: int = 4000) -> list:
    """Every record currently on ``topic`` (no group)."""
    c = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                      max_partition_fetch_bytes=MESSAGE_MAX_BYTES, fetch_max_bytes=64 * 1024 * 1024,
                      consumer_timeout_ms=idle_ms)
    out = list(c)
    c.close()
    return out


class SqliteSink:
    """Idempotent sink: upsert rows keyed by id (like the real result store)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE IF NOT EXISTS r (id TEXT PRIMARY KEY, fiber TEXT, start_ns INTEGER, "
                   "checksum REAL, n INTEGER, writes INTEGER DEFAULT 1)")
        db.commit()
        db.close()

    def __call__(self, rows: list[dict]) -> None:
        db = sqlite3.connect(self.path)
        with db:
            db.executemany(
                "INSERT INTO r (id, fiber, start_ns, checksum, n) VALUES (:id, :fiber, :start_ns, :checksum, :n) "
                "ON CONFLICT(id) DO UPDATE SET checksum=excluded.checksum, n=excluded.n, writes=writes+1",
                rows,
            )
        db.close()

    def rows(self) -> list[tuple]:
        db = sqlite3.connect(self.path)
        out = db.execute("SELECT id, fiber, start_ns, checksum, n, writes FROM r ORDER BY fiber, start_ns").fetchall()
        db.close()
        return out


def window_row(w: DASBlock, state: dict) -> list[dict]:
    """A pure 'process': one result per window (id = fiber|start), with a running count in state."""
    state["n"] = state.get("n", 0) + 1
    start = int(w.attrs["window_start_ns"])
    return [{"id": f"{w.fiber_id}|{start}", "fiber": w.fiber_id, "start_ns": start,
             "checksum": float(np.asarray(w.data, dtype=np.float64).sum()), "n": state["n"]}]


def wait_for(cond, timeout_s: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
