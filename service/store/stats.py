"""Per-interval traffic statistics computed from vehicle rows (vectorised numpy).

``pipelines.traffic.stats`` had not landed when this was written, so the
aggregation lives here; it follows conventions.md §2: per bin and direction
(optionally per class) ``volume``, ``flow_veh_h = volume*3600/interval_s``,
mean/p50/p85 speed (linear-interpolated percentiles, as ``numpy.percentile``),
10 km/h speed bins, class counts, heavy-vehicle share.  Empty bins are not
emitted (volume 0 rows would need the data coverage to be meaningful).
"""

from __future__ import annotations

import numpy as np

#: 10 km/h speed bins, last bin open-ended (>= 200 km/h)
SPEED_EDGES_KMH: list[float] = [float(v) for v in range(0, 210, 10)]
CLASSES: tuple[str, ...] = ("car", "truck")
HEAVY_CLASSES = frozenset({"truck"})


def _group_percentile(sorted_vals: np.ndarray, starts: np.ndarray, counts: np.ndarray, q: float) -> np.ndarray:
    """Linear-interpolated percentile ``q`` (0..100) of each contiguous sorted group."""
    pos = starts + (counts - 1) * (q / 100.0)
    lo = np.floor(pos).astype(np.int64)
    hi = np.ceil(pos).astype(np.int64)
    frac = pos - lo
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * frac


def interval_stats(
    t_ns: np.ndarray,
    direction: np.ndarray,
    vehicle_class: np.ndarray,
    speed_kmh: np.ndarray,
    *,
    start_ns: int,
    interval_s: int,
    by_class: bool = False,
) -> list[dict]:
    """Aggregate vehicles into fixed bins aligned on ``start_ns``.

    Parameters
    ----------
    t_ns, direction, vehicle_class, speed_kmh
        One entry per vehicle (reference time, +1/-1, class name, speed).
    start_ns
        Bin origin (bins are ``[start_ns + k*interval, start_ns + (k+1)*interval)``).
    interval_s
        Bin width in seconds.
    by_class
        Split rows by vehicle class as well.

    Returns
    -------
    list of dict
        Rows ordered by (interval_start, direction, class) with the fields of
        conventions.md §2; ``completeness_pct`` is ``None`` here (unknown from
        vehicles alone: the store fills it from the pipeline's coverage spans,
        ``Store.completeness_pct``).
    """
    t_ns = np.asarray(t_ns, dtype=np.int64)
    if t_ns.size == 0:
        return []
    direction = np.asarray(direction, dtype=np.int64)
    speed = np.asarray(speed_kmh, dtype=np.float64)
    cls = np.asarray(vehicle_class).astype(str)
    cls_names, cls_idx = np.unique(np.concatenate([np.array(CLASSES), cls]), return_inverse=True)
    cls_idx = cls_idx[len(CLASSES):]
    n_cls = len(cls_names)
    step = int(interval_s) * 1_000_000_000
    b = (t_ns - int(start_ns)) // step
    d_idx = (direction > 0).astype(np.int64)  # 0: -1, 1: +1
    key = b * 2 + d_idx
    if by_class:
        key = key * n_cls + cls_idx
    order = np.lexsort((speed, key))
    key_s, speed_s, cls_s = key[order], speed[order], cls_idx[order]
    uniq, starts, counts = np.unique(key_s, return_index=True, return_counts=True)
    sums = np.add.reduceat(speed_s, starts)
    p50 = _group_percentile(speed_s, starts, counts, 50)
    p85 = _group_percentile(speed_s, starts, counts, 85)
    grp = np.repeat(np.arange(uniq.size), counts)
    edges = np.asarray(SPEED_EDGES_KMH)
    sbin = np.clip(np.searchsorted(edges, speed_s, side="right") - 1, 0, len(edges) - 1)
    hist = np.zeros((uniq.size, len(edges)), dtype=np.int64)
    np.add.at(hist, (grp, sbin), 1)
    ccount = np.zeros((uniq.size, n_cls), dtype=np.int64)
    np.add.at(ccount, (grp, cls_s), 1)
    heavy_cols = [i for i, c in enumerate(cls_names) if c in HEAVY_CLASSES]
    heavy = ccount[:, heavy_cols].sum(axis=1) if heavy_cols else np.zeros(uniq.size, np.int64)
    if by_class:
        row_cls = uniq % n_cls
        rest = uniq // n_cls
    else:
        row_cls = None
        rest = uniq
    row_dir = np.where(rest % 2 == 1, 1, -1).tolist()
    starts_ns = int(start_ns) + (rest // 2) * step
    iso = [t + "Z" for t in np.datetime_as_string(starts_ns.astype("datetime64[ns]").astype("datetime64[us]"))]
    starts_l = starts_ns.tolist()
    counts_l = counts.tolist()
    mean_l = (sums / counts).tolist()
    p50_l, p85_l = p50.tolist(), p85.tolist()
    heavy_l = (heavy / counts).tolist()
    hist_l, cc_l = hist.tolist(), ccount.tolist()
    cls_l = [str(c) for c in cls_names]
    keep_cls = [i for i, c in enumerate(cls_l) if c in CLASSES]
    row_cls_l = None if row_cls is None else row_cls.tolist()
    rows = []
    for i in range(uniq.size):  # one iteration per output row, not per vehicle
        n = counts_l[i]
        cc = cc_l[i]
        rows.append({
            "interval_start": iso[i],
            "interval_start_ns": starts_l[i],
            "interval_s": int(interval_s),
            "direction": row_dir[i],
            "vehicle_class": None if row_cls_l is None else cls_l[row_cls_l[i]],
            "volume": n,
            "flow_veh_h": n * 3600.0 / interval_s,
            "mean_speed_kmh": mean_l[i],
            "p50_speed_kmh": p50_l[i],
            "p85_speed_kmh": p85_l[i],
            "speed_bins": {"edges": SPEED_EDGES_KMH, "counts": hist_l[i]},
            "class_counts": {cls_l[j]: cc[j] for j in range(n_cls) if cc[j] or j in keep_cls},
            "heavy_share": heavy_l[i],
            "completeness_pct": None,
        })
    return rows
