"""Sliding-window assembly of decoded DAS records (pure logic, no Kafka).

Records of one *stream* - one fiber and one channel block (``fiber_id``, first channel
index, channel count) - are appended in arrival order and cut into windows of
``length_s`` every ``step_s`` across record boundaries.

Window grid
    Window starts lie on an epoch-aligned grid ``k * step_ns``; a window holds exactly
    ``round(length_s / dt_s)`` samples starting at the first sample at or after its grid
    start.  The grid is therefore the same after a restart, whatever record the consumer
    resumes from, so a re-emitted window has the same start time and the same samples.

Behaviour on irregular input (documented contract, counted in :attr:`StreamStats`):

* **gap** (a record starts later than the expected next sample by more than half a
  sample, or dt / channel layout changed): the buffered samples are dropped (windows
  that would straddle the gap are never emitted), the grid restarts at the first grid
  start at or after the new record, ``gaps`` += 1 and the next window emitted carries
  ``attrs["after_gap"] = True``.
* **duplicate** (starts before the expected next sample and its ``(seq, part)`` is one
  of the last 65536 appended to the stream, e.g. a re-sent record after an ingest
  restart): dropped, ``duplicates`` += 1.  A record that continues the stream exactly is
  accepted whatever its seq (producers that do not number blocks still work).
* **out of order** (starts before the expected next sample and its ``(seq, part)`` was
  not seen): dropped, ``out_of_order`` += 1.  Kafka keeps per-partition order and
  ingest keys by fiber, so this only happens when a producer misbehaves; no reorder
  buffer is kept (a recorded loss beats a stalled fiber).
* **partial overlap** (a record that starts before, but ends after, the expected next
  sample and was not seen): treated as out of order (dropped) as well.

Each buffered chunk carries an opaque ``token`` (the Kafka offset in the runtime) so the
caller can tell the oldest token still needed by a future window (:meth:`low_token`):
committing up to there never passes data of a window that has not been stored.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Hashable

import numpy as np

from dasedge.block import DASBlock


@dataclass(frozen=True)
class WindowSpec:
    """Sliding window length and step in seconds (``step_s <= length_s`` for overlap)."""

    length_s: float
    step_s: float

    def __post_init__(self) -> None:
        if not (self.length_s > 0 and self.step_s > 0):
            raise ValueError(f"window length and step must be > 0, got {self.length_s}, {self.step_s}")


@dataclass
class StreamStats:
    records: int = 0
    windows: int = 0
    gaps: int = 0
    duplicates: int = 0
    out_of_order: int = 0


@dataclass
class Window:
    """One assembled window and the tokens (offsets) of the records it used."""

    block: DASBlock
    stream: tuple
    start_ns: int
    tokens: list[Any]


def stream_key(block: DASBlock) -> tuple:
    """``(fiber_id, first channel index, channel count)``."""
    first = int(block.channel_index[0]) if block.n_channel else 0
    return (block.fiber_id, first, block.n_channel)


def stream_key_str(key: tuple) -> str:
    return f"{key[0]}|{key[1]}|{key[2]}"


def _ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


@dataclass
class _Chunk:
    block: DASBlock
    token: Any
    start: int  # sample index of its first sample in the stream buffer frame
    order: tuple[int, int]


@dataclass
class _Stream:
    key: tuple
    dt_ns: float
    layout: DASBlock  # first block: channel layout and metadata template
    base_ns: int  # time of sample index 0 of the buffer frame
    chunks: deque = field(default_factory=deque)
    n: int = 0  # samples in the frame up to the end of the last chunk
    next_start_ns: int = 0
    last_order: tuple[int, int] = (-1, -1)
    after_gap: bool = False
    emitted_until_ns: int | None = None  # start of the last window handed out
    seen: set = field(default_factory=set)  # (seq, part) of recently appended records
    seen_fifo: deque = field(default_factory=deque)

    def remember(self, order: tuple[int, int], keep: int = 65536) -> None:
        self.seen.add(order)
        self.seen_fifo.append(order)
        if len(self.seen_fifo) > keep:
            self.seen.discard(self.seen_fifo.popleft())

    def t(self, idx: int) -> int:
        return self.base_ns + round(idx * self.dt_ns)

    def index_at_or_after(self, t_ns: int) -> int:
        return max(0, math.ceil((t_ns - self.base_ns) / self.dt_ns - 1e-6))


class WindowAssembler:
    """Cut the records of many streams into sliding windows.

    Parameters
    ----------
    spec
        Window length / step.
    resume
        ``{stream_key_str: next_window_start_ns}`` restored after a restart: windows
        starting before that were already stored and are not emitted again.
    """

    def __init__(self, spec: WindowSpec, resume: dict[str, int] | None = None) -> None:
        self.spec = spec
        self.step_ns = round(spec.step_s * 1e9)
        self.resume = dict(resume or {})
        self.streams: dict[tuple, _Stream] = {}
        self.stats: dict[tuple, StreamStats] = {}

    # ------------------------------------------------------------- public
    def add(self, block: DASBlock, token: Any = None) -> list[Window]:
        """Append one decoded record; return the windows it completes (oldest first)."""
        key = stream_key(block)
        st = self.stats.setdefault(key, StreamStats())
        st.records += 1
        order = (int(block.seq), int(block.attrs.get("part", 0)))
        s = self.streams.get(key)
        if s is None:
            s = self._new_stream(key, block)
        else:
            if not self._same_layout(s, block):
                st.gaps += 1
                s = self._new_stream(key, block, after_gap=True)
            else:
                expected = s.t(s.n)
                delta = block.t0_ns - expected
                if delta < -0.5 * s.dt_ns:
                    if order in s.seen:
                        st.duplicates += 1
                    else:
                        st.out_of_order += 1
                    return []
                if delta > 0.5 * s.dt_ns:
                    st.gaps += 1
                    s = self._new_stream(key, block, after_gap=True)
        if not s.chunks:  # empty frame (new stream / after a gap / everything dropped)
            s.base_ns = block.t0_ns
            s.n = 0
        s.chunks.append(_Chunk(block, token, s.n, order))
        s.n += block.n_time
        s.last_order = order
        s.remember(order)
        return self._emit(s, st)

    def low_token(self) -> Any:
        """Smallest token of any buffered chunk (``None`` if nothing is buffered)."""
        toks = [c.token for s in self.streams.values() for c in s.chunks if c.token is not None]
        return min(toks) if toks else None

    def resume_points(self) -> dict[str, int]:
        """``{stream_key_str: next_window_start_ns}`` to persist with the committed offsets."""
        out = dict(self.resume)
        for key, s in self.streams.items():
            out[stream_key_str(key)] = s.next_start_ns
        return out

    def totals(self) -> StreamStats:
        tot = StreamStats()
        for st in self.stats.values():
            for f in ("records", "windows", "gaps", "duplicates", "out_of_order"):
                setattr(tot, f, getattr(tot, f) + getattr(st, f))
        return tot

    # ------------------------------------------------------------ private
    @staticmethod
    def _same_layout(s: _Stream, b: DASBlock) -> bool:
        ref = s.layout
        return (
            abs(b.dt_s - ref.dt_s) <= 1e-9 * ref.dt_s
            and b.n_channel == ref.n_channel
            and np.array_equal(b.distance_m, ref.distance_m)
            and b.data_type == ref.data_type
        )

    def _grid_start(self, t_ns: int) -> int:
        return _ceil_div(t_ns, self.step_ns) * self.step_ns

    def _new_stream(self, key: tuple, block: DASBlock, after_gap: bool = False) -> _Stream:
        prev = self.streams.get(key)
        nxt = self._grid_start(block.t0_ns)
        floor = self.resume.get(stream_key_str(key))
        if prev is not None:
            floor = max(floor or prev.next_start_ns, prev.next_start_ns)
        if floor is not None:
            nxt = max(nxt, int(floor))
        s = _Stream(key=key, dt_ns=block.dt_s * 1e9, layout=block, base_ns=block.t0_ns, next_start_ns=nxt,
                    after_gap=after_gap)
        if prev is not None:
            s.last_order = prev.last_order
            s.seen, s.seen_fifo = prev.seen, prev.seen_fifo
        self.streams[key] = s
        return s

    def _emit(self, s: _Stream, st: StreamStats) -> list[Window]:
        n_len = max(1, round(self.spec.length_s / s.layout.dt_s))
        out: list[Window] = []
        while True:
            i0 = s.index_at_or_after(s.next_start_ns)
            if i0 + n_len > s.n:
                break
            out.append(self._cut(s, i0, n_len))
            st.windows += 1
            s.emitted_until_ns = s.next_start_ns
            s.next_start_ns += self.step_ns
        # drop chunks that end before the first sample of the next window
        keep_from = s.index_at_or_after(s.next_start_ns)
        while s.chunks and s.chunks[0].start + s.chunks[0].block.n_time <= keep_from:
            s.chunks.popleft()
        if not s.chunks:
            s.base_ns = s.t(s.n)
            s.n = 0
        return out

    def _cut(self, s: _Stream, i0: int, n_len: int) -> Window:
        i1 = i0 + n_len
        parts, tokens = [], []
        for c in s.chunks:
            c0, c1 = c.start, c.start + c.block.n_time
            if c1 <= i0 or c0 >= i1:
                continue
            parts.append(c.block.data[max(i0, c0) - c0 : min(i1, c1) - c0])
            tokens.append(c.token)
        data = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)
        attrs = {
            "window_start_ns": s.next_start_ns,
            "stream": stream_key_str(s.key),
            "after_gap": s.after_gap,
            "tokens": tokens,
        }
        s.after_gap = False
        ref = s.layout
        block = DASBlock(
            data=data,
            t0_ns=s.t(i0),
            dt_s=ref.dt_s,
            distance_m=ref.distance_m,
            gauge_length_m=ref.gauge_length_m,
            data_type=ref.data_type,
            data_units=ref.data_units,
            fiber_id=ref.fiber_id,
            seq=s.next_start_ns // self.step_ns,
            channel_index=ref.channel_index,
            attrs=attrs,
            nonfinite="allow",  # records were validated on decode
        )
        return Window(block=block, stream=s.key, start_ns=s.next_start_ns, tokens=tokens)
