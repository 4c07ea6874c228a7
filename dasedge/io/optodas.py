"""ASN OptoDAS HDF5 (file version 8 and later).

Layout (everything is a dataset, not an attribute): ``/fileVersion``,
``/data`` ``(nSamples, nChannels)`` time-major, ``/header/{time, dt, dx,
gaugeLength, channels, dataScale, sensitivities, sensitivityUnits, unit,
dataType, dimensionNames, ...}``.

Rules (from the ASN file description):

* distance of a channel = ``channels * dx`` (channels are absolute numbers);
* ``t_i = time + i*dt`` with ``time`` float epoch seconds (UTC);
* physical value = ``raw * dataScale / sensitivity`` where the sensitivity is
  a scalar or a per-channel row (row 0 is used).  Raw integers are cast to
  float32 *before* scaling.
* ``rad/m/s`` (no sensitivity applied) is ``phase_rate``; ``strain/s`` is
  ``strain_rate``.
"""

from __future__ import annotations

import datetime as _dt
import math
from pathlib import Path
from typing import Sequence

import h5py
import numpy as np

from dasedge.block import DASBlock

from ._common import (
    FileInfo,
    Layout,
    PathLike,
    dataset_2d,
    decode,
    epoch_s_to_ns,
    read_f32,
    read_with,
    scalar,
    scan_with,
    validate_info,
)

FORMAT = "optodas"

#: OptoDAS unit string -> (data_type, data_units in dasedge convention)
_UNITS = {
    "rad/m/s": ("phase_rate", "rad/(m*s)"),
    "rad/(m*s)": ("phase_rate", "rad/(m*s)"),
    "rad/m": ("phase", "rad/m"),
    "rad": ("phase", "rad"),
    "strain/s": ("strain_rate", "1/s"),
    "1/s": ("strain_rate", "1/s"),
    "strain": ("strain", "1"),
    "m/s": ("velocity", "m/s"),
}
_DATATYPE_CODE = {2: ("phase", "rad/m"), 3: ("phase_rate", "rad/(m*s)")}
#: full scale of the int32 raw data we write: |raw| <= 2**24 is exact in float32
_FULL_SCALE = 2**24 - 1


def _is_optodas(h5: h5py.File) -> bool:
    return (
        isinstance(h5.get("fileVersion"), h5py.Dataset)
        and isinstance(h5.get("header"), h5py.Group)
        and "data" in h5
    )


def _hdr(h5: h5py.File, name: str, default=None, required: bool = False):
    obj = h5.get(f"header/{name}")
    if obj is None:
        if required:
            raise ValueError(f"missing '/header/{name}'")
        return default
    return obj[()]


