"""Interval statistics and traffic events (pure functions over a list of vehicles).

``interval_stats(vehicles, bin_s, coverage=...)`` returns one row per time
bin x direction x class (``"all"`` plus ``"car"``/``"truck"``), following the
traffic reporting conventions (WebTRIS / FHWA style):

``interval_start`` (ISO UTC), ``interval_s``, ``direction``, ``vehicle_class``,
``volume``, ``flow_veh_h`` (= volume x 3600 / bin_s), ``mean_speed_kmh``,
``p50_speed_kmh``, ``p85_speed_kmh``, ``speed_bins`` (5 km/h edges and
counts), ``heavy_share`` (trucks / all, in the ``all`` rows),
``completeness`` (fraction of the bin covered by processed data; from the
``coverage`` intervals if given, else 1.0).  Vehicles are binned by ``t_ref``.

Events (``TrafficEvent`` records):

- ``congestion``: rolling mean speed (per direction, over
  ``site.congestion_window_s``) below ``site.congestion_kmh`` with at least
  ``congestion_min_vehicles`` vehicles; one event per contiguous episode;
- ``stopped_vehicle``: a vehicle slower than ``site.stopped_kmh``, or
  ``partial_lines`` hints.  The data-driven detector of lines that enter
  the section and end inside it lives in the pipeline
  (``process_window(..., events=[...])`` -> ``detect.partial_lines``), which
  the streaming worker and ``dasedge traffic --events`` use;
- ``wrong_way``: any vehicle in a direction the site declares not allowed
  (one-way road).
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from dasedge.block import iso_utc
from dasedge.records import TrafficEvent, Vehicle, stable_id
from pipelines.traffic.site import SiteConfig

BINS_S = (60, 300, 900, 3600)
SPEED_EDGES = np.arange(0.0, 205.0, 5.0)


def _coverage_fraction(t0: int, t1: int, coverage: list[tuple[int, int]] | None) -> float:
    if coverage is None:
        return 1.0
    tot = 0
    for a, b in coverage:
        lo, hi = max(a, t0), min(b, t1)
        if hi > lo:
            tot += hi - lo
    return min(1.0, tot / max(t1 - t0, 1))


def merge_intervals(iv: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Union of half-open ns intervals (e.g. the windows processed)."""
    out: list[list[int]] = []
    for a, b in sorted(iv):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def _row(t0: int, bin_s: int, direction: int, cls: str, vs: list[Vehicle], completeness: float,
         n_truck: int | None) -> dict[str, Any]:
    sp = np.array([v.speed_kmh for v in vs], dtype=float)
    counts, _ = np.histogram(sp, bins=SPEED_EDGES)
    row = dict(
        interval_start=iso_utc(t0), interval_start_ns=int(t0), interval_s=int(bin_s), direction=int(direction),
        vehicle_class=cls, volume=int(len(vs)), flow_veh_h=float(len(vs) * 3600.0 / bin_s),
        mean_speed_kmh=float(sp.mean()) if sp.size else None,
        p50_speed_kmh=float(np.percentile(sp, 50)) if sp.size else None,
        p85_speed_kmh=float(np.percentile(sp, 85)) if sp.size else None,
        speed_bins={"edges": SPEED_EDGES.tolist(), "counts": counts.tolist()},
        completeness=round(float(completeness), 4),
    )
    if n_truck is not None:
        row["heavy_share"] = float(n_truck / len(vs)) if vs else None
    return row


