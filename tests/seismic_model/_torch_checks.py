"""Checks that need PyTorch; run by test_torch_side.py in an interpreter that has torch.

Kept as plain functions (assertions inside) so they run the same in CI (torch
installed in .venv) and on machines where torch lives in a separate training
venv (.venv-train).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def param_counts() -> None:
    from pipelines.seismic.training.model import build, n_parameters

    full = build("full")
    assert n_parameters(full) == 10_681_027, n_parameters(full)
    # after folding BN into the convs: the reference figure 10,679,555
    bn = sum(m.num_features for m in full.modules() if m.__class__.__name__ == "BatchNorm2d")
    assert n_parameters(full) - 2 * bn + bn == 10_679_555
    # head 16->3 7x7 with bias; backbone convs have no bias
    assert full.head.bias is not None and full.head.weight.shape == (3, 16, 7, 7)
    convs = [m for n, m in full.named_modules() if m.__class__.__name__ in ("Conv2d", "ConvTranspose2d") and not n.startswith("head")]
    assert len(convs) == 18 and all(c.bias is None for c in convs)
    assert all(c.output_padding == (3, 3) for c in convs if c.__class__.__name__ == "ConvTranspose2d")
    edge = build("edge")
    assert n_parameters(edge) == 339_107


def shapes_and_loss() -> None:
    import torch

    from pipelines.seismic.training.model import build, soft_cross_entropy

    torch.manual_seed(0)
    net = build("tiny").eval()
    for nt, nx in ((64, 64), (128, 192)):
        y = net(torch.randn(2, 1, nt, nx))
        assert y.shape == (2, 3, nt, nx)
    logits = torch.randn(1, 3, 8, 4)
    target = torch.zeros(1, 3, 8, 4)
    target[:, 0] = 1.0
    mask = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    # independent value: mean of -log_softmax[noise] over the two labelled channels
    expected = -torch.log_softmax(logits, 1)[:, 0, :, :2].mean()
    got = soft_cross_entropy(logits, target, mask)
    assert torch.allclose(got, expected), (got, expected)
    # masked channels do not influence the loss
    logits2 = logits.clone()
    logits2[..., 2:] += 100.0
    assert torch.allclose(soft_cross_entropy(logits2, target, mask), expected)


def export_matches_torch() -> None:
    import torch

    from pipelines.seismic.onnx_model import PhaseNetDAS as OrtModel, preprocess
    from pipelines.seismic.training.export import export_onnx, verify
    from pipelines.seismic.training.model import SoftmaxWrapper, build

    torch.manual_seed(1)
    net = build("edge")
    for m in net.modules():  # non-trivial BN statistics so ORT's BN folding is exercised
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    net.eval()
    with tempfile.TemporaryDirectory() as d:
        path = export_onnx(net, Path(d) / "m.onnx", {"note": "test"})
        import onnx

        model = onnx.load(str(path))
        assert model.opset_import[0].version == 17
        dims = [d.dim_param for d in model.graph.input[0].type.tensor_type.shape.dim]
        assert dims == ["batch", "", "nt", "nx"] or dims[2:] == ["nt", "nx"], dims
        diff = verify(net, path, [(512, 256), (1024, 512)])
        assert diff <= 1e-4, diff
        # the product wrapper: padding + cropping of an odd shape equals torch on the padded input
        ort_model = OrtModel(path, threads=1)
        assert ort_model.pad_multiple == 256 and ort_model.metadata["note"] == "test"
        x = np.random.default_rng(2).standard_normal((1100, 300)).astype(np.float32)
        got = ort_model.annotate(x)
        xn = preprocess(x)
        xp = np.zeros((1280, 512), np.float32)
        xp[:1100, :300] = xn
        with torch.no_grad():
            ref = SoftmaxWrapper(net)(torch.from_numpy(xp)[None, None]).numpy()[0, :, :1100, :300]
        assert got.shape == (3, 1100, 300)
        assert np.abs(got - ref).max() <= 1e-4
        np.testing.assert_allclose(got.sum(axis=0), 1.0, atol=1e-5)


def train_resume() -> None:
    import torch

    from pipelines.seismic.training.train import train

    with tempfile.TemporaryDirectory() as d:
        s1 = train(d, minutes=2, variant="tiny", nt=1024, nx=64, total_steps=6, max_steps=2, warmup=1, log_every=1)
        assert s1["step"] == 2
        ck = torch.load(Path(d) / "last.pt", weights_only=False)
        assert set(ck) >= {"model", "optimizer", "scheduler", "torch_rng", "step", "wall_s", "meta"}
        s2 = train(d, minutes=2, variant="tiny", nt=1024, nx=64, total_steps=6, max_steps=4, warmup=1, log_every=1)
        assert s2["step"] == 4
        ck2 = torch.load(Path(d) / "last.pt", weights_only=False)
        assert ck2["scheduler"]["last_epoch"] == 4 and ck2["wall_s"] >= ck["wall_s"]
        # the resumed run continues exactly: 2 + 2 steps == 4 uninterrupted steps
        with tempfile.TemporaryDirectory() as d2:
            train(d2, minutes=2, variant="tiny", nt=1024, nx=64, total_steps=6, max_steps=4, warmup=1, log_every=1)
            ck3 = torch.load(Path(d2) / "last.pt", weights_only=False)
        for k, v in ck2["model"].items():
            assert torch.allclose(v.float(), ck3["model"][k].float(), atol=1e-5), k
        assert "step 4/4" in (Path(d) / "train.log").read_text()


def finetune_end_to_end() -> None:
    import torch

    from pipelines.seismic.onnx_model import PhaseNetDAS as OrtModel
    from pipelines.seismic.training.finetune import finetune
    from pipelines.seismic.training.model import build
    from pipelines.seismic.training.scenes import EVAL_SEED0, simulate

    t0 = time.time()
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        sc = simulate(EVAL_SEED0 + 4242, nt=2048, nx=128, snr_db=20, n_events=1, dx_m=10.0)
        np.save(d / "rec0.npy", sc.data)
        torch.manual_seed(0)
        base = build("tiny")
        torch.save({"model": base.state_dict(), "meta": {"config": base.config.to_dict()}}, d / "base.pt")
        res = finetune([d / "rec0.npy"], base=d / "base.pt", out=d / "ft", teacher="phasenet", minutes=1, steps=4,
                       nt=1024, nx=128, min_channels=10)
        onnx_path = Path(res["onnx"])
        assert onnx_path.is_file() and (d / "ft" / "README.md").is_file() and (d / "ft" / "SHA256SUMS").is_file()
        rec = res["records"][0]
        assert rec["events"] == 1 and rec["labelled_channels"] >= 10 and rec["associated_picks"] <= rec["teacher_picks"]
        # pseudo-labels were stored and sit on the simulator's truth (checked against truth, never trained on it)
        z = np.load(d / "ft" / "pseudo" / "rec00000.npz")
        lab = z["mask"] > 0
        tp = sc.events[0].p_s / sc.dt_s
        assert np.median(np.abs(z["p_idx"][0, lab] - tp[lab])) < 10
        assert res["train"]["step"] == 4
        m = OrtModel(onnx_path, threads=1)
        assert m.metadata["training"]["labels"] == "teacher"
        p = m.annotate(sc.data[:1500])
        assert p.shape == (3, 1500, 128)
        np.testing.assert_allclose(p.sum(axis=0), 1.0, atol=1e-5)
        # the fine-tuned ONNX can itself be a fine-tuning base (weights.npz next to it)
        assert onnx_path.with_suffix(".weights.npz").is_file()
        card = (d / "ft" / "README.md").read_text()
        assert res["sha256"] in card
    print(json.dumps({"seconds": round(time.time() - t0, 1)}))


if __name__ == "__main__":
    globals()[sys.argv[1]]()
