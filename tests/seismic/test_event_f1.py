"""CI-sized end-to-end event F1 on small synthetic scenes (fresh seeds).

Runs with the oracle annotator always, and with the shipped PhaseNet-DAS model
when ``models/phasenet_das/phasenet_das_edge.onnx`` is in the checkout (the
parameter list is built from what exists, nothing is skipped).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dasedge.synth.quake import simulate_quake_scene
from pipelines.seismic.associate import AssocConfig
from pipelines.seismic.cli import process_blocks
from pipelines.seismic.magnitude import SYNTH_QUAKE
from pipelines.seismic.picking import ModelAnnotator, OracleAnnotator, PickerConfig, model_config
from pipelines.seismic.processor import SeismicProcessor, final_events
from tests.seismic.helpers import match_events

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "phasenet_das" / "phasenet_das_edge.onnx"
PICKERS = ["oracle"] + (["model"] if SHIPPED.is_file() else [])


@pytest.mark.parametrize("picker", PICKERS)
# Fixed fresh seeds (never used for tuning) so a failure is reproducible. Seed 71601 (found by an
# earlier random-seed version): two events 0.7 s apart that the associator merged into one (fixed by
# explain-away re-fits with narrow components; bench/results/seismic_assoc.md has the sweep).
@pytest.mark.parametrize("seed", [31337, 52021, 71601])
def test_event_f1_small_scene(picker, seed):
    blk, truth = simulate_quake_scene(n_channels=256, dx_m=8.0, duration_s=70.0, n_events=2, seed=seed,
                                      snr_db=[10.0, 10.0], depth_range_km=(3.0, 10.0))
    if picker == "oracle":
        ann = OracleAnnotator(truth["arrivals"], jitter_s=0.05, miss_rate=0.15, seed=seed)
        cfg = PickerConfig.preset("throughput", spatial=1)
    else:
        ann = ModelAnnotator(str(SHIPPED), threads=2)
        cfg = model_config("throughput", spatial=1)
    vp = truth["params"]["vp_ms"] / 1000.0
    acfg = AssocConfig(vp=vp, vs=truth["params"]["vs_ms"] / 1000.0)
    chunks = [blk.select(samples=slice(i, i + 1000)) for i in range(0, blk.n_time, 1000)]
    picks, msgs, _ = process_blocks(chunks, lambda: SeismicProcessor(ann, cfg, acfg, relation=SYNTH_QUAKE))
    # origins drawn so the first P is inside the record; both events must be found
    pairs, p, r, f1 = match_events(final_events(msgs), truth["events"], 2.0)
    # the shipped model (first release) still makes some false events: see bench/results/seismic.md
    assert f1 >= (1.0 if picker == "oracle" else 0.66), (seed, p, r)
    if picker == "oracle":
        for t, e in pairs:
            assert abs(e.x_m - t["x_m"]) < 3000
            assert abs(e.magnitude - t["magnitude"]) < 0.6
