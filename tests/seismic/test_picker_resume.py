"""A picker restarted after a crash continues the previous one's window grid and emitted-picks mark.

Fed again with ``context_s()`` of data before the crash point (what the seismic worker's runtime
windows hold back), the resumed picker emits exactly the picks the uninterrupted picker would
have emitted after the crash - none lost, none twice - with the shipped model, whose probabilities
depend on where the windows fall (moving normalisation, common-mode removal per window).
"""

from __future__ import annotations

import math

import pytest

from dasedge.synth.quake import simulate_quake_scene
from pipelines.seismic.picking import ModelAnnotator, StreamPicker, model_config

BLOCK_S = 0.5


@pytest.fixture(scope="module")
def setup():
    # 3 events, picks at 8-10 s and 23-24 s with the shipped model
    blk, truth = simulate_quake_scene(n_channels=64, dx_m=8.0, duration_s=60.0, n_events=3, seed=4244, snr_db=12.0)
    n = int(round(BLOCK_S / blk.dt_s))
    chunks = [blk.select(samples=slice(i, i + n)) for i in range(0, blk.n_time, n)]
    return chunks, ModelAnnotator(threads=1), model_config("latency")


def _run(picker, chunks, *, flush):
    out = [p for c in chunks for p in picker.push(c)]
    return out + (picker.flush() if flush else [])


def _key(p):
    return (p.channel, p.t_ns, p.phase)


# crash before, inside and after the arrivals of an event, and late in the record
@pytest.mark.parametrize("crash_s", [6.0, 9.0, 23.5, 30.0, 52.0])
def test_resumed_picker_emits_exactly_the_remaining_picks(setup, crash_s):
    chunks, ann, cfg = setup
    whole = _run(StreamPicker(ann, cfg), chunks, flush=True)
    assert len(whole) > 50, "the scene must give picks for the test to mean anything"
    j = int(crash_s / BLOCK_S)
    first = StreamPicker(ann, cfg)
    before = _run(first, chunks[:j], flush=False)  # emitted (and committed) before the crash
    point = first.resume_point()
    back = math.ceil(first.context_s() / BLOCK_S) + 1  # what the runtime re-delivers after a restart
    resumed = StreamPicker(ann, cfg)
    resumed.resume_from(point)
    after = _run(resumed, chunks[max(0, j - back):], flush=True)
    assert [_key(p) for p in before + after] == [_key(p) for p in whole]
    assert [p.id for p in before + after] == [p.id for p in whole]


def test_control_fresh_picker_without_resume_duplicates_and_differs(setup):
    """Why the resume point is needed: a fresh picker on the re-read data emits picks that were
    already emitted before the crash, and its later picks differ from the uninterrupted run."""
    chunks, ann, cfg = setup
    whole = [_key(p) for p in _run(StreamPicker(ann, cfg), chunks, flush=True)]
    j = int(30.0 / BLOCK_S)
    first = StreamPicker(ann, cfg)
    before = [_key(p) for p in _run(first, chunks[:j], flush=False)]
    back = math.ceil(first.context_s() / BLOCK_S) + 1
    fresh = [_key(p) for p in _run(StreamPicker(ann, cfg), chunks[j - back:], flush=True)]
    assert set(before) & set(fresh), "a fresh picker re-emits picks of the re-read span"
    assert before + fresh != whole


def test_resume_without_enough_context_loses_no_more_than_the_gap(setup):
    """Re-read data shorter than the context: nothing is emitted twice (picks may be missing)."""
    chunks, ann, cfg = setup
    j = int(23.0 / BLOCK_S)  # just before the second event's picks
    first = StreamPicker(ann, cfg)
    before = _run(first, chunks[:j], flush=False)
    resumed = StreamPicker(ann, cfg)
    resumed.resume_from(first.resume_point())
    after = _run(resumed, chunks[j - 2:], flush=True)
    keys = [_key(p) for p in before + after]
    assert len(keys) == len(set(keys))
    assert after and min(p.t_ns for p in after) >= first.picked_to_ns
