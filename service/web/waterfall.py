"""In-process ring buffer of decimated DAS thumbnails for the live waterfall.

Producers (the demo, a worker running in the API process, or any process via
``POST /api/v1/live/waterfall``) call :func:`put_waterfall` with a window of
DAS data; it is decimated to a small ``uint8`` image right away (peak-
preserving: each output pixel keeps the sample of largest magnitude in its
block, sign included) so the buffer stays small: at the defaults a fiber holds
at most ``max_seconds`` of data at ``row_s`` seconds per row and
``max_cols`` columns (10 min -> 1200 x 256 bytes).
"""

from __future__ import annotations

import base64
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

ROW_S = 0.5
MAX_COLS = 256
MAX_SECONDS = 900.0


@dataclass(frozen=True)
class Chunk:
    """One decimated window: ``pixels`` is ``uint8 [nt, nx]`` with 128 = zero."""

    fiber: str
    t0_ns: int
    dt_s: float
    x0_m: float
    dx_m: float
    pixels: np.ndarray
    scale: float

    @property
    def t1_ns(self) -> int:
        return self.t0_ns + int(round(self.pixels.shape[0] * self.dt_s * 1e9))

    def to_json(self) -> dict[str, Any]:
        nt, nx = self.pixels.shape
        return {
            "fiber": self.fiber,
            "t0_ns": self.t0_ns,
            "t0_ms": self.t0_ns / 1e6,
            "dt_s": self.dt_s,
            "nt": nt,
            "nx": nx,
            "x0_m": self.x0_m,
            "dx_m": self.dx_m,
            "scale": self.scale,
            "data_b64": base64.b64encode(np.ascontiguousarray(self.pixels).tobytes()).decode(),
        }


def _to_ns(t0: Any) -> int:
    if isinstance(t0, (int, np.integer)):
        return int(t0)
    if isinstance(t0, datetime):
        return int(round(t0.timestamp() * 1e9))
    if isinstance(t0, str):
        return int(round(datetime.fromisoformat(t0.replace("Z", "+00:00")).timestamp() * 1e9))
    if isinstance(t0, (float, np.floating)):  # seconds since the epoch
        return int(round(float(t0) * 1e9))
    raise TypeError(f"t0 must be int ns, float s, datetime or ISO string, not {type(t0).__name__}")


def peak_decimate(a: np.ndarray, ft: int, fx: int) -> np.ndarray:
    """Decimate ``a [nt, nx]`` by blocks of ``ft x fx`` keeping the signed peak of each block.

    Trailing rows/columns that do not fill a block are dropped.
    """
    nt, nx = a.shape
    bt, bx = nt // ft, nx // fx
    if bt == 0 or bx == 0:
        return a[:0, :0]
    b = a[: bt * ft, : bx * fx].reshape(bt, ft, bx, fx).transpose(0, 2, 1, 3).reshape(bt, bx, ft * fx)
    idx = np.abs(b).argmax(axis=2)
    return np.take_along_axis(b, idx[..., None], axis=2)[..., 0]


def clip_scale(a: np.ndarray, clip_pct: float = 99.0) -> float:
    """Percentile of ``|a|`` (finite values; falls back to the max when the percentile is 0)."""
    finite = np.nan_to_num(a.astype(np.float32, copy=False), nan=0.0, posinf=0.0, neginf=0.0)
    if finite.size == 0:
        return 0.0
    s = float(np.percentile(np.abs(finite), clip_pct))
    return s if s > 0 else float(np.abs(finite).max())


def to_pixels(a: np.ndarray, *, clip_pct: float = 99.0, scale: float | None = None) -> tuple[np.ndarray, float]:
    """Map signed data to ``uint8`` (1..255, 128 = 0) with a symmetric clip.

    The clip is ``scale`` if given, else the ``clip_pct`` percentile of ``|a|``.
    """
    finite = np.nan_to_num(a.astype(np.float32, copy=False), nan=0.0, posinf=0.0, neginf=0.0)
    s = clip_scale(finite, clip_pct) if scale is None else float(scale)
    if s <= 0:
        return np.full(finite.shape, 128, np.uint8), 0.0
    v = np.clip(finite / s, -1.0, 1.0)
    return np.round(128 + 127 * v).astype(np.uint8), s


