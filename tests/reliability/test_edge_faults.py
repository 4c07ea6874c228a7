"""Edge faults: disk nearly full under the SQLite store, the interrogator writing partial /
gapped / re-configured files, and kill -9 of the ingest bridge mid-file."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from dasedge import io
from dasedge.block import DASBlock
from dasedge.records import Vehicle, stable_id
from dasedge.streaming.runtime import WindowSpec, run_worker

from .helpers import ROOT

T0 = 1_700_000_000 * 10**9
FS = 50.0


# ------------------------------------------------------------ disk full
def _vehicles(lo: int, hi: int) -> list[Vehicle]:
    return [Vehicle(id=stable_id("veh", i, prefix="v_"), fiber_id="f", t_start_ns=T0 + i * 10**9,
                    t_end_ns=T0 + i * 10**9 + 4 * 10**9, x_start_m=0.0, x_end_m=500.0, speed_kmh=60.0,
                    direction=1, vehicle_class="car", t_ref_ns=T0 + i * 10**9 + 2 * 10**9) for i in range(lo, hi)]


def test_disk_nearly_full_sqlite_store(tmp_path):
    """The store is capped with ``PRAGMA max_page_count`` (a full disk to SQLite): a write that
    does not fit fails as a whole with ``database or disk is full``; nothing before it is lost,
    the file stays consistent, and the same batch succeeds once space is back (idempotent)."""
    from service.store import open_store

    path = tmp_path / "edge.sqlite"
    store = open_store(path)
    conn = store.db.conn()
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count={pages + 40}")
    batch, i, failed_at, error = 50, 0, None, None
    while i < 20000:
        try:
            store.put_vehicles(_vehicles(i, i + batch))
        except sqlite3.OperationalError as exc:
            failed_at, error = i, str(exc)
            break
        i += batch
    assert failed_at is not None, "the capped store never filled up"
    assert "full" in error
    n_ok = conn.execute("SELECT COUNT(*) FROM vehicles").fetchone()[0]
    assert n_ok == failed_at  # every earlier batch kept, the failing batch not half-written
    assert conn.execute("SELECT COUNT(*) FROM outbox WHERE kind='vehicle'").fetchone()[0] == n_ok
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # space is back: the same batch (a retried sink) goes through, then the rest
    conn.execute("PRAGMA max_page_count=1073741823")
    store.put_vehicles(_vehicles(failed_at, failed_at + batch))
    store.put_vehicles(_vehicles(0, failed_at + batch))  # a replay after a crash: idempotent
    total = conn.execute("SELECT COUNT(*) FROM vehicles").fetchone()[0]
    store.close()
    db = sqlite3.connect(str(path))
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT COUNT(DISTINCT id) FROM vehicles").fetchone()[0] == total == failed_at + batch
    db.close()
    print(f"disk full: store capped at {pages + 40} pages filled after {failed_at} vehicles ({error!r}); "
          f"integrity ok, 0 lost, 0 duplicated after space returned ({total} vehicles)")


# ---------------------------------------------------------- interrogator
def _block(t0_s: float, dur_s: float, nch: int = 16, seed: int = 0) -> DASBlock:
    rng = np.random.default_rng(seed)
    n = int(dur_s * FS)
    return DASBlock(data=rng.normal(size=(n, nch)).astype(np.float32), t0_ns=T0 + int(t0_s * 1e9), dt_s=1 / FS,
                    distance_m=np.arange(nch) * 4.0, gauge_length_m=8.0, fiber_id="fiber0")


class Collector:
    """``process`` for the runtime that records every window it sees."""

    def __init__(self):
        self.windows: list[tuple[int, int, int, bool]] = []

    def __call__(self, w, state):
        self.windows.append((w.t0_ns, w.n_time, w.n_channel, bool(w.attrs.get("after_gap"))))
        return [w.t0_ns]


def _consume(bootstrap, topic, group, idle=6.0):
    col, sunk = Collector(), []
    m = run_worker(bootstrap, topic, group, col, sunk.extend, WindowSpec(length_s=1.0, step_s=1.0),
                   idle_timeout_s=idle, prometheus=False)
    return col, sunk, m


def test_interrogator_partial_gap_and_channel_change(kafka_bootstrap, fresh_topic, tmp_path, caplog):
    from dasedge.streaming.ingest import Ingest, IngestConfig

    topic = fresh_topic("rel-files", 1)
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    ing = Ingest(kafka_bootstrap, tmp_path / "ledger.sqlite", IngestConfig(topic=topic, chunk_s=1.0))
    stop = threading.Event()
    caplog.set_level(logging.INFO, logger="dasedge.streaming.ingest")
    th = threading.Thread(target=ing.watch, args=(incoming,), kwargs=dict(poll_s=0.2, stable_polls=2,
                                                                           stop_event=stop), daemon=True)
    th.start()

    def wait_status(p, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = ing.ledger.status(p)
            if s in ("done", "failed", "quarantined"):  # not the transient reading / publishing
                return s
            time.sleep(0.2)
        raise AssertionError(f"{p} never reached the ledger")

    try:
        f1 = io.write(_block(0, 10, seed=1), incoming / "a1.hdf5", fmt="optodas")
        # the interrogator is still writing f2 under a temporary name
        tmp2 = io.write(_block(10, 10, seed=2), tmp_path / "a2.hdf5", fmt="optodas")
        part = incoming / "a2.hdf5.part"
        part.write_bytes(tmp2.read_bytes()[: tmp2.stat().st_size // 2])
        assert wait_status(f1) == "done"
        time.sleep(1.0)
        assert ing.ledger.status(part) is None and ing.ledger.status(incoming / "a2.hdf5") is None
        part.write_bytes(tmp2.read_bytes())
        part.rename(incoming / "a2.hdf5")
        assert wait_status(incoming / "a2.hdf5") == "done"
        # a file cut short by an interrogator crash (final name, truncated content)
        bad = io.write(_block(20, 10, seed=3), tmp_path / "a3.hdf5", fmt="optodas")
        (incoming / "a3.hdf5").write_bytes(bad.read_bytes()[: bad.stat().st_size * 2 // 3])
        assert wait_status(incoming / "a3.hdf5") == "failed"
        # a time gap of 5 s, then a re-configured interrogator (24 channels instead of 16)
        f4 = io.write(_block(35, 10, seed=4), incoming / "a4.hdf5", fmt="optodas")
        assert wait_status(f4) == "done"
        f5 = io.write(_block(45, 10, nch=24, seed=5), incoming / "a5.hdf5", fmt="optodas")
        assert wait_status(f5) == "done"
    finally:
        stop.set()
        th.join(timeout=30)
        ing.close()
    reason = [r for r in caplog.records if "a3.hdf5" in r.getMessage() and r.levelname == "ERROR"]
    assert reason, "the truncated file was not logged"

    col, sunk, m = _consume(kafka_bootstrap, topic, "files")
    starts = [w[0] for w in col.windows]
    expected = [T0 + s * 10**9 for s in list(range(0, 20)) + list(range(35, 55))]
    assert starts == expected, (len(starts), len(expected))  # a3 (failed) absent, nothing else lost
    assert len(set(starts)) == len(starts) == len(sunk)
    assert {w[2] for w in col.windows if w[0] >= T0 + 45 * 10**9} == {24}
    flagged = [w[0] for w in col.windows if w[3]]
    assert T0 + 35 * 10**9 in flagged and m["gaps"] >= 1
    print(f"interrogator files: 5 written (1 via .part rename, 1 truncated, 1 after a 5 s gap, 1 with 24 channels): "
          f"{len(starts)} windows = expected, truncated file failed with reason {reason[0].getMessage()[:120]!r}; "
          f"gaps counted {m['gaps']:.0f}, after_gap windows {len(flagged)}")


# ---------------------------------------------------------------- ingest
def test_kill9_ingest_mid_file(kafka_bootstrap, fresh_topic, tmp_path):
    """``dasedge ingest replay`` killed -9 mid-file three times: the re-published chunks carry
    the same seq numbers, the consumer drops them, every window exactly once."""
    topic = fresh_topic("rel-ingest", 1)
    arch = tmp_path / "archive"
    arch.mkdir()
    for k in range(3):
        io.write(_block(30 * k, 30, seed=10 + k), arch / f"f{k}.hdf5", fmt="optodas")
    argv = [sys.executable, "-m", "dasedge.cli", "ingest", "replay", str(arch), "--bootstrap", kafka_bootstrap,
            "--topic", topic, "--ledger", str(tmp_path / "ledger.sqlite"), "--speed", "15"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    from kafka import KafkaConsumer
    from kafka.structs import TopicPartition

    probe = KafkaConsumer(bootstrap_servers=kafka_bootstrap)
    tp = TopicPartition(topic, 0)

    def end():
        return probe.end_offsets([tp])[tp]

    kills, rng = 0, np.random.default_rng(2)
    for _ in range(3):
        p = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        before = end()
        target = before + int(rng.integers(5, 25))
        deadline = time.monotonic() + 180
        while end() < target and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            kills += 1
        p.wait()
    p = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    n_records = end()
    probe.close()
    col, sunk, m = _consume(kafka_bootstrap, topic, "ingest-kill")
    starts = [w[0] for w in col.windows]
    assert starts == [T0 + s * 10**9 for s in range(90)], len(starts)
    print(f"ingest kill -9 x{kills}: {n_records} records on the topic for 90 chunks ({n_records - 90} re-sent); "
          f"consumer dropped {m['duplicates']:.0f} duplicates; 90/90 windows exactly once")
    assert kills >= 2 and n_records >= 90 and m["duplicates"] == n_records - 90


# ------------------------------------------------------- hanging reader
def _topic_end(bootstrap, topic) -> int:
    from kafka import KafkaConsumer
    from kafka.structs import TopicPartition

    c = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        tp = TopicPartition(topic, 0)
        return c.end_offsets([tp])[tp]
    finally:
        c.close()


def _assert_windows_once(bootstrap, topic, group, seconds, n_records) -> None:
    """The topic holds ``n_records`` records, and a fresh consumer builds exactly the windows
    starting at ``T0 + seconds`` (s), none of them twice."""
    col, _, m = _consume(bootstrap, topic, group)
    starts = [w[0] for w in col.windows]
    assert starts == [T0 + s * 10**9 for s in seconds], len(starts)
    assert _topic_end(bootstrap, topic) == n_records and m["duplicates"] == 0


def test_reader_hang_quarantines_the_file_and_ingest_goes_on(kafka_bootstrap, fresh_topic, das_samples, tmp_path,
                                                            caplog):
    """Two files that hang the reader - the real corrupted Silixa attribute (libhdf5 loops in C)
    and one blocked by a test reader hook - between good files: each hang costs one probe child
    and ``probe_timeout_s``; both files are quarantined (moved aside, reason logged), every
    window of the good files arrives exactly once."""
    from dasedge.streaming.ingest import Ingest, IngestConfig

    from .helpers import corrupted_silixa

    topic = fresh_topic("rel-hang", 1)
    incoming, qdir = tmp_path / "incoming", tmp_path / "quarantine"
    incoming.mkdir()
    io.write(_block(0, 10, seed=21), incoming / "a1.hdf5", fmt="optodas")
    corrupted_silixa(das_samples, incoming / "b-corrupted-silixa.hdf5")
    io.write(_block(10, 10, seed=22), incoming / "c2.hdf5", fmt="optodas")
    io.write(_block(20, 10, seed=23), incoming / "hang-d.hdf5", fmt="optodas")  # valid, but the hook hangs
    io.write(_block(30, 10, seed=24), incoming / "e3.hdf5", fmt="optodas")
    caplog.set_level(logging.INFO, logger="dasedge.streaming.ingest")
    ing = Ingest(kafka_bootstrap, tmp_path / "ledger.sqlite",
                 IngestConfig(topic=topic, chunk_s=1.0, probe_timeout_s=4.0, quarantine_dir=str(qdir),
                              probe_target="tests.reliability.helpers:probe_or_hang"))
    try:
        stats = ing.watch(incoming, poll_s=0.2, stable_polls=1, idle_exit_s=3.0)
        restarts = ing.probe_.restarts
        rows = {os.path.basename(r["path"]): r for r in ing.ledger.files()}
    finally:
        ing.close()
    for name in ("a1.hdf5", "c2.hdf5", "e3.hdf5"):
        assert rows[name]["status"] == "done", rows[name]
    hung = ["hang-d.hdf5", "b-corrupted-silixa.hdf5"]
    for name in hung:
        assert rows[name]["status"] == "quarantined", rows[name]
        assert "no answer within 4 s" in rows[name]["reason"]
        assert not (incoming / name).exists() and (qdir / name).exists()  # routed aside
        assert any(name in r.getMessage() and r.levelname == "ERROR" for r in caplog.records)
    assert stats.files_done == 3 and stats.files_quarantined == 2 and restarts == 2

    _assert_windows_once(kafka_bootstrap, topic, "hang", list(range(0, 20)) + list(range(30, 40)), n_records=30)
    print(f"reader hang: 2 of 5 files hung the reader (real corrupted Silixa attribute + hook), both quarantined "
          f"after 4 s each ({restarts} probe children killed), 30/30 windows of the 3 good files exactly once; "
          f"reason {rows['b-corrupted-silixa.hdf5']['reason'][:110]!r}")


def test_kill9_while_reading_quarantines_at_restart(kafka_bootstrap, fresh_topic, tmp_path):
    """``dasedge ingest watch`` killed -9 while a file hangs its reader (ledger ``reading``): the
    probe child dies with it; the restarted ingest quarantines that file without opening it again
    and publishes the others, each exactly once."""
    from dasedge.streaming.ingest import Ledger

    from .helpers import probe_children

    topic = fresh_topic("rel-reading", 1)
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    io.write(_block(0, 10, seed=31), incoming / "a1.hdf5", fmt="optodas")
    io.write(_block(10, 10, seed=32), incoming / "hang-b.hdf5", fmt="optodas")
    io.write(_block(20, 10, seed=33), incoming / "z2.hdf5", fmt="optodas")
    ledger = tmp_path / "ledger.sqlite"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DASEDGE_PROBE_TARGET": "tests.reliability.helpers:probe_or_hang"}

    def argv(timeout):
        return [sys.executable, "-m", "dasedge.cli", "ingest", "watch", str(incoming), "--bootstrap",
                kafka_bootstrap, "--topic", topic, "--ledger", str(ledger), "--poll-s", "0.2", "--stable-polls", "1",
                "--probe-timeout", str(timeout), "--idle-exit-s", "3"]

    p = subprocess.Popen(argv(3600), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline, status = time.monotonic() + 180, None
    while time.monotonic() < deadline and p.poll() is None:
        if ledger.exists():
            led = Ledger(ledger)
            status = led.status(incoming / "hang-b.hdf5")
            done_a = led.status(incoming / "a1.hdf5")
            led.close()
            if status == "reading" and done_a == "done":
                break
        time.sleep(0.2)
    assert status == "reading", (status, p.poll(), p.stderr.read().decode()[-2000:] if p.poll() is not None else "")
    children = probe_children(p.pid)
    assert children, "no probe child found"
    p.send_signal(signal.SIGKILL)
    p.wait()
    p.stderr.close()
    deadline = time.monotonic() + 30
    while probe_children(p.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert probe_children(p.pid) == [], "the hung probe child outlived the killed ingest"

    r = subprocess.run(argv(3600), cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    summary = __import__("json").loads(r.stdout.strip().splitlines()[-1])
    assert "quarantined at restart, not retried" in r.stderr and "hang-b.hdf5" in r.stderr
    led = Ledger(ledger)
    try:
        st = {os.path.basename(e["path"]): (e["status"], e["reason"]) for e in led.files()}
    finally:
        led.close()
    assert st["hang-b.hdf5"][0] == "quarantined" and "not retried" in st["hang-b.hdf5"][1]
    assert st["a1.hdf5"][0] == st["z2.hdf5"][0] == "done"
    assert summary["files_quarantined"] == 1 and summary["files_done"] == 1  # only z2 (sorted after hang-b) left to do
    _assert_windows_once(kafka_bootstrap, topic, "reading-kill", list(range(0, 10)) + list(range(20, 30)),
                         n_records=20)
    print(f"kill -9 during 'reading': probe child {children} died with the ingest; at restart the file was "
          f"quarantined without being opened (the hook would have hung it for 3600 s), 20/20 windows of the "
          f"2 good files exactly once")


def test_metadata_probe_hang_crash_and_bad_file(das_samples, tmp_path):
    """The probe child returns the same metadata as an in-process scan, turns a hang (real
    corrupted Silixa file) and a crash (SIGSEGV) into ``ProbeFailed`` with the reason, a bad file
    into ``DASFileError``, and keeps serving the next files with a fresh child."""
    import shutil

    from dasedge.streaming.ingest import MetadataProbe, ProbeFailed

    from .helpers import corrupted_silixa

    good = das_samples / "decimated_optodas.hdf5"
    crash = shutil.copy(good, tmp_path / "crash-a.hdf5")
    junk = tmp_path / "junk.hdf5"
    junk.write_bytes(b"not hdf5 at all" * 10)
    hung = corrupted_silixa(das_samples, tmp_path / "corrupted.hdf5")
    probe = MetadataProbe(timeout_s=3.0, target="tests.reliability.helpers:probe_or_hang")
    try:
        ref = io.scan(good)
        got = probe.scan(good)
        assert (got.format, got.n_time, got.n_channel, got.t0_ns, got.dt_s) == (
            ref.format, ref.n_time, ref.n_channel, ref.t0_ns, ref.dt_s)
        assert np.array_equal(got.distance_m, ref.distance_m)
        with pytest.raises(ProbeFailed, match="no answer within 3 s"):
            probe.scan(hung)
        with pytest.raises(ProbeFailed, match=r"died \(exit status -11\)"):
            probe.scan(crash)
        with pytest.raises(io.DASFileError, match="junk.hdf5: not an HDF5 file"):
            probe.scan(junk)
        assert probe.scan(good).n_time == ref.n_time and probe.restarts == 2
    finally:
        probe.close()
    print(f"metadata probe: hang -> ProbeFailed after 3 s, SIGSEGV -> ProbeFailed, junk -> DASFileError; "
          f"{probe.restarts} children replaced, metadata identical to io.scan")
