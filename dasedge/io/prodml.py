"""Energistics PRODML DAS HDF5, versions 2.0 and 2.1 (Silixa iDAS, OptaSense, Sintela, ...).

Layout: ``/Acquisition`` (attributes ``SpatialSamplingInterval``,
``GaugeLength``, ``StartLocusIndex``, ``NumberOfLoci``, ``PulseRate``,
``schemaVersion``...), ``/Acquisition/Raw[i]`` (``OutputDataRate``,
``RawDataUnit``, ``RawDescription``), ``Raw[i]/RawData`` (2-D, axis order in
``@Dimensions``) and ``Raw[i]/RawDataTime`` (int64 Unix µs per sample).

Rules:

* axis order from ``RawData@Dimensions`` (``time``/``locus`` either way);
* distance = ``(StartLocusIndex + i) * SpatialSamplingInterval``;
* rate from ``Raw@OutputDataRate`` (``PulseRate`` is the laser repetition
  rate, not the output rate); fallback: spacing of ``RawDataTime``, then
  ``(PartEndTime - PartStartTime)/(n-1)``;
* unit attributes come as ``<Name>Unit`` (2.0), ``<Name>Units`` or
  ``<Name>.uom`` (2.1);
* start time from ``RawDataTime[0]`` (µs), else the ISO ``PartStartTime``.

Files holding only processed frequency-band energy (``Processed/Fbe``) and no
``RawData`` are refused with a clear :class:`DASFileError` ("no raw data (only
processed FBE)"): FBE is a spectral summary at ~0.2 Hz, not a strain-rate time
series, and treating it as one would be silently wrong downstream.

Files written by :func:`write_prodml` with ``dtype="int16"`` store a scale
factor in ``Raw[0]@dasedgeScale``; the reader applies it when present.
"""

from __future__ import annotations

import re
import uuid as _uuid
from pathlib import Path

import h5py
import numpy as np

from dasedge.block import DASBlock, iso_utc

from ._common import (
    FileInfo,
    Layout,
    PathLike,
    as_float,
    check_numeric,
    decode,
    iso_to_ns,
    read_f32,
    read_with,
    scalar,
    scan_with,
    validate_info,
)

FORMAT = "prodml"
_LEN_TO_M = {"m": 1.0, "meter": 1.0, "metre": 1.0, "ft": 0.3048, "foot": 0.3048, "feet": 0.3048, "km": 1000.0, "cm": 0.01}


def _is_prodml(h5: h5py.File) -> bool:
    acq = h5.get("Acquisition")
    if not isinstance(acq, h5py.Group):
        return False
    keys = set(acq.attrs.keys())
    return bool(keys & {"schemaVersion", "NumberOfLoci", "PulseRate", "SpatialSamplingInterval"})


def _attr_with_unit(attrs: h5py.AttributeManager, name: str) -> tuple[float | None, str]:
    """Value of ``name`` and its unit (``NameUnit``, ``NameUnits`` or ``Name.uom``)."""
    if name not in attrs:
        return None, ""
    value = as_float(attrs[name], name)
    unit = ""
    for key in (f"{name}Unit", f"{name}Units", f"{name}.uom", f"{name}.Unit", f"{name}_uom"):
        if key in attrs:
            unit = str(scalar(attrs[key]) or "").strip()
            break
    return value, unit


def _length_m(attrs: h5py.AttributeManager, name: str) -> float | None:
    value, unit = _attr_with_unit(attrs, name)
    if value is None:
        return None
    factor = _LEN_TO_M.get(unit.lower(), None) if unit else 1.0
    if factor is None:
        raise ValueError(f"{name} has unknown length unit {unit!r}")
    return value * factor


def _raw_groups(acq: h5py.Group) -> list[str]:
    names = [k for k in acq.keys() if re.fullmatch(r"Raw\[\d+\]", k) and isinstance(acq[k], h5py.Group)]
    return sorted(names, key=lambda k: int(k[4:-1]))


def _dims(ds: h5py.Dataset) -> list[str]:
    raw = ds.attrs.get("Dimensions")
    if raw is None:
        return []
    d = decode(raw)
    if isinstance(d, str):
        d = re.split(r"[\s,;]+", d.strip())
    return [str(x).strip().lower() for x in d if str(x).strip()]


