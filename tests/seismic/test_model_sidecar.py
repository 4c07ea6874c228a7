"""The model's threshold sidecar (``<model>.json``) sets the picker's thresholds; explicit values win."""

from __future__ import annotations

import json
import logging

from pipelines.seismic.picking import PickerConfig, model_config, model_sidecar


def test_sidecar_sets_per_phase_thresholds(tmp_path):
    onnx = tmp_path / "m.onnx"
    (tmp_path / "m.json").write_text(json.dumps({"threshold": 0.45, "threshold_s": 0.6, "selected_on": "validation"}))
    cfg = model_config("latency", onnx)
    assert (cfg.threshold, cfg.threshold_s) == (0.45, 0.6)
    assert cfg.phase_threshold("P") == 0.45 and cfg.phase_threshold("S") == 0.6
    # explicit (site / CLI) values win over the sidecar, key by key
    cfg2 = model_config("throughput", onnx, threshold_s=0.2)
    assert (cfg2.threshold, cfg2.threshold_s) == (0.45, 0.2)
    # an explicit threshold alone applies to both phases (as without a sidecar)
    cfg3 = model_config("throughput", onnx, threshold=0.35)
    assert cfg3.phase_threshold("P") == cfg3.phase_threshold("S") == 0.35


def test_cli_uses_the_sidecar_of_the_model_it_loads(tmp_path):
    import argparse
    import shutil
    from pathlib import Path

    from pipelines.seismic.cli import add_common_arguments, processor_factory

    shipped = Path(__file__).resolve().parents[2] / "models" / "phasenet_das" / "phasenet_das_edge.onnx"
    onnx = shutil.copy(shipped, tmp_path / "m.onnx")
    (tmp_path / "m.json").write_text(json.dumps({"threshold": 0.42, "threshold_s": 0.64}))
    ap = argparse.ArgumentParser()
    add_common_arguments(ap)
    proc = processor_factory(ap.parse_args(["--model", str(onnx), "--threads", "1"]))()
    assert (proc.picker_cfg.threshold, proc.picker_cfg.threshold_s) == (0.42, 0.64)
    proc = processor_factory(ap.parse_args(["--model", str(onnx), "--threads", "1", "--threshold", "0.3"]))()
    assert proc.picker_cfg.phase_threshold("P") == proc.picker_cfg.phase_threshold("S") == 0.3


def test_missing_or_malformed_sidecar_falls_back_with_a_log_line(tmp_path, caplog):
    default = PickerConfig()
    onnx = tmp_path / "m.onnx"
    with caplog.at_level(logging.INFO, logger="pipelines.seismic.picking"):
        assert model_sidecar(onnx) == {}
    assert "no threshold sidecar" in caplog.text
    for bad in ("{not json", json.dumps({"threshold": 1.5}), json.dumps([0.3]), json.dumps({"threshold_s": "x"})):
        (tmp_path / "m.json").write_text(bad)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="pipelines.seismic.picking"):
            cfg = model_config("throughput", onnx)
        assert (cfg.threshold, cfg.threshold_s) == (default.threshold, default.threshold_s)
        assert "malformed threshold sidecar" in caplog.text
