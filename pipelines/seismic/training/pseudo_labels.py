"""Semi-supervised pseudo-labels: teacher picks -> GaMMA association -> filtered labels.

The recipe of Zhu et al. (2023) (project reference seismic-ml §5), adapted to
the synthetic / user geometry:

1. **teacher** picks on every channel (the original PhaseNet run channel by
   channel, :func:`pipelines.seismic.teacher.das.teacher_picks`, or any
   current PhaseNet-DAS model) with probability > 0.5 and sample index > 10;
2. **GaMMA** (``gamma.utils.association``, BGMM, ``oversample_factor`` 5, no
   DBSCAN, no amplitudes, uniform velocity, every channel a station at z = 0);
3. **filters**: keep only channels with *both* P and S for an event; drop
   events with fewer than ``min_p`` P, ``min_s`` S or ``min_picks`` picks
   (scaled to the number of channels: the paper's 50/50/100 were for arrays
   of thousands of channels); GaMMA's residual cut ``max_sigma11`` (0.3 s as
   in the paper); **duplicates**: of two events whose mean P (or S) sample
   index lies within 500 samples, keep the one with the larger
   ``gamma_score / sigma_time``.

The result is per-event arrival sample indices ``[n_ev, nx]`` (NaN where the
channel is not labelled) and a channel mask (channels labelled for every kept
event); unlabelled channels are ignored by the loss.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

FS = 100.0
DUP_SAMPLES = 500


@dataclass
class GammaSettings:
    """GaMMA settings (paper values where they apply to a small array)."""

    vp: float = 5.5
    vp_vs: float = 1.75
    z_km: tuple[float, float] = (0.0, 30.0)
    xy_margin_km: float = 60.0
    oversample_factor: float = 5.0
    max_sigma11: float = 0.3
    min_p_frac: float = 0.1  # of the channels (paper: 50 of > 1000)
    min_p_abs: int = 10
    method: str = "BGMM"


@dataclass
class PseudoLabels:
    """Pseudo-labels of one record."""

    p_idx: np.ndarray  # [n_ev, nx] sample index, NaN where unlabelled
    s_idx: np.ndarray
    mask: np.ndarray  # [nx] float32
    events: list[dict] = field(default_factory=list)
    n_teacher: int = 0
    n_associated: int = 0

    @property
    def associated_fraction(self) -> float:
        return self.n_associated / self.n_teacher if self.n_teacher else float("nan")


def gamma_config(x_km: np.ndarray, y_km: np.ndarray, nx: int, s: GammaSettings) -> dict:
    """GaMMA config for a fiber whose channels sit at ``(x_km, y_km, 0)``."""
    m = s.xy_margin_km
    xr = (float(x_km.min() - m), float(x_km.max() + m))
    yr = (float(y_km.min() - m), float(y_km.max() + m))
    min_p = max(s.min_p_abs, int(round(s.min_p_frac * nx)))
    return {
        "dims": ["x(km)", "y(km)", "z(km)"],
        "use_dbscan": False,
        "use_amplitude": False,
        "method": s.method,
        "oversample_factor": s.oversample_factor,
        "vel": {"p": s.vp, "s": s.vp / s.vp_vs},
        "x(km)": xr,
        "y(km)": yr,
        "z(km)": s.z_km,
        "bfgs_bounds": (
            (xr[0] - 1, xr[1] + 1),
            (yr[0] - 1, yr[1] + 1),
            (s.z_km[0], s.z_km[1] + 1),
            (None, None),
        ),
        "min_picks_per_eq": 2 * min_p,
        "min_p_picks_per_eq": min_p,
        "min_s_picks_per_eq": min_p,
        "max_sigma11": s.max_sigma11,
        "ncpu": 1,
    }


def _gamma_sklearn_compat() -> None:
    """gmma 1.2.12 calls ``self._check_n_features`` which scikit-learn 1.7 moved to a function."""
    from gamma import _base

    if not hasattr(_base.BaseMixture, "_check_n_features"):
        from sklearn.utils.validation import _check_n_features

        def _cnf(self, X, reset):  # noqa: N803
            _check_n_features(self, X, reset=reset)

        _base.BaseMixture._check_n_features = _cnf


def associate(
    picks: Sequence[tuple[int, int, str, float]],
    x_km: np.ndarray,
    y_km: np.ndarray,
    settings: GammaSettings | None = None,
) -> tuple[list[dict], list[tuple[int, int, float]]]:
    """Run GaMMA on ``(channel, sample, phase "P"/"S", score)`` picks; returns (events, assignments)."""
    import pandas as pd
    from gamma.utils import association

    _gamma_sklearn_compat()
    s = settings or GammaSettings()
    nx = len(x_km)
    if not picks:
        return [], []
    ch = np.array([p[0] for p in picks], dtype=int)
    smp = np.array([p[1] for p in picks], dtype=float)
    base = pd.Timestamp("2000-01-01T00:00:00", tz="UTC")
    pk = pd.DataFrame(
        {
            "id": [f"c{c}" for c in ch],
            "timestamp": [base + pd.Timedelta(seconds=v / FS) for v in smp],
            "type": [p[2].lower() for p in picks],
            "prob": [float(p[3]) for p in picks],
        }
    )
    st = pd.DataFrame({"id": [f"c{i}" for i in range(nx)], "x(km)": x_km, "y(km)": y_km, "z(km)": np.zeros(nx)})
    cfg = gamma_config(x_km, y_km, nx, s)
    with contextlib.redirect_stdout(io.StringIO()):
        events, assign = association(pk, st, cfg, method=s.method)
    return list(events), [(int(a), int(b), float(c)) for a, b, c in assign]


def filter_events(
    picks: Sequence[tuple[int, int, str, float]],
    events: list[dict],
    assignments: list[tuple[int, int, float]],
    nx: int,
    settings: GammaSettings | None = None,
) -> PseudoLabels:
    """Apply the paper's filters and build per-event arrival arrays."""
    s = settings or GammaSettings()
    min_p = max(s.min_p_abs, int(round(s.min_p_frac * nx)))
    by_ev: dict[int, dict[str, np.ndarray]] = {}
    for pick_i, ev_i, _ in assignments:
        c, smp, ph, _sc = picks[pick_i]
        d = by_ev.setdefault(ev_i, {"P": np.full(nx, np.nan), "S": np.full(nx, np.nan)})
        d[ph.upper()][c] = smp
    kept = []
    for ev in events:
        k = int(ev["event_index"])
        if k not in by_ev:
            continue
        p, sa = by_ev[k]["P"], by_ev[k]["S"]
        both = np.isfinite(p) & np.isfinite(sa)
        n_both = int(both.sum())
        if n_both < min_p:
            continue
        p = np.where(both, p, np.nan)
        sa = np.where(both, sa, np.nan)
        quality = float(ev.get("gamma_score", 1.0)) / max(float(ev.get("sigma_time", 1.0)), 1e-6)
        kept.append({"event": dict(ev), "P": p, "S": sa, "quality": quality})
    # duplicates: mean P or S index within 500 samples -> keep the better one
    kept.sort(key=lambda e: -e["quality"])
    final: list[dict] = []
    for e in kept:
        mp, ms = np.nanmean(e["P"]), np.nanmean(e["S"])
        if any(abs(mp - np.nanmean(f["P"])) < DUP_SAMPLES or abs(ms - np.nanmean(f["S"])) < DUP_SAMPLES for f in final):
            continue
        final.append(e)
    if final:
        p_idx = np.stack([e["P"] for e in final])
        s_idx = np.stack([e["S"] for e in final])
        mask = np.all(np.isfinite(p_idx) & np.isfinite(s_idx), axis=0).astype(np.float32)
    else:
        p_idx = s_idx = np.zeros((0, nx))
        mask = np.zeros(nx, np.float32)
    n_assoc = int(sum(np.isfinite(e["P"]).sum() + np.isfinite(e["S"]).sum() for e in final))
    return PseudoLabels(p_idx, s_idx, mask, [e["event"] for e in final], len(picks), n_assoc)


