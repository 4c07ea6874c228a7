"""Synthetic traffic scenes with ground truth (strain rate, moving axle loads).

Physics (see ``/work/shared/reference/traffic-method.md`` section 6)
-------------------------------------------------------------------
- A vehicle is a set of axles with loads ``P_i`` (tonnes) at offsets ``a_i``
  behind the front axle, moving along a piecewise-linear trajectory
  ``x_v(t)`` (constant speed, or decelerate / stop / accelerate).
- Point strain kernel ``k(u)`` of a buried cable: a Mexican hat
  ``(1 - u^2/s^2) exp(-u^2 / 2 s^2)`` (``kernel="buried"``, ``s`` =
  ``kernel_width_m``), or a long smooth bridge influence line (Gaussian,
  ``kernel="bridge"``).
- The gauge length averages the strain over ``GL`` (boxcar along x); done in
  closed form through the kernel's antiderivative, then sampled at the
  channel positions (``dx``).
- The measured quantity is the strain *rate*:
  ``de/dt = -xdot_v(t) * sum_i P_i K'(x - x_v(t) + d a_i)`` with ``K'`` the
  derivative of the GL-averaged kernel -> the antisymmetric (- then +) pulse.
- A dynamic, band-limited component rides under a moving Gaussian envelope:
  cars peak near 19 Hz, trucks near 8 Hz with more low-frequency energy, plus
  damped axle impacts at road joints.
- Lanes scale the amplitude (the far lane is weaker); per-channel log-normal
  coupling (spatially correlated) multiplies the signal (not the noise).

Noise (``dasedge.synth.noise``): white + 1/f, common mode, slow drift, dead
and hot channels, bridge modal tones, impulsive events.

SNR definition
--------------
``snr_db = 20 log10(A_ref / sigma_n)`` where ``A_ref`` is the peak
|quasi-static strain rate| of a *reference car* (2 axles of 0.75 t, 2.7 m
wheelbase, 84 km/h, lane gain 1, coupling 1) on one channel after
gauge-length averaging, and ``sigma_n`` is the RMS of the per-channel
incoherent noise (white + 1/f) over the full band.  Common-mode and drift
are given relative to ``sigma_n``.

Truth
-----
One row per vehicle (``t_*_ns`` absolute UTC ns): ``id, vehicle_class,
n_axles, axle_offsets_m, axle_loads_t, weight_t, direction, lane,
speed_kmh, t_entry_ns, x_entry_m, t_exit_ns, x_exit_m, t_ref_ns,
x_ref_m, amplitude, wrong_way, stops``. ``t_ref`` is the time the load
centroid passes ``x_ref`` (the section midpoint); ``t_entry``/``t_exit``
the times the load centroid crosses the section limits; ``amplitude`` is
the peak |quasi-static strain rate| (1/s) at ``x_ref`` with unit coupling.
Scene-level truth: modal frequencies, impulsive events, dead/hot channels,
stopped-vehicle / wrong-way / congestion events.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from scipy.special import erf

from dasedge.block import DASBlock
from dasedge.synth import noise as nz

#: Statistics of the Åstfjord video log (2023-10-05, 329 vehicles, 2.69 h),
#: checked against the CSV by ``tests/synth/test_traffic_synth.py``.
AASTFJORD_STATS = {
    "vehicles_per_min_per_direction": 1.02,  # 329 / 2.686 h / 2 directions
    "heavy_share": 0.20,  # (61 trucks + 3 buses) / 329 = 0.195, 18 with trailers
    "follower_share": 0.15,  # share of same-direction headways < 3 s (0.13 / 0.16)
    "min_headway_s": 1.21,
    "median_headway_all_s": 16.7,
}

DEFAULT_T0_NS = (1696464000 + 8 * 3600) * 10**9  # 2023-10-05T08:00:00Z

KMH = 1 / 3.6


@dataclass
class TrafficSceneConfig:
    """Scene parameters in physical units (see module docstring).

    Geometry: channels at ``x_start_m + k*dx_m`` covering ``length_m``; the
    monitored section (truth entry/exit) is the whole channel span.
    """

    duration_s: float = 120.0
    fs: float = 1000.0
    dx_m: float = 1.0
    gauge_length_m: float = 10.0
    x_start_m: float = 0.0
    length_m: float = 600.0
    t0_ns: int = DEFAULT_T0_NS
    fiber_id: str = "synth-traffic"
    road: str = "highway"  # "highway" (N(84,10) km/h) or "urban" (U(20,60))
    speed_mean_kmh: float | None = None  # overrides the road default
    speed_std_kmh: float | None = None
    rate_per_min: float = 2.0 * AASTFJORD_STATS["vehicles_per_min_per_direction"]
    follower_prob: float = AASTFJORD_STATS["follower_share"]
    headway_s: tuple[float, float] = (1.2, 3.0)
    truck_share: float = AASTFJORD_STATS["heavy_share"]
    directions: tuple[int, ...] = (1, -1)
    lanes_per_direction: int = 1
    #: amplitude gain per (direction, lane): direction +1 lane 0 is nearest the cable.
    lane_gains: dict[str, float] = field(default_factory=lambda: {"1:0": 1.0, "1:1": 0.55, "-1:0": 0.7, "-1:1": 0.4})
    kernel: str = "buried"  # "buried" or "bridge"
    kernel_width_m: float = 6.0
    snr_db: float = 10.0
    pink_ratio: float = 0.5  # 1/f RMS as a fraction of sigma_n (white gets the rest)
    common_ratio: float = 0.5
    drift_ratio: float = 0.3
    dyn_ratio: float = 0.6  # dynamic RMS relative to the quasi-static peak, cars
    coupling_sigma_log: float = 0.3
    coupling_corr_m: float = 20.0
    dead_fraction: float = 0.01
    hot_fraction: float = 0.005
    hot_factor: float = 20.0
    modal_freqs_hz: tuple[float, ...] = (1.9, 3.3, 5.2)
    modal_amp_ratio: float = 0.3  # modal tone amplitude relative to sigma_n
    impulses_per_min: float = 2.0
    impulse_amp_ratio: float = 8.0  # relative to sigma_n
    joints_m: tuple[float, ...] | None = None  # road joints for axle impacts (default: 5 % and 95 % of span)
    stopped_vehicle: bool = False
    stop_fraction: float = 0.5  # where the stopped vehicle comes to rest: share of the fiber along its direction
    wrong_way: bool = False  # adds one vehicle against a one-way road (needs directions=(1,))
    congestion: bool = False
    seed: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- kernels
def _kernel_funcs(kind: str, s: float):
    """Return (k, F) point kernel and its antiderivative."""
    if kind == "buried":
        def k(u):
            return (1 - (u / s) ** 2) * np.exp(-0.5 * (u / s) ** 2)

        def F(u):
            return u * np.exp(-0.5 * (u / s) ** 2)
    elif kind == "bridge":
        def k(u):
            return np.exp(-0.5 * (u / s) ** 2)

        def F(u):
            return s * np.sqrt(np.pi / 2) * erf(u / (s * np.sqrt(2)))
    else:
        raise ValueError(f"unknown kernel {kind!r}")
    return k, F


def strain_kernel_derivative(u: np.ndarray, kind: str, width_m: float, gauge_length_m: float) -> np.ndarray:
    """``K'(u)``: derivative along x of the gauge-length-averaged strain kernel."""
    k, _ = _kernel_funcs(kind, width_m)
    h = 0.5 * gauge_length_m
    if h < 0.05 * width_m:
        # limit GL -> 0: derivative of the point kernel (numerically)
        e = 1e-3 * width_m
        return (k(u + e) - k(u - e)) / (2 * e)
    return (k(u + h) - k(u - h)) / (2 * h)


