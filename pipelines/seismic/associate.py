"""Phase association for DAS: a fast, vectorised re-implementation of the GaMMA idea.

GaMMA (Zhu et al. 2022, JGR 127, e2021JB023249) treats each earthquake as a
component of a Gaussian mixture over pick times whose mean is the predicted
arrival ``t0 + |station - hypocentre| / v_phase``, and fits it with EM
weighted by pick scores.  This module writes that method from scratch for
thousands of DAS channels ("channels are stations"):

1. **Pre-split** (1-D density clustering of pick times, the DBSCAN step):
   picks are binned in time, bins with enough picks are active, active runs
   padded by the array's maximum moveout form clusters; isolated picks are noise.
2. **Initialisation by back-projection** instead of GaMMA's oversampled
   uniform components: for every node of a coarse hypocentre grid the origin
   time implied by each pick is histogrammed (one ``bincount`` for all nodes);
   the best (node, origin) is a component, its picks are removed, repeat.
3. **EM** with one uniform noise component: E-step responsibilities from the
   Gaussian residual density; M-step = Gauss-Newton on (x, y, z, t0) with
   Huber-weighted residuals (robust), per-component sigma and mixing weight;
   components with too little weight are pruned, near-duplicates merged.
4. **Post-filters** as GaMMA: residual cut ``max_sigma11``, one pick per
   channel-phase (smallest residual), ``min_picks`` / ``min_p_picks`` /
   ``min_s_picks``; final robust relocation with covariance -> uncertainties.

Geometry: a collinear fiber is solved in line coordinates (along-line ``a``
and perpendicular distance ``rho >= 0``; see :mod:`.geometry` for the
ambiguity), any other fiber in full 3-D with ``z`` bounded to
``[z_min_km, z_max_km]``.  Velocities are uniform (``vp``, ``vs`` km/s), or a 1-D
layered model (:class:`LayeredModel`, ``AssocConfig.velocity_model``): first-arrival
travel times are then precomputed once per model and phase on a (horizontal
distance, depth) grid by ray shooting (direct rays) plus head waves along faster
layers below the source, and interpolated bilinearly (with gradients for the
Gauss-Newton steps).  The last solver coordinate is the depth below the
stations; on a collinear fiber ``rho`` is then read as depth (event under the line).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dasedge.records import Pick, SeismicEvent, stable_id

from .geometry import FiberGeometry
from .magnitude import DEFAULT, ScalingRelation, estimate_magnitude


@dataclass(frozen=True)
class AssocConfig:
    """Association settings (km, s)."""

    vp: float = 6.0
    vs: float = 6.0 / 1.73
    velocity_model: "LayeredModel | None" = None  # 1-D layered model; overrides vp/vs for travel times
    max_sigma11: float = 0.5  # residual cut, s
    min_picks: int = 20
    min_p_picks: int = 0
    min_s_picks: int = 0
    min_pick_fraction: float = 0.15  # of the channels with picks: DAS events light up many channels
    max_rms_s: float = 0.25  # random picks fitted within +-max_sigma11 have rms ~0.29 s
    min_phase_fraction: float = 0.1  # both P and S must be >= this share of an event's picks (0: off)
    xy_margin_km: float = 30.0  # search beyond the array ends / sides
    z_min_km: float = 0.0
    z_max_km: float = 30.0
    grid_nodes: int = 600  # approximate size of the initialisation grid
    bin_s: float = 0.25
    cluster_bin_s: float = 1.0
    cluster_min_picks: int | None = None  # per cluster_bin_s; default max(3, min_picks // 4)
    em_iter: int = 25
    huber_c: float = 1.5  # in units of the component sigma
    sigma_min: float = 0.05
    sigma_init: float = 0.3
    max_events_per_cluster: int = 50
    merge_dt_s: float = 0.3  # components predicting arrivals closer than this (mean over picks) are duplicates
    merge_overlap: float = 0.5  # ... and share their picks (responsibility overlap) above this
    fit_nsigma: float = 4.0  # picks within this many component sigmas (<= max_sigma11) belong to it
    fit_margin: float = 0.25  # ... and no worse than the best component's |r|/window + this
    sigma_refit: float = 0.1  # initial sigma of the explain-away components
    max_refit_rounds: int = 2  # explain-away rounds: new components from unclaimed picks, joint re-fit
    # ... only when the unclaimed picks are a large share of the cluster (a merged second event), not the
    # scattered extra picks of an over-picking model around one event (those made ghost events)
    refit_min_left_fraction: float = 0.3
    skip_edge_nodes: bool = True  # no initial candidates on the outer edge of the search grid (_edge_nodes)


@dataclass
class AssocEvent:
    """One associated event in solver coordinates (seconds relative to ``t_ref``)."""

    t0: float
    hypo: np.ndarray  # [D] in solver coordinates
    cov: np.ndarray  # [D+1, D+1] covariance of (t0, hypo)
    sigma: float
    pick_idx: np.ndarray
    residual: np.ndarray
    num_p: int
    num_s: int
    score: float


@dataclass
class _Frame:
    """Solver coordinate frame: collinear fibers use (along-line a, rho)."""

    collinear: bool
    centre: np.ndarray
    axis: np.ndarray | None

    @classmethod
    def of(cls, xyz: np.ndarray, collinear: bool) -> "_Frame":
        c = xyz.mean(axis=0)
        if not collinear:
            return cls(False, c, None)
        p = xyz - c
        if len(p) >= 2 and np.abs(p).max() > 0:
            _, _, vt = np.linalg.svd(p, full_matrices=False)
            u = vt[0]
            if u[np.argmax(np.abs(u))] < 0:
                u = -u
        else:
            u = np.array([1.0, 0.0, 0.0])
        return cls(True, c, u)

    def stations(self, xyz: np.ndarray) -> np.ndarray:
        if not self.collinear:
            return xyz - self.centre
        a = (xyz - self.centre) @ self.axis
        return np.column_stack([a, np.zeros_like(a)])

    def to_xyz(self, hypo: np.ndarray) -> tuple[np.ndarray, float | None]:
        """Hypocentre in the input frame, and rho (collinear only)."""
        if not self.collinear:
            return hypo + self.centre, None
        return self.centre + hypo[0] * self.axis, float(hypo[1])


def time_clusters(t: np.ndarray, w: np.ndarray, cfg: AssocConfig, pad_s: float) -> np.ndarray:
    """Label picks by 1-D density clusters of time (-1 = isolated noise).

    Bins of ``cluster_bin_s`` with at least ``cluster_min_picks`` picks are
    active; runs of active bins padded by ``pad_s`` on both sides (merged when
    they touch) are clusters.
    """
    if t.size == 0:
        return np.zeros(0, dtype=np.int64)
    tmin = float(t.min())
    nb = int((t.max() - tmin) / cfg.cluster_bin_s) + 1
    b = ((t - tmin) / cfg.cluster_bin_s).astype(np.int64)
    counts = np.bincount(b, minlength=nb)
    thr = cfg.cluster_min_picks if cfg.cluster_min_picks is not None else max(3, cfg.min_picks // 4)
    active = counts >= thr
    if not active.any():
        return np.full(t.size, -1, dtype=np.int64)
    pad = int(np.ceil(pad_s / cfg.cluster_bin_s))
    # dilate the active mask by pad bins
    cs = np.concatenate([[0], np.cumsum(active)])
    lo = np.clip(np.arange(nb) - pad, 0, nb)
    hi = np.clip(np.arange(nb) + pad + 1, 0, nb)
    dil = (cs[hi] - cs[lo]) > 0
    run_id = np.cumsum(np.diff(np.concatenate([[0], dil.astype(np.int8)])) == 1) - 1
    labels_bin = np.where(dil, run_id, -1)
    return labels_bin[b]


@dataclass(frozen=True)
class LayeredModel:
    """1-D layered velocity model: layer ``i`` spans ``[top_km[i], top_km[i+1])`` (the last one to infinity).

    ``vs`` defaults to ``vp / 1.73`` per layer.  Use :meth:`from_layers` for site-file rows.
    """

    top_km: tuple[float, ...]
    vp: tuple[float, ...]
    vs: tuple[float, ...]

    def __post_init__(self) -> None:
        if not (len(self.top_km) == len(self.vp) == len(self.vs) >= 1) or self.top_km[0] != 0.0:
            raise ValueError("layers need top_km (starting at 0), vp and vs of equal length")
        if any(b <= a for a, b in zip(self.top_km, self.top_km[1:])) or min(self.vp + self.vs) <= 0:
            raise ValueError("layer tops must increase and velocities be > 0")

    @classmethod
    def from_layers(cls, rows: list[dict[str, float]]) -> "LayeredModel":
        """From ``[{top_km, vp, vs?}, ...]`` (site YAML ``velocity_model``)."""
        rows = sorted(rows, key=lambda r: float(r["top_km"]))
        return cls(tuple(float(r["top_km"]) for r in rows), tuple(float(r["vp"]) for r in rows),
                   tuple(float(r.get("vs") or float(r["vp"]) / 1.73) for r in rows))

    def velocities(self, phase: str) -> np.ndarray:
        return np.asarray(self.vp if phase == "P" else self.vs, float)

    def table(self, phase: str, h_max_km: float = 160.0, z_max_km: float = 40.0, dh_km: float = 0.2,
              dz_km: float = 0.1) -> "TravelTimeTable":
        """First-arrival travel-time table of ``phase`` (cached per model and grid)."""
        return _table(self, phase, float(h_max_km), float(z_max_km), float(dh_km), float(dz_km))


@dataclass(frozen=True)
class TravelTimeTable:
    """``T[h, z]`` (s) for a receiver at the surface, horizontal distance ``h`` and source depth ``z`` (km)."""

    dh: float
    dz: float
    T: np.ndarray  # [nh, nz]

    def __call__(self, h: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Travel time and its derivatives ``dT/dh``, ``dT/dz`` (bilinear; clamped at the grid edges)."""
        nh, nz = self.T.shape
        fh = np.clip(np.asarray(h, float) / self.dh, 0.0, nh - 1 - 1e-9)
        fz = np.clip(np.asarray(z, float) / self.dz, 0.0, nz - 1 - 1e-9)
        i = fh.astype(np.int64)
        j = fz.astype(np.int64)
        u = fh - i
        v = fz - j
        T = self.T
        t00, t10, t01, t11 = T[i, j], T[i + 1, j], T[i, j + 1], T[i + 1, j + 1]
        tt = (t00 * (1 - u) + t10 * u) * (1 - v) + (t01 * (1 - u) + t11 * u) * v
        dth = ((t10 - t00) * (1 - v) + (t11 - t01) * v) / self.dh
        dtz = ((t01 - t00) * (1 - u) + (t11 - t10) * u) / self.dz
        # beyond the last distance column: continue with the last slope
        over = np.asarray(h, float) - (nh - 1) * self.dh
        tt = tt + np.where(over > 0, over * dth, 0.0)
        return tt, dth, dtz