def teacher_picker(threshold: float = 0.5) -> Callable[[np.ndarray], list[tuple[int, int, str, float]]]:
    """The original PhaseNet run channel by channel (``pipelines.seismic.teacher``) on 100 Hz data."""
    from dasedge.block import DASBlock
    from pipelines.seismic.teacher.das import teacher_picks
    from pipelines.seismic.teacher.runtime import load_session

    sess = load_session()

    def pick(data: np.ndarray) -> list[tuple[int, int, str, float]]:
        blk = DASBlock(data=data, t0_ns=0, dt_s=1 / FS, distance_m=np.arange(data.shape[1], dtype=float))
        out = []
        for p in teacher_picks(blk, threshold=threshold, session=sess):
            smp = int(round(p.t_ns / 1e9 * FS))
            if smp > 10 and p.score > threshold:
                out.append((int(p.channel), smp, p.phase, float(p.score)))
        return out

    return pick


def model_picker(onnx_path: str, threshold: float = 0.5) -> Callable[[np.ndarray], list[tuple[int, int, str, float]]]:
    """A PhaseNet-DAS ONNX model as the teacher (self-training / fine-tuning)."""
    from pipelines.seismic.onnx_model import PhaseNetDAS

    net = PhaseNetDAS(onnx_path)

    def pick(data: np.ndarray) -> list[tuple[int, int, str, float]]:
        return [
            (c, t, "P" if ph == 1 else "S", sc)
            for c, ph, t, sc in net.picks(data, min_prob=threshold)
            if t > 10
        ]

    return pick


def pseudo_label(
    data: np.ndarray,
    x_km: np.ndarray,
    y_km: np.ndarray,
    picker: Callable[[np.ndarray], list[tuple[int, int, str, float]]],
    settings: GammaSettings | None = None,
) -> PseudoLabels:
    """Teacher -> GaMMA -> filters for one ``[nt, nx]`` 100 Hz record."""
    picks = picker(data)
    events, assign = associate(picks, x_km, y_km, settings)
    return filter_events(picks, events, assign, data.shape[1], settings)


