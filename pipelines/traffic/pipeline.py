"""The traffic pipeline over one window, and the windowing shared by batch and streaming.

``analyse_window(block, site, state)`` -> all complete vehicle lines in the
window with class and lane; ``process_window`` adds the *ownership* rule so
that each vehicle is reported exactly once across overlapping windows:

- windows end on an absolute grid of ``step_s`` (``window_ends``), so a
  restarted worker or the batch CLI sees the same windows;
- a window ``[ws, we)`` owns a vehicle iff its line is complete in the window
  (entry >= ``ws + margin``) and ``t_exit + margin`` falls in
  ``(we - step, we]`` - the intervals of consecutive windows tile time, so a
  vehicle is owned by exactly one window, the first one that sees it whole
  (which also gives the latency bound ``step + margin`` after it leaves);
- the vehicle id is ``stable_id(fiber, direction, round(t_ref to 1 s))`` and
  the state keeps recently emitted ``(direction, t_ref)`` to drop any
  boundary jitter duplicate; stores upsert by id (idempotent).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import numpy as np

from dasedge.block import DASBlock
from dasedge.records import TrafficEvent, Vehicle, stable_id
from pipelines.traffic.classify import DEFAULT_AMP_REF, ClassModel, band_ratio
from pipelines.traffic.detect import Line, detect_lines, partial_lines
from pipelines.traffic.preprocess import quasi_static
from pipelines.traffic.site import SiteConfig

MAX_VEHICLE_LENGTH_M = 26.0  # axle-group line spacing of the longest heavy vehicles incl. kernel spread
TRUCK_LEVEL = 3.0  # amp_rel above which a line is certainly heavy (used for duplicate merging)


class TrafficState(dict):
    """Per-fiber state carried from window to window - a plain JSON-serialisable dict.

    Keys: ``emitted`` (last emitted ``[direction, t_ref_ns, speed_kmh, amp_rel]``),
    ``amp_hist`` (amp/v of recent cars), ``amp_hist_dir`` (the same per direction,
    for lanes), ``stopped`` (emitted stopped-vehicle lines ``[direction, t_entry_ns]``), ``first_window`` (bool), ``windows`` (int).
    The streaming runtime persists it with the committed offsets, so a
    restarted worker resumes with it.
    """

    MAX_EMITTED = 24
    MAX_HIST = 30


def _state(state: dict | None) -> dict:
    st = state if state is not None else TrafficState()
    st.setdefault("emitted", [])
    st.setdefault("amp_hist", [])
    st.setdefault("first_window", True)
    st.setdefault("windows", 0)
    return st


def amp_reference(state: dict, site: SiteConfig) -> float:
    """Car reference of ``amp / v``: site calibration, else the running median of recent cars."""
    if site.amp_ref is not None:
        return float(site.amp_ref)
    hist = state.get("amp_hist") or []
    if len(hist) >= 10:
        return float(np.median(hist))
    return DEFAULT_AMP_REF


@dataclass
class Detection:
    """A line with its absolute times, features and class."""

    line: Line
    t0_ns: int  # absolute time of line time 0
    direction: int
    speed_kmh: float
    t_ref_ns: int
    t_entry_ns: int
    t_exit_ns: int
    x_entry_m: float
    x_exit_m: float
    amp: float
    amp_rel: float
    band_ratio: float
    p_truck: float
    vehicle_class: str
    lane: int | None = None

    def features(self) -> dict[str, float]:
        return {"log_amp_rel": math.log10(max(self.amp_rel, 1e-6)), "log_band_ratio": self.band_ratio}


_MODEL_CACHE: dict[str | None, ClassModel] = {}


def _model(site: SiteConfig) -> ClassModel:
    key = site.class_model
    if key not in _MODEL_CACHE:
        _MODEL_CACHE[key] = ClassModel.load(key)
    return _MODEL_CACHE[key]


def _merge_trucks(dets: list[Detection]) -> list[Detection]:
    """Merge the two axle-group lines of one heavy vehicle (same slope, < 20 m apart, both heavy)."""
    out: list[Detection] = []
    for d in sorted(dets, key=lambda d: (d.direction, d.t_ref_ns)):
        if out:
            prev = out[-1]
            v = d.speed_kmh / 3.6
            gap_m = abs(d.t_ref_ns - prev.t_ref_ns) / 1e9 * v
            if (prev.direction == d.direction and abs(prev.speed_kmh - d.speed_kmh) < 0.05 * d.speed_kmh
                    and gap_m <= MAX_VEHICLE_LENGTH_M and min(prev.amp_rel, d.amp_rel) >= TRUCK_LEVEL):
                keep = prev if prev.amp >= d.amp else d
                mid = (prev.t_ref_ns + d.t_ref_ns) // 2
                shift = mid - keep.t_ref_ns
                keep.t_ref_ns += shift
                keep.t_entry_ns += shift
                keep.t_exit_ns += shift
                out[-1] = keep
                continue
        out.append(d)
    out.sort(key=lambda d: d.t_ref_ns)
    return out


def analyse_window(block: DASBlock, site: SiteConfig | None = None, state: dict | None = None,
                   partial_out: list | None = None) -> list[Detection]:
    """Detect, measure and classify all lines in ``block`` (no ownership rule).

    If ``partial_out`` is a list (and ``site.stopped_detection``), lines that
    enter the section and end inside it (:func:`detect.partial_lines`) are
    appended to it as dicts with absolute times (``direction``,
    ``t_entry_ns``, ``t_stop_ns``, ``x_stop_m``, ``speed_kmh``, ``exit_support``).
    """
    site = site or SiteConfig()
    state = _state(state)
    img = quasi_static(block, site)
    if img.good.sum() < 3:
        return []
    xg = img.distance_m[img.good]
    section = site.section_m if site.section_m is not None else (float(xg.min()), float(xg.max()))
    lines = detect_lines(img, site, section=section)
    if partial_out is not None and site.stopped_detection:
        x_ref = site.x_ref_m if site.x_ref_m is not None else 0.5 * (section[0] + section[1])
        for pl in partial_lines(img, site, section, x_ref, lines):
            partial_out.append(dict(
                direction=pl.line.direction, t_entry_ns=img.t0_ns + int(round(pl.t_entry * 1e9)),
                t_stop_ns=img.t0_ns + int(round(pl.t_stop * 1e9)), x_stop_m=pl.x_stop,
                speed_kmh=pl.line.speed_kmh, exit_support=pl.exit_support))
    model = _model(site)
    ref = amp_reference(state, site)
    dets = []
    for ln in lines:
        v = ln.speed_kmh / 3.6
        amp_rel = (ln.amp / v) / ref
        cols = img.channel_cols[ln.pick_cols]
        br = band_ratio(block, cols, ln.pick_t, img.t0_ns)
        feats = {"log_amp_rel": math.log10(max(amp_rel, 1e-6)), "log_band_ratio": br}
        p = model.prob_truck(feats)
        d = ln.direction
        x_entry, x_exit = (section[0], section[1]) if d > 0 else (section[1], section[0])
        to_ns = lambda s: img.t0_ns + int(round(s * 1e9))  # noqa: E731
        dets.append(Detection(
            line=ln, t0_ns=img.t0_ns, direction=d, speed_kmh=ln.speed_kmh, t_ref_ns=to_ns(ln.t_ref),
            t_entry_ns=to_ns(float(ln.t_at(x_entry))), t_exit_ns=to_ns(float(ln.t_at(x_exit))),
            x_entry_m=float(x_entry), x_exit_m=float(x_exit), amp=ln.amp, amp_rel=amp_rel, band_ratio=br,
            p_truck=p, vehicle_class="truck" if p >= 0.5 else "car"))
    dets = _merge_trucks(dets)
    for det in dets:
        det.lane = assign_lane(det, state, site)
    return dets


def assign_lane(det: Detection, state: dict, site: SiteConfig) -> int:
    """Lane from the amplitude (0 = nearest the cable) where the site declares several lanes.

    Cars: ``amp / v`` over the running median of recent cars *of the same
    direction* (both lanes of a direction share the median, so the split sits
    between the lane levels); lane 0 if the ratio is >= ``site.lane_split``.
    Until 10 cars of a direction have been seen the all-directions reference
    is used.  Heavy vehicles are compared with 8x the car level (their load
    spread makes this a weak guess; see bench/results/traffic.md).
    """
    if site.lanes(det.direction) <= 1:
        return 0
    hist = (state.get("amp_hist_dir") or {}).get(str(det.direction)) or []
    v = det.speed_kmh / 3.6
    ref = float(np.median(hist)) if len(hist) >= 10 else amp_reference(state, site)
    rel = (det.amp / v) / ref / (1.0 if det.vehicle_class == "car" else 8.0)
    return 0 if rel >= site.lane_split else 1


def _is_duplicate(det: Detection, state: dict) -> bool:
    """Same vehicle as one already emitted (jitter < 0.6 s, or the other axle group of a heavy vehicle)."""
    v = det.speed_kmh / 3.6
    for d, t, sp, ar in state["emitted"]:
        if d != det.direction:
            continue
        dt = abs(t - det.t_ref_ns) / 1e9
        if dt < 0.6:
            return True
        if dt * v <= MAX_VEHICLE_LENGTH_M and min(ar, det.amp_rel) >= TRUCK_LEVEL and abs(sp - det.speed_kmh) < 0.05 * sp:
            return True
    return False


def _stopped_events(partials: list[dict], ws: int, we: int, m: int, step: int, last: bool, state: dict,
                    site: SiteConfig, fiber: str) -> list[TrafficEvent]:
    """Stopped-vehicle events owned by the window ``[ws, we)`` (see :func:`process_window`)."""
    out = []
    wait = int(site.stopped_after_s * 1e9)
    done = state.setdefault("stopped", [])
    for pl in partials:
        t_own = pl["t_stop_ns"] + wait
        if min(pl["t_entry_ns"], pl["t_stop_ns"]) < ws + m or t_own + m > we:
            continue  # not seen whole, or not yet overdue
        if not state["first_window"] and not last and t_own + m <= we - step:
            continue  # owned by an earlier window
        if any(d == pl["direction"] and abs(t - pl["t_entry_ns"]) < 2e9 for d, t in done):
            continue
        done.append([pl["direction"], pl["t_entry_ns"]])
        del done[:-TrafficState.MAX_EMITTED]
        out.append(TrafficEvent(
            id=stable_id(fiber, "stopped", pl["direction"], int(round(pl["t_entry_ns"] / 1e9)), prefix="evt-"),
            fiber_id=fiber, kind="stopped_vehicle", t_start_ns=int(pl["t_stop_ns"]), t_end_ns=int(t_own),
            x_m=round(float(pl["x_stop_m"]), 1), direction=int(pl["direction"]),
            detail={"source": "line ends inside the section", "speed_before_kmh": round(float(pl["speed_kmh"]), 1),
                    "t_entry_ns": int(pl["t_entry_ns"]), "exit_support": round(float(pl["exit_support"]), 3),
                    "confirmed_after_s": site.stopped_after_s}))
    return out


def to_vehicle(det: Detection, fiber_id: str, reported_ns: int | None = None) -> Vehicle:
    t_bucket = int(round(det.t_ref_ns / 1e9))
    return Vehicle(
        id=stable_id(fiber_id, det.direction, t_bucket, prefix="veh-"),
        fiber_id=fiber_id, t_start_ns=int(det.t_entry_ns), t_end_ns=int(det.t_exit_ns),
        x_start_m=float(det.x_entry_m), x_end_m=float(det.x_exit_m), speed_kmh=round(float(det.speed_kmh), 3),
        direction=int(det.direction), vehicle_class=det.vehicle_class, t_ref_ns=int(det.t_ref_ns),
        lane=det.lane, amplitude=float(det.amp), score=round(float(det.p_truck), 4), reported_ns=reported_ns)


def process_window(block: DASBlock, site: SiteConfig | None = None, state: dict | None = None,
                   now_ns: int | None = None, last: bool = False, events: list | None = None) -> list[Vehicle]:
    """Vehicles owned by this window (see module docstring); updates ``state``.

    ``last=True`` (end of a finite archive) also owns lines that exit after the
    window's owned interval, as long as they are complete.

    ``events``: if a list, ``stopped_vehicle`` :class:`TrafficEvent` records
    owned by this window are appended: a line that entered the section and
    ended inside it (no continuation at its speed), reported once
    ``site.stopped_after_s`` have passed since its last pick, by the same
    tiling ownership rule as vehicles (``t_stop + stopped_after_s`` in place of
    the exit time) on a coarser grid: the search runs only in windows whose
    end is a multiple of ``k * step_s`` (``k * step_s`` ~ ``site.stopped_step_s``),
    which keeps its CPU cost at ~1/k.
    """
    site = site or SiteConfig()
    state = _state(state)
    last = last or bool(block.attrs.get("last"))
    ws, we = block.t0_ns, block.t_end_ns
    m = int(site.margin_s * 1e9)
    step = int(site.step_s * 1e9)
    # the stopped-vehicle search runs on a coarser grid of window ends (every k-th window; k*step ~ stopped_step_s)
    k_st = max(1, int(round(site.stopped_step_s / site.step_s)))
    search = events is not None and (last or state["first_window"] or round(we / step) % k_st == 0)
    partials: list | None = [] if search else None
    dets = analyse_window(block, site, state, partial_out=partials)
    out = []
    fiber = site.fiber_id or block.fiber_id
    for det in dets:
        t_first = min(det.t_entry_ns, det.t_exit_ns)
        t_last = max(det.t_entry_ns, det.t_exit_ns)
        if t_first < ws + m or t_last + m > we:
            continue  # incomplete in this window
        if not state["first_window"] and not last and t_last + m <= we - step:
            continue  # owned by an earlier window
        if _is_duplicate(det, state):
            continue
        state["emitted"] = (state["emitted"] + [[det.direction, det.t_ref_ns, round(det.speed_kmh, 3),
                                                 round(det.amp_rel, 3)]])[-TrafficState.MAX_EMITTED:]
        if det.vehicle_class == "car":
            av = float(f"{det.amp / (det.speed_kmh / 3.6):.4g}")
            state["amp_hist"] = (state["amp_hist"] + [av])[-TrafficState.MAX_HIST:]
            hd = state.setdefault("amp_hist_dir", {})
            hd[str(det.direction)] = (hd.get(str(det.direction), []) + [av])[-TrafficState.MAX_HIST:]
        out.append(to_vehicle(det, fiber, reported_ns=now_ns if now_ns is not None else time.time_ns()))
    if search:
        events.extend(_stopped_events(partials or [], ws, we, m, k_st * step, last, state, site, fiber))
    state["first_window"] = False
    state["windows"] += 1
    return out


# ---------------------------------------------------------------------- windowing
def windowed(blocks: Iterable[DASBlock], window_s: float, step_s: float, tail: bool = True) -> Iterator[DASBlock]:
    """Sliding windows of a block stream, cut by the streaming runtime's own
    :class:`dasedge.streaming.windows.WindowAssembler` (epoch-aligned grid), so
    batch and streaming see identical windows.

    ``tail=True`` adds, at the end of a finite archive, one window covering the
    last ``window_s`` of data (``attrs["last"]``) so vehicles that leave after
    the last full window are still reported once.
    """
    from dasedge.streaming.windows import WindowAssembler, WindowSpec

    asm = WindowAssembler(WindowSpec(length_s=window_s, step_s=step_s))
    recent: list[DASBlock] = []
    last_end = None
    for b in blocks:
        for w in asm.add(b):
            last_end = w.block.t_end_ns
            yield w.block
        recent.append(b)
        # keep about one window of raw blocks for the tail
        while len(recent) > 1 and recent[-1].t_end_ns - recent[1].t0_ns >= window_s * 1e9:
            recent.pop(0)
    if tail and recent and (last_end is None or recent[-1].t_end_ns > last_end):
        from dasedge.block import concat_time

        try:
            cat = concat_time(recent)
        except ValueError:
            cat = recent[-1]
        w = cat.select(time=(cat.t_end_ns - int(window_s * 1e9), cat.t_end_ns))
        w.attrs["last"] = True
        yield w


def run_blocks(blocks: Iterable[DASBlock], site: SiteConfig | None = None, state: dict | None = None,
               progress=None, tail: bool = True, events: list | None = None) -> list[Vehicle]:
    """Batch: run ``process_window`` over the sliding windows of a block stream.

    ``events``: a list to collect stopped-vehicle events (see :func:`process_window`).
    """
    site = site or SiteConfig()
    state = _state(state)
    out: list[Vehicle] = []
    for w in windowed(blocks, site.window_s, site.step_s, tail=tail):
        vs = process_window(w, site, state, now_ns=None, events=events)
        out.extend(vs)
        if progress:
            progress(w, vs)
    return out


def detections_to_rows(dets: list[Detection]) -> list[dict[str, Any]]:
    return [dict(direction=d.direction, speed_kmh=d.speed_kmh, t_ref_ns=d.t_ref_ns, vehicle_class=d.vehicle_class,
                 amp_rel=d.amp_rel, band_ratio=d.band_ratio, p_truck=d.p_truck, lane=d.lane) for d in dets]