_TABLES: dict[tuple, TravelTimeTable] = {}


def _table(model: LayeredModel, phase: str, h_max: float, z_max: float, dh: float, dz: float) -> TravelTimeTable:
    key = (model, phase, h_max, z_max, dh, dz)
    if key not in _TABLES:
        _TABLES[key] = TravelTimeTable(dh, dz, layered_travel_times(model, phase, np.arange(0.0, h_max + dh / 2, dh),
                                                                    np.arange(0.0, z_max + dz / 2, dz)))
    return _TABLES[key]


def _thickness_above(top: np.ndarray, z: float) -> np.ndarray:
    """Thickness of every layer between the surface and depth ``z``."""
    bot = np.r_[top[1:], np.inf]
    return np.clip(np.minimum(bot, z) - top, 0.0, None)


def layered_travel_times(model: LayeredModel, phase: str, h: np.ndarray, z: np.ndarray, n_rays: int = 3000) -> np.ndarray:
    """First-arrival times ``[len(h), len(z)]`` for a surface receiver (ray shooting + head waves).

    Direct (up-going) rays: for ray parameter ``p < 1 / max(v above the source)``,
    ``x(p) = sum dz_i p v_i / sqrt(1 - p^2 v_i^2)`` and ``t(p) = sum dz_i / (v_i sqrt(1 - p^2 v_i^2))``
    over the layers above the source, interpolated to ``h``.  Head waves along the top of every
    deeper layer faster than everything above it: ``t = h p + (sum of the down- and up-going legs)
    dz_i sqrt(1/v_i^2 - p^2)`` with ``p = 1/v_layer``, valid beyond the critical distance.
    """
    top = np.asarray(model.top_km, float)
    v = model.velocities(phase)
    out = np.empty((h.size, z.size))
    theta = np.linspace(0.0, np.pi / 2, n_rays, endpoint=False)[:, None]
    for jz, zs in enumerate(z):
        th = _thickness_above(top, zs)
        used = th > 0
        if not used.any():  # source at the surface
            out[:, jz] = h / v[0]
            continue
        vu, tu = v[used], th[used]
        pmax = 1.0 / vu.max()
        p = pmax * np.sin(theta)  # [R, 1]
        c = np.sqrt(1.0 - (p * vu[None, :]) ** 2)
        x = (tu * p * vu / c).sum(axis=1)
        t = (tu / (vu * c)).sum(axis=1)
        best = np.interp(h, x, t, right=np.nan)
        far = np.isnan(best)
        if far.any():  # beyond the last ray: grazing at the fastest layer's speed
            best[far] = t[-1] + (h[far] - x[-1]) * pmax
        # head waves below the source
        for k in range(1, top.size):
            if top[k] <= zs or v[k] <= v[:k].max():
                continue
            pk = 1.0 / v[k]
            legs = _thickness_above(top, top[k])[:k]
            down = np.clip(legs - th[:k], 0.0, None)  # source to interface
            eta = np.sqrt(1.0 / v[:k] ** 2 - pk**2)
            tint = float(((legs + down) * eta).sum())
            hcrit = float(((legs + down) * pk * v[:k] / np.sqrt(1.0 - (pk * v[:k]) ** 2)).sum())
            head = np.where(h >= hcrit, h * pk + tint, np.inf)
            best = np.minimum(best, head)
        out[:, jz] = best
    return out


