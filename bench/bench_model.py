"""Throughput and memory of PhaseNet-DAS: onnxruntime (product) vs PyTorch eager, same run.

Run with an interpreter that has both onnxruntime and torch (``.venv-train``)::

    .venv-train/bin/python bench/bench_model.py --threads 2 --out bench/results/model_bench.json

For each model (the shipped edge ONNX with its trained weights; the paper-size
``full`` network with random weights, exported the same way, because only its
compute matters here) and each window the service uses (2048 x 1024,
4096 x 1024 at 100 Hz) it reports the median latency of the network call and of
the full ``annotate`` (numpy normalisation + padding + network), throughput in
channel-seconds of 100 Hz data per second, the PyTorch-eager latency of the same
network on the same input, and the peak RSS of a fresh process that loads the
session and annotates one window.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHAPES = ((2048, 1024), (4096, 1024))


def _median_time(fn, n: int) -> float:
    fn()  # warm-up
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def rss_child(model: str, nt: int, nx: int, threads: int, python: str | None = None) -> float:
    """Peak RSS (MB) of a fresh process that loads ``model`` and annotates one ``nt x nx`` window."""
    code = (
        "import sys, numpy as np, resource; sys.path.insert(0, %r)\n"
        "from pipelines.seismic.onnx_model import PhaseNetDAS\n"
        "m = PhaseNetDAS(%r, threads=%d)\n"
        "x = np.random.default_rng(0).standard_normal((%d, %d)).astype(np.float32)\n"
        "p = m.annotate(x)\n"
        # VmHWM of this process image (ru_maxrss would include the parent's RSS inherited across fork+exec)
        "print([int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')][0] / 1024)\n"
    ) % (str(ROOT), model, threads, nt, nx)
    out = subprocess.run([python or sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--edge", default=str(ROOT / "models" / "phasenet_das" / "phasenet_das_edge.onnx"))
    ap.add_argument("--no-full", action="store_true")
    default_py = ROOT / ".venv" / "bin" / "python"
    ap.add_argument("--rss-python", default=str(default_py) if default_py.exists() else sys.executable,
                    help="interpreter for the RSS child (the product venv, without torch)")
    ap.add_argument("--shapes", default=",".join(f"{a}x{b}" for a, b in SHAPES))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "model_bench.json"))
    ap.add_argument("--rss-only", action="store_true", help="re-measure peak RSS into an existing --out JSON")
    args = ap.parse_args(argv)
    if args.rss_only:
        res = json.loads(Path(args.out).read_text())
        from pipelines.seismic.training.export import export_onnx  # noqa: F401  (needs torch for the full model)
        import torch

        from pipelines.seismic.training.model import build

        torch.manual_seed(0)
        full = str(export_onnx(build("full").eval(), Path(tempfile.mkdtemp()) / "full.onnx"))
        for r in res["rows"]:
            path = args.edge if r["model"] == "edge" else full
            r["peak_rss_mb"] = round(rss_child(path, r["nt"], r["nx"], args.threads, args.rss_python))
            print(json.dumps(r), flush=True)
        res["rss_python"] = args.rss_python
        res["rss_method"] = "VmHWM of a fresh process running the product venv"
        Path(args.out).write_text(json.dumps(res, indent=2))
        return 0
    import torch

    from pipelines.seismic.onnx_model import PhaseNetDAS, pad_to_multiple, preprocess
    from pipelines.seismic.training.export import export_onnx
    from pipelines.seismic.training.model import SoftmaxWrapper, build, n_parameters
    from pipelines.seismic.training.train import load_state

    torch.set_num_threads(args.threads)
    shapes = [tuple(int(v) for v in s.split("x")) for s in args.shapes.split(",")]
    tmp = Path(tempfile.mkdtemp())
    nets = {}
    edge = build("edge")
    edge.load_state_dict(load_state(args.edge))
    nets["edge"] = (edge.eval(), args.edge)
    if not args.no_full:
        torch.manual_seed(0)
        full = build("full").eval()
        nets["full (random weights)"] = (full, str(export_onnx(full, tmp / "full.onnx")))
    rows = []
    for name, (net, path) in nets.items():
        ort_model = PhaseNetDAS(path, threads=args.threads)
        wrapper = SoftmaxWrapper(net).eval()
        for nt, nx in shapes:
            x = np.random.default_rng(1).standard_normal((nt, nx)).astype(np.float32)
            xn = pad_to_multiple(preprocess(x), ort_model.pad_multiple)
            t_ort = _median_time(lambda: ort_model.run_normalized(xn), args.repeats)
            t_ann = _median_time(lambda: ort_model.annotate(x), args.repeats)
            t_pre = _median_time(lambda: preprocess(x), args.repeats)
            xt = torch.from_numpy(xn)[None, None]
            with torch.inference_mode():
                t_torch = _median_time(lambda: wrapper(xt), args.repeats)
            chs = nx * nt / 100.0
            rss = rss_child(path, nt, nx, args.threads, args.rss_python)
            row = {
                "model": name, "params": n_parameters(net), "onnx_mb": round(Path(path).stat().st_size / 1e6, 2),
                "nt": nt, "nx": nx, "ort_s": round(t_ort, 3), "annotate_s": round(t_ann, 3), "preprocess_s": round(t_pre, 3),
                "torch_s": round(t_torch, 3), "ort_ch_s_per_s": round(chs / t_ort), "annotate_ch_s_per_s": round(chs / t_ann),
                "torch_ch_s_per_s": round(chs / t_torch), "ort_speedup_vs_torch": round(t_torch / t_ort, 2),
                "peak_rss_mb": round(rss),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
    res = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "nproc": os.cpu_count(), "cpu": cpu,
           "load_avg_1m_at_end": os.getloadavg()[0], "threads": args.threads, "torch": torch.__version__, "rss_python": args.rss_python,
           "onnxruntime": __import__("onnxruntime").__version__, "rows": rows}
    Path(args.out).write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
