"""Native readers and writers for DAS interrogator files.

>>> from dasedge import io
>>> info = io.scan("file.hdf5")                    # metadata only
>>> block = io.read("file.hdf5", time=(t0, t1), distance=(100.0, 500.0))  # reads only that window
>>> io.write(block, "out.hdf5", fmt="optodas")

Formats are detected from the file *content* (never the extension): see
``FORMATS``.  Every failure (missing, empty, truncated, corrupt, not HDF5,
unknown layout, inconsistent metadata) raises :class:`DASFileError`, a
``ValueError`` whose message is one line ``"<path>: <problem>"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import h5py

from dasedge.block import DASBlock

from . import dascore_h5, febus, optodas, prodml, silixa_h5, terra15
from ._common import DASFileError, DistanceWindow, FileInfo, PathLike, TimeWindow, guarded, open_h5


@dataclass(frozen=True)
class Format:
    """One supported file format (ObsPy-style plug-in)."""

    name: str
    description: str
    is_format: Callable[[h5py.File], bool]
    scan: Callable[..., FileInfo]
    read: Callable[..., DASBlock]
    write: Callable[..., Path] | None = None


#: Supported formats in detection order.
FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("optodas", "ASN OptoDAS HDF5 v8+", optodas._is_optodas, optodas._scan_optodas, optodas._read_optodas, optodas.write_optodas),
        Format("prodml", "PRODML DAS 2.0/2.1", prodml._is_prodml, prodml._scan_prodml, prodml._read_prodml, prodml.write_prodml),
        Format("silixa_h5", "Silixa iDAS /Acoustic HDF5", silixa_h5._is_silixa_h5, silixa_h5._scan_silixa_h5, silixa_h5._read_silixa_h5),
        Format("terra15", "Terra15 Treble v4-v6", terra15._is_terra15, terra15._scan_terra15, terra15._read_terra15),
        Format("febus", "Febus A1", febus._is_febus, febus._scan_febus, febus._read_febus),
        Format("dasdae", "DASDAE (DASCore HDF5)", dascore_h5._is_dasdae, dascore_h5._scan_dasdae, dascore_h5._read_dasdae),
    )
}


def _detect_open(h5: h5py.File, path: str) -> str:
    for name, fmt in FORMATS.items():
        try:
            if fmt.is_format(h5):
                return name
        except Exception:  # noqa: BLE001 - a fingerprint check that fails just means "not this format"
            continue
    top = ", ".join(sorted(h5.keys())[:6]) or "nothing"
    raise DASFileError(path, f"unknown HDF5 layout (top level holds: {top})")


def detect_format(path: PathLike) -> str:
    """Name of the format of ``path`` (a key of ``FORMATS``), from its content."""
    with open_h5(path) as (h5, p):
        return guarded(p, "detect", lambda: _detect_open(h5, p))


def _resolve(h5: h5py.File, path: str, fmt: str | None) -> Format:
    if fmt is None:
        return FORMATS[_detect_open(h5, path)]
    if fmt not in FORMATS:
        raise DASFileError(path, f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    return FORMATS[fmt]


def scan(path: PathLike, *, fmt: str | None = None) -> FileInfo:
    """Metadata of one file without reading its samples."""
    with open_h5(path) as (h5, p):
        f = guarded(p, "detect", lambda: _resolve(h5, p, fmt))
        return f.scan(h5)


def read(
    path: PathLike,
    *,
    time: TimeWindow = None,
    distance: DistanceWindow = None,
    fmt: str | None = None,
) -> DASBlock:
    """Read a DAS file into a :class:`DASBlock`.

    Parameters
    ----------
    path
        File to read.
    time
        ``(t0_ns, t1_ns)`` UTC ns, half-open, either end ``None``; only that
        window is read from disk (HDF5 hyperslab).
    distance
        ``(x0_m, x1_m)`` closed interval of channel distances, either end ``None``.
    fmt
        Force a format (key of ``FORMATS``) instead of detecting it.
    """
    with open_h5(path) as (h5, p):
        f = guarded(p, "detect", lambda: _resolve(h5, p, fmt))
        return f.read(h5, time=time, distance=distance)


def write(block: DASBlock, path: PathLike, fmt: str = "optodas", **kwargs) -> Path:
    """Write a block as ``fmt`` (``"optodas"`` or ``"prodml"``); returns the path."""
    f = FORMATS.get(fmt)
    if f is None or f.write is None:
        raise ValueError(f"cannot write format {fmt!r}; writable: {[k for k, v in FORMATS.items() if v.write]}")
    return f.write(block, path, **kwargs)


__all__ = ["DASFileError", "FORMATS", "FileInfo", "Format", "detect_format", "read", "scan", "write"]
