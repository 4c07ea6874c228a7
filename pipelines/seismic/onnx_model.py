"""PhaseNet-DAS inference with onnxruntime (no torch).

``PhaseNetDAS(path).annotate(data)`` takes a ``[nt, nx]`` strain-rate array
sampled at 100 Hz and returns phase probabilities ``[3, nt, nx]``
(``[noise, P, S]``). Preprocessing is numpy, outside the graph, and identical
to what the training code feeds the network:

1. optional cleaning: demean each channel, subtract the median across channels
   at every sample (common-mode removal);
2. moving normalisation per channel (reflect-pad 1024, window 2048, stride 256,
   moving mean removed, divided by the moving mean absolute value);
3. zero-padding of the end of both axes to multiples of the model's
   ``pad_multiple`` (1024 for the paper network; stored in the ONNX metadata),
   then the output is cropped back to ``[:nt, :nx]``.

Session options follow the project reference: ``intra_op_num_threads`` =
physical cores, sequential execution, all graph optimisations, no spinning.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import numpy as np
from scipy.ndimage import maximum_filter1d

#: shipped default model (the trained edge variant)
DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "models" / "phasenet_das" / "phasenet_das_edge.onnx"
FS_HZ = 100.0
NORM_PAD = 1024
NORM_WINDOW = 2048
NORM_STRIDE = 256


def default_model_path() -> Path:
    """``$DASEDGE_SEISMIC_MODEL`` if set, else the shipped edge model."""
    env = os.environ.get("DASEDGE_SEISMIC_MODEL")
    return Path(env) if env else DEFAULT_MODEL


def clean(data: np.ndarray) -> np.ndarray:
    """Demean every channel, then remove the across-channel median at each sample."""
    x = np.asarray(data, dtype=np.float32)
    x = x - x.mean(axis=0, keepdims=True)
    if x.shape[1] > 2:
        x = x - np.median(x, axis=1, keepdims=True)
    return x.astype(np.float32, copy=False)


def _moving_mean_reference(x: np.ndarray, window: int, stride: int, pad: int) -> np.ndarray:
    """Moving mean along axis 0 on a ``pad``-reflected copy, linearly interpolated to every sample.

    Windows start every ``stride`` samples of the padded record and are
    ``window`` long (``window`` must be a multiple of ``stride``); the mean of
    each window is placed at its centre and linearly interpolated (held
    constant beyond the first/last centre).  This direct (slower) form is the
    definition :func:`_moving_mean` is tested against.
    """
    nt, nx = x.shape
    xp = np.pad(x, ((pad, pad), (0, 0)), mode="reflect") if nt > 1 else np.repeat(x, 2 * pad + 1, axis=0)
    per = window // stride
    nb = xp.shape[0] // stride
    if nb < per:  # record shorter than one window: global mean
        return np.broadcast_to(xp.mean(axis=0), x.shape).astype(np.float32)
    blocks = xp[: nb * stride].reshape(nb, stride, nx).sum(axis=1, dtype=np.float64)
    cs = np.concatenate([np.zeros((1, nx)), np.cumsum(blocks, axis=0)])
    means = (cs[per:] - cs[:-per]) / window  # [nb - per + 1, nx]
    centres = np.arange(means.shape[0]) * stride + (window - 1) / 2.0 - pad
    if len(centres) == 1:
        return np.broadcast_to(means[0], x.shape).astype(np.float32)
    pos = np.clip(np.interp(np.arange(nt, dtype=np.float64), centres, np.arange(len(centres))), 0, len(centres) - 1)
    i0 = np.minimum(np.floor(pos).astype(np.int64), len(centres) - 2)
    f = (pos - i0)[:, None].astype(np.float32)
    m = means.astype(np.float32)
    return m[i0] * (1 - f) + m[i0 + 1] * f


@functools.lru_cache(maxsize=16)
def _moving_mean_operators(nt: int, window: int, stride: int, pad: int) -> tuple[np.ndarray, np.ndarray]:
    """``(W, K)`` with ``moving_mean(x) == W @ (K @ x)`` for ``[nt, nx]`` records.

    The moving mean of :func:`_moving_mean_reference` is linear along time and
    the same for every channel: ``K`` ``[n_centres, nt]`` averages the
    reflect-padded windows (the reflection folded into the weights) and ``W``
    ``[nt, n_centres]`` holds the linear-interpolation weights (two per row).
    ``n_centres`` is about ``nt / stride``, so the moving mean costs two thin
    matrix products instead of a padded copy, block sums, a cumulative sum and
    two gathers.  Cached per record length (a stream has one window length).
    """
    src = np.pad(np.arange(nt), pad, mode="reflect") if nt > 1 else np.zeros(nt + 2 * pad, np.int64)
    per = window // stride
    nb = src.size // stride
    if nb < per:  # record shorter than one window: global mean of the padded record
        k = np.bincount(src, minlength=nt)[None, :] / src.size
        return np.ones((nt, 1), np.float32), k.astype(np.float32)
    nc = nb - per + 1
    k = np.zeros((nc, nt))
    for j in range(nc):  # a few dozen rows, once per record length
        k[j] = np.bincount(src[j * stride : j * stride + window], minlength=nt)
    k /= window
    if nc == 1:
        return np.ones((nt, 1), np.float32), k.astype(np.float32)
    centres = np.arange(nc) * stride + (window - 1) / 2.0 - pad
    pos = np.clip(np.interp(np.arange(nt, dtype=np.float64), centres, np.arange(nc)), 0, nc - 1)
    i0 = np.minimum(np.floor(pos).astype(np.int64), nc - 2)
    f = pos - i0
    w = np.zeros((nt, nc))
    rows = np.arange(nt)
    w[rows, i0] = 1 - f
    w[rows, i0 + 1] += f
    return w.astype(np.float32), k.astype(np.float32)


def _moving_mean(x: np.ndarray, window: int, stride: int, pad: int) -> np.ndarray:
    """Moving mean along axis 0 (defined by :func:`_moving_mean_reference`) as two thin matmuls.

    ``x`` is ``[nt, nx]`` float32; returns a new float32 array of the same shape.
    """
    w, k = _moving_mean_operators(int(x.shape[0]), window, stride, pad)
    with _one_blas_thread():
        return w @ (k @ x)


def _one_blas_thread():
    """Context limiting BLAS to one thread.

    The products above are thin and memory-bound; a multi-threaded BLAS gains
    nothing on 2 cores and, on a loaded box (or next to onnxruntime's threads),
    its spinning workers made them 5-20x slower in measurements.
    """
    global _BLAS_CTL
    if _BLAS_CTL is None:
        from threadpoolctl import ThreadpoolController  # dependency of scikit-learn

        _BLAS_CTL = ThreadpoolController()
    return _BLAS_CTL.limit(limits=1, user_api="blas")


_BLAS_CTL = None


def moving_normalize(data: np.ndarray) -> np.ndarray:
    """Per-channel moving normalisation (window 2048, stride 256, reflect pad 1024).

    Subtracts the moving mean and divides by the moving mean absolute value;
    float32 throughout, two ``[nt, nx]`` buffers.
    """
    x = np.asarray(data, dtype=np.float32)
    if x.shape[0] == 0:
        return x.copy()
    y = _moving_mean(x, NORM_WINDOW, NORM_STRIDE, NORM_PAD)
    np.subtract(x, y, out=y)  # y = x - moving mean
    w, k = _moving_mean_operators(int(x.shape[0]), NORM_WINDOW, NORM_STRIDE, NORM_PAD)
    scale = np.abs(y)
    with _one_blas_thread():
        window_means = k @ scale
        scale = np.matmul(w, window_means, out=scale)
    if not np.all(window_means > 0):  # W >= 0: a zero scale needs a zero window mean
        scale[scale == 0] = 1.0
    np.divide(y, scale, out=y)
    return y


def preprocess(data: np.ndarray, *, do_clean: bool = True) -> np.ndarray:
    """``clean`` (optional) then ``moving_normalize``; returns float32 ``[nt, nx]``."""
    x = clean(data) if do_clean else np.asarray(data, dtype=np.float32)
    return moving_normalize(x)


def pad_to_multiple(x: np.ndarray, multiple: int) -> np.ndarray:
    """Zero-pad the end of both axes of ``[nt, nx]`` to multiples of ``multiple`` (at least one)."""
    nt, nx = x.shape
    pt = max(multiple, -(-nt // multiple) * multiple) - nt
    px = max(multiple, -(-nx // multiple) * multiple) - nx
    if pt == 0 and px == 0:
        return x
    return np.pad(x, ((0, pt), (0, px)))


def detect_peaks(
    prob: np.ndarray, *, dt_s: float = 0.01, min_prob: float = 0.3, kernel: int = 21, per_30s: int = 10
) -> list[tuple[int, int, int, float]]:
    """Peak picks from ``[3, nt, nx]`` probabilities (reference §3).

    Returns ``(channel, phase_index (1=P, 2=S), sample, score)`` tuples: local
    maxima of a ``kernel``-sample max-pool along time, at most
    ``max(round(nt / (30 / dt) * per_30s), 3)`` per channel and phase, with
    ``score > min_prob``.
    """
    out: list[tuple[int, int, int, float]] = []
    nt = prob.shape[1]
    k_top = max(int(round(nt / (30.0 / dt_s) * per_30s)), 3)
    for ph in (1, 2):
        p = prob[ph]
        pooled = maximum_filter1d(p, size=kernel, axis=0, mode="constant", cval=0.0)
        peak = (p == pooled) & (p > min_prob)
        # flat tops: keep the first sample of a run of equal maxima
        peak[1:] &= ~(peak[:-1] & (p[1:] == p[:-1]))
        ti, ci = np.nonzero(peak)
        if ti.size == 0:
            continue
        sc = p[ti, ci]
        order = np.lexsort((-sc, ci))
        ti, ci, sc = ti[order], ci[order], sc[order]
        first = np.searchsorted(ci, ci, side="left")
        rank = np.arange(ci.size) - first
        keep = rank < k_top
        out.extend(zip(ci[keep].tolist(), [ph] * int(keep.sum()), ti[keep].tolist(), sc[keep].tolist()))
    return out


class PhaseNetDAS:
    """An onnxruntime session of an exported PhaseNet-DAS network.

    Parameters
    ----------
    path
        ONNX file (defaults to :func:`default_model_path`).
    threads
        ``intra_op_num_threads`` (default: physical cores, at most 2 by default on the edge box).
    """

    def __init__(self, path: str | os.PathLike | None = None, *, threads: int | None = None) -> None:
        import onnxruntime as ort

        self.path = Path(path) if path is not None else default_model_path()
        if not self.path.is_file():
            raise FileNotFoundError(f"PhaseNet-DAS model not found: {self.path}")
        so = ort.SessionOptions()
        so.intra_op_num_threads = int(threads or _physical_cores())
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(self.path), so, providers=["CPUExecutionProvider"])
        meta = self.session.get_modelmeta().custom_metadata_map
        self.metadata: dict = {k: (_try_json(v)) for k, v in meta.items()}
        self.pad_multiple = int(self.metadata.get("pad_multiple", 1024))
        self.input_name = self.session.get_inputs()[0].name

    def run_normalized(self, x: np.ndarray) -> np.ndarray:
        """Run the graph on an already normalised ``[nt, nx]`` array; returns ``[3, nt, nx]``."""
        nt, nx = x.shape
        xp = pad_to_multiple(np.asarray(x, dtype=np.float32), self.pad_multiple)
        out = self.session.run(None, {self.input_name: xp[None, None]})[0]
        return out[0, :, :nt, :nx]

    def annotate(self, data: np.ndarray, *, do_clean: bool = True) -> np.ndarray:
        """Phase probabilities ``[3, nt, nx]`` (noise, P, S) for ``[nt, nx]`` data at 100 Hz."""
        data = np.asarray(data)
        if data.ndim != 2:
            raise ValueError(f"expected [nt, nx] data, got shape {data.shape}")
        return self.run_normalized(preprocess(data, do_clean=do_clean))

    def picks(self, data: np.ndarray, *, min_prob: float = 0.3, do_clean: bool = True) -> list[tuple[int, int, int, float]]:
        """``detect_peaks(annotate(data))`` at 100 Hz."""
        return detect_peaks(self.annotate(data, do_clean=do_clean), dt_s=1 / FS_HZ, min_prob=min_prob)


def _try_json(v: str):
    try:
        return json.loads(v)
    except (ValueError, TypeError):
        return v


def _physical_cores() -> int:
    try:
        ids = set()
        with open("/proc/cpuinfo") as fh:
            phys = core = None
            for line in fh:
                if line.startswith("physical id"):
                    phys = line.split(":")[1].strip()
                elif line.startswith("core id"):
                    core = line.split(":")[1].strip()
                    ids.add((phys, core))
        if ids:
            return max(1, min(len(ids), os.cpu_count() or 1))
    except OSError:
        pass
    return max(1, os.cpu_count() or 1)
