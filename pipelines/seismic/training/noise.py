"""Real DAS noise records (DASDAE test data, MIT) resampled to 100 Hz for training augmentation.

Reads through ``dasedge.io.read`` when the IO layer supports the file, otherwise
a minimal h5py reader for the three layouts used here. Each record is
anti-alias resampled (``scipy.signal.resample_poly``) to 100 Hz, high-passed at
0.5 Hz and scaled to unit RMS per channel.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import h5py
import numpy as np
from scipy import signal

FS = 100.0

#: file -> (sampling rate Hz, h5py loader) used when dasedge.io cannot read it
_FILES = {
    "prodml_2.0.h5": 200.0,
    "valencia_febus_example.h5": 250.0,
    "decimated_optodas.hdf5": 500.0,
}


def _h5_read(path: Path) -> np.ndarray:
    with h5py.File(path, "r") as h:
        name = path.name
        if name == "prodml_2.0.h5":
            return h["Acquisition/Raw[0]/RawData"][...].astype(np.float64)
        if name == "valencia_febus_example.h5":
            blk = h["fa1-20050027/Source1/Zone1/SR_Valencia"][...]  # [block, time, channel], 50 % overlap
            n = blk.shape[1]
            return np.concatenate([b[n // 4 : 3 * n // 4] for b in blk], axis=0).astype(np.float64)
        if name == "decimated_optodas.hdf5":
            return h["data"][...].astype(np.float64)
    raise ValueError(f"{path}: no reader")


def _read(path: Path) -> tuple[np.ndarray, float]:
    try:
        from dasedge.io import read  # type: ignore[attr-defined]

        blk = read(path)
        return np.asarray(blk.data, dtype=np.float64), float(blk.fs)
    except Exception:  # IO layer not there yet or cannot read this file
        return _h5_read(path), _FILES[path.name]


def to_100hz(x: np.ndarray, fs: float) -> np.ndarray:
    """Anti-alias resample ``[nt, nx]`` from ``fs`` to 100 Hz."""
    if abs(fs - FS) < 1e-9:
        return x
    fr = Fraction(FS / fs).limit_denominator(1000)
    return signal.resample_poly(x, fr.numerator, fr.denominator, axis=0)


def load_noise_bank(das_dir: str | Path) -> list[np.ndarray]:
    """Unit-RMS ``[nt, nx]`` noise records at 100 Hz from the sample folder (missing files skipped)."""
    bank = []
    for name in _FILES:
        p = Path(das_dir) / name
        if not p.is_file():
            continue
        x, fs = _read(p)
        x = to_100hz(x - x.mean(axis=0), fs)
        x = signal.sosfiltfilt(signal.butter(2, 0.5, "high", fs=FS, output="sos"), x, axis=0)
        x = x - np.median(x, axis=1, keepdims=True)
        rms = x.std(axis=0, keepdims=True)
        x = x[:, rms[0] > 0] / rms[:, rms[0] > 0]
        bank.append(x.astype(np.float32))
    return bank


def noise_patch(rng: np.random.Generator, bank: list[np.ndarray], nt: int, nx: int) -> np.ndarray:
    """A ``[nt, nx]`` unit-RMS patch tiled from a random bank record (random offsets, flips)."""
    rec = bank[rng.integers(len(bank))]
    if rng.random() < 0.5:
        rec = rec[:, ::-1]
    # channels: contiguous run with reflection to reach nx
    reps_x = -(-nx // rec.shape[1]) + 1
    cols = np.concatenate([rec[:, ::(1 if i % 2 == 0 else -1)] for i in range(reps_x)], axis=1)
    c0 = rng.integers(0, cols.shape[1] - nx + 1)
    cols = cols[:, c0 : c0 + nx]
    reps_t = -(-nt // cols.shape[0]) + 1
    rows = np.concatenate([cols[:: (1 if i % 2 == 0 else -1)] for i in range(reps_t)], axis=0)
    t0 = rng.integers(0, rows.shape[0] - nt + 1)
    return np.ascontiguousarray(rows[t0 : t0 + nt])
