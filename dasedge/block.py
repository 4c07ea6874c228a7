"""The one DAS data block used everywhere in dasedge.

A :class:`DASBlock` holds a ``[time, channel]`` float32 array plus the
metadata needed to interpret it physically: start time (UTC, ns), sampling
interval, channel distances in metres, gauge length, and the physical
quantity in DASCore vocabulary.  Blocks are immutable: the array is made
read-only and every "change" returns a new block (``block.new(...)``).

Processing follows the DASCore style: small free functions over one block,
the dimension named by keyword (``time=`` / ``distance=``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

import numpy as np

#: Physical quantities, as in DASCore ``VALID_DATA_TYPES``.
DATA_TYPES = frozenset(
    {"", "strain_rate", "strain", "phase", "phase_rate", "velocity", "acceleration", "temperature"}
)

NonFinitePolicy = Literal["raise", "zero", "allow"]


class BlockError(ValueError):
    """Raised when a block would be constructed from inconsistent data."""


def _readonly(arr: np.ndarray) -> np.ndarray:
    if arr.flags.writeable:
        arr = arr.view()
        arr.flags.writeable = False
    return arr


@dataclass(frozen=True, eq=False)
class DASBlock:
    """An immutable block of DAS data.

    Parameters
    ----------
    data
        ``[time, channel]`` samples; converted to float32 (C order kept if given).
    t0_ns
        UTC time of the first sample, integer nanoseconds since the Unix epoch.
    dt_s
        Sampling interval in seconds (> 0).
    distance_m
        Distance along the fiber of each channel in metres, strictly monotonic.
    gauge_length_m
        Gauge length in metres, or ``None`` if the file does not say.
    data_type
        Physical quantity in DASCore vocabulary (``strain_rate``, ``velocity``, ...).
    data_units
        Unit string of the samples (e.g. ``"1/s"`` for strain rate).
    fiber_id
        Identifier of the fiber / interrogator channel the block came from.
    seq
        Block sequence number within the fiber's stream (0 for file reads).
    channel_index
        Index of each channel in its source file / stream (defaults to 0..n-1).
    attrs
        Free-form provenance (``format``, ``path``, ...). Not used by processing.
    nonfinite
        ``"raise"`` (default) rejects NaN/inf, ``"zero"`` replaces them with 0,
        ``"allow"`` keeps them (only for diagnostics).
    """

    data: np.ndarray
    t0_ns: int
    dt_s: float
    distance_m: np.ndarray
    gauge_length_m: float | None = None
    data_type: str = "strain_rate"
    data_units: str = "1/s"
    fiber_id: str = "fiber0"
    seq: int = 0
    channel_index: np.ndarray | None = None
    attrs: Mapping[str, Any] = field(default_factory=dict)
    nonfinite: NonFinitePolicy = "raise"

    def __post_init__(self) -> None:
        data = np.asarray(self.data)
        if data.ndim != 2:
            raise BlockError(f"data must be 2-D [time, channel], got shape {data.shape}")
        if data.dtype != np.float32:
            if not (np.issubdtype(data.dtype, np.number)):
                raise BlockError(f"data dtype {data.dtype} is not numeric")
            data = data.astype(np.float32)
        nt, nch = data.shape
        if not (np.isfinite(self.dt_s) and self.dt_s > 0):
            raise BlockError(f"dt_s must be a positive finite number, got {self.dt_s!r}")
        dist = np.asarray(self.distance_m, dtype=np.float64)
        if dist.shape != (nch,):
            raise BlockError(f"distance_m has shape {dist.shape}, expected ({nch},) to match data")
        if nch > 1:
            step = np.diff(dist)
            if not (np.all(step > 0) or np.all(step < 0)):
                raise BlockError("distance_m must be strictly monotonic")
        if not np.all(np.isfinite(dist)):
            raise BlockError("distance_m contains non-finite values")
        if self.data_type not in DATA_TYPES:
            raise BlockError(f"unknown data_type {self.data_type!r}; expected one of {sorted(DATA_TYPES)}")
        if self.gauge_length_m is not None and not (self.gauge_length_m > 0):
            raise BlockError(f"gauge_length_m must be > 0 or None, got {self.gauge_length_m!r}")
        if self.nonfinite != "allow" and data.size:
            bad = ~np.isfinite(data)
            if bad.any():
                if self.nonfinite == "raise":
                    raise BlockError(f"data contains {int(bad.sum())} non-finite samples")
                data = np.where(bad, np.float32(0), data)
        chan = self.channel_index
        chan = np.arange(nch, dtype=np.int64) if chan is None else np.asarray(chan, dtype=np.int64)
        if chan.shape != (nch,):
            raise BlockError(f"channel_index has shape {chan.shape}, expected ({nch},)")
        object.__setattr__(self, "data", _readonly(data))
        object.__setattr__(self, "distance_m", _readonly(dist))
        object.__setattr__(self, "channel_index", _readonly(chan))
        object.__setattr__(self, "t0_ns", int(self.t0_ns))
        object.__setattr__(self, "dt_s", float(self.dt_s))
        object.__setattr__(self, "attrs", dict(self.attrs))

    # ------------------------------------------------------------------ shape
    @property
    def shape(self) -> tuple[int, int]:
        """``(n_time, n_channel)``."""
        return self.data.shape  # type: ignore[return-value]

    @property
    def n_time(self) -> int:
        return self.data.shape[0]

    @property
    def n_channel(self) -> int:
        return self.data.shape[1]

    @property
    def fs(self) -> float:
        """Sampling rate in Hz."""
        return 1.0 / self.dt_s

    @property
    def dx_m(self) -> float:
        """Median channel spacing in metres (NaN for a single channel)."""
        if self.n_channel < 2:
            return float("nan")
        return float(np.median(np.abs(np.diff(self.distance_m))))

    @property
    def duration_s(self) -> float:
        return self.n_time * self.dt_s

    @property
    def t_end_ns(self) -> int:
        """Time just after the last sample (``t0 + n*dt``), ns."""
        return self.t0_ns + round(self.n_time * self.dt_s * 1e9)

    def times_ns(self) -> np.ndarray:
        """Time of every sample, int64 ns since the epoch."""
        return self.t0_ns + np.round(np.arange(self.n_time) * self.dt_s * 1e9).astype(np.int64)

    def times_s(self) -> np.ndarray:
        """Time of every sample relative to ``t0``, seconds."""
        return np.arange(self.n_time) * self.dt_s

    # ---------------------------------------------------------------- changes
    def new(self, **changes: Any) -> "DASBlock":
        """Return a copy with some fields replaced (validated again)."""
        return dataclasses.replace(self, **changes)

    def select(
        self,
        *,
        time: tuple[int | None, int | None] | None = None,
        distance: tuple[float | None, float | None] | None = None,
        samples: slice | None = None,
        channels: slice | None = None,
    ) -> "DASBlock":
        """Sub-block by absolute time (ns, half-open) and/or distance (m, closed).

        ``samples``/``channels`` select by index instead.  No copy is made.
        """
        tsl = samples if samples is not None else slice(None)
        csl = channels if channels is not None else slice(None)
        if time is not None:
            lo, hi = time
            i0 = 0 if lo is None else max(0, int(np.ceil((lo - self.t0_ns) / (self.dt_s * 1e9) - 1e-9)))
            i1 = self.n_time if hi is None else min(self.n_time, int(np.ceil((hi - self.t0_ns) / (self.dt_s * 1e9) - 1e-9)))
            tsl = slice(i0, max(i0, i1))
        if distance is not None:
            lo_m = -np.inf if distance[0] is None else distance[0]
            hi_m = np.inf if distance[1] is None else distance[1]
            idx = np.flatnonzero((self.distance_m >= lo_m) & (self.distance_m <= hi_m))
            csl = slice(int(idx[0]), int(idx[-1]) + 1) if idx.size else slice(0, 0)
        t_start = tsl.start or 0
        return self.new(
            data=self.data[tsl, csl],
            t0_ns=self.t0_ns + round(t_start * self.dt_s * 1e9),
            distance_m=self.distance_m[csl],
            channel_index=self.channel_index[csl],
        )

    def __repr__(self) -> str:  # pragma: no cover - cosmetic
        t0 = np.datetime64(self.t0_ns, "ns")
        return (
            f"DASBlock({self.n_time}x{self.n_channel} {self.data_type} [{self.data_units}], "
            f"t0={t0}, fs={self.fs:g} Hz, x={self.distance_m[0] if self.n_channel else 'n/a'}"
            f"..{self.distance_m[-1] if self.n_channel else 'n/a'} m, fiber={self.fiber_id!r}, seq={self.seq})"
        )


def concat_time(blocks: list[DASBlock]) -> DASBlock:
    """Concatenate contiguous blocks of one fiber along time.

    Raises
    ------
    BlockError
        If channel layout or sampling differ, or the blocks are not contiguous
        within half a sample.
    """
    if not blocks:
        raise BlockError("nothing to concatenate")
    first = blocks[0]
    for prev, nxt in zip(blocks, blocks[1:]):
        if nxt.n_channel != first.n_channel or not np.array_equal(nxt.distance_m, first.distance_m):
            raise BlockError("blocks have different channel layouts")
        if abs(nxt.dt_s - first.dt_s) > 1e-9 * first.dt_s:
            raise BlockError("blocks have different sampling intervals")
        gap_ns = nxt.t0_ns - prev.t_end_ns
        if abs(gap_ns) > 0.5 * first.dt_s * 1e9:
            raise BlockError(f"blocks are not contiguous (gap {gap_ns / 1e9:+.6f} s)")
    return first.new(data=np.concatenate([b.data for b in blocks], axis=0))


def iso_utc(t_ns: int) -> str:
    """ISO 8601 UTC string with microseconds and a ``Z`` suffix."""
    return str(np.datetime64(int(t_ns), "ns").astype("datetime64[us]")) + "Z"
