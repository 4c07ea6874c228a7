"""Shared DAS noise and measurement-effect models for synthetic scenes.

Everything is vectorised over channels and works in chunks with carried
state, so a long scene can be generated file by file and the noise is still
continuous across chunk boundaries (:class:`NoiseStream`).

Stable API (used by the traffic and the quake generators)
---------------------------------------------------------
- :class:`NoiseConfig` - physical noise parameters (RMS in data units).
- :class:`NoiseStream` - ``stream.next(n) -> float64 [n, n_channel]`` of
  white + 1/f + common-mode + slow drift noise, continuous across calls.
- :func:`coupling_gains` - per-channel spatially-correlated log-normal gains.
- :func:`bad_channels` / :func:`apply_bad_channels` - dead and hot channels.
- :func:`bridge_tones` - modal tones with a half-sine mode shape per mode.
- :func:`make_impulses` / :func:`render_impulses` - impulsive events
  (footsteps, bikes, knocks) localised in time and distance.
- :func:`add_noise` - one call that adds all of the above to an array.

Conventions: arrays are ``[time, channel]``; times in seconds relative to the
scene start; distances in metres; amplitudes in the data's own unit
(strain rate, 1/s, for the traffic scenes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import signal

__all__ = [
    "NoiseConfig",
    "NoiseStream",
    "coupling_gains",
    "bad_channels",
    "apply_bad_channels",
    "bridge_tones",
    "make_impulses",
    "render_impulses",
    "add_noise",
]


@dataclass
class NoiseConfig:
    """Noise parameters; all RMS values in data units.

    Parameters
    ----------
    white_rms
        RMS of the per-channel white noise.
    pink_rms
        RMS of the per-channel 1/f noise (approximated between ``pink_fmin``
        and Nyquist by a sum of first-order low-pass processes).
    common_rms
        RMS of the common-mode noise (identical on every channel; laser phase
        noise - horizontal stripes in the image). Band-limited below
        ``common_fmax`` Hz.
    drift_rms
        RMS of the slow thermal drift per channel (below ``drift_fmax`` Hz).
    """

    white_rms: float = 1.0
    pink_rms: float = 0.5
    pink_fmin: float = 0.05
    common_rms: float = 0.3
    common_fmax: float = 20.0
    drift_rms: float = 0.2
    drift_fmax: float = 0.02


class NoiseStream:
    """Chunked generator of continuous background noise.

    Parameters
    ----------
    n_channel
        Number of channels.
    fs
        Sampling rate, Hz.
    config
        :class:`NoiseConfig`.
    rng
        ``numpy.random.Generator``; the stream is reproducible for a given
        seed and for any chunking of the same total length only if the chunk
        sizes are equal (random draws are made per chunk).
    """

    def __init__(self, n_channel: int, fs: float, config: NoiseConfig, rng: np.random.Generator):
        self.n_channel = int(n_channel)
        self.fs = float(fs)
        self.cfg = config
        self.rng = rng
        nyq = 0.5 * self.fs
        # 1/f: sum of AR(1) low-pass processes with corner frequencies spaced
        # by octaves; equal-variance-per-octave gives a 1/f spectrum.
        fmin = max(config.pink_fmin, 1e-3)
        corners = []
        f = fmin
        while f < nyq * 0.7:
            corners.append(f)
            f *= 6.0
        self._pink = []
        for fc in corners:
            a = np.exp(-2 * np.pi * fc / self.fs)
            # unit-variance AR(1): x[n] = a x[n-1] + sqrt(1-a^2) w[n]
            b = np.array([np.sqrt(1 - a * a)])
            den = np.array([1.0, -a])
            self._pink.append((b, den, np.zeros((1, self.n_channel))))
        self._pink_scale = config.pink_rms / np.sqrt(max(len(corners), 1))
        sos_c = signal.butter(2, min(config.common_fmax, nyq * 0.9), fs=self.fs, output="sos")
        self._common = (sos_c, np.zeros((sos_c.shape[0], 2)))
        self._common_gain = self._calib_gain(sos_c)
        sos_d = signal.butter(1, min(config.drift_fmax, nyq * 0.5), fs=self.fs, output="sos")
        self._drift = (sos_d, np.zeros((sos_d.shape[0], 2, self.n_channel)))
        self._drift_gain = self._calib_gain(sos_d)

    def _calib_gain(self, sos: np.ndarray) -> float:
        """Gain making unit white noise through ``sos`` unit RMS."""
        _, h = signal.sosfreqz(sos, worN=8192, fs=self.fs)
        power = np.mean(np.abs(h) ** 2)  # fraction of white power passed
        return 1.0 / np.sqrt(max(power, 1e-12))

    def next(self, n: int) -> np.ndarray:
        """Return the next ``n`` samples, float64 ``[n, n_channel]``."""
        c = self.cfg
        rng = self.rng
        nc = self.n_channel
        out = rng.standard_normal((n, nc), dtype=np.float32).astype(np.float64)
        out *= c.white_rms
        if c.pink_rms > 0 and self._pink:
            for i, (b, den, zi) in enumerate(self._pink):
                w = rng.standard_normal((n, nc), dtype=np.float32)
                y, zf = signal.lfilter(b, den, w, axis=0, zi=zi)
                self._pink[i] = (b, den, zf)
                out += self._pink_scale * y
        if c.common_rms > 0:
            sos, zi = self._common
            y, zf = signal.sosfilt(sos, rng.standard_normal(n), zi=zi)
            self._common = (sos, zf)
            out += (c.common_rms * self._common_gain * y)[:, None]
        if c.drift_rms > 0:
            sos, zi = self._drift
            y, zf = signal.sosfilt(sos, rng.standard_normal((n, nc), dtype=np.float32), axis=0, zi=zi)
            self._drift = (sos, zf)
            out += c.drift_rms * self._drift_gain * y
        return out


def coupling_gains(
    rng: np.random.Generator, distance_m: np.ndarray, sigma_log: float = 0.3, corr_length_m: float = 20.0
) -> np.ndarray:
    """Per-channel log-normal coupling gains, spatially correlated.

    ``log(g)`` is a zero-mean Gaussian process along the fiber with standard
    deviation ``sigma_log`` and a Gaussian correlation of length
    ``corr_length_m``; the median gain is 1.
    """
    x = np.asarray(distance_m, dtype=float)
    if sigma_log <= 0 or x.size == 0:
        return np.ones_like(x)
    # white noise on a 1 m grid, Gaussian-smoothed, then interpolated.
    lo, hi = float(x.min()), float(x.max())
    grid = np.arange(lo - 3 * corr_length_m, hi + 3 * corr_length_m + 1.0, 1.0)
    w = rng.standard_normal(grid.size)
    from scipy.ndimage import gaussian_filter1d

    s = gaussian_filter1d(w, max(corr_length_m, 1e-3) / 2.0, mode="wrap")
    s /= s.std() + 1e-12
    return np.exp(sigma_log * np.interp(x, grid, s))


def bad_channels(
    rng: np.random.Generator, n_channel: int, dead_fraction: float = 0.01, hot_fraction: float = 0.005
) -> tuple[np.ndarray, np.ndarray]:
    """Random disjoint dead and hot channel indices (sorted int arrays)."""
    n_dead = int(round(dead_fraction * n_channel))
    n_hot = int(round(hot_fraction * n_channel))
    perm = rng.permutation(n_channel)
    return np.sort(perm[:n_dead]), np.sort(perm[n_dead : n_dead + n_hot])


def apply_bad_channels(
    data: np.ndarray,
    dead: np.ndarray,
    hot: np.ndarray,
    rng: np.random.Generator,
    hot_rms: float,
    dead_rms: float = 0.0,
) -> np.ndarray:
    """In place: dead channels become ``dead_rms`` white noise (0 = flat), hot ones get ``hot_rms`` extra noise."""
    n = data.shape[0]
    if len(dead):
        data[:, dead] = dead_rms * rng.standard_normal((n, len(dead))) if dead_rms > 0 else 0.0
    if len(hot):
        data[:, hot] += hot_rms * rng.standard_normal((n, len(hot)))
    return data


def bridge_tones(
    t_s: np.ndarray,
    distance_m: np.ndarray,
    freqs_hz: list[float] | np.ndarray,
    amps: list[float] | np.ndarray,
    span_m: tuple[float, float] | None = None,
    phases: np.ndarray | None = None,
    am_depth: float = 0.3,
    am_period_s: float = 60.0,
) -> np.ndarray:
    """Bridge modal tones ``[n_time, n_channel]``.

    Mode ``k`` (1-based) has shape ``sin(k*pi*(x-x0)/L)`` over ``span_m`` and
    frequency ``freqs_hz[k-1]``; its amplitude is slowly modulated (depth
    ``am_depth``, period ``am_period_s``) like ambient/traffic excitation.
    """
    t = np.asarray(t_s, dtype=float)[:, None]
    x = np.asarray(distance_m, dtype=float)
    x0, x1 = span_m if span_m is not None else (float(x.min()), float(x.max()))
    L = max(x1 - x0, 1e-6)
    inside = (x >= x0) & (x <= x1)
    out = np.zeros((t.shape[0], x.size))
    if phases is None:
        phases = np.zeros(len(freqs_hz))
    for k, (f, a, ph) in enumerate(zip(freqs_hz, amps, phases), start=1):
        shape = np.where(inside, np.sin(k * np.pi * (x - x0) / L), 0.0)
        env = 1.0 + am_depth * np.sin(2 * np.pi * t / am_period_s + ph)
        out += a * env * np.sin(2 * np.pi * f * t + ph) * shape[None, :]
    return out


def make_impulses(
    rng: np.random.Generator,
    duration_s: float,
    distance_m: np.ndarray,
    rate_per_min: float = 1.0,
    amp: float = 5.0,
    freq_hz: tuple[float, float] = (15.0, 60.0),
    width_m: float = 6.0,
    decay_s: float = 0.08,
) -> list[dict[str, Any]]:
    """Random impulsive events (footsteps, bikes, knocks) as a truth list.

    Each event is a damped sinusoid localised in distance (Gaussian of
    ``width_m``); returned as dicts with ``t_s, x_m, amp, freq_hz, decay_s, width_m``.
    """
    x = np.asarray(distance_m, dtype=float)
    n = rng.poisson(rate_per_min * duration_s / 60.0)
    ev = []
    for _ in range(n):
        ev.append(
            dict(
                kind="impulse",
                t_s=float(rng.uniform(0, duration_s)),
                x_m=float(rng.uniform(x.min(), x.max())),
                amp=float(amp * rng.lognormal(0, 0.5)),
                freq_hz=float(rng.uniform(*freq_hz)),
                decay_s=float(decay_s),
                width_m=float(width_m),
            )
        )
    return ev


def render_impulses(
    events: list[dict[str, Any]], t0_s: float, n: int, fs: float, distance_m: np.ndarray
) -> np.ndarray:
    """Render impulsive events into the chunk ``[t0_s, t0_s + n/fs)``."""
    out = np.zeros((n, len(distance_m)))
    x = np.asarray(distance_m, dtype=float)
    for e in events:
        dur = 8 * e["decay_s"]
        i0 = int(np.floor((e["t_s"] - t0_s) * fs))
        i1 = int(np.ceil((e["t_s"] + dur - t0_s) * fs))
        if i1 <= 0 or i0 >= n:
            continue
        lo, hi = max(i0, 0), min(i1, n)
        tt = (lo + np.arange(hi - lo)) / fs + t0_s - e["t_s"]
        tt = np.where(tt >= 0, tt, 0.0)
        wave = e["amp"] * np.exp(-tt / e["decay_s"]) * np.sin(2 * np.pi * e["freq_hz"] * tt)
        sp = np.exp(-0.5 * ((x - e["x_m"]) / e["width_m"]) ** 2)
        cols = np.flatnonzero(sp > 1e-3)
        out[lo:hi, cols] += wave[:, None] * sp[None, cols]
    return out


@dataclass
class NoiseScene:
    """All measurement effects of one scene (what :func:`add_noise` draws)."""

    config: NoiseConfig = field(default_factory=NoiseConfig)
    coupling_sigma_log: float = 0.3
    coupling_corr_m: float = 20.0
    dead_fraction: float = 0.01
    hot_fraction: float = 0.005
    hot_factor: float = 30.0


def add_noise(
    data: np.ndarray,
    fs: float,
    distance_m: np.ndarray,
    rng: np.random.Generator,
    scene: NoiseScene | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """One-shot: coupling x signal + background noise + dead/hot channels.

    Returns the new array (float64) and a truth dict with ``coupling``,
    ``dead_channels``, ``hot_channels``.  For long scenes use
    :class:`NoiseStream` chunk by chunk instead.
    """
    scene = scene or NoiseScene()
    g = coupling_gains(rng, distance_m, scene.coupling_sigma_log, scene.coupling_corr_m)
    out = np.asarray(data, dtype=float) * g[None, :]
    out += NoiseStream(out.shape[1], fs, scene.config, rng).next(out.shape[0])
    dead, hot = bad_channels(rng, out.shape[1], scene.dead_fraction, scene.hot_fraction)
    apply_bad_channels(out, dead, hot, rng, scene.hot_factor * scene.config.white_rms)
    return out, {"coupling": g, "dead_channels": dead.tolist(), "hot_channels": hot.tolist()}
