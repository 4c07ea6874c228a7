"""Synthetic DAS earthquake scenes (strain rate, 1/s) with exact ground truth.

A scene is a fiber (straight, bent or curved, per-channel ``x, y`` at the
surface) and one or more point sources underneath or near it.  Each event
radiates a P and an S *noise burst*: a band-limited random burst (one octave
around ``fP`` = 8 Hz / ``fS`` = 4 Hz, lowered by ``10**(-0.1 (M - 2))`` above
magnitude 2; coda ``tauP`` = 1 s, ``tauS`` = 2 s), a 30 ms sin² rise and an exponential coda, whose
onset is exactly at the straight-ray travel time (uniform velocity, or a
1-D layered model via the straight-ray approximation).  The same burst is
used on every channel (coherent moveout), scaled per channel by

* geometrical spreading ``1/r``,
* the axial (along-fiber) sensitivity, with ``alpha`` the angle between the
  ray and the fiber axis: P ``0.3 + cos² alpha``, S ``0.3 + |sin 2 alpha|``,
* the S/P amplitude ratio,
* ``10**(magnitude - 2)`` (amplitude scaling with magnitude), and
* a log-normal coupling factor per channel (sigma 0.5).

A magnitude-2 S wave at 10 km has a peak strain rate of about 3e-8 1/s
before the sensitivity and coupling factors.

Noise is white + 1/f + slow drift (per channel) + common mode (shared by all
channels), from :mod:`dasedge.synth.noise`, + slow traffic (moving
quasi-static loads along the fiber, < ~1 Hz) plus about 1 % dead (near-zero)
or noisy (x10) channels.

SNR definition
--------------
For one event and one live channel whose P arrival lies in the record, the
channel SNR is ``RMS(P-phase signal in [tP, tP + 1 s]) / RMS(noise on that
channel over the whole record)``.  The scene SNR of the event is the
**median over channels** of that ratio, in dB (``20 log10``).  With
``snr_db`` given, the noise is scaled so that the *first* event (``events[0]``
or the first generated event) has exactly that SNR; the realised SNR of every
event is reported in the truth.  With ``snr_db=None`` the noise has a fixed
physical level (``noise_rms`` 1/s, default 1e-9).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from scipy import signal as sps

from dasedge.block import DASBlock
from dasedge.synth.noise import NoiseConfig, NoiseStream, bad_channels
from dasedge.records import stable_id

__all__ = [
    "simulate_quake_scene",
    "burst_wavelet",
    "fiber_coordinates",
    "travel_times",
    "snr_of_event",
]

#: Default epoch of synthetic scenes: 2024-01-01T00:00:00Z.
DEFAULT_T0_NS = 1_704_067_200_000_000_000

RISE_S = 0.03
TAU_P_S = 1.0
TAU_S_S = 2.0
F_P_HZ = 8.0
F_S_HZ = 4.0
#: Peak S strain rate (1/s) of a magnitude-2 event at 10 km hypocentral distance.
A_REF = 3e-8
R_REF_M = 10_000.0
SNR_WINDOW_S = 1.0


# --------------------------------------------------------------------------- geometry
def fiber_coordinates(
    n_channels: int,
    dx_m: float,
    geometry: str = "straight",
    *,
    bend_deg: float = 90.0,
    coords: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Surface coordinates ``(x, y)`` in metres of each channel.

    Parameters
    ----------
    n_channels, dx_m
        Number of channels and their spacing along the fiber.
    geometry
        ``"straight"`` (along +x), ``"bent"`` (along +x for the first half,
        then turned by ``bend_deg``) or ``"curved"`` (a circular arc turning by
        ``bend_deg`` over the whole length).  Ignored when ``coords`` is given.
    coords
        Explicit ``(n_channels, 2)`` array of ``x, y`` (metres).

    Returns
    -------
    xy, tangent
        ``(n, 2)`` coordinates and ``(n, 2)`` unit tangent of the fiber axis.
    """
    s = np.arange(n_channels, dtype=np.float64) * dx_m
    if coords is not None:
        xy = np.asarray(coords, dtype=np.float64)
        if xy.shape != (n_channels, 2):
            raise ValueError(f"coords must have shape ({n_channels}, 2), got {xy.shape}")
    elif geometry == "straight":
        xy = np.column_stack([s, np.zeros_like(s)])
    elif geometry == "bent":
        corner = s[n_channels // 2]
        th = np.deg2rad(bend_deg)
        after = np.maximum(s - corner, 0.0)
        x = np.minimum(s, corner) + after * np.cos(th)
        y = after * np.sin(th)
        xy = np.column_stack([x, y])
    elif geometry == "curved":
        th = np.deg2rad(bend_deg)
        length = max(s[-1], dx_m)
        if abs(th) < 1e-9:
            xy = np.column_stack([s, np.zeros_like(s)])
        else:
            radius = length / th
            phi = s / radius
            xy = np.column_stack([radius * np.sin(phi), radius * (1 - np.cos(phi))])
    else:
        raise ValueError(f"unknown geometry {geometry!r}; expected straight, bent or curved")
    if n_channels > 1:
        tan = np.gradient(xy, axis=0)
    else:
        tan = np.array([[1.0, 0.0]])
    tan = tan / np.maximum(np.linalg.norm(tan, axis=1, keepdims=True), 1e-12)
    return xy, tan


def travel_times(
    xy: np.ndarray,
    src: Sequence[float],
    velocity_ms: float | None = None,
    *,
    layers: Sequence[tuple[float, float]] | None = None,
    phase: str = "P",
    vp_vs: float = 1.73,
) -> tuple[np.ndarray, np.ndarray]:
    """Straight-ray travel time (s) and hypocentral distance (m) to each channel.

    Parameters
    ----------
    xy
        ``(n, 2)`` receiver coordinates at the surface (z = 0).
    src
        ``(x, y, depth)`` in metres, depth positive down.
    velocity_ms
        Uniform velocity (m/s).  Ignored if ``layers`` is given.
    layers
        Optional 1-D model ``[(top_depth_m, vp_ms), ...]`` sorted by depth; the
        travel time along the straight ray is the sum of path length in each
        layer over its velocity (S velocities are ``vp / vp_vs``).
    """
    dxy = xy - np.asarray(src[:2], dtype=np.float64)[None, :]
    depth = float(src[2])
    r = np.sqrt(np.sum(dxy**2, axis=1) + depth**2)
    if layers is None:
        if velocity_ms is None:
            raise ValueError("velocity_ms or layers is required")
        return r / velocity_ms, r
    tops = np.array([lay[0] for lay in layers], dtype=np.float64)
    vels = np.array([lay[1] for lay in layers], dtype=np.float64)
    if phase.upper() == "S":
        vels = vels / vp_vs
    bottoms = np.append(tops[1:], np.inf)
    # fraction of the vertical extent (0..depth) spent in each layer; the
    # straight ray spends the same fraction of its length there.
    if depth <= 0:
        frac = np.zeros_like(tops)
        frac[np.searchsorted(tops, 0.0, side="right") - 1] = 1.0
    else:
        frac = np.clip(np.minimum(bottoms, depth) - np.maximum(tops, 0.0), 0.0, None) / depth
    slowness = float(np.sum(frac / vels))
    return r * slowness, r


# --------------------------------------------------------------------------- wavelet
def _envelope(t: np.ndarray, tau_s: float, rise_s: float = RISE_S) -> np.ndarray:
    """Zero before 0, sin² rise over ``rise_s``, then exponential decay."""
    env = np.zeros_like(t)
    up = (t >= 0) & (t < rise_s)
    env[up] = np.sin(0.5 * np.pi * t[up] / rise_s) ** 2
    after = t >= rise_s
    env[after] = np.exp(-(t[after] - rise_s) / tau_s)
    return env


def burst_wavelet(
    rng: np.random.Generator,
    fc_hz: float,
    tau_s: float,
    *,
    fs_base: float = 1000.0,
    rise_s: float = RISE_S,
    n_tau: float = 7.0,
) -> tuple[np.ndarray, np.ndarray]:
    """A noise-burst wavelet sampled at ``fs_base`` Hz.

    Band-limited Gaussian noise (zero-phase Butterworth band-pass over one
    octave ``[fc/sqrt 2, fc sqrt 2]``) times :func:`_envelope`.  The peak of the
    returned wavelet is normalised to 1.

    Returns
    -------
    t, w
        Times (s, starting at 0 = onset) and wavelet values.
    """
    n = int(np.ceil((rise_s + n_tau * tau_s) * fs_base)) + 1
    pad = int(2 * fs_base / fc_hz) + 64
    noise = rng.standard_normal(n + 2 * pad)
    lo, hi = fc_hz / np.sqrt(2), min(fc_hz * np.sqrt(2), 0.45 * fs_base)
    sos = sps.butter(4, [lo, hi], btype="bandpass", fs=fs_base, output="sos")
    band = sps.sosfiltfilt(sos, noise)[pad : pad + n]
    t = np.arange(n) / fs_base
    w = band * _envelope(t, tau_s, rise_s)
    # start exactly at the onset with a zero-valued sample
    w[0] = 0.0
    return t, w / np.max(np.abs(w))


def _corner(f0: float, magnitude: float, fs: float) -> float:
    """Centre frequency: ``f0`` up to M2, lower for larger events, below 0.3 fs.

    Smaller events keep ``f0``: their higher source corner is cut by path
    attenuation at local distances (and PhaseNet misses > 10 Hz P bursts).
    """
    fc = f0 * min(1.0, 10 ** (-0.1 * (magnitude - 2.0)))
    return float(np.clip(fc, 0.5, 0.3 * fs))


# --------------------------------------------------------------------------- noise
def _traffic(rng: np.random.Generator, nt: int, s_m: np.ndarray, fs: float, n_vehicles: int) -> np.ndarray:
    """Slow quasi-static loads moving along the fiber (strain rate, peak 1).

    Each load is evaluated only on the band of channels within 5 widths of
    its position at each sample (``[nt, band]`` per vehicle).
    """
    nch = s_m.size
    out = np.zeros((nt, nch))
    if n_vehicles <= 0 or nch < 2:
        return out
    t = np.arange(nt) / fs
    dx = float(s_m[1] - s_m[0])
    length = s_m[-1] - s_m[0]
    rows = np.arange(nt)[:, None]
    for _ in range(n_vehicles):  # per-source loop, vectorised over (t, band)
        v = rng.uniform(8.0, 30.0) * rng.choice([-1.0, 1.0])
        width = rng.uniform(15.0, 40.0)
        x0 = rng.uniform(s_m[0] - 0.5 * length, s_m[-1] + 0.5 * length)
        gain = rng.uniform(0.5, 1.5)
        half = int(np.ceil(5 * width / abs(dx))) + 1
        pos = x0 + v * t  # position along the fiber
        centre = np.round((pos - s_m[0]) / dx).astype(np.int64)
        cols = centre[:, None] + np.arange(-half, half + 1)[None, :]
        ok = (cols >= 0) & (cols < nch)
        if not ok.any():
            continue
        cc = np.clip(cols, 0, nch - 1)
        xi = (s_m[cc] - pos[:, None]) / width
        # d/dt of a Gaussian strain bump moving at v: v/width * xi * exp(-xi²/2)
        val = np.where(ok, gain * xi * np.exp(-0.5 * xi**2), 0.0)
        np.add.at(out, (np.broadcast_to(rows, cc.shape)[ok], cc[ok]), val[ok])
    return out / max(np.max(np.abs(out)), 1e-30)


def _noise_field(
    rng: np.random.Generator, nt: int, s_m: np.ndarray, fs: float, *, traffic: bool, n_vehicles: int
) -> np.ndarray:
    """Unit-scale noise ``[nt, nch]``: white + 1/f + common mode + drift (+ traffic).

    The stationary part comes from the shared :mod:`dasedge.synth.noise` models.
    """
    cfg = NoiseConfig(white_rms=1.0, pink_rms=0.5, common_rms=0.3, drift_rms=0.2)
    field = NoiseStream(s_m.size, fs, cfg, rng).next(nt)
    if traffic:
        field += 3.0 * _traffic(rng, nt, s_m, fs, n_vehicles)
    return field


# --------------------------------------------------------------------------- scene
def _random_events(
    rng: np.random.Generator,
    n: int,
    xy: np.ndarray,
    depth_range_m: tuple[float, float],
    magnitude_range: tuple[float, float],
    offset_m: float,
) -> list[dict[str, Any]]:
    lo = xy.min(axis=0) - offset_m
    hi = xy.max(axis=0) + offset_m
    evs = []
    for _ in range(n):
        evs.append(
            {
                "x_m": float(rng.uniform(lo[0], hi[0])),
                "y_m": float(rng.uniform(lo[1], hi[1])),
                "depth_m": float(rng.uniform(*depth_range_m)),
                "magnitude": float(rng.uniform(*magnitude_range)),
            }
        )
    return evs


def snr_of_event(
    p_signal: np.ndarray, noise: np.ndarray, tp_s: np.ndarray, fs: float, live: np.ndarray
) -> float:
    """Median-channel SNR (dB) of one event (see module docstring).

    Parameters
    ----------
    p_signal
        ``[nt, nch]`` P-phase signal of the event alone.
    noise
        ``[nt, nch]`` noise field.
    tp_s
        P arrival time of each channel relative to the first sample (s).
    live
        Boolean mask of channels to use (not dead, P inside the record).
    """
    nt = p_signal.shape[0]
    i0 = np.ceil(tp_s * fs).astype(np.int64)
    nwin = int(round(SNR_WINDOW_S * fs))
    ok = live & (i0 >= 0) & (i0 + nwin <= nt)
    if not ok.any():
        return float("nan")
    ch = np.flatnonzero(ok)
    rows = i0[ch][None, :] + np.arange(nwin)[:, None]
    sig = p_signal[rows, ch[None, :]]
    sig_rms = np.sqrt(np.mean(sig**2, axis=0))
    noise_rms = np.sqrt(np.mean(noise[:, ch] ** 2, axis=0))
    return float(20 * np.log10(np.median(sig_rms / np.maximum(noise_rms, 1e-300))))


def _p_window_rms(w: np.ndarray, i_lo: int, t_arr: np.ndarray, fs: float, nt: int) -> np.ndarray:
    """Per-channel RMS of a P part ``w`` (rows ``i_lo..``) over ``[tP, tP + 1 s]``.

    NaN where the window is not entirely inside the record.
    """
    nwin = int(round(SNR_WINDOW_S * fs))
    i0 = np.ceil(t_arr * fs).astype(np.int64)
    ok = (i0 >= 0) & (i0 + nwin <= nt)
    rows = i0[None, :] + np.arange(nwin)[:, None] - i_lo  # rows of w
    inside = (rows >= 0) & (rows < w.shape[0])
    vals = np.take_along_axis(w, np.clip(rows, 0, max(w.shape[0] - 1, 0)), axis=0) if w.size else np.zeros(rows.shape)
    vals = np.where(inside, vals, 0.0)
    rms = np.sqrt(np.mean(vals**2, axis=0))
    return np.where(ok, rms, np.nan)


def simulate_quake_scene(
    *,
    n_channels: int = 512,
    dx_m: float = 8.0,
    fs: float = 100.0,
    duration_s: float = 60.0,
    events: list[dict[str, Any]] | None = None,
    n_events: int = 1,
    seed: int = 0,
    snr_db: float | Sequence[float] | None = 10.0,
    geometry: str = "straight",
    coords: np.ndarray | None = None,
    bend_deg: float = 90.0,
    vp_kms: float = 6.0,
    vs_kms: float | None = None,
    vp_vs: float = 1.73,
    layers: Sequence[tuple[float, float]] | None = None,
    depth_range_km: tuple[float, float] = (3.0, 15.0),
    magnitude_range: tuple[float, float] = (1.0, 3.0),
    epicentre_offset_m: float = 5_000.0,
    sp_ratio: float = 1.5,
    coupling_sigma: float = 0.5,
    traffic: bool = True,
    n_vehicles: int = 6,
    dead_fraction: float = 0.01,
    noise_rms: float = 1e-9,
    gauge_length_m: float = 10.0,
    t0_ns: int = DEFAULT_T0_NS,
    fiber_id: str = "synth-quake",
) -> tuple[DASBlock, dict[str, Any]]:
    """Simulate a DAS record of one or more local earthquakes.

    Parameters
    ----------
    n_channels, dx_m, fs, duration_s
        Array and record size; channel ``i`` is at ``i * dx_m`` along the fiber.
    events
        Explicit events, dicts with any of ``x_m, y_m, depth_m, magnitude``,
        ``origin_s`` (relative to ``t0``) or ``origin_ns`` (absolute),
        ``event_id``.  Missing fields are drawn at random.  If ``None``,
        ``n_events`` random events are made.
    seed
        Seed of every random draw: equal seeds give identical scenes.
    snr_db
        Target SNR of the first event (module docstring); ``None`` keeps the
        physical noise level ``noise_rms``.  A sequence gives one target per
        event: the first sets the noise level, the others rescale their
        event's amplitude, i.e. its magnitude is raised/lowered by
        ``delta_dB / 20`` (the burst frequency keeps the drawn magnitude).
    geometry, coords, bend_deg
        Fiber layout, see :func:`fiber_coordinates`.
    vp_kms, vs_kms, vp_vs
        Uniform velocities; ``vs_kms`` defaults to ``vp_kms / vp_vs``.
    layers
        Optional 1-D P model ``[(top_depth_km, vp_kms), ...]`` (straight rays).
    depth_range_km, magnitude_range, epicentre_offset_m
        Ranges for random events (epicentres within the fiber's bounding box
        widened by ``epicentre_offset_m``).
    sp_ratio
        S/P amplitude ratio.
    coupling_sigma
        Sigma of the per-channel log-normal coupling of the signal.
    traffic, n_vehicles
        Add slow traffic noise sources.
    dead_fraction
        Fraction of channels made dead (half, ~zero) or noisy (half, x10 noise).

    Returns
    -------
    block, truth
        ``truth`` has ``events`` (``event_id, origin_ns, x_m, y_m, depth_m,
        magnitude, snr_db``), ``arrivals`` (``event_id, channel, distance_m,
        phase, t_ns``; only arrivals inside the record), ``dead_channels``,
        ``noisy_channels``, ``noise_scale`` (1/s per unit noise), ``x_m``,
        ``y_m`` (channel coordinates) and ``params``.
    """
    if n_channels < 1 or duration_s <= 0 or fs <= 0:
        raise ValueError("n_channels, duration_s and fs must be positive")
    rng = np.random.default_rng(seed)
    nt = int(round(duration_s * fs))
    s_m = np.arange(n_channels, dtype=np.float64) * dx_m
    xy, tan = fiber_coordinates(n_channels, dx_m, geometry, bend_deg=bend_deg, coords=coords)
    vp = vp_kms * 1e3
    vs = (vs_kms * 1e3) if vs_kms is not None else vp / vp_vs
    vp_vs_eff = vp / vs
    layers_m = None if layers is None else [(top * 1e3, v * 1e3) for top, v in layers]

    # ---- events
    depth_range_m = (depth_range_km[0] * 1e3, depth_range_km[1] * 1e3)
    if events is None:
        ev_in: list[dict[str, Any]] = [{} for _ in range(n_events)]
    else:
        ev_in = [dict(e) for e in events]
    defaults = _random_events(rng, len(ev_in), xy, depth_range_m, magnitude_range, epicentre_offset_m)
    evs = []
    for i, (given, dflt) in enumerate(zip(ev_in, defaults)):
        ev = {**dflt, **{k: v for k, v in given.items() if v is not None}}
        src = (ev["x_m"], ev["y_m"], ev["depth_m"])
        tp, _ = travel_times(xy, src, vp, layers=layers_m, phase="P", vp_vs=vp_vs_eff)
        u = rng.uniform(0.1, 0.5)  # used only if no origin given (keeps draws aligned)
        if "origin_ns" in given:
            origin_s = (int(given["origin_ns"]) - t0_ns) / 1e9
        elif "origin_s" in given:
            origin_s = float(given["origin_s"])
        else:
            origin_s = u * duration_s - float(tp.min())
        ev["origin_s"] = origin_s
        ev["origin_ns"] = int(t0_ns + round(origin_s * 1e9))
        ev["event_id"] = str(given.get("event_id") or stable_id(fiber_id, seed, i, prefix="synq-"))
        evs.append(ev)

    # ---- per-channel factors
    coupling = np.exp(coupling_sigma * rng.standard_normal(n_channels))
    dead, noisy = bad_channels(rng, n_channels, dead_fraction / 2, dead_fraction / 2)

    t_rel = np.arange(nt) / fs
    parts: list[tuple[int, int, int, np.ndarray]] = []  # (event, i_lo, i_hi, w)
    p_rms: list[np.ndarray] = []  # per event: P-window RMS per channel at unit gain
    arrivals: list[dict[str, Any]] = []
    for k, ev in enumerate(evs):  # per-event / per-phase loops; vectorised over samples x channels
        src = np.array([ev["x_m"], ev["y_m"], ev["depth_m"]])
        ray = np.column_stack([xy - src[None, :2], np.full(n_channels, -src[2])])
        r = np.linalg.norm(ray, axis=1)
        cos_a = np.abs(np.sum(ray[:, :2] * tan, axis=1)) / np.maximum(r, 1e-9)
        sin_a = np.sqrt(np.clip(1 - cos_a**2, 0, 1))
        sens = {"P": 0.3 + cos_a**2, "S": 0.3 + np.abs(2 * sin_a * cos_a)}
        amp_s = A_REF * 10 ** (ev["magnitude"] - 2.0) * (R_REF_M / np.maximum(r, 100.0))
        amp = {"P": amp_s / sp_ratio, "S": amp_s}
        vel = {"P": vp, "S": vs}
        for phase, f0, tau in (("P", F_P_HZ, TAU_P_S), ("S", F_S_HZ, TAU_S_S)):
            tt, _ = travel_times(xy, src, vel[phase], layers=layers_m, phase=phase, vp_vs=vp_vs_eff)
            t_arr = ev["origin_s"] + tt
            fc = _corner(f0, ev["magnitude"], fs)
            tb, wb = burst_wavelet(rng, fc, tau, fs_base=max(1000.0, 8 * fs))
            rms_p = np.full(n_channels, np.nan)
            i_lo = max(0, int(np.floor(t_arr.min() * fs)))
            i_hi = min(nt, int(np.ceil((t_arr.max() + tb[-1]) * fs)) + 1)
            if i_hi > i_lo:
                lag = t_rel[i_lo:i_hi, None] - t_arr[None, :]
                w = np.interp(lag, tb, wb, left=0.0, right=0.0)
                w *= (amp[phase] * sens[phase] * coupling)[None, :]
                parts.append((k, i_lo, i_hi, w))
                if phase == "P":
                    rms_p = _p_window_rms(w, i_lo, t_arr, fs, nt)
            if phase == "P":
                p_rms.append(rms_p)
            inside = np.flatnonzero((t_arr >= 0) & (t_arr < nt / fs))
            t_ns = t0_ns + np.round(t_arr[inside] * 1e9).astype(np.int64)
            arrivals.extend(
                {
                    "event_id": ev["event_id"],
                    "channel": int(c),
                    "distance_m": float(s_m[c]),
                    "phase": phase,
                    "t_ns": int(tn),
                    "hypo_dist_m": float(r[c]),
                }
                for c, tn in zip(inside, t_ns)
            )

    # ---- noise
    noise = _noise_field(rng, nt, s_m, fs, traffic=traffic, n_vehicles=n_vehicles)
    noise[:, noisy] *= 10.0
    live = np.ones(n_channels, dtype=bool)
    live[dead] = False
    live[noisy] = False
    targets: list[float | None]
    if snr_db is None or np.ndim(snr_db) == 0:
        targets = [snr_db] + [None] * max(0, len(evs) - 1)
    else:
        targets = [float(v) for v in snr_db]  # type: ignore[union-attr]
        if len(targets) != len(evs):
            raise ValueError(f"snr_db has {len(targets)} values for {len(evs)} events")
    noise_ch = np.sqrt(np.mean(noise**2, axis=0))  # per-channel RMS at unit scale

    def _snr(k: int, gain: float, scl: float) -> float:
        ratio = gain * p_rms[k] / np.maximum(scl * noise_ch, 1e-300)
        use = live & np.isfinite(ratio)
        return float(20 * np.log10(np.median(ratio[use]))) if use.any() else float("nan")

    if targets and targets[0] is not None:
        snr_unit = _snr(0, 1.0, 1.0)
        if not np.isfinite(snr_unit):
            raise ValueError("the first event's P window is not inside the record; cannot set snr_db")
        scale = 10 ** ((snr_unit - targets[0]) / 20.0)
    else:
        base = np.sqrt(np.mean(noise[:, live] ** 2)) if live.any() else 1.0
        scale = noise_rms / base
    noise *= scale
    gains = np.ones(len(evs))
    for k in range(1, len(evs)):
        if targets[k] is not None:
            now = _snr(k, 1.0, scale)
            if np.isfinite(now):
                gains[k] = 10 ** ((targets[k] - now) / 20.0)
                evs[k]["magnitude"] += float(np.log10(gains[k]))
    data = noise
    data[:, dead] *= 1e-3  # dead channels: only a trace of the noise, no signal
    not_dead = np.ones(n_channels)
    not_dead[dead] = 0.0
    for k, i_lo, i_hi, w in parts:
        data[i_lo:i_hi] += (gains[k] * not_dead)[None, :] * w
    for k, ev in enumerate(evs):
        ev["snr_db"] = _snr(k, gains[k], scale)

    block = DASBlock(
        data=data.astype(np.float32),
        t0_ns=t0_ns,
        dt_s=1.0 / fs,
        distance_m=s_m,
        gauge_length_m=gauge_length_m,
        data_type="strain_rate",
        data_units="1/s",
        fiber_id=fiber_id,
        attrs={"synthetic": "quake", "seed": seed, "geometry": geometry if coords is None else "custom"},
    )
    ev_out = [
        {
            "event_id": e["event_id"],
            "origin_ns": e["origin_ns"],
            "x_m": float(e["x_m"]),
            "y_m": float(e["y_m"]),
            "depth_m": float(e["depth_m"]),
            "magnitude": float(e["magnitude"]),
            "snr_db": float(e["snr_db"]),
        }
        for e in evs
    ]
    truth = {
        "events": ev_out,
        "arrivals": arrivals,
        "dead_channels": dead.tolist(),
        "noisy_channels": noisy.tolist(),
        "noise_scale": float(scale),
        "x_m": xy[:, 0].copy(),
        "y_m": xy[:, 1].copy(),
        "params": {
            "vp_ms": vp,
            "vs_ms": vs,
            "layers_m": layers_m,
            "sp_ratio": sp_ratio,
            "snr_db": snr_db,
            "seed": seed,
        },
    }
    return block, truth
