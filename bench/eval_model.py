"""Accuracy of the shipped PhaseNet-DAS student vs the PhaseNet teacher (channel by channel).

Held-out synthetic scenes (seeds >= 1,000,000, never used in training) from two
generators:

* ``quake`` - ``dasedge.synth.quake.simulate_quake_scene`` (written
  independently of the training generator: 512 channels x 60 s, 8 m, straight
  / bent / curved fibers, near-field events);
* ``train-gen`` - ``pipelines.seismic.training.scenes.simulate`` (the training
  distribution: 256 channels x 40 s, 8-10 m, 0-2 events).

Metrics per SNR bin (P-phase SNR, same definition in both generators): pick
precision / recall / F1 for P within 0.1 s and S within 0.2 s (one-to-one
matching per channel), residual mean / std of matched picks; dead channels
excluded. Plus a smoke test on the real mine event (DASDAE
``deformation_rate_event_1.hdf5``) and the fraction of teacher picks GaMMA
associated during pseudo-labelling (from ``--pseudo-stats``).

``--overlap-per-bin N`` adds per-event P/S pick recall on scenes with two events 3 s apart
(``bench/eval_seismic.py``'s layout; its evaluation scenes on the eval split, seeds from 930,000
on the validation split): the second event's P recall measures picks inside another event's S coda.

Checkpoint selection uses ``--split validation``: the same generators and bins on seeds
900,000-999,999 (``quake`` from 900,000, ``train-gen`` from 950,000), below the evaluation range
and above every training seed. ``--rows-from JSON`` reuses rows of an earlier run on the same
split and per-bin counts (the scenes are deterministic in the seed, the pickers deterministic;
the scene truth counts are checked to match): by default the teacher's (instead of re-running
the 3-C teacher), ``--reuse-row student="stage 2"`` also copies (and renames) a model's rows.

Usage::

    .venv/bin/python bench/eval_model.py --model models/phasenet_das/phasenet_das_edge.onnx \
        [--model teacher-labels=path.onnx] --per-bin 4 --out bench/results/model_eval.json
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dasedge.block import DASBlock  # noqa: E402
from pipelines.seismic.onnx_model import PhaseNetDAS, detect_peaks  # noqa: E402
from pipelines.seismic.teacher.das import score_picks, teacher_probabilities  # noqa: E402
from pipelines.seismic.teacher.runtime import load_session, peaks_2d  # noqa: E402
from pipelines.seismic.training import scenes  # noqa: E402

BINS = (-5.0, 0.0, 5.0, 10.0, 20.0)
TOL = {"P": 0.1, "S": 0.2}


def quake_scene(seed: int, snr: float):
    from dasedge.synth.quake import simulate_quake_scene

    rng = np.random.default_rng(seed)
    geom = ["straight", "bent", "curved"][seed % 3]
    blk, truth = simulate_quake_scene(
        n_channels=512, dx_m=8.0, duration_s=60.0, n_events=1, seed=seed, snr_db=snr, geometry=geom,
        sp_ratio=float(rng.uniform(1.5, 3.0)), vp_kms=float(rng.uniform(5.0, 6.5)),
    )
    live = sorted(set(range(blk.n_channel)) - set(truth["dead_channels"]))
    return blk, truth["arrivals"], live


def own_scene(seed: int, snr: float):
    sc = scenes.simulate(seed, nt=4000, nx=256, snr_db=snr, n_events=None)
    blk = sc.to_block(t0_ns=0)
    arr = []
    for e in sc.events:
        for ph, tt in (("P", e.p_s), ("S", e.s_s)):
            ok = (tt >= 0) & (tt < sc.nt * sc.dt_s)
            arr += [{"channel": int(c), "phase": ph, "t_ns": int(round(tt[c] * 1e9))} for c in np.nonzero(ok)[0]]
    live = np.nonzero(~sc.dead)[0].tolist()
    return blk, arr, live


PEAK_KERNEL = 21


def student_picks(prob: np.ndarray, blk: DASBlock, threshold: float, kernel: int | None = None):
    """Picks from student probabilities ``[3, nt, nx]`` (100 Hz grid from ``blk.t0_ns``)."""
    out = []
    for c, ph, t, sc in detect_peaks(prob, dt_s=0.01, min_prob=threshold, kernel=kernel or PEAK_KERNEL):
        out.append((int(blk.channel_index[c]), blk.t0_ns + int(round(t * 1e7)), "P" if ph == 1 else "S", sc))
    return out


def teacher_picks_from_prob(prob: np.ndarray, blk: DASBlock, threshold: float, min_distance: int = 50):
    """Same as ``teacher_picks`` (peaks_2d, 0.5 s minimum distance) on precomputed ``[nt, nx, 3]`` probabilities."""
    out = []
    for col, phase in ((1, "P"), (2, "S")):
        rows, idx = peaks_2d(prob[:, :, col].T, threshold, min_distance)
        t_ns = blk.t0_ns + np.round(idx * 0.01 * 1e9).astype(np.int64)
        out.extend((int(blk.channel_index[r]), int(t), phase, float(prob[i, r, col])) for r, t, i in zip(rows, t_ns, idx))
    return out


def score(picks, arrivals, live):
    res = {}
    for ph, tol in TOL.items():
        s = score_picks(picks, arrivals, tol_s=tol, channels=live)[ph]
        res[ph] = s
    return res


OVERLAP_SEED_BASE_VAL = 930_000  # validation overlapping pairs (same layout as eval_seismic's scenes)


@functools.lru_cache(maxsize=1)
def _eval_seismic():
    """``bench/eval_seismic.py`` as a module (its scene layout and seeds)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("eval_seismic", ROOT / "bench" / "eval_seismic.py")
    es = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(es)
    return es