def interval_stats(vehicles: list[Vehicle], bin_s: int = 900, t_start_ns: int | None = None,
                   t_end_ns: int | None = None, coverage: list[tuple[int, int]] | None = None,
                   directions: Iterable[int] = (1, -1)) -> list[dict[str, Any]]:
    """Per-bin, per-direction, per-class statistics (see module docstring)."""
    if not vehicles and (t_start_ns is None or t_end_ns is None):
        return []
    b = int(bin_s * 1e9)
    t_ref = np.array([v.t_ref_ns for v in vehicles], dtype=np.int64)
    lo = t_start_ns if t_start_ns is not None else int(t_ref.min())
    hi = t_end_ns if t_end_ns is not None else int(t_ref.max()) + 1
    first = (lo // b) * b
    rows = []
    for t0 in range(first, hi, b):
        in_bin = [v for v in vehicles if t0 <= v.t_ref_ns < t0 + b]
        comp = _coverage_fraction(t0, t0 + b, coverage)
        for d in directions:
            vd = [v for v in in_bin if v.direction == d]
            n_truck = sum(v.vehicle_class == "truck" for v in vd)
            rows.append(_row(t0, bin_s, d, "all", vd, comp, n_truck))
            for cls in ("car", "truck"):
                rows.append(_row(t0, bin_s, d, cls, [v for v in vd if v.vehicle_class == cls], comp, None))
    return rows


# ---------------------------------------------------------------------------- events
def congestion_events(vehicles: list[Vehicle], site: SiteConfig | None = None) -> list[TrafficEvent]:
    """Episodes where the rolling mean speed of a direction falls below the site threshold."""
    site = site or SiteConfig()
    w = int(site.congestion_window_s * 1e9)
    out = []
    for d in (1, -1):
        vs = sorted((v for v in vehicles if v.direction == d), key=lambda v: v.t_ref_ns)
        if len(vs) < site.congestion_min_vehicles:
            continue
        t = np.array([v.t_ref_ns for v in vs], dtype=np.int64)
        sp = np.array([v.speed_kmh for v in vs])
        cs = np.concatenate([[0.0], np.cumsum(sp)])
        lo = np.searchsorted(t, t - w, side="left")
        n = np.arange(1, len(vs) + 1) - lo
        mean = (cs[1:] - cs[lo]) / n
        cong = (mean < site.congestion_kmh) & (n >= site.congestion_min_vehicles)
        i = 0
        while i < len(vs):
            if not cong[i]:
                i += 1
                continue
            j = i
            while j + 1 < len(vs) and cong[j + 1]:
                j += 1
            t0 = int(t[i])  # when the rolling mean first fell below the threshold
            t1 = int(t[j])
            out.append(TrafficEvent(
                id=stable_id(site.fiber_id or vs[i].fiber_id, "congestion", d, t0 // 10**9, prefix="evt-"),
                fiber_id=vs[i].fiber_id, kind="congestion", t_start_ns=t0, t_end_ns=t1, x_m=None, direction=d,
                detail={"mean_speed_kmh": round(float(mean[i:j + 1].min()), 2), "threshold_kmh": site.congestion_kmh,
                        "vehicles": int(j - lo[i] + 1)}))
            i = j + 1
    return out


def wrong_way_events(vehicles: list[Vehicle], site: SiteConfig | None = None) -> list[TrafficEvent]:
    """One event per vehicle travelling in a direction the site does not allow."""
    site = site or SiteConfig()
    return [TrafficEvent(id=stable_id(v.id, "wrong_way", prefix="evt-"), fiber_id=v.fiber_id, kind="wrong_way",
                         t_start_ns=v.t_start_ns, t_end_ns=v.t_end_ns, x_m=None, direction=v.direction,
                         detail={"vehicle_id": v.id, "speed_kmh": v.speed_kmh})
            for v in vehicles if not site.allowed(v.direction)]


def stopped_events(vehicles: list[Vehicle], site: SiteConfig | None = None,
                   partial_lines: list[dict[str, Any]] | None = None) -> list[TrafficEvent]:
    """Stopped vehicles: very slow complete lines, or lines that end inside the section.

    ``partial_lines``: dicts ``{fiber_id, direction, t_ns, x_m}`` of lines that
    stop inside the section (from ``pipeline.partial_lines``).
    """
    site = site or SiteConfig()
    out = [TrafficEvent(id=stable_id(v.id, "stopped", prefix="evt-"), fiber_id=v.fiber_id, kind="stopped_vehicle",
                        t_start_ns=v.t_start_ns, t_end_ns=v.t_end_ns, x_m=None, direction=v.direction,
                        detail={"vehicle_id": v.id, "speed_kmh": v.speed_kmh})
           for v in vehicles if v.speed_kmh < site.stopped_kmh]
    for p in partial_lines or []:
        out.append(TrafficEvent(
            id=stable_id(p["fiber_id"], "stopped", p["direction"], round(p["x_m"] / 20.0), p["t_ns"] // 10**10,
                         prefix="evt-"),
            fiber_id=p["fiber_id"], kind="stopped_vehicle", t_start_ns=int(p["t_ns"]), t_end_ns=int(p["t_ns"]),
            x_m=float(p["x_m"]), direction=int(p["direction"]), detail={"source": "line ends inside the section"}))
    return out


def traffic_events(vehicles: list[Vehicle], site: SiteConfig | None = None,
                   partial_lines: list[dict[str, Any]] | None = None) -> list[TrafficEvent]:
    """All event kinds, sorted by start time."""
    ev = congestion_events(vehicles, site) + wrong_way_events(vehicles, site) + stopped_events(vehicles, site, partial_lines)
    return sorted(ev, key=lambda e: e.t_start_ns)
