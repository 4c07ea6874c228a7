"""``dasedge traffic PATH...``: batch vehicle detection, JSON Lines on stdout.

Files or folders (searched recursively for HDF5 files) in any format
``dasedge.io.read`` detects; files are ordered by start time and processed
window by window with the same windowing as the streaming worker
(:func:`pipelines.traffic.pipeline.windowed`), so long archives never sit in
memory.  One JSON object per vehicle on stdout (``t_start``, ``t_end`` ISO
8601 UTC, ``x_start_m``, ``x_end_m`` from the files' own channel distances,
``speed_kmh`` > 0, ``direction`` +1/-1, ``vehicle_class`` car/truck, ...);
progress on stderr.

Options: ``--site`` YAML; ``--stats BIN_S`` and ``--events`` write interval
statistics / traffic events as extra JSON lines (``"type"`` field) to
``--extra-out`` (default stderr-free file ``-`` = stdout after the vehicles);
``--modal`` adds bridge modal frequencies per window.

Calibration: ``dasedge traffic PATH --calibrate truth.csv --site-out site.yaml``
runs the pipeline on a labelled stretch (CSV with ``t_ref`` or ``t_ref_ns``,
``direction``, ``vehicle_class``), matches detections within 3 s and fits the
car amplitude reference ``amp_ref`` and a classifier (written next to the
site file), then reports detection/class scores on that stretch.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Iterator

from dasedge.block import DASBlock
from dasedge.io.cli import expand
from pipelines.traffic.site import SiteConfig


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", help="DAS files or folders")
    p.add_argument("--site", default=None, help="site YAML (deploy/sites/*.yaml)")
    p.add_argument("--window", type=float, default=None, help="window length, s (site default 60)")
    p.add_argument("--step", type=float, default=None, help="window step, s (default: max(site step, 20))")
    p.add_argument("--format", default=None, help="force a file format (default: detect)")
    p.add_argument("--stats", type=int, action="append", default=[], metavar="BIN_S",
                   help="also emit interval statistics rows for this bin (60, 300, 900, 3600); repeatable")
    p.add_argument("--events", action="store_true", help="also emit traffic events")
    p.add_argument("--modal", action="store_true", help="also emit bridge modal frequencies per window")
    p.add_argument("--calibrate", default=None, metavar="TRUTH_CSV", help="fit site thresholds on a labelled stretch")
    p.add_argument("--site-out", default=None, help="where --calibrate writes the fitted site YAML")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")


def list_files(paths: list[str]) -> list[Path]:
    """Files named directly plus the DAS (HDF5) files found under folders (as ``dasedge info`` lists them)."""
    return expand(paths)[0]


def iter_blocks(files: list[Path], fmt: str | None = None, chunk_s: float = 10.0) -> Iterator[DASBlock]:
    """Blocks of all files in time order (large files are read in ``chunk_s`` slices)."""
    from dasedge import io

    infos = []
    for f in files:
        info = io.scan(f, fmt=fmt)
        infos.append((info.t0_ns, f, info))
    infos.sort(key=lambda r: r[0])
    for t0, f, info in infos:
        dur_ns = int(round(info.n_time * info.dt_s * 1e9))
        step = int(chunk_s * 1e9)
        if dur_ns <= 1.5 * step:
            yield io.read(f, fmt=fmt)
            continue
        t = t0
        while t < t0 + dur_ns:
            yield io.read(f, time=(t, min(t + step, t0 + dur_ns)), fmt=fmt)
            t += step


def _site(args) -> SiteConfig:
    site = SiteConfig.load(args.site) if args.site else SiteConfig()
    if args.window:
        site.window_s = float(args.window)
    # batch default: a 20 s step (the ownership rule makes the vehicles independent of the step;
    # the streaming worker uses the site's short step for latency)
    site.step_s = float(args.step) if args.step else max(site.step_s, 20.0)
    return site


def run_files(paths: list[str], site: SiteConfig, fmt: str | None = None, progress: bool = False,
              modal: bool = False, events: list | None = None):
    """Vehicles (and optional modal records, coverage intervals) of files/folders.

    ``events``: a list that collects stopped-vehicle events detected from the data.
    """
    from pipelines.traffic.pipeline import process_window, windowed, _state
    from pipelines.traffic.structural import modal_frequencies

    files = list_files(paths)
    state = _state(None)
    vehicles, modes, coverage = [], [], []
    n = 0
    for w in windowed(iter_blocks(files, fmt), site.window_s, site.step_s):
        vs = process_window(w, site, state, now_ns=None, events=events)
        vs = [v.__class__(**{**v.__dict__, "reported_ns": None}) for v in vs]
        vehicles += vs
        coverage.append((w.t0_ns, w.t_end_ns))
        if modal:
            modes += modal_frequencies(w)
        n += 1
        if progress:
            print(f"window {n} {w.t0_ns} +{w.duration_s:.0f}s: {len(vs)} vehicles ({len(vehicles)} total)",
                  file=sys.stderr)
    return vehicles, modes, coverage


def _read_truth_csv(path: str) -> list[dict]:
    rows = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            if "t_ref_ns" in r and r["t_ref_ns"]:
                t = int(float(r["t_ref_ns"]))
            else:
                import numpy as np

                t = int(np.datetime64(r["t_ref"].rstrip("Z"), "ns").astype("int64"))
            rows.append(dict(t_ref_ns=t, direction=int(float(r["direction"])), vehicle_class=r["vehicle_class"],
                             speed_kmh=float(r["speed_kmh"]) if r.get("speed_kmh") else float("nan"),
                             complete=str(r.get("complete", "True")).lower() != "false"))
    return rows


def calibrate(args, site: SiteConfig) -> int:
    """Fit ``amp_ref`` and the classifier on a labelled stretch; write the site YAML."""
    import numpy as np

    from pipelines.traffic.classify import ClassModel
    from pipelines.traffic.pipeline import _state, analyse_window, windowed
    from pipelines.traffic.score import match

    truth = _read_truth_csv(args.calibrate)
    files = list_files(args.paths)
    site.amp_ref = None
    dets, seen = [], []
    state = _state(None)
    for w in windowed(iter_blocks(files, args.format), site.window_s, site.step_s):
        for d in analyse_window(w, site, state):
            if all(abs(d.t_ref_ns - t) > 0.6e9 or d.direction != dd for dd, t in seen):
                seen.append((d.direction, d.t_ref_ns))
                dets.append(d)
    m = match([dict(t_ref_ns=d.t_ref_ns, direction=d.direction, speed_kmh=d.speed_kmh,
                    vehicle_class=d.vehicle_class) for d in dets], truth)
    pairs = m["pairs"]
    if len(pairs) < 5:
        print(f"calibration: only {len(pairs)} matched vehicles; need >= 5", file=sys.stderr)
        return 1
    y = np.array([truth[j]["vehicle_class"] == "truck" for _, j in pairs])
    av = np.array([dets[i].amp / (dets[i].speed_kmh / 3.6) for i, _ in pairs])
    site.amp_ref = float(np.median(av[~y])) if (~y).any() else float(np.median(av))
    X = np.array([[np.log10(max(a / site.amp_ref, 1e-6)), dets[i].band_ratio] for a, (i, _) in zip(av, pairs)])
    model_path = Path(args.site_out or "site.yaml").with_suffix(".class_model.json")
    if y.any() and (~y).any():
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=10.0).fit(X, y)
        ClassModel(coef=lr.coef_[0].tolist(), intercept=float(lr.intercept_[0]),
                   meta={"fitted_on": args.calibrate, "n": int(len(y))}).save(model_path)
        site.class_model = str(model_path)
    out = Path(args.site_out or "site.yaml")
    site.dump(out)
    print(json.dumps({"site": str(out), "amp_ref": site.amp_ref, "class_model": site.class_model,
                      "matched": len(pairs), "precision": m["precision"], "recall": m["recall"]}))
    return 0


def run(args: argparse.Namespace) -> int:
    site = _site(args)
    if args.calibrate:
        return calibrate(args, site)
    from pipelines.traffic.stats import interval_stats, merge_intervals, traffic_events

    stopped: list = [] if args.events else None
    vehicles, modes, coverage = run_files(args.paths, site, args.format, progress=not args.quiet, modal=args.modal,
                                          events=stopped)
    out = sys.stdout
    for v in vehicles:
        out.write(json.dumps(v.to_dict()) + "\n")
    cov = merge_intervals(coverage)
    for b in args.stats:
        for row in interval_stats(vehicles, b, coverage=cov,
                                  t_start_ns=cov[0][0] if cov else None, t_end_ns=cov[-1][1] if cov else None):
            out.write(json.dumps({"type": "interval_stats", **row}) + "\n")
    if args.events:
        for e in sorted(traffic_events(vehicles, site) + (stopped or []), key=lambda e: e.t_start_ns):
            out.write(json.dumps({"type": "traffic_event", **e.to_dict()}) + "\n")
    for m in modes:
        out.write(json.dumps({"type": "modal_frequency", **m.to_dict()}) + "\n")
    if not args.quiet:
        print(f"{len(vehicles)} vehicles", file=sys.stderr)
    return 0
