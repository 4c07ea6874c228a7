"""Sliding-window assembler: contiguity, gaps, duplicates, out-of-order (pure numpy)."""

from __future__ import annotations

import numpy as np
import pytest

from dasedge.block import DASBlock
from dasedge.streaming.windows import WindowAssembler, WindowSpec

DT = 0.01  # 100 Hz
T0 = 1_700_000_000 * 10**9  # on the 1 s grid
NCH = 3


def signal(n0: int, n: int) -> np.ndarray:
    """Sample k of channel c holds k + 1000 c: windows can be checked by value."""
    k = np.arange(n0, n0 + n, dtype=np.float32)[:, None]
    return k + 1000 * np.arange(NCH, dtype=np.float32)[None, :]


def rec(n0: int, n: int, seq: int, **kw) -> DASBlock:
    return DASBlock(data=signal(n0, n), t0_ns=T0 + round(n0 * DT * 1e9), dt_s=DT,
                    distance_m=np.arange(NCH) * 2.0, seq=seq, **kw)


def feed(asm, records):
    out = []
    for i, r in enumerate(records):
        out += asm.add(r, token=i)
    return out


def test_windows_span_record_boundaries_with_exact_samples():
    asm = WindowAssembler(WindowSpec(length_s=1.0, step_s=0.5))
    # 37-sample records: boundaries never line up with window edges
    wins = feed(asm, [rec(i * 37, 37, seq=i) for i in range(20)])  # 740 samples = 7.4 s
    starts = [w.block.t0_ns for w in wins]
    assert starts == [T0 + k * 500_000_000 for k in range(len(wins))]
    assert len(wins) == 13  # windows [0,1) .. [6,7) every 0.5 s
    for k, w in enumerate(wins):
        np.testing.assert_array_equal(w.block.data, signal(50 * k, 100))
        assert w.block.attrs["after_gap"] is False
    # the second window [0.5, 1.5) = samples 50..149 covers records 1..4 (tokens)
    assert wins[1].tokens == [1, 2, 3, 4]
    assert asm.totals().windows == 13 and asm.totals().gaps == 0


def test_low_token_is_oldest_record_needed_by_next_window():
    asm = WindowAssembler(WindowSpec(length_s=1.0, step_s=1.0))
    feed(asm, [rec(i * 40, 40, seq=i) for i in range(6)])  # 240 samples -> windows [0,1) [1,2)
    # next window starts at sample 200 = record 5 (samples 200..239)
    assert asm.low_token() == 5
    assert asm.resume_points() == {"fiber0|0|3": T0 + 2 * 10**9}


def test_gap_restarts_window_and_marks_it():
    asm = WindowAssembler(WindowSpec(length_s=1.0, step_s=1.0))
    recs = [rec(i * 50, 50, seq=i) for i in range(3)]  # samples 0..149
    recs += [rec(400 + i * 50, 50, seq=3 + i) for i in range(6)]  # gap: 150..399 missing
    wins = feed(asm, recs)
    assert asm.totals().gaps == 1
    # window [1,2) would straddle the gap: never emitted; grid restarts at 4 s
    assert [(w.block.t0_ns - T0) // 10**9 for w in wins] == [0, 4, 5, 6]
    assert [w.block.attrs["after_gap"] for w in wins] == [False, True, False, False]
    np.testing.assert_array_equal(wins[1].block.data, signal(400, 100))


def test_duplicates_are_dropped_and_counted():
    asm = WindowAssembler(WindowSpec(length_s=0.5, step_s=0.5))
    recs = [rec(0, 50, 0), rec(50, 50, 1), rec(50, 50, 1), rec(0, 50, 0), rec(100, 50, 2)]
    wins = feed(asm, recs)
    assert asm.totals().duplicates == 2 and asm.totals().out_of_order == 0
    np.testing.assert_array_equal(np.concatenate([w.block.data for w in wins]), signal(0, 150))


def test_out_of_order_records_are_dropped_and_counted():
    asm = WindowAssembler(WindowSpec(length_s=0.5, step_s=0.5))
    # seq 2 (samples 100..149) arrives before seq 1 (50..99): the late one is older than the head
    wins = feed(asm, [rec(0, 50, 0), rec(100, 50, 2), rec(50, 50, 1), rec(150, 50, 3)])
    t = asm.totals()
    # 0..49, then a gap (50..99 missing) -> restart at 1.0 s; the late seq 1 is out of order
    assert (t.gaps, t.out_of_order, t.duplicates) == (1, 1, 0)
    assert [(w.block.t0_ns - T0) // 10**7 for w in wins] == [0, 100, 150]


def test_resume_point_suppresses_already_stored_windows():
    spec = WindowSpec(length_s=1.0, step_s=0.5)
    full = feed(WindowAssembler(spec), [rec(i * 37, 37, seq=i) for i in range(20)])
    resumed = WindowAssembler(spec, resume={"fiber0|0|3": T0 + 3 * 10**9})
    # restart from record 7 (sample 259 = 2.59 s): first window at 3.0 s, same samples as before
    again = feed(resumed, [rec(i * 37, 37, seq=i) for i in range(7, 20)])
    assert [w.block.t0_ns for w in again] == [w.block.t0_ns for w in full if w.block.t0_ns >= T0 + 3 * 10**9]
    for a, b in zip(again, full[6:]):
        np.testing.assert_array_equal(a.block.data, b.block.data)


def test_channel_blocks_are_separate_streams():
    asm = WindowAssembler(WindowSpec(length_s=0.5, step_s=0.5))
    a = rec(0, 50, 0, channel_index=np.array([0, 1, 2]))
    b = rec(0, 50, 0, channel_index=np.array([3, 4, 5]))
    wins = feed(asm, [a, b])
    assert sorted(w.block.attrs["stream"] for w in wins) == ["fiber0|0|3", "fiber0|3|3"]
    assert asm.totals().duplicates == 0


def test_window_spec_validation():
    with pytest.raises(ValueError):
        WindowSpec(length_s=0, step_s=1)
