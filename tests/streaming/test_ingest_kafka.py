"""Ingest bridge on the real broker: real files, crash resume, folder watching."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from dasedge import io
from dasedge.block import DASBlock, concat_time
from dasedge.io.optodas import write_tree
from dasedge.streaming.codec import decode_record
from dasedge.streaming.ingest import Ingest, IngestConfig, Ledger
from dasedge.streaming.runtime import WindowSpec, Worker
from tests.streaming.helpers import consume_all, wait_for

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration
SAMPLES = ["decimated_optodas.hdf5", "prodml_2.0.h5"]


def reassemble(records) -> dict[str, DASBlock]:
    """Per fiber, the decoded records in seq/part order glued along time (duplicates dropped)."""
    by_fiber: dict[str, dict] = defaultdict(dict)
    for r in records:
        b = decode_record(r.value, r.headers)
        by_fiber[b.fiber_id][(b.seq, b.attrs["part"])] = b
    return {f: concat_time([d[k] for k in sorted(d)]) for f, d in by_fiber.items()}


def test_real_sample_files_arrive_identical_to_a_direct_read(kafka_bootstrap, fresh_topic, das_samples, tmp_path):
    topic = fresh_topic("real", partitions=2)
    paths = [das_samples / n for n in SAMPLES]
    ing = Ingest(kafka_bootstrap, tmp_path / "ledger.sqlite", IngestConfig(topic=topic, chunk_s=1.0, fiber_id="{stem}"))
    stats = ing.replay(paths, speed=None)
    ing.close()
    assert (stats.files_done, stats.files_failed) == (2, 0)
    direct = {p.stem: io.read(p) for p in paths}
    # 1. every record, reassembled, equals the file
    got = reassemble(consume_all(kafka_bootstrap, topic))
    assert set(got) == set(direct)
    for stem, ref in direct.items():
        b = got[stem]
        np.testing.assert_array_equal(b.data, ref.data)
        assert (b.t0_ns, b.dt_s, b.gauge_length_m, b.data_type, b.data_units) == (
            ref.t0_ns, ref.dt_s, ref.gauge_length_m, ref.data_type, ref.data_units)
        np.testing.assert_allclose(b.distance_m, ref.distance_m, rtol=0, atol=1e-9)
        np.testing.assert_array_equal(b.channel_index, ref.channel_index)
    # 2. the consumer runtime cuts windows whose samples equal a direct windowed read
    windows: list[DASBlock] = []
    w = Worker(kafka_bootstrap, topic, "g-real", lambda win, st: [win], windows.extend,
               window=WindowSpec(length_s=2.0, step_s=1.5))
    m = w.run(idle_timeout_s=5)
    assert m["dlq_total"] == 0 and m["gaps_total"] == 0
    for stem, ref in direct.items():
        mine = [x for x in windows if x.fiber_id == stem]
        n_len = round(2.0 / ref.dt_s)
        # expected count from the file's time span alone: grid starts k*1.5 s inside [t0, t_end - 2 s]
        step = 1_500_000_000
        first = -(-ref.t0_ns // step) * step
        n_expect = (ref.t_end_ns - 2_000_000_000 - first) // step + 1
        assert len(mine) == n_expect
        for x in mine:
            assert x.n_time == n_len
            direct_win = io.read(das_samples / f"{stem}{Path(SAMPLES[[Path(s).stem for s in SAMPLES].index(stem)]).suffix}",
                                 time=(x.t0_ns, x.t0_ns + round(n_len * ref.dt_s * 1e9)))
            np.testing.assert_array_equal(x.data, direct_win.data)


def _archive(root: Path, n_files: int = 4, seconds: int = 3, fs: int = 200, nch: int = 16) -> list[DASBlock]:
    rng = np.random.default_rng(5)
    t0 = 1_767_225_600 * 10**9
    blocks = []
    for i in range(n_files):
        data = rng.standard_normal((seconds * fs, nch)).astype(np.float32)
        blocks.append(DASBlock(data=data, t0_ns=t0 + i * seconds * 10**9, dt_s=1 / fs,
                               distance_m=np.arange(nch) * 2.0, gauge_length_m=4.0))
    write_tree(blocks, root, "exp", raw_int=False)
    return blocks


def test_ingest_resumes_after_a_crash_without_skipping_files(kafka_bootstrap, fresh_topic, tmp_path):
    topic = fresh_topic("resume")
    root = tmp_path / "archive"
    blocks = _archive(root)  # 4 files x 3 s
    bad = root / "exp" / "20260101" / "dphi" / "000001.hdf5"  # sorts among the good ones
    bad.write_bytes(b"not an hdf5 file at all")
    ledger = tmp_path / "ledger.sqlite"
    cmd = [sys.executable, "-m", "dasedge.cli", "ingest", "replay", str(root), "--bootstrap", kafka_bootstrap,
           "--topic", topic, "--ledger", str(ledger), "--fiber-id", "arch", "--chunk-s", "0.5"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p1 = subprocess.Popen(cmd + ["--speed", "1"], cwd=ROOT, env=env)  # real time: 3 s of wall time per file
    try:
        wait_for(lambda: ledger.exists() and len(Ledger(ledger).files("done")) >= 1, 90, "the first file", 0.05)
        time.sleep(1.3)  # kill in the middle of the second file (chunks leave every 0.5 s)
    finally:
        p1.send_signal(signal.SIGKILL)
        p1.wait(10)
    assert len(Ledger(ledger).files("done")) == 1
    n_before = len(consume_all(kafka_bootstrap, topic, idle_ms=1000))
    assert 6 < n_before < 12, f"{n_before} records before the kill: not in the middle of file 2"
    p2 = subprocess.run(cmd + ["--speed", "max"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert p2.returncode == 0, p2.stderr[-2000:]
    led = Ledger(ledger)
    assert len(led.files("done")) == 4
    failed = led.files("failed")
    assert len(failed) == 1 and failed[0]["path"] == str(bad.resolve()) and "HDF5" in failed[0]["reason"].upper()
    assert led.next_seq("arch") == 4 * 6  # 6 chunks of 0.5 s per file
    records = consume_all(kafka_bootstrap, topic)
    decoded = [decode_record(r.value, r.headers) for r in records]
    seqs = [b.seq for b in decoded]
    assert set(seqs) == set(range(24)), "a chunk is missing: a file was skipped"
    assert len(seqs) > 24, "the killed file was not re-sent"
    by_seq = defaultdict(list)
    for b in decoded:
        by_seq[b.seq].append(b)
    for s, copies in by_seq.items():  # re-sent records carry the same seq, key, time and samples
        for c in copies[1:]:
            assert c.t0_ns == copies[0].t0_ns
            np.testing.assert_array_equal(c.data, copies[0].data)
    assert all(r.key == b"arch" for r in records)
    whole = concat_time([by_seq[s][0] for s in range(24)])
    np.testing.assert_array_equal(whole.data, np.concatenate([b.data for b in blocks]))
    # downstream, the runtime drops the re-sent records: every window once, exact, no gap
    windows: list[DASBlock] = []
    w = Worker(kafka_bootstrap, topic, "g-resume", lambda win, st: [win], windows.extend,
               window=WindowSpec(length_s=1.0, step_s=1.0))
    m = w.run(idle_timeout_s=4)
    assert m["duplicates_total"] == len(seqs) - 24 and m["gaps_total"] == 0 and m["out_of_order"] == 0
    assert len(windows) == 12
    ref = np.concatenate([b.data for b in blocks])
    for x in windows:
        i0 = round((x.t0_ns - blocks[0].t0_ns) / 1e9 * 200)
        np.testing.assert_array_equal(x.data, ref[i0 : i0 + 200])


def test_watch_publishes_only_stable_or_renamed_files(kafka_bootstrap, fresh_topic, tmp_path):
    topic = fresh_topic("watch")
    src = tmp_path / "src"
    blocks = _archive(src, n_files=2, seconds=2)
    files = sorted(src.rglob("*.hdf5"))
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    ing = Ingest(kafka_bootstrap, tmp_path / "ledger.sqlite", IngestConfig(topic=topic, fiber_id="w"))
    stop = threading.Event()
    t = threading.Thread(target=ing.watch, args=(inbox,), kwargs={"poll_s": 0.2, "stable_polls": 3, "stop_event": stop})
    t.start()
    try:
        # file 1 is written under a temp name, then renamed (atomic)
        tmp = inbox / "a.hdf5.tmp"
        shutil.copy(files[0], tmp)
        wait_for(lambda: True, 0.6, "")
        assert ing.ledger.status(tmp) is None
        tmp.rename(inbox / "a.hdf5")
        wait_for(lambda: ing.ledger.status(inbox / "a.hdf5") == "done", 30, "a.hdf5 published")
        # file 2 grows in two steps: only the final content is published
        data = files[1].read_bytes()
        dst = inbox / "b.hdf5"
        with open(dst, "wb") as fh:
            fh.write(data[: len(data) // 2])
            fh.flush()
            time.sleep(0.3)  # fewer than stable_polls polls
            fh.write(data[len(data) // 2:])
        wait_for(lambda: ing.ledger.status(dst) == "done", 30, "b.hdf5 published")
    finally:
        stop.set()
        t.join(30)
        ing.close()
    assert Ledger(tmp_path / "ledger.sqlite").files("failed") == []
    records = consume_all(kafka_bootstrap, topic)
    decoded = sorted((decode_record(r.value, r.headers) for r in records), key=lambda b: b.seq)
    assert [b.seq for b in decoded] == list(range(4))  # 2 files x 2 chunks of 1 s, each once
    np.testing.assert_array_equal(concat_time(decoded).data, np.concatenate([b.data for b in blocks]))
