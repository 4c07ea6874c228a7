"""DASDAE format (DASCore's own HDF5 layout, written with PyTables).

Root attribute ``__format__ = 'DASDAE'``; one group per patch under
``/waveforms``, holding ``data``, one ``_coord_<dim>`` array per dimension
(``_coord_time`` int64 ns when ``@is_datetime64``) and string attributes
``_dims`` (e.g. ``time,distance``), ``_attrs_data_type``,
``_attrs_data_units``, ``_attrs_gauge_length``.  The pickled
``_attrs_coords`` attribute is never unpickled (unsafe); the coordinate arrays
carry the same information.  Only single-patch files are supported.
"""

from __future__ import annotations

import h5py
import numpy as np

from dasedge.block import DATA_TYPES, DASBlock

from ._common import FileInfo, Layout, PathLike, check_numeric, read_f32, read_with, scalar, scan_with, validate_info

FORMAT = "dasdae"


def _is_dasdae(h5: h5py.File) -> bool:
    return str(scalar(h5.attrs.get("__format__", ""))) == "DASDAE" and isinstance(h5.get("waveforms"), h5py.Group)


def _units(text: str) -> str:
    return {"m / s": "m/s", "1 / s": "1/s", "m / s ** 2": "m/s**2"}.get(text, text)


def _layout(h5: h5py.File, path: str) -> Layout:
    wf = h5["waveforms"]
    patches = [k for k in wf.keys() if isinstance(wf[k], h5py.Group)]
    if not patches:
        raise ValueError("no patch under /waveforms")
    if len(patches) > 1:
        raise ValueError(f"holds {len(patches)} patches; only single-patch DASDAE files are supported")
    g = wf[patches[0]]
    ds = g.get("data")
    if not isinstance(ds, h5py.Dataset):
        raise ValueError("patch has no data array")
    check_numeric(ds, "data")
    dims = [d.strip() for d in str(scalar(g.attrs.get("_dims", ""))).split(",") if d.strip()]
    if sorted(dims) != ["distance", "time"] or ds.ndim != 2:
        raise ValueError(f"need a 2-D (time, distance) patch, got dims {dims} shape {ds.shape}")
    taxis = dims.index("time")
    nt, nch = ds.shape[taxis], ds.shape[1 - taxis]
    tc, dc = g.get("_coord_time"), g.get("_coord_distance")
    if tc is None or dc is None:
        raise ValueError("missing _coord_time or _coord_distance")
    if tc.shape != (nt,):
        raise ValueError(f"_coord_time has {tc.shape} entries but data has {nt} time samples")
    if dc.shape != (nch,):
        raise ValueError(f"_coord_distance has {dc.shape} entries but data has {nch} channels")
    if tc.dtype.kind not in "iu" or dc.dtype.kind not in "iuf":
        raise ValueError(f"coordinate dtypes {tc.dtype}/{dc.dtype} are not numeric")
    t = tc[()].astype(np.int64)
    if nt > 1:
        steps = np.diff(t)
        dt_ns = (t[-1] - t[0]) / (nt - 1)
        if dt_ns <= 0 or np.max(np.abs(steps - dt_ns)) > 0.01 * dt_ns:
            raise ValueError("time coordinate is not evenly sampled")
    else:
        raise ValueError("need at least 2 time samples")
    data_type = str(scalar(g.attrs.get("_attrs_data_type", "")) or "")
    if data_type == "strainrate":
        data_type = "strain_rate"
    if data_type not in DATA_TYPES:
        data_type = ""
    gl_raw = g.attrs.get("_attrs_gauge_length")
    gauge = None
    if gl_raw is not None and np.asarray(gl_raw).dtype.kind in "iuf":
        v = float(scalar(gl_raw))
        gauge = v if np.isfinite(v) and v > 0 else None
    info = FileInfo(
        path=path,
        format=FORMAT,
        version=str(scalar(h5.attrs.get("__DASDAE_version__", ""))),
        n_time=int(nt),
        n_channel=int(nch),
        t0_ns=int(t[0]),
        dt_s=float(dt_ns) / 1e9,
        distance_m=dc[()].astype(np.float64),
        gauge_length_m=gauge,
        data_type=data_type,
        data_units=_units(str(scalar(g.attrs.get("_attrs_data_units", "")) or "")),
        attrs={
            "raw_dtype": str(ds.dtype),
            "patch": patches[0],
            "instrument_id": str(scalar(g.attrs.get("_attrs_instrument_id", "")) or ""),
        },
    )
    validate_info(info)

    def load(tsl: slice, csl: slice) -> np.ndarray:
        return read_f32(ds, tsl, csl) if taxis == 0 else read_f32(ds, csl, tsl).T

    return Layout(info, load)


def _scan_dasdae(path: PathLike | h5py.File) -> FileInfo:
    """Metadata of a DASDAE file (no samples read)."""
    return scan_with(_layout, "DASDAE", path)


def _read_dasdae(path: PathLike | h5py.File, time=None, distance=None) -> DASBlock:
    """Read a DASDAE file, or only a time/distance window of it."""
    return read_with(_layout, "DASDAE", path, time, distance)
