"""Synthetic traffic scenes: physics, truth consistency, noise models, files."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dasedge.synth import noise as nz
from dasedge.synth.traffic import (AASTFJORD_STATS, TrafficScene, TrafficSceneConfig, _kernel_funcs,
                                   simulate_traffic_scene, strain_kernel_derivative)

SMALL = dict(duration_s=90.0, fs=250.0, dx_m=4.0, length_m=400.0)


def test_truth_rows_are_consistent_with_constant_speed():
    sc = TrafficScene(TrafficSceneConfig(**SMALL, seed=11, rate_per_min=6.0))
    tr = sc.truth()
    assert len(tr["vehicles"]) >= 4
    for r in tr["vehicles"]:
        assert r["t_entry_ns"] < r["t_ref_ns"] < r["t_exit_ns"]
        # section length / traverse time == the drawn speed (independent of the renderer)
        v = abs(r["x_exit_m"] - r["x_entry_m"]) / ((r["t_exit_ns"] - r["t_entry_ns"]) / 1e9) * 3.6
        assert v == pytest.approx(r["speed_kmh"], rel=1e-6)
        assert np.sign(r["x_exit_m"] - r["x_entry_m"]) == r["direction"]
        assert r["vehicle_class"] in ("car", "truck")
        assert (r["n_axles"] == 2) if r["vehicle_class"] == "car" else (2 <= r["n_axles"] <= 6)
        assert r["weight_t"] <= 44.0 + 1e-9


def test_gauge_length_kernel_matches_numerical_boxcar():
    s, gl = 6.0, 10.0
    k, _ = _kernel_funcs("buried", s)
    u = np.linspace(-40, 40, 161)
    # numeric: d/du of (1/GL) * integral_{u-GL/2}^{u+GL/2} k
    xs = np.linspace(-gl / 2, gl / 2, 4001)
    avg = lambda uu: np.trapezoid(k(uu[:, None] + xs[None, :]), xs, axis=1) / gl  # noqa: E731
    e = 1e-3
    num = (avg(u + e) - avg(u - e)) / (2 * e)
    ana = strain_kernel_derivative(u, "buried", s, gl)
    np.testing.assert_allclose(ana, num, atol=1e-5 * np.abs(num).max() + 1e-9)


def test_vehicle_pulse_is_antisymmetric_and_centred_on_truth():
    cfg = TrafficSceneConfig(**SMALL, seed=3, rate_per_min=3.0, dyn_ratio=0.0)
    sc = TrafficScene(cfg)
    sig = sc.render_vehicles(0, sc.n_time)
    tr = sc.truth()
    ch = int(np.argmin(np.abs(sc.distance_m - sc.x_ref)))
    t = np.arange(sc.n_time) / cfg.fs
    for r in tr["vehicles"]:
        tref = (r["t_ref_ns"] - cfg.t0_ns) / 1e9
        if not (8 < tref < cfg.duration_s - 8) or r["vehicle_class"] != "car":
            continue
        others = [o for o in tr["vehicles"] if o is not r and abs((o["t_ref_ns"] - r["t_ref_ns"]) / 1e9) < 8]
        if others:
            continue
        sel = np.abs(t - tref) < 6
        x = sig[sel, ch]
        # strain returns to zero after the pass: the strain rate integrates to ~0
        assert abs(x.sum()) < 0.02 * np.abs(x).sum()
        # the strain (integral) peaks when the load centroid passes the channel
        strain = np.cumsum(x)
        t_peak = t[sel][np.argmax(np.abs(strain))]
        assert abs(t_peak - tref) < 0.3
        break
    else:
        pytest.fail("no isolated car in the scene")


def test_snr_definition_noise_level():
    cfg = TrafficSceneConfig(**SMALL, seed=5, rate_per_min=1e-9, modal_amp_ratio=0.0, impulses_per_min=0.0,
                             dead_fraction=0.0, hot_fraction=0.0, common_ratio=0.0, drift_ratio=0.0, snr_db=12.0)
    sc = TrafficScene(cfg)
    assert sc.sigma_n == pytest.approx(1e-6 / 10 ** (12 / 20))
    data = sc.render(0, int(30 * cfg.fs))
    assert np.std(data) == pytest.approx(sc.sigma_n, rel=0.1)


def test_reference_car_amplitude_is_the_snr_reference():
    sc = TrafficScene(TrafficSceneConfig(**SMALL, seed=1))
    a = sc._qs_peak(np.array([0.0, 2.7]), np.array([0.75, 0.75]), 84 / 3.6, 1.0, sc.scale)
    assert a == pytest.approx(1e-6, rel=1e-6)


def test_trucks_are_much_stronger_than_cars():
    sc = TrafficScene(TrafficSceneConfig(duration_s=1800, fs=250, dx_m=5, seed=4))
    rows = sc.truth()["vehicles"]
    lane1 = [r for r in rows if r["direction"] == 1]
    car = np.median([r["amplitude"] / r["speed_kmh"] for r in lane1 if r["vehicle_class"] == "car"])
    truck = np.median([r["amplitude"] / r["speed_kmh"] for r in lane1 if r["vehicle_class"] == "truck"])
    assert 7 <= truck / car <= 30


def test_headways_platoons_and_class_mix():
    sc = TrafficScene(TrafficSceneConfig(duration_s=3600, fs=250, dx_m=10, seed=8))
    rows = sc.truth()["vehicles"]
    heavy = np.mean([r["vehicle_class"] == "truck" for r in rows])
    assert 0.14 < heavy < 0.27
    for d in (1, -1):
        # front-axle entry = centroid entry - centroid offset / speed
        co = lambda r: np.dot(r["axle_offsets_m"], r["axle_loads_t"]) / np.sum(r["axle_loads_t"])  # noqa: E731
        t = np.sort([r["t_entry_ns"] / 1e9 - co(r) / (r["speed_kmh"] / 3.6) for r in rows if r["direction"] == d])
        h = np.diff(t)
        assert h.min() >= 1.2 - 2e-3  # truth offsets are rounded to mm
        assert 0.08 < np.mean(h < 3.0) < 0.25  # platoon followers like the Åstfjord log
        rate = len(t) / 60.0
        assert rate == pytest.approx(AASTFJORD_STATS["vehicles_per_min_per_direction"], rel=0.3)


def test_aastfjord_constants_match_the_video_log(shared_dir: Path):
    rows = list(csv.DictReader(open(shared_dir / "data" / "aastfjord" / "aastfjordbrua_vehicle-logs_20231005.csv")))
    t = np.array([np.datetime64(r["Time"]).astype("datetime64[ms]").astype(np.int64) / 1e3 for r in rows])
    hours = (t.max() - t.min()) / 3600
    heavy = np.mean([r["Type"] in ("Truck", "Bus") for r in rows])
    assert heavy == pytest.approx(AASTFJORD_STATS["heavy_share"], abs=0.01)
    assert len(rows) / hours / 60 / 2 == pytest.approx(AASTFJORD_STATS["vehicles_per_min_per_direction"], abs=0.02)
    assert np.diff(np.sort(t)).min() == pytest.approx(AASTFJORD_STATS["min_headway_s"], abs=0.01)
    fol = []
    for d in {r["Direction map"] for r in rows}:
        td = np.sort([ti for ti, r in zip(t, rows) if r["Direction map"] == d])
        fol.append(np.mean(np.diff(td) < 3.0))
    assert np.mean(fol) == pytest.approx(AASTFJORD_STATS["follower_share"], abs=0.02)


def test_scene_events_and_options():
    b, tr = simulate_traffic_scene(**SMALL, seed=2, stopped_vehicle=True, congestion=True)
    kinds = {e["kind"] for e in tr["events"]}
    assert {"stopped_vehicle", "congestion"} <= kinds
    assert tr["modal_freqs_hz"] == [1.9, 3.3, 5.2]
    assert b.data.dtype == np.float32 and b.shape == (int(90 * 250), 101)
    _, tr2 = simulate_traffic_scene(**SMALL, seed=2, wrong_way=True, directions=(1,))
    ghosts = [r for r in tr2["vehicles"] if r["wrong_way"]]
    assert len(ghosts) == 1 and ghosts[0]["direction"] == -1


def test_dead_and_hot_channels_are_visible():
    b, tr = simulate_traffic_scene(**SMALL, seed=9, dead_fraction=0.03, hot_fraction=0.03)
    lvl = np.std(b.data, axis=0)
    med = np.median(lvl)
    assert all(lvl[i] < 0.1 * med for i in tr["dead_channels"])
    assert all(lvl[i] > 5 * med for i in tr["hot_channels"])


def test_noise_models():
    rng = np.random.default_rng(0)
    g = nz.coupling_gains(rng, np.arange(2000.0), sigma_log=0.3, corr_length_m=20.0)
    lg = np.log(g)
    assert abs(np.median(lg)) < 0.1 and lg.std() == pytest.approx(0.3, rel=0.25)
    assert np.corrcoef(lg[:-5], lg[5:])[0, 1] > 0.8  # spatially correlated at 5 m
    assert abs(np.corrcoef(lg[:-200], lg[200:])[0, 1]) < 0.3
    dead, hot = nz.bad_channels(rng, 1000, 0.02, 0.01)
    assert len(dead) == 20 and len(hot) == 10 and not set(dead) & set(hot)
    fs = 100.0
    t = np.arange(6000) / fs
    tones = nz.bridge_tones(t, np.linspace(0, 100, 11), [2.5], [1.0], am_depth=0.0)
    spec = np.abs(np.fft.rfft(tones[:, 5]))
    assert np.fft.rfftfreq(t.size, 1 / fs)[np.argmax(spec)] == pytest.approx(2.5, abs=0.02)
    assert np.allclose(tones[:, 0], 0) and np.allclose(tones[:, -1], 0, atol=1e-9)  # mode shape nodes
    s = nz.NoiseStream(4, 1000.0, nz.NoiseConfig(white_rms=0, pink_rms=0, common_rms=1.0, drift_rms=0), rng)
    x = np.concatenate([s.next(5000) for _ in range(4)])
    assert np.allclose(x[:, 0], x[:, 3])  # common mode identical on all channels


def test_cli_writes_optodas_tree_and_truth(tmp_path: Path):
    out = tmp_path / "scene"
    r = subprocess.run([sys.executable, "-m", "dasedge.cli", "simulate", "traffic", "--out", str(out), "--minutes", "0.5",
                        "--fs", "250", "--dx", "4", "--length", "200", "--seed", "4", "--format", "optodas"],
                       capture_output=True, text=True, check=True)
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    files = sorted((out / "traffic").rglob("*.hdf5"))
    assert summary["files"] == 3 == len(files)
    assert [f.parent.name for f in files] == ["dphi"] * 3 and files[0].parent.parent.name == "20231005"
    from dasedge import io

    blk = io.read(files[0])
    assert blk.shape == (2500, 51) and blk.fs == pytest.approx(250.0)
    np.testing.assert_allclose(blk.distance_m, np.arange(51) * 4.0)
    # the written samples are the in-memory scene (int raw + dataScale quantisation only)
    ref, _ = simulate_traffic_scene(duration_s=30.0, fs=250.0, dx_m=4.0, length_m=200.0, seed=4)
    ref = ref.data[:2500]
    err = np.abs(blk.data - ref).max()
    assert err <= 1e-6 * np.abs(ref).max() + 1e-12
    truth = json.loads((out / "truth.json").read_text())
    assert truth["x_section_m"] == [0.0, 200.0]
    assert (out / "truth.csv").read_text().startswith("id,vehicle_class")


def test_cli_quake_scene_goes_through_the_same_writers(tmp_path: Path):
    out = tmp_path / "q"
    r = subprocess.run([sys.executable, "-m", "dasedge.cli", "simulate", "quake", "--out", str(out), "--seed", "1",
                        "--format", "prodml", "--param", "n_channels=32", "--param", "duration_s=20"],
                       capture_output=True, text=True, check=True)
    assert json.loads(r.stdout.strip().splitlines()[-1])["files"] == 2
    from dasedge import io

    files = sorted((out / "quake").glob("*.h5"))
    blocks = [io.read(f) for f in files]
    assert sum(b.n_time for b in blocks) * blocks[0].dt_s == pytest.approx(20.0)
    assert all(b.n_channel == 32 for b in blocks)
    assert (out / "truth.json").exists()
