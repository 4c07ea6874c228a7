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
flip (p 0.5), edge masking (p 0.05), random polarity and (stage 3) time
resampling: the time axis is stretched or compressed by a factor U(0.8, 1.25)
(:func:`time_stretch`: anti-alias low-pass when compressing, linear
interpolation of the data; the arrival indices are scaled by the same factor
and the Gaussian labels are drawn afterwards, so σ stays 0.25 s).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scipy import signal

from pipelines.seismic.onnx_model import preprocess
from pipelines.seismic.training import scenes
from pipelines.seismic.training.noise import noise_patch

SIGMA = 25.0  # samples (0.25 s at 100 Hz)
STRETCH_RANGE = (0.8, 1.25)


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


def stretch_input_length(nt_out: int, factor: float) -> int:
    """Input samples needed to produce ``nt_out`` samples after :func:`time_stretch` by ``factor``."""
    return int(np.floor((nt_out - 1) / factor)) + 2


def time_stretch(
    data: np.ndarray, p_idx: np.ndarray, s_idx: np.ndarray, factor: float, nt_out: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stretch (``factor > 1``) or compress (``< 1``) the time axis of a ``[nt, nx]`` record.

    Output sample ``j`` is the input at position ``j / factor`` (linear interpolation), so an
    arrival at input index ``a`` moves to ``a * factor``; the arrival arrays (``[n_ev, nx]``,
    NaN allowed) are scaled accordingly. When compressing, the input is first low-passed
    (zero-phase Butterworth, order 6) at 0.9 × the new Nyquist frequency so nothing aliases.

    Parameters
    ----------
    data
        ``[nt, nx]`` record with ``nt >= stretch_input_length(nt_out, factor)``.
    p_idx, s_idx
        Arrival sample indices of the input.
    factor
        Time-axis factor (> 0); the reference range is U(0.8, 1.25).
    nt_out
        Output samples.

    Returns
    -------
    tuple
        ``(data [nt_out, nx] float32, p_idx * factor, s_idx * factor)``.
    """
    if factor <= 0:
        raise ValueError("factor must be > 0")
    need = stretch_input_length(nt_out, factor)
    if data.shape[0] < need:
        raise ValueError(f"need {need} input samples for {nt_out} output samples at factor {factor:.3f}")
    x = np.asarray(data[:need], dtype=np.float64)
    if factor < 1.0:
        sos = signal.butter(6, 0.9 * factor, btype="low", output="sos")  # Wn relative to the input Nyquist
        x = signal.sosfiltfilt(sos, x, axis=0)
    pos = np.arange(nt_out, dtype=np.float64) / factor
    i0 = np.minimum(np.floor(pos).astype(np.int64), need - 2)
    w = (pos - i0)[:, None]
    out = x[i0] * (1.0 - w) + x[i0 + 1] * w
    return out.astype(np.float32), p_idx * factor, s_idx * factor


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


def stretch_factor(seed: int, p: float) -> float | None:
    """The time-resampling factor of example ``seed`` (U(0.8, 1.25) with probability ``p``, else ``None``).

    Drawn from its own RNG stream so ``p = 0`` leaves every other random draw unchanged.
    """
    if p <= 0:
        return None
    rng = np.random.default_rng(seed + 13_000_000)
    return float(rng.uniform(*STRETCH_RANGE)) if rng.random() < p else None


OVERLAP_S = (1.0, 5.0)
OVERLAP_EPI_KM = (0.0, 15.0)  # near events: short S-P, so the second P lands in the first event's S coda


def overlap_draw(seed: int, p: float) -> bool:
    """Whether truth example ``seed`` is an overlapping pair (own RNG stream; ``p = 0`` changes nothing)."""
    return p > 0 and bool(np.random.default_rng(seed + 11_000_000).random() < p)


def truth_example(
    seed: int, nt: int = 2048, nx: int = 256, bank: list[np.ndarray] | None = None, stretch_p: float = 0.0,
    overlap_p: float = 0.0,
) -> Example:
    """One synthetic training example labelled with the simulator's exact arrivals.

    With ``stretch_p > 0`` the scene is time-resampled with that probability (:func:`time_stretch`).
    With ``overlap_p > 0`` the scene is, with that probability, two events whose origins are
    :data:`OVERLAP_S` apart with epicentres within :data:`OVERLAP_EPI_KM` (the second P inside the
    first event's S coda; the second event's SNR is the first's ± 10 dB, as in :func:`scenes.simulate`).
    """
    rng = np.random.default_rng(seed + 7_919_000)
    f = stretch_factor(seed, stretch_p)
    nt_in = nt if f is None else stretch_input_length(nt, f)
    real = None
    w = 0.0
    if bank and rng.random() < 0.5:
        real = noise_patch(rng, bank, nt_in, nx)
        w = float(rng.uniform(0.3, 1.5))
    dx = rng.uniform(6, 16) if rng.random() < 0.3 else rng.uniform(8, 10)
    ov = overlap_draw(seed, overlap_p)
    sc = scenes.simulate(seed, nt=nt_in, nx=nx, dx_m=dx, real_noise=real, real_noise_weight=w,
                         n_events=2 if ov else None, overlap_s=OVERLAP_S if ov else None,
                         epi_km=OVERLAP_EPI_KM if ov else None)
    arr = sc.arrivals()
    data, p_arr, s_arr = sc.data, arr["P"], arr["S"]
    if f is not None:
        data, p_arr, s_arr = time_stretch(data, p_arr, s_arr, f, nt)
    target = gaussian_labels(p_arr, s_arr, nt)
    mask = (~sc.dead).astype(np.float32)
    data, target, mask = augment(rng, data, target, mask)
    return Example(preprocess(data), target, mask)


def save_pseudo(path: str | Path, data: np.ndarray, p_idx: np.ndarray, s_idx: np.ndarray, mask: np.ndarray) -> None:
    """Store one pseudo-labelled record (``[nt, nx]`` 100 Hz data, ``[n_ev, nx]`` arrivals, ``[nx]`` mask)."""
    np.savez_compressed(path, data=data.astype(np.float32), p_idx=p_idx, s_idx=s_idx, mask=mask.astype(np.float32))


class PseudoLabelSet:
    """Random crops of pseudo-labelled records saved by :func:`save_pseudo`."""

    def __init__(self, folder: str | Path | list[str | Path], stretch_p: float = 0.0) -> None:
        folders = [folder] if isinstance(folder, (str, Path)) else list(folder)
        self.files = sorted(f for d in folders for f in Path(d).glob("*.npz"))
        if not self.files:
            raise FileNotFoundError(f"no pseudo-labelled records (*.npz) in {folder}")
        self.stretch_p = stretch_p
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
        f = stretch_factor(seed, self.stretch_p)
        nt_out, nt = nt, (nt if f is None else stretch_input_length(nt, f))  # crop length before resampling
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
        pw, sw = p_idx[:, c0 : c0 + nx] - t0, s_idx[:, c0 : c0 + nx] - t0
        if f is not None:
            d, pw, sw = time_stretch(d, pw, sw, f, nt_out)
            nt = nt_out
        target = gaussian_labels(pw, sw, nt)
        m = mask[c0 : c0 + nx].copy()
        if bank and rng.random() < 0.5:
            d = d + d.std() * rng.uniform(0.1, 0.5) * noise_patch(rng, bank, nt, nx)
        d, target, m = augment(rng, d, target, m)
        return Example(preprocess(d), target, m)
