"""Training examples: patches, Gaussian phase labels, masks and augmentations (numpy only).

Label targets follow the paper (reference §4): a Gaussian of σ = 25 samples
(0.25 s at 100 Hz) around each arrival, values < 0.1 set to 0, noise =
1 − P − S; channels without a label (dead channels, channels where the
pseudo-labeller did not keep both phases) are excluded from the loss through a
per-channel mask.

Two label sources:

* ``truth`` – synthetic scenes (:mod:`.scenes`) with their exact arrivals;
* ``teacher`` / pseudo – recordings plus arrivals produced by
  :mod:`.pseudo_labels` (teacher picks → GaMMA → filters), stored as ``.npz``.

Augmentations (reference §4, adapted to 1-core CPU training): real noise from
the DASDAE sample files (p 0.5), overlapping events (from the scene
generator, p 0.3), space resampling via the channel spacing (6–16 m with
p 0.3, else 8–10 m), zeroed time bands of 32–256 samples (p 0.2), left–right
flip (p 0.5), edge masking (p 0.05) and random polarity.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipelines.seismic.onnx_model import preprocess
from pipelines.seismic.training import scenes
from pipelines.seismic.training.noise import noise_patch

SIGMA = 25.0  # samples (0.25 s at 100 Hz)


@dataclass
class Example:
    x: np.ndarray  # [nt, nx] normalised input
    target: np.ndarray  # [3, nt, nx]
    mask: np.ndarray  # [nx] float32 (1 = labelled channel)


def gaussian_labels(p_idx: np.ndarray, s_idx: np.ndarray, nt: int, sigma: float = SIGMA) -> np.ndarray:
    """``[3, nt, nx]`` soft targets from ``[n_ev, nx]`` arrival indices (NaN = no arrival)."""
    n_ev, nx = p_idx.shape if p_idx.ndim == 2 else (0, p_idx.shape[-1])
    t = np.arange(nt, dtype=np.float32)[:, None]
    out = np.zeros((3, nt, nx), np.float32)
    for k, arr in ((1, p_idx), (2, s_idx)):
        for e in range(n_ev):
            a = arr[e]
            ok = np.isfinite(a) & (a > -4 * sigma) & (a < nt + 4 * sigma)
            if not ok.any():
                continue
            lo = int(max(0, np.floor(a[ok].min() - 4 * sigma)))
            hi = int(min(nt, np.ceil(a[ok].max() + 4 * sigma) + 1))
            if hi <= lo:
                continue
            ac = np.where(ok, a, -1e6).astype(np.float32)
            g = np.exp(-0.5 * ((t[lo:hi] - ac[None, :]) / sigma) ** 2)
            np.maximum(out[k, lo:hi], g, out=out[k, lo:hi])
    out[1:][out[1:] < 0.1] = 0.0
    s = out[1] + out[2]
    over = s > 1
    if over.any():
        out[1][over] /= s[over]
        out[2][over] /= s[over]
    out[0] = np.clip(1.0 - out[1] - out[2], 0.0, 1.0)
    return out


def augment(
    rng: np.random.Generator, data: np.ndarray, target: np.ndarray, mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Zeroed time bands, left-right flip, edge masking, polarity (in place where possible)."""
    nt = data.shape[0]
    data = data.copy()
    if rng.random() < 0.2:  # zero a time band: the data vanish, the band becomes "noise"
        w = int(rng.integers(32, 257))
        a = int(rng.integers(0, max(1, nt - w)))
        data[a : a + w] = 0.0
        target[1:, a : a + w] = 0.0
        target[0, a : a + w] = 1.0
    if rng.random() < 0.05:  # edge masking: zero one end of the record
        w = int(rng.integers(nt // 10, nt // 3))
        sl = slice(0, w) if rng.random() < 0.5 else slice(nt - w, nt)
        data[sl] = 0.0
        target[1:, sl] = 0.0
        target[0, sl] = 1.0
    if rng.random() < 0.5:
        data, target, mask = data[:, ::-1], target[:, :, ::-1], mask[::-1]
    if rng.random() < 0.5:
        data = -data
    return np.ascontiguousarray(data), np.ascontiguousarray(target), np.ascontiguousarray(mask)


def truth_example(seed: int, nt: int = 2048, nx: int = 256, bank: list[np.ndarray] | None = None) -> Example:
    """One synthetic training example labelled with the simulator's exact arrivals."""
    rng = np.random.default_rng(seed + 7_919_000)
    real = None
    w = 0.0
    if bank and rng.random() < 0.5:
        real = noise_patch(rng, bank, nt, nx)
        w = float(rng.uniform(0.3, 1.5))
    dx = rng.uniform(6, 16) if rng.random() < 0.3 else rng.uniform(8, 10)
    sc = scenes.simulate(seed, nt=nt, nx=nx, dx_m=dx, real_noise=real, real_noise_weight=w)
    arr = sc.arrivals()
    target = gaussian_labels(arr["P"], arr["S"], nt)
    mask = (~sc.dead).astype(np.float32)
    data, target, mask = augment(rng, sc.data, target, mask)
    return Example(preprocess(data), target, mask)


def save_pseudo(path: str | Path, data: np.ndarray, p_idx: np.ndarray, s_idx: np.ndarray, mask: np.ndarray) -> None:
    """Store one pseudo-labelled record (``[nt, nx]`` 100 Hz data, ``[n_ev, nx]`` arrivals, ``[nx]`` mask)."""
    np.savez_compressed(path, data=data.astype(np.float32), p_idx=p_idx, s_idx=s_idx, mask=mask.astype(np.float32))


class PseudoLabelSet:
    """Random crops of pseudo-labelled records saved by :func:`save_pseudo`."""

    def __init__(self, folder: str | Path) -> None:
        self.files = sorted(Path(folder).glob("*.npz"))
        if not self.files:
            raise FileNotFoundError(f"no pseudo-labelled records (*.npz) in {folder}")
        self._cache: dict[Path, dict] = {}

    def _load(self, f: Path) -> dict:
        if f not in self._cache:
            with np.load(f) as z:
                self._cache[f] = {k: z[k] for k in z.files}
        return self._cache[f]

    def example(self, seed: int, nt: int, nx: int, bank: list[np.ndarray] | None = None) -> Example:
        rng = np.random.default_rng(seed + 3_301_000)
        r = self._load(self.files[rng.integers(len(self.files))])
        data, p_idx, s_idx, mask = r["data"], r["p_idx"], r["s_idx"], r["mask"]
        T, X = data.shape
        # pad small records, crop large ones (favour windows with labels)
        if T < nt or X < nx:
            data = np.pad(data, ((0, max(0, nt - T)), (0, max(0, nx - X))))
            mask = np.pad(mask, (0, max(0, nx - X)))
            p_idx = np.pad(p_idx, ((0, 0), (0, max(0, nx - X))), constant_values=np.nan)
            s_idx = np.pad(s_idx, ((0, 0), (0, max(0, nx - X))), constant_values=np.nan)
            T, X = data.shape
        c0 = int(rng.integers(0, X - nx + 1))
        if p_idx.shape[0] and rng.random() < 0.8:
            centre = np.nanmedian(p_idx[rng.integers(p_idx.shape[0]), c0 : c0 + nx])
            centre = 0.0 if not np.isfinite(centre) else centre
            t0 = int(np.clip(centre - rng.uniform(0.1, 0.7) * nt, 0, T - nt))
        else:
            t0 = int(rng.integers(0, T - nt + 1))
        d = data[t0 : t0 + nt, c0 : c0 + nx]
        target = gaussian_labels(p_idx[:, c0 : c0 + nx] - t0, s_idx[:, c0 : c0 + nx] - t0, nt)
        m = mask[c0 : c0 + nx].copy()
        if bank and rng.random() < 0.5:
            d = d + d.std() * rng.uniform(0.1, 0.5) * noise_patch(rng, bank, nt, nx)
        d, target, m = augment(rng, d, target, m)
        return Example(preprocess(d), target, m)
