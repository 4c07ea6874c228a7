"""Batch picking and association on DAS files: ``dasedge seismic PATH...``.

Writes JSON Lines to stdout (or ``--output``)::

    {"kind": "pick", "channel", "distance_m", "time", "phase", "score", "amplitude", "id", "event_id"}
    {"kind": "event", "time", "x_m", "y_m", "depth_m", "magnitude", "num_picks", "num_p", "num_s", "id", ...}

Files are read in time order in chunks (``--chunk-s``) and fed to the same
:class:`~.processor.SeismicProcessor` as the streaming worker; contiguous
files form one stream, a gap starts a new one.  Optional QuakeML / FDSN text
outputs of the final events.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

from dasedge.block import DASBlock, iso_utc
from dasedge.records import Pick, SeismicEvent

from .processor import SeismicProcessor, final_events


def add_common_arguments(p: argparse.ArgumentParser, default_preset: str = "throughput") -> None:
    p.add_argument("--model", default=None, help="PhaseNet-DAS ONNX file (default: shipped edge model / $DASEDGE_SEISMIC_MODEL)")
    p.add_argument("--site", default=None, help="site YAML/JSON (velocities, geometry, thresholds)")
    p.add_argument("--preset", choices=("throughput", "latency"), default=default_preset, help="picker windowing preset")
    p.add_argument("--threshold", type=float, default=None, help="pick probability threshold (default: the model's sidecar <model>.json, else 0.3)")
    p.add_argument("--threshold-s", type=float, default=None, help="S-phase threshold (default: --threshold)")
    p.add_argument("--min-picks", type=int, default=None, help="minimum picks per event")
    p.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", help="DAS files or folders of them (any format dasedge.io reads)")
    p.add_argument("--chunk-s", type=float, default=30.0, help="read files in chunks of this many seconds")
    p.add_argument("--output", "-o", default="-", help="JSON Lines output (default stdout)")
    p.add_argument("--quakeml", default=None, help="also write the events as QuakeML")
    p.add_argument("--fdsn-text", default=None, help="also write the events in fdsnws-event text format")
    p.add_argument("--no-picks", action="store_true", help="write only events")
    add_common_arguments(p)


def processor_factory(args: argparse.Namespace, annotator: Any = None,
                      clock: Callable[[], int] | None = None) -> Callable[[], SeismicProcessor]:
    """Factory of processors from CLI arguments (+ site file); the model is loaded once.

    Without ``annotator`` the PhaseNet-DAS ONNX model is loaded and the picker
    uses the model's own preprocessing (:func:`~.picking.model_config`).
    """
    from dataclasses import replace

    from .geometry import read_geometry
    from .picking import ModelAnnotator, model_config
    from .site import load_site

    site = load_site(getattr(args, "site", None))
    if annotator is None:
        annotator = ModelAnnotator(getattr(args, "model", None), threads=getattr(args, "threads", None))
        pcfg = model_config(args.preset, annotator.path, **site.picker)
    else:
        pcfg = site.picker_config(args.preset)
    if getattr(args, "threshold", None) is not None:  # for both phases unless --threshold-s is given
        pcfg = replace(pcfg, threshold=args.threshold, threshold_s=None)
    if getattr(args, "threshold_s", None) is not None:
        pcfg = replace(pcfg, threshold_s=args.threshold_s)
    acfg = site.assoc_config()
    if getattr(args, "min_picks", None) is not None:
        acfg = replace(acfg, min_picks=args.min_picks)
    geom = read_geometry(site.geometry) if site.geometry else None
    fiber = site.fiber_id if site.fiber_id != "fiber0" else None
    rel = site.relation()
    return lambda: SeismicProcessor(annotator, pcfg, acfg, geom, rel, clock=clock, fiber_id=fiber)


def iter_chunks(paths: list[str], chunk_s: float) -> Iterator[DASBlock]:
    """Blocks of ``chunk_s`` seconds from the files (and the DAS files under folders), in time order (lazy reads)."""
    from dasedge import io
    from dasedge.io.cli import expand

    files, _ = expand(paths)
    infos = sorted(((io.scan(p), p) for p in files), key=lambda ip: ip[0].t0_ns)
    for info, p in infos:
        step = int(chunk_s * 1e9)
        t_end = info.t0_ns + round(info.n_time * info.dt_s * 1e9)
        t = info.t0_ns
        while t < t_end:
            blk = io.read(p, time=(t, min(t + step, t_end)))
            if blk.n_time:
                yield blk
            t += step


def pick_json(p: Pick) -> dict[str, Any]:
    return {"kind": "pick", "channel": p.channel, "distance_m": p.distance_m, "time": iso_utc(p.t_ns), "phase": p.phase,
            "score": p.score, "amplitude": p.amplitude, "id": p.id, "fiber_id": p.fiber_id, "event_id": p.event_id}


def event_json(e: SeismicEvent) -> dict[str, Any]:
    return {"kind": "event", "time": iso_utc(e.origin_ns), "x_m": e.x_m, "y_m": e.y_m, "depth_m": e.depth_m,
            "magnitude": e.magnitude, "num_picks": e.num_picks, "num_p": e.num_p, "num_s": e.num_s, "id": e.id,
            "fiber_id": e.fiber_id, "origin_uncertainty_s": e.origin_uncertainty_s,
            "location_uncertainty_m": e.location_uncertainty_m, "score": e.score, "status": e.status,
            "version": e.version, "latitude": e.latitude, "longitude": e.longitude}


def process_blocks(blocks, make: Callable[[], SeismicProcessor]) -> tuple[list[Pick], list[SeismicEvent], dict[str, str]]:
    """Run processors over blocks; a time gap or layout change starts a new stream.

    Returns picks, event messages and the event id of every associated pick id.
    """
    picks: list[Pick] = []
    msgs: list[SeismicEvent] = []
    member: dict[str, str] = {}
    proc: SeismicProcessor | None = None
    last: DASBlock | None = None

    def close(proc: SeismicProcessor) -> None:
        p, m = proc.flush()
        picks.extend(p)
        msgs.extend(m)
        for eid, ids in proc.tracker.members.items():
            for pid in ids:
                member[pid] = eid

    for blk in blocks:
        if proc is not None and last is not None and (
            abs(blk.t0_ns - last.t_end_ns) > 0.5 * blk.dt_s * 1e9 or blk.n_channel != last.n_channel or blk.dt_s != last.dt_s
        ):
            close(proc)
            proc = None
        if proc is None:
            proc = make()
        p, m = proc.push(blk)
        picks += p
        msgs += m
        last = blk
    if proc is not None:
        close(proc)
    return picks, msgs, member


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from dasedge.io import DASFileError

    try:
        make = processor_factory(args)
    except FileNotFoundError as exc:
        print(f"dasedge seismic: model not found: {exc}", file=sys.stderr)
        return 2
    try:
        picks, msgs, member = process_blocks(iter_chunks(args.paths, args.chunk_s), make)
    except DASFileError as exc:
        print(f"dasedge seismic: {exc}", file=sys.stderr)
        return 2
    events = final_events(msgs)
    picks = [replace(p, event_id=member.get(p.id)) for p in picks]
    out = sys.stdout if args.output == "-" else open(args.output, "w")
    try:
        if not args.no_picks:
            for p in sorted(picks, key=lambda p: (p.t_ns, p.channel, p.phase)):
                out.write(json.dumps(pick_json(p)) + "\n")
        for e in events:
            out.write(json.dumps(event_json(e)) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
    if args.quakeml:
        from .formats.quakeml import write_quakeml

        write_quakeml(args.quakeml, events, [p for p in picks if p.event_id])
    if args.fdsn_text:
        from .formats.fdsn_text import format_fdsn_text

        Path(args.fdsn_text).write_text(format_fdsn_text(events))
    return 0