class _LayeredTravel:
    """Per-pick phase + the model's tables; indexable like the per-pick velocity array it replaces."""

    def __init__(self, model: LayeredModel, is_s: np.ndarray, tables: tuple[TravelTimeTable, TravelTimeTable]):
        self.model = model
        self.is_s = np.asarray(is_s, bool)
        self.tables = tables

    def __getitem__(self, idx) -> "_LayeredTravel":
        return _LayeredTravel(self.model, self.is_s[idx], self.tables)

    def __len__(self) -> int:
        return self.is_s.size

    def travel(self, stations: np.ndarray, hypo: np.ndarray, grad: bool = False):
        dz = hypo[None, :, -1] - stations[:, None, -1]  # depth below the station, [N, K]
        dxy = hypo[None, :, :-1] - stations[:, None, :-1]  # [N, K, D-1]
        hh = np.sqrt((dxy**2).sum(-1)) + 1e-9
        tt = np.empty(hh.shape)
        gh = np.empty(hh.shape) if grad else None
        gz = np.empty(hh.shape) if grad else None
        for ph, tab in ((False, self.tables[0]), (True, self.tables[1])):
            m = self.is_s == ph
            if not m.any():
                continue
            a, b, c = tab(hh[m], np.maximum(dz[m], 0.0))
            tt[m] = a
            if grad:
                gh[m], gz[m] = b, c
        if not grad:
            return tt, hh
        g = np.concatenate([gh[..., None] * dxy / hh[..., None], gz[..., None]], axis=-1)  # [N, K, D]
        return tt, g


