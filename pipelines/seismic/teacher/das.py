"""The 3-C PhaseNet teacher applied to DAS, channel by channel.

Used for pseudo-labels (PhaseNet-DAS semi-supervised training) and as the
baseline the DAS student must beat.  Steps:

1. resample every channel to 100 Hz (polyphase FIR, i.e. with an anti-alias
   low-pass; the first output sample stays at ``block.t0_ns``);
2. copy each DAS channel into E, N and Z (works better than Z only);
3. cut overlapping 3000-sample windows (the last one aligned to the record
   end; records shorter than a window use one window of the record length,
   the graph accepts any length), z-score each window, and run all channels
   of a window as one onnxruntime batch;
4. stitch the windows with a Hann weight (window centres count more than
   edges), then pick peaks per channel and phase.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Iterable, NamedTuple

import numpy as np
from scipy import signal as sps

from dasedge.block import DASBlock
from pipelines.seismic.teacher.runtime import load_session, peaks_2d

__all__ = [
    "TeacherPick",
    "resample_to",
    "teacher_probabilities",
    "teacher_picks",
    "score_picks",
]

FS_MODEL = 100.0
NT_MODEL = 3000


class TeacherPick(NamedTuple):
    """One teacher pick: ``(channel, t_ns, phase, score)``."""

    channel: int
    t_ns: int
    phase: str
    score: float


def resample_to(data: np.ndarray, fs_in: float, fs_out: float = FS_MODEL) -> np.ndarray:
    """Resample ``[time, channel]`` data along time with an anti-alias FIR.

    Uses :func:`scipy.signal.resample_poly` with the rational ratio
    ``fs_out / fs_in`` (denominator up to 1000).  Sample 0 keeps its time.
    """
    if abs(fs_in - fs_out) < 1e-9 * fs_out:
        return np.asarray(data, dtype=np.float32)
    ratio = Fraction(fs_out / fs_in).limit_denominator(1000)
    out = sps.resample_poly(np.asarray(data, dtype=np.float64), ratio.numerator, ratio.denominator, axis=0)
    return out.astype(np.float32)


def _window_starts(n: int, nt: int, step: int) -> list[int]:
    if n <= nt:
        return [0]
    starts = list(range(0, n - nt + 1, step))
    if starts[-1] != n - nt:
        starts.append(n - nt)
    return starts


def teacher_probabilities(
    block: DASBlock,
    *,
    session: Any = None,
    model: str | None = None,
    overlap: float = 0.5,
    batch_size: int = 512,
    common_mode: bool = False,
) -> tuple[np.ndarray, float]:
    """Stitched teacher probabilities ``[nt_100Hz, channel, 3]`` ([noise, P, S]).

    Parameters
    ----------
    block
        Any DAS block (strain rate recommended); sampled at any rate.
    session, model
        An onnxruntime session, or the model path to load (default model).
    overlap
        Fraction of the 3000-sample window shared by consecutive windows.
    batch_size
        Windows per onnxruntime call (channels are the batch dimension).
    common_mode
        Subtract the median across channels at each sample before picking
        (off by default: it also removes near-vertical moveout).

    Returns
    -------
    prob, dt_s
        Probabilities on the 100 Hz grid starting at ``block.t0_ns``, and 0.01.
    """
    sess = session if session is not None else load_session(model)
    x = resample_to(block.data, block.fs, FS_MODEL)
    if common_mode and x.shape[1] > 2:
        x = x - np.median(x, axis=1, keepdims=True)
    n, nch = x.shape
    nt = min(NT_MODEL, n)
    step = max(1, int(round(nt * (1.0 - overlap))))
    starts = _window_starts(n, nt, step)
    taper = np.maximum(np.hanning(nt + 2)[1:-1], 1e-3).astype(np.float32) if len(starts) > 1 else np.ones(nt, np.float32)
    acc = np.zeros((n, nch, 3), dtype=np.float32)
    wsum = np.zeros(n, dtype=np.float32)
    for s in starts:  # per window; all channels batched
        seg = x[s : s + nt].T  # [nch, nt]
        seg = seg - seg.mean(axis=1, keepdims=True)
        std = seg.std(axis=1, keepdims=True)
        std[std == 0] = 1.0
        seg = (seg / std).astype(np.float32)
        inp = np.repeat(seg[:, :, None], 3, axis=2)  # E = N = Z = the DAS channel
        for i in range(0, nch, batch_size):
            p = sess.run(["prob"], {"waveform": inp[i : i + batch_size]})[0]  # [b, nt, 3]
            acc[s : s + nt, i : i + batch_size] += p.transpose(1, 0, 2) * taper[:, None, None]
        wsum[s : s + nt] += taper
    return acc / wsum[:, None, None], 1.0 / FS_MODEL


def teacher_picks(
    block: DASBlock,
    *,
    threshold: float = 0.5,
    min_distance: int = 50,
    session: Any = None,
    model: str | None = None,
    overlap: float = 0.5,
    batch_size: int = 512,
    common_mode: bool = False,
) -> list[TeacherPick]:
    """Teacher picks on a DAS block.

    Parameters
    ----------
    threshold
        Minimum phase probability of a pick (0.5 as in the PhaseNet-DAS
        pseudo-labelling; the 3-C validation uses 0.3).
    min_distance
        Minimum distance between two picks of one phase on one channel, in
        100 Hz samples (the highest wins).
    Other parameters as in :func:`teacher_probabilities`.

    Returns
    -------
    list of TeacherPick
        ``(channel, t_ns, phase, score)`` with ``channel`` taken from
        ``block.channel_index``; sorted by channel, phase, time.
    """
    prob, dt = teacher_probabilities(
        block, session=session, model=model, overlap=overlap, batch_size=batch_size, common_mode=common_mode
    )
    picks: list[TeacherPick] = []
    for col, phase in ((1, "P"), (2, "S")):
        rows, idx = peaks_2d(prob[:, :, col].T, threshold, min_distance)
        t_ns = block.t0_ns + np.round(idx * dt * 1e9).astype(np.int64)
        ch = block.channel_index[rows]
        sc = prob[idx, rows, col]
        picks.extend(TeacherPick(int(c), int(t), phase, float(v)) for c, t, v in zip(ch, t_ns, sc))
    picks.sort(key=lambda p: (p.channel, p.phase, p.t_ns))
    return picks


def score_picks(
    picks: Iterable[TeacherPick | tuple],
    arrivals: Iterable[dict],
    *,
    tol_s: float = 0.5,
    channels: Iterable[int] | None = None,
) -> dict[str, dict[str, float]]:
    """Precision / recall / F1 and residuals of picks against truth arrivals.

    Each truth arrival (``channel, phase, t_ns``) is matched one-to-one to the
    nearest unmatched pick of the same channel and phase within ``tol_s``.
    ``channels`` optionally restricts both sides (e.g. to live channels).
    """
    keep = None if channels is None else set(int(c) for c in channels)
    tol = int(round(tol_s * 1e9))
    by_key: dict[tuple[int, str], list[int]] = {}
    for p in picks:
        c, t, ph = int(p[0]), int(p[1]), str(p[2])
        if keep is None or c in keep:
            by_key.setdefault((c, ph), []).append(t)
    truth: dict[tuple[int, str], list[int]] = {}
    for a in arrivals:
        c = int(a["channel"])
        if keep is None or c in keep:
            truth.setdefault((c, a["phase"]), []).append(int(a["t_ns"]))
    out: dict[str, dict[str, float]] = {}
    for phase in ("P", "S"):
        n_pick = sum(len(v) for k, v in by_key.items() if k[1] == phase)
        n_true = sum(len(v) for k, v in truth.items() if k[1] == phase)
        res: list[float] = []
        for key, ts in truth.items():
            if key[1] != phase or key not in by_key:
                continue
            cand = np.array(sorted(by_key[key]), dtype=np.int64)
            used = np.zeros(cand.size, dtype=bool)
            for t in sorted(ts):
                d = np.abs(cand - t).astype(np.float64)
                d[used] = np.inf
                j = int(np.argmin(d))
                if d[j] <= tol:
                    used[j] = True
                    res.append((cand[j] - t) / 1e9)
        tp = len(res)
        prec = tp / n_pick if n_pick else 0.0
        rec = tp / n_true if n_true else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        r = np.array(res)
        out[phase] = {
            "precision": prec, "recall": rec, "f1": f1, "n_pick": n_pick, "n_true": n_true,
            "res_mean": float(r.mean()) if r.size else float("nan"),
            "res_std": float(r.std()) if r.size else float("nan"),
        }
    return out
