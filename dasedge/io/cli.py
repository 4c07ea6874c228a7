"""``dasedge info PATH...``: describe DAS files or folders.

For every file (folders are searched recursively): format, shape, time range
(ISO UTC), sampling rate, distance range, channel spacing, gauge length and
physical quantity.  Bad files print one line ``path: problem`` and make the
exit code 1; the other files are still listed.  ``--json`` prints one JSON
object per file (``{"path", "error"}`` for bad files).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Iterable, TextIO

import h5py

from dasedge.block import iso_utc

from . import DASFileError, FileInfo, read, scan

#: extensions considered in folders even without an HDF5 signature (so that broken
#: .h5 files in a folder are reported instead of silently skipped)
H5_EXTENSIONS = {".h5", ".hdf5", ".hdf", ".he5", ".h5das"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="DAS files or folders (searched recursively)")
    parser.add_argument("--json", action="store_true", help="one JSON object per file on stdout")
    parser.add_argument(
        "--check", action="store_true", help="also read every sample (finds truncated data, NaNs); slower"
    )
    parser.add_argument(
        "--progress",
        choices=("auto", "always", "never"),
        default="auto",
        help="tqdm progress bar on stderr (auto: 10+ files and stderr is a terminal)",
    )


def _looks_like_das(path: Path) -> bool:
    if path.suffix.lower() in H5_EXTENSIONS:
        return True
    try:
        return h5py.is_hdf5(path)
    except OSError:
        return False


def expand(paths: Iterable[str]) -> tuple[list[Path], int]:
    """Files named directly plus HDF5 files found under folders; also returns how many folder files were skipped."""
    out: list[Path] = []
    skipped = 0
    for p in map(Path, paths):
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if name.startswith("."):
                        continue
                    f = Path(root) / name
                    if _looks_like_das(f):
                        out.append(f)
                    else:
                        skipped += 1
        else:
            out.append(p)  # named explicitly: always reported, even if missing / not HDF5
    return out, skipped


def _fmt_num(v: float | None, unit: str = "", digits: int = 6) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{v:.{digits}g}{(' ' + unit) if unit else ''}"


def describe(info: FileInfo) -> str:
    """Human-readable multi-line description of one file."""
    d = info.distance_m
    ver = f" v{info.version}" if info.version else ""
    lines = [
        f"{info.path}",
        f"  format      {info.format}{ver}",
        f"  shape       {info.n_time} x {info.n_channel} (time x channel), raw {info.attrs.get('raw_dtype', '?')}",
        f"  time        {iso_utc(info.t0_ns)} .. {iso_utc(info.t_end_ns)} ({info.n_time * info.dt_s:.6g} s)",
        f"  sampling    {_fmt_num(info.fs, 'Hz')} (dt {_fmt_num(info.dt_s, 's')})",
        f"  distance    {_fmt_num(float(d[0]), 'm', 8)} .. {_fmt_num(float(d[-1]), 'm', 8)}, dx {_fmt_num(info.dx_m, 'm')}",
        f"  gauge       {_fmt_num(info.gauge_length_m, 'm')}",
        f"  data        {info.data_type or 'unknown'} [{info.data_units or '?'}]",
    ]
    return "\n".join(lines)


def _one(path: Path, check: bool) -> FileInfo:
    info = scan(path)
    if check:
        read(path)
    return info


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    files, skipped = expand(args.paths)
    if not files:
        print(f"no DAS files found in {' '.join(args.paths)}", file=sys.stderr)
        return 2
    show = args.progress == "always" or (args.progress == "auto" and len(files) >= 10 and sys.stderr.isatty())
    bad = 0
    from tqdm import tqdm

    for path in tqdm(files, desc="scanning", unit="file", file=sys.stderr, disable=not show):
        try:
            info = _one(path, args.check)
        except DASFileError as exc:
            bad += 1
            err = exc.problem
        except Exception as exc:  # noqa: BLE001 - never a traceback from the CLI
            bad += 1
            err = " ".join(f"{type(exc).__name__}: {exc}".split())
        else:
            err = None
        if err is not None:
            if args.json:
                print(json.dumps({"path": str(path), "error": err}), file=out, flush=True)
            else:
                print(f"{path}: {err}", file=out, flush=True)
            continue
        if args.json:
            print(json.dumps(info.to_dict()), file=out, flush=True)
        else:
            print(describe(info), file=out, flush=True)
    if skipped:
        print(f"({skipped} non-HDF5 file(s) in folders skipped)", file=sys.stderr)
    if bad:
        print(f"{bad} of {len(files)} file(s) could not be read", file=sys.stderr)
    return 1 if bad else 0
