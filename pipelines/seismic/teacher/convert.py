"""Port the original PhaseNet TF1 checkpoint to ONNX (no TensorFlow needed).

Architecture (Zhu & Beroza 2019, ``PhaseNet:phasenet/model.py`` ModelConfig):
100 Hz, 3000-sample windows, depth 5, filters ``8 * 2**i``, kernel [7, 1],
pool/stride [4, 1], BatchNorm eps 1e-3, TF ``SAME`` padding, crop-and-concat
skip connections ``[skip, centre-cropped upsampled]`` and a 1x1 output conv
with softmax over ``[noise, P, S]``.

Graph interface (opset 17)
--------------------------
* input ``waveform``: float32 ``[batch, nt, 3]``, components **E, N, Z**,
  each component of each window already demeaned and divided by its standard
  deviation (z-score; see :func:`pipelines.seismic.teacher.runtime.normalize`).
  ``nt`` is dynamic (the crops are computed from runtime shapes); 3000 is the
  trained length.
* output ``prob``: float32 ``[batch, nt, 3]`` softmax probabilities
  ``[noise, P, S]``.

BatchNorm is folded into the preceding (transposed) convolutions.

Usage::

    python -m pipelines.seismic.teacher.convert \
        --checkpoint /work/shared/data/phasenet/checkpoint-190703-214543 \
        --out models/phasenet/phasenet_teacher.onnx
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from pipelines.seismic.teacher.checkpoint import checkpoint_prefix, read_checkpoint

__all__ = ["build_model", "convert", "DEPTHS", "FILTERS_ROOT", "BN_EPS", "OPSET"]

DEPTHS = 5
FILTERS_ROOT = 8
KERNEL = 7
STRIDE = 4
BN_EPS = 1e-3
OPSET = 17


class _Graph:
    """Tiny helper collecting nodes and initializers."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._n = 0

    def name(self, base: str) -> str:
        self._n += 1
        return f"{base}_{self._n}"

    def const(self, name: str, arr: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name=name))
        return name

    def node(self, op: str, inputs: list[str], base: str, **attrs) -> str:
        out = self.name(base)
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out


def _fold(kernel_oihw: np.ndarray, bias: np.ndarray | None, w: dict[str, np.ndarray], bn: str, axis: int):
    """Fold TF BatchNorm ``gamma (x - mean) / sqrt(var + eps) + beta`` into a conv."""
    gamma, beta = w[f"{bn}/gamma"], w[f"{bn}/beta"]
    mean, var = w[f"{bn}/moving_mean"], w[f"{bn}/moving_variance"]
    scale = gamma / np.sqrt(var + BN_EPS)
    shape = [1] * kernel_oihw.ndim
    shape[axis] = -1
    k = (kernel_oihw * scale.reshape(shape)).astype(np.float32)
    b0 = np.zeros_like(mean) if bias is None else bias
    b = ((b0 - mean) * scale + beta).astype(np.float32)
    return k, b


