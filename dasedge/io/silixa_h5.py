"""Silixa iDAS native HDF5 (``/Acoustic``).

One dataset ``/Acoustic`` ``(time, distance)`` (int16 counts) whose attributes
are all *strings*: ``SamplingFrequency[Hz]``, ``SpatialResolution[m]``,
``Fibre Length Multiplier``, ``GaugeLength``, ``Start Distance (m)``,
``Stop Distance (m)``, ``GPSTimeStamp`` (``dd/mm/yyyy HH:MM:SS.fff (UTC)``, day
first) and ``ISO8601 Timestamp`` (ISO with the *local* offset, e.g. +01:00).

Rules: ``dx = SpatialResolution * Fibre Length Multiplier``; channel ``i`` is at
``Start Distance + i*dx``; start time from ``GPSTimeStamp`` (UTC), else the
ISO timestamp converted to UTC.  The samples are uncalibrated iDAS
"Differential" output (proportional to strain rate): ``data_type`` is
``strain_rate`` and ``data_units`` is ``counts``.
"""

from __future__ import annotations

import datetime as _dt
import re

import h5py
import numpy as np

from dasedge.block import DASBlock

from ._common import FileInfo, Layout, PathLike, as_float, check_numeric, iso_to_ns, read_f32, read_with, scalar, scan_with, validate_info

FORMAT = "silixa_h5"
_GPS_RE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})\s+(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d+))?")


def _is_silixa_h5(h5: h5py.File) -> bool:
    ds = h5.get("Acoustic")
    return isinstance(ds, h5py.Dataset) and bool(
        {"SamplingFrequency[Hz]", "GPSTimeStamp", "ISO8601 Timestamp"} & set(ds.attrs.keys())
    )


def gps_to_ns(text: str) -> int:
    """``dd/mm/yyyy HH:MM:SS.fff (UTC)`` (day first) to int ns since epoch."""
    m = _GPS_RE.search(str(text))
    if not m:
        raise ValueError(f"cannot parse GPSTimeStamp {text!r}")
    day, month, year, hh, mm, ss, frac = m.groups()
    t = _dt.datetime(int(year), int(month), int(day), int(hh), int(mm), int(ss), tzinfo=_dt.timezone.utc)
    whole = int(t.timestamp())
    return whole * 1_000_000_000 + (int((frac or "0").ljust(9, "0")[:9]))


def _layout(h5: h5py.File, path: str) -> Layout:
    ds = h5["Acoustic"]
    check_numeric(ds, "Acoustic")
    if ds.ndim != 2:
        raise ValueError(f"Acoustic is {ds.ndim}-D with shape {ds.shape}, expected 2-D")
    at = ds.attrs
    nt, nch = ds.shape
    fs = as_float(at["SamplingFrequency[Hz]"], "SamplingFrequency[Hz]")
    if not fs > 0:
        raise ValueError(f"SamplingFrequency[Hz] {fs!r} is not positive")
    res = as_float(at["SpatialResolution[m]"], "SpatialResolution[m]")
    mult = as_float(at.get("Fibre Length Multiplier", "1"), "Fibre Length Multiplier")
    dx = res * mult
    if "Start Distance (m)" in at:
        x0 = as_float(at["Start Distance (m)"], "Start Distance (m)")
    else:
        x0 = as_float(at.get("Zero Offset (m)", "0"), "Zero Offset (m)")
    distance = x0 + np.arange(nch, dtype=np.float64) * dx
    if "GPSTimeStamp" in at:
        t0 = gps_to_ns(scalar(at["GPSTimeStamp"]))
    elif "ISO8601 Timestamp" in at:
        t0 = iso_to_ns(scalar(at["ISO8601 Timestamp"]))
    else:
        raise ValueError("no GPSTimeStamp or ISO8601 Timestamp attribute")
    gl = at.get("GaugeLength")
    gauge = None if gl is None else as_float(gl, "GaugeLength")
    info = FileInfo(
        path=path,
        format=FORMAT,
        version="1",
        n_time=int(nt),
        n_channel=int(nch),
        t0_ns=t0,
        dt_s=1.0 / fs,
        distance_m=distance,
        gauge_length_m=gauge,
        data_type="strain_rate",
        data_units="counts",
        attrs={
            "raw_dtype": str(ds.dtype),
            "iso8601_local": str(scalar(at.get("ISO8601 Timestamp", ""))),
            "stop_distance_m": str(scalar(at.get("Stop Distance (m)", ""))),
            "uncalibrated": True,
        },
    )
    validate_info(info)

    def load(tsl: slice, csl: slice) -> np.ndarray:
        return read_f32(ds, tsl, csl)

    return Layout(info, load)


def _scan_silixa_h5(path: PathLike | h5py.File) -> FileInfo:
    """Metadata of a Silixa H5 file (no samples read)."""
    return scan_with(_layout, "Silixa H5", path)


def _read_silixa_h5(path: PathLike | h5py.File, time=None, distance=None) -> DASBlock:
    """Read a Silixa H5 file, or only a time/distance window of it."""
    return read_with(_layout, "Silixa H5", path, time, distance)