def _travel_model(cfg: "AssocConfig", is_s: np.ndarray, z_extent_km: float):
    """Per-pick travel model: a velocity array (uniform) or :class:`_LayeredTravel`."""
    if cfg.velocity_model is None:
        return np.where(is_s, cfg.vs, cfg.vp)
    zmax = float(np.ceil(max(cfg.z_max_km, z_extent_km) + 1.0))
    tabs = (cfg.velocity_model.table("P", z_max_km=zmax), cfg.velocity_model.table("S", z_max_km=zmax))
    return _LayeredTravel(cfg.velocity_model, is_s, tabs)


def _travel(stations: np.ndarray, hypo: np.ndarray, vel) -> tuple[np.ndarray, np.ndarray]:
    """Travel times ``[N, K]`` and distances for hypocentres ``[K, D]``."""
    if isinstance(vel, _LayeredTravel):
        return vel.travel(stations, hypo)
    d2 = np.subtract.outer(stations[:, 0], hypo[:, 0]) ** 2
    for j in range(1, stations.shape[1]):
        d2 += np.subtract.outer(stations[:, j], hypo[:, j]) ** 2
    d = np.sqrt(d2) + 1e-6
    return d / vel[:, None], d


def _grid(st: np.ndarray, cfg: AssocConfig, collinear: bool) -> np.ndarray:
    lo = st.min(axis=0) - cfg.xy_margin_km
    hi = st.max(axis=0) + cfg.xy_margin_km
    if collinear:
        n_rho = 12
        n_a = max(8, cfg.grid_nodes // n_rho)
        a = np.linspace(lo[0], hi[0], n_a)
        rho = np.linspace(0.5, cfg.z_max_km, n_rho)
        A, R = np.meshgrid(a, rho, indexing="ij")
        return np.column_stack([A.ravel(), R.ravel()])
    zs = np.linspace(max(cfg.z_min_km, 1.0), cfg.z_max_km * 0.6, 3)
    n_xy = max(4, int(np.sqrt(cfg.grid_nodes / len(zs))))
    X, Y, Z = np.meshgrid(np.linspace(lo[0], hi[0], n_xy), np.linspace(lo[1], hi[1], n_xy), zs, indexing="ij")
    return np.column_stack([X.ravel(), Y.ravel(), Z.ravel()])


def _edge_nodes(grid: np.ndarray, collinear: bool) -> np.ndarray:
    """Grid nodes on the outer edge of the search volume: the horizontal ends and, on a collinear
    fiber, the deepest row (``z_max_km``).

    Seen from a short array, a source that far away has a nearly flat moveout, so mislabelled arrivals
    of different events (one event's S picked as P plus another's S) line up for it. Such a node can
    collect more picks than the true hypocentres and take the picks of the real events.
    """
    horiz = grid[:, :1] if collinear else grid[:, :2]
    edge = np.any((horiz == horiz.min(0)) | (horiz == horiz.max(0)), axis=1)
    if collinear:
        edge |= grid[:, 1] == grid[:, 1].max()
    return edge


def _backproject_init(t, st, vel, w, cfg: AssocConfig, collinear: bool) -> list[tuple[float, np.ndarray]]:
    """Greedy back-projection: (t0, hypo) candidates with >= min_picks supporting picks."""
    grid = _grid(st, cfg, collinear)
    tt, _ = _travel(st, grid, vel)
    o = (t[:, None] - tt).astype(np.float32)  # [N, G] implied origin times
    omin = float(o.min())
    nb = int((float(o.max()) - omin) / cfg.bin_s) + 2
    G = grid.shape[0]
    bins = ((o - omin) / cfg.bin_s).astype(np.int64) + np.arange(G)[None, :] * nb
    counts = np.bincount(bins.ravel(), weights=np.repeat(w, G), minlength=G * nb).reshape(G, nb)
    if cfg.skip_edge_nodes:
        counts[_edge_nodes(grid, collinear)] = 0.0
    alive = np.ones(t.size, bool)
    tol = 0.8 * cfg.max_sigma11  # tight: a second event ~1 s later keeps its picks
    need = cfg.min_picks * float(np.median(w)) * 0.8
    out = []
    for _ in range(cfg.max_events_per_cluster):
        c2 = counts[:, :-1] + counts[:, 1:]
        g, b = np.unravel_index(int(np.argmax(c2)), c2.shape)
        if c2[g, b] < need:
            break
        t0 = omin + (b + 1) * cfg.bin_s
        used = alive & (np.abs(o[:, g] - t0) < tol)
        # refine t0 as the weighted median of implied origins of the supporting picks
        if used.any():
            t0 = float(np.median(o[used, g]))
        out.append((t0, grid[g].copy()))
        idx = np.flatnonzero(used)
        if idx.size:
            sub = counts.ravel()
            np.subtract.at(sub, bins[idx].ravel(), np.repeat(w[idx], G))
            counts = sub.reshape(G, nb)
        alive &= ~used
    return out


def _huber(u: np.ndarray, c: float) -> np.ndarray:
    a = np.abs(u)
    return np.where(a <= c, 1.0, c / np.maximum(a, 1e-12))


def _gn_step(t, st, vel, W, t0, hypo, lo, hi, lam=1e-3):
    """One weighted Gauss-Newton step for all components at once; returns new (t0, hypo, r)."""
    if isinstance(vel, _LayeredTravel):
        tt, g = vel.travel(st, hypo, grad=True)
    else:
        tt, d = _travel(st, hypo, vel)
        g = (hypo[None, :, :] - st[:, None, :]) / (d * vel[:, None])[..., None]  # [N, K, D]
    r = t[:, None] - (t0[None, :] + tt)  # [N, K]
    J = np.concatenate([np.ones(r.shape + (1,)), g], axis=-1)  # [N, K, D+1]
    A = np.einsum("nk,nka,nkb->kab", W, J, J)
    b = np.einsum("nk,nka,nk->ka", W, J, r)
    D1 = A.shape[-1]
    A = A + lam * (np.trace(A, axis1=1, axis2=2)[:, None, None] / D1 + 1e-9) * np.eye(D1)[None]
    delta = np.linalg.solve(A, b[..., None])[..., 0]
    # limit the spatial step to keep GN stable far from the solution
    step = np.linalg.norm(delta[:, 1:], axis=1, keepdims=True)
    scale = np.minimum(1.0, 5.0 / np.maximum(step, 1e-12))
    delta[:, 1:] *= scale
    t0 = t0 + delta[:, 0]
    hypo = np.clip(hypo + delta[:, 1:], lo, hi)
    return t0, hypo, A


def _em(t, st, vel, w, init, cfg: AssocConfig, lo, hi, span: float, sigma0: np.ndarray | None = None):
    K = len(init)
    t0 = np.array([c[0] for c in init], float)
    hypo = np.array([c[1] for c in init], float)
    sigma = np.full(K, cfg.sigma_init) if sigma0 is None else np.asarray(sigma0, float).copy()
    pi = np.full(K, 0.9 / K)
    pi0 = 0.1
    N = t.size
    for it in range(cfg.em_iter):
        tt, _ = _travel(st, hypo, vel)
        r = t[:, None] - (t0[None, :] + tt)
        logp = np.log(pi)[None, :] - np.log(sigma)[None, :] - 0.5 * np.log(2 * np.pi) - 0.5 * (r / sigma[None, :]) ** 2
        logn = np.log(pi0) - np.log(span)
        m = np.maximum(logp.max(axis=1), logn)
        e = np.exp(logp - m[:, None])
        en = np.exp(logn - m)
        tot = e.sum(axis=1) + en
        resp = e / tot[:, None]
        Nk = resp.sum(axis=0)
        W = resp * w[:, None] * _huber(r / sigma[None, :], cfg.huber_c)
        t_prev, h_prev = t0, hypo
        t0, hypo, _ = _gn_step(t, st, vel, W, t0, hypo, lo, hi)
        moved = max(float(np.abs(t0 - t_prev).max()), float(np.abs(hypo - h_prev).max()) / max(cfg.vp, 1e-9))
        tt, _ = _travel(st, hypo, vel)
        r = t[:, None] - (t0[None, :] + tt)
        wr = resp * w[:, None]
        sigma = np.sqrt((wr * np.minimum(r**2, (3 * cfg.max_sigma11) ** 2)).sum(0) / np.maximum(wr.sum(0), 1e-9))
        sigma = np.clip(sigma, cfg.sigma_min, 2.0)
        pi0 = max(float((en / tot).sum() / N), 1e-3)
        pi = np.maximum(Nk / N, 1e-9)
        # prune empty components
        keep = Nk >= 0.5 * cfg.min_picks
        # merge duplicates: components predicting (nearly) the same arrival times (keep the heavier)
        if t0.size > 1:
            pred = t0[None, :] + tt
            order = np.argsort(-Nk)
            for a_i, a in enumerate(order):
                if not keep[a]:
                    continue
                for b in order[a_i + 1 :]:
                    if not keep[b] or abs(t0[a] - t0[b]) >= 5.0:
                        continue
                    dt_ab = float(np.mean(np.abs(pred[:, a] - pred[:, b])))
                    if dt_ab >= cfg.merge_dt_s:
                        continue
                    # duplicates share their picks (Bhattacharyya overlap of the responsibilities);
                    # two real events < merge_dt_s apart each own theirs
                    bc = float(np.sqrt(resp[:, a] * resp[:, b]).sum() / max(np.sqrt(Nk[a] * Nk[b]), 1e-9))
                    if dt_ab < cfg.merge_dt_s / 3 or bc > cfg.merge_overlap:
                        keep[b] = False
        if not keep.all():
            t0, hypo, sigma, pi = t0[keep], hypo[keep], sigma[keep], pi[keep]
            if t0.size == 0:
                break
        tot_pi = pi.sum() + pi0
        pi, pi0 = pi / tot_pi, pi0 / tot_pi
        if keep.all() and moved < 1e-3 and it >= 3:
            break
    return t0, hypo, sigma


def associate_arrays(t: np.ndarray, xyz: np.ndarray, is_s: np.ndarray, w: np.ndarray, chan: np.ndarray,
                     cfg: AssocConfig, collinear: bool) -> tuple[list[AssocEvent], _Frame]:
    """Associate picks given as arrays (times in s, station coordinates in km).

    Returns the events (pick indices refer to the input arrays) and the solver frame.
    """
    t = np.asarray(t, float)
    w = np.clip(np.asarray(w, float), 1e-3, None)
    frame = _Frame.of(xyz, collinear)
    st_all = frame.stations(xyz)
    vel_all = _travel_model(cfg, is_s, float(np.abs(st_all[:, -1]).max()) if len(st_all) else 0.0)
    D = st_all.shape[1]
    if collinear:
        lo = np.array([st_all[:, 0].min() - cfg.xy_margin_km, 0.0])
        hi = np.array([st_all[:, 0].max() + cfg.xy_margin_km, cfg.z_max_km])
    else:
        lo = np.r_[st_all[:, :2].min(0) - cfg.xy_margin_km, cfg.z_min_km - frame.centre[2]]
        hi = np.r_[st_all[:, :2].max(0) + cfg.xy_margin_km, cfg.z_max_km - frame.centre[2]]
    aperture = float(np.ptp(st_all, axis=0).max()) if len(st_all) > 1 else 0.0
    vs_min = min(cfg.velocity_model.vs) if cfg.velocity_model is not None else cfg.vs
    pad = (aperture + cfg.z_max_km) / vs_min * 0.5 + 2.0
    n_chan = np.unique(chan).size
    from dataclasses import replace as _replace

    cfg = _replace(cfg, min_picks=max(cfg.min_picks, int(np.ceil(cfg.min_pick_fraction * n_chan))))
    labels = time_clusters(t, w, cfg, pad)
    events: list[AssocEvent] = []
    for lab in np.unique(labels[labels >= 0]):
        idx = np.flatnonzero(labels == lab)
        if idx.size < cfg.min_picks:
            continue
        tc, st, vel, wc = t[idx], st_all[idx], vel_all[idx], w[idx]
        init = _backproject_init(tc, st, vel, wc, cfg, collinear)
        if not init:
            continue
        span = max(float(np.ptp(tc)), 1.0)
        t0, hypo, sigma = _em(tc, st, vel, wc, init, cfg, lo, hi, span)
        if t0.size == 0:
            continue
        evs = _solve_cluster(tc, st, vel, wc, is_s[idx], chan[idx], t0, hypo, sigma, cfg, lo, hi)
        # explain-away: picks no event claimed may hold an event the greedy initialisation merged
        # into a neighbour (two events < 1 s apart with similar moveout over a short fiber). Seed
        # new components from the leftovers and re-fit *all* components jointly; keep the joint
        # solution only if it explains more picks.
        for _ in range(cfg.max_refit_rounds):
            claimed = np.zeros(idx.size, bool)
            for e in evs:
                claimed[e.pick_idx] = True
            left = np.flatnonzero(~claimed)
            if left.size < max(cfg.min_picks, cfg.refit_min_left_fraction * idx.size):
                break
            init2 = _backproject_init(tc[left], st[left], vel[left], wc[left], cfg, collinear)
            if not init2:
                break
            init = [(e.t0, e.hypo) for e in evs] + init2
            # narrow components: with the broad sigma_init, events < ~0.5 s apart collapse into one
            s0 = np.r_[[max(e.sigma, cfg.sigma_min) for e in evs], np.full(len(init2), cfg.sigma_refit)]
            t0, hypo, sigma = _em(tc, st, vel, wc, init, cfg, lo, hi, span, sigma0=s0)
            if t0.size == 0:
                break
            evs2 = _solve_cluster(tc, st, vel, wc, is_s[idx], chan[idx], t0, hypo, sigma, cfg, lo, hi)
            n1 = sum(e.pick_idx.size for e in evs)
            n2 = sum(e.pick_idx.size for e in evs2)
            if len(evs2) <= len(evs) or n2 <= n1:
                break
            evs = evs2
        for e in evs:
            e.pick_idx = idx[e.pick_idx]
        events += evs
    events.sort(key=lambda e: e.t0)
    return events, frame


def _solve_cluster(t, st, vel, w, is_s, chan, t0, hypo, sigma, cfg, lo, hi) -> list[AssocEvent]:
    """Post-filter + relocation of EM components, twice (the relocated solutions re-claim their picks)."""
    ix = np.arange(t.size)
    evs = _finalise(t, st, vel, w, is_s, chan, ix, t0, hypo, sigma, cfg, lo, hi)
    if evs:
        t0b = np.array([e.t0 for e in evs])
        hb = np.array([e.hypo for e in evs])
        sb = np.array([max(e.sigma, cfg.sigma_min) for e in evs])
        evs = _finalise(t, st, vel, w, is_s, chan, ix, t0b, hb, sb, cfg, lo, hi)
    return evs


def _finalise(t, st, vel, w, is_s, chan, idx, t0, hypo, sigma, cfg, lo, hi) -> list[AssocEvent]:
    tt, _ = _travel(st, hypo, vel)
    r = t[:, None] - (t0[None, :] + tt)
    # a component claims picks within fit_nsigma of its own spread (capped by max_sigma11): a tight
    # event must not swallow the picks of a neighbour arriving a few tenths of a second later
    win = np.minimum(cfg.max_sigma11, cfg.fit_nsigma * np.maximum(np.asarray(sigma, float), cfg.sigma_min))
    fits = np.abs(r) <= win[None, :]  # [N, K]
    covered = np.zeros(t.size, bool)
    todo = list(range(t0.size))
    out = []
    # greedy set cover: accept the component explaining most not-yet-explained picks first. A
    # "ghost" fitting the P picks of one event and the S picks of another then loses to the real
    # events, which each explain their own P *and* S picks.
    # A pick only counts for the components (still in the running) that explain it about as well
    # as the best one does: a broad or distant "ghost" fitting two close events' picks loosely must
    # not take them from the component that fits one of the events tightly.
    z = np.abs(r) / win[None, :]
    while todo:
        best = z[:, todo].min(axis=1)
        ok = fits & (z <= best[:, None] + cfg.fit_margin)
        gain = [(float(w[ok[:, k] & ~covered].sum()), k) for k in todo]
        g, k = max(gain)
        todo.remove(k)
        if g < cfg.min_picks * float(np.median(w)) * 0.5:
            break
        rb = r[:, k]
        sel = np.flatnonzero(ok[:, k] & ~covered)
        if sel.size < cfg.min_picks:
            continue
        # one pick per channel-phase: smallest |residual|
        key = chan[sel] * 2 + is_s[sel].astype(np.int64)
        order = np.lexsort((np.abs(rb[sel]), key))
        ks = key[order]
        first = np.r_[True, ks[1:] != ks[:-1]]
        sel = np.sort(sel[order[first]])
        if sel.size < cfg.min_picks:
            continue
        # robust relocation on the assigned picks only
        tk, hk = t0[k : k + 1].copy(), hypo[k : k + 1].copy()
        s_k = max(float(sigma[k]), cfg.sigma_min)
        for _ in range(6):
            ttk, _ = _travel(st[sel], hk, vel[sel])
            rk = t[sel] - (tk[0] + ttk[:, 0])
            Wk = (w[sel] * _huber(rk / s_k, cfg.huber_c))[:, None]
            tk, hk, A = _gn_step(t[sel], st[sel], vel[sel], Wk, tk, hk, lo, hi, lam=1e-6)
        ttk, _ = _travel(st[sel], hk, vel[sel])
        rk = t[sel] - (tk[0] + ttk[:, 0])
        keep = np.abs(rk) <= cfg.max_sigma11
        sel, rk = sel[keep], rk[keep]
        n_s = int(is_s[sel].sum())
        n_p = int(sel.size - n_s)
        if sel.size < cfg.min_picks or n_p < cfg.min_p_picks or n_s < cfg.min_s_picks:
            continue
        if min(n_p, n_s) < cfg.min_phase_fraction * sel.size:  # one-phase "events" are picker artefacts
            continue
        s_rms = float(np.sqrt(np.mean(rk**2))) if rk.size else cfg.sigma_min
        if s_rms > cfg.max_rms_s:
            continue
        s_eff = max(s_rms, cfg.sigma_min)
        try:
            cov = np.linalg.inv(A[0] / max(np.mean(w[sel]), 1e-9) ) * s_eff**2
        except np.linalg.LinAlgError:
            cov = np.full(A[0].shape, np.nan)
        out.append(AssocEvent(float(tk[0]), hk[0].copy(), cov, s_rms, idx[sel], rk, n_p, n_s,
                              float(w[sel].sum())))
        covered[sel] = True
    return out


@dataclass
class Association:
    """Result of :func:`associate_picks`."""

    events: list[SeismicEvent]
    input_picks: list[Pick]
    event_of: list[str | None] = field(default_factory=list)  # event id per input pick
    raw: list[AssocEvent] = field(default_factory=list)

    @property
    def picks(self) -> list[Pick]:
        """Input picks with ``event_id`` set on the associated ones."""
        from dataclasses import replace

        return [replace(p, event_id=e) if e is not None else p for p, e in zip(self.input_picks, self.event_of)]

    def members(self) -> dict[str, set[str]]:
        """Pick ids of every event."""
        out: dict[str, set[str]] = {e.id: set() for e in self.events}
        for p, e in zip(self.input_picks, self.event_of):
            if e is not None:
                out[e].add(p.id)
        return out


def associate_picks(picks: list[Pick], geometry: FiberGeometry | None = None, cfg: AssocConfig | None = None,
                    relation: ScalingRelation = DEFAULT, fiber_id: str | None = None) -> Association:
    """Associate :class:`Pick` records into :class:`SeismicEvent` records.

    Without ``geometry`` the fiber is straight (channel position = ``distance_m``).
    Event ids are stable: ``stable_id(fiber, origin rounded to 0.1 s, x rounded to 100 m)``.
    """
    cfg = cfg or AssocConfig()
    if not picks:
        return Association([], [], [])
    fid = fiber_id or picks[0].fiber_id
    chan = np.array([p.channel for p in picks], np.int64)
    if geometry is None:
        xyz = np.column_stack([np.array([p.distance_m for p in picks]) / 1000.0, np.zeros(len(picks)), np.zeros(len(picks))])
        collinear = True
    else:
        xyz = geometry.lookup(chan)
        collinear = geometry.collinear
    ok = np.all(np.isfinite(xyz), axis=1)
    t_ns = np.array([p.t_ns for p in picks], np.int64)
    t_ref = int(t_ns.min())
    t = (t_ns - t_ref) / 1e9
    is_s = np.array([p.phase == "S" for p in picks])
    w = np.array([p.score for p in picks], float)
    amp = np.array([p.amplitude if p.amplitude is not None else np.nan for p in picks], float)
    ok_idx = np.flatnonzero(ok)
    raw, frame = associate_arrays(t[ok], xyz[ok], is_s[ok], w[ok], chan[ok], cfg, collinear)
    events: list[SeismicEvent] = []
    eid_of = np.full(len(picks), None, dtype=object)
    for ev in raw:
        pidx = ok_idx[ev.pick_idx]
        pos, rho = frame.to_xyz(ev.hypo)
        hyp_xyz = pos if rho is None else pos  # on the line for collinear
        d_km = np.sqrt(((xyz[pidx] - hyp_xyz) ** 2).sum(1) + (rho**2 if rho is not None else 0.0))
        mag, _ = estimate_magnitude(amp[pidx], d_km, np.where(is_s[pidx], "S", "P"), relation)
        origin_ns = t_ref + int(round(ev.t0 * 1e9))
        var = np.diag(ev.cov)
        loc_unc = float(np.sqrt(np.nansum(var[1:]))) * 1000.0 if np.all(np.isfinite(var)) else None
        if geometry is None:
            x_m, y_m, depth_m = float(pos[0] * 1000.0), None, float(rho * 1000.0)
            lon = lat = None
        elif rho is not None:
            x_m, y_m, depth_m = float(ev.hypo[0] * 1000.0), None, float(rho * 1000.0)
            lon, lat = geometry.to_lonlat(float(pos[0]), float(pos[1]))
        else:
            x_m, y_m, depth_m = float(pos[0] * 1000.0), float(pos[1] * 1000.0), float(pos[2] * 1000.0)
            lon, lat = geometry.to_lonlat(float(pos[0]), float(pos[1]))
        eid = stable_id(fid, round(origin_ns / 1e8), round(x_m / 100.0), prefix="ev_")
        events.append(SeismicEvent(
            id=eid, fiber_id=fid, origin_ns=origin_ns, x_m=round(x_m, 1), y_m=y_m,
            depth_m=round(depth_m, 1), magnitude=mag, num_picks=int(pidx.size), num_p=ev.num_p, num_s=ev.num_s,
            latitude=lat, longitude=lon,
            origin_uncertainty_s=round(float(np.sqrt(var[0])), 4) if np.isfinite(var[0]) else None,
            location_uncertainty_m=round(loc_unc, 1) if loc_unc is not None else None,
            score=round(ev.score, 3),
        ))
        eid_of[pidx] = eid
    return Association(events, list(picks), eid_of.tolist(), raw)
