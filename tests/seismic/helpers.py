"""Test helpers: a tiny deterministic ONNX picker and scenes it can "see"."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dasedge.block import DASBlock


def tiny_onnx(path: Path, *, sigma: float = 4.0, half: int = 12, bias_noise: float = 4.0, gain: float = 1.0) -> Path:
    """Conv(1->3, [2*half+1, 1]) + Softmax over classes: P fires on positive spikes, S on negative ones.

    Input ``[1, 1, nt, nx]``, output ``[1, 3, nt, nx]`` (noise, P, S); dynamic nt, nx.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    k = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma) ** 2)
    k = (k / k.sum() * gain).astype(np.float32)
    w = np.zeros((3, 1, 2 * half + 1, 1), np.float32)
    w[1, 0, :, 0] = k
    w[2, 0, :, 0] = -k
    b = np.array([bias_noise, 0.0, 0.0], np.float32)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, "nt", "nx"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, "nt", "nx"])
    conv = helper.make_node("Conv", ["x", "w", "b"], ["logits"], pads=[half, 0, half, 0], kernel_shape=[2 * half + 1, 1])
    soft = helper.make_node("Softmax", ["logits"], ["y"], axis=1)
    graph = helper.make_graph([conv, soft], "tiny", [x], [y],
                              initializer=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    meta = model.metadata_props.add()
    meta.key, meta.value = "pad_multiple", "64"
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def spike_block(truth: dict, template: DASBlock, amp: float = 1.0, noise: float = 0.01, seed: int = 0) -> DASBlock:
    """Replace a scene's waveforms by +spikes at P and -spikes at S arrivals (plus weak noise)."""
    rng = np.random.default_rng(seed)
    data = rng.normal(0, noise, template.shape)
    for a in truth["arrivals"]:
        i = int(round((a["t_ns"] - template.t0_ns) / 1e9 / template.dt_s))
        if 0 <= i < template.n_time:
            data[i, a["channel"]] += amp if a["phase"] == "P" else -amp
    return template.new(data=data.astype(np.float32))


def match_events(found, truth_events, tol_s: float = 2.0):
    """Greedy one-to-one matching by origin time; returns (pairs, precision, recall, f1)."""
    used, pairs = set(), []
    for t in sorted(truth_events, key=lambda e: e["origin_ns"]):
        best, bdt = None, None
        for j, e in enumerate(found):
            dt = abs(e.origin_ns - t["origin_ns"]) / 1e9
            if j not in used and dt <= tol_s and (bdt is None or dt < bdt):
                best, bdt = j, dt
        if best is not None:
            used.add(best)
            pairs.append((t, found[best]))
    tp = len(pairs)
    p = tp / len(found) if found else (1.0 if not truth_events else 0.0)
    r = tp / len(truth_events) if truth_events else 1.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return pairs, p, r, f1
