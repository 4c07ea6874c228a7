"""Pseudo-labelling: the original PhaseNet teacher -> GaMMA -> the paper's filters, against simulator truth."""

from __future__ import annotations

import numpy as np

from pipelines.seismic.training.pseudo_labels import (
    GammaSettings,
    associate,
    filter_events,
    teacher_picker,
)
from pipelines.seismic.training.scenes import EVAL_SEED0, simulate


def test_teacher_gamma_labels_match_truth():
    sc = simulate(EVAL_SEED0 + 17, nt=3000, nx=192, snr_db=15, n_events=1)
    picks = teacher_picker(0.5)(sc.data)
    assert len(picks) > 100
    events, assign = associate(picks, sc.x_km, sc.y_km, GammaSettings())
    pl = filter_events(picks, events, assign, sc.nx, GammaSettings())
    assert len(pl.events) == 1
    labelled = pl.mask > 0
    assert labelled.sum() >= 0.1 * sc.nx
    # labelled channels carry both phases, unlabelled ones neither
    assert np.all(np.isfinite(pl.p_idx[0, labelled]) & np.isfinite(pl.s_idx[0, labelled]))
    assert not np.isfinite(pl.p_idx[0, ~labelled]).any()
    tp = sc.events[0].p_s / sc.dt_s
    ts = sc.events[0].s_s / sc.dt_s
    # pseudo-labels sit on the true arrivals (median within 0.1 s / 0.3 s) -- truth is only used to check
    assert np.median(np.abs(pl.p_idx[0, labelled] - tp[labelled])) < 10
    assert np.median(np.abs(pl.s_idx[0, labelled] - ts[labelled])) < 30
    assert 0 < pl.associated_fraction <= 1


def test_filters_both_phases_minimums_and_duplicates():
    nx = 100
    picks = []
    # event A: P and S on channels 0-59, only P on 60-79
    for c in range(80):
        picks.append((c, 1000 + c, "P", 0.9))
    for c in range(60):
        picks.append((c, 1500 + c, "S", 0.9))
    # event B: a duplicate of A (mean P within 500 samples), worse quality
    for c in range(60):
        picks.append((c, 1100, "P", 0.6))
        picks.append((c, 1600, "S", 0.6))
    # event C: too few channels with both phases (5 < 10)
    for c in range(5):
        picks.append((c, 2500, "P", 0.9))
        picks.append((c, 2900, "S", 0.9))
    n_a = 80 + 60
    assign = [(i, 0, 1.0) for i in range(n_a)]
    assign += [(i, 1, 1.0) for i in range(n_a, n_a + 120)]
    assign += [(i, 2, 1.0) for i in range(n_a + 120, n_a + 130)]
    events = [
        {"event_index": 0, "gamma_score": 140.0, "sigma_time": 0.1},
        {"event_index": 1, "gamma_score": 120.0, "sigma_time": 0.5},
        {"event_index": 2, "gamma_score": 10.0, "sigma_time": 0.1},
    ]
    pl = filter_events(picks, events, assign, nx, GammaSettings(min_p_frac=0.1, min_p_abs=10))
    assert [e["event_index"] for e in pl.events] == [0]
    assert pl.mask.sum() == 60 and np.all(pl.mask[:60] == 1)
    assert np.all(np.isnan(pl.p_idx[0, 60:]))  # P-only channels dropped
    np.testing.assert_array_equal(pl.p_idx[0, :60], 1000 + np.arange(60))
    assert pl.n_teacher == len(picks) and pl.n_associated == 120
