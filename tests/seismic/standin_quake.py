"""Small synthetic DAS earthquake scenes for the seismic tests (local stand-in).

Straight fiber, uniform velocities, noise-burst phases with coda
(``seismic-ml.md`` §8), peak amplitudes from the magnitude relation of
:mod:`pipelines.seismic.magnitude` (so magnitude errors are measurable) times
log-normal coupling.  Truth: events and per-channel P/S arrival times.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from dasedge.block import DASBlock
from pipelines.seismic.magnitude import DEFAULT

T0_NS = 1_700_000_000_000_000_000


def _burst(rng, fs, f0, tau, n):
    x = rng.standard_normal(n)
    sos = signal.butter(4, [f0 / 1.41, f0 * 1.41], btype="bandpass", fs=fs, output="sos")
    x = signal.sosfilt(sos, x)
    t = np.arange(n) / fs
    env = (1 - np.exp(-t / 0.03)) * np.exp(-t / tau)
    x = x * env
    return x / np.abs(x).max()


def simulate(events, *, n_ch=300, dx_m=10.0, fs=100.0, duration_s=60.0, vp=6.0, vs=6.0 / 1.73,
             snr_db=20.0, seed=0, coupling_sigma=0.3, x0_m=0.0, fiber_id="fiber0"):
    """Return ``(block, truth)``; events are dicts ``t_s, x_m, y_m, z_m, mag``."""
    rng = np.random.default_rng(seed)
    nt = int(duration_s * fs)
    dist = x0_m + np.arange(n_ch) * dx_m
    data = np.zeros((nt, n_ch))
    arrivals = []
    p_amps = []
    for ev in events:
        r_km = np.sqrt(((dist - ev["x_m"]) ** 2 + ev["y_m"] ** 2 + ev["z_m"] ** 2)) / 1000.0
        for phase, v, f0, tau in (("P", vp, 8.0, 0.6), ("S", vs, 4.0, 1.2)):
            tt = ev["t_s"] + r_km / v
            amp = DEFAULT.amplitude(ev["mag"], r_km, phase) * np.exp(rng.normal(0, coupling_sigma, n_ch))
            if phase == "P":
                p_amps.append(amp)
            w = _burst(rng, fs, f0, tau, int(6 * tau * fs))
            i0 = np.round(tt * fs).astype(int)
            for c in range(n_ch):
                a, b = i0[c], min(nt, i0[c] + w.size)
                if 0 <= a < nt:
                    data[a:b, c] += amp[c] * w[: b - a]
                    arrivals.append((c, T0_NS + int(round(i0[c] / fs * 1e9)), phase))
    ref = float(np.median(np.concatenate(p_amps))) if p_amps else 1e-7
    noise_std = ref / 10 ** (snr_db / 20.0)
    data += rng.normal(0, noise_std, data.shape)
    block = DASBlock(data=data.astype(np.float32), t0_ns=T0_NS, dt_s=1 / fs, distance_m=dist, gauge_length_m=10.0,
                     fiber_id=fiber_id)
    truth = {
        "events": [dict(ev, origin_ns=T0_NS + int(round(ev["t_s"] * 1e9))) for ev in events],
        "arrivals": arrivals,
    }
    return block, truth


def random_events(n, *, duration_s, length_m, seed, mag=(1.5, 3.0), min_sep_s=4.0):
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        t = float(rng.uniform(3, duration_s - 25))
        if any(abs(t - e["t_s"]) < min_sep_s for e in out):
            continue
        out.append(dict(t_s=t, x_m=float(rng.uniform(0, length_m)), y_m=float(rng.uniform(-8000, 8000)),
                        z_m=float(rng.uniform(3000, 12000)), mag=float(rng.uniform(*mag))))
    return sorted(out, key=lambda e: e["t_s"])
