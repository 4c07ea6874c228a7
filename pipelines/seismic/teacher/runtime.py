"""Run the ported PhaseNet teacher with onnxruntime only.

* :func:`load_session` - an onnxruntime session (default model path
  ``models/phasenet/phasenet_teacher.onnx``).
* :func:`normalize` - per-window, per-component z-score (the checkpoint's
  training normalisation), done in numpy outside the graph.
* :func:`predict` - ``[batch, nt, 3]`` (E, N, Z) -> ``[batch, nt, 3]`` softmax
  ``[noise, P, S]``, batched.
* :func:`detect_peaks` - vectorised peak picking: local maxima above a
  threshold, keeping the highest within ``min_distance`` samples.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["DEFAULT_MODEL", "load_session", "normalize", "predict", "detect_peaks", "peaks_2d"]

DEFAULT_MODEL = Path(__file__).resolve().parents[3] / "models" / "phasenet" / "phasenet_teacher.onnx"


def load_session(path: str | Path | None = None, *, threads: int | None = None):
    """An onnxruntime ``InferenceSession`` on the CPU for the teacher model."""
    import onnxruntime as ort

    p = Path(path) if path is not None else Path(os.environ.get("DASEDGE_TEACHER_MODEL", DEFAULT_MODEL))
    if not p.exists():
        raise FileNotFoundError(
            f"{p}: teacher model not found; run `python -m pipelines.seismic.teacher.convert "
            "--checkpoint <dir> --out models/phasenet/phasenet_teacher.onnx`"
        )
    so = ort.SessionOptions()
    so.intra_op_num_threads = int(threads or min(2, os.cpu_count() or 1))
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(p), sess_options=so, providers=["CPUExecutionProvider"])


def normalize(x: np.ndarray, axis: int = -2) -> np.ndarray:
    """Demean and divide by the standard deviation along time (per component).

    ``x`` is ``[..., nt, 3]`` by default (``axis=-2`` is time).  Components
    with zero variance are only demeaned.
    """
    x = np.asarray(x, dtype=np.float32)
    x = x - x.mean(axis=axis, keepdims=True)
    std = x.std(axis=axis, keepdims=True)
    std[std == 0] = 1.0
    return (x / std).astype(np.float32)


def predict(session, x: np.ndarray, *, batch_size: int = 256, normalized: bool = False) -> np.ndarray:
    """Phase probabilities for windows ``x`` of shape ``[batch, nt, 3]`` (E, N, Z)."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 3 or x.shape[2] != 3:
        raise ValueError(f"expected [batch, nt, 3], got {x.shape}")
    if not normalized:
        x = normalize(x)
    out = np.empty_like(x)
    for i in range(0, x.shape[0], batch_size):  # batches, not samples
        out[i : i + batch_size] = session.run(["prob"], {"waveform": x[i : i + batch_size]})[0]
    return out


def peaks_2d(score: np.ndarray, threshold: float, min_distance: int) -> tuple[np.ndarray, np.ndarray]:
    """Peaks along the last axis of ``score [rows, nt]``.

    A sample is a peak if it is the maximum of the window of ``2*min_distance+1``
    samples centred on it (ties resolved to the first sample) and exceeds
    ``threshold``.  This keeps the highest peak within ``min_distance``.

    Returns
    -------
    rows, idx
        Row and sample index of each peak (sorted by row, then time).
    """
    from scipy.ndimage import maximum_filter1d

    s = np.asarray(score, dtype=np.float32)
    if s.ndim == 1:
        s = s[None, :]
    size = 2 * int(min_distance) + 1
    mx = maximum_filter1d(s, size=size, axis=-1, mode="constant", cval=-np.inf)
    cand = (s >= mx) & (s > threshold)
    # flat tops: keep only the first sample of a run of equal maxima
    flat = np.zeros_like(cand)
    flat[:, 1:] = cand[:, 1:] & (s[:, 1:] == s[:, :-1]) & cand[:, :-1]
    cand &= ~flat
    rows, idx = np.nonzero(cand)
    return rows, idx


def detect_peaks(score: np.ndarray, threshold: float = 0.3, min_distance: int = 50) -> np.ndarray:
    """Peak indices of a 1-D score (see :func:`peaks_2d`)."""
    _, idx = peaks_2d(np.asarray(score)[None, :], threshold, min_distance)
    return idx
