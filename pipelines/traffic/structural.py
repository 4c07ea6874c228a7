"""Bridge structural response: dominant modal frequencies over time.

``modal_frequencies(block)`` block-averages the strain rate to ~50 Hz,
estimates a Welch PSD per channel (segments of ``seg_s``), normalises each
channel's PSD by its median level (so coupling differences do not weight
channels), averages across the good channels and picks the most prominent
spectral peaks in ``[fmin, fmax]`` (parabolic interpolation on the log-PSD
for sub-bin frequency).  Traffic adds broadband low-frequency energy; modal
tones stand out as narrow peaks common to all channels.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from dasedge.block import DASBlock
from dasedge.records import ModalFrequency, stable_id
from pipelines.traffic.preprocess import bad_channel_mask, block_mean


def spectrum(block: DASBlock, seg_s: float = 20.0, target_fs: float = 50.0) -> tuple[np.ndarray, np.ndarray]:
    """Channel-averaged, median-normalised Welch PSD ``(f, p)`` of ``block``."""
    q = max(1, int(block.fs // target_fs))
    x = block_mean(block.data, q)
    fs = block.fs / q
    good = bad_channel_mask(x)
    x = x[:, good] if good.sum() >= 1 else x
    nper = min(x.shape[0], int(seg_s * fs))
    f, p = signal.welch(x, fs=fs, nperseg=nper, axis=0, detrend="constant")
    p = p / (np.median(p, axis=0, keepdims=True) + 1e-30)
    return f, p.mean(axis=1)


def modal_frequencies(block: DASBlock, fmin: float = 0.5, fmax: float = 10.0, n_modes: int = 3,
                      seg_s: float = 20.0, min_prominence: float = 0.5) -> list[ModalFrequency]:
    """Up to ``n_modes`` dominant modal frequencies of ``block`` (sorted by frequency, mode = rank)."""
    f, p = spectrum(block, seg_s=seg_s)
    sel = (f >= fmin) & (f <= fmax)
    if sel.sum() < 3:
        return []
    lp = np.log10(p + 1e-30)
    idx = np.flatnonzero(sel)
    pk, props = signal.find_peaks(lp[idx], prominence=min_prominence)
    if pk.size == 0:
        return []
    order = np.argsort(props["prominences"])[::-1][:n_modes]
    chosen = sorted(idx[pk[order]])
    out = []
    df = f[1] - f[0]
    t_mid = block.t0_ns + int(block.duration_s * 0.5e9)
    for k, i in enumerate(chosen, start=1):
        if 0 < i < f.size - 1:
            a, b, c = lp[i - 1], lp[i], lp[i + 1]
            den = a - 2 * b + c
            off = 0.5 * (a - c) / den if den < 0 else 0.0
        else:
            off = 0.0
        fr = float(f[i] + np.clip(off, -0.5, 0.5) * df)
        out.append(ModalFrequency(
            id=stable_id(block.fiber_id, "modal", t_mid // 10**9, k, prefix="mod-"), fiber_id=block.fiber_id,
            t_ns=int(t_mid), window_s=float(block.duration_s), frequency_hz=round(fr, 4),
            amplitude=float(p[i]), mode=k))
    return out
