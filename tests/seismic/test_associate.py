"""Association (own GaMMA-style EM) against synthetic ground truth."""

from __future__ import annotations

import numpy as np
import pytest

from dasedge.synth.quake import simulate_quake_scene
from pipelines.seismic.associate import AssocConfig, associate_picks, time_clusters
from pipelines.seismic.geometry import from_lonlat, read_geometry
from pipelines.seismic.magnitude import SYNTH_QUAKE
from pipelines.seismic.picking import OracleAnnotator, PickerConfig, pick_blocks
from tests.seismic.helpers import match_events

CFG = AssocConfig(vp=6.0, vs=6.0 / 1.73)


def _oracle_picks(blk, truth, *, jitter=0.03, miss=0.1, seed=0, false_per_channel=0.0):
    rng = np.random.default_rng(seed)
    false = []
    n_false = int(false_per_channel * blk.n_channel)
    for _ in range(n_false):
        false.append((int(rng.integers(blk.n_channel)), int(blk.t0_ns + rng.uniform(1, blk.duration_s - 1) * 1e9),
                      "P" if rng.random() < 0.5 else "S"))
    orc = OracleAnnotator(truth["arrivals"], jitter_s=jitter, miss_rate=miss, seed=seed, false_arrivals=false)
    return pick_blocks([blk], orc, PickerConfig.preset("throughput", spatial=1))


@pytest.mark.parametrize("seed", [101, 202])
def test_overlapping_events_found_and_located(seed):
    # two events 3 s apart (overlapping wave trains) plus one isolated
    events = [dict(origin_s=20.0), dict(origin_s=23.0), dict(origin_s=45.0)]
    blk, truth = simulate_quake_scene(n_channels=400, dx_m=8.0, duration_s=75.0, events=events, seed=seed, snr_db=10.0)
    picks = _oracle_picks(blk, truth, seed=seed)
    res = associate_picks(picks, cfg=CFG, relation=SYNTH_QUAKE)
    pairs, p, r, f1 = match_events(res.events, truth["events"], tol_s=2.0)
    assert f1 == 1.0
    for t, e in pairs:
        rho = np.hypot(t["y_m"], t["depth_m"])
        assert abs(e.origin_ns - t["origin_ns"]) < 0.3e9
        assert abs(e.x_m - t["x_m"]) < 2000
        assert abs(e.depth_m - rho) < 3000  # straight fiber: depth_m is rho = sqrt(y^2 + z^2)
        assert e.y_m is None
        assert abs(e.magnitude - t["magnitude"]) < 0.5
        assert e.num_p > 100 and e.num_s > 100
        assert e.origin_uncertainty_s is not None and e.origin_uncertainty_s < 0.2
    # picks carry the event ids, P and S of one channel share an event
    assoc = [q for q in res.picks if q.event_id]
    assert len(assoc) >= 0.8 * len(picks)


def test_false_picks_do_not_make_events():
    blk, truth = simulate_quake_scene(n_channels=300, dx_m=8.0, duration_s=60.0, n_events=2, seed=7, snr_db=10.0)
    picks = _oracle_picks(blk, truth, seed=3, false_per_channel=0.5)  # +150 random picks
    res = associate_picks(picks, cfg=CFG)
    _, p, r, f1 = match_events(res.events, truth["events"])
    assert f1 == 1.0
    noise_only = _oracle_picks(blk, {"arrivals": []}, seed=4, false_per_channel=2.0)
    assert len(noise_only) > 400
    assert associate_picks(noise_only, cfg=CFG).events == []


def test_left_right_ambiguity_straight_fiber():
    out = []
    for y in (+4000.0, -4000.0):
        ev = [dict(origin_s=15.0, x_m=1200.0, y_m=y, depth_m=6000.0, magnitude=2.0)]
        blk, truth = simulate_quake_scene(n_channels=300, dx_m=8.0, duration_s=45.0, events=ev, seed=9, snr_db=10.0)
        res = associate_picks(_oracle_picks(blk, truth, jitter=0.0, miss=0.0), cfg=CFG)
        assert len(res.events) == 1
        out.append(res.events[0])
    assert abs(out[0].x_m - out[1].x_m) < 50 and abs(out[0].depth_m - out[1].depth_m) < 50
    assert abs(out[0].depth_m - np.hypot(4000, 6000)) < 1000


