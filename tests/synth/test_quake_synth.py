"""Synthetic earthquake scenes: geometry, onsets, SNR, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from dasedge.synth.quake import burst_wavelet, simulate_quake_scene

FS = 100.0


def _arr_table(truth, event_id, phase):
    rows = [a for a in truth["arrivals"] if a["event_id"] == event_id and a["phase"] == phase]
    ch = np.array([a["channel"] for a in rows])
    t = np.array([a["t_ns"] for a in rows], dtype=np.int64)
    return ch, t


def test_arrivals_match_straight_fiber_geometry():
    ev = {"x_m": 1200.0, "y_m": 3000.0, "depth_m": 8000.0, "magnitude": 2.0, "origin_s": 5.0}
    block, truth = simulate_quake_scene(
        n_channels=200, dx_m=10.0, fs=FS, duration_s=30.0, events=[ev], seed=3, vp_kms=6.0, vp_vs=1.73
    )
    e = truth["events"][0]
    assert e["origin_ns"] == block.t0_ns + 5_000_000_000
    x = np.arange(200) * 10.0  # straight fiber along x, at the surface
    r = np.sqrt((x - 1200.0) ** 2 + 3000.0**2 + 8000.0**2)
    for phase, v in (("P", 6000.0), ("S", 6000.0 / 1.73)):
        ch, t = _arr_table(truth, e["event_id"], phase)
        assert ch.tolist() == list(range(200))
        expect = e["origin_ns"] + r / v * 1e9
        np.testing.assert_allclose(t, expect, atol=2)  # ns rounding
        d = np.array([a["distance_m"] for a in truth["arrivals"] if a["phase"] == phase])
        np.testing.assert_allclose(d, x)
    # the minimum P time is at the channel closest to the epicentre
    ch, t = _arr_table(truth, e["event_id"], "P")
    assert ch[np.argmin(t)] == 120


def test_bent_fiber_and_layered_model():
    n, dx = 101, 20.0
    ev = {"x_m": 0.0, "y_m": 0.0, "depth_m": 6000.0, "magnitude": 2.0, "origin_s": 2.0}
    _, truth = simulate_quake_scene(
        n_channels=n, dx_m=dx, fs=FS, duration_s=20.0, events=[ev], seed=1, geometry="bent", bend_deg=90.0
    )
    x, y = truth["x_m"], truth["y_m"]
    # channel spacing along the path is dx, and the second half runs along +y
    np.testing.assert_allclose(np.hypot(np.diff(x), np.diff(y)), dx, rtol=1e-9)
    np.testing.assert_allclose(x[50:], 1000.0)
    np.testing.assert_allclose(y[50:], np.arange(51) * dx)
    e = truth["events"][0]
    r = np.sqrt(x**2 + y**2 + 6000.0**2)
    ch, t = _arr_table(truth, e["event_id"], "P")
    np.testing.assert_allclose(t - e["origin_ns"], r[ch] / 6000.0 * 1e9, atol=2)

    # two-layer model: 4 km/s above 3 km, 6 km/s below; straight ray splits 50/50
    _, tl = simulate_quake_scene(
        n_channels=n, dx_m=dx, fs=FS, duration_s=20.0, events=[ev], seed=1, layers=[(0.0, 4.0), (3.0, 6.0)]
    )
    e = tl["events"][0]
    xs = np.arange(n) * dx
    r = np.sqrt(xs**2 + 6000.0**2)
    ch, t = _arr_table(tl, e["event_id"], "P")
    np.testing.assert_allclose(t - e["origin_ns"], r[ch] * (0.5 / 4000 + 0.5 / 6000) * 1e9, atol=2)
    ch, t = _arr_table(tl, e["event_id"], "S")
    np.testing.assert_allclose(t - e["origin_ns"], r[ch] * 1.73 * (0.5 / 4000 + 0.5 / 6000) * 1e9, atol=2)


def test_only_arrivals_inside_record():
    ev = {"x_m": 0.0, "y_m": 0.0, "depth_m": 5000.0, "magnitude": 2.0, "origin_s": 9.0}
    block, truth = simulate_quake_scene(
        n_channels=64, dx_m=10.0, duration_s=10.0, events=[ev], seed=0, snr_db=None
    )
    t = np.array([a["t_ns"] for a in truth["arrivals"]])
    assert t.size > 0
    assert np.all((t >= block.t0_ns) & (t < block.t_end_ns))
    # P at 9 + 0.83 s is inside; S at 9 + 1.44 s is outside the 10 s record
    assert {a["phase"] for a in truth["arrivals"]} == {"P"}


def test_onset_is_sharp_and_exactly_at_travel_time():
    ev = {"x_m": 500.0, "y_m": 0.0, "depth_m": 10000.0, "magnitude": 2.0, "origin_s": 3.0}
    block, truth = simulate_quake_scene(
        n_channels=100, dx_m=10.0, fs=FS, duration_s=20.0, events=[ev], seed=5,
        snr_db=None, noise_rms=1e-20, traffic=False, dead_fraction=0.0,
    )
    d = block.data.astype(np.float64)
    ch, t = _arr_table(truth, truth["events"][0]["event_id"], "P")
    i_on = (t - block.t0_ns) / 1e9 * FS  # fractional onset sample
    peak = np.max(np.abs(d), axis=0)
    for c, i in zip(ch, i_on):
        before = np.abs(d[: int(np.floor(i)) + 1, c]).max()  # samples at or before onset
        assert before < 1e-6 * peak[c]
        after = np.abs(d[int(np.ceil(i)) + 3 : int(np.ceil(i)) + 30, c]).max()  # 30-300 ms
        assert after > 0.2 * peak[c]


def test_burst_wavelet_band_and_envelope():
    rng = np.random.default_rng(0)
    t, w = burst_wavelet(rng, 8.0, 1.0, fs_base=1000.0)
    assert w[0] == 0.0 and np.max(np.abs(w)) == pytest.approx(1.0)
    spec = np.abs(np.fft.rfft(w)) ** 2
    f = np.fft.rfftfreq(w.size, 1e-3)
    in_band = spec[(f > 4.0) & (f < 16.0)].sum() / spec.sum()
    assert in_band > 0.9
    # exponential coda: RMS 1-2 s vs 3-4 s falls by about e^-2 (tau 1 s)
    r1 = np.sqrt(np.mean(w[(t > 1) & (t < 2)] ** 2))
    r3 = np.sqrt(np.mean(w[(t > 3) & (t < 4)] ** 2))
    assert 3.0 < r1 / r3 < 20.0


@pytest.mark.parametrize("snr", [0.0, 10.0])
def test_snr_as_requested(snr):
    """Recover signal and noise independently from two scenes that differ only in SNR."""
    ev = {"x_m": 1000.0, "y_m": 1000.0, "depth_m": 10000.0, "magnitude": 2.0, "origin_s": 4.0}
    kw = dict(n_channels=128, dx_m=10.0, fs=FS, duration_s=30.0, events=[ev], seed=11)
    b1, t1 = simulate_quake_scene(snr_db=snr, **kw)
    b2, t2 = simulate_quake_scene(snr_db=snr + 20.0, **kw)
    k1, k2 = t1["noise_scale"], t2["noise_scale"]
    assert k2 == pytest.approx(k1 / 10.0, rel=1e-9)
    d1, d2 = b1.data.astype(np.float64), b2.data.astype(np.float64)
    unit_noise = (d1 - d2) / (k1 - k2)
    sig = d1 - k1 * unit_noise
    live = np.ones(128, bool)
    live[t1["dead_channels"] + t1["noisy_channels"]] = False
    ch, t = _arr_table(t1, t1["events"][0]["event_id"], "P")
    i0 = np.ceil((t - b1.t0_ns) / 1e9 * FS).astype(int)
    ratios = []
    for c, i in zip(ch, i0):
        if live[c]:
            ps = np.sqrt(np.mean(sig[i : i + 100, c] ** 2))  # S comes > 1.2 s after P here
            pn = np.sqrt(np.mean((k1 * unit_noise[:, c]) ** 2))
            ratios.append(ps / pn)
    measured = 20 * np.log10(np.median(ratios))
    assert measured == pytest.approx(snr, abs=0.1)
    assert t1["events"][0]["snr_db"] == pytest.approx(snr, abs=1e-6)


def test_per_event_snr_and_overlap():
    evs = [
        {"x_m": 500.0, "y_m": 0.0, "depth_m": 6000.0, "magnitude": 2.0, "origin_s": 5.0},
        {"x_m": 3000.0, "y_m": 2000.0, "depth_m": 9000.0, "magnitude": 1.0, "origin_s": 6.0},
    ]
    _, truth = simulate_quake_scene(n_channels=128, dx_m=8.0, duration_s=30.0, events=evs, seed=2, snr_db=[10.0, 6.0])
    got = [e["snr_db"] for e in truth["events"]]
    np.testing.assert_allclose(got, [10.0, 6.0], atol=1e-6)
    ids = {e["event_id"] for e in truth["events"]}
    assert len(ids) == 2 and {a["event_id"] for a in truth["arrivals"]} == ids


def test_determinism_and_seed_dependence():
    kw = dict(n_channels=64, dx_m=8.0, duration_s=20.0, n_events=2)
    a, ta = simulate_quake_scene(seed=7, **kw)
    b, tb = simulate_quake_scene(seed=7, **kw)
    c, tc = simulate_quake_scene(seed=8, **kw)
    np.testing.assert_array_equal(a.data, b.data)
    assert ta["events"] == tb["events"] and ta["arrivals"] == tb["arrivals"]
    assert not np.allclose(a.data, c.data)
    assert ta["events"][0]["x_m"] != tc["events"][0]["x_m"]
    assert a.data_type == "strain_rate" and a.data_units == "1/s" and a.data.dtype == np.float32
    # physical units: a strain-rate record, not normalised counts
    assert 1e-13 < float(np.std(a.data)) < 1e-5


def test_dead_and_noisy_channels():
    ev = {"x_m": 0.0, "y_m": 0.0, "depth_m": 8000.0, "magnitude": 2.0, "origin_s": 9.0}
    block, truth = simulate_quake_scene(
        n_channels=400, dx_m=8.0, duration_s=10.0, seed=4, dead_fraction=0.01, events=[ev], snr_db=None
    )
    dead, noisy = truth["dead_channels"], truth["noisy_channels"]
    assert len(dead) + len(noisy) == 4
    pre = block.data[: int(9.5 * FS)].astype(np.float64)  # before any arrival
    rms = np.sqrt(np.mean(pre**2, axis=0))
    med = np.median(rms)
    assert np.all(rms[dead] < 1e-2 * med)
    assert np.all(rms[noisy] > 3 * med)
