"""Render bench/results/model.md from model_eval.json and model_bench.json (written by eval/bench scripts)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RES = ROOT / "bench" / "results"


def f(x, nd=3):
    return "n/a" if x is None or x != x else f"{x:.{nd}f}"


def eval_tables(ev: dict) -> list[str]:
    out = []
    for gen, by_th in ev["generators"].items():
        for th, table in by_th.items():
            out += [f"### Generator `{gen}`, threshold {th} (P within {ev['tolerance_s']['P']} s, S within {ev['tolerance_s']['S']} s)", "",
                    "| SNR (dB) | picker | P prec | P rec | P F1 | P res mean±std (s) | S prec | S rec | S F1 | S res mean±std (s) |",
                    "|---|---|---|---|---|---|---|---|---|---|"]
            for snr, rows in table.items():
                for name, m in rows.items():
                    p, s = m["P"], m["S"]
                    out.append(f"| {float(snr):+.0f} | {name} | {f(p['precision'])} | {f(p['recall'])} | **{f(p['f1'])}** | "
                               f"{f(p['res_mean_s'])}±{f(p['res_std_s'])} | {f(s['precision'])} | {f(s['recall'])} | **{f(s['f1'])}** | "
                               f"{f(s['res_mean_s'])}±{f(s['res_std_s'])} |")
            out.append("")
    return out


def mean_f1_table(ev: dict) -> list[str]:
    """Mean F1 over the SNR bins per picker, generator, threshold and phase (and over both phases)."""
    out = ["| generator | threshold | picker | mean P F1 | mean S F1 | mean (P, S) |", "|---|---|---|---|---|---|"]
    for gen, by_th in ev["generators"].items():
        for th, table in by_th.items():
            names = list(next(iter(table.values())).keys())
            for name in names:
                p = [rows[name]["P"]["f1"] for rows in table.values() if name in rows]
                s = [rows[name]["S"]["f1"] for rows in table.values() if name in rows]
                out.append(f"| {gen} | {th} | {name} | {sum(p) / len(p):.3f} | {sum(s) / len(s):.3f} | {(sum(p) + sum(s)) / (len(p) + len(s)):.3f} |")
    return out


def per_phase_table(ev: dict, pickers: list[tuple[str, str, float, float]], scenes: dict[str, int]) -> list[str]:
    """Per-bin P and S F1 with P taken at one threshold and S at another (phases are scored independently).

    ``pickers`` are ``(label, row name, P threshold, S threshold)``; ``scenes`` the scene count per bin
    of each generator.
    """
    out = []
    for gen, by_th in ev["generators"].items():
        out += [f"#### `{gen}` ({scenes[gen]} scenes per bin; P within {ev['tolerance_s']['P']} s, S within {ev['tolerance_s']['S']} s)", "",
                "| SNR (dB) | picker (P th / S th) | P prec | P rec | P F1 | S prec | S rec | S F1 | true P / S picks |",
                "|---|---|---|---|---|---|---|---|---|"]
        means: dict[str, list[float]] = {}
        for snr in by_th[next(iter(by_th))]:
            for label, name, tp, ts in pickers:
                p, s = by_th[str(tp)][snr][name]["P"], by_th[str(ts)][snr][name]["S"]
                means.setdefault(f"{label} ({tp} / {ts})", []).extend([p["f1"], s["f1"]])
                out.append(f"| {float(snr):+.0f} | {label} ({tp} / {ts}) | {f(p['precision'])} | {f(p['recall'])} | **{f(p['f1'])}** | "
                           f"{f(s['precision'])} | {f(s['recall'])} | **{f(s['f1'])}** | {p['n_true']} / {s['n_true']} |")
        out += [""] + [f"Mean F1 over the bins and both phases, `{gen}`: " +
                       "; ".join(f"{k} **{sum(v) / len(v):.3f}**" for k, v in means.items()), ""]
    return out


#: Rows of the per-phase-threshold table: (label, row name in model_eval_s4.json, P threshold, S threshold).
S4_PICKERS = [("shipped", "student", 0.5, 0.5), ("shipped", "student", 0.5, 0.6),
              ("stage-4 candidate", "stage 4 (candidate)", 0.6, 0.5), ("teacher", "teacher", 0.5, 0.5)]


def bench_table(b: dict) -> list[str]:
    out = [f"Machine: {b['nproc']} cores, {b['cpu']}; {b['date']}; onnxruntime {b['onnxruntime']}, torch {b['torch']}; "
           f"{b['threads']} threads; 1-min load average at the end {b['load_avg_1m_at_end']:.1f} (shared machine: absolute "
           "times are pessimistic, ratios are from the same run).", "",
           "| model | params | ONNX MB | window nt×nx | ORT net (s) | annotate (s) | numpy preprocess (s) | PyTorch eager (s) | ORT ch·s/s | annotate ch·s/s | PyTorch ch·s/s | ORT/PyTorch speed-up | peak RSS (MB) |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in b["rows"]:
        out.append(f"| {r['model']} | {r['params']:,} | {r['onnx_mb']} | {r['nt']}×{r['nx']} | {r['ort_s']} | {r['annotate_s']} | "
                   f"{r['preprocess_s']} | {r['torch_s']} | {r['ort_ch_s_per_s']:,} | {r['annotate_ch_s_per_s']:,} | "
                   f"{r['torch_ch_s_per_s']:,} | {r['ort_speedup_vs_torch']}× | {r['peak_rss_mb']} |")
    return out


def main() -> int:
    ev_path, b_path = RES / "model_eval.json", RES / "model_bench.json"
    head = (RES / "model_head.md").read_text() if (RES / "model_head.md").exists() else "# PhaseNet-DAS model results\n"
    lines = [head.rstrip(), ""]
    if ev_path.exists():
        ev = json.loads(ev_path.read_text())
        s4 = RES / "model_eval_s4.json"
        if (RES / "model_s4.md").exists() and s4.exists():
            e4 = json.loads(s4.read_text())
            lines += [(RES / "model_s4.md").read_text().rstrip(), "",
                      "### Evaluation seeds at the per-phase thresholds (`model_eval_s4.json`)", ""]
            lines += per_phase_table(e4, S4_PICKERS, {"quake": 6, "train-gen": 3})
        lines += ["## Accuracy on held-out synthetic scenes (seeds >= 1,000,000; earlier run, 3 `quake` scenes per bin)", "",
                  "### Mean F1 over the 5 SNR bins", ""] + mean_f1_table(ev) + [""] + eval_tables(ev)
        if (RES / "model_stage3.md").exists():
            lines += [(RES / "model_stage3.md").read_text().rstrip(), ""]
        s3 = RES / "model_eval_stage3.json"
        if s3.exists():
            e3 = json.loads(s3.read_text())
            lines += ["### Stage 3 candidate vs shipped vs teacher: mean F1 over the 5 SNR bins (evaluation seeds)", ""]
            lines += mean_f1_table(e3) + [""] + ["#" + x if x.startswith("### ") else x for x in eval_tables(e3)]
        if "pseudo_labels" in ev:
            pl = ev["pseudo_labels"]
            lines += ["## Pseudo-labelling (teacher -> GaMMA -> filters) on training-seed scenes", "",
                      f"- records: {pl['records']}, with a kept event: {pl['records_with_event']}; true events {pl['true_events']}, kept {pl['kept_events']}",
                      f"- teacher picks: {pl['teacher_picks']}, associated and kept: {pl['associated']} "
                      f"(**{f(pl['associated_fraction'], 3)}**)", ""]
        lines += ["## Real mine event smoke test (DASDAE `deformation_rate_event_1.hdf5`)", "", "```", json.dumps(ev["mine_event"], indent=1), "```", "",
                  f"Wall time of the whole evaluation per picker (s): {json.dumps({k: round(v, 1) for k, v in ev['timing_s'].items()})}", ""]
    if b_path.exists():
        lines += ["## Throughput and memory", ""] + bench_table(json.loads(b_path.read_text())) + [""]
    (RES / "model.md").write_text("\n".join(lines) + "\n")
    print((RES / "model.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
