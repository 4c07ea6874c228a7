"""Site-term calibration of the magnitude relation against synthetic picks with known coefficients."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.seismic.magnitude import DEFAULT, ScalingRelation, calibrate_site_terms, estimate_magnitude


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_calibrate_site_terms_recovers_known_k(seed):
    rng = np.random.default_rng(seed)
    true = ScalingRelation(a=dict(DEFAULT.a), b=dict(DEFAULT.b), k={"P": -6.1 + rng.normal(0, 0.3), "S": -5.7 + rng.normal(0, 0.3)})
    n_ev, n_ch = 12, 150
    mags = rng.uniform(1.0, 4.0, n_ev)
    amp, dist, phase, cat = [], [], [], []
    for m in mags:
        d = np.hypot(rng.uniform(5, 60), np.arange(n_ch) * 0.01)
        for p in ("P", "S"):
            a = true.amplitude(m, d, p) * 10 ** rng.normal(0, 0.25, n_ch)  # coupling scatter
            a[rng.random(n_ch) < 0.05] = 1e-3  # clipped / wrong channels
            amp.append(a), dist.append(d), phase.append(np.full(n_ch, p)), cat.append(np.full(n_ch, m))
    amp, dist, phase, cat = map(np.concatenate, (amp, dist, phase, cat))
    fitted, unc = calibrate_site_terms(amp, dist, phase, cat, DEFAULT)
    for p in ("P", "S"):
        assert abs(fitted.k[p] - true.k[p]) < 0.03, (p, fitted.k[p], true.k[p])
        assert 0 < unc[p] < 0.02
    assert fitted.a == DEFAULT.a and fitted.b == DEFAULT.b
    # magnitudes with the uncalibrated default are biased, with the fitted terms they are not
    sel = (cat == mags[0])
    m_def, _ = estimate_magnitude(amp[sel], dist[sel], phase[sel], DEFAULT)
    m_fit, _ = estimate_magnitude(amp[sel], dist[sel], phase[sel], fitted)
    assert abs(m_fit - mags[0]) < 0.1
    assert abs(m_def - mags[0]) > abs(m_fit - mags[0])


def test_calibrate_keeps_k_of_a_phase_without_picks():
    fitted, unc = calibrate_site_terms(np.array([1e-7]), np.array([10.0]), np.array(["S"]), np.array([2.0]))
    assert fitted.k["P"] == DEFAULT.k["P"] and "P" not in unc
