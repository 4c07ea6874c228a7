"""Shared pieces of the native DAS readers.

Every format module builds a :class:`Layout` from an open HDF5 file: the
metadata (:class:`FileInfo`) plus a ``load(tsl, csl)`` function that reads one
``[time, channel]`` hyperslab and returns physical float32 values.  Windowed
reading, validation and error wrapping are done once here, so a format module
only has to describe its layout.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import h5py
import numpy as np

from dasedge.block import DASBlock, iso_utc

PathLike = str | os.PathLike
TimeWindow = tuple[int | None, int | None] | None
DistanceWindow = tuple[float | None, float | None] | None

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


class DASFileError(ValueError):
    """A DAS file cannot be read (missing, not HDF5, unknown or inconsistent layout).

    ``str(err)`` is always one line: ``"<path>: <problem>"``.
    """

    def __init__(self, path: PathLike | None, problem: str) -> None:
        self.path = None if path is None else str(path)
        self.problem = " ".join(str(problem).split())  # one line, no tabs/newlines
        super().__init__(f"{self.path}: {self.problem}" if self.path else self.problem)


@dataclass(frozen=True, eq=False)
class FileInfo:
    """Metadata of one DAS file (no samples read).

    Attributes
    ----------
    path, format, version
        Where the file is, detected format name (see ``FORMATS``), format version.
    n_time, n_channel
        Shape of the ``[time, channel]`` data the reader returns.
    t0_ns, dt_s
        UTC time of the first sample (ns since epoch) and sampling interval (s).
    distance_m
        Distance of every channel in metres.
    gauge_length_m, data_type, data_units
        As in :class:`dasedge.block.DASBlock`.
    attrs
        Extra provenance (raw dtype, vendor fields, ...).
    """

    path: str
    format: str
    version: str
    n_time: int
    n_channel: int
    t0_ns: int
    dt_s: float
    distance_m: np.ndarray
    gauge_length_m: float | None
    data_type: str
    data_units: str
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_time, self.n_channel)

    @property
    def fs(self) -> float:
        return 1.0 / self.dt_s

    @property
    def t_end_ns(self) -> int:
        """Time of the last sample (inclusive), ns."""
        return self.t0_ns + round((self.n_time - 1) * self.dt_s * 1e9)

    @property
    def dx_m(self) -> float:
        if self.n_channel < 2:
            return float("nan")
        return float(np.median(np.abs(np.diff(self.distance_m))))

    def times_ns(self) -> np.ndarray:
        return self.t0_ns + np.round(np.arange(self.n_time) * self.dt_s * 1e9).astype(np.int64)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (used by ``dasedge info --json``)."""
        d = self.distance_m
        gl = self.gauge_length_m
        return {
            "path": self.path,
            "format": self.format,
            "version": self.version,
            "shape": [self.n_time, self.n_channel],
            "time_start": iso_utc(self.t0_ns),
            "time_end": iso_utc(self.t_end_ns),
            "t0_ns": self.t0_ns,
            "duration_s": self.n_time * self.dt_s,
            "dt_s": self.dt_s,
            "sampling_rate_hz": self.fs,
            "distance_start_m": float(d[0]) if d.size else None,
            "distance_end_m": float(d[-1]) if d.size else None,
            "dx_m": None if math.isnan(self.dx_m) else self.dx_m,
            "gauge_length_m": gl,
            "data_type": self.data_type,
            "data_units": self.data_units,
            "raw_dtype": self.attrs.get("raw_dtype"),
        }


@dataclass
class Layout:
    """What a format module finds in a file: metadata and a hyperslab loader."""

    info: FileInfo
    load: Callable[[slice, slice], np.ndarray]
    block_attrs: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------- file access
@contextlib.contextmanager
def open_h5(path_or_h5: PathLike | h5py.File) -> Iterator[tuple[h5py.File, str]]:
    """Yield ``(h5file, path_str)``; open the file if given a path.

    Missing, empty, non-HDF5 or unreadable files raise :class:`DASFileError`.
    """
    if isinstance(path_or_h5, h5py.File):
        yield path_or_h5, str(path_or_h5.filename)
        return
    path = str(path_or_h5)
    p = Path(path)
    if not p.exists():
        raise DASFileError(path, "no such file")
    if p.is_dir():
        raise DASFileError(path, "is a directory, not a file")
    size = p.stat().st_size
    if size == 0:
        raise DASFileError(path, "empty file (0 bytes)")
    try:
        is_h5 = h5py.is_hdf5(path)
    except OSError as exc:
        raise DASFileError(path, f"cannot open: {exc}") from None
    if not is_h5:
        raise DASFileError(path, f"not an HDF5 file ({size} bytes, no HDF5 signature)")
    try:
        h5 = h5py.File(path, "r")
    except (OSError, RuntimeError) as exc:
        raise DASFileError(path, f"corrupt or truncated HDF5 file ({_short(exc)})") from None
    try:
        yield h5, path
    finally:
        h5.close()


