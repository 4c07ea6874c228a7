"""Terra15 Treble HDF5, file versions 4-6.

v5/v6: ``/data_product/{data, gps_time, posix_time}``; v4:
``/<data_product>/{data, gps_time, ...}``.  Root attributes ``file_version``,
``data_product`` (``velocity``), ``data_product_units`` (``m/s``), ``dx``,
``gauge_length``, ``sensing_range_start``.

Rules: the data are **velocity** (not strain rate); time from ``gps_time``
(preferred) else ``posix_time``; ``dt`` from the time array (not the
attributes); an incomplete last block leaves zeros / non-increasing values at
the end of the time vector: those samples are dropped.  Channel ``i`` is at
``sensing_range_start + i*dx``.
"""

from __future__ import annotations

import h5py
import numpy as np

from dasedge.block import DASBlock

from ._common import FileInfo, Layout, PathLike, as_float, dataset_2d, epoch_s_to_ns, read_f32, read_with, scalar, scan_with, validate_info

FORMAT = "terra15"
_UNITS = {"m/s": ("velocity", "m/s"), "m/s/s": ("acceleration", "m/s**2"), "m/s^2": ("acceleration", "m/s**2")}


def _is_terra15(h5: h5py.File) -> bool:
    return "file_version" in h5.attrs and "data_product" in h5.attrs and _group(h5) is not None


def _group(h5: h5py.File) -> h5py.Group | None:
    for name in ("data_product", str(scalar(h5.attrs.get("data_product", "")))):
        g = h5.get(name) if name else None
        if isinstance(g, h5py.Group) and "data" in g:
            return g
    return None


def _n_valid(t: np.ndarray) -> int:
    """Number of leading samples with a valid, increasing time stamp."""
    if t.size == 0:
        return 0
    bad = np.flatnonzero((t[1:] <= t[:-1]) | (t[1:] <= 0))
    n = t.size if bad.size == 0 else int(bad[0]) + 1
    return 0 if t[0] <= 0 else n


def _layout(h5: h5py.File, path: str) -> Layout:
    version = str(scalar(h5.attrs["file_version"]))
    g = _group(h5)
    ds = dataset_2d(g, "data")
    nt_alloc, nch = ds.shape
    tname = "gps_time" if "gps_time" in g else "posix_time" if "posix_time" in g else None
    if tname is None:
        raise ValueError("no gps_time or posix_time dataset")
    tds = g[tname]
    if tds.dtype.kind not in "iuf":
        raise ValueError(f"{tname} has non-numeric dtype {tds.dtype}")
    if tds.ndim != 1 or tds.shape[0] != nt_alloc:
        raise ValueError(f"{tname} has {tds.shape[0] if tds.ndim else 0} entries but data has {nt_alloc} time rows")
    t = tds[()].astype(np.float64)  # 8 bytes per sample: small next to the data
    nt = _n_valid(t)
    if nt < 2:
        raise ValueError(f"{tname} has fewer than 2 valid time stamps")
    dt = (t[nt - 1] - t[0]) / (nt - 1)
    dx = as_float(h5.attrs.get("dx", ds.attrs.get("dx")), "dx")
    nx_attr = h5.attrs.get("nx")
    if nx_attr is not None and int(scalar(nx_attr)) != nch:
        raise ValueError(f"attribute nx={int(scalar(nx_attr))} but data has {nch} channels")
    x0 = as_float(h5.attrs.get("sensing_range_start", 0.0), "sensing_range_start")
    distance = x0 + np.arange(nch, dtype=np.float64) * dx
    product = str(scalar(h5.attrs.get("data_product", "")))
    unit = str(scalar(h5.attrs.get("data_product_units", "")) or "")
    data_type, data_units = _UNITS.get(unit, (product if product in ("velocity", "strain_rate") else "", unit))
    gl = h5.attrs.get("gauge_length")
    info = FileInfo(
        path=path,
        format=FORMAT,
        version=version,
        n_time=int(nt),
        n_channel=int(nch),
        t0_ns=epoch_s_to_ns(t[0]),
        dt_s=float(dt),
        distance_m=distance,
        gauge_length_m=None if gl is None else as_float(gl, "gauge_length"),
        data_type=data_type,
        data_units=data_units,
        attrs={"raw_dtype": str(ds.dtype), "time_source": tname, "rows_allocated": int(nt_alloc)},
    )
    validate_info(info)

    def load(tsl: slice, csl: slice) -> np.ndarray:
        return read_f32(ds, tsl, csl)

    return Layout(info, load)


def _scan_terra15(path: PathLike | h5py.File) -> FileInfo:
    """Metadata of a Terra15 file (no samples read)."""
    return scan_with(_layout, "Terra15", path)


def _read_terra15(path: PathLike | h5py.File, time=None, distance=None) -> DASBlock:
    """Read a Terra15 file, or only a time/distance window of it."""
    return read_with(_layout, "Terra15", path, time, distance)
