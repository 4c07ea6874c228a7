"""S pseudo-label filter: drop teacher S labels that the data contradict.

The paper's filters (both phases per channel, minimum picks, GaMMA's ``max_sigma11``) keep events
whose S labels are 0.4-1.8 s late on most channels: the teacher picked a later S-like arrival and
GaMMA's free location (and origin time) absorbed the shift. Two checks that need no truth:

* **student agreement**: the current student's S probability is evaluated in a +-2 s window
  around each channel's S label; where its maximum is at least ``min_prob`` and lies more than
  ``max_offset_s`` from the label, the student contradicts the label. An event whose median
  offset (over the channels where the student has an opinion) exceeds ``max_offset_s`` is
  rejected; on kept events the contradicted channels are masked out of the loss.
* **vp/vs consistency**: for a point source ``t_S - t0 = (vp/vs) (t_P - t0)``, so across the
  channels ``t_S = a t_P + b`` with slope ``a = vp/vs``. Where the P labels span at least
  ``min_p_span_s`` (the slope is resolved), an event whose fitted slope lies outside
  ``vpvs_range`` is rejected.

A record with any rejected event is dropped entirely: its arrivals would otherwise be learnt as
noise on the channels that stay labelled for the other events.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipelines.seismic.preprocess import MODEL_FS as FS  # pseudo-label records are at the model rate


@dataclass
class SFilterSettings:
    """Thresholds of :func:`filter_s_labels`."""

    max_offset_s: float = 0.3
    window_s: float = 2.0
    min_prob: float = 0.1
    vpvs_range: tuple[float, float] = (1.4, 2.2)
    min_p_span_s: float = 0.5


def student_s_offsets(prob_s: np.ndarray, s_idx: np.ndarray, window: int, min_prob: float) -> np.ndarray:
    """Offset (samples) of the student's strongest S probability from each S label.

    Parameters
    ----------
    prob_s
        Student S probability ``[nt, nx]``.
    s_idx
        S label sample indices ``[n_ev, nx]`` (NaN where unlabelled).
    window
        Half-width of the search window around the label (samples).
    min_prob
        Below this maximum the student has no opinion (NaN).

    Returns
    -------
    numpy.ndarray
        ``[n_ev, nx]`` offsets ``argmax - label`` in samples, NaN where unlabelled or no opinion.
    """
    nt, nx = prob_s.shape
    out = np.full(s_idx.shape, np.nan)
    ev, ch = np.nonzero(np.isfinite(s_idx))
    if ev.size == 0:
        return out
    lab = np.round(s_idx[ev, ch]).astype(int)
    lags = np.arange(-window, window + 1)
    t = np.clip(lab[:, None] + lags[None, :], 0, nt - 1)  # [n, 2w+1]
    win = prob_s[t, ch[:, None]]
    inside = (lab[:, None] + lags[None, :] >= 0) & (lab[:, None] + lags[None, :] < nt)
    win = np.where(inside, win, -1.0)
    k = np.argmax(win, axis=1)
    ok = win[np.arange(k.size), k] >= min_prob
    out[ev[ok], ch[ok]] = lags[k[ok]]
    return out


def vpvs_slope(p_idx: np.ndarray, s_idx: np.ndarray, min_span: float) -> np.ndarray:
    """Least-squares slope of ``t_S`` against ``t_P`` per event (NaN where the P span < ``min_span`` samples)."""
    out = np.full(p_idx.shape[0], np.nan)
    for e in range(p_idx.shape[0]):  # a few events per record
        ok = np.isfinite(p_idx[e]) & np.isfinite(s_idx[e])
        if ok.sum() < 3:
            continue
        p, s = p_idx[e, ok], s_idx[e, ok]
        if np.ptp(p) < min_span:
            continue
        out[e] = np.polyfit(p, s, 1)[0]
    return out


def filter_s_labels(
    p_idx: np.ndarray, s_idx: np.ndarray, mask: np.ndarray, prob_s: np.ndarray, settings: SFilterSettings | None = None
) -> tuple[np.ndarray | None, dict]:
    """Apply the S checks to one pseudo-labelled record.

    Returns
    -------
    mask, info
        The new channel mask (contradicted channels of kept events masked out), or ``None`` when
        the record is dropped; ``info`` holds per-event diagnostics (median offset s, slope,
        contradicted-channel count, reject reason).
    """
    s = settings or SFilterSettings()
    off = student_s_offsets(prob_s, s_idx, int(round(s.window_s * FS)), s.min_prob) / FS
    slope = vpvs_slope(p_idx, s_idx, s.min_p_span_s * FS)
    bad_ch = np.abs(np.nan_to_num(off, nan=0.0)) > s.max_offset_s  # [n_ev, nx]
    events = []
    for e in range(p_idx.shape[0]):
        o = off[e][np.isfinite(off[e])]
        med = float(np.median(np.abs(o))) if o.size else float("nan")
        reason = None
        if o.size and med > s.max_offset_s:
            reason = "student"
        elif np.isfinite(slope[e]) and not (s.vpvs_range[0] <= slope[e] <= s.vpvs_range[1]):
            reason = "vpvs"
        events.append({"median_offset_s": med, "slope": float(slope[e]), "n_labelled": int(np.isfinite(s_idx[e]).sum()),
                       "n_contradicted": int(bad_ch[e].sum()), "reject": reason})
    info = {"events": events}
    if any(ev["reject"] for ev in events):
        return None, info
    new = mask.astype(np.float32).copy()
    new[bad_ch.any(axis=0)] = 0.0
    return new, info


def filter_pseudo_set(in_dirs: list[str], out_dir: str, model_path: str, settings: SFilterSettings | None = None,
                      bad_label_s: float = 0.2) -> dict:
    """Filter pseudo-labelled records (``*.npz`` of :func:`dataset.save_pseudo`) into ``out_dir``.

    The student ``model_path`` (ONNX, 1 thread) gives the S probabilities. Per record a line goes
    to ``out_dir/filter.jsonl``. Where the input folder has the ``stats.jsonl`` of
    :func:`pseudo_labels.build_synthetic_set` (synthetic scenes, report only), each event's label
    error against the simulator truth is attached and the summary counts how many events with S
    labels more than ``bad_label_s`` off (median over channels) the filter removed - the truth is
    never used for the decision.
    """
    import json
    from pathlib import Path

    from pipelines.seismic.onnx_model import PhaseNetDAS
    from pipelines.seismic.training.dataset import save_pseudo

    net = PhaseNetDAS(model_path, threads=1)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tot = {"records": 0, "records_kept": 0, "events": 0, "events_rejected_student": 0, "events_rejected_vpvs": 0,
           "channels_labelled": 0, "channels_masked": 0, "truth_bad_s_events": 0, "truth_bad_s_removed": 0,
           "truth_good_events": 0, "truth_good_removed": 0}
    lines = []
    for d in map(Path, in_dirs):
        errs = {}
        if (d / "stats.jsonl").is_file():
            for x in (d / "stats.jsonl").read_text().splitlines():
                if x.strip():
                    r = json.loads(x)
                    errs[int(r["seed"])] = r.get("label_err_s", [])
        for f in sorted(d.glob("*.npz")):
            with np.load(f) as z:
                rec = {k: z[k] for k in z.files}
            prob = net.annotate(rec["data"])
            mask, info = filter_s_labels(rec["p_idx"], rec["s_idx"], rec["mask"], prob[2], settings)
            seed = int(f.stem[3:]) if f.stem.startswith("syn") and f.stem[3:].isdigit() else None
            err = errs.get(seed, [])
            dropped = mask is None
            tot["records"] += 1
            tot["records_kept"] += int(not dropped)
            tot["channels_labelled"] += int(rec["mask"].sum())
            tot["channels_masked"] += int(rec["mask"].sum() - (0 if dropped else mask.sum()))
            for e, ev in enumerate(info["events"]):
                tot["events"] += 1
                if ev["reject"]:
                    tot[f"events_rejected_{ev['reject']}"] += 1
                if e < len(err):
                    ev["truth_label_err_s"] = err[e] / FS
                    bad = err[e] / FS > bad_label_s
                    tot["truth_bad_s_events" if bad else "truth_good_events"] += 1
                    tot["truth_bad_s_removed" if bad else "truth_good_removed"] += int(dropped)
            if not dropped:
                save_pseudo(out / f.name, rec["data"], rec["p_idx"], rec["s_idx"], mask)
            lines.append(json.dumps({"file": f"{d.name}/{f.name}", "kept": not dropped, **info}))
    (out / "filter.jsonl").write_text("\n".join(lines) + "\n")
    return tot
