"""Time-resampling augmentation: data and labels move together to the analytically right place."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.seismic.training.dataset import (
    STRETCH_RANGE,
    PseudoLabelSet,
    gaussian_labels,
    save_pseudo,
    stretch_factor,
    stretch_input_length,
    time_stretch,
)


def _pulses(nt: int, centres: np.ndarray, width: float) -> np.ndarray:
    t = np.arange(nt, dtype=np.float64)[:, None]
    return np.exp(-0.5 * ((t - centres[None, :]) / width) ** 2)


@pytest.mark.parametrize("factor", [0.8, 0.9, 1.0, 1.13, 1.25])
def test_arrival_moves_to_factor_times_index(factor: float) -> None:
    nt_out, nx = 2048, 5
    arrivals = np.array([100.0, 333.3, 812.7, 1200.0, 1555.5])
    need = stretch_input_length(nt_out, factor)
    data = _pulses(need, arrivals, width=6.0)
    p = arrivals[None, :]
    s = (arrivals + 150.0)[None, :]
    out, p2, s2 = time_stretch(data, p, s, factor, nt_out)
    assert out.shape == (nt_out, nx) and out.dtype == np.float32
    # ground truth: the analytic pulse at a * factor, width scaled by factor
    want = _pulses(nt_out, arrivals * factor, width=6.0 * factor)
    assert np.abs(out - want).max() < 0.03
    np.testing.assert_allclose(p2, p * factor)
    np.testing.assert_allclose(s2, s * factor)
    # the label peak (drawn after resampling, sigma unchanged) sits on the moved pulse
    lab = gaussian_labels(p2, s2, nt_out)
    for c in range(nx):
        true_idx = arrivals[c] * factor
        if true_idx < nt_out - 1:
            assert abs(int(np.argmax(lab[1, :, c])) - true_idx) <= 0.5 + 1e-9
            assert abs(int(np.argmax(out[:, c])) - true_idx) <= 1.0


def test_compression_does_not_alias() -> None:
    # a 45 Hz tone at 100 Hz compressed by 0.8 would alias to 56 Hz -> 44 Hz; the low-pass removes it
    nt_out, f = 2048, 0.8
    need = stretch_input_length(nt_out, f)
    t = np.arange(need) / 100.0
    tone = np.sin(2 * np.pi * 45.0 * t)[:, None]
    slow = np.sin(2 * np.pi * 2.0 * t)[:, None]
    out_tone, _, _ = time_stretch(tone, np.zeros((0, 1)), np.zeros((0, 1)), f, nt_out)
    out_slow, _, _ = time_stretch(slow, np.zeros((0, 1)), np.zeros((0, 1)), f, nt_out)
    core = slice(200, nt_out - 200)
    assert np.std(out_tone[core]) < 0.05  # suppressed
    # the 2 Hz tone becomes 2.5 Hz and keeps its amplitude
    want = np.sin(2 * np.pi * 2.0 * (np.arange(nt_out) / f) / 100.0)
    assert np.abs(out_slow[core, 0] - want[core]).max() < 0.02


def test_too_short_input_is_rejected() -> None:
    with pytest.raises(ValueError):
        time_stretch(np.zeros((100, 2)), np.zeros((0, 2)), np.zeros((0, 2)), 0.8, 100)


def test_stretch_factor_distribution() -> None:
    assert stretch_factor(5, 0.0) is None
    fs = [stretch_factor(s, 1.0) for s in range(400)]
    assert all(STRETCH_RANGE[0] <= f <= STRETCH_RANGE[1] for f in fs)
    assert min(fs) < 0.85 and max(fs) > 1.2
    some = [stretch_factor(s, 0.5) for s in range(400)]
    n_none = sum(f is None for f in some)
    assert 140 < n_none < 260


def test_pseudo_label_crops_stay_aligned_when_stretched(tmp_path) -> None:
    """Stretched pseudo-label examples: the P target peak sits on the data's spike in every labelled channel."""
    nt, nx = 3000, 64
    rng = np.random.default_rng(1)
    p_true = np.linspace(900.0, 1300.0, nx)
    data = 0.01 * rng.standard_normal((nt, nx))
    data += 50.0 * _pulses(nt, p_true, width=1.5)
    save_pseudo(tmp_path / "rec.npz", data, p_true[None, :], (p_true + 400.0)[None, :], np.ones(nx))
    ds = PseudoLabelSet(tmp_path, stretch_p=1.0)
    checked = 0
    for seed in range(12):
        ex = ds.example(seed, 1024, nx)
        f = stretch_factor(seed, 1.0)
        assert f is not None
        for c in range(nx):
            lab = int(np.argmax(ex.target[1, :, c]))
            # a true label peak (not the tail of a Gaussian cut by a zeroed time band), inside the crop
            if ex.target[1, lab, c] > 0.999 and 3 <= lab < 1024 - 3:
                dat = int(np.argmax(np.abs(ex.x[:, c])))
                assert abs(lab - dat) <= 1, (seed, c, lab, dat, f)
                checked += 1
    assert checked > 100
