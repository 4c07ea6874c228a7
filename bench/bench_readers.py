"""Reader throughput: dasedge.io.read vs a plain h5py read of the same dataset, same run.

Writes a large synthetic OptoDAS file (default 10 s x 800 channels x 1000 Hz,
int32 raw + dataScale, ~32 MB) and a PRODML 2.0 int16 file of the same block,
then times (median of N repeats, warm page cache):

* full read: ``h5py ds[()]`` (bytes only), ``h5py ds[()]`` + float32 scaling
  (the same work the reader must do), ``dasedge.io.read``;
* windowed read (1 s x 100 channels from the middle): ``h5py`` hyperslab,
  ``dasedge.io.read(time=, distance=)``, and "full read then select" for
  contrast;
* ``dasedge.io.scan`` (metadata only).

Results go to ``bench/results/readers.md`` with the machine and the date.

Usage: ``.venv/bin/python bench/bench_readers.py [--seconds 10 --channels 800 --fs 1000 --repeats 7]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from dasedge import io
from dasedge.block import DASBlock
from dasedge.machine import cpu_model  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "readers.md"


def _cpu() -> str:
    return cpu_model()


def _timeit(fn, repeats: int) -> float:
    fn()  # warm-up (page cache, imports)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def make_block(seconds: float, channels: int, fs: float) -> DASBlock:
    rng = np.random.default_rng(0)
    nt = int(seconds * fs)
    data = (1e-7 * rng.standard_normal((nt, channels))).astype(np.float32)
    return DASBlock(data=data, t0_ns=1_700_000_000_000_000_000, dt_s=1 / fs,
                    distance_m=np.arange(channels) * 4.0, gauge_length_m=8.0)


def _plain_window(path: Path, dsname: str, wsl) -> np.ndarray:
    """What a minimal hand-written h5py reader does for one window: open, header, hyperslab, scale."""
    with h5py.File(path) as f:
        if "header" in f:
            h = f["header"]
            _ = float(h["time"][()]), float(h["dt"][()]), h["channels"][()] * float(h["dx"][()])
            scale = float(h["dataScale"][()])
        else:
            r = f["Acquisition/Raw[0]"]
            _ = float(r.attrs["OutputDataRate"]), int(r["RawDataTime"][0])
            scale = float(r.attrs["dasedgeScale"])
        return f[dsname][wsl].astype(np.float32) * np.float32(scale)


def bench(seconds: float, channels: int, fs: float, repeats: int) -> list[tuple[str, str, float, float, float]]:
    block = make_block(seconds, channels, fs)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        files = {
            "OptoDAS int32": (io.write(block, Path(tmp) / "big.hdf5", fmt="optodas"), "data"),
            "PRODML int16": (io.write(block, Path(tmp) / "big.h5", fmt="prodml", dtype="int16"), "Acquisition/Raw[0]/RawData"),
        }
        mid = block.t0_ns + int(seconds / 2 * 1e9)
        tw = (mid, mid + 1_000_000_000)
        dw = (block.distance_m[channels // 2], block.distance_m[channels // 2 + 99])
        for label, (path, dsname) in files.items():
            with h5py.File(path) as f:
                ds = f[dsname]
                nbytes = ds.size * ds.dtype.itemsize
                scale = float(f["header/dataScale"][()]) if "header" in f else float(f["Acquisition/Raw[0]"].attrs["dasedgeScale"])
                win = io.read(path, time=tw, distance=dw)
                i0 = int(win.channel_index[0])
                s0 = round((win.t0_ns - block.t0_ns) / 1e9 * fs)
                wsl = (slice(s0, s0 + win.n_time), slice(i0, i0 + win.n_channel))
                wbytes = win.data.size * ds.dtype.itemsize

                def h5_raw():
                    return ds[()]

                def h5_scaled():
                    return ds[()].astype(np.float32) * np.float32(scale)

                def h5_window():
                    return ds[wsl].astype(np.float32) * np.float32(scale)

                t_raw = _timeit(h5_raw, repeats)
                t_hwin_open = _timeit(lambda: _plain_window(path, dsname, wsl), repeats)
                t_scaled = _timeit(h5_scaled, repeats)
                t_hwin = _timeit(h5_window, repeats)
            t_read = _timeit(lambda: io.read(path), repeats)
            t_win = _timeit(lambda: io.read(path, time=tw, distance=dw), repeats)
            t_fullsel = _timeit(lambda: io.read(path).select(time=tw, distance=dw), max(3, repeats // 2))
            t_scan = _timeit(lambda: io.scan(path), repeats)
            mb, wmb = nbytes / 1e6, wbytes / 1e6
            rows += [
                (label, "full: h5py ds[()] (raw bytes only)", t_raw, mb / t_raw, t_raw / t_read),
                (label, "full: h5py ds[()] + float32 scale", t_scaled, mb / t_scaled, t_scaled / t_read),
                (label, "full: dasedge.io.read", t_read, mb / t_read, 1.0),
                (label, f"window {win.n_time}x{win.n_channel}: h5py hyperslab + scale (file already open)", t_hwin, wmb / t_hwin, t_hwin / t_win),
                (label, f"window {win.n_time}x{win.n_channel}: plain h5py open + header + hyperslab + scale", t_hwin_open, wmb / t_hwin_open, t_hwin_open / t_win),
                (label, f"window {win.n_time}x{win.n_channel}: dasedge.io.read(time=, distance=)", t_win, wmb / t_win, 1.0),
                (label, "window: full dasedge.io.read then .select", t_fullsel, wmb / t_fullsel, t_fullsel / t_win),
                (label, "dasedge.io.scan (metadata only)", t_scan, float("nan"), float("nan")),
            ]
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--channels", type=int, default=800)
    ap.add_argument("--fs", type=float, default=1000.0)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--out", type=Path, default=RESULTS)
    a = ap.parse_args()
    rows = bench(a.seconds, a.channels, a.fs, a.repeats)
    lines = [
        "# Reader throughput (dasedge.io vs plain h5py, same run)",
        "",
        f"- date: {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {os.cpu_count()} CPU(s) (`nproc` {len(os.sched_getaffinity(0))}), {_cpu()}; shared with other jobs",
        f"- data: {a.seconds:g} s x {a.channels} ch x {a.fs:g} Hz synthetic block, OptoDAS int32 raw + dataScale "
        f"({a.seconds * a.fs * a.channels * 4 / 1e6:.1f} MB) and PRODML 2.0 int16 "
        f"({a.seconds * a.fs * a.channels * 2 / 1e6:.1f} MB), contiguous datasets, warm page cache",
        f"- median of {a.repeats} repeats after one warm-up; MB/s counts the bytes stored on disk for the samples read",
        "- ratio = time of that row / time of the dasedge read in the same group (> 1: dasedge is faster; "
        "< 1: dasedge is slower)",
        "",
        "| file | operation | time (ms) | MB/s | ratio |",
        "|---|---|---:|---:|---:|",
    ]
    for label, op, t, mbs, ratio in rows:
        mbs_s = "" if np.isnan(mbs) else f"{mbs:,.0f}"
        r_s = "" if np.isnan(ratio) else f"{ratio:.2f}"
        lines.append(f"| {label} | {op} | {t * 1e3:.2f} | {mbs_s} | {r_s} |")
    lines.append("")
    text = "\n".join(lines)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
