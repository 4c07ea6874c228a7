"""The PhaseNet TF1 -> ONNX port: checkpoint parsing, graph semantics, NCEDC validation."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from pipelines.seismic.teacher.checkpoint import CheckpointError, read_checkpoint, read_index
from pipelines.seismic.teacher.convert import convert
from pipelines.seismic.teacher.runtime import DEFAULT_MODEL, detect_peaks, load_session, normalize, predict

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ckpt_dir(shared_dir: Path) -> Path:
    return shared_dir / "data" / "phasenet" / "checkpoint-190703-214543"


@pytest.fixture(scope="module")
def weights(ckpt_dir):
    return read_checkpoint(ckpt_dir)


@pytest.fixture(scope="module")
def session():
    return load_session(DEFAULT_MODEL)


def test_index_and_tensors(ckpt_dir, weights):
    entries, shards = read_index(ckpt_dir / "model_95.ckpt")
    assert shards == 1
    assert len(entries) == 210  # documented: 210 tensors including Adam slots
    trainable = sum(
        v.size for k, v in weights.items() if not k.endswith(("moving_mean", "moving_variance")) and k != "global_step"
    )
    assert trainable == 268_443  # published parameter count of PhaseNet
    assert int(weights["global_step"]) > 0
    for d in range(5):  # filters 8 * 2**d, kernel [7, 1]
        k = weights[f"DownConv_{d}/down_conv1_{d + 1}/kernel"]
        assert k.shape[:2] == (7, 1) and k.shape[3] == 8 * 2**d
    assert weights["Input/input_conv/kernel"].shape == (7, 1, 3, 8)
    assert weights["Output/output_conv/kernel"].shape == (1, 1, 8, 3)
    var = [v for k, v in weights.items() if k.endswith("moving_variance")]
    assert all(np.all(v > 0) for v in var)


def test_corrupt_index_is_rejected(ckpt_dir, tmp_path):
    src = ckpt_dir / "model_95.ckpt.index"
    bad = tmp_path / "m.ckpt.index"
    bad.write_bytes(src.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(CheckpointError, match="magic"):
        read_index(tmp_path / "m.ckpt")
    with pytest.raises(CheckpointError, match="cannot read"):
        read_index(tmp_path / "missing.ckpt")


# ----------------------------------------------------------------- numpy reference of the TF graph
def _same_pad(n: int, k: int, s: int) -> tuple[int, int]:
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def _conv(x, kern, stride=1, bias=None):
    """TF conv2d 'SAME' along time. x [B, T, Cin], kern [7, 1, Cin, Cout]."""
    k = kern[:, 0]
    lo, hi = _same_pad(x.shape[1], k.shape[0], stride)
    xp = np.pad(x, ((0, 0), (lo, hi), (0, 0)))
    win = np.lib.stride_tricks.sliding_window_view(xp, k.shape[0], axis=1)[:, ::stride]  # [B, T', Cin, 7]
    y = np.einsum("btck,kco->bto", win, k)
    return y if bias is None else y + bias


def _deconv(x, kern, stride=4):
    """TF conv2d_transpose 'SAME': adjoint of the strided SAME conv with output 4*T."""
    k = kern[:, 0]  # [7, Cout, Cin]
    b, t, _ = x.shape
    n_out = t * stride
    lo, _ = _same_pad(n_out, k.shape[0], stride)
    full = np.zeros((b, (t - 1) * stride + k.shape[0], k.shape[1]))
    for j in range(k.shape[0]):  # scatter-add each kernel tap
        full[:, j : j + (t - 1) * stride + 1 : stride] += np.einsum("btc,oc->bto", x, k[j])
    return full[:, lo : lo + n_out]


def _bn(x, w, name, eps=1e-3):
    return w[f"{name}/gamma"] * (x - w[f"{name}/moving_mean"]) / np.sqrt(w[f"{name}/moving_variance"] + eps) + w[
        f"{name}/beta"
    ]


def _reference_forward(x, w):
    """PhaseNet forward pass in float64 numpy, unfolded BN. x [B, T, 3] (normalised)."""
    relu = lambda a: np.maximum(a, 0)  # noqa: E731
    net = relu(_bn(_conv(x, w["Input/input_conv/kernel"], bias=w["Input/input_conv/bias"]), w, "Input/input_bn"))
    skips = []
    for d in range(5):
        s = f"DownConv_{d}"
        net = relu(_bn(_conv(net, w[f"{s}/down_conv1_{d + 1}/kernel"]), w, f"{s}/down_bn1_{d + 1}"))
        skips.append(net)
        if d < 4:
            net = relu(_bn(_conv(net, w[f"{s}/down_conv3_{d + 1}/kernel"], stride=4), w, f"{s}/down_bn3_{d + 1}"))
    for d in range(3, -1, -1):
        s = f"UpConv_{d}"
        up = relu(_bn(_deconv(net, w[f"{s}/up_conv0_{d + 1}/kernel"]), w, f"{s}/up_bn0_{d + 1}"))
        skip = skips[d]
        off = (up.shape[1] - skip.shape[1]) // 2
        net = np.concatenate([skip, up[:, off : off + skip.shape[1]]], axis=2)
        net = relu(_bn(_conv(net, w[f"{s}/up_conv1_{d + 1}/kernel"]), w, f"{s}/up_bn1_{d + 1}"))
    logits = np.einsum("btc,co->bto", net, w["Output/output_conv/kernel"][0, 0]) + w["Output/output_conv/bias"]
    e = np.exp(logits - logits.max(axis=2, keepdims=True))
    return e / e.sum(axis=2, keepdims=True)


@pytest.mark.parametrize("nt", [3000, 1001])
def test_onnx_matches_numpy_reference(weights, session, nt):
    rng = np.random.default_rng(nt)
    t = np.arange(nt) / 100.0
    x = rng.standard_normal((2, nt, 3))
    x[:, nt // 3 :] += 4 * np.sin(2 * np.pi * 6 * t[nt // 3 :, None]) * np.exp(-(t[nt // 3 :, None] - t[nt // 3]))
    xn = normalize(x)
    ref = _reference_forward(xn.astype(np.float64), {k: v.astype(np.float64) for k, v in weights.items()})
    got = predict(session, xn, normalized=True)
    assert got.shape == (2, nt, 3)
    np.testing.assert_allclose(got, ref, atol=2e-4)
    np.testing.assert_allclose(got.sum(axis=2), 1.0, atol=1e-5)


def test_shipped_model_is_the_conversion(ckpt_dir, tmp_path):
    out = convert(ckpt_dir, tmp_path / "t.onnx")
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    sums = dict(line.split()[::-1] for line in (ROOT / "models/phasenet/SHA256SUMS").read_text().splitlines())
    assert sums["phasenet_teacher.onnx"] == digest
    assert hashlib.sha256(DEFAULT_MODEL.read_bytes()).hexdigest() == digest
    assert hashlib.sha256((ROOT / "models/phasenet/LICENSE").read_bytes()).hexdigest() == sums["LICENSE"]
    assert DEFAULT_MODEL.stat().st_size < 2_000_000


def test_ncedc_validation(shared_dir):
    import importlib.util

    spec = importlib.util.spec_from_file_location("eval_teacher", ROOT / "bench" / "eval_teacher.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    r = mod.evaluate(DEFAULT_MODEL, shared_dir / "data/phasenet/ncedc-labelled-3c", seed=0)
    assert r["n"] == 154
    p, s = r["P"], r["S"]
    assert p["f1"] >= 0.95 and s["f1"] >= 0.94
    assert abs(p["res_mean"] - 0.006) < 0.01 and p["res_std"] < 0.045
    assert abs(s["res_mean"] - 0.010) < 0.02 and s["res_std"] < 0.09


def test_component_order_matters(shared_dir, session):
    """Moving Z out of the last slot makes P picks less precise (checks the E, N, Z convention).

    F1 barely changes with the component order, but the P residual spread of
    the documented order (0.034 s) roughly doubles with E, Z, N.
    """
    import importlib.util

    spec = importlib.util.spec_from_file_location("eval_teacher", ROOT / "bench" / "eval_teacher.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    x, itp, its, _ = mod.load_windows(shared_dir / "data/phasenet/ncedc-labelled-3c", seed=0)
    good = mod.score(predict(session, x), itp, 1)
    bad = mod.score(predict(session, x[:, :, [0, 2, 1]].copy()), itp, 1)
    assert good["res_std"] < 0.7 * bad["res_std"]


def test_detect_peaks():
    s = np.zeros(400)
    s[[50, 80, 200, 330]] = [0.9, 0.6, 0.4, 0.2]
    s[201] = 0.4  # flat top: one pick
    idx = detect_peaks(s, threshold=0.3, min_distance=50)
    assert idx.tolist() == [50, 200]  # 80 is within 50 of a higher peak; 330 below threshold
    assert detect_peaks(s, threshold=0.1, min_distance=10).tolist() == [50, 80, 200, 330]