def _short(exc: BaseException) -> str:
    msg = " ".join(str(exc).split())
    return (msg[:200] + "...") if len(msg) > 200 else (msg or type(exc).__name__)


# ----------------------------------------------------------- value helpers
def decode(value: Any) -> Any:
    """Decode bytes / numpy bytes (and 1-element arrays of them) to ``str``."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "SO" and value.size == 1:
            value = value.reshape(-1)[0]
        elif value.dtype.kind == "S":
            return [v.decode("utf-8", "replace") for v in value.reshape(-1)]
        elif value.dtype.kind == "O":
            return [decode(v) for v in value.reshape(-1)]
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", "replace").strip("\x00")
    return value


def scalar(value: Any) -> Any:
    """Unwrap 1-element arrays and decode bytes."""
    value = decode(value)
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(-1)[0]
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, np.generic):
        value = value.item()
    return value


def as_float(value: Any, what: str) -> float:
    """Float from a number or a numeric string; raises ``ValueError`` naming ``what``."""
    v = scalar(value)
    try:
        out = float(str(v).strip()) if isinstance(v, str) else float(v)
    except (TypeError, ValueError):
        raise ValueError(f"{what} is not a number ({v!r})") from None
    return out


def epoch_s_to_ns(t: float) -> int:
    """Float epoch seconds to int ns, rounded to the microsecond.

    A float64 epoch time near 2020 only resolves about 0.2 µs, so microseconds
    are the honest resolution (and make µs-exact write/read round trips exact).
    """
    return int(round(float(t) * 1e6)) * 1000


def iso_to_ns(text: str) -> int:
    """ISO 8601 string (``Z``, ``+hh:mm`` or naive = UTC) to int ns since epoch, UTC."""
    s = str(text).strip()
    frac_ns = 0
    # keep sub-microsecond digits that datetime cannot parse
    head, sep, rest = s.partition(".")
    if sep:
        digits = ""
        i = 0
        while i < len(rest) and rest[i].isdigit():
            digits += rest[i]
            i += 1
        tail = rest[i:]
        frac_ns = int((digits + "000000000")[:9]) if digits else 0
        s = head + tail
    if s.endswith("Z") or s.endswith("z"):
        s = s[:-1] + "+00:00"
    dt = _dt.datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=_dt.timezone.utc)
    whole_s = (dt - _EPOCH) // _dt.timedelta(seconds=1)
    return int(whole_s) * 1_000_000_000 + frac_ns


def check_numeric(ds: h5py.Dataset, what: str = "data") -> None:
    """Raise ``ValueError`` unless ``ds`` holds plain integer or float numbers."""
    kind = ds.dtype.kind
    if kind not in "iuf":
        raise ValueError(f"{what} dataset '{ds.name}' has non-numeric dtype {ds.dtype}")


def dataset_2d(h5: h5py.File | h5py.Group, name: str) -> h5py.Dataset:
    obj = h5.get(name)
    if obj is None:
        raise ValueError(f"missing dataset '{name}'")
    if not isinstance(obj, h5py.Dataset):
        raise ValueError(f"'{name}' is not a dataset")
    check_numeric(obj, "data")
    if obj.ndim != 2:
        raise ValueError(f"data '{obj.name}' is {obj.ndim}-D with shape {obj.shape}, expected 2-D")
    return obj


# ------------------------------------------------------------- windowing
def window_slices(
    info: FileInfo, time: TimeWindow = None, distance: DistanceWindow = None
) -> tuple[slice, slice]:
    """Index slices of a time (ns, half-open) / distance (m, closed) window.

    Same rules as :meth:`DASBlock.select`, so a windowed read equals the
    corresponding selection of a full read.
    """
    tsl = slice(0, info.n_time)
    csl = slice(0, info.n_channel)
    if time is not None:
        lo, hi = time
        step_ns = info.dt_s * 1e9
        i0 = 0 if lo is None else max(0, int(np.ceil((lo - info.t0_ns) / step_ns - 1e-9)))
        i1 = info.n_time if hi is None else min(info.n_time, int(np.ceil((hi - info.t0_ns) / step_ns - 1e-9)))
        i0 = min(i0, info.n_time)
        tsl = slice(i0, max(i0, i1))
    if distance is not None:
        lo_m = -np.inf if distance[0] is None else distance[0]
        hi_m = np.inf if distance[1] is None else distance[1]
        idx = np.flatnonzero((info.distance_m >= lo_m) & (info.distance_m <= hi_m))
        csl = slice(int(idx[0]), int(idx[-1]) + 1) if idx.size else slice(0, 0)
    return tsl, csl


def validate_info(info: FileInfo) -> None:
    """Raise ``ValueError`` on metadata that cannot describe real data."""
    if info.n_time <= 0:
        raise ValueError("data has no time samples")
    if info.n_channel <= 0:
        raise ValueError("data has no channels")
    if not (np.isfinite(info.dt_s) and info.dt_s > 0):
        raise ValueError(f"sampling interval {info.dt_s!r} s is not positive")
    d = info.distance_m
    if d.shape != (info.n_channel,):
        raise ValueError(f"{d.size} channel distances for {info.n_channel} data channels")
    if not np.all(np.isfinite(d)):
        raise ValueError("channel distances are not finite")
    if d.size > 1:
        step = np.diff(d)
        if not (np.all(step > 0) or np.all(step < 0)):
            raise ValueError("channel distances are not strictly monotonic")
    if info.gauge_length_m is not None and not (np.isfinite(info.gauge_length_m) and info.gauge_length_m > 0):
        raise ValueError(f"gauge length {info.gauge_length_m!r} m is not positive")
    if not (-(2**62) < info.t0_ns < 2**62):
        raise ValueError("start time out of range")


def read_layout(layout: Layout, time: TimeWindow = None, distance: DistanceWindow = None) -> DASBlock:
    """Read a window of a :class:`Layout` into a :class:`DASBlock` (hyperslab only)."""
    info = layout.info
    tsl, csl = window_slices(info, time, distance)
    data = layout.load(tsl, csl)
    nt = tsl.stop - tsl.start
    nc = csl.stop - csl.start
    if data.shape != (nt, nc):
        raise ValueError(f"reader returned shape {data.shape}, expected {(nt, nc)}")
    attrs = {"format": info.format, "version": info.version, "path": info.path}
    attrs.update(layout.block_attrs)
    return DASBlock(
        data=np.ascontiguousarray(data, dtype=np.float32),
        t0_ns=info.t0_ns + round(tsl.start * info.dt_s * 1e9),
        dt_s=info.dt_s,
        distance_m=info.distance_m[csl],
        gauge_length_m=info.gauge_length_m,
        data_type=info.data_type,
        data_units=info.data_units,
        fiber_id=str(layout.block_attrs.get("fiber_id", "fiber0")),
        channel_index=np.arange(csl.start, csl.stop, dtype=np.int64),
        attrs=attrs,
    )


def clean_attrs(attrs: h5py.AttributeManager, keys: list[str] | None = None) -> dict[str, Any]:
    """Small JSON-able dict of (decoded) attributes, skipping big arrays."""
    out: dict[str, Any] = {}
    for k in keys if keys is not None else list(attrs.keys()):
        if k not in attrs:
            continue
        try:
            v = scalar(attrs[k])
        except Exception:  # noqa: BLE001 - unreadable attribute types are just skipped
            continue
        if isinstance(v, (str, int, float, bool)):
            out[k] = v
    return out


def guarded(path: str, label: str, fn: Callable[[], Any]) -> Any:
    """Run ``fn``; turn any failure into a one-line :class:`DASFileError`."""
    try:
        return fn()
    except DASFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - every failure becomes a one-line file error
        raise DASFileError(path, f"{label}: {_short(exc)}") from None


def scan_with(layout_fn: Callable[[h5py.File, str], Layout], label: str, path: PathLike | h5py.File) -> FileInfo:
    """Metadata of ``path`` using a format's layout function."""
    with open_h5(path) as (h5, p):
        return guarded(p, label, lambda: layout_fn(h5, p).info)


def read_with(
    layout_fn: Callable[[h5py.File, str], Layout],
    label: str,
    path: PathLike | h5py.File,
    time: TimeWindow = None,
    distance: DistanceWindow = None,
) -> DASBlock:
    """Windowed read of ``path`` using a format's layout function."""
    with open_h5(path) as (h5, p):
        return guarded(p, label, lambda: read_layout(layout_fn(h5, p), time, distance))


def read_f32(ds: h5py.Dataset, *sel: slice) -> np.ndarray:
    """Hyperslab ``ds[sel]`` as float32, converted by HDF5 while reading.

    Reading straight into a preallocated float32 buffer avoids a second full
    pass (``raw.astype``) and an intermediate integer array.
    """
    shape = tuple(len(range(*s.indices(n))) for s, n in zip(sel, ds.shape))
    out = np.empty(shape, dtype=np.float32)
    if out.size:
        ds.read_direct(out, source_sel=tuple(sel))
    return out