# --------------------------------------------------------------------------- vehicles
@dataclass
class _Vehicle:
    id: str
    vehicle_class: str
    axle_offsets: np.ndarray  # m behind the front axle
    axle_loads: np.ndarray  # tonnes
    direction: int
    lane: int
    gain: float
    speed_kmh: float
    knots_t: np.ndarray  # s since scene start
    knots_x: np.ndarray  # front-axle position, m
    dyn_peak_hz: float
    dyn_bw_hz: float
    wrong_way: bool = False
    stops: list = field(default_factory=list)

    @property
    def centroid_offset(self) -> float:
        return float(np.sum(self.axle_offsets * self.axle_loads) / np.sum(self.axle_loads))

    def front_x(self, t: np.ndarray) -> np.ndarray:
        return np.interp(t, self.knots_t, self.knots_x)

    def velocity(self, t: np.ndarray) -> np.ndarray:
        v = np.diff(self.knots_x) / np.diff(self.knots_t)
        i = np.clip(np.searchsorted(self.knots_t, t, side="right") - 1, 0, v.size - 1)
        return v[i]

    def time_at_front(self, x: float, last: bool = False) -> float:
        """Time the front axle passes ``x`` (first or last crossing)."""
        xs = self.knots_x * self.direction
        xt = x * self.direction
        if last:
            xs, ts = xs[::-1], self.knots_t[::-1]
            # non-increasing after reversal; interp needs increasing
            return float(np.interp(-xt, -xs, ts))
        return float(np.interp(xt, xs, self.knots_t))


