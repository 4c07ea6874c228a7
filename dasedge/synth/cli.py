"""``dasedge simulate traffic|quake``: write a synthetic scene in a real file format plus its truth.

Examples::

    dasedge simulate traffic --out DIR --minutes 5 --fs 1000 --dx 1 --format optodas --seed 1
    dasedge simulate traffic --out DIR --minutes 2 --format prodml --snr-db 6 --road urban
    dasedge simulate quake --out DIR --seed 3 --param n_events=2 --param snr_db=8

Traffic scenes are rendered and written file by file (10 s per file by
default), so long scenes never sit in memory.  OptoDAS goes to the v8 tree
``DIR/<exp>/<YYYYMMDD>/dphi/<HHMMSS>.hdf5`` (int raw + dataScale); PRODML to
``DIR/<exp>/<YYYYMMDD_HHMMSS>.h5``.  ``truth.json`` (+ ``truth.csv`` for
traffic) goes to ``DIR``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def _kv(s: str) -> tuple[str, Any]:
    if "=" not in s:
        raise argparse.ArgumentTypeError(f"expected key=value, got {s!r}")
    k, v = s.split("=", 1)
    try:
        return k, json.loads(v)
    except json.JSONDecodeError:
        return k, v


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", choices=["traffic", "quake"], help="scene type")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--format", default="optodas", choices=["optodas", "prodml"], help="file format")
    p.add_argument("--experiment", default=None, help="experiment folder name (default: traffic / quake)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--minutes", type=float, default=None, help="scene duration in minutes")
    p.add_argument("--fs", type=float, default=None, help="sampling rate, Hz")
    p.add_argument("--dx", type=float, default=None, help="channel spacing, m")
    p.add_argument("--gauge-length", type=float, default=None, help="gauge length, m (traffic)")
    p.add_argument("--length", type=float, default=None, help="monitored length, m (traffic)")
    p.add_argument("--snr-db", type=float, default=None, help="SNR in dB (see dasedge.synth.traffic)")
    p.add_argument("--road", choices=["highway", "urban"], default=None)
    p.add_argument("--truck-share", type=float, default=None)
    p.add_argument("--rate", type=float, default=None, help="vehicles per minute, both directions")
    p.add_argument("--file-seconds", type=float, default=10.0, help="seconds per output file")
    p.add_argument("--stopped-vehicle", action="store_true")
    p.add_argument("--wrong-way", action="store_true", help="one-way road (+1) with one wrong-way vehicle")
    p.add_argument("--congestion", action="store_true")
    p.add_argument("--param", action="append", type=_kv, default=[], metavar="KEY=JSON",
                   help="any other generator parameter (repeatable)")


def _write(block, root: Path, exp: str, fmt: str) -> Path:
    from dasedge import io
    from dasedge.io import optodas

    if fmt == "optodas":
        return optodas.write_tree([block], root, exp)[0]
    import datetime as dt

    t = dt.datetime.fromtimestamp(block.t0_ns // 10**9, tz=dt.timezone.utc)
    path = root / exp / (t.strftime("%Y%m%d_%H%M%S") + ".h5")
    path.parent.mkdir(parents=True, exist_ok=True)
    return io.write(block, path, fmt="prodml")


def _traffic(args) -> int:
    from dasedge.synth.traffic import TrafficScene, TrafficSceneConfig, write_truth

    params: dict[str, Any] = {"seed": args.seed}
    opt = {"duration_s": None if args.minutes is None else args.minutes * 60.0, "fs": args.fs, "dx_m": args.dx,
           "gauge_length_m": args.gauge_length, "length_m": args.length, "snr_db": args.snr_db, "road": args.road,
           "truck_share": args.truck_share, "rate_per_min": args.rate}
    params.update({k: v for k, v in opt.items() if v is not None})
    if args.stopped_vehicle:
        params["stopped_vehicle"] = True
    if args.wrong_way:
        params.update(wrong_way=True, directions=(1,))
    if args.congestion:
        params["congestion"] = True
    params.update(dict(args.param))
    if "directions" in params:
        params["directions"] = tuple(params["directions"])
    scene = TrafficScene(TrafficSceneConfig(**params))
    root = Path(args.out)
    exp = args.experiment or "traffic"
    n = 0
    for block in scene.iter_blocks(chunk_s=args.file_seconds):
        path = _write(block, root, exp, args.format)
        n += 1
        print(f"wrote {path}", file=sys.stderr)
    truth = scene.truth()
    pj, pc = write_truth(truth, root)
    print(json.dumps({"files": n, "vehicles": len(truth["vehicles"]), "truth": str(pj), "truth_csv": str(pc)}))
    return 0


def _quake(args) -> int:
    import numpy as np

    from dasedge.synth.quake import simulate_quake_scene

    params: dict[str, Any] = {"seed": args.seed}
    if args.minutes is not None:
        params["duration_s"] = args.minutes * 60.0
    if args.fs is not None:
        params["fs"] = args.fs
    if args.dx is not None:
        params["dx_m"] = args.dx
    if args.snr_db is not None:
        params["snr_db"] = args.snr_db
    params.update(dict(args.param))
    blocks, truth = simulate_quake_scene(**params)
    if not isinstance(blocks, (list, tuple)):
        blocks = [blocks]
    root = Path(args.out)
    exp = args.experiment or "quake"
    n = 0
    for b in blocks:
        # split into files of --file-seconds
        step = max(1, int(round(args.file_seconds * b.fs)))
        for i in range(0, b.n_time, step):
            part = b.select(samples=slice(i, min(i + step, b.n_time)))
            print(f"wrote {_write(part, root, exp, args.format)}", file=sys.stderr)
            n += 1
    root.mkdir(parents=True, exist_ok=True)

    def _default(o):
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, (np.integer,)):
            return int(o)
        if isinstance(o, (np.floating,)):
            return float(o)
        return str(o)

    (root / "truth.json").write_text(json.dumps(truth, indent=1, default=_default))
    print(json.dumps({"files": n, "truth": str(root / "truth.json")}))
    return 0


def run(args) -> int:
    return _traffic(args) if args.kind == "traffic" else _quake(args)
