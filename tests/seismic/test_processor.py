"""Event life cycle (new -> update -> final) and the alert latency on the streaming path."""

from __future__ import annotations

import numpy as np

from dasedge.synth.quake import simulate_quake_scene
from pipelines.seismic.associate import AssocConfig
from pipelines.seismic.magnitude import SYNTH_QUAKE
from pipelines.seismic.picking import OracleAnnotator, PickerConfig
from pipelines.seismic.processor import SeismicProcessor, final_events
from tests.seismic.helpers import match_events


def test_new_update_final_and_first_alert_within_6s():
    events = [dict(origin_s=15.0, x_m=1500.0, y_m=3000.0, depth_m=6000.0, magnitude=2.0),
              dict(origin_s=40.0, x_m=500.0, y_m=-2000.0, depth_m=9000.0, magnitude=1.5)]
    blk, truth = simulate_quake_scene(n_channels=300, dx_m=8.0, duration_s=90.0, events=events, seed=21, snr_db=10.0)
    orc = OracleAnnotator(truth["arrivals"], jitter_s=0.03, miss_rate=0.05, seed=1)
    proc = SeismicProcessor(orc, PickerConfig.preset("latency", spatial=1), AssocConfig(), relation=SYNTH_QUAKE)
    msgs = []
    emitted_at = []  # data time (end of the pushed data) of each message
    for i in range(0, blk.n_time, 50):  # 0.5 s blocks, as from the broker
        b = blk.select(samples=slice(i, i + 50))
        _, m = proc.push(b)
        msgs += m
        emitted_at += [b.t_end_ns] * len(m)
    _, m = proc.flush()
    msgs += m
    emitted_at += [blk.t_end_ns] * len(m)
    finals = final_events(msgs)
    _, p, r, f1 = match_events(finals, truth["events"])
    assert f1 == 1.0
    for ev in finals:
        mine = [x for x in msgs if x.id == ev.id]
        assert [x.status for x in mine][0] == "new" and mine[-1].status == "final"
        assert [x.version for x in mine] == list(range(1, len(mine) + 1))
        assert all(x.status == "update" for x in mine[1:-1])
    # latency: data time of the first message after the P wave reached the first channel
    for t in truth["events"]:
        first_p = min(a["t_ns"] for a in truth["arrivals"] if a["phase"] == "P" and a["event_id"] == t["event_id"])
        k = next(i for i, x in enumerate(msgs) if x.status == "new" and abs(x.origin_ns - t["origin_ns"]) < 2e9)
        lat = (emitted_at[k] - first_p) / 1e9
        assert 0 < lat <= 6.0
    # final solutions are good
    for t in truth["events"]:
        e = min(finals, key=lambda e: abs(e.origin_ns - t["origin_ns"]))
        assert abs(e.x_m - t["x_m"]) < 1500
        assert abs(e.depth_m - np.hypot(t["y_m"], t["depth_m"])) < 2500
