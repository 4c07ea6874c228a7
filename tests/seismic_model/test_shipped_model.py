"""The shipped PhaseNet-DAS edge model: integrity, metadata, and accuracy on held-out scenes (onnxruntime only)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from dasedge.synth.quake import simulate_quake_scene
from pipelines.seismic.onnx_model import DEFAULT_MODEL, PhaseNetDAS, default_model_path, detect_peaks
from pipelines.seismic.teacher.das import score_picks
from pipelines.seismic.training.scenes import EVAL_SEED0, simulate

MODEL_DIR = DEFAULT_MODEL.parent


@pytest.fixture(scope="module")
def model() -> PhaseNetDAS:
    return PhaseNetDAS(threads=1)


def test_files_and_checksums():
    sums = dict(line.split()[::-1] for line in (MODEL_DIR / "SHA256SUMS").read_text().splitlines() if line.strip())
    assert "phasenet_das_edge.onnx" in sums
    for name, digest in sums.items():
        data = (MODEL_DIR / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest, name
    assert (MODEL_DIR / "phasenet_das_edge.onnx").stat().st_size < 50e6
    card = (MODEL_DIR / "README.md").read_text()
    assert sums["phasenet_das_edge.onnx"] in card and "MIT" in card


def test_threshold_sidecar_belongs_to_the_shipped_model():
    import json

    side = json.loads((MODEL_DIR / "phasenet_das_edge.json").read_text())
    onnx = (MODEL_DIR / "phasenet_das_edge.onnx").read_bytes()
    assert side["model_sha256"] == hashlib.sha256(onnx).hexdigest()  # re-select thresholds when the model changes
    assert 0.0 < side["threshold"] < 1.0 and 0.0 < side["threshold_s"] < 1.0
    assert "validation" in side["selected_on"]


def test_metadata(model):
    md = model.metadata
    assert md["config"] == {"init_features": 8, "depth": 4, "kernel": 5, "stride": 4}
    assert md["n_parameters"] == 339_107 and model.pad_multiple == 256
    # stage 2 of the recipe: teacher pseudo-labels (GaMMA-filtered), started from the truth-label stage
    assert md["training"]["labels"] == "teacher" and md["training"]["step"] > 500


def test_env_var_selects_model(monkeypatch, tmp_path):
    monkeypatch.setenv("DASEDGE_SEISMIC_MODEL", str(tmp_path / "x.onnx"))
    assert default_model_path() == tmp_path / "x.onnx"
    monkeypatch.delenv("DASEDGE_SEISMIC_MODEL")
    assert default_model_path() == DEFAULT_MODEL


def _score(model, blk, truth, threshold=0.5):
    prob = model.annotate(blk.data)
    assert prob.shape == (3, *blk.shape)
    np.testing.assert_allclose(prob.sum(axis=0), 1.0, atol=1e-4)
    picks = [(c, blk.t0_ns + t * 10_000_000, "P" if ph == 1 else "S", s) for c, ph, t, s in detect_peaks(prob, min_prob=threshold)]
    live = sorted(set(range(blk.n_channel)) - set(truth["dead_channels"]))
    return (score_picks(picks, truth["arrivals"], tol_s=0.1, channels=live)["P"],
            score_picks(picks, truth["arrivals"], tol_s=0.2, channels=live)["S"])


def test_picks_on_held_out_10db_scenes(model):
    # independent generator (dasedge.synth.quake), evaluation seeds only
    f1, s_f1 = [], []
    for seed in (EVAL_SEED0 + 3001, EVAL_SEED0 + 3002):
        blk, truth = simulate_quake_scene(n_channels=512, dx_m=8.0, duration_s=60.0, seed=seed, snr_db=10.0,
                                          geometry="bent")
        p, s = _score(model, blk, truth)
        f1.append(p["f1"])
        s_f1.append(s["f1"])
        assert abs(p["res_mean"]) < 0.08 and p["res_std"] < 0.05
        assert s["recall"] > 0.8
    assert np.mean(f1) > 0.85, f1
    assert np.mean(s_f1) > 0.7, s_f1


def test_noise_only_record_has_few_picks(model):
    sc = simulate(EVAL_SEED0 + 77, nt=4000, nx=256, n_events=0)
    prob = model.annotate(sc.data)
    picks = detect_peaks(prob, min_prob=0.5)
    # fewer than one false pick per 10 channels per 40 s record
    assert len(picks) < 0.1 * sc.nx, len(picks)
