"""Export a trained PhaseNet-DAS checkpoint to ONNX and verify it against PyTorch.

Opset 17, TorchScript exporter (``dynamo=False``), dynamic batch/time/channel
axes; the graph is ``x -> softmax(net(x))`` on moving-normalised input (the
normalisation runs in numpy, :mod:`pipelines.seismic.onnx_model`). BatchNorm
is left in the graph and folded into the convolutions by onnxruntime at
session creation. The ONNX metadata carries the variant, config,
``pad_multiple``, parameter count, preprocessing and the training summary.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from pipelines.seismic.training.model import ModelConfig, PhaseNetDAS, SoftmaxWrapper, n_parameters


def load_checkpoint(path: str | Path) -> tuple[PhaseNetDAS, dict]:
    """Network (eval mode) and metadata from a training checkpoint."""
    ck = torch.load(path, map_location="cpu", weights_only=False)
    meta = dict(ck.get("meta", {}))
    cfg = ModelConfig(**meta["config"])
    net = PhaseNetDAS(cfg)
    net.load_state_dict(ck["model"])
    net.eval()
    meta.update(step=ck.get("step"), wall_minutes=round(ck.get("wall_s", 0.0) / 60, 2))
    return net, meta


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def export_onnx(net: PhaseNetDAS, path: str | Path, metadata: dict | None = None) -> Path:
    """Write ``net`` (eval mode) as ONNX opset 17 with dynamic axes and JSON metadata."""
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    net = net.eval()
    wrapper = SoftmaxWrapper(net).eval()
    m = net.config.pad_multiple
    dummy = torch.zeros(1, 1, 2 * m if m < 1024 else 1024, m)
    torch.onnx.export(
        wrapper,
        (dummy,),
        str(path),
        input_names=["x"],
        output_names=["prob"],
        dynamic_axes={"x": {0: "batch", 2: "nt", 3: "nx"}, "prob": {0: "batch", 2: "nt", 3: "nx"}},
        opset_version=17,
        do_constant_folding=True,
        dynamo=False,
    )
    model = onnx.load(str(path))
    meta = {
        "name": "PhaseNet-DAS (dasedge)",
        "config": net.config.to_dict(),
        "pad_multiple": net.config.pad_multiple,
        "n_parameters": n_parameters(net),
        "input": "moving-normalised strain rate [batch, 1, nt, nx] at 100 Hz (window 2048, stride 256, reflect pad 1024)",
        "output": "softmax probabilities [batch, 3, nt, nx] = [noise, P, S]",
        **(metadata or {}),
    }
    del model.metadata_props[:]
    for k, v in meta.items():
        e = model.metadata_props.add()
        e.key = str(k)
        e.value = v if isinstance(v, str) else json.dumps(v)
    model.producer_name = "dasedge"
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def verify(net: PhaseNetDAS, path: str | Path, shapes: list[tuple[int, int]] | None = None, seed: int = 0) -> float:
    """Max abs difference of onnxruntime vs PyTorch probabilities over ``shapes`` (``[nt, nx]``)."""
    import onnxruntime as ort

    m = net.config.pad_multiple
    shapes = shapes or [(2 * max(m, 1024), m), (max(m, 1024), 2 * m)]
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    worst = 0.0
    wrapper = SoftmaxWrapper(net.eval()).eval()
    for nt, nx in shapes:
        x = rng.standard_normal((1, 1, nt, nx)).astype(np.float32)
        with torch.no_grad():
            ref = wrapper(torch.from_numpy(x)).numpy()
        got = sess.run(None, {"x": x})[0]
        worst = max(worst, float(np.abs(ref - got).max()))
    return worst


def save_weights(net: PhaseNetDAS, path: str | Path) -> Path:
    """Unfolded weights (incl. BatchNorm statistics) as numpy ``.npz`` for fine-tuning without the checkpoint."""
    state = {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}
    state["__config__"] = np.array(json.dumps(net.config.to_dict()))
    np.savez(path, **state)
    return Path(path)


def load_weights_config(path: str | Path) -> ModelConfig:
    """The :class:`ModelConfig` stored in a ``.weights.npz``."""
    with np.load(path) as z:
        return ModelConfig(**json.loads(str(z["__config__"])))


def export_checkpoint(ckpt: str | Path, out: str | Path, extra: dict | None = None) -> dict:
    """Checkpoint -> ONNX, verified; returns ``{path, bytes, sha256, max_abs_diff, meta}``."""
    net, meta = load_checkpoint(ckpt)
    meta = {**meta, **(extra or {})}
    meta.pop("config", None)
    path = export_onnx(net, out, {"training": meta})
    diff = verify(net, path)
    if diff > 1e-4:
        raise RuntimeError(f"onnxruntime differs from PyTorch by {diff:.2e} (> 1e-4)")
    save_weights(net, Path(path).with_suffix(".weights.npz"))
    return {"path": str(path), "bytes": Path(path).stat().st_size, "sha256": sha256(path), "max_abs_diff": diff, "meta": meta}
