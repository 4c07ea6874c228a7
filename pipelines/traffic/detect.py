"""Line detection in the quasi-static image: Hough transform, refinement, DBSCAN.

The Hough transform is parameterised by ``(t_ref, slowness p, direction)``:
a vehicle passing the reference point ``x_ref`` at ``t_ref`` with slowness
``p = 1/v`` is at channel ``x`` at ``t_ref + d p (x - x_ref)``.  Every image
pixel votes for the lines through it; implemented as a vectorised gather
(for each stacked channel one fancy-index over all ``(t_ref, p)`` cells).
Two accumulator inputs are available (``site.hough``):

- ``"gray"`` - ``log(1 + max(z, 0))`` of the normalised envelope (a
  gray-level Hough / slant stack; the log keeps trucks from drowning cars;
  default);
- ``"binary"`` - the image binarised at ``pick_threshold`` (classic Hough on
  a binary image, as in the anchor's ``cv2.HoughLinesP``).

Candidates (local maxima of the accumulator above a robust z-score) are
refined with per-channel picks (parabolic sub-sample peak of the strain bump
near the predicted time) and an iteratively trimmed least-squares fit of
``t(x)`` over the real channel distances.  Duplicate lines of one vehicle are
merged by DBSCAN on the times at the section ends and at ``x_ref`` (eps
0.5 s, Chebyshev): duplicates converge to the same picks (distance ~0),
followers at >= 1.2 s headway stay apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import maximum_filter, uniform_filter1d
from sklearn.cluster import DBSCAN

from pipelines.traffic.preprocess import FeatureImage
from pipelines.traffic.site import SiteConfig


@dataclass
class Line:
    """A fitted vehicle line in one window (times in s from the image start)."""

    direction: int
    slowness: float  # s/m, > 0
    t_ref: float
    x_ref: float
    x_lo: float  # section limits used for entry/exit
    x_hi: float
    n_picks: int
    coverage: float  # fraction of good channels with inlier picks
    x_min: float  # extent of inlier picks
    x_max: float
    rms_s: float
    stack: float
    amp_z: float  # median normalised peak
    amp: float  # median peak strain (physical units)
    pick_x: np.ndarray = field(repr=False, default=None)
    pick_t: np.ndarray = field(repr=False, default=None)
    pick_cols: np.ndarray = field(repr=False, default=None)  # image column of each pick

    @property
    def speed_kmh(self) -> float:
        return 3.6 / self.slowness

    def t_at(self, x: float | np.ndarray) -> float | np.ndarray:
        return self.t_ref + self.direction * self.slowness * (np.asarray(x) - self.x_ref)

    @property
    def t_entry(self) -> float:
        return float(self.t_at(self.x_lo if self.direction > 0 else self.x_hi))

    @property
    def t_exit(self) -> float:
        return float(self.t_at(self.x_hi if self.direction > 0 else self.x_lo))


def slowness_grid(v_min_kmh: float, v_max_kmh: float, half_span_m: float, tol_s: float, width_m: float = 6.0) -> np.ndarray:
    """Slowness values (s/m) spaced so the misalignment at the section ends stays below the bump width."""
    p = 3.6 / v_max_kmh
    p_max = 3.6 / v_min_kmh
    out = []
    while p <= p_max * 1.0001:
        out.append(p)
        step_t = max(tol_s, 0.5 * width_m * p)  # bumps are wider in time at low speed
        p += step_t / max(half_span_m, 1.0)
    return np.asarray(out)


def hough_accumulator(img: FeatureImage, site: SiteConfig, x_ref: float,
                      directions: tuple[int, ...] = (1, -1)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Accumulator ``A[dir, t_ref, p]`` (mean vote per stacked channel) and the slowness grid.

    Lines whose samples fall outside the window count only the channels inside,
    and cells with fewer than half the stacked channels inside are zeroed.
    Only the ``directions`` given are computed (the other plane stays zero).
    """
    good = np.flatnonzero(img.good)
    if good.size > site.max_stack_channels:
        good = good[np.linspace(0, good.size - 1, site.max_stack_channels).round().astype(int)]
    x = img.distance_m[good]
    half = max(abs(x.max() - x_ref), abs(x_ref - x.min()))
    p = slowness_grid(site.speed_range_kmh[0], site.speed_range_kmh[1], half, tol_s=site.hough_tol_s)
    if site.hough == "binary":
        src = (img.z[:, good] >= site.pick_threshold).astype(np.float32)
    else:
        src = np.log1p(np.maximum(img.z[:, good], 0.0))
    nt = src.shape[0]
    pad = int(np.ceil(p.max() * half * img.fs)) + 1
    padded = np.zeros((good.size, nt + 2 * pad), np.float32)  # channel-major: contiguous rows
    padded[:, pad : pad + nt] = src.T
    ts = max(1, int(site.hough_t_step))  # t_ref grid step in image samples (refined later by the picks)
    t_idx = np.arange(0, nt, ts)
    acc = np.zeros((2, t_idx.size, p.size), np.float32)
    cnt = np.zeros((2, nt + 1, p.size), np.float32)
    base = t_idx[:, None] + pad
    cols_p = np.arange(p.size)
    for k, d in enumerate((1, -1)):
        if d not in directions:
            continue
        for j in range(good.size):
            sh = np.round(d * p * (x[j] - x_ref) * img.fs).astype(np.int64)
            acc[k] += padded[j][base + sh[None, :]]
            # t_ref index i sees channel j inside the window iff -sh <= i < nt - sh
            lo = np.clip(-sh, 0, nt)
            hi = np.clip(nt - sh, 0, nt)
            cnt[k, lo, cols_p] += 1.0
            cnt[k, hi, cols_p] -= 1.0
    cnt = np.cumsum(cnt, axis=1)[:, t_idx]
    n = good.size
    ok = cnt >= 0.5 * n
    out = np.where(ok, acc / np.maximum(cnt, 1.0), 0.0).astype(np.float32)
    return out, p, x