def _conv(g: _Graph, x: str, w: dict, kname: str, bn: str | None, *, stride: int = 1, bias: str | None = None) -> str:
    """TF ``conv2d(padding='same')`` (+ folded BN) in NCHW; kernel [7, 1]."""
    k = np.transpose(w[kname], (3, 2, 0, 1))  # HWIO -> OIHW
    b = None if bias is None else w[bias]
    if bn is not None:
        k, b = _fold(k, b, w, bn, axis=0)
    inputs = [x, g.const(kname.replace("/", ".") + ".W", k.astype(np.float32))]
    if b is not None:
        inputs.append(g.const(kname.replace("/", ".") + ".B", b.astype(np.float32)))
    kh, kw = k.shape[2:]
    if stride == 1:
        # TF SAME at stride 1: (k-1)//2 before, the rest after
        pads = [(kh - 1) // 2, (kw - 1) // 2, kh - 1 - (kh - 1) // 2, kw - 1 - (kw - 1) // 2]
        return g.node("Conv", inputs, "conv", kernel_shape=[kh, kw], pads=pads, strides=[1, 1])
    # TF SAME with stride: total pad depends on the input size; the smaller
    # half goes before, which is exactly ONNX SAME_UPPER.
    return g.node("Conv", inputs, "conv", kernel_shape=[kh, kw], auto_pad="SAME_UPPER", strides=[stride, 1])


def _deconv(g: _Graph, x: str, w: dict, kname: str, bn: str) -> str:
    """TF ``conv2d_transpose(padding='same', strides=[4, 1])`` (+ folded BN)."""
    k = np.transpose(w[kname], (3, 2, 0, 1))  # TF [h, w, out, in] -> ONNX [in, out, h, w]
    k, b = _fold(k, None, w, bn, axis=1)
    kh = k.shape[2]
    total = kh - STRIDE  # output exactly STRIDE * n: crop (k - s) samples
    before = total // 2  # TF SAME: 1 before, 2 after for k=7, s=4
    inputs = [x, g.const(kname.replace("/", ".") + ".W", k), g.const(kname.replace("/", ".") + ".B", b)]
    return g.node(
        "ConvTranspose", inputs, "deconv", kernel_shape=[kh, 1], strides=[STRIDE, 1],
        pads=[before, 0, total - before, 0],
    )


def _crop_concat(g: _Graph, skip: str, up: str) -> str:
    """``concat([skip, up[off:off + n_skip]])`` with ``off = (n_up - n_skip) // 2``."""
    two = "c_i64_2"
    s_sk = g.node("Shape", [skip], "shape", start=2, end=3)
    s_up = g.node("Shape", [up], "shape", start=2, end=3)
    off = g.node("Div", [g.node("Sub", [s_up, s_sk], "sub"), two], "div")
    end = g.node("Add", [off, s_sk], "add")
    cropped = g.node("Slice", [up, off, end, "c_axis_2"], "crop")
    return g.node("Concat", [skip, cropped], "concat", axis=1)


def build_model(w: dict[str, np.ndarray], *, doc: str = "") -> onnx.ModelProto:
    """Build the PhaseNet ONNX graph from checkpoint tensors (name -> array)."""
    g = _Graph()
    g.const("c_i64_2", np.array([2], dtype=np.int64))
    g.const("c_axis_2", np.array([2], dtype=np.int64))
    g.const("c_axis_3", np.array([3], dtype=np.int64))

    x = g.node("Transpose", ["waveform"], "to_nct", perm=[0, 2, 1])
    x = g.node("Unsqueeze", [x, "c_axis_3"], "to_nchw")
    # Input: conv with bias + BN + ReLU
    x = g.node("Relu", [_conv(g, x, w, "Input/input_conv/kernel", "Input/input_bn", bias="Input/input_conv/bias")], "relu")
    skips = []
    for d in range(DEPTHS):
        s = f"DownConv_{d}"
        x = _conv(g, x, w, f"{s}/down_conv1_{d + 1}/kernel", f"{s}/down_bn1_{d + 1}")
        x = g.node("Relu", [x], "relu")
        skips.append(x)
        if d < DEPTHS - 1:
            x = _conv(g, x, w, f"{s}/down_conv3_{d + 1}/kernel", f"{s}/down_bn3_{d + 1}", stride=STRIDE)
            x = g.node("Relu", [x], "relu")
    for d in range(DEPTHS - 2, -1, -1):
        s = f"UpConv_{d}"
        x = g.node("Relu", [_deconv(g, x, w, f"{s}/up_conv0_{d + 1}/kernel", f"{s}/up_bn0_{d + 1}")], "relu")
        x = _crop_concat(g, skips[d], x)
        x = g.node("Relu", [_conv(g, x, w, f"{s}/up_conv1_{d + 1}/kernel", f"{s}/up_bn1_{d + 1}")], "relu")
    logits = _conv(g, x, w, "Output/output_conv/kernel", None, bias="Output/output_conv/bias")
    prob = g.node("Softmax", [logits], "softmax", axis=1)
    prob = g.node("Squeeze", [prob, "c_axis_3"], "squeeze")
    g.nodes.append(helper.make_node("Transpose", [prob], ["prob"], name="to_ntc", perm=[0, 2, 1]))

    inp = helper.make_tensor_value_info("waveform", TensorProto.FLOAT, ["batch", "nt", 3])
    out = helper.make_tensor_value_info("prob", TensorProto.FLOAT, ["batch", "nt", 3])
    graph = helper.make_graph(g.nodes, "phasenet", [inp], [out], initializer=g.inits)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="dasedge-phasenet-port", doc_string=doc
    )
    model.ir_version = 8
    meta = {
        "components": "E,N,Z",
        "input_layout": "[batch, nt, 3]; nt dynamic, trained at 3000",
        "output_layout": "[batch, nt, 3] = softmax [noise, P, S]",
        "sampling_rate_hz": "100",
        "normalization": "per window and component: (x - mean) / std (std 0 -> 1), done outside the graph",
        "source": "AI4EPS/PhaseNet model/190703-214543 (MIT)",
    }
    for k, v in meta.items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=k, value=v))
    onnx.checker.check_model(model)
    return model


def convert(checkpoint_dir: str | Path, out_path: str | Path) -> Path:
    """Read the TF1 checkpoint and write the ONNX teacher; return the path."""
    prefix = checkpoint_prefix(checkpoint_dir)
    weights = read_checkpoint(prefix)
    index_sha = hashlib.sha256(Path(str(prefix) + ".index").read_bytes()).hexdigest()
    model = build_model(weights, doc=f"PhaseNet teacher ported from {prefix.name} (index sha256 {index_sha[:16]})")
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(out))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipelines.seismic.teacher.convert", description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", required=True, help="TF1 checkpoint directory or prefix")
    ap.add_argument("--out", required=True, help="output .onnx path")
    args = ap.parse_args(argv)
    out = convert(args.checkpoint, args.out)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    print(f"wrote {out} ({out.stat().st_size} bytes, sha256 {digest})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