def test_bent_fiber_with_geometry_file_locates_in_3d(tmp_path):
    from pyproj import Transformer

    ev = [dict(origin_s=12.0, x_m=900.0, y_m=-2500.0, depth_m=5000.0, magnitude=2.0)]
    blk, truth = simulate_quake_scene(n_channels=400, dx_m=8.0, duration_s=40.0, events=ev, seed=5, snr_db=10.0,
                                      geometry="bent", bend_deg=90.0)
    lon0, lat0 = 10.0, 63.0
    tr = Transformer.from_crs(f"+proj=aeqd +lon_0={lon0} +lat_0={lat0} +datum=WGS84 +units=m", "EPSG:4326", always_xy=True)
    lon, lat = tr.transform(truth["x_m"], truth["y_m"])
    path = tmp_path / "geom.csv"
    path.write_text("channel,longitude,latitude,elevation_m\n" + "".join(
        f"{c},{lo:.8f},{la:.8f},0\n" for c, (lo, la) in enumerate(zip(lon, lat))))
    geom = read_geometry(path)
    assert not geom.collinear
    res = associate_picks(_oracle_picks(blk, truth, jitter=0.02), geometry=geom, cfg=CFG)
    assert len(res.events) == 1
    e = res.events[0]
    elon, elat = tr.transform(ev[0]["x_m"], ev[0]["y_m"])
    from pyproj import Geod

    _, _, dist = Geod(ellps="WGS84").inv(e.longitude, e.latitude, elon, elat)
    assert dist < 1500
    assert abs(e.depth_m - 5000.0) < 2000


def test_time_clusters_split_separated_activity():
    t = np.r_[np.full(50, 10.0) + np.linspace(0, 2, 50), np.full(50, 100.0) + np.linspace(0, 2, 50), [55.0]]
    lab = time_clusters(t, np.ones_like(t), AssocConfig(min_picks=20), pad_s=3.0)
    assert len(set(lab[:50])) == 1 and len(set(lab[50:100])) == 1 and lab[0] != lab[50]
    assert lab[-1] == -1


def test_geometry_projection_roundtrip():
    g = from_lonlat(np.arange(3), np.array([10.0, 10.01, 10.02]), np.array([63.0, 63.0, 63.01]))
    lon, lat = g.to_lonlat(*g.xyz_km[2, :2])
    assert lon == pytest.approx(10.02, abs=1e-7) and lat == pytest.approx(63.01, abs=1e-7)


def _direct_picks(x0_km, rho_km, t0_s, phase_as, vel, rng, n=400, dx_km=0.008, jitter=0.03):
    """Picks of one direct arrival on a straight fiber (labelled ``phase_as``), with jitter."""
    from dasedge.records import Pick

    x = np.arange(n) * dx_km
    t = t0_s + np.hypot(x - x0_km, rho_km) / vel + rng.normal(0, jitter, n)
    return [Pick(f"{phase_as}{t0_s}{c}", "f", c, c * dx_km * 1000.0, int(t[c] * 1e9), phase_as, 0.8, 1e-8)
            for c in range(n)]


def test_mislabelled_s_picks_leave_the_other_event_and_no_edge_ghost():
    # event A's S picked as P (the shipped model does this when a second event follows), event B clean.
    # Seen from 3.2 km of fiber, a source on the edge of the search grid has a nearly flat moveout, so A's
    # "P" (really S) and B's S can line up for it (AssocConfig.skip_edge_nodes).
    vp, vs = 6.5, 6.5 / 1.73
    rng = np.random.default_rng(5)
    a, b = (1.3, 8.6, 0.0), (0.4, 15.3, 3.0)  # (x along the fiber from its start km, rho km, origin s)
    picks = (_direct_picks(a[0], a[1], a[2], "P", vp, rng) + _direct_picks(a[0], a[1], a[2], "P", vs, rng)
             + _direct_picks(b[0], b[1], b[2], "P", vp, rng) + _direct_picks(b[0], b[1], b[2], "S", vs, rng))
    cfg = AssocConfig(vp=vp, vs=vs)
    res = associate_picks(picks, cfg=cfg)
    assert len(res.events) == 1  # A has no S label: no event (both-phases rule), and no far ghost from it
    e = res.events[0]
    assert abs(e.origin_ns / 1e9 - b[2]) < 0.1 and abs(e.x_m / 1000 - b[0]) < 0.3 and abs(e.depth_m / 1000 - b[1]) < 1.0


def test_edge_nodes_of_the_initialisation_grid():
    from pipelines.seismic.associate import _edge_nodes, _grid

    st = np.column_stack([np.linspace(0, 3.2, 50), np.zeros(50)])
    g = _grid(st, AssocConfig(), collinear=True)
    edge = _edge_nodes(g, collinear=True)
    assert np.all(edge[(g[:, 0] == g[:, 0].min()) | (g[:, 0] == g[:, 0].max()) | (g[:, 1] == g[:, 1].max())])
    assert not edge[(g[:, 1] < 5.0) & (np.abs(g[:, 0] - 1.6) < 5.0)].any()  # near and under the fiber: interior
