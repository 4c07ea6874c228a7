"""S pseudo-label filter: known-late S labels are rejected, correct ones kept (synthetic truth)."""

import numpy as np

from pipelines.seismic.training.pseudo_filter import filter_s_labels, student_s_offsets, vpvs_slope


def _event(nx=64, t0=200.0, vpvs=1.75):
    """True P/S sample indices of a point source under a line of channels (100 Hz)."""
    x = np.arange(nx) * 0.01  # km
    d = np.hypot(x - 0.2, 3.0)  # km, source 3 km deep
    tp = t0 + d / 5.5 * 100
    ts = t0 + d / (5.5 / vpvs) * 100
    return tp, ts


def _prob_at(ts, nt=3000, sigma=20.0):
    t = np.arange(nt)[:, None]
    return np.exp(-0.5 * ((t - ts[None, :]) / sigma) ** 2)


def test_offsets_measure_label_shift():
    tp, ts = _event()
    prob = _prob_at(ts)
    off = student_s_offsets(prob, (ts + 80)[None, :], window=200, min_prob=0.1)
    assert np.allclose(off[np.isfinite(off)], -80, atol=1)
    assert np.isfinite(off).all()


def test_late_s_rejected_correct_kept():
    tp, ts = _event()
    prob = _prob_at(ts)
    mask = np.ones(tp.size, np.float32)
    kept, info = filter_s_labels(tp[None], ts[None], mask, prob)
    assert kept is not None and kept.sum() == tp.size and info["events"][0]["reject"] is None
    late, info = filter_s_labels(tp[None], (ts + 100)[None], mask, prob)  # 1 s late everywhere
    assert late is None and info["events"][0]["reject"] == "student"


def test_contradicted_channels_masked():
    tp, ts = _event()
    prob = _prob_at(ts)
    lab = ts.copy()
    lab[:5] += 60  # 0.6 s late on 5 channels only
    kept, _ = filter_s_labels(tp[None], lab[None], np.ones(tp.size, np.float32), prob)
    assert kept is not None
    assert np.array_equal(np.nonzero(kept == 0)[0], np.arange(5))


def test_vpvs_slope_recovers_ratio_and_rejects_implausible():
    nx = 256
    x = np.arange(nx) * 0.05
    d = np.hypot(x - 1.0, 2.0)
    tp = 100 + d / 5.5 * 100
    for r in (1.6, 1.9):
        ts = 100 + d / (5.5 / r) * 100
        assert abs(vpvs_slope(tp[None], ts[None], 50)[0] - r) < 1e-6
    ts_bad = 100 + d / (5.5 / 3.0) * 100  # vp/vs 3: not a plausible crust
    prob = np.zeros((3000, nx))  # student without an opinion: only the slope check acts
    kept, info = filter_s_labels(tp[None], ts_bad[None], np.ones(nx, np.float32), prob)
    assert kept is None and info["events"][0]["reject"] == "vpvs"