def overlap_scene(snr: float, k: int, val: bool):
    """Scene ``k`` of an SNR bin with two events whose origins are 3 s apart (plus a separated third).

    Evaluation: exactly ``bench/eval_seismic.py``'s event-F1 scenes (its evaluation seeds); validation:
    the same layout on seeds from :data:`OVERLAP_SEED_BASE_VAL`.
    """
    es = _eval_seismic()
    blk, truth, _, _ = es.make_scene(snr, k, OVERLAP_SEED_BASE_VAL if val else es.EVAL_SEED_BASE)
    return blk, truth


def event_recall(picks, truth: dict) -> dict:
    """Per event of ``truth`` (in order) and phase: fraction of live channels with a same-phase pick within tolerance."""
    dead = set(truth["dead_channels"])
    by = {}
    for ch, t, ph, _ in picks:
        by.setdefault((ch, ph), []).append(t)
    by = {k: np.asarray(v) for k, v in by.items()}
    out = []
    for ev in truth["events"]:
        r = {}
        for ph, tol in TOL.items():
            arr = [a for a in truth["arrivals"] if a["event_id"] == ev["event_id"] and a["phase"] == ph
                   and a["channel"] not in dead]
            hit = sum(1 for a in arr if (a["channel"], ph) in by
                      and np.min(np.abs(by[(a["channel"], ph)] - a["t_ns"])) <= tol * 1e9)
            r[ph] = [hit, len(arr)]
        out.append(r)
    return out


def aggregate(rows: list[dict]) -> dict:
    out = {}
    for ph in ("P", "S"):
        n_pick = sum(r[ph]["n_pick"] for r in rows)
        n_true = sum(r[ph]["n_true"] for r in rows)
        tp_list = [r[ph]["recall"] * r[ph]["n_true"] for r in rows]
        tp = sum(tp_list)
        prec = tp / n_pick if n_pick else 0.0
        rec = tp / n_true if n_true else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        w = np.array(tp_list)
        means = np.array([r[ph]["res_mean"] for r in rows], dtype=float)
        stds = np.array([r[ph]["res_std"] for r in rows], dtype=float)
        ok = np.isfinite(means) & (w > 0)
        if ok.any():
            m = float(np.average(means[ok], weights=w[ok]))
            var = float(np.average(stds[ok] ** 2 + (means[ok] - m) ** 2, weights=w[ok]))
        else:
            m, var = float("nan"), float("nan")
        out[ph] = {"precision": prec, "recall": rec, "f1": f1, "n_pick": n_pick, "n_true": n_true,
                   "res_mean_s": m, "res_std_s": float(np.sqrt(var))}
    return out


def mine_event(model: PhaseNetDAS, threshold: float) -> dict:
    from dasedge.io import read
    from pipelines.seismic.teacher.das import resample_to

    path = ROOT.parent / "shared" / "data" / "das-samples" / "deformation_rate_event_1.hdf5"
    blk = read(path)
    data = np.asarray(blk.data, dtype=np.float64)
    note = blk.data_type
    if blk.data_type == "velocity":  # Terra15 records velocity: strain rate = d v / d x
        data = np.gradient(data, blk.dx_m, axis=1)
        note = "velocity -> strain rate (d/dx)"
    x = resample_to(data, blk.fs, 100.0)
    prob = model.annotate(x)
    picks = detect_peaks(prob, dt_s=0.01, min_prob=threshold)
    return {"file": path.name, "raw_shape": list(blk.shape), "fs_hz": round(blk.fs, 2), "dx_m": round(blk.dx_m, 2),
            "converted": note, "shape_100hz": list(x.shape), "max_P": float(prob[1].max()), "max_S": float(prob[2].max()),
            "n_picks_P": sum(1 for p in picks if p[1] == 1), "n_picks_S": sum(1 for p in picks if p[1] == 2)}