def _data_type(description: str, unit: str) -> str:
    text = f"{description} {unit}".lower()
    desc = description.lower()
    if "strain rate" in desc or "strainrate" in desc or "strain-rate" in desc:
        return "strain_rate"
    if "phase rate" in desc or "phase-rate" in desc:
        return "phase_rate"
    if "velocity" in desc:
        return "velocity"
    if "strain" in desc:
        return "strain"
    if "phase" in desc:
        return "phase"
    if "/s" in unit and ("strain" in text or "nm/m" in text or "m/m" in text):
        return "strain_rate"
    if "rad" in unit:
        return "phase"
    return ""


def _layout(h5: h5py.File, path: str) -> Layout:
    acq = h5["Acquisition"]
    aat = acq.attrs
    version = str(scalar(aat.get("schemaVersion", "")) or "")
    raws = _raw_groups(acq)
    raw_name = next((r for r in raws if isinstance(acq[r].get("RawData"), h5py.Dataset)), None)
    if raw_name is None:
        proc = acq.get("Processed")
        if isinstance(proc, h5py.Group) and any(k.startswith("Fbe") for k in proc.keys()):
            raise ValueError("no raw data (only processed FBE frequency-band energy, which is not a time series)")
        raise ValueError("no Acquisition/Raw[i]/RawData dataset")
    raw = acq[raw_name]
    rat = raw.attrs
    ds = raw["RawData"]
    check_numeric(ds, "RawData")
    if ds.ndim != 2:
        raise ValueError(f"RawData is {ds.ndim}-D with shape {ds.shape}, expected 2-D")

    n_loci_attr = rat.get("NumberOfLoci", aat.get("NumberOfLoci"))
    n_loci = None if n_loci_attr is None else int(as_float(n_loci_attr, "NumberOfLoci"))
    dims = _dims(ds)
    if len(dims) == 2 and "time" in dims[0] and "locus" in dims[1]:
        taxis = 0
    elif len(dims) == 2 and "locus" in dims[0] and "time" in dims[1]:
        taxis = 1
    elif not dims:  # no Dimensions attribute: decide by NumberOfLoci, like DASPy
        taxis = 1 if (n_loci is not None and ds.shape[0] == n_loci and ds.shape[1] != n_loci) else 0
    else:
        raise ValueError(f"unknown RawData@Dimensions {dims}")
    nt, nch = ds.shape if taxis == 0 else ds.shape[::-1]
    if n_loci is not None and n_loci != nch:
        raise ValueError(f"NumberOfLoci is {n_loci} but RawData has {nch} loci (shape {ds.shape}, dims {dims or '?'})")

    # ---- time
    tds = raw.get("RawDataTime")
    times_us = None
    if isinstance(tds, h5py.Dataset):
        if tds.dtype.kind not in "iuf":
            raise ValueError(f"RawDataTime has non-numeric dtype {tds.dtype}")
        if tds.ndim != 1 or tds.shape[0] != nt:
            raise ValueError(f"RawDataTime has {tds.shape[0] if tds.ndim else 0} entries but RawData has {nt} time samples")
        # first two and last only: enough for t0, spacing check, without reading it all
        head = tds[: min(nt, 2)].astype(np.int64)
        last = int(tds[nt - 1])
        times_us = (head, last)
    rate = rat.get("OutputDataRate")
    dt = None
    if rate is not None:
        r = as_float(rate, "OutputDataRate")
        if r > 0:
            dt = 1.0 / r
    if times_us is not None and nt > 1:
        span_dt = (times_us[1] - int(times_us[0][0])) / 1e6 / (nt - 1)
        if dt is None:
            dt = span_dt
        elif span_dt > 0 and abs(span_dt - dt) > 0.01 * dt:
            raise ValueError(
                f"OutputDataRate {1 / dt:g} Hz disagrees with RawDataTime spacing ({1 / span_dt:g} Hz)"
            )
    part_start = ds.attrs.get("PartStartTime", tds.attrs.get("PartStartTime") if tds is not None else None)
    part_end = ds.attrs.get("PartEndTime", tds.attrs.get("PartEndTime") if tds is not None else None)
    if dt is None and part_start is not None and part_end is not None and nt > 1:
        dt = (iso_to_ns(scalar(part_end)) - iso_to_ns(scalar(part_start))) / 1e9 / (nt - 1)
    if dt is None:
        raise ValueError("no OutputDataRate, RawDataTime or PartStart/EndTime to get the sampling rate")
    if times_us is not None:
        t0_ns = int(times_us[0][0]) * 1000
    elif part_start is not None:
        t0_ns = iso_to_ns(scalar(part_start))
    elif "StartTime" in rat or "MeasurementStartTime" in aat:
        t0_ns = iso_to_ns(scalar(rat.get("StartTime", aat.get("MeasurementStartTime"))))
    else:
        raise ValueError("no RawDataTime or start time attribute")

    # ---- distance
    dx = _length_m(aat, "SpatialSamplingInterval")
    if dx is None:
        raise ValueError("Acquisition has no SpatialSamplingInterval")
    start_attr = rat.get("StartLocusIndex", aat.get("StartLocusIndex", 0))
    start_locus = int(as_float(start_attr, "StartLocusIndex"))
    distance = (start_locus + np.arange(nch, dtype=np.float64)) * dx
    gauge = _length_m(aat, "GaugeLength")

    unit = str(scalar(rat.get("RawDataUnit", "")) or "")
    desc = str(scalar(rat.get("RawDescription", "")) or "")
    scale_attr = rat.get("dasedgeScale")
    scale = None if scale_attr is None else float(scalar(scale_attr))

    info = FileInfo(
        path=path,
        format=FORMAT,
        version=version,
        n_time=int(nt),
        n_channel=int(nch),
        t0_ns=int(t0_ns),
        dt_s=float(dt),
        distance_m=distance,
        gauge_length_m=gauge,
        data_type=_data_type(desc, unit),
        data_units=unit,
        attrs={
            "raw_dtype": str(ds.dtype),
            "raw_group": raw_name,
            "n_raw_groups": len(raws),
            "dimensions": dims,
            "start_locus_index": start_locus,
            "pulse_rate_hz": scalar(aat.get("PulseRate")),
            "vendor": str(scalar(aat.get("VendorCode", "")) or ""),
            "raw_description": desc,
        },
    )
    validate_info(info)
    s32 = None if scale is None or scale == 1 else np.float32(scale)

    def load(tsl: slice, csl: slice) -> np.ndarray:
        out = read_f32(ds, tsl, csl) if taxis == 0 else read_f32(ds, csl, tsl).T
        if s32 is not None:
            out *= s32
        return out

    return Layout(info, load)


