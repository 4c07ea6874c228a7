"""One-to-one scoring of detected vehicles against synthetic truth.

Matching: Hungarian assignment (``scipy.optimize.linear_sum_assignment``) on
``|t_ref_pred - t_ref_true|`` within ``tol_s`` (default 3 s) and the same
direction.  Only *complete* truth vehicles (whole line inside the scored
data, ``truth["complete"]``) count; a prediction matched to an incomplete
truth vehicle is neither a hit nor a false alarm.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment


def _get(r: Any, k: str):
    return r[k] if isinstance(r, dict) else getattr(r, k)


def _lane(r: Any):
    return r.get("lane") if isinstance(r, dict) else getattr(r, "lane", None)


def match(pred: list[Any], truth: list[dict[str, Any]], tol_s: float = 3.0,
          valid: tuple[int, int] | None = None, edge_s: float = 2.0) -> dict[str, Any]:
    """Score ``pred`` (Vehicle records or dicts) against truth rows; returns metrics + pairs.

    A truth vehicle counts only if its whole line lies inside the data with
    ``edge_s`` to spare: ``truth["complete"]`` and, if ``valid=(t_lo, t_hi)``
    (data start/end, ns) is given, entry >= t_lo + edge and exit <= t_hi - edge.
    """
    n_p, n_t = len(pred), len(truth)
    big = 1e9
    cost = np.full((n_p, n_t), big)
    if n_p and n_t:
        tp = np.array([_get(p, "t_ref_ns") for p in pred], dtype=np.float64) / 1e9
        tt = np.array([r["t_ref_ns"] for r in truth], dtype=np.float64) / 1e9
        dp = np.array([_get(p, "direction") for p in pred])
        dt = np.array([r["direction"] for r in truth])
        dif = np.abs(tp[:, None] - tt[None, :])
        ok = (dif <= tol_s) & (dp[:, None] == dt[None, :])
        cost = np.where(ok, dif, big)
    pairs = []
    if n_p and n_t:
        ri, ci = linear_sum_assignment(cost)
        pairs = [(int(i), int(j)) for i, j in zip(ri, ci) if cost[i, j] < big]
    complete = np.array([bool(r.get("complete", True)) for r in truth], dtype=bool)
    if valid is not None and n_t:
        e = int(edge_s * 1e9)
        t_in = np.array([min(r["t_entry_ns"], r["t_exit_ns"]) for r in truth])
        t_out = np.array([max(r["t_entry_ns"], r["t_exit_ns"]) for r in truth])
        complete &= (t_in >= valid[0] + e) & (t_out <= valid[1] - e)
    matched_t = {j for _, j in pairs}
    matched_p = {i for i, _ in pairs}
    tp_pairs = [(i, j) for i, j in pairs if complete[j]]
    ignored_p = {i for i, j in pairs if not complete[j]}
    n_true = int(complete.sum())
    n_tp = len(tp_pairs)
    n_fp = n_p - n_tp - len(ignored_p)
    n_fn = n_true - n_tp
    prec = n_tp / max(n_tp + n_fp, 1)
    rec = n_tp / max(n_true, 1)
    f1 = 2 * prec * rec / max(prec + rec, 1e-12)
    sp_err = np.array([_get(pred[i], "speed_kmh") - truth[j]["speed_kmh"] for i, j in tp_pairs])
    cls_ok = np.array([_get(pred[i], "vehicle_class") == truth[j]["vehicle_class"] for i, j in tp_pairs])
    t_err = np.array([(_get(pred[i], "t_ref_ns") - truth[j]["t_ref_ns"]) / 1e9 for i, j in tp_pairs])
    lane_ok = np.array([_get(pred[i], "lane") == truth[j]["lane"] for i, j in tp_pairs
                        if _lane(pred[i]) is not None and "lane" in truth[j]], dtype=bool)
    truck_t = np.array([truth[j]["vehicle_class"] == "truck" for _, j in tp_pairs], dtype=bool)
    n_pred_counted = n_p - len(ignored_p)
    return dict(
        n_true=n_true, n_pred=n_pred_counted, tp=n_tp, fp=n_fp, fn=n_fn, precision=prec, recall=rec, f1=f1,
        count_error=(n_pred_counted - n_true) / max(n_true, 1),
        speed_mae=float(np.mean(np.abs(sp_err))) if sp_err.size else float("nan"),
        speed_rmse=float(np.sqrt(np.mean(sp_err**2))) if sp_err.size else float("nan"),
        speed_bias=float(np.mean(sp_err)) if sp_err.size else float("nan"),
        t_ref_mae=float(np.mean(np.abs(t_err))) if t_err.size else float("nan"),
        class_acc=float(np.mean(cls_ok)) if cls_ok.size else float("nan"),
        lane_acc=float(np.mean(lane_ok)) if lane_ok.size else float("nan"),
        truck_recall=float(np.mean(cls_ok[truck_t])) if truck_t.any() else float("nan"),
        car_recall=float(np.mean(cls_ok[~truck_t])) if (~truck_t).any() else float("nan"),
        pairs=tp_pairs, unmatched_true=[j for j in range(n_t) if j not in matched_t and complete[j]],
        unmatched_pred=[i for i in range(n_p) if i not in matched_p],
    )


def aggregate(results: list[dict[str, Any]]) -> dict[str, float]:
    """Pool several scene scores (micro-averaged counts, pooled errors weighted by matches)."""
    tp = sum(r["tp"] for r in results)
    fp = sum(r["fp"] for r in results)
    fn = sum(r["fn"] for r in results)
    n_true = sum(r["n_true"] for r in results)
    n_pred = sum(r["n_pred"] for r in results)
    prec = tp / max(tp + fp, 1)
    rec = tp / max(tp + fn, 1)

    def wmean(k):
        w = [(r[k], r["tp"]) for r in results if r["tp"] and np.isfinite(r[k])]
        return float(sum(a * b for a, b in w) / max(sum(b for _, b in w), 1)) if w else float("nan")

    rmse = [(r["speed_rmse"] ** 2, r["tp"]) for r in results if r["tp"] and np.isfinite(r["speed_rmse"])]
    return dict(n_true=n_true, n_pred=n_pred, tp=tp, fp=fp, fn=fn, precision=prec, recall=rec,
                f1=2 * prec * rec / max(prec + rec, 1e-12), count_error=(n_pred - n_true) / max(n_true, 1),
                speed_mae=wmean("speed_mae"),
                speed_rmse=float(np.sqrt(sum(a * b for a, b in rmse) / max(sum(b for _, b in rmse), 1))) if rmse else float("nan"),
                class_acc=wmean("class_acc"), lane_acc=wmean("lane_acc"))


def scene_valid(truth: dict[str, Any]) -> tuple[int, int]:
    """``(t_start_ns, t_end_ns)`` of a synthetic scene (for ``match(valid=...)``)."""
    t0 = int(truth["t0_ns"])
    return t0, t0 + int(round(float(truth["config"]["duration_s"]) * 1e9))
