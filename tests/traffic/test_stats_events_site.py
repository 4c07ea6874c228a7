"""Interval statistics, events, structural response and site configuration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dasedge.records import Vehicle
from dasedge.synth.traffic import simulate_traffic_scene
from pipelines.traffic.site import SiteConfig
from pipelines.traffic.stats import interval_stats, merge_intervals, traffic_events
from pipelines.traffic.structural import modal_frequencies

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_767_225_600 * 10**9  # on every bin grid


def veh(i, t_s, speed, d=1, cls="car"):
    t = T0 + int(t_s * 1e9)
    return Vehicle(id=f"v{i}", fiber_id="f", t_start_ns=t - 10**10, t_end_ns=t + 10**10, x_start_m=0.0,
                   x_end_m=600.0, speed_kmh=speed, direction=d, vehicle_class=cls, t_ref_ns=t)


def test_interval_stats_against_hand_computed_values():
    speeds = [50, 60, 70, 80, 90, 100, 110, 120, 130, 140]
    vs = [veh(i, 10 + 5 * i, s, cls="truck" if i % 5 == 0 else "car") for i, s in enumerate(speeds)]
    vs.append(veh(99, 30, 77.0, d=-1))
    vs.append(veh(100, 70, 88.0))  # next minute
    rows = interval_stats(vs, 60, coverage=[(T0, T0 + 45 * 10**9)], t_start_ns=T0, t_end_ns=T0 + 120 * 10**9)
    r = next(x for x in rows if x["interval_start_ns"] == T0 and x["direction"] == 1 and x["vehicle_class"] == "all")
    assert r["volume"] == 10 and r["flow_veh_h"] == 600.0
    assert r["mean_speed_kmh"] == pytest.approx(95.0)
    assert r["p50_speed_kmh"] == pytest.approx(95.0)
    assert r["p85_speed_kmh"] == pytest.approx(126.5)  # linear interpolation between 120 and 130
    assert r["heavy_share"] == pytest.approx(0.2)
    assert r["completeness"] == pytest.approx(0.75)
    assert sum(r["speed_bins"]["counts"]) == 10 and r["speed_bins"]["edges"][1] - r["speed_bins"]["edges"][0] == 5
    t = next(x for x in rows if x["interval_start_ns"] == T0 and x["direction"] == 1 and x["vehicle_class"] == "truck")
    assert t["volume"] == 2
    back = next(x for x in rows if x["interval_start_ns"] == T0 and x["direction"] == -1 and x["vehicle_class"] == "all")
    assert back["volume"] == 1
    nxt = next(x for x in rows if x["interval_start_ns"] == T0 + 60 * 10**9 and x["direction"] == 1 and x["vehicle_class"] == "all")
    assert nxt["volume"] == 1 and nxt["completeness"] == 0.0
    assert merge_intervals([(0, 5), (3, 8), (10, 12)]) == [(0, 8), (10, 12)]


def test_congestion_and_wrong_way_events():
    site = SiteConfig(congestion_kmh=40.0, congestion_window_s=120.0, directions={
        1: {"lanes": 1, "allowed": True}, -1: {"lanes": 1, "allowed": False}})
    vs = [veh(i, 20 * i, 85.0) for i in range(10)]
    vs += [veh(100 + i, 200 + 10 * i, 20.0) for i in range(12)]  # a jam from t=200 s
    vs += [veh(200 + i, 330 + 20 * i, 85.0) for i in range(10)]
    vs.append(veh(999, 50, 70.0, d=-1))
    ev = traffic_events(vs, site)
    cong = [e for e in ev if e.kind == "congestion"]
    ww = [e for e in ev if e.kind == "wrong_way"]
    assert len(cong) == 1 and cong[0].direction == 1
    # rolling 120 s mean of (85, 20 km/h) vehicles drops below 40 km/h at ~260 s, recovers at ~380 s
    assert T0 + 200 * 10**9 <= cong[0].t_start_ns <= T0 + 280 * 10**9
    assert T0 + 330 * 10**9 <= cong[0].t_end_ns <= T0 + 420 * 10**9
    assert len(ww) == 1 and ww[0].detail["vehicle_id"] == "v999"
    assert len({e.id for e in ev}) == len(ev)


def test_wrong_way_vehicle_detected_in_a_scene():
    from pipelines.traffic.pipeline import run_blocks
    from dasedge.synth.traffic import TrafficScene, TrafficSceneConfig

    sc = TrafficScene(TrafficSceneConfig(duration_s=120.0, fs=250.0, dx_m=4.0, length_m=400.0, seed=12,
                                         directions=(1,), wrong_way=True))
    site = SiteConfig(step_s=20.0, directions={1: {"allowed": True}, -1: {"allowed": False}})
    vs = run_blocks(sc.iter_blocks(10.0), site)
    ww = [e for e in traffic_events(vs, site) if e.kind == "wrong_way"]
    truth = [e for e in sc.truth()["events"] if e["kind"] == "wrong_way"]
    assert len(ww) == 1 == len(truth)
    assert abs(ww[0].t_start_ns - truth[0]["t_start_ns"]) < 3e9


def test_modal_frequencies_match_the_bridge_tones():
    b, tr = simulate_traffic_scene(duration_s=60.0, fs=250.0, dx_m=4.0, length_m=400.0, seed=21, modal_amp_ratio=0.5)
    modes = modal_frequencies(b, n_modes=3)
    got = sorted(m.frequency_hz for m in modes)
    assert len(got) == 3
    np.testing.assert_allclose(got, tr["modal_freqs_hz"], atol=0.05)


def test_site_yaml_roundtrip_and_shipped_sites(tmp_path: Path):
    s = SiteConfig(name="x", section_m=(10.0, 500.0), masked_ranges_m=[(100.0, 120.0)],
                   directions={1: {"lanes": 2, "allowed": True}, -1: {"lanes": 1, "allowed": False}})
    s.dump(tmp_path / "s.yaml")
    r = SiteConfig.load(tmp_path / "s.yaml")
    assert r == s and not r.allowed(-1) and r.lanes(1) == 2
    import yaml

    # traffic site files have a top-level ``site:`` mapping (other pipelines keep theirs in the same folder)
    sites = [p for p in sorted((ROOT / "deploy" / "sites").glob("*.yaml"))
             if "site" in (yaml.safe_load(p.read_text()) or {})]
    assert len(sites) >= 3
    for p in sites:
        SiteConfig.load(p)
    with pytest.raises(ValueError):
        SiteConfig.from_dict({"no_such_key": 1})


def test_section_and_masks_limit_the_channels():
    from pipelines.traffic.preprocess import quasi_static

    b, _ = simulate_traffic_scene(duration_s=30.0, fs=250.0, dx_m=4.0, length_m=400.0, seed=22, hot_fraction=0.0,
                                  dead_fraction=0.0)
    img = quasi_static(b, SiteConfig(section_m=(100.0, 300.0), masked_ranges_m=[(200.0, 220.0)],
                                     masked_channels=[30]))
    assert img.distance_m.min() >= 100 and img.distance_m.max() <= 300
    assert not np.any((img.distance_m >= 200) & (img.distance_m <= 220))
    assert 120.0 not in img.distance_m  # channel index 30 at 120 m
