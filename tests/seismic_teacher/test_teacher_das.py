"""The PhaseNet teacher on synthetic DAS scenes (truth from dasedge.synth.quake)."""

from __future__ import annotations

import numpy as np
import pytest

from dasedge.synth.quake import simulate_quake_scene
from pipelines.seismic.teacher.das import resample_to, score_picks, teacher_picks, teacher_probabilities
from pipelines.seismic.teacher.runtime import load_session

EVENT = {"x_m": 300.0, "y_m": 2000.0, "depth_m": 10000.0, "magnitude": 2.0, "origin_s": 8.0}


@pytest.fixture(scope="module")
def session():
    return load_session()


@pytest.fixture(scope="module")
def scene():
    # 250 Hz exercises the anti-alias resampling to 100 Hz
    return simulate_quake_scene(
        n_channels=96, dx_m=8.0, fs=250.0, duration_s=40.0, events=[EVENT], seed=3, snr_db=10.0
    )


def test_teacher_picks_synthetic_event(scene, session):
    block, truth = scene
    picks = teacher_picks(block, session=session, threshold=0.5)
    assert all(p.phase in ("P", "S") and 0.5 < p.score <= 1.0 for p in picks)
    live = sorted(set(range(block.n_channel)) - set(truth["dead_channels"]) - set(truth["noisy_channels"]))
    s = score_picks(picks, truth["arrivals"], tol_s=0.5, channels=live)
    assert s["P"]["f1"] >= 0.85 and s["S"]["f1"] >= 0.85
    assert abs(s["P"]["res_mean"]) < 0.1 and abs(s["S"]["res_mean"]) < 0.15
    # picks are in absolute UTC ns within the record
    t = np.array([p.t_ns for p in picks])
    assert np.all((t >= block.t0_ns) & (t < block.t_end_ns))


def test_channel_index_and_subblock(scene, session):
    block, truth = scene
    sub = block.select(channels=slice(40, 72))
    picks = teacher_picks(sub, session=session)
    ch = {p.channel for p in picks}
    assert ch and ch <= set(range(40, 72))
    arr = [a for a in truth["arrivals"] if 40 <= a["channel"] < 72]
    live = sorted(set(range(40, 72)) - set(truth["dead_channels"]) - set(truth["noisy_channels"]))
    assert score_picks(picks, arr, channels=live)["P"]["recall"] >= 0.8


def test_short_record_single_window(session):
    ev = dict(EVENT, origin_s=4.0)
    block, truth = simulate_quake_scene(n_channels=32, dx_m=8.0, fs=100.0, duration_s=20.0, events=[ev], seed=9)
    prob, dt = teacher_probabilities(block, session=session)
    assert prob.shape == (2000, 32, 3) and dt == 0.01
    np.testing.assert_allclose(prob.sum(axis=2), 1.0, atol=1e-4)
    s = score_picks(teacher_picks(block, session=session), truth["arrivals"])
    assert s["P"]["recall"] >= 0.8


def test_resample_anti_alias():
    fs = 250.0
    t = np.arange(5000) / fs
    x = np.column_stack([np.sin(2 * np.pi * 5 * t), np.sin(2 * np.pi * 70 * t)])  # 70 Hz would alias to 30 Hz
    y = resample_to(x, fs, 100.0)
    assert y.shape == (2000, 2)
    t2 = np.arange(2000) / 100.0
    mid = slice(200, 1800)
    np.testing.assert_allclose(y[mid, 0], np.sin(2 * np.pi * 5 * t2[mid]), atol=0.01)  # time origin kept
    assert np.std(y[mid, 1]) < 0.01