def _layout(h5: h5py.File, path: str) -> Layout:
    version = int(scalar(h5["fileVersion"][()]))
    if version < 8:
        raise ValueError(f"OptoDAS file version {version} is not supported (need 8 or later)")
    ds = dataset_2d(h5, "data")
    names = [str(n).lower() for n in (decode(_hdr(h5, "dimensionNames", np.array([b"time", b"distance"]))) or [])]
    if isinstance(names, str):
        names = [names]
    if len(names) == 2 and names[0].startswith("dist"):
        taxis = 1
    elif len(names) == 2 and names[0] != "time":
        raise ValueError(f"unknown dimensionNames {names}")
    else:
        taxis = 0
    nt, nch = (ds.shape if taxis == 0 else ds.shape[::-1])
    sizes = _hdr(h5, "dimensionSizes")
    if sizes is not None:
        sizes = np.asarray(sizes).reshape(-1)
        if sizes.size == 2 and (int(sizes[taxis]) != ds.shape[taxis] or int(sizes[1 - taxis]) != ds.shape[1 - taxis]):
            raise ValueError(f"/header/dimensionSizes {sizes.tolist()} do not match /data shape {ds.shape}")

    dt = float(scalar(_hdr(h5, "dt", required=True)))
    dx = float(scalar(_hdr(h5, "dx", required=True)))
    t0 = float(scalar(_hdr(h5, "time", required=True)))
    if not math.isfinite(t0):
        raise ValueError("/header/time is not finite")
    chans = _hdr(h5, "channels")
    chans = np.arange(nch) if chans is None else np.asarray(chans).reshape(-1)
    if chans.dtype.kind not in "iuf":
        raise ValueError(f"/header/channels has non-numeric dtype {chans.dtype}")
    if chans.size != nch:
        raise ValueError(f"/header/channels lists {chans.size} channels but /data has {nch}")
    distance = chans.astype(np.float64) * dx

    gl = _hdr(h5, "gaugeLength")
    gauge = None if gl is None else float(scalar(gl))

    unit = decode(_hdr(h5, "unit"))
    code = scalar(_hdr(h5, "dataType"))
    scale_raw = _hdr(h5, "dataScale")
    if scale_raw is None:  # old files: pi / 2**29 / dt / gaugeLength, unit rad/m/s
        if gauge is None:
            raise ValueError("no /header/dataScale and no gaugeLength to derive it")
        data_scale = math.pi / 2**29 / dt / gauge
        unit = unit or "rad/m/s"
    else:
        data_scale = float(scalar(scale_raw))
    if not (math.isfinite(data_scale) and data_scale != 0):
        raise ValueError(f"/header/dataScale {data_scale!r} is not usable")

    sens = _hdr(h5, "sensitivities")
    sens_row: np.ndarray | None = None
    sens_unit = ""
    if sens is not None:
        sens = np.atleast_2d(np.asarray(sens, dtype=np.float64))
        row = sens[0]
        if row.size not in (1, nch):
            raise ValueError(f"/header/sensitivities row has {row.size} values for {nch} channels")
        if not np.all(np.isfinite(row)) or np.any(row == 0):
            raise ValueError("/header/sensitivities contain zero or non-finite values")
        su = decode(_hdr(h5, "sensitivityUnits"))
        sens_unit = (su[0] if isinstance(su, list) and su else su) or ""
        if not np.all(row == 1.0):
            sens_row = np.broadcast_to(row, (nch,)).astype(np.float64)

    unit_s = str(unit or "").strip()
    if sens_row is not None:
        # dividing rad/m/s by a sensitivity in rad/(m*strain) gives strain/s
        if "strain" in str(sens_unit) and unit_s.startswith("rad/m"):
            unit_s = "strain/s" if unit_s.endswith("/s") else "strain"
        elif sens_unit:
            unit_s = f"{unit_s} / ({sens_unit})"
    if unit_s in _UNITS:
        data_type, data_units = _UNITS[unit_s]
    elif isinstance(code, int) and code in _DATATYPE_CODE and not unit_s:
        data_type, data_units = _DATATYPE_CODE[code]
    else:
        data_type, data_units = "", unit_s

    info = FileInfo(
        path=path,
        format=FORMAT,
        version=str(version),
        n_time=int(nt),
        n_channel=int(nch),
        t0_ns=epoch_s_to_ns(t0),
        dt_s=dt,
        distance_m=distance,
        gauge_length_m=gauge,
        data_type=data_type,
        data_units=data_units,
        attrs={
            "raw_dtype": str(ds.dtype),
            "data_scale": data_scale,
            "unit": str(unit or ""),
            "data_type_code": code,
            "experiment": decode(_hdr(h5, "experiment", b"")) or "",
            "channels": chans,
        },
    )
    validate_info(info)
    scale32 = np.float32(data_scale)
    inv_sens32 = None if sens_row is None else (1.0 / sens_row).astype(np.float32)

    def load(tsl: slice, csl: slice) -> np.ndarray:
        out = read_f32(ds, tsl, csl) if taxis == 0 else read_f32(ds, csl, tsl).T
        if scale32 != 1:
            out *= scale32
        if inv_sens32 is not None:
            out *= inv_sens32[csl]
        return out

    return Layout(info, load, {"experiment": info.attrs["experiment"]})


def _scan_optodas(path: PathLike | h5py.File) -> FileInfo:
    """Metadata of an OptoDAS file (no samples read)."""
    return scan_with(_layout, "OptoDAS", path)


def _read_optodas(path: PathLike | h5py.File, time=None, distance=None) -> DASBlock:
    """Read an OptoDAS file, or only a time/distance window of it."""
    return read_with(_layout, "OptoDAS", path, time, distance)


# ------------------------------------------------------------------ writing
_UNIT_OUT = {"strain_rate": ("strain/s", 3), "phase_rate": ("rad/m/s", 3), "phase": ("rad/m", 2), "strain": ("strain", 2)}


def _channel_grid(distance: np.ndarray) -> tuple[np.ndarray, float]:
    """Absolute channel numbers and header dx so that ``channels * dx == distance``.

    Uses the block's spacing, refined by an integer factor (like OptoDAS
    ``roiDec``) when the first channel is not on the coarse grid.
    """
    d = np.asarray(distance, dtype=np.float64)
    if d.size == 1:
        step = abs(d[0]) if d[0] != 0 else 1.0
        return np.array([round(d[0] / step)], dtype=np.int64), step
    step = float(np.median(np.diff(d)))
    for k in range(1, 1001):
        dx = step / k
        ch = np.round(d / dx)
        if np.allclose(ch * dx, d, rtol=0, atol=1e-9 * max(1.0, float(np.max(np.abs(d))))):
            if np.all(np.diff(ch) != 0):
                return ch.astype(np.int64), dx
    raise ValueError("channel distances do not lie on a regular grid (cannot express as channels*dx)")