class WaterfallRing:
    """Per-fiber deque of :class:`Chunk` covering at most ``max_seconds``."""

    def __init__(self, *, row_s: float = ROW_S, max_cols: int = MAX_COLS, max_seconds: float = MAX_SECONDS):
        self.row_s = row_s
        self.max_cols = max_cols
        self.max_seconds = max_seconds
        self._lock = threading.Lock()
        self._data: dict[str, deque[Chunk]] = {}
        self._scales: dict[str, deque[float]] = {}

    def put(self, fiber: str, t0: Any, dt: float, x: Any, array: Any) -> Chunk:
        """Decimate and append one window; return the stored chunk.

        Parameters
        ----------
        fiber
            Fiber id.
        t0
            Time of the first row (int UTC ns, float UNIX s, datetime or ISO string).
        dt
            Row spacing in seconds.
        x
            Distances of the columns in metres (array of length ``nx``) or a
            pair ``(x0_m, dx_m)``.
        array
            Data ``[time, distance]`` (any float dtype).
        """
        a = np.asarray(array, dtype=np.float32)
        if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
            raise ValueError(f"waterfall array must be 2-D [time, distance] and non-empty, got shape {a.shape}")
        if not dt or dt <= 0:
            raise ValueError("dt must be > 0 seconds")
        nt, nx = a.shape
        xa = np.asarray(x, dtype=float)
        if xa.shape == (2,) and nx != 2:
            x0, dx = float(xa[0]), float(xa[1])
        else:
            if xa.shape != (nx,):
                raise ValueError(f"x has {xa.size} values for {nx} columns")
            x0 = float(xa[0])
            dx = float((xa[-1] - xa[0]) / (nx - 1)) if nx > 1 else 1.0
        ft = max(1, int(round(self.row_s / dt)))
        fx = max(1, int(np.ceil(nx / self.max_cols)))
        d = peak_decimate(a, min(ft, nt), min(fx, nx))
        # one colour scale per fiber: median of the recent chunks' clip levels, so a loud truck in
        # one chunk does not wash out its neighbours
        with self._lock:
            hist = self._scales.setdefault(str(fiber), deque(maxlen=8))
            hist.append(clip_scale(d))
            scale = float(np.median(hist))
        px, scale = to_pixels(d, scale=scale)
        ch = Chunk(str(fiber), _to_ns(t0), float(dt) * min(ft, nt), x0, dx * min(fx, nx), px, scale)
        with self._lock:
            q = self._data.setdefault(ch.fiber, deque())
            q.append(ch)
            newest = max(c.t1_ns for c in q)
            while q and (newest - q[0].t1_ns) > self.max_seconds * 1e9:
                q.popleft()
        return ch

    def fibers(self) -> list[str]:
        with self._lock:
            return sorted(self._data)

    def latest_ns(self, fiber: str | None = None) -> int | None:
        with self._lock:
            qs = [self._data[fiber]] if fiber in self._data else ([] if fiber else list(self._data.values()))
            ends = [c.t1_ns for q in qs for c in q]
        return max(ends) if ends else None

    def window(self, fiber: str, start_ns: int, end_ns: int) -> list[Chunk]:
        with self._lock:
            q = list(self._data.get(fiber, ()))
        return [c for c in q if c.t1_ns >= start_ns and c.t0_ns <= end_ns]

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._scales.clear()


#: the process-wide ring used by :func:`put_waterfall` and the dashboard router
RING = WaterfallRing()


def put_waterfall(fiber: str, t0: Any, dt: float, x: Any, array: Any) -> Chunk:
    """Add a DAS window to the live waterfall of ``fiber`` (see :meth:`WaterfallRing.put`)."""
    return RING.put(fiber, t0, dt, x, array)
