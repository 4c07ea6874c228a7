"""Fast preprocessing and peak-picking kernels against direct definitions."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.seismic.onnx_model import NORM_PAD, NORM_STRIDE, NORM_WINDOW, _moving_mean, moving_normalize
from pipelines.seismic.picking import peaks_in_rows
from pipelines.seismic.preprocess import channel_median, remove_common_mode


def _naive_moving_mean(x: np.ndarray, window: int, stride: int, pad: int) -> np.ndarray:
    """Definition by loops: reflect-pad, window means every ``stride``, centred, linear interpolation, held at the ends."""
    nt = x.shape[0]
    xp = np.pad(x.astype(np.float64), ((pad, pad), (0, 0)), mode="reflect")
    starts = [s for s in range(0, xp.shape[0] - window + 1, stride) if s + window <= (xp.shape[0] // stride) * stride]
    means = [xp[s : s + window].mean(axis=0) for s in starts]
    centres = [s + (window - 1) / 2 - pad for s in starts]
    out = np.empty(x.shape)
    for t in range(nt):
        if len(centres) == 1 or t <= centres[0]:
            out[t] = means[0]
        elif t >= centres[-1]:
            out[t] = means[-1]
        else:
            j = max(i for i, c in enumerate(centres) if c <= t)
            f = (t - centres[j]) / (centres[j + 1] - centres[j])
            out[t] = (1 - f) * means[j] + f * means[j + 1]
    return out


@pytest.mark.parametrize("nt", [1100, 2048, 2300, 3072])
def test_moving_mean_matches_definition(nt):
    rng = np.random.default_rng(nt)
    x = (rng.normal(size=(nt, 3)) + np.linspace(0, 5, nt)[:, None]).astype(np.float32)  # trend: interpolation matters
    got = _moving_mean(x, NORM_WINDOW, NORM_STRIDE, NORM_PAD)
    want = _naive_moving_mean(x, NORM_WINDOW, NORM_STRIDE, NORM_PAD)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


def test_moving_normalize_zero_channel_and_scale():
    rng = np.random.default_rng(3)
    x = (rng.normal(size=(3072, 4)) * np.array([1e-9, 1.0, 0.0, 5.0])).astype(np.float32)
    x[:, 3] += 100.0  # large offset: removed by the moving mean
    y = moving_normalize(x)
    assert y.dtype == np.float32
    assert np.all(y[:, 2] == 0)  # dead channel stays 0 (scale 0 -> 1), no NaN
    np.testing.assert_allclose(np.abs(y[:, [0, 1, 3]]).mean(axis=0), 1.0, atol=0.05)
    assert np.abs(y[:, 3].mean()) < 0.05


@pytest.mark.parametrize("nx", [1, 2, 5, 64, 1025])
def test_channel_median_equals_numpy(nx):
    rng = np.random.default_rng(nx)
    x = np.round(rng.normal(size=(200, nx)), 1).astype(np.float32)  # ties
    np.testing.assert_array_equal(channel_median(x), np.median(x, axis=1).astype(np.float32))


def test_remove_common_mode_removes_shared_signal():
    rng = np.random.default_rng(5)
    common = np.sin(np.arange(500) / 7.0)[:, None]
    own = rng.normal(scale=0.1, size=(500, 51))
    x = (common + own + 3.0).astype(np.float32)
    y = remove_common_mode(x)
    assert np.abs(np.corrcoef(y.mean(axis=1), common[:, 0])[0, 1]) < 0.2
    np.testing.assert_allclose(y, remove_common_mode(x - x.mean(axis=0), demeaned=True), atol=1e-5)


def _naive_peaks_rows(prob, lo, hi, thr, kernel):
    half = kernel // 2
    out = []
    for t in range(lo, hi):
        for c in range(prob.shape[1]):
            a, b = max(0, t - half), min(prob.shape[0], t + half + 1)
            v = prob[t, c]
            if v > thr and v == prob[a:b, c].max() and (t == 0 or prob[t - 1, c] != v):
                out.append((t, c))
    return out


@pytest.mark.parametrize("lo,hi", [(0, 300), (0, 150), (40, 300), (7, 8), (120, 260)])
def test_peaks_in_rows_matches_naive_loop(lo, hi):
    rng = np.random.default_rng(lo * 1000 + hi)
    prob = np.round(rng.random((300, 6)), 2).astype(np.float32)  # plateaus
    prob[100:110, 2] = 0.9  # a flat top
    it, ix, sc = peaks_in_rows(prob, lo, hi, 0.3, 21)
    assert list(zip(it.tolist(), ix.tolist())) == _naive_peaks_rows(prob, lo, hi, 0.3, 21)
    np.testing.assert_array_equal(sc, prob[it, ix])
