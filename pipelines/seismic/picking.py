"""Phase picking: windows -> tiled network -> stitched probabilities -> picks.

One code path serves batch files and Kafka streams: :class:`StreamPicker`
takes raw :class:`~dasedge.block.DASBlock` chunks in time order, cuts fixed
model windows on a grid anchored at the stream start (``window`` samples at
100 Hz every ``step`` samples), runs :func:`~pipelines.seismic.stitch.annotate_tiled`
on each window, and keeps from each window only its *owned interval*
``[window - tail - step, window - tail)`` (the first window owns from its start,
the flush owns to the end).  The owned probability segments tile the time
axis exactly once, so peak picking on the stitched probability stream emits
every pick exactly once, whatever the block sizes.
"""

from __future__ import annotations

import inspect
import json
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
from scipy import ndimage

from dasedge.block import DASBlock
from dasedge.records import Pick, stable_id

from .preprocess import MODEL_FS, Prepared, prepare
from .stitch import annotate_tiled

PHASES = ("P", "S")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PickerConfig:
    """Windowing and peak-picking settings (samples are at the 100 Hz model rate).

    The two presets trade latency against compute: ``latency`` (10.24 s windows
    every 2 s, 1.5 s look-ahead: ~5x model compute per second of data) for
    alerts; ``throughput`` (30.72 s windows every 25.6 s) for batch files.
    """

    window: int = 3072
    step: int = 2560
    tail: int = 256
    # 5,000 ch: 6 tiles of 1024 = 1.23x the channels in network work, ~1.4 GB peak RSS; 2 tiles of 2560
    # = 1.02x, ~20 % less CPU per second of data but ~2.0 GB peak (bench/results/seismic.md)
    tile_nx: int = 1024
    overlap_x: int = 64
    tile_nt: int = 4096
    overlap_t: int = 512
    threshold: float = 0.3
    threshold_s: float | None = None  # S-phase threshold; None = ``threshold`` for both phases
    kernel: int = 21
    max_per_30s: int = 10
    amp_window: int = 100  # samples after the pick searched for the peak |strain rate|
    spatial: int | str = "auto"
    highpass_hz: float | None = 1.0
    normalize: bool = True
    fs: float = MODEL_FS

    def __post_init__(self) -> None:
        if not (0 < self.step <= self.window - self.tail) or self.tail < 0:
            raise ValueError("need 0 < step <= window - tail and tail >= 0")
        if self.kernel % 2 != 1:
            raise ValueError("kernel must be odd")
        for name in ("threshold", "threshold_s"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {value}")

    def phase_threshold(self, phase: str) -> float:
        """Peak threshold for ``phase`` (``"P"`` or ``"S"``)."""
        if phase == "S" and self.threshold_s is not None:
            return self.threshold_s
        return self.threshold

    def restart_context_s(self) -> float:
        """Data before the end of what a picker has seen that a restarted picker must re-read, s.

        With it, a :meth:`StreamPicker.resume_from` picker reproduces the picks exactly: its first
        window owns data the original's earlier windows owned, so the window after it (and the
        max-pool context) must already lie in re-read data: window + 2 steps + 1.5 kernels, which
        also covers the lag of the emitted-picks mark behind the data end.
        """
        return (self.window + 2 * self.step + 3 * (self.kernel // 2) + 1) / self.fs

    @classmethod
    def preset(cls, name: str, **changes: Any) -> "PickerConfig":
        presets = {
            "throughput": cls(),
            "latency": cls(window=1024, step=200, tail=150, tile_nt=1024, overlap_t=128),
        }
        if name not in presets:
            raise ValueError(f"unknown preset {name!r}; expected one of {sorted(presets)}")
        return replace(presets[name], **changes)


def detect_peaks(prob: np.ndarray, threshold: float, kernel: int = 21, top_k: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local maxima along time for all channels at once.

    Parameters
    ----------
    prob
        ``[nt, nx]`` probabilities of one phase.
    threshold
        Keep peaks with ``score > threshold``.
    kernel
        Max-pool length along time (odd; 21 samples = +-0.1 s at 100 Hz).
    top_k
        Keep at most this many highest peaks per channel.

    Returns
    -------
    ``(it, ix, score)`` arrays sorted by channel, then time.
    """
    ix, it, score = _peaks_cm(np.ascontiguousarray(np.asarray(prob).T), threshold, kernel)
    if top_k is not None and it.size:
        order = np.lexsort((-score, ix))
        ix_s = ix[order]
        first = np.r_[0, np.flatnonzero(np.diff(ix_s)) + 1]
        rank = np.arange(ix_s.size) - np.repeat(first, np.diff(np.r_[first, ix_s.size]))
        keep = order[rank < top_k]
        it, ix, score = it[keep], ix[keep], score[keep]
    order = np.lexsort((it, ix))
    return it[order], ix[order], score[order]


def peaks_sparse(prob: np.ndarray, threshold: float, kernel: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Peaks of time-major ``[nt, nx]`` probabilities, examining only samples above ``threshold``.

    Same result as a max-pool of ``kernel`` samples (a sample is a peak if it is
    ``> threshold``, not smaller than any sample within ``+-kernel//2`` and larger
    than its predecessor), but the cost scales with the number of candidate
    samples, not with the array size.  Returns ``(it, ix, score)``.
    """
    it, ix = np.nonzero(prob > threshold)
    if it.size == 0:
        return it, ix, prob[it, ix]
    half = kernel // 2
    n = prob.shape[0]
    v = prob[it, ix]
    ok = np.ones(it.size, bool)
    for k in range(-half, half + 1):
        if k == 0:
            continue
        tk = it + k
        inside = (tk >= 0) & (tk < n)
        nb = prob[np.clip(tk, 0, n - 1), ix]
        ok &= ~inside | (v >= nb)
        if k == -1:
            ok &= ~inside | (v != nb)
    return it[ok], ix[ok], v[ok]


def peaks_in_rows(prob: np.ndarray, lo: int, hi: int, threshold: float, kernel: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`peaks_sparse` restricted to peaks in rows ``[lo, hi)`` of time-major ``[nt, nx]`` probabilities.

    Rows outside ``[lo, hi)`` serve only as neighbours.  Works on flat indices
    of the samples above the threshold (a 1-D ``flatnonzero`` is several times
    faster than a 2-D ``nonzero``); the immediate neighbours are checked first,
    which leaves only local maxima for the ``kernel``-wide check.  Returns
    ``(it, ix, score)`` sorted by time, then channel.
    """
    prob = np.ascontiguousarray(prob)
    n, nx = prob.shape
    lo, hi = max(0, lo), min(n, hi)
    if hi <= lo or nx == 0:
        e = np.zeros(0, np.int64)
        return e, e.copy(), np.zeros(0, prob.dtype)
    flat = prob.reshape(-1)
    f = np.flatnonzero(prob[lo:hi].reshape(-1) > threshold) + lo * nx
    v = flat[f]
    t = f // nx
    # previous sample strictly smaller (first sample of a plateau), next one not larger
    keep = (t == 0) | (v > flat[np.maximum(f - nx, 0)])
    keep &= (t == n - 1) | (v >= flat[np.minimum(f + nx, flat.size - 1)])
    f, v, t = f[keep], v[keep], t[keep]
    ok = np.ones(f.size, bool)
    for k in range(-(kernel // 2), kernel // 2 + 1):
        if k in (-1, 0, 1):
            continue
        inside = (t + k >= 0) & (t + k < n)
        ok &= ~inside | (v >= flat[np.where(inside, f + k * nx, f)])
    f = f[ok]
    return f // nx, f % nx, flat[f]


def _amp_at(sr: np.ndarray, it: np.ndarray, ix: np.ndarray, n: int) -> np.ndarray:
    """``max |sr[t - 5 : t + n, x]|`` at the given samples (clipped to the array)."""
    out = np.zeros(it.size, np.float32)
    nt = sr.shape[0]
    for k in range(-5, n):
        tk = it + k
        inside = (tk >= 0) & (tk < nt)
        np.maximum(out, np.where(inside, np.abs(sr[np.clip(tk, 0, nt - 1), ix]), 0), out=out)
    return out


def _peaks_cm(prob_cm: np.ndarray, threshold: float, kernel: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Peaks of channel-major ``[nx, nt]`` probabilities -> ``(ix, it, score)`` (contiguous time axis: fast)."""
    mx = ndimage.maximum_filter1d(prob_cm, size=kernel, axis=1, mode="constant", cval=-np.inf)
    mask = (prob_cm == mx) & (prob_cm > threshold)
    # plateaus: keep only the first sample of equal neighbours
    mask[:, 1:] &= prob_cm[:, 1:] != prob_cm[:, :-1]
    ix, it = np.nonzero(mask)
    return ix, it, prob_cm[ix, it]


def _accepts_offset(fn: Callable) -> bool:
    try:
        return "offset" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def run_model(prep: Prepared, annotator: Any, cfg: PickerConfig, classes: Sequence[int] | None = None) -> np.ndarray:
    """Tiled network output ``[3, nt, nx]`` for one prepared window (``[len(classes), nt, nx]`` if given).

    ``annotator`` is a callable ``x -> probs`` or an object with ``annotate``.  If it
    accepts an ``offset`` keyword (an oracle), it receives
    ``offset=(t0_ns, fs, source_channels)`` of each tile.
    """
    fn = getattr(annotator, "annotate", annotator)
    if _accepts_offset(fn):
        def call(tile: np.ndarray, pos: tuple[int, int]) -> np.ndarray:
            t0 = prep.t0_ns + round(pos[0] * 1e9 / prep.fs)
            chans = prep.cmap.channel[pos[1] : pos[1] + tile.shape[1]]
            return fn(tile, offset=(t0, prep.fs, chans))
        return annotate_tiled(prep.model_input, call, tile_nt=cfg.tile_nt, tile_nx=cfg.tile_nx,
                              overlap_t=cfg.overlap_t, overlap_x=cfg.overlap_x, with_offset=True, classes=classes)
    return annotate_tiled(prep.model_input, fn, tile_nt=cfg.tile_nt, tile_nx=cfg.tile_nx,
                          overlap_t=cfg.overlap_t, overlap_x=cfg.overlap_x, classes=classes)


@dataclass
class _AmpSource:
    """Strain rate of one window for the amplitudes of picks in its owned interval."""

    own_lo: int  # global 100 Hz index of the first owned sample
    own_hi: int  # one past the last owned sample
    g0: int  # global index of sr row 0
    sr: np.ndarray  # [rows, nx] rows [own_lo - 5, own_hi + n_amp) of the window's strain rate (clipped to it); a view
    n_amp: int

    def amplitude(self, g: np.ndarray, ix: np.ndarray) -> np.ndarray:
        """``max |sr|`` over ``[g - 5, g + n_amp)`` (clipped to the window) for picks at global ``g``."""
        return _amp_at(self.sr, g - self.g0, ix, self.n_amp)


@dataclass
class _Segment:
    """Stitched, owned stream data kept between windows (the overlap buffer)."""

    g0: int  # global 100 Hz sample index of row 0
    prob: np.ndarray  # [2, n, nx] P and S probabilities
    amp: list[_AmpSource]  # per window, in time order; amplitudes are computed for the picks only


@dataclass
class StreamPicker:
    """Stateful picker for one fiber stream; emits each pick exactly once.

    Feed raw blocks in time order with :meth:`push`; call :meth:`flush` at the
    end of a finite stream.  Both return the new :class:`~dasedge.records.Pick` s.
    """

    annotator: Any
    cfg: PickerConfig = field(default_factory=PickerConfig)
    fiber_id: str | None = None

    origin_ns: int | None = field(default=None, init=False)
    _raw: list[DASBlock] = field(default_factory=list, init=False)
    _raw_g0: float = field(default=0.0, init=False)  # raw sample index of _raw[0] row 0
    _raw_fs: float | None = field(default=None, init=False)
    _k: int = field(default=0, init=False)  # next window index
    _owned_to: int = field(default=0, init=False)  # global samples < this are owned/stitched
    _seg: _Segment | None = field(default=None, init=False)
    _picked_to: int = field(default=0, init=False)  # picks emitted for samples < this
    _template: DASBlock | None = field(default=None, init=False)
    _cmap: Any = field(default=None, init=False)
    windows_processed: int = field(default=0, init=False)
    _resume: dict[str, int] | None = field(default=None, init=False)  # see resume_from

    # ------------------------------------------------------------- raw buffer
    def _raw_len(self) -> int:
        return sum(b.n_time for b in self._raw)

    def _raw_slice(self, lo: int, hi: int) -> np.ndarray:
        """Raw rows ``[lo, hi)`` (absolute raw indices), zero-padded beyond the buffer."""
        data = np.concatenate([b.data for b in self._raw], axis=0) if len(self._raw) > 1 else self._raw[0].data
        base = int(round(self._raw_g0))
        a, b = lo - base, hi - base
        if a < 0:
            raise RuntimeError("raw buffer no longer holds the requested window")
        out = data[a:b]
        if out.shape[0] < hi - lo:
            out = np.vstack([out, np.zeros((hi - lo - out.shape[0], data.shape[1]), np.float32)])
        return out

    def _trim_raw(self, keep_from: int) -> None:
        base = int(round(self._raw_g0))
        drop = keep_from - base
        while self._raw and drop >= self._raw[0].n_time:
            drop -= self._raw[0].n_time
            base += self._raw[0].n_time
            self._raw.pop(0)
        if self._raw and drop > 0:
            first = self._raw[0]
            self._raw[0] = first.select(samples=slice(drop, None))
            base += drop
        self._raw_g0 = base

    def _raw_per_model(self) -> float:
        assert self._raw_fs is not None
        return self._raw_fs / self.cfg.fs

    # ---------------------------------------------------------------- public
    def push(self, block: DASBlock) -> list[Pick]:
        """Add a raw block; process every window that is now complete."""
        return [p for w in self.push_windows(block) for p in w]

    @property
    def picked_to_ns(self) -> int | None:
        """Picks for all times before this have been emitted."""
        if self.origin_ns is None:
            return None
        return self.origin_ns + round(self._picked_to * 1e9 / self.cfg.fs)

    def resume_point(self) -> dict[str, int] | None:
        """Where a restarted picker must continue: ``{"origin_ns", "picked_to"}`` (JSON-able), or ``None``.

        A picker created after a restart and given this with :meth:`resume_from` tiles
        its windows on the same time grid as this one and emits only picks at or
        after ``picked_to``.  Fed again with enough data before that point (see
        :meth:`context_s`), it then emits exactly the picks this picker would have.
        """
        if self.origin_ns is None:
            return None
        return {"origin_ns": int(self.origin_ns), "picked_to": int(self._picked_to)}

    def resume_from(self, point: dict[str, int] | None) -> None:
        """Continue the window grid and the emitted-picks mark of a previous picker (before the first push)."""
        if self.origin_ns is not None:
            raise RuntimeError("resume_from must be called before the first block")
        self._resume = dict(point) if point else None

    def context_s(self) -> float:
        """Data before the resume point a restarted picker needs (:meth:`PickerConfig.restart_context_s`)."""
        return self.cfg.restart_context_s()

    def push_windows(self, block: DASBlock) -> list[list[Pick]]:
        """Like :meth:`push` but one list of picks per processed window (possibly none)."""
        if self.origin_ns is None:
            self.origin_ns = block.t0_ns
            self._raw_fs = block.fs
            self._template = block
            self.fiber_id = self.fiber_id or block.fiber_id
            ratio = self.cfg.step * block.fs / self.cfg.fs
            if abs(ratio - round(ratio)) > 1e-6:
                raise ValueError(f"step of {self.cfg.step} model samples is not a whole number of raw samples at {block.fs} Hz")
            self._apply_resume(block)
        self._raw.append(block)
        out: list[list[Pick]] = []
        r = self._raw_per_model()
        avail = self._raw_g0 + self._raw_len()
        while (self._k * self.cfg.step + self.cfg.window) * r <= avail + 1e-6:
            out.append(self._process_window(self._k * self.cfg.step, final=False))
            self._k += 1
            self._trim_raw(int(round(self._k * self.cfg.step * r)))
        return out

    def flush(self) -> list[Pick]:
        """Process the remaining data (a last window aligned to the stream end)."""
        if self.origin_ns is None or not self._raw:
            return []
        r = self._raw_per_model()
        end_raw = self._raw_g0 + self._raw_len()
        end_g = int(np.floor(end_raw / r + 1e-9))
        if end_g <= self._owned_to:
            return self._pick_segment(final=True)
        start = max(0, end_g - self.cfg.window)
        start = max(start, int(np.ceil(self._raw_g0 / r - 1e-9)))
        return self._process_window(start, final=True, end_g=end_g)

    # ------------------------------------------------------------- internals
    def _apply_resume(self, block: DASBlock) -> None:
        """Put the first block on the previous picker's window grid (see :meth:`resume_from`)."""
        point, self._resume = self._resume, None
        if not point:
            return
        g_raw = round((block.t0_ns - int(point["origin_ns"])) * block.fs / 1e9)
        if g_raw < 0:  # data from before the previous origin: a new stream, not a resume
            return
        self.origin_ns = int(point["origin_ns"])
        self._raw_g0 = float(g_raw)
        step_raw = self.cfg.step * self._raw_per_model()
        self._k = int(np.ceil(g_raw / step_raw - 1e-9))
        self._owned_to = self._k * self.cfg.step
        # picks before the previous picker's mark were emitted already; if the re-read data
        # does not reach back that far, the samples in between cannot be re-picked
        self._picked_to = max(int(point["picked_to"]), self._owned_to)

    def _process_window(self, g_start: int, *, final: bool, end_g: int | None = None) -> list[Pick]:
        cfg = self.cfg
        r = self._raw_per_model()
        lo = int(round(g_start * r))
        hi = int(round((g_start + cfg.window) * r))
        assert self._template is not None and self.origin_ns is not None
        raw = self._raw_slice(lo, hi)
        t0 = self.origin_ns + round(lo / self._raw_fs * 1e9)
        # the raw rows were validated when their blocks were built (zero padding is finite): skip the re-check
        blk = self._template.new(data=raw, t0_ns=t0, nonfinite="allow")
        prep = prepare(blk, fs=cfg.fs, spatial=cfg.spatial, highpass_hz=cfg.highpass_hz,
                       normalize=cfg.normalize, n_out=cfg.window)
        self._cmap = prep.cmap
        probs = run_model(prep, self.annotator, cfg, classes=(1, 2))  # [2, nt, nx]: P, S (noise unused)
        self.windows_processed += 1
        own_hi = (end_g - g_start) if final else cfg.window - cfg.tail
        own_lo = self._owned_to - g_start
        if own_lo < 0:
            raise RuntimeError("gap in owned intervals")
        n_amp = min(cfg.amp_window, max(cfg.tail, 1)) if not final else cfg.amp_window
        seg_prob = probs[:, own_lo:own_hi]  # [2, n, nx] time-major
        # forward peak |strain rate| with this window's look-ahead, computed later for the picks only
        sr = prep.strain_rate
        sr_lo, sr_hi = max(0, own_lo - 5), min(sr.shape[0], own_hi + n_amp)
        src = _AmpSource(g_start + own_lo, g_start + own_hi, g_start + sr_lo, sr[sr_lo:sr_hi], n_amp)
        if self._seg is None:
            self._seg = _Segment(g_start + own_lo, np.ascontiguousarray(seg_prob), [src])
        else:
            self._seg = _Segment(self._seg.g0, np.concatenate([self._seg.prob, seg_prob], axis=1),
                                 self._seg.amp + [src])
        self._owned_to = g_start + own_hi
        return self._pick_segment(final=final)

    def _pick_segment(self, *, final: bool) -> list[Pick]:
        cfg = self.cfg
        seg = self._seg
        if seg is None:
            return []
        half = cfg.kernel // 2
        n = seg.prob.shape[1]
        lo = self._picked_to - seg.g0
        hi = n if final else n - half
        if hi <= lo:
            return []
        top_k = max(int(round((hi - lo) / (30 * cfg.fs) * cfg.max_per_30s)), 3)
        picks: list[Pick] = []
        for ip, phase in enumerate(PHASES):
            it, ix, score = peaks_in_rows(seg.prob[ip], lo, hi, cfg.phase_threshold(phase), cfg.kernel)
            if it.size:
                # per-channel top-K within this segment
                order = np.lexsort((-score, ix))
                ix_s = ix[order]
                first = np.r_[0, np.flatnonzero(np.diff(ix_s)) + 1]
                rank = np.arange(ix_s.size) - np.repeat(first, np.diff(np.r_[first, ix_s.size]))
                keep = np.sort(order[rank < top_k])
                it, ix, score = it[keep], ix[keep], score[keep]
            picks += self._make_picks(seg.g0 + it, ix, score, _amplitudes(seg.amp, seg.g0 + it, ix), phase)
        self._picked_to = seg.g0 + hi
        # keep 2*half rows of context for the next max-pool, and the strain rate of unpicked samples
        keep_from = max(0, hi - 2 * half)
        self._seg = _Segment(seg.g0 + keep_from, seg.prob[:, keep_from:],
                             [a for a in seg.amp if a.own_hi > self._picked_to])
        picks.sort(key=lambda p: (p.t_ns, p.channel, p.phase))
        return picks

    def _make_picks(self, g: np.ndarray, ix: np.ndarray, score: np.ndarray, amp: np.ndarray, phase: str) -> list[Pick]:
        assert self.origin_ns is not None
        t_ns = self.origin_ns + np.round(g * (1e9 / self.cfg.fs)).astype(np.int64)
        chans = self._cmap.channel[ix]
        dist = self._cmap.distance_m[ix]
        fid = self.fiber_id or "fiber0"
        return [
            Pick(
                id=stable_id(fid, int(c), phase, int(t), prefix="pk_"),
                fiber_id=fid,
                channel=int(c),
                distance_m=float(d),
                t_ns=int(t),
                phase=phase,  # type: ignore[arg-type]
                score=round(float(s), 4),
                amplitude=float(a),
            )
            for t, c, d, s, a in zip(t_ns.tolist(), chans.tolist(), dist.tolist(), score.tolist(), amp.tolist())
        ]


def _amplitudes(sources: list[_AmpSource], g: np.ndarray, ix: np.ndarray) -> np.ndarray:
    """Amplitudes of picks at global samples ``g``, each from the window that owns its sample."""
    out = np.zeros(g.size, np.float32)
    for src in sources:
        sel = np.flatnonzero((g >= src.own_lo) & (g < src.own_hi))
        if sel.size:
            out[sel] = src.amplitude(g[sel], ix[sel])
    return out


def pick_blocks(blocks: Iterable[DASBlock], annotator: Any, cfg: PickerConfig | None = None) -> list[Pick]:
    """Batch picking of a time-ordered sequence of blocks (same code as streaming)."""
    sp = StreamPicker(annotator, cfg or PickerConfig())
    out: list[Pick] = []
    for b in blocks:
        out += sp.push(b)
    out += sp.flush()
    return out


class OracleAnnotator:
    """Test/evaluation annotator: Gaussian probabilities around known arrivals.

    Parameters
    ----------
    arrivals
        Sequence of ``(channel, t_ns, phase)`` or of dicts with those keys
        (``dasedge.synth.quake`` truth rows); source channel indices.
    sigma_s
        Gaussian width (PhaseNet-DAS labels use 0.25 s sample sigma; 0.1 s here).
    peak
        Peak probability.
    jitter_s, miss_rate
        Optional per-arrival timing jitter and drop-out (fixed at construction).
    false_per_channel_hour
        Optional false picks (random times/channels within ``span``).
    edge_fade
        If > 0, probabilities fade to 0 over this many samples at tile edges,
        mimicking a network that needs context (for the tile-edge test).
    """

    def __init__(self, arrivals: Sequence[tuple[int, int, str]], *, sigma_s: float = 0.1, peak: float = 0.9,
                 jitter_s: float = 0.0, miss_rate: float = 0.0, seed: int = 0, edge_fade: int = 0,
                 false_arrivals: Sequence[tuple[int, int, str]] = ()) -> None:
        rng = np.random.default_rng(seed)
        arr = list(arrivals)
        keep = rng.random(len(arr)) >= miss_rate
        jit = rng.normal(0, jitter_s, len(arr)) if jitter_s > 0 else np.zeros(len(arr))
        arr = [(a["channel"], a["t_ns"], a["phase"]) if isinstance(a, dict) else tuple(a) for a in arr]
        rows = [(c, t + int(j * 1e9), p) for (c, t, p), k, j in zip(arr, keep, jit) if k] + list(false_arrivals)
        self.channel = np.array([r[0] for r in rows], dtype=np.int64)
        self.t_ns = np.array([r[1] for r in rows], dtype=np.int64)
        self.phase = np.array([1 if r[2] == "P" else 2 for r in rows], dtype=np.int64)
        self.sigma_s = sigma_s
        self.peak = peak
        self.edge_fade = edge_fade

    def annotate(self, x: np.ndarray, offset: tuple[int, float, np.ndarray]) -> np.ndarray:
        t0_ns, fs, chans = offset
        nt, nx = x.shape
        out = np.zeros((3, nt, nx), np.float32)
        pos = {int(c): i for i, c in enumerate(np.asarray(chans).tolist())}
        t_rel = (self.t_ns - t0_ns) / 1e9
        w = 5 * self.sigma_s
        sel = np.flatnonzero(np.isin(self.channel, np.asarray(chans)) & (t_rel > -w) & (t_rel < nt / fs + w))
        tt = np.arange(nt) / fs
        for i in sel:
            g = self.peak * np.exp(-0.5 * ((tt - t_rel[i]) / self.sigma_s) ** 2)
            col = pos[int(self.channel[i])]
            out[self.phase[i], :, col] = np.maximum(out[self.phase[i], :, col], g)
        if self.edge_fade:
            f = np.minimum(1.0, np.minimum(np.arange(nt) + 1, nt - np.arange(nt)) / self.edge_fade)
            out[1:] *= f[None, :, None].astype(np.float32)
        out[0] = np.clip(1 - out[1] - out[2], 0, 1)
        return out


class ModelAnnotator:
    """Adapter for :class:`pipelines.seismic.onnx_model.PhaseNetDAS`.

    The picker already removed the common mode, so the model only applies its
    own moving normalisation (``do_clean=False``), exactly as in training.  Use
    with :func:`model_config` (no extra high-pass, no second normalisation).
    """

    def __init__(self, path: str | None = None, threads: int | None = None) -> None:
        from .onnx_model import PhaseNetDAS, default_model_path

        self.path = str(path or default_model_path())
        self.model = PhaseNetDAS(self.path, threads=threads)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.model.annotate(x, do_clean=False)


SIDECAR_KEYS = ("threshold", "threshold_s")


def model_sidecar(model_path: str | Path | None = None) -> dict[str, float]:
    """Pick thresholds shipped with a model: ``<model>.json`` beside the ``.onnx`` file.

    The sidecar (written by the model's evaluation, chosen on validation seeds) holds
    ``threshold`` and ``threshold_s``; other keys (provenance) are ignored.

    Parameters
    ----------
    model_path
        The ONNX file; ``None`` = :func:`~.onnx_model.default_model_path`.

    Returns
    -------
    dict
        The valid threshold keys found (each in ``[0, 1)``); empty when the sidecar is
        missing or malformed (logged), so the caller falls back to the built-in defaults.
    """
    if model_path is None:
        from .onnx_model import default_model_path

        model_path = default_model_path()
    side = Path(model_path).with_suffix(".json")
    if not side.is_file():
        log.info("no threshold sidecar %s: built-in pick thresholds", side)
        return {}
    try:
        raw = json.loads(side.read_text())
        out = {k: float(raw[k]) for k in SIDECAR_KEYS if raw.get(k) is not None}
        bad = [k for k, v in out.items() if not 0.0 <= v < 1.0]
        if bad:
            raise ValueError(f"{bad} not in [0, 1)")
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        log.warning("malformed threshold sidecar %s (%s): built-in pick thresholds", side, exc)
        return {}
    log.info("pick thresholds from %s: %s", side, out)
    return out


def model_config(preset: str = "throughput", model_path: str | Path | None = None, **changes: Any) -> PickerConfig:
    """Picker settings matching the network's training preprocessing.

    Pick thresholds come from the model's sidecar (:func:`model_sidecar`) when present;
    explicit ``changes`` (site file, CLI) win over it. An explicit ``threshold`` without
    ``threshold_s`` applies to both phases, as without a sidecar.
    """
    side = model_sidecar(model_path)
    if "threshold" in changes and "threshold_s" not in changes:
        side.pop("threshold_s", None)
    return PickerConfig.preset(preset, **{"highpass_hz": None, "normalize": False, **side, **changes})
