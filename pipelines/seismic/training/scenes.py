"""Synthetic DAS earthquake scenes for training and evaluating PhaseNet-DAS.

Numpy only (no torch), so evaluation and tests can use it from the product venv.
The source model follows the project reference (seismic-ml §8): a coherent
band-limited noise burst per phase (octave around fP, fS) with a 30 ms rise and
an exponential coda, onset exactly at the travel time, amplitude ∝ 1/r × axial
sensitivity (P: 0.3 + cos²α, S: 0.3 + |sin 2α|) × S/P ratio × log-normal
coupling; noise is white + 1/f + common-mode + slow traffic sources, with dead
and noisy channels. Travel times are straight rays in a homogeneous half-space
plus a smooth per-channel static (near-surface) delay, so GaMMA's uniform
velocity model is close to but not exactly right.

**SNR** of a scene is defined on the P phase: 20·log10 of the median over live
channels of the RMS of the P signal in the 1 s after onset, divided by the RMS
of the noise (the noise of every channel is scaled to unit RMS, noisy channels
×10 after that).

Seeds: training uses ``0 <= seed < 1_000_000``; evaluation uses
``seed >= 1_000_000`` (:data:`EVAL_SEED0`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import signal

EVAL_SEED0 = 1_000_000
FS = 100.0


@dataclass
class QuakeTruth:
    """One event: hypocentre (km, fiber frame), origin (s from scene start), per-channel arrivals (s)."""

    origin_s: float
    x_km: float
    y_km: float
    z_km: float
    vp: float
    vs: float
    snr_db: float
    p_s: np.ndarray  # [nx] P arrival time in s from scene start
    s_s: np.ndarray  # [nx]


@dataclass
class Scene:
    """A synthetic scene: strain-rate-like data ``[nt, nx]`` at 100 Hz plus truth."""

    data: np.ndarray
    dt_s: float
    dx_m: float
    x_km: np.ndarray  # channel coordinates
    y_km: np.ndarray
    events: list[QuakeTruth] = field(default_factory=list)
    dead: np.ndarray | None = None  # [nx] bool
    snr_db: float = 0.0
    seed: int = 0

    @property
    def nt(self) -> int:
        return self.data.shape[0]

    @property
    def nx(self) -> int:
        return self.data.shape[1]

    def arrivals(self) -> dict[str, np.ndarray]:
        """``{"P": [n_ev, nx], "S": [n_ev, nx]}`` arrival sample indices (float, may be out of range)."""
        if not self.events:
            return {"P": np.zeros((0, self.nx)), "S": np.zeros((0, self.nx))}
        return {
            "P": np.stack([e.p_s for e in self.events]) / self.dt_s,
            "S": np.stack([e.s_s for e in self.events]) / self.dt_s,
        }

    def to_block(self, t0_ns: int = 1_700_000_000_000_000_000, fiber_id: str = "synth"):
        """The scene as a :class:`dasedge.block.DASBlock` (strain rate, 1/s-like units)."""
        from dasedge.block import DASBlock

        return DASBlock(
            data=self.data,
            t0_ns=t0_ns,
            dt_s=self.dt_s,
            distance_m=np.arange(self.nx) * self.dx_m,
            gauge_length_m=self.dx_m,
            data_type="strain_rate",
            data_units="1/s",
            fiber_id=fiber_id,
            attrs={"synthetic": "pipelines.seismic.training.scenes", "seed": self.seed},
        )


def fiber_geometry(rng: np.random.Generator, nx: int, dx_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Piecewise-straight fiber with 0-2 bends; returns x_km, y_km, unit tangent angle per channel."""
    n_bends = rng.integers(0, 3)
    heading = rng.uniform(0, 2 * np.pi)
    angles = np.full(nx, heading)
    for b in rng.choice(np.arange(nx // 8, nx - nx // 8), size=n_bends, replace=False) if nx > 16 else []:
        angles[b:] += rng.uniform(-np.pi / 2, np.pi / 2)
    step = dx_m / 1000.0
    x = np.concatenate([[0.0], np.cumsum(step * np.cos(angles[:-1]))])
    y = np.concatenate([[0.0], np.cumsum(step * np.sin(angles[:-1]))])
    return x - x.mean(), y - y.mean(), angles


def _burst(rng: np.random.Generator, n: int, f0: float, tau_s: float) -> np.ndarray:
    """Octave band-limited noise with a 30 ms rise and exponential coda; unit peak-window RMS."""
    lo, hi = f0 / np.sqrt(2), min(f0 * np.sqrt(2), 0.45 * FS)
    sos = signal.butter(4, [lo, hi], btype="band", fs=FS, output="sos")
    w = signal.sosfilt(sos, rng.standard_normal(n + 200))[200:]
    t = np.arange(n) / FS
    env = np.minimum(t / 0.03, 1.0) * np.exp(-t / tau_s)
    w = w * env
    return w / (np.sqrt(np.mean(w[: int(FS)] ** 2)) + 1e-12)


def _shift_add(out: np.ndarray, wave: np.ndarray, onset: np.ndarray, amp: np.ndarray) -> None:
    """``out[:, c] += amp[c] * wave(t - onset[c])`` with linear interpolation (vectorised)."""
    nt, nx = out.shape
    n = wave.size
    a = int(max(0, np.floor(onset.min())))
    b = int(min(nt, np.ceil(onset.max()) + n))
    if b <= a:
        return
    wpad = np.concatenate([wave, [0.0, 0.0]]).astype(np.float32)
    t = np.arange(a, b, dtype=np.float32)[:, None]
    rel = t - onset.astype(np.float32)[None, :]
    valid = (rel >= 0) & (rel < n - 1)
    fl = np.floor(rel)
    i0 = np.clip(fl.astype(np.int64), 0, n)
    f = rel - fl
    vals = wpad[i0] * (1 - f) + wpad[np.minimum(i0 + 1, n + 1)] * f
    out[a:b] += np.where(valid, vals, 0.0) * amp.astype(np.float32)[None, :]


def _noise(rng: np.random.Generator, nt: int, nx: int, dx_m: float) -> np.ndarray:
    """White + 1/f + common-mode + traffic noise, each channel scaled to unit RMS."""
    white = rng.standard_normal((nt, nx))
    # 1/f (pink-ish): integrate white noise with a leaky integrator, then high-pass at 0.5 Hz
    pink = signal.lfilter([1.0], [1.0, -0.97], rng.standard_normal((nt, nx)), axis=0)
    pink = signal.sosfilt(signal.butter(2, 0.5, "high", fs=FS, output="sos"), pink, axis=0)
    pink /= pink.std() + 1e-12
    common = signal.sosfilt(signal.butter(2, [1, 20], "band", fs=FS, output="sos"), rng.standard_normal(nt))
    common /= common.std() + 1e-12
    noise = white * rng.uniform(0.5, 1.0) + pink * rng.uniform(0.0, 1.0) + common[:, None] * rng.uniform(0, 0.7)
    # traffic: slow sources moving along the fiber with a local footprint
    dist_m = np.arange(nx) * 1.0
    t = np.arange(nt) / FS
    for _ in range(rng.integers(0, 4)):
        v = rng.uniform(8, 30) * rng.choice([-1, 1])  # m/s
        dx = dx_m
        pos0 = rng.uniform(0, nx * dx)
        pos = pos0 + v * t  # [nt]
        sig_ch = rng.uniform(30, 120) / dx
        env = np.exp(-0.5 * ((dist_m[None, :] - pos[:, None] / dx) / sig_ch) ** 2)
        wave = signal.sosfilt(signal.butter(2, [rng.uniform(1, 4), rng.uniform(8, 20)], "band", fs=FS, output="sos"),
                              rng.standard_normal(nt))
        wave /= wave.std() + 1e-12
        noise += env * wave[:, None] * rng.uniform(1, 6)
    noise /= noise.std(axis=0, keepdims=True) + 1e-12
    return noise


def simulate(
    seed: int,
    *,
    nt: int = 3000,
    nx: int = 256,
    dx_m: float | None = None,
    snr_db: float | None = None,
    n_events: int | None = None,
    dead_fraction: float = 0.01,
    noisy_fraction: float = 0.01,
    real_noise: np.ndarray | None = None,
    real_noise_weight: float = 0.0,
    epi_km: tuple[float, float] | None = None,
    depth_km: tuple[float, float] | None = None,
    overlap_s: tuple[float, float] | None = None,
) -> Scene:
    """Simulate one scene.

    Parameters
    ----------
    seed
        RNG seed (training ``< EVAL_SEED0``, evaluation ``>= EVAL_SEED0``).
    nt, nx
        Samples (100 Hz) and channels.
    dx_m
        Channel spacing (default U(8, 10) m, the paper's training domain).
    snr_db
        P-phase SNR of the first event (default U(-5, 25) dB).
    n_events
        Number of earthquakes (default: 0 with p 0.1, 1 with p 0.6, 2 with p 0.3 - often overlapping).
    real_noise
        Optional ``[nt, nx]`` unit-RMS real noise added (weight ``real_noise_weight``) before re-scaling.
    epi_km, depth_km
        Optional ranges (km) for the epicentral distance and depth of every event (default: 0-40 km with
        p 0.8 else 0-5 km, depth 2-20 km). Used to focus pseudo-labelled scenes on near, shallow events
        (short S-P); ``None`` keeps the default random stream unchanged (reproducibility of stage 1).
    overlap_s
        Optional range (s) of the origin delay of every later event after the first one, so a
        later P arrives inside the first event's S coda (``None``: independent origins).
    """
    rng = np.random.default_rng(seed)
    dx_m = float(dx_m if dx_m is not None else rng.uniform(8, 10))
    snr_db = float(snr_db if snr_db is not None else rng.uniform(-5, 25))
    if n_events is None:
        n_events = int(rng.choice([0, 1, 2], p=[0.1, 0.6, 0.3]))
    x_km, y_km, ang = fiber_geometry(rng, nx, dx_m)
    noise = _noise(rng, nt, nx, dx_m)
    if real_noise is not None and real_noise_weight > 0:
        noise = noise + real_noise_weight * real_noise
        noise /= noise.std(axis=0, keepdims=True) + 1e-12
    dead = rng.random(nx) < dead_fraction
    noisy = (rng.random(nx) < noisy_fraction) & ~dead
    statics = np.cumsum(rng.normal(0, 0.002, nx))
    statics = statics - statics.mean()
    statics = np.clip(statics, -0.05, 0.05)
    sig = np.zeros((nt, nx), np.float32)
    events: list[QuakeTruth] = []
    dur = nt / FS
    for k in range(n_events):
        r_epi = rng.uniform(0, 40) if rng.random() < 0.8 else rng.uniform(0, 5)
        az = rng.uniform(0, 2 * np.pi)
        ez = rng.uniform(2, 20)
        if epi_km is not None:
            r_epi = rng.uniform(*epi_km)
        if depth_km is not None:
            ez = rng.uniform(*depth_km)
        ex, ey = r_epi * np.cos(az), r_epi * np.sin(az)
        vp = rng.uniform(4.5, 6.5)
        vs = vp / rng.uniform(1.65, 1.9)
        dxk, dyk = x_km - ex, y_km - ey
        r = np.sqrt(dxk**2 + dyk**2 + ez**2)
        tp_rel, ts_rel = r / vp + statics, r / vs + statics * 1.7
        # origin: P of every event inside the window; later events may overlap the first
        lo = -tp_rel.min() + 1.0
        # the first event keeps its S arrivals inside the record too (when the window allows)
        hi = dur - (ts_rel.max() + 2.0 if k == 0 else tp_rel.max())
        t0 = rng.uniform(lo, max(lo, hi))
        if overlap_s is not None and k > 0:
            t0 = events[0].origin_s + rng.uniform(*overlap_s)
        # axial sensitivity: angle between the ray (horizontal+vertical) and the fiber tangent
        cos_a = -(dxk * np.cos(ang) + dyk * np.sin(ang)) / r
        sens_p = 0.3 + cos_a**2
        sens_s = 0.3 + np.abs(2 * cos_a * np.sqrt(np.clip(1 - cos_a**2, 0, 1)))
        coupling = np.exp(rng.normal(0, 0.5, nx))
        sp_ratio = rng.uniform(1.5, 3.0)
        fp, fs_ = rng.uniform(5, 12), rng.uniform(2.5, 6)
        n_w = int(min(nt, 12 * FS))
        wp = _burst(rng, n_w, fp, rng.uniform(0.5, 1.5))
        ws = _burst(rng, n_w, fs_, rng.uniform(1.0, 3.0))
        ap = coupling * sens_p / r
        as_ = coupling * sens_s / r * sp_ratio
        ev_snr = snr_db if k == 0 else snr_db + rng.uniform(-10, 10)
        live = ~dead
        med_p = np.median(ap[live]) if live.any() else 1.0
        scale = 10 ** (ev_snr / 20) / med_p
        _shift_add(sig, wp, (t0 + tp_rel) * FS, ap * scale)
        _shift_add(sig, ws, (t0 + ts_rel) * FS, as_ * scale)
        events.append(QuakeTruth(t0, ex, ey, ez, vp, vs, ev_snr, t0 + tp_rel, t0 + ts_rel))
    noise[:, noisy] *= 10
    data = sig + noise
    data[:, dead] = 0.0
    # physical-ish strain-rate units: 1e-9 /s per unit
    data = (data * 1e-9).astype(np.float32)
    return Scene(data, 1 / FS, dx_m, x_km, y_km, events, dead, snr_db, seed)
