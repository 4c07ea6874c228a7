"""Optional bridge to DASCore (``pip install dascore``; not a core dependency).

``to_dascore_patch(block)`` and ``from_dascore_patch(patch)`` convert between
:class:`dasedge.block.DASBlock` and :class:`dascore.Patch` using the shared
vocabulary (dims ``time``/``distance``, ``data_type``, ``data_units``,
``gauge_length``).  DASCore is imported lazily so ``dasedge`` works without it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dasedge.block import DATA_TYPES, DASBlock

#: DASCore's older spelling -> ours
_TYPE_ALIASES = {"strainrate": "strain_rate", "phaserate": "phase_rate"}
#: pint spellings DASCore prints -> the plain strings dasedge uses
_UNIT_ALIASES = {"ϵ / s": "1/s", "1 / s": "1/s", "m / s": "m/s", "nϵ / s": "nanostrain/s", "rad / m / s": "rad/(m*s)"}


def _dascore():
    try:
        import dascore  # noqa: PLC0415 - optional extra
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError("dascore is not installed: pip install dascore (optional extra)") from exc
    return dascore


def _unit_str(u: Any) -> str:
    if u is None:
        return ""
    text = str(getattr(u, "units", u))  # a pint Quantity "1.0 m / s" -> its units
    if text.startswith("1.0 "):
        text = text[4:]
    return _UNIT_ALIASES.get(text, text)


def to_dascore_patch(block: DASBlock):
    """A ``dascore.Patch`` with dims ``("time", "distance")`` holding the block's data and metadata."""
    dc = _dascore()
    time = np.datetime64(int(block.t0_ns), "ns") + (np.round(np.arange(block.n_time) * block.dt_s * 1e9)).astype("timedelta64[ns]")
    attrs = {
        "data_type": block.data_type,
        "data_units": block.data_units or None,
        "gauge_length": float(block.gauge_length_m) if block.gauge_length_m is not None else float("nan"),
        "station": block.fiber_id,
    }
    return dc.Patch(
        data=np.asarray(block.data),
        coords={"time": time, "distance": np.asarray(block.distance_m)},
        dims=("time", "distance"),
        attrs=attrs,
    )


def from_dascore_patch(patch, fiber_id: str | None = None) -> DASBlock:
    """A :class:`DASBlock` from a 2-D ``dascore.Patch`` with ``time`` and ``distance`` dims."""
    if set(patch.dims) != {"time", "distance"}:
        raise ValueError(f"patch dims {patch.dims} are not (time, distance)")
    data = np.asarray(patch.data)
    if patch.dims[0] != "time":
        data = data.T
    coords = patch.coords
    t = np.asarray(coords.get_array("time")).astype("datetime64[ns]").astype(np.int64)
    if t.size < 2:
        raise ValueError("patch needs at least 2 time samples")
    step = coords.get_coord("time").step
    dt_ns = float(np.asarray(step).astype("timedelta64[ns]").astype(np.int64)) if step is not None else (t[-1] - t[0]) / (t.size - 1)
    dist = np.asarray(coords.get_array("distance"), dtype=np.float64)
    a = patch.attrs
    dtype = _TYPE_ALIASES.get(str(a.data_type or ""), str(a.data_type or ""))
    gl = a.get("gauge_length") if hasattr(a, "get") else getattr(a, "gauge_length", None)
    gl = None if gl is None or not np.isfinite(float(gl)) or float(gl) <= 0 else float(gl)
    return DASBlock(
        data=data.astype(np.float32, copy=False),
        t0_ns=int(t[0]),
        dt_s=dt_ns / 1e9,
        distance_m=dist,
        gauge_length_m=gl,
        data_type=dtype if dtype in DATA_TYPES else "",
        data_units=_unit_str(a.data_units),
        fiber_id=fiber_id or str(getattr(a, "station", "") or "fiber0"),
    )