def write_optodas(block: DASBlock, path: PathLike, raw_int: bool = True) -> Path:
    """Write ``block`` as an OptoDAS v8 file.

    Parameters
    ----------
    block
        Data to write (``strain_rate``, ``phase_rate``, ``phase`` or ``strain``).
    path
        Output file (parent folders are created).
    raw_int
        ``True``: int32 raw samples plus ``/header/dataScale`` chosen so the
        largest sample maps to 2**24-1 (exact in float32); reading back gives
        the block within half a quantisation step.  ``False``: float32 data
        with ``dataScale`` 1.

    Notes
    -----
    The start time is stored as float epoch seconds (OptoDAS convention), so it
    round-trips at microsecond resolution.
    """
    if block.data_type not in _UNIT_OUT:
        raise ValueError(f"OptoDAS cannot store data_type {block.data_type!r}")
    unit, code = _UNIT_OUT[block.data_type]
    chans, dx = _channel_grid(block.distance_m)
    data = np.asarray(block.data, dtype=np.float32)
    if raw_int:
        peak = float(np.max(np.abs(data))) if data.size else 0.0
        scale = peak / _FULL_SCALE if peak > 0 else 1.0
        raw = np.round(data.astype(np.float64) / scale).astype(np.int32)
    else:
        scale = 1.0
        raw = data
    nt, nch = data.shape
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    t0_s = block.t0_ns / 1e9
    step = int(np.median(np.diff(chans))) if nch > 1 else 1
    with h5py.File(path, "w") as h5:
        h5["fileVersion"] = np.int64(8)
        h5["fileGenerator"] = np.bytes_(b"dasedge")
        h5.create_dataset("data", data=raw)  # contiguous: windows read only their rows
        h = h5.create_group("header")
        h["time"] = np.float64(t0_s)
        h["dt"] = np.float64(block.dt_s)
        h["dx"] = np.float64(dx)
        if block.gauge_length_m is not None:
            h["gaugeLength"] = np.float64(block.gauge_length_m)
        h["channels"] = chans.astype(np.int32)
        h["dataScale"] = np.float64(scale)
        h["unit"] = np.bytes_(unit.encode())
        h["dataType"] = np.int64(code)
        h["name"] = np.bytes_(b"Phase rate per distance" if code == 3 else b"Phase per distance")
        h["sensitivities"] = np.ones((1, 1), dtype=np.float32)
        h["sensitivityUnits"] = np.array([b""])
        h["dimensionNames"] = np.array([b"time", b"distance"])
        h["dimensionUnits"] = np.array([b"s", b"m"])
        h["dimensionSizes"] = np.array([nt, nch], dtype=np.int64)
        r = h.create_group("dimensionRanges")
        d0 = r.create_group("dimension0")
        d0["min"], d0["max"], d0["size"], d0["unitScale"] = np.int64(0), np.int64(nt - 1), np.int64(nt), np.float64(block.dt_s)
        d1 = r.create_group("dimension1")
        d1["min"] = np.array([chans[0]], dtype=np.int32)
        d1["max"] = np.array([chans[-1]], dtype=np.int32)
        d1["size"] = np.array([nch], dtype=np.int64)
        d1["unitScale"] = np.float64(dx)
        h["experiment"] = np.bytes_(str(block.attrs.get("experiment", block.fiber_id)).encode())
        h["instrument"] = np.bytes_(b"dasedge")
        h["missingSamples"] = np.zeros(0)
        h["spatialUnwrRange"] = np.float32(0.0)
        c = h5.create_group("cableSpec")  # defaults of the ASN description
        c["refractiveIndex"], c["zeta"], c["fiberOverLength"] = np.float64(1.4677), np.float64(0.78), np.float64(1.0)
        h5.create_group("acqSpec")
        d = h5.create_group("demodSpec")
        d["roiStart"] = np.array([chans[0]], dtype=np.uint32) if chans[0] >= 0 else np.array([0], dtype=np.uint32)
        d["roiEnd"] = np.array([max(chans[-1], 0)], dtype=np.uint32)
        d["roiDec"] = np.array([max(step, 1)], dtype=np.uint32)
    return path


def tree_path(root: PathLike, experiment: str, t0_ns: int) -> Path:
    """``<root>/<experiment>/<YYYYMMDD>/dphi/<HHMMSS>.hdf5`` for a start time."""
    t = _dt.datetime.fromtimestamp(t0_ns // 1_000_000_000, tz=_dt.timezone.utc)
    return Path(root) / experiment / t.strftime("%Y%m%d") / "dphi" / (t.strftime("%H%M%S") + ".hdf5")


def write_tree(blocks: Sequence[DASBlock], root: PathLike, experiment: str, raw_int: bool = True) -> list[Path]:
    """Write blocks as an OptoDAS archive ``<exp>/<YYYYMMDD>/dphi/<HHMMSS>.hdf5``.

    Two blocks starting in the same UTC second would map to the same file:
    that raises ``ValueError`` instead of overwriting.
    """
    paths: list[Path] = []
    seen: set[Path] = set()
    for b in blocks:
        p = tree_path(root, experiment, b.t0_ns)
        if p in seen:
            raise ValueError(f"two blocks start in the same second ({p.name}); use blocks >= 1 s apart")
        seen.add(p)
        paths.append(write_optodas(b, p, raw_int=raw_int))
    return paths


_write_optodas = write_optodas  # ObsPy-style plug-in name
