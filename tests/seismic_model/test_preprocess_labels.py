"""PhaseNet-DAS numpy side: normalisation, padding, peaks, labels, synthetic truth (no torch)."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.seismic.onnx_model import clean, detect_peaks, moving_normalize, pad_to_multiple
from pipelines.seismic.training.dataset import SIGMA, gaussian_labels
from pipelines.seismic.training.scenes import EVAL_SEED0, simulate


def test_moving_normalize_sine_amplitude_and_offset():
    # A sine of amplitude A on an offset: mean |A sin| = 2A/pi, so the output is a unit-mean-abs sine.
    t = np.arange(6000) / 100.0
    amps = np.array([1e-9, 3.0, 250.0])
    x = amps[None, :] * (7.0 + np.sin(2 * np.pi * 2.0 * t)[:, None])
    y = moving_normalize(x)
    mid = slice(1500, 4500)
    np.testing.assert_allclose(np.abs(y[mid]).mean(axis=0), 1.0, rtol=2e-2)
    np.testing.assert_allclose(y[mid].mean(axis=0), 0.0, atol=2e-2)
    # amplitude invariance across channels: all three columns are the same sine
    np.testing.assert_allclose(y[:, 0], y[:, 2], atol=1e-3)
    expected = np.sin(2 * np.pi * 2.0 * t[mid]) * np.pi / 2
    np.testing.assert_allclose(y[mid, 1], expected, atol=0.05)


def test_moving_normalize_zero_channel_stays_zero_and_short_records():
    x = np.zeros((500, 3), np.float32)
    x[:, 1] = np.random.default_rng(0).standard_normal(500)
    y = moving_normalize(x)
    assert y.shape == x.shape and np.all(y[:, 0] == 0) and np.isfinite(y).all()
    assert abs(np.abs(y[:, 1]).mean() - 1) < 0.1


def test_clean_removes_common_mode_and_mean():
    rng = np.random.default_rng(1)
    common = rng.standard_normal(1000)[:, None]
    own = rng.standard_normal((1000, 9)) * 0.01
    y = clean(5.0 + common + own)
    assert np.abs(y).max() < 0.1  # the shared trace is gone, only the small per-channel part is left
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=0.01)


def test_pad_to_multiple():
    assert pad_to_multiple(np.ones((1000, 300)), 256).shape == (1024, 512)
    assert pad_to_multiple(np.ones((2048, 1024)), 1024).shape == (2048, 1024)
    assert pad_to_multiple(np.ones((10, 10)), 1024).shape == (1024, 1024)
    p = pad_to_multiple(np.ones((5, 3)), 4)
    assert p[:5, :3].sum() == 15 and p.sum() == 15


def test_detect_peaks_hand_made():
    p = np.zeros((3, 3000, 3))
    p[1, 100, 0], p[1, 110, 0] = 0.9, 0.6  # second is inside the ±10-sample pool of the first -> dropped
    p[1, 400, 0] = 0.25  # below min_prob
    p[2, 200:205, 1] = 0.7  # flat top -> one pick at its first sample
    p[2, 1000, 2] = 0.31
    got = sorted(detect_peaks(p, min_prob=0.3))
    assert [(c, ph, t) for c, ph, t, _ in got] == [(0, 1, 100), (1, 2, 200), (2, 2, 1000)]
    # top-K: 30 s at 100 Hz -> at most 10 per channel/phase
    q = np.zeros((3, 3000, 1))
    q[1, 50::100, 0] = np.linspace(0.4, 0.9, 30)
    got = detect_peaks(q, min_prob=0.3)
    assert len(got) == 10 and min(s for *_, s in got) > 0.7


def test_gaussian_labels_shape_and_values():
    nt = 1000
    p = np.array([[100.0, 500.5, np.nan]])
    s = np.array([[300.0, 560.0, np.nan]])
    y = gaussian_labels(p, s, nt)
    assert y.shape == (3, nt, 3)
    np.testing.assert_allclose(y.sum(axis=0), 1.0, atol=1e-6)
    assert y[1, 100, 0] == pytest.approx(1.0)
    assert y[1, 125, 0] == pytest.approx(np.exp(-0.5), rel=1e-5)  # sigma = 25 samples = 0.25 s
    assert SIGMA == 25.0
    # values below 0.1 are zeroed: exp(-0.5 k^2) < 0.1 for k > 2.146 sigma
    assert y[1, 100 + 54, 0] == 0.0 and y[1, 100 + 53, 0] > 0.1
    # the channel without arrivals is pure noise
    assert np.all(y[0, :, 2] == 1.0)
    # P and S overlapping: probabilities renormalised, noise never negative
    assert y[0].min() >= 0


def test_scene_truth_matches_signal_onset():
    # noise-free-ish scene (60 dB): the first sample where a live channel's amplitude jumps is the P arrival
    sc = simulate(1234, nt=3000, nx=64, snr_db=60, n_events=1, dead_fraction=0, noisy_fraction=0)
    ev = sc.events[0]
    x = np.abs(sc.data.astype(np.float64))
    noise_level = np.median(x[:50], axis=0)
    onset = np.argmax(x > 1000 * noise_level[None, :], axis=0)
    tp = ev.p_s / sc.dt_s
    ok = (tp > 50) & (tp < 2900)
    assert ok.sum() > 32
    assert np.all(np.abs(onset[ok] - tp[ok]) <= 6)  # 30 ms rise + band-limited start
    assert np.median(onset[ok] - tp[ok]) < 3
    assert np.all(ev.s_s > ev.p_s)


def test_eval_and_train_seed_ranges_disjoint():
    assert EVAL_SEED0 == 1_000_000
    a, b = simulate(5, nt=500, nx=8), simulate(EVAL_SEED0 + 5, nt=500, nx=8)
    assert not np.allclose(a.data, b.data)
    np.testing.assert_array_equal(simulate(5, nt=500, nx=8).data, a.data)  # deterministic per seed
