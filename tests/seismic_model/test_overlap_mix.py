"""Stage-5 overlapping pairs: the second event's origin and P arrival land where the brief asks."""

from __future__ import annotations

import numpy as np

from pipelines.seismic.training import scenes
from pipelines.seismic.training.dataset import OVERLAP_EPI_KM, OVERLAP_S, overlap_draw, truth_example


def test_second_origin_follows_first_and_p_lands_in_first_coda() -> None:
    in_coda = 0
    for seed in range(600000, 600012):
        sc = scenes.simulate(seed, nt=2048, nx=64, n_events=2, overlap_s=OVERLAP_S, epi_km=OVERLAP_EPI_KM)
        first, second = sc.events
        assert OVERLAP_S[0] <= second.origin_s - first.origin_s <= OVERLAP_S[1]
        for e in sc.events:
            assert np.hypot(e.x_km, e.y_km) <= OVERLAP_EPI_KM[1] + 1e-9
        # the second P arrives after the first P, and on most scenes after the first S onset
        # (i.e. inside the S coda, which lasts seconds)
        assert np.median(second.p_s) > np.median(first.p_s)
        in_coda += int(np.median(second.p_s) > np.median(first.s_s) - 0.5)
    assert in_coda >= 6


def test_overlap_draw_off_leaves_examples_unchanged() -> None:
    assert not any(overlap_draw(s, 0.0) for s in range(100))
    frac = np.mean([overlap_draw(s, 0.7) for s in range(2000)])
    assert 0.65 < frac < 0.75
    a, b = truth_example(31, nt=512, nx=32), truth_example(31, nt=512, nx=32, overlap_p=0.0)
    np.testing.assert_array_equal(a.x, b.x)


def test_overlapping_examples_label_both_p_arrivals() -> None:
    seeds = [s for s in range(200) if overlap_draw(s, 0.5)][:6]
    two = 0
    for seed in seeds:
        p = truth_example(seed, nt=2048, nx=64, overlap_p=0.5).target[1]
        # Gaussian peaks (value ~1 at the arrival) along time, per channel
        peaks = ((p[1:-1] > p[:-2]) & (p[1:-1] >= p[2:]) & (p[1:-1] > 0.9)).sum(axis=0)
        two += int(np.median(peaks) >= 2)
    assert two >= 4
