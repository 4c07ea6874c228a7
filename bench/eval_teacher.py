"""Validate the PhaseNet ONNX teacher on the 154 labelled NCEDC 3-C seismograms.

Each trace (9001 samples, 100 Hz, E/N/Z, analyst ``itp``/``its``) gives one
3000-sample window with the P arrival at a random offset (seeded; the S
arrival kept inside when it fits).  Picks: threshold 0.3, minimum peak
distance 50 samples; a truth arrival is matched by the nearest pick within
0.5 s.  Prints and optionally writes precision / recall / F1 and the residual
(pick - truth) mean ± std per phase.

    .venv/bin/python bench/eval_teacher.py [--model models/phasenet/phasenet_teacher.onnx] [--seed 0]

Waveform data: Northern California Earthquake Data Center (NCEDC),
doi:10.7932/NCEDC, via the PhaseNet repository.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.seismic.teacher.runtime import detect_peaks, load_session, predict  # noqa: E402

NT = 3000
FS = 100.0


def load_windows(data_dir: Path, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """``[n, 3000, 3]`` windows and the P / S sample index inside each window."""
    files = sorted(glob.glob(str(data_dir / "*.npz")))
    if not files:
        raise FileNotFoundError(f"no *.npz in {data_dir}")
    rng = np.random.default_rng(seed)
    xs, tps, tss = [], [], []
    for f in files:
        d = np.load(f)
        data = d["data"].astype(np.float32)
        itp, its = int(d["itp"]), int(d["its"])
        sp = its - itp
        hi = max(101, NT - sp - 100)
        off = int(rng.integers(100, min(hi, NT - 100)))
        start = itp - off
        start = min(max(start, 0), data.shape[0] - NT)
        xs.append(data[start : start + NT])
        tps.append(itp - start)
        tss.append(its - start)
    return np.stack(xs), np.array(tps), np.array(tss), [Path(f).name for f in files]


def score(prob: np.ndarray, truth: np.ndarray, phase_col: int, *, threshold=0.3, mpd=50, tol_s=0.5):
    """Precision, recall, F1 and residuals for one phase."""
    tol = int(round(tol_s * FS))
    n_pick = tp = 0
    res = []
    for p, t in zip(prob[:, :, phase_col], truth):
        idx = detect_peaks(p, threshold, mpd)
        n_pick += idx.size
        if 0 <= t < p.size and idx.size:
            j = int(np.argmin(np.abs(idx - t)))
            if abs(idx[j] - t) <= tol:
                tp += 1
                res.append((idx[j] - t) / FS)
    n_true = int(np.sum((truth >= 0) & (truth < prob.shape[1])))
    prec = tp / n_pick if n_pick else 0.0
    rec = tp / n_true if n_true else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    res = np.array(res)
    return {
        "precision": prec, "recall": rec, "f1": f1, "n_true": n_true, "n_pick": n_pick,
        "res_mean": float(res.mean()) if res.size else float("nan"),
        "res_std": float(res.std()) if res.size else float("nan"),
    }


def evaluate(model: str | Path | None = None, data_dir: str | Path | None = None, seed: int = 0) -> dict:
    if data_dir is None:
        shared = Path(os.environ.get("DASEDGE_SHARED", ROOT.parent / "shared"))
        data_dir = shared / "data" / "phasenet" / "ncedc-labelled-3c"
    data_dir = Path(data_dir)
    x, itp, its, _ = load_windows(data_dir, seed)
    sess = load_session(model)
    t0 = time.perf_counter()
    prob = predict(sess, x)
    elapsed = time.perf_counter() - t0
    return {"P": score(prob, itp, 1), "S": score(prob, its, 2), "n": len(x), "seconds": elapsed}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--data", default=None, help="folder of ncedc-labelled-3c npz files")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    r = evaluate(args.model, args.data, args.seed)
    print(f"{r['n']} windows in {r['seconds']:.2f} s")
    for ph in ("P", "S"):
        s = r[ph]
        print(
            f"{ph}: precision {s['precision']:.3f} recall {s['recall']:.3f} F1 {s['f1']:.3f} "
            f"residual {s['res_mean']:+.3f} ± {s['res_std']:.3f} s  (picks {s['n_pick']}, true {s['n_true']})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