def _scan_prodml(path: PathLike | h5py.File) -> FileInfo:
    """Metadata of a PRODML file (no samples read)."""
    return scan_with(_layout, "PRODML", path)


def _read_prodml(path: PathLike | h5py.File, time=None, distance=None) -> DASBlock:
    """Read a PRODML file, or only a time/distance window of it."""
    return read_with(_layout, "PRODML", path, time, distance)


# ------------------------------------------------------------------ writing
_DESCRIPTION = {
    "strain_rate": "Strain rate",
    "strain": "Strain",
    "phase": "Phase",
    "phase_rate": "Phase rate",
    "velocity": "Velocity",
}


def write_prodml(block: DASBlock, path: PathLike, dtype: str = "float32") -> Path:
    """Write ``block`` as PRODML 2.0 (``Acquisition/Raw[0]/RawData`` ``[time, locus]``).

    Parameters
    ----------
    block
        Data to write; channel distances must be a regular grid
        ``(StartLocusIndex + i) * dx`` with an integer start index.
    path
        Output file.
    dtype
        ``"float32"`` (exact) or ``"int16"`` (quantised; the scale factor is
        stored in ``Raw[0]@dasedgeScale`` and ``RawDataUnit`` is the unit of the
        scaled values).

    Notes
    -----
    ``RawDataTime`` holds int64 Unix µs, so times round-trip at µs resolution.
    """
    d = np.asarray(block.distance_m, dtype=np.float64)
    nt, nch = block.shape
    dx = float(np.median(np.diff(d))) if nch > 1 else 1.0
    if dx <= 0:
        raise ValueError("PRODML needs increasing channel distances")
    start_f = d[0] / dx
    start = int(round(start_f))
    if not np.allclose((start + np.arange(nch)) * dx, d, rtol=0, atol=1e-6 * max(1.0, abs(dx))):
        raise ValueError("channel distances are not (StartLocusIndex + i) * dx on an integer grid")
    data = np.asarray(block.data, dtype=np.float32)
    scale = None
    if dtype == "int16":
        peak = float(np.max(np.abs(data))) if data.size else 0.0
        scale = peak / 32767 if peak > 0 else 1.0
        raw = np.round(data.astype(np.float64) / scale).astype(np.int16)
    elif dtype == "float32":
        raw = data
    else:
        raise ValueError(f"dtype must be 'float32' or 'int16', got {dtype!r}")
    t0_us = block.t0_ns // 1000
    times = t0_us + np.round(np.arange(nt) * block.dt_s * 1e6).astype(np.int64)
    start_iso = iso_utc(int(times[0]) * 1000).replace("Z", "+00:00")
    end_iso = iso_utc(int(times[-1]) * 1000).replace("Z", "+00:00") if nt else start_iso
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as h5:
        h5.attrs["uuid"] = np.bytes_(str(_uuid.uuid4()).encode())
        acq = h5.create_group("Acquisition")
        a = acq.attrs
        a["schemaVersion"] = np.bytes_(b"2.0")
        a["uuid"] = np.bytes_(str(_uuid.uuid4()).encode())
        a["AcquisitionId"] = np.bytes_(str(_uuid.uuid4()).encode())
        a["MeasurementStartTime"] = np.bytes_(start_iso.encode())
        if block.gauge_length_m is not None:
            a["GaugeLength"] = np.float64(block.gauge_length_m)
            a["GaugeLengthUnit"] = np.bytes_(b"m")
        a["SpatialSamplingInterval"] = np.float64(dx)
        a["SpatialSamplingIntervalUnit"] = np.bytes_(b"m")
        a["NumberOfLoci"] = np.int64(nch)
        a["StartLocusIndex"] = np.int64(start)
        a["PulseRate"] = np.float64(block.fs)
        a["PulseWidth"] = np.float64(0.0)
        a["PulseWidthUnit"] = np.bytes_(b"ns")
        a["VendorCode"] = np.bytes_(b"dasedge")
        a["TriggeredMeasurement"] = np.uint8(0)
        r = acq.create_group("Raw[0]")
        ra = r.attrs
        ra["NumberOfLoci"] = np.int64(nch)
        ra["StartLocusIndex"] = np.int64(start)
        ra["OutputDataRate"] = np.float64(block.fs)
        ra["RawDataUnit"] = np.bytes_(block.data_units.encode())
        ra["RawDescription"] = np.bytes_(_DESCRIPTION.get(block.data_type, block.data_type).encode())
        ra["RawIndex"] = np.uint64(0)
        ra["uuid"] = np.bytes_(str(_uuid.uuid4()).encode())
        if scale is not None:
            ra["dasedgeScale"] = np.float64(scale)
        rd = r.create_dataset("RawData", data=raw)  # contiguous
        rd.attrs["Dimensions"] = np.array([b"time", b"locus"])
        rd.attrs["PartStartTime"] = np.bytes_(start_iso.encode())
        rd.attrs["PartEndTime"] = np.bytes_(end_iso.encode())
        rd.attrs["StartIndex"] = np.int64(0)
        rd.attrs["Count"] = np.int64(raw.size)
        rt = r.create_dataset("RawDataTime", data=times)
        for k in ("PartStartTime", "StartTime"):
            rt.attrs[k] = np.bytes_(start_iso.encode())
        rt.attrs["PartEndTime"] = np.bytes_(end_iso.encode())
        rt.attrs["EndTime"] = np.bytes_(end_iso.encode())
        rt.attrs["StartIndex"] = np.int64(0)
        rt.attrs["Count"] = np.int64(nt)
    return path


_write_prodml = write_prodml  # ObsPy-style plug-in name