def _make_axles(rng: np.random.Generator, cls: str) -> tuple[np.ndarray, np.ndarray]:
    if cls == "car":
        wb = rng.uniform(2.5, 3.0)
        mass = rng.uniform(1.0, 2.5)
        front = rng.uniform(0.5, 0.6)
        return np.array([0.0, wb]), np.array([front, 1 - front]) * mass
    n = int(rng.choice([2, 3, 4, 5, 6], p=[0.25, 0.2, 0.15, 0.25, 0.15]))
    length = {2: 6.0, 3: 8.0, 4: 12.0, 5: 15.0, 6: 16.5}[n] * rng.uniform(0.85, 1.0)
    if n == 2:
        off = np.array([0.0, length * 0.75])
    else:
        # tractor (2 axles close) + trailer group at the rear
        off = np.concatenate([[0.0, 3.6], np.linspace(length - 1.3 * (n - 3), length, n - 2)])
    loads = rng.uniform(5.0, 10.0, size=n)
    loads[min(1, n - 1)] = rng.uniform(8.0, 11.5)  # drive axle
    gross_max = 44.0 if n >= 5 else 40.0
    if loads.sum() > gross_max:
        loads *= gross_max / loads.sum()
    return off, loads


class TrafficScene:
    """A scene: vehicle list + noise state; renders chunk by chunk.

    Use :func:`simulate_traffic_scene` for an in-memory block, or
    :meth:`iter_blocks` to stream files of ``chunk_s`` seconds.
    """

    def __init__(self, cfg: TrafficSceneConfig):
        self.cfg = cfg
        self.rng = np.random.default_rng(cfg.seed)
        c = cfg
        self.n_channel = int(round(c.length_m / c.dx_m)) + 1
        self.distance_m = c.x_start_m + c.dx_m * np.arange(self.n_channel)
        self.x_lo, self.x_hi = float(self.distance_m[0]), float(self.distance_m[-1])
        self.x_ref = 0.5 * (self.x_lo + self.x_hi)
        self.n_time = int(round(c.duration_s * c.fs))
        self._reach = 5 * c.kernel_width_m + 0.5 * c.gauge_length_m + 2 * c.dx_m
        self.scale = self._amplitude_scale()
        self.sigma_n = 1e-6 / 10 ** (c.snr_db / 20.0)  # A_ref = 1e-6 1/s by construction
        self.vehicles = self._draw_vehicles()
        # measurement effects
        rng_m = np.random.default_rng([c.seed, 7])
        self.coupling = nz.coupling_gains(rng_m, self.distance_m, c.coupling_sigma_log, c.coupling_corr_m)
        self.dead, self.hot = nz.bad_channels(rng_m, self.n_channel, c.dead_fraction, c.hot_fraction)
        ncfg = nz.NoiseConfig(
            white_rms=self.sigma_n * np.sqrt(max(1 - c.pink_ratio**2, 0.0)),
            pink_rms=self.sigma_n * c.pink_ratio,
            common_rms=self.sigma_n * c.common_ratio,
            drift_rms=self.sigma_n * c.drift_ratio,
        )
        self.noise = nz.NoiseStream(self.n_channel, c.fs, ncfg, np.random.default_rng([c.seed, 11]))
        self._rng_bad = np.random.default_rng([c.seed, 13])
        self.modal_phases = rng_m.uniform(0, 2 * np.pi, len(c.modal_freqs_hz))
        self.impulses = nz.make_impulses(
            rng_m, c.duration_s, self.distance_m, c.impulses_per_min, c.impulse_amp_ratio * self.sigma_n
        )
        joints = c.joints_m if c.joints_m is not None else (
            self.x_lo + 0.05 * c.length_m, self.x_lo + 0.95 * c.length_m)
        self.axle_impacts = self._axle_impacts(joints)
        self._carriers: dict[str, tuple[int, np.ndarray, np.ndarray]] = {}

    # ------------------------------------------------------------ amplitudes
    def _qs_peak(self, offsets, loads, speed_ms, gain=1.0, scale=1.0) -> float:
        """Peak |quasi-static strain rate| at one channel for a constant-speed pass."""
        c = self.cfg
        span = offsets.max() + 2 * self._reach
        t = np.linspace(-span / speed_ms, span / speed_ms, 4001)
        u = -speed_ms * t[:, None] + offsets[None, :]
        kd = strain_kernel_derivative(u, c.kernel, c.kernel_width_m, c.gauge_length_m)
        sr = speed_ms * (kd * loads[None, :]).sum(axis=1)
        return float(np.abs(sr).max() * gain * scale)

    def _amplitude_scale(self) -> float:
        ref = self._qs_peak(np.array([0.0, 2.7]), np.array([0.75, 0.75]), 84 * KMH)
        return 1e-6 / ref

    # ------------------------------------------------------------ vehicles
    def _speed(self, rng, cls: str, t_s: float) -> float:
        c = self.cfg
        if c.road == "urban":
            lo, hi = 20.0, 60.0
            if c.speed_mean_kmh is not None:
                sd = c.speed_std_kmh or 8.0
                return float(np.clip(rng.normal(c.speed_mean_kmh, sd), 15, 70))
            return float(rng.uniform(lo, hi))
        mu = c.speed_mean_kmh if c.speed_mean_kmh is not None else 84.0
        sd = c.speed_std_kmh if c.speed_std_kmh is not None else 10.0
        if cls == "truck":
            mu -= 5.0
        if c.congestion and self._congested(t_s):
            mu, sd = 25.0, 5.0
        return float(np.clip(rng.normal(mu, sd), max(mu - 3 * sd, 15.0), mu + 3 * sd))

    def _congested(self, t_s: float) -> bool:
        d = self.cfg.duration_s
        return 0.4 * d <= t_s <= 0.8 * d

    def _draw_vehicles(self) -> list[_Vehicle]:
        c = self.cfg
        rng = self.rng
        vehicles: list[_Vehicle] = []
        lead_rate = c.rate_per_min / len(c.directions) * (1 - c.follower_prob) / 60.0
        max_trav = (c.length_m + 2 * self._reach + 20) / (15 * KMH)
        for d in c.directions:
            # arrival times at the section start (entry of the front axle)
            t = -min(max_trav, 60.0)
            entries: list[tuple[float, int | None]] = []
            while True:
                t += rng.exponential(1 / lead_rate)
                if t > c.duration_s:
                    break
                entries.append((t, None))
                tf = t
                while rng.random() < c.follower_prob:
                    tf += rng.uniform(*c.headway_s)
                    entries.append((tf, len(entries) - 1))
            last_entry = {}
            for k, (te, leader) in enumerate(entries):
                cls = "truck" if rng.random() < c.truck_share else "car"
                off, loads = _make_axles(rng, cls)
                lane = int(rng.integers(c.lanes_per_direction)) if leader is None else vehicles[-1].lane
                v = self._speed(rng, cls, te)
                if leader is not None:
                    v = min(v, vehicles[-1].speed_kmh)  # platoon: no faster than the one ahead
                # minimum headway 1.2 s in the same lane
                if lane in last_entry:
                    te = max(te, last_entry[lane] + c.headway_s[0])
                last_entry[lane] = te
                vehicles.append(self._make_vehicle(rng, cls, off, loads, d, lane, v, te, f"v{d:+d}-{k:04d}"))
        if c.wrong_way:
            d = -c.directions[0]
            te = 0.35 * c.duration_s
            off, loads = _make_axles(rng, "car")
            vehicles.append(self._make_vehicle(rng, "car", off, loads, d, 0, self._speed(rng, "car", te), te, "ghost-0", wrong_way=True))
        if c.stopped_vehicle:
            self._add_stop(rng, vehicles)
        vehicles.sort(key=lambda v: v.knots_t[0])
        return vehicles

    def _make_vehicle(self, rng, cls, off, loads, d, lane, v_kmh, t_entry, vid, wrong_way=False) -> _Vehicle:
        c = self.cfg
        v = v_kmh * KMH
        x_in = self.x_lo if d > 0 else self.x_hi
        start = x_in - d * (self._reach + 2.0)
        end = (self.x_hi if d > 0 else self.x_lo) + d * (self._reach + off.max() + 2.0)
        t_start = t_entry - (self._reach + 2.0) / v
        t_end = t_start + abs(end - start) / v
        gain = c.lane_gains.get(f"{d}:{lane}", 1.0)
        if cls == "car":
            pk, bw = rng.uniform(16.0, 22.0), 5.0
        else:
            pk, bw = rng.uniform(5.0, 10.0), 4.0
        return _Vehicle(vid, cls, off, loads, d, lane, gain, v_kmh, np.array([t_start, t_end]), np.array([start, end]),
                        pk, bw, wrong_way)

    def _add_stop(self, rng, vehicles: list[_Vehicle]) -> None:
        """Turn the first car entering after 25 % of the scene into a stopped vehicle (at ``stop_fraction``)."""
        c = self.cfg
        cand = [v for v in vehicles if v.vehicle_class == "car" and v.time_at_front(self.x_ref) > 0.25 * c.duration_s]
        if not cand:
            return
        veh = cand[0]
        v = veh.speed_kmh * KMH
        d = veh.direction
        x_stop = self.x_lo + c.stop_fraction * (self.x_hi - self.x_lo) if d > 0 else \
            self.x_hi - c.stop_fraction * (self.x_hi - self.x_lo)
        stop_dur = min(60.0, 0.3 * c.duration_s)
        acc = 2.0  # m/s^2
        t_stop_arr = veh.time_at_front(x_stop) + v / (2 * acc)  # arrive later because of braking
        tb = np.linspace(0, v / acc, 9)
        # braking: x = x_stop - d*(v^2/2a - (v*tb - a tb^2/2))
        xb = x_stop - d * (v * v / (2 * acc) - (v * tb - 0.5 * acc * tb**2))
        t_b0 = t_stop_arr - v / acc
        ta = np.linspace(0, v / acc, 9)[1:]
        xa = x_stop + d * 0.5 * acc * ta**2
        t_a0 = t_stop_arr + stop_dur
        x0 = veh.knots_x[0]
        t0 = t_b0 - abs(xb[0] - x0) / v
        x_end = veh.knots_x[-1]
        t_last = t_a0 + ta[-1] + abs(x_end - xa[-1]) / v
        veh.knots_t = np.concatenate([[t0], t_b0 + tb, t_a0 + ta, [t_last]])
        veh.knots_x = np.concatenate([[x0], xb, xa, [x_end]])
        veh.stops = [{"t_start_s": float(t_stop_arr), "t_end_s": float(t_a0), "x_m": float(x_stop)}]

    def _axle_impacts(self, joints) -> list[dict[str, Any]]:
        out = []
        rng = np.random.default_rng([self.cfg.seed, 17])
        for veh in self.vehicles:
            if veh.vehicle_class != "truck":
                continue
            for xj in joints:
                t_front = veh.time_at_front(xj)
                for a, p in zip(veh.axle_offsets, veh.axle_loads):
                    ta = t_front + a / (veh.speed_kmh * KMH)
                    amp = 0.3 * self.scale * 1e0 * p * veh.gain * veh.speed_kmh * KMH * rng.lognormal(0, 0.3)
                    out.append(dict(kind="axle_impact", t_s=float(ta), x_m=float(xj), amp=float(amp),
                                    freq_hz=float(rng.uniform(10, 15)), decay_s=0.1, width_m=4.0, vehicle=veh.id))
        return out

    # ------------------------------------------------------------ render
    def _carrier(self, veh: _Vehicle) -> tuple[int, np.ndarray, np.ndarray]:
        """Two band-limited unit-RMS carriers over the vehicle's lifetime (cached)."""
        if veh.id in self._carriers:
            return self._carriers[veh.id]
        fs = self.cfg.fs
        i0 = int(np.floor(veh.knots_t[0] * fs))
        n = int(np.ceil(veh.knots_t[-1] * fs)) - i0 + 1
        rng = np.random.default_rng([self.cfg.seed, 23, zlib.crc32(veh.id.encode())])  # hash() of str is salted per process
        f = np.fft.rfftfreq(n, 1 / fs)
        shape = np.exp(-0.5 * ((f - veh.dyn_peak_hz) / veh.dyn_bw_hz) ** 2)
        shape += 0.15 * ((f > 5) & (f < min(100, 0.45 * fs)))
        if veh.vehicle_class == "truck":
            shape += 0.5 * np.exp(-0.5 * ((f - 3.0) / 1.5) ** 2)
        shape[f < 1.0] = 0.0
        out = []
        for _ in range(2):
            w = np.fft.rfft(rng.standard_normal(n))
            s = np.fft.irfft(w * shape, n)
            out.append(s / (s.std() + 1e-30))
        self._carriers[veh.id] = (i0, out[0], out[1])
        return self._carriers[veh.id]

    def render_vehicles(self, i_start: int, n: int) -> np.ndarray:
        """Noise-free vehicle strain rate (with lane gain, without coupling) for samples ``[i_start, i_start+n)``."""
        c = self.cfg
        fs = c.fs
        out = np.zeros((n, self.n_channel))
        t_lo, t_hi = i_start / fs, (i_start + n) / fs
        for veh in self.vehicles:
            if veh.knots_t[-1] < t_lo or veh.knots_t[0] > t_hi:
                continue
            a0 = max(i_start, int(np.ceil(veh.knots_t[0] * fs)))
            a1 = min(i_start + n, int(np.floor(veh.knots_t[-1] * fs)) + 1)
            if a1 <= a0:
                continue
            t = np.arange(a0, a1) / fs
            xf = veh.front_x(t)
            vel = veh.velocity(t)
            # channels near the vehicle: fixed-width index window per sample
            back = veh.axle_offsets.max()
            centre = xf - veh.direction * 0.5 * back
            half = self._reach + 0.5 * back
            nk = int(np.ceil(2 * half / c.dx_m)) + 2
            c0 = np.floor((centre - half - self.x_lo) / c.dx_m).astype(np.int64)
            ch = c0[:, None] + np.arange(nk)[None, :]
            valid = (ch >= 0) & (ch < self.n_channel)
            chc = np.clip(ch, 0, self.n_channel - 1)
            x = self.distance_m[chc]
            sr = np.zeros(ch.shape)
            for a, p in zip(veh.axle_offsets, veh.axle_loads):
                u = x - (xf - veh.direction * a)[:, None]
                sr += p * strain_kernel_derivative(u, c.kernel, c.kernel_width_m, c.gauge_length_m)
            sr *= -vel[:, None] * self.scale * veh.gain
            # dynamic part under a moving Gaussian envelope
            j0, s1, s2 = self._carrier(veh)
            k = np.arange(a0, a1) - j0
            k = np.clip(k, 0, s1.size - 1)
            u_c = x - centre[:, None]
            env = np.exp(-0.5 * (u_c / (2.0 * c.kernel_width_m + 0.25 * back)) ** 2)
            ph = 2 * np.pi * u_c / 12.0
            load_rel = veh.axle_loads.sum() / 1.5
            dyn_amp = c.dyn_ratio * 1e-6 * veh.gain * (load_rel ** (0.8 if veh.vehicle_class == "truck" else 1.0))
            dyn_amp *= np.sqrt(np.abs(vel) / (84 * KMH))[:, None]
            sr += dyn_amp * env * (s1[k][:, None] * np.cos(ph) + s2[k][:, None] * np.sin(ph))
            sr[~valid] = 0.0
            rows = np.broadcast_to((np.arange(a0, a1) - i_start)[:, None], ch.shape)
            out[rows[valid], ch[valid]] += sr[valid]
        return out

    def render(self, i_start: int, n: int) -> np.ndarray:
        """All signal + noise for samples ``[i_start, i_start+n)`` (call in order for continuous noise)."""
        c = self.cfg
        fs = c.fs
        sig = self.render_vehicles(i_start, n)
        t = (i_start + np.arange(n)) / fs
        if c.modal_freqs_hz and c.modal_amp_ratio > 0:
            amps = [c.modal_amp_ratio * self.sigma_n / (k + 1) for k in range(len(c.modal_freqs_hz))]
            sig += nz.bridge_tones(t, self.distance_m, c.modal_freqs_hz, amps, (self.x_lo, self.x_hi), self.modal_phases)
        sig += nz.render_impulses(self.axle_impacts, i_start / fs, n, fs, self.distance_m)
        sig *= self.coupling[None, :]
        sig += nz.render_impulses(self.impulses, i_start / fs, n, fs, self.distance_m)
        sig += self.noise.next(n)
        nz.apply_bad_channels(sig, self.dead, self.hot, self._rng_bad, c.hot_factor * self.sigma_n,
                              dead_rms=0.01 * self.sigma_n)
        return sig

    def iter_blocks(self, chunk_s: float = 10.0) -> Iterator[DASBlock]:
        """Yield consecutive blocks of ``chunk_s`` seconds (float32 strain rate)."""
        c = self.cfg
        step = int(round(chunk_s * c.fs))
        seq = 0
        for i in range(0, self.n_time, step):
            n = min(step, self.n_time - i)
            data = self.render(i, n).astype(np.float32)
            yield DASBlock(
                data=data,
                t0_ns=c.t0_ns + round(i / c.fs * 1e9),
                dt_s=1.0 / c.fs,
                distance_m=self.distance_m,
                gauge_length_m=c.gauge_length_m,
                data_type="strain_rate",
                data_units="1/s",
                fiber_id=c.fiber_id,
                seq=seq,
                attrs={"format": "synthetic", "generator": "dasedge.synth.traffic", "seed": c.seed},
            )
            seq += 1

    # ------------------------------------------------------------ truth
    def truth(self) -> dict[str, Any]:
        """Truth tables: ``vehicles`` (one row per vehicle) and scene-level items."""
        c = self.cfg
        ns = lambda s: int(c.t0_ns + round(s * 1e9))  # noqa: E731
        rows = []
        for veh in self.vehicles:
            co = veh.centroid_offset
            d = veh.direction
            x_entry = self.x_lo if d > 0 else self.x_hi
            x_exit = self.x_hi if d > 0 else self.x_lo
            # centroid passes x  <=>  front passes x + d*co
            t_entry = veh.time_at_front(x_entry + d * co)
            t_exit = veh.time_at_front(x_exit + d * co, last=True)
            t_ref = veh.time_at_front(self.x_ref + d * co, last=bool(veh.stops))
            if t_exit < 0 or t_entry > c.duration_s:
                continue
            amp = self._qs_peak(veh.axle_offsets, veh.axle_loads, veh.speed_kmh * KMH, veh.gain, self.scale)
            rows.append(dict(
                id=veh.id, vehicle_class=veh.vehicle_class, n_axles=int(veh.axle_offsets.size),
                axle_offsets_m=[round(float(a), 3) for a in veh.axle_offsets],
                axle_loads_t=[round(float(p), 3) for p in veh.axle_loads],
                weight_t=round(float(veh.axle_loads.sum()), 3), direction=d, lane=veh.lane,
                speed_kmh=round(veh.speed_kmh, 4), t_entry_ns=ns(t_entry), x_entry_m=x_entry,
                t_exit_ns=ns(t_exit), x_exit_m=x_exit, t_ref_ns=ns(t_ref), x_ref_m=self.x_ref,
                amplitude=amp, wrong_way=veh.wrong_way, stops=veh.stops,
                complete=bool(t_entry >= 0 and t_exit <= c.duration_s),
            ))
        rows.sort(key=lambda r: r["t_ref_ns"])
        events = []
        for veh in self.vehicles:
            for s in veh.stops:
                events.append(dict(kind="stopped_vehicle", t_start_ns=ns(s["t_start_s"]), t_end_ns=ns(s["t_end_s"]),
                                   x_m=s["x_m"], direction=veh.direction, vehicle=veh.id))
            if veh.wrong_way:
                r = next((r for r in rows if r["id"] == veh.id), None)
                if r:
                    events.append(dict(kind="wrong_way", t_start_ns=r["t_entry_ns"], t_end_ns=r["t_exit_ns"],
                                       x_m=None, direction=veh.direction, vehicle=veh.id))
        if c.congestion:
            events.append(dict(kind="congestion", t_start_ns=ns(0.4 * c.duration_s), t_end_ns=ns(0.8 * c.duration_s),
                               x_m=None, direction=None))
        return dict(
            config=c.to_json(),
            t0_ns=c.t0_ns,
            x_section_m=[self.x_lo, self.x_hi],
            x_ref_m=self.x_ref,
            sigma_n=self.sigma_n,
            amplitude_ref=1e-6,
            modal_freqs_hz=list(c.modal_freqs_hz) if c.modal_amp_ratio > 0 else [],
            dead_channels=self.dead.tolist(),
            hot_channels=self.hot.tolist(),
            impulses=[dict(e, t_ns=ns(e["t_s"])) for e in self.impulses],
            events=events,
            vehicles=rows,
        )


def simulate_traffic_scene(**params: Any) -> tuple[DASBlock, dict[str, Any]]:
    """Render a whole scene in memory.

    Parameters are the fields of :class:`TrafficSceneConfig`.

    Returns
    -------
    (block, truth)
        ``truth["vehicles"]`` has one row per vehicle (see module docstring).
    """
    from dasedge.block import concat_time

    scene = TrafficScene(TrafficSceneConfig(**params))
    blocks = list(scene.iter_blocks(chunk_s=10.0))
    block = concat_time(blocks).new(seq=0)
    return block, scene.truth()


def write_truth(truth: dict[str, Any], out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``truth.json`` (everything) and ``truth.csv`` (vehicle rows) into ``out_dir``."""
    import csv

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pj = out / "truth.json"
    pj.write_text(json.dumps(truth, indent=1, default=float))
    pc = out / "truth.csv"
    rows = truth.get("vehicles", [])
    cols = ["id", "vehicle_class", "n_axles", "weight_t", "direction", "lane", "speed_kmh", "t_entry_ns", "x_entry_m",
            "t_exit_ns", "x_exit_m", "t_ref_ns", "x_ref_m", "amplitude", "wrong_way", "complete"]
    with pc.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow(r)
    return pj, pc