#: Scene focus of stage 3 (what the stage-2 student lacked): ``seed % 4`` picks the category, the
#: parameters come from a separate RNG stream of the seed. ``snr`` is the P-phase SNR (dB) of the
#: first event, ``epi``/``depth`` ranges in km (near + shallow gives S-P < 1 s).
STAGE3_MIX: tuple[dict, ...] = (
    {"name": "high-snr", "snr": (15.0, 30.0)},
    {"name": "near-shallow", "snr": (0.0, 30.0), "epi": (0.0, 5.0), "depth": (2.0, 5.0)},
    {"name": "low-snr", "snr": (0.0, 5.0)},
    {"name": "near-shallow-high-snr", "snr": (15.0, 30.0), "epi": (0.0, 4.0), "depth": (2.0, 4.0)},
)


def scene_focus(seed: int, mix: str | None) -> dict:
    """Keyword arguments for :func:`scenes.simulate` of a focused pseudo-label scene (``{}`` without a mix)."""
    if mix is None:
        return {}
    if mix != "stage3":
        raise ValueError(f"unknown scene mix {mix!r} (known: stage3)")
    cat = STAGE3_MIX[seed % len(STAGE3_MIX)]
    rng = np.random.default_rng(seed + 11_000_000)
    kw: dict = {"snr_db": float(rng.uniform(*cat["snr"]))}
    if "epi" in cat:
        kw["epi_km"] = cat["epi"]
        kw["depth_km"] = cat["depth"]
    return kw


def build_synthetic_set(
    out_dir: str,
    seeds: Sequence[int],
    picker: Callable[[np.ndarray], list[tuple[int, int, str, float]]],
    *,
    nt: int = 3000,
    nx: int = 256,
    settings: GammaSettings | None = None,
    log: Callable[[str], None] = print,
    mix: str | None = None,
) -> dict:
    """Pseudo-label synthetic scenes (training seeds only) into ``out_dir/*.npz`` + ``stats.jsonl``.

    Only the data and the pseudo-labels are stored: the simulator's truth is
    used afterwards for reporting the label quality, never for training.
    ``mix="stage3"`` focuses the scenes (:data:`STAGE3_MIX`: high SNR, near/shallow events with
    short S-P, 0-5 dB); seeds already listed in ``stats.jsonl`` are skipped (resumable).
    """
    import json
    from pathlib import Path

    from pipelines.seismic.training import scenes
    from pipelines.seismic.training.dataset import save_pseudo

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tot = {"records": 0, "kept_records": 0, "teacher_picks": 0, "associated": 0, "true_events": 0, "kept_events": 0,
           "label_abs_err_p": [], "label_abs_err_s": []}
    done = set()
    if (out / "stats.jsonl").is_file():
        done = {json.loads(x)["seed"] for x in (out / "stats.jsonl").read_text().splitlines() if x.strip()}
    for seed in seeds:
        if seed >= scenes.EVAL_SEED0:
            raise ValueError("pseudo-label seeds must be training seeds")
        if seed in done:
            continue
        t_start = time.perf_counter()
        focus = scene_focus(seed, mix)
        sc = scenes.simulate(seed, nt=nt, nx=nx, **focus)
        pl = pseudo_label(sc.data, sc.x_km, sc.y_km, picker, settings)
        tot["records"] += 1
        tot["teacher_picks"] += pl.n_teacher
        tot["associated"] += pl.n_associated
        tot["true_events"] += len(sc.events)
        tot["kept_events"] += len(pl.events)
        arr = sc.arrivals()
        err_p, err_s = [], []
        for e in range(pl.p_idx.shape[0]):  # label quality vs truth (report only), samples
            if arr["P"].shape[0]:
                k = int(np.argmin([np.nanmedian(np.abs(pl.p_idx[e] - a)) for a in arr["P"]]))
                err_p.append(float(np.nanmedian(np.abs(pl.p_idx[e] - arr["P"][k]))))
                err_s.append(float(np.nanmedian(np.abs(pl.s_idx[e] - arr["S"][k]))))
        tot["label_abs_err_p"] += err_p
        tot["label_abs_err_s"] += err_s
        if pl.events:
            tot["kept_records"] += 1
            save_pseudo(out / f"syn{seed:07d}.npz", sc.data, pl.p_idx, pl.s_idx, pl.mask)
        rec = {"seed": seed, "true_events": len(sc.events), "kept_events": len(pl.events), "teacher_picks": pl.n_teacher,
               "associated": pl.n_associated, "labelled_channels": int(pl.mask.sum()), "snr_db": sc.snr_db,
               "mix": STAGE3_MIX[seed % len(STAGE3_MIX)]["name"] if mix else None,
               "min_sp_s": float(min((e.s_s - e.p_s).min() for e in sc.events)) if sc.events else None,
               "label_err_p": err_p, "label_err_s": err_s,
               "seconds": round(time.perf_counter() - t_start, 2)}
        with open(out / "stats.jsonl", "a") as fh:
            fh.write(json.dumps(rec) + "\n")
        log(json.dumps(rec))
    return tot
