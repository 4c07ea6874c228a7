"""1-D layered velocity model: travel-time table and location, against an independent ray computation.

The independent reference is Fermat's principle done by brute force: the travel time of a direct
ray from a source at depth z to a surface receiver at horizontal distance h is the minimum over the
horizontal positions where the ray crosses each interface of sum(segment length / layer velocity)
(a convex function of those positions, minimised with scipy).  Nothing of the table code is used.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from dasedge.records import Pick, stable_id
from pipelines.seismic.associate import AssocConfig, LayeredModel, associate_picks
from pipelines.seismic.geometry import FiberGeometry

MODEL = LayeredModel.from_layers([dict(top_km=0.0, vp=4.5, vs=2.6), dict(top_km=1.0, vp=5.6, vs=3.2),
                                  dict(top_km=4.0, vp=6.1, vs=3.5), dict(top_km=15.0, vp=6.6, vs=3.8)])


def _fermat(dzs: np.ndarray, vs: np.ndarray, h: float, v_along: float | None = None, n_first: int = 0) -> float:
    """min over crossing points of sum(segment / v); with ``v_along``, the path runs along the interface
    reached after the first ``n_first`` segments (a head wave, or at worst a reflection) - convex."""
    n = dzs.size

    def f(x):
        xs = np.r_[0.0, x, h]
        if v_along is None:
            return float((np.sqrt(np.diff(xs) ** 2 + dzs**2) / vs).sum())
        a, b = xs[: n_first + 1], xs[n_first + 1 :]
        t1 = (np.sqrt(np.diff(a) ** 2 + dzs[:n_first] ** 2) / vs[:n_first]).sum()
        t2 = (np.sqrt(np.diff(b) ** 2 + dzs[n_first:] ** 2) / vs[n_first:]).sum()
        return float(t1 + t2 + abs(b[0] - a[-1]) / v_along)

    n_x = n - 1 + (1 if v_along is not None else 0)
    if n_x == 0:
        return f(np.zeros(0))
    x0 = np.linspace(0.0, h, n_x + 2)[1:-1]
    return float(minimize(f, x0, method="L-BFGS-B", options=dict(ftol=1e-15, gtol=1e-12, maxiter=2000)).fun)


def fermat_time(h: float, z: float, phase: str, model: LayeredModel = MODEL) -> float:
    """First-arrival time by brute-force Fermat (independent of the table): the fastest of the
    direct ray and the rays running along each deeper interface."""
    top = np.array(model.top_km)
    v = np.array(model.vp if phase == "P" else model.vs)
    bounds = [b for b in top[1:] if b < z]
    dzs = np.diff(np.r_[0.0, bounds, z])  # surface -> source, per layer crossed
    best = _fermat(dzs, v[: dzs.size], h)
    for k in range(1, top.size):
        if top[k] <= z:
            continue
        down = np.diff(top[: k + 1])  # surface -> interface k
        up = np.diff(np.r_[z, [b for b in top[1:k] if b > z], top[k]])[::-1]  # interface k -> source
        lay_up = np.searchsorted(top, np.r_[z, [b for b in top[1:k] if b > z]], side="right")[::-1] - 1
        segs = np.r_[down, up]
        vels = np.r_[v[:k], v[lay_up]]
        best = min(best, _fermat(segs, vels, h, v_along=float(v[k]), n_first=k))
    return best


def test_table_matches_independent_fermat_times():
    rng = np.random.default_rng(4)
    h = rng.uniform(0.0, 15.0, 60)
    z = rng.uniform(0.3, 14.0, 60)
    for phase in ("P", "S"):
        tab = MODEL.table(phase)
        tt, dth, dtz = tab(h, z)
        ref = np.array([fermat_time(a, b, phase) for a, b in zip(h, z)])
        assert np.abs(tt - ref).max() < 0.005, np.abs(tt - ref).max()
        # gradients agree with finite differences of the independent times
        eps = 0.05
        ref_dh = np.array([(fermat_time(a + eps, b, phase) - fermat_time(a, b, phase)) / eps for a, b in zip(h[:10], z[:10])])
        assert np.abs(dth[:10] - ref_dh).max() < 0.01


def test_uniform_one_layer_model_is_straight_rays():
    m = LayeredModel((0.0,), (6.0,), (3.5,))
    h, z = np.array([0.0, 2.0, 30.0]), np.array([5.0, 0.5, 12.0])
    assert np.allclose(m.table("S")(h, z)[0], np.hypot(h, z) / 3.5, atol=1e-3)


def _picks(xyz_ch: np.ndarray, events: list[dict], seed: int) -> list[Pick]:
    rng = np.random.default_rng(seed)
    out = []
    for ev in events:
        h = np.hypot(xyz_ch[:, 0] - ev["x"], xyz_ch[:, 1] - ev["y"])
        # Fermat times on a 0.2 km distance grid, linearly interpolated (error < 1e-3 s here)
        hg = np.linspace(h.min(), h.max() + 1e-6, max(2, int(np.ceil((h.max() - h.min()) / 0.2)) + 1))
        for ph in ("P", "S"):
            tg = np.array([fermat_time(float(x), ev["z"], ph) for x in hg])
            tt = np.interp(h, hg, tg)
            for c in range(len(xyz_ch)):
                if rng.random() < 0.1:
                    continue
                t = ev["t0_ns"] + int((tt[c] + rng.normal(0, 0.02)) * 1e9)
                out.append(Pick(stable_id(c, ph, t), "f", c, float(xyz_ch[c, 0] * 1000.0), t, ph, 0.8, None))
    return sorted(out, key=lambda p: p.t_ns)


def _errors(picks, geom, cfg, events, straight: bool):
    res = associate_picks(picks, geom, cfg)
    errs = []
    for ev in events:
        if not res.events:
            errs.append(np.inf)
            continue
        e = min(res.events, key=lambda e: abs(e.origin_ns - ev["t0_ns"]))
        if straight:  # along-line x and rho (= depth for an event under the line)
            errs.append(float(np.hypot(e.x_m / 1000 - ev["x"], e.depth_m / 1000 - ev["z"])))
        else:
            errs.append(float(np.sqrt((e.x_m / 1000 - ev["x"]) ** 2 + (e.y_m / 1000 - ev["y"]) ** 2
                                      + (e.depth_m / 1000 - ev["z"]) ** 2)))
    return np.array(errs), res


@pytest.mark.parametrize("fiber", ["straight", "bent"])
def test_layered_model_locates_better_than_uniform(fiber):
    n = 200
    s = np.arange(n) * 0.012  # km along the fiber, 2.4 km
    if fiber == "straight":
        xyz = np.column_stack([s, np.zeros(n), np.zeros(n)])
        events = [dict(x=0.8, y=0.0, z=6.0), dict(x=2.0, y=0.0, z=11.0), dict(x=1.2, y=0.0, z=3.0)]
    else:  # 90-degree bend in the middle
        half = s[n // 2]
        xyz = np.column_stack([np.minimum(s, half), np.maximum(s - half, 0.0), np.zeros(n)])
        events = [dict(x=0.5, y=0.8, z=6.0), dict(x=1.6, y=-0.4, z=10.0), dict(x=0.9, y=1.5, z=3.5)]
    for k, ev in enumerate(events):
        ev["t0_ns"] = 1_704_067_200_000_000_000 + int((10 + 25 * k) * 1e9)
    # straight fiber: no geometry (positions = pick distance_m; x_m is then absolute along the line)
    geom = None if fiber == "straight" else FiberGeometry(np.arange(n), xyz)
    picks = _picks(xyz, events, seed=7 if fiber == "straight" else 8)
    err_l, res_l = _errors(picks, geom, AssocConfig(velocity_model=MODEL), events, fiber == "straight")
    err_u, _ = _errors(picks, geom, AssocConfig(vp=6.0, vs=6.0 / 1.73), events, fiber == "straight")
    print(fiber, "hypocentre error km: layered", np.round(err_l, 3), "uniform", np.round(err_u, 3))
    assert len(res_l.events) == len(events)
    assert err_l.max() < 0.5
    assert np.median(err_l) < 0.5 * np.median(err_u)


def test_site_file_velocity_model(tmp_path):
    from pathlib import Path

    from pipelines.seismic.site import load_site

    site = load_site(Path(__file__).resolve().parents[2] / "deploy" / "sites" / "seismic-example.yaml")
    cfg = site.assoc_config()
    assert cfg.velocity_model == MODEL
    p = tmp_path / "s.yaml"
    p.write_text("velocity_model:\n  - {top_km: 0.0, vp: 5.0}\n  - {top_km: 2.0, vp: 6.0}\n")
    m = load_site(p).assoc_config().velocity_model
    assert m.vs == pytest.approx((5.0 / 1.73, 6.0 / 1.73))