def select_thresholds(result: dict, name: str = "student") -> dict:
    """Per-phase thresholds maximising the mean F1 over all SNR bins of both generators.

    ``result`` is an ``eval_model`` JSON run with several ``--threshold`` values (normally on the
    validation split). P and S are scored independently (one-to-one matching per phase), so the
    P threshold and the S threshold are chosen independently; ties go to the value nearer 0.5.
    """
    ths = [str(t) for t in result["thresholds"]]
    out: dict = {"split": result["split"], "metric": "mean F1 over 5 SNR bins x 2 generators", "mean_f1": {}}
    for ph in ("P", "S"):
        means = {}
        for th in ths:
            f1 = [rows[name][ph]["f1"] for gen in result["generators"].values() for rows in gen[th].values()]
            means[th] = float(np.mean(f1))
        best = max(ths, key=lambda t: (round(means[t], 4), -abs(float(t) - 0.5)))
        out[ph] = float(best)
        out["mean_f1"][ph] = {t: round(v, 4) for t, v in means.items()}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", action="append", default=[], help="name=path.onnx or path (name 'student')")
    ap.add_argument("--per-bin", type=int, default=4)
    ap.add_argument("--own-per-bin", type=int, default=3)
    ap.add_argument("--threshold", type=float, nargs="+", default=[0.3, 0.5])
    ap.add_argument("--no-teacher", action="store_true")
    ap.add_argument("--peak-kernel", type=int, default=21, help="student max-pool kernel (samples); reference 21")
    ap.add_argument("--no-mine", action="store_true")
    ap.add_argument("--pseudo-stats", default=str(ROOT / "var" / "pseudo" / "teacher" / "stats.jsonl"))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "model_eval.json"))
    ap.add_argument("--split", choices=["eval", "validation"], default="eval",
                    help="eval: held-out seeds >= 1,000,000; validation: 900,000-999,999 (checkpoint selection)")
    ap.add_argument("--rows-from", default=None, help="reuse rows from an earlier eval JSON (same split, same per-bin)")
    ap.add_argument("--reuse-row", action="append", default=None,
                    help="OLD[=NEW]: row names copied from --rows-from (default: teacher)")
    ap.add_argument("--demean-only", action="store_true",
                    help="preprocess with a per-channel demean only (no across-channel median removal)")
    ap.add_argument("--overlap-per-bin", type=int, default=0,
                    help="also measure per-event pick recall on N scenes per bin with two events 3 s apart "
                         "(second-event P recall; eval split = bench/eval_seismic.py's scenes)")
    ap.add_argument("--select-from", default=None,
                    help="only choose per-phase thresholds from this (validation) JSON and print them")
    args = ap.parse_args(argv)
    if args.select_from:
        res = json.loads(Path(args.select_from).read_text())
        bins = next(iter(next(iter(res["generators"].values())).values()))  # first generator, first threshold
        name = next(iter(next(iter(bins.values()))))  # first picker row
        print(json.dumps(select_thresholds(res, name), indent=1))
        return 0
    global PEAK_KERNEL
    PEAK_KERNEL = args.peak_kernel
    models = {}
    for spec in args.model or [str(ROOT / "models" / "phasenet_das" / "phasenet_das_edge.onnx")]:
        name, _, path = spec.rpartition("=")
        models[name or "student"] = PhaseNetDAS(path, threads=1)
    reuse = None
    reuse_rows = [(r.partition("=")[0], r.partition("=")[2] or r.partition("=")[0]) for r in (args.reuse_row or ["teacher"])]
    if args.rows_from:
        reuse = json.loads(Path(args.rows_from).read_text())
        if reuse.get("split", "eval") != args.split:
            raise SystemExit("--teacher-from JSON is from another split")
    reuse_teacher = reuse is not None and any(o == "teacher" for o, _ in reuse_rows)
    sess = None if (args.no_teacher or reuse_teacher) else load_session(threads=1)
    val = args.split == "validation"
    result = {"split": args.split, "demean_only": args.demean_only, "thresholds": args.threshold, "student_peak_kernel": args.peak_kernel, "tolerance_s": TOL, "bins_db": BINS, "generators": {}, "timing_s": {}}
    timing = {k: 0.0 for k in [*models, "teacher"]}
    thresholds = args.threshold
    for gen, make, per_bin, base in (("quake", quake_scene, args.per_bin, 900_000 if val else scenes.EVAL_SEED0),
                                     ("train-gen", own_scene, args.own_per_bin, 950_000 if val else scenes.EVAL_SEED0 + 500_000)):
        table = {str(th): {} for th in thresholds}
        per_scene = {str(th): {} for th in thresholds}
        for b, snr in enumerate(BINS):
            rows = {th: {k: [] for k in timing} for th in thresholds}
            for i in range(per_bin):
                seed = base + b * 1000 + i
                assert (900_000 <= seed < scenes.EVAL_SEED0) if val else (seed >= scenes.EVAL_SEED0)
                blk, arrivals, live = make(seed, snr)
                for name, m in models.items():
                    t = time.perf_counter()
                    if args.demean_only:
                        x = np.asarray(blk.data, dtype=np.float32)
                        prob = m.annotate(x - x.mean(axis=0, keepdims=True), do_clean=False)
                    else:
                        prob = m.annotate(blk.data)
                    timing[name] += time.perf_counter() - t
                    for th in thresholds:
                        rows[th][name].append(score(student_picks(prob, blk, th), arrivals, live))
                if sess is not None:
                    t = time.perf_counter()
                    tprob, _ = teacher_probabilities(blk, session=sess)
                    timing["teacher"] += time.perf_counter() - t
                    for th in thresholds:
                        rows[th]["teacher"].append(score(teacher_picks_from_prob(tprob, blk, th), arrivals, live))
            for th in thresholds:
                table[str(th)][str(snr)] = {k: aggregate(v) for k, v in rows[th].items() if v}
                per_scene[str(th)][str(snr)] = {k: [[round(r[ph]["f1"], 4) for ph in ("P", "S")] for r in v]
                                                for k, v in rows[th].items() if v}
                if reuse is not None and str(th) in reuse["generators"][gen]:  # thresholds the earlier run had
                    new = next(iter(table[str(th)][str(snr)].values()))
                    for old_name, new_name in reuse_rows:
                        old = reuse["generators"][gen][str(th)][str(snr)][old_name]
                        if any(old[ph]["n_true"] != new[ph]["n_true"] for ph in ("P", "S")):
                            raise SystemExit(f"--rows-from: {gen} {snr} dB scenes differ (truth counts)")
                        table[str(th)][str(snr)][new_name] = old
                line = " | ".join(f"{k}: P {v['P']['f1']:.3f} S {v['S']['f1']:.3f}" for k, v in table[str(th)][str(snr)].items())
                print(f"[{gen} th={th}] {snr:+.0f} dB  {line}", flush=True)
        result["generators"][gen] = table
        result.setdefault("per_scene_f1", {})[gen] = per_scene  # [P F1, S F1] per scene, seed order
    if args.overlap_per_bin:
        ov = {str(th): {} for th in thresholds}
        for snr in BINS:
            acc = {th: {k: np.zeros((2, 2, 2), int) for k in models} for th in thresholds}  # event, phase, [hit, n]
            for k in range(args.overlap_per_bin):
                blk, truth = overlap_scene(snr, k, val)
                for name, m in models.items():
                    prob = m.annotate(blk.data)
                    for th in thresholds:
                        rec = event_recall(student_picks(prob, blk, th), truth)
                        for e in range(2):
                            acc[th][name][e] += np.array([rec[e]["P"], rec[e]["S"]])
            for th in thresholds:
                ov[str(th)][str(snr)] = {
                    name: {f"{lab}_{ph}_recall": float(a[e, j, 0] / max(1, a[e, j, 1]))
                           for e, lab in ((0, "first"), (1, "second")) for j, ph in enumerate(("P", "S"))}
                    for name, a in acc[th].items()}
                line = " | ".join(f"{n}: 2nd P {v['second_P_recall']:.3f} S {v['second_S_recall']:.3f}"
                                  for n, v in ov[str(th)][str(snr)].items())
                print(f"[overlap th={th}] {snr:+.0f} dB  {line}", flush=True)
        result["overlap"] = {"per_bin": args.overlap_per_bin, "recall": ov}
    result["timing_s"] = {k: v for k, v in timing.items() if not (k == "teacher" and reuse_teacher)}
    if reuse is not None:
        result["rows_from"] = {"file": str(args.rows_from), "rows": [f"{o} -> {n}" for o, n in reuse_rows]}
    if not args.no_mine:
        result["mine_event"] = {k: mine_event(m, min(args.threshold)) for k, m in models.items()}
    st = Path(args.pseudo_stats)
    if st.is_file():
        recs = [json.loads(x) for x in st.read_text().splitlines() if x.strip()]
        tp, ta = sum(r["teacher_picks"] for r in recs), sum(r["associated"] for r in recs)
        result["pseudo_labels"] = {"records": len(recs), "teacher_picks": tp, "associated": ta,
                                   "associated_fraction": ta / tp if tp else None,
                                   "records_with_event": sum(1 for r in recs if r["kept_events"]),
                                   "true_events": sum(r["true_events"] for r in recs),
                                   "kept_events": sum(r["kept_events"] for r in recs)}
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result.get("mine_event")))
    print(json.dumps(result.get("pseudo_labels")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
