"""Restart of a SeismicProcessor from its JSON state (what a kill -9'd streaming worker gets back).

A processor is "killed" after block k: a fresh processor restores ``state_dict()`` (through a JSON
round trip, as the runtime's commit metadata) and continues from block k.  Against the scene truth,
every event must end ``final`` exactly once, with the id of the uninterrupted run, and no extra event.
"""

from __future__ import annotations

import json

import pytest

from dasedge.synth.quake import simulate_quake_scene
from pipelines.seismic.associate import AssocConfig
from pipelines.seismic.magnitude import SYNTH_QUAKE
from pipelines.seismic.picking import OracleAnnotator, PickerConfig
from pipelines.seismic.processor import SeismicProcessor
from tests.seismic.helpers import match_events

BLOCK = 50  # samples (0.5 s at 100 Hz)
# The restarted picker needs its model window (10.24 s in the latency preset) of context, which it
# gets when the worker's runtime re-reads that much (overlapping windows); without it the picks of the
# last ~10 s before a kill are lost, which is the picker's business, not the state's.
CONTEXT = 1200


@pytest.fixture(scope="module")
def scene():
    events = [dict(origin_s=12.0, x_m=1500.0, y_m=3000.0, depth_m=6000.0, magnitude=2.0),
              dict(origin_s=30.0, x_m=-800.0, y_m=-2000.0, depth_m=8000.0, magnitude=1.5),
              dict(origin_s=33.0, x_m=900.0, y_m=2500.0, depth_m=5000.0, magnitude=1.8)]
    blk, truth = simulate_quake_scene(n_channels=240, dx_m=8.0, duration_s=80.0, events=events, seed=5, snr_db=10.0)
    return blk, truth


def _proc(truth):
    orc = OracleAnnotator(truth["arrivals"], jitter_s=0.03, miss_rate=0.05, seed=3)
    return SeismicProcessor(orc, PickerConfig.preset("latency", spatial=1), AssocConfig(), relation=SYNTH_QUAKE)


def _run(blk, truth, kills: list[int], restore: bool = True):
    """Messages of a run killed before each block index in ``kills`` (restarted with or without state)."""
    proc = _proc(truth)
    msgs = []
    state: dict = {}
    for i in range(0, blk.n_time, BLOCK):
        if i // BLOCK in kills:
            state = json.loads(json.dumps(state))  # what the commit metadata holds
            proc = _proc(truth)
            if restore:
                proc.load_state(state)
            if i:  # the re-read context (re-emitted picks are dropped against the restored buffer)
                msgs += proc.push(blk.select(samples=slice(max(0, i - CONTEXT), i)))[1]
        _, m = proc.push(blk.select(samples=slice(i, i + BLOCK)))
        msgs += m
        proc.save_state(state)
    msgs += proc.flush()[1]
    return msgs


def _finals(msgs):
    fin = [m for m in msgs if m.status == "final"]
    return fin, {m.id for m in msgs}


@pytest.mark.parametrize("kills", [[20, 60], [27, 33, 64], [70, 75, 90, 120], [45]])
def test_restart_from_state_finalises_every_event_once(scene, kills):
    blk, truth = scene
    ref_fin, ref_ids = _finals(_run(blk, truth, []))
    _, _, _, f1 = match_events(ref_fin, truth["events"])
    assert f1 == 1.0 and len(ref_fin) == len(truth["events"])
    msgs = _run(blk, truth, kills)
    fin, ids = _finals(msgs)
    assert sorted(m.id for m in fin) == sorted(m.id for m in ref_fin)  # exactly once each, stable ids
    assert ids == ref_ids  # no duplicate event under another id
    for ev in fin:  # the life cycle continues: versions keep counting up
        mine = [m for m in msgs if m.id == ev.id]
        assert mine[0].status == "new" and mine[-1] is ev
        assert [m.version for m in mine] == sorted({m.version for m in mine})


def test_without_state_events_are_lost(scene):
    """The check above can fail: restarting without the state loses 'final' messages."""
    blk, truth = scene
    ref_fin, _ = _finals(_run(blk, truth, []))
    fin, _ = _finals(_run(blk, truth, [27, 33, 64], restore=False))
    assert sorted(m.id for m in fin) != sorted(m.id for m in ref_fin)


def _size(doc) -> int:
    return len(json.dumps(doc, separators=(",", ":")))  # as the runtime serialises it


def test_state_is_compact_and_bounded(scene):
    blk, truth = scene
    proc = _proc(truth)
    for i in range(0, 40 * 100, BLOCK):
        proc.push(blk.select(samples=slice(i, i + BLOCK)))
    full = json.dumps(proc.state_dict())
    assert len(proc.buffer) > 500 and _size(proc.state_dict()) < 40 * len(proc.buffer)
    small = proc.state_dict(max_bytes=_size(proc.state_dict()) // 3)
    assert _size(small) <= _size(proc.state_dict()) // 3
    assert 0 < small["n_buf"] < len(proc.buffer) and len(small["events"]) == len(proc.state_dict()["events"])
    # the round trip restores the buffer (ids re-derived) and the tracker
    other = _proc(truth)
    other.load_state(json.loads(full))
    assert [p for p in other.buffer] == proc.buffer
    assert other.tracker.active == proc.tracker.active
    assert {k: v for k, v in other.tracker.members.items()} == {
        k: v & {p.id for p in proc.buffer} for k, v in proc.tracker.members.items() if v}
