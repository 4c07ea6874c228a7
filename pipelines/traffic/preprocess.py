"""Quasi-static feature image for line detection (pure functions over a DASBlock).

Steps (all vectorised over channels):

1. keep the section's channels, drop site-masked ones;
2. block-average to ~25 Hz (a boxcar anti-alias filter, one pass over the
   raw samples - the only O(raw) step, which keeps the pipeline fast);
3. flag dead and hot channels from the robust high-frequency noise level;
4. remove the common mode (median over good channels per sample);
5. zero-phase Butterworth band-pass (``highpass_hz``-``lowpass_hz``, order
   4) and decimate to ``feature_fs`` (~10 Hz);
6. normalise per channel
   (1.4826 x MAD), and take the analytic-signal envelope ``|y + i H(y)|`` (smoothed
   over 0.2 s): the antisymmetric quasi-static strain-rate pulse becomes one
   positive bump centred on the passing time (no polarity needed);
7. robust per-channel normalisation of the envelope (median / MAD).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal
from scipy.ndimage import uniform_filter1d

from dasedge.block import DASBlock
from pipelines.traffic.site import SiteConfig


@dataclass
class FeatureImage:
    """Quasi-static strain image ``[time, channel]`` normalised per channel."""

    z: np.ndarray  # float32 normalised strain (polarity applied), bad channels zeroed
    scale: np.ndarray  # per-channel MAD scale (strain) to undo the normalisation
    good: np.ndarray  # bool per channel
    fs: float
    t0_ns: int  # time of z[0]
    distance_m: np.ndarray
    channel_cols: np.ndarray  # column index in the input block for each channel
    polarity: int

    @property
    def times_s(self) -> np.ndarray:
        return np.arange(self.z.shape[0]) / self.fs


def section_columns(block: DASBlock, site: SiteConfig) -> np.ndarray:
    """Columns of ``block`` inside the section and not masked by the site."""
    x = block.distance_m
    keep = np.ones(block.n_channel, bool)
    if site.section_m is not None:
        keep &= (x >= site.section_m[0]) & (x <= site.section_m[1])
    if site.masked_channels:
        keep &= ~np.isin(block.channel_index, np.asarray(site.masked_channels))
    for lo, hi in site.masked_ranges_m:
        keep &= ~((x >= lo) & (x <= hi))
    return np.flatnonzero(keep)


def block_mean(data: np.ndarray, q: int) -> np.ndarray:
    """Average non-overlapping groups of ``q`` samples along time (drops the tail).

    """
    if q <= 1:
        return np.array(data, dtype=np.float32)
    m = data.shape[0] // q
    x = np.ascontiguousarray(data[: m * q]) if not data.flags.c_contiguous else data[: m * q]
    out = x.reshape(m, q, data.shape[1]).sum(axis=1, dtype=np.float32)
    out *= np.float32(1.0 / q)
    return out


def bad_channel_mask(x100: np.ndarray, low: float = 0.1, high: float = 5.0) -> np.ndarray:
    """True for usable channels: robust first-difference level within [low, high] x median."""
    lvl = np.mean(np.abs(np.diff(x100, axis=0)), axis=0)
    med = np.median(lvl[lvl > 0]) if np.any(lvl > 0) else 1.0
    return (lvl > low * med) & (lvl < high * med)


def quasi_static(block: DASBlock, site: SiteConfig | None = None) -> FeatureImage:
    """Build the normalised quasi-static strain image of ``block``."""
    site = site or SiteConfig()
    cols = section_columns(block, site)
    if cols.size and cols[-1] - cols[0] + 1 == cols.size:
        data = block.data[:, cols[0] : cols[-1] + 1]  # contiguous: a view, no copy
    else:
        data = block.data[:, cols]
    fs = block.fs
    q1 = max(1, int(fs // 25))
    x1 = block_mean(data, q1)
    fs1 = fs / q1
    good = bad_channel_mask(x1)
    gi = np.flatnonzero(good)
    if gi.size >= 3:
        sub = gi[:: max(1, gi.size // 64)]
        x1 -= np.median(x1[:, sub], axis=1, keepdims=True)
    fc = min(site.lowpass_hz, 0.4 * fs1)
    sos = signal.butter(4, [site.highpass_hz, fc], btype="bandpass", fs=fs1, output="sos")
    padlen = min(x1.shape[0] - 1, int(1.0 * fs1 / site.highpass_hz))
    lp = signal.sosfiltfilt(sos, x1, axis=0, padlen=padlen).astype(np.float32)
    q2 = max(1, int(round(fs1 / site.feature_fs)))
    lp = lp[::q2]
    fs2 = fs1 / q2
    y = lp
    scale = 1.4826 * np.median(np.abs(y), axis=0)
    scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
    y /= scale
    # energy envelope: the antisymmetric strain-rate pulse -> one positive bump
    z = np.abs(signal.hilbert(y, axis=0)).astype(np.float32)
    z = uniform_filter1d(z, size=max(1, int(round(0.2 * fs2))), axis=0, mode="nearest")
    med = np.median(z, axis=0)
    mad = 1.4826 * np.median(np.abs(z - med), axis=0)
    z = ((z - med) / np.where(mad > 0, mad, 1.0)).astype(np.float32)
    scale = (scale * np.where(mad > 0, mad, 1.0)).astype(np.float32)
    z[:, ~good] = 0.0
    pol = 1
    # time of decimated sample k: centre of the first boxcar + k*q2 samples at fs1
    t0 = block.t0_ns + round(((q1 - 1) / 2) / fs * 1e9)
    return FeatureImage(z=z, scale=scale, good=good, fs=fs2, t0_ns=t0, distance_m=block.distance_m[cols],
                        channel_cols=cols, polarity=pol)
