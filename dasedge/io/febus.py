"""Febus A1 HDF5 (``/<host>/Source1/Zone1/<dataset>``).

The data are 3-D ``(block, time-in-block, distance)``; ``Source1/time`` holds
one epoch time (s) per block.  Zone attributes: ``Spacing = [dx m, dt ms,
...]``, ``Origin = [x0 m, t-offset ms (<= 0), ...]``, ``Extent`` (index ranges),
``BlockRate`` (blocks per 1000 s), ``BlockOverlap`` (%), ``GaugeLength``,
``Version``.  Values are nanostrain/s.

Rules used here:

* ``dt`` = ``Spacing[1]`` ms when the zone has a ``Version``; old files (no
  ``Version``) give the output rate in ``SamplingRate`` (Hz);
* block period = ``1000 / BlockRate`` s, else the median spacing of the block
  times;
* each block keeps ``round(period / dt)`` rows: the overlapping edges
  (``rows - keep``) are trimmed, half at the start, the rest at the end, so
  the blocks tile time without duplicates.  A file without ``BlockOverlap``
  whose blocks exactly fill their period (e.g. the Valencia example) keeps
  every row;
* first sample = ``time[0] + Origin[1]/1000 + trim_start*dt``;
* channel ``i`` is at ``Extent[0]*dx + Origin[0] + i*dx``.

Zones holding a power spectral density (dataset name ``PSD ...``, as in
``febus_2.h5``) are refused: they are spectra, not a time series.
"""

from __future__ import annotations

import h5py
import numpy as np

from dasedge.block import DASBlock

from ._common import FileInfo, Layout, PathLike, as_float, check_numeric, read_f32, read_with, scalar, scan_with, validate_info

FORMAT = "febus"


def _sources(h5: h5py.File) -> list[h5py.Group]:
    out = []
    for inst in h5.values():
        if not isinstance(inst, h5py.Group):
            continue
        for name, src in inst.items():
            if name.startswith("Source") and isinstance(src, h5py.Group):
                out.append(src)
    return out


def _is_febus(h5: h5py.File) -> bool:
    srcs = _sources(h5)
    return bool(srcs) and all({"SamplingRate", "Hostname"} <= set(s.attrs.keys()) for s in srcs[:1])


def _vec(attrs: h5py.AttributeManager, name: str) -> np.ndarray:
    if name not in attrs:
        raise ValueError(f"zone has no {name} attribute")
    v = np.asarray(attrs[name]).reshape(-1)
    if v.dtype.kind not in "iuf":
        v = np.array([float(x) for x in np.atleast_1d(scalar(v))])
    return v.astype(np.float64)


def _layout(h5: h5py.File, path: str) -> Layout:
    srcs = _sources(h5)
    src = srcs[0]
    zones = sorted(k for k in src.keys() if k.startswith("Zone") and isinstance(src[k], h5py.Group))
    if not zones:
        raise ValueError(f"no Zone group in {src.name}")
    zone = src[zones[0]]
    names = [k for k in zone.keys() if isinstance(zone[k], h5py.Dataset)]
    if len(names) != 1:
        raise ValueError(f"expected one dataset in {zone.name}, found {names}")
    ds = zone[names[0]]
    if names[0].upper().startswith("PSD"):
        raise ValueError(f"dataset '{names[0]}' is a power spectral density, not a time series")
    check_numeric(ds, names[0])
    if ds.ndim != 3:
        raise ValueError(f"dataset '{names[0]}' is {ds.ndim}-D with shape {ds.shape}, expected 3-D (block, time, distance)")
    n_blocks, rows, nch = ds.shape
    za = zone.attrs
    spacing = _vec(za, "Spacing")
    origin = _vec(za, "Origin") if "Origin" in za else np.zeros(3)
    extent = _vec(za, "Extent") if "Extent" in za else np.zeros(6)
    if "Version" in za:
        dt = spacing[1] / 1000.0
    else:
        fs = as_float(za.get("SamplingRate", src.attrs.get("SamplingRate")), "SamplingRate")
        dt = 1.0 / fs if 0 < fs < 1e6 else spacing[1] / 1000.0
    if not dt > 0:
        raise ValueError(f"sampling interval {dt!r} s is not positive")

    tds = src.get("time")
    if not isinstance(tds, h5py.Dataset) or tds.dtype.kind not in "iuf":
        raise ValueError(f"missing or non-numeric {src.name}/time")
    btimes = np.asarray(tds[()], dtype=np.float64).reshape(-1)
    if btimes.size != n_blocks:
        raise ValueError(f"{btimes.size} block times for {n_blocks} data blocks")
    block_rate = as_float(za.get("BlockRate", src.attrs.get("BlockRate", 0)), "BlockRate")
    if block_rate > 0:
        period = 1000.0 / block_rate
    elif n_blocks > 1:
        period = float(np.median(np.diff(btimes)))
    else:
        period = rows * dt
    keep = int(round(period / dt))
    if keep > rows:
        if keep - rows <= max(1, round(0.05 * rows)):
            keep = rows  # timestamps jitter slightly around a full block
        else:
            raise ValueError(f"blocks hold {rows} rows but the block period needs {keep}: data have gaps")
    if keep <= 0:
        raise ValueError("block period is shorter than one sample")
    trim0 = (rows - keep) // 2
    t0_s = btimes[0] + origin[1] / 1000.0 + trim0 * dt
    dx = spacing[0]
    x0 = extent[0] * dx + origin[0]
    distance = x0 + np.arange(nch, dtype=np.float64) * dx
    gl = za.get("GaugeLength")
    info = FileInfo(
        path=path,
        format=FORMAT,
        version=str(scalar(za.get("Version", "1")) or "1").split(".")[0],
        n_time=int(n_blocks * keep),
        n_channel=int(nch),
        t0_ns=int(round(t0_s * 1e6)) * 1000,
        dt_s=float(dt),
        distance_m=distance,
        gauge_length_m=None if gl is None else as_float(gl, "GaugeLength"),
        data_type="strain_rate",
        data_units="nanostrain/s",
        attrs={
            "raw_dtype": str(ds.dtype),
            "dataset": ds.name,
            "n_blocks": int(n_blocks),
            "rows_per_block": int(rows),
            "kept_rows_per_block": int(keep),
            "trim_start_rows": int(trim0),
            "block_overlap_pct": scalar(za.get("BlockOverlap", za.get("Overlap"))),
            "zones": zones,
        },
    )
    validate_info(info)

    def load(tsl: slice, csl: slice) -> np.ndarray:
        i0, i1 = tsl.start, tsl.stop
        nc = csl.stop - csl.start
        if i1 <= i0 or nc == 0:
            return np.zeros((max(0, i1 - i0), nc), dtype=np.float32)
        b0, b1 = i0 // keep, (i1 - 1) // keep + 1
        cube = read_f32(ds, slice(b0, b1), slice(trim0, trim0 + keep), csl)
        flat = cube.reshape(-1, nc)
        off = b0 * keep
        return flat[i0 - off : i1 - off]

    return Layout(info, load)


def _scan_febus(path: PathLike | h5py.File) -> FileInfo:
    """Metadata of a Febus A1 file (no samples read)."""
    return scan_with(_layout, "Febus", path)


def _read_febus(path: PathLike | h5py.File, time=None, distance=None) -> DASBlock:
    """Read a Febus A1 file, or only a time/distance window of it."""
    return read_with(_layout, "Febus", path, time, distance)