def candidates(acc: np.ndarray, p: np.ndarray, fs: float, site: SiteConfig) -> list[tuple[int, int, int, float, float]]:
    """Local maxima ``(dir_index, t_index, p_index, value, z)`` above the robust threshold.

    ``fs`` is the rate of the accumulator's t_ref axis.
    """
    vals = acc[acc != 0]
    if vals.size == 0:
        return []
    med = float(np.median(vals))
    mad = float(1.4826 * np.median(np.abs(vals - med))) or 1e-6
    out = []
    ht = max(1, int(round(0.4 * fs)))
    for k in range(acc.shape[0]):
        a = acc[k]
        mx = maximum_filter(a, size=(2 * ht + 1, 5), mode="nearest")
        z = (a - med) / mad
        ii, jj = np.nonzero((a == mx) & (z >= site.detect_z) & (a >= site.min_abs_stack))
        for i, j in zip(ii, jj):
            out.append((k, int(i), int(j), float(a[i, j]), float(z[i, j])))
    out.sort(key=lambda c: -c[3])
    return out


def _picks(img: FeatureImage, cols: np.ndarray, t_pred: np.ndarray, half_w_s: float,
           beam: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Sub-sample peak time and value of ``z`` near ``t_pred`` on each column (NaN if none).

    ``beam`` > 1 averages the segments of that many neighbouring channels,
    each aligned on its own predicted time (velocity-tuned smoothing along
    the candidate line) before picking.
    """
    fs = img.fs
    nt = img.z.shape[0]
    w = max(1, int(round(half_w_s * fs)))
    c = np.round(t_pred * fs).astype(np.int64)
    idx = c[:, None] + np.arange(-w, w + 1)[None, :]
    valid = (idx >= 1) & (idx < nt - 1)
    idxc = np.clip(idx, 1, nt - 2)
    ext = np.concatenate([idxc[:, :1] - 1, idxc, idxc[:, -1:] + 1], axis=1).clip(0, nt - 1)
    seg = img.z[ext, cols[:, None]]
    if beam > 1:
        seg = uniform_filter1d(seg, size=beam, axis=0, mode="nearest")
    core = np.where(valid, seg[:, 1:-1], -np.inf)
    k = np.argmax(core, axis=1)
    r = np.arange(idx.shape[0])
    i0 = idxc[r, k]
    y0 = seg[r, k + 1]
    ym = seg[r, k]
    yp = seg[r, k + 2]
    den = ym - 2 * y0 + yp
    off = np.where(den < 0, 0.5 * (ym - yp) / np.where(den < 0, den, -1), 0.0)
    off = np.clip(off, -0.5, 0.5)
    # interior maximum only (not at the search edge)
    interior = (k > 0) & (k < 2 * w) & valid[np.arange(idx.shape[0]), k]
    t = np.where(interior, (i0 + off) / fs, np.nan)
    return t, np.where(interior, y0, np.nan)


def refine(img: FeatureImage, d: int, p0: float, t_ref0: float, x_ref: float, x_lo: float, x_hi: float,
           site: SiteConfig, stack: float = 0.0) -> Line | None:
    """Per-channel picks around a candidate line and a trimmed LS fit ``t = a + b (x - x_ref)``."""
    cols = np.flatnonzero(img.good)
    if cols.size < 3:
        return None
    x = img.distance_m[cols]
    a, b = t_ref0, d * p0
    keep = None
    dx = float(np.median(np.abs(np.diff(x)))) if x.size > 1 else 1.0
    beam = max(1, int(round(site.beam_m / dx)))
    for half_w in (0.5, 0.35, 0.25):
        t_pred = a + b * (x - x_ref)
        t, v = _picks(img, cols, t_pred, half_w, beam)
        keep = np.isfinite(t) & (v >= site.pick_threshold)
        if keep.sum() < max(5, 0.2 * cols.size):
            return None
        for _ in range(2):
            xx, tt = x[keep] - x_ref, t[keep]
            A = np.stack([np.ones_like(xx), xx], axis=1)
            (a, b), *_ = np.linalg.lstsq(A, tt, rcond=None)
            r = t - (a + b * (x - x_ref))
            mad = 1.4826 * np.median(np.abs(r[keep]))
            keep &= np.abs(r) <= max(3 * mad, 2.0 / img.fs)
            if keep.sum() < 5:
                return None
    if b == 0 or np.sign(b) != d:
        return None
    slow = abs(b)
    v_kmh = 3.6 / slow
    lo, hi = site.speed_range_kmh
    if not (0.8 * lo <= v_kmh <= 1.2 * hi):
        return None
    r = t - (a + b * (x - x_ref))
    xs = x[keep]
    coverage = float(keep.sum() / cols.size)
    amp_z = float(np.median(v[keep]))
    amp = float(np.median(v[keep] * img.scale[cols[keep]]))
    return Line(direction=d, slowness=float(slow), t_ref=float(a), x_ref=x_ref, x_lo=x_lo, x_hi=x_hi,
                n_picks=int(keep.sum()), coverage=coverage, x_min=float(xs.min()), x_max=float(xs.max()),
                rms_s=float(np.sqrt(np.mean(r[keep] ** 2))), stack=stack, amp_z=amp_z, amp=amp,
                pick_x=xs, pick_t=t[keep], pick_cols=cols[keep])


def merge_lines(lines: list[Line], eps_s: float) -> list[Line]:
    """DBSCAN (sklearn, Chebyshev metric) over ``(t_entry, t_ref, t_exit)``; keep the best-covered member."""
    if len(lines) <= 1:
        return list(lines)
    feats = np.array([[ln.t_at(ln.x_lo), ln.t_ref, ln.t_at(ln.x_hi)] for ln in lines])
    feats = np.concatenate([feats, np.array([[1e6 * (ln.direction > 0)] for ln in lines])], axis=1)
    lab = DBSCAN(eps=eps_s, min_samples=1, metric="chebyshev").fit_predict(feats)
    out = []
    for c in np.unique(lab):
        members = [ln for ln, lb in zip(lines, lab) if lb == c]
        out.append(max(members, key=lambda ln: (ln.n_picks, ln.stack)))
    out.sort(key=lambda ln: ln.t_ref)
    return out


def detect_lines(img: FeatureImage, site: SiteConfig | None = None, x_ref: float | None = None,
                 section: tuple[float, float] | None = None) -> list[Line]:
    """All vehicle lines in a feature image (both directions), merged and sorted by ``t_ref``."""
    site = site or SiteConfig()
    if img.good.sum() < 3:
        return []
    xg = img.distance_m[img.good]
    x_lo, x_hi = section if section is not None else (float(xg.min()), float(xg.max()))
    if x_ref is None:
        x_ref = site.x_ref_m if site.x_ref_m is not None else 0.5 * (x_lo + x_hi)
    acc, p, _ = hough_accumulator(img, site, x_ref)
    ts = max(1, int(site.hough_t_step))
    span = max(x_hi - x_lo, 1e-6)

    def accept(ln: Line | None) -> bool:
        return (ln is not None and ln.coverage >= site.min_coverage
                and (ln.x_max - ln.x_min) >= site.min_coverage * span)

    lines = []
    for k, i, j, val, z in candidates(acc, p, img.fs / ts, site)[: site.max_candidates]:
        d = 1 if k == 0 else -1
        ln = refine(img, d, float(p[j]), i * ts / img.fs, x_ref, x_lo, x_hi, site, stack=val)
        if accept(ln):
            lines.append(ln)
    lines = merge_lines(lines, site.merge_eps_s)
    if site.follower_pass:
        extra = [ln for ln in follower_candidates(acc, p, img.fs / ts, lines, site)]
        found = []
        for d, p0, t0, val in extra:
            ln = refine(img, d, p0, t0, x_ref, x_lo, x_hi, site, stack=val)
            if accept(ln):
                found.append(ln)
        if found:
            lines = merge_lines(lines + found, site.merge_eps_s)
    return lines


def follower_candidates(acc: np.ndarray, p: np.ndarray, fs: float, lines: list[Line],
                        site: SiteConfig) -> list[tuple[int, float, float, float]]:
    """Second pass: vehicles close behind / ahead of a detected line, at about that line's slowness.

    A weak car 1-4 s behind (or ahead of) a truck rarely forms its own local
    maximum of the accumulator: the lines through it at *other* slownesses
    cross the truck's much stronger ridge and outvote it.  Near the truck's
    own slowness (platoon followers drive at most at the leader's speed, and
    a car a few per cent slower stays clear of the truck over the section)
    the car is a local maximum of the stack.  For every detected line this
    scans the accumulator band of slownesses within ``+-follower_dp``
    (relative; at least the adjacent cells) between ``follower_min_s`` and
    ``follower_max_s`` from the line for local maxima (+-0.2 s, +-1 slowness
    cell) of the band minus its running mean over ``follower_hp_s`` (a car on
    the flank of the truck's ridge is a shoulder there, not a maximum) where
    the stack itself is above ``follower_z``, keeps the ``follower_max_seeds``
    strongest per side, skips seeds within ``follower_known_s`` of any
    detected line of the same direction (a car 0.6 s ahead of another car is a separate vehicle;
    the merge eps is 0.5 s), and returns them as ``(direction, slowness,
    t_ref, stack)`` seeds for :func:`refine` (which decides: pick threshold,
    trimmed fit, coverage).
    """
    vals = acc[acc != 0]
    if vals.size == 0 or not lines:
        return []
    med = float(np.median(vals))
    mad = float(1.4826 * np.median(np.abs(vals - med))) or 1e-6
    nt = acc.shape[1]
    h = max(1, int(round(0.2 * fs)))
    lo_i, hi_i = int(round(site.follower_min_s * fs)), int(round(site.follower_max_s * fs))
    out = []
    known = [(ln.direction, ln.t_ref) for ln in lines]
    for ln in lines:
        k = 0 if ln.direction > 0 else 1
        # slowness band around the line's: +- follower_dp (relative), at least the adjacent cells
        j = int(np.argmin(np.abs(p - ln.slowness)))
        j_lo = max(0, min(int(np.searchsorted(p, ln.slowness / (1 + site.follower_dp))), j - 1))
        j_hi = min(p.size, max(int(np.searchsorted(p, ln.slowness * (1 + site.follower_dp))), j + 2))
        band = acc[k, :, j_lo:j_hi]
        hp = band  # shoulders of the ridge become maxima once the running mean is removed
        if site.follower_hp_s > 0:
            hp = band - uniform_filter1d(band, size=max(3, int(round(site.follower_hp_s * fs))), axis=0, mode="nearest")
        loc = maximum_filter(hp, size=(2 * h + 1, 3), mode="nearest")
        i_ln = int(round(ln.t_ref * fs))
        for sgn in (1, -1):
            a, b = sorted((i_ln + sgn * lo_i, i_ln + sgn * hi_i))
            a, b = max(a, 0), min(b, nt - 1)
            if b <= a:
                continue
            sub, subhp = band[a: b + 1], hp[a: b + 1]
            ii, jj = np.nonzero((subhp == loc[a: b + 1]) & (subhp > 0) & ((sub - med) / mad >= site.follower_z)
                                & (sub >= site.min_abs_stack))
            order = np.argsort(-subhp[ii, jj])[: site.follower_max_seeds]
            for i, j in zip(ii[order] + a, jj[order] + j_lo):
                t = i / fs
                if any(dd == ln.direction and abs(t - tt) < site.follower_known_s for dd, tt in known):
                    continue
                out.append((ln.direction, float(p[j]), float(t), float(acc[k, i, j])))
    return out


@dataclass
class PartialLine:
    """A line that enters the section and ends inside it (a vehicle that stopped or left the road)."""

    line: Line  # fitted on the entry half (times in s from the image start)
    x_stop: float  # last inlier pick along the direction of travel
    t_stop: float  # time of the line at ``x_stop``
    t_entry: float  # time of the line at the section entry
    exit_support: float  # fraction of exit-half channels with a pick on the extrapolated line


def partial_lines(img: FeatureImage, site: SiteConfig, section: tuple[float, float], x_ref: float,
                  full_lines: list[Line]) -> list[PartialLine]:
    """Lines seen on the entry half of the section that do not continue on the exit half.

    For each direction a Hough transform over the entry-half channels only
    (``site.partial_stack_channels`` stacked) finds candidates that a
    full-section stack halves; each is refined on the entry-half channels and
    kept if (a) its picks reach the entry end of the section and cover
    ``site.partial_min_coverage`` of the half, (b) no complete line of the same
    direction enters within ``site.merge_eps_s`` x 3 of it, and (c) fewer than
    ``site.partial_max_exit_support`` of the exit-half channels show a pick on
    its extrapolation (the vehicle did not carry on at that speed).

    A vehicle that stops on the exit half is seen over more than half of the
    section and is one of ``full_lines``: :func:`_stopped_on_exit_side` flags
    it when its picks end well before the exit end. The braking stretch before
    the stop (up to ~150 m at highway speed) is not part of the straight line, so
    ``x_stop`` is where the vehicle was last seen at speed, not where it came
    to rest.
    """
    import dataclasses

    x_lo, x_hi = section
    span = max(x_hi - x_lo, 1e-6)
    sub_site = dataclasses.replace(site, max_stack_channels=site.partial_stack_channels)
    out: list[PartialLine] = []
    for d in (1, -1):
        entry_half = (img.distance_m < x_ref) if d > 0 else (img.distance_m > x_ref)
        half_good = img.good & entry_half
        if half_good.sum() < 5:
            continue
        sub = dataclasses.replace(img, good=half_good)
        xh = img.distance_m[half_good]
        x_mid = float(0.5 * (xh.min() + xh.max()))
        acc, p, _ = hough_accumulator(sub, sub_site, x_mid, directions=(d,))
        ts = max(1, int(site.hough_t_step))
        seen: list[float] = []
        for k, i, j, val, z in candidates(acc, p, img.fs / ts, site)[: site.max_candidates // 4]:
            ln = refine(sub, d, float(p[j]), i * ts / img.fs, x_mid, x_lo, x_hi, site, stack=val)
            if ln is None or ln.coverage < site.partial_min_coverage:
                continue
            x_entry = x_lo if d > 0 else x_hi
            near_entry = (ln.x_min - x_lo if d > 0 else x_hi - ln.x_max) <= 0.15 * span
            if not near_entry:
                continue
            t_entry = float(ln.t_at(x_entry))
            if any(abs(t_entry - s_) < 1.0 for s_ in seen):
                continue
            if any(fl.direction == d and abs(float(fl.t_at(x_entry)) - t_entry) < 3 * site.merge_eps_s
                   for fl in full_lines):
                continue
            sup = exit_support(img, ln, ~entry_half & img.good)
            if sup >= site.partial_max_exit_support:
                continue
            x_stop = ln.x_max if d > 0 else ln.x_min
            seen.append(t_entry)
            out.append(PartialLine(line=ln, x_stop=float(x_stop), t_stop=float(ln.t_at(x_stop)),
                                   t_entry=t_entry, exit_support=float(sup)))
        out += _stopped_on_exit_side(img, site, section, d, full_lines)
    return out


def _stopped_on_exit_side(img: FeatureImage, site: SiteConfig, section: tuple[float, float], d: int,
                          full_lines: list[Line]) -> list[PartialLine]:
    """Complete lines (coverage >= ``min_coverage``) whose picks end well before the exit end.

    A vehicle that stops on the exit half is seen at speed over more than half of the
    section, so it is one of ``full_lines``; it is flagged when its last inlier pick lies at
    least ``partial_exit_gap`` of the section before the exit end and fewer than
    ``partial_max_exit_support`` of the (at least 10) good channels beyond it show a pick on
    its extrapolation (:func:`exit_support`, which also answers "cannot tell" when the
    extrapolation leaves the window, e.g. a vehicle still in transit at the window end).
    """
    x_lo, x_hi = section
    span = max(x_hi - x_lo, 1e-6)
    x_entry = x_lo if d > 0 else x_hi
    margin = 2.0 * float(np.median(np.abs(np.diff(img.distance_m)))) if img.distance_m.size > 1 else 0.0
    out: list[PartialLine] = []
    for ln in full_lines:
        if ln.direction != d:
            continue
        x_last = ln.x_max if d > 0 else ln.x_min
        if (x_hi - x_last if d > 0 else x_last - x_lo) < site.partial_exit_gap * span:
            continue
        beyond = img.good & ((img.distance_m > x_last + margin) if d > 0 else (img.distance_m < x_last - margin))
        beyond &= (img.distance_m >= x_lo) & (img.distance_m <= x_hi)
        if beyond.sum() < 10:
            continue
        sup = exit_support(img, ln, beyond)
        if sup >= site.partial_max_exit_support:
            continue
        out.append(PartialLine(line=ln, x_stop=float(x_last), t_stop=float(ln.t_at(x_last)),
                               t_entry=float(ln.t_at(x_entry)), exit_support=float(sup)))
    return out


def exit_support(img: FeatureImage, ln: Line, cols_mask: np.ndarray) -> float:
    """Fraction of the masked channels with a pick >= ``pick``-level on the extrapolated line."""
    cols = np.flatnonzero(cols_mask)
    if cols.size == 0:
        return 0.0
    x = img.distance_m[cols]
    t_pred = ln.t_at(x)
    inside = (t_pred > 0.5) & (t_pred < img.z.shape[0] / img.fs - 0.5)
    if not inside.any():
        return 1.0  # cannot tell: the extrapolation leaves the window
    t, v = _picks(img, cols[inside], t_pred[inside], 0.5)
    return float(np.mean(np.isfinite(t) & (v >= 2.0)))
