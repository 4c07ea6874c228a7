"""PyTorch-side checks (model, loss, ONNX export, resumable training, fine-tuning).

The product venv does not need torch; these checks run in an interpreter that
has it: the current one if it imports torch (CI installs the ``train`` extra),
else the project's training venv ``.venv-train``. Neither present is a failure.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def torch_python() -> str:
    if importlib.util.find_spec("torch") is not None:
        return sys.executable
    alt = ROOT / ".venv-train" / "bin" / "python"
    if alt.exists():
        return str(alt)
    pytest.fail("PyTorch not found: install the 'train' extra (pip install -e '.[train]')")


def _run(py: str, name: str, timeout: int = 240) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    r = subprocess.run([py, "-m", "tests.seismic_model._torch_checks", name], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{name} failed:\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}"
    return r.stdout


def test_parameter_counts_match_paper(torch_python):
    _run(torch_python, "param_counts")


def test_shapes_and_masked_soft_cross_entropy(torch_python):
    _run(torch_python, "shapes_and_loss")


def test_onnx_export_matches_pytorch_at_two_shapes(torch_python):
    _run(torch_python, "export_matches_torch")


def test_training_resumes_exactly(torch_python):
    _run(torch_python, "train_resume")


def test_finetune_end_to_end(torch_python):
    _run(torch_python, "finetune_end_to_end")
