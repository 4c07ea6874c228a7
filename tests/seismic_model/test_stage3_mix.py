"""Stage-3 focused pseudo-label scenes: the generator's truth has the requested properties."""

from __future__ import annotations

import numpy as np

from pipelines.seismic.training import scenes
from pipelines.seismic.training.pseudo_labels import STAGE3_MIX, scene_focus


def test_focus_categories_match_truth() -> None:
    for seed in range(510000, 510016):
        cat = STAGE3_MIX[seed % len(STAGE3_MIX)]
        kw = scene_focus(seed, "stage3")
        assert cat["snr"][0] <= kw["snr_db"] <= cat["snr"][1]
        sc = scenes.simulate(seed, nt=3000, nx=64, **kw)
        assert sc.snr_db == kw["snr_db"]
        for e in sc.events:
            if "epi" in cat:
                assert np.hypot(e.x_km, e.y_km) <= cat["epi"][1] + 1e-9
                assert cat["depth"][0] <= e.z_km <= cat["depth"][1]
                # near + shallow: S-P below ~1 s on the closest channel
                assert float((e.s_s - e.p_s).min()) < 1.0


def test_default_stream_unchanged_without_focus() -> None:
    assert scene_focus(123, None) == {}
    a = scenes.simulate(4242, nt=500, nx=32)
    b = scenes.simulate(4242, nt=500, nx=32, epi_km=None, depth_km=None)
    np.testing.assert_array_equal(a.data, b.data)
    # depths of the default generator span 2-20 km, not only the focused 2-5 km
    z = [e.z_km for s in range(40) for e in scenes.simulate(s, nt=300, nx=16).events]
    assert max(z) > 10.0
