"""Car / truck classification from signal strength and frequency content.

Features (per detected line):

``log_amp_rel``
    log10 of the quasi-static amplitude divided by speed (strain rate of a
    moving load scales with ``v``, so ``amp / v`` scales with the load),
    relative to a car reference ``amp_ref`` (site calibration, else the
    running median of recent vehicles - most vehicles are cars).
``log_band_ratio``
    log10 of the raw-data energy in 2-12 Hz over 12-45 Hz, averaged over up
    to 24 channels along the line in +-0.6 s around the passing time: cars
    peak near 19 Hz, trucks carry more low-frequency energy.

The model is a logistic regression on these two features stored as JSON
(``class_model.json`` next to this module), fitted by
``bench/eval_traffic.py --fit-classifier`` on TRAINING seeds of the synthetic
generator and evaluated on other seeds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dasedge.block import DASBlock

MODEL_PATH = Path(__file__).with_name("class_model.json")
#: amp / v of the generator's reference car after the quasi-static preprocessing (fallback only)
DEFAULT_AMP_REF = 3.5e-8


@dataclass
class ClassModel:
    coef: list[float]
    intercept: float
    features: tuple[str, ...] = ("log_amp_rel", "log_band_ratio")
    meta: dict | None = None

    def prob_truck(self, feats: dict[str, float]) -> float:
        x = np.array([feats[f] for f in self.features])
        s = float(np.dot(self.coef, x) + self.intercept)
        return float(1 / (1 + np.exp(-s)))

    @classmethod
    def load(cls, path: str | Path | None = None) -> "ClassModel":
        p = Path(path) if path else MODEL_PATH
        if not p.exists():
            # untrained fallback: amplitude threshold at 3x the car reference
            return cls(coef=[8.0, 0.0], intercept=-8.0 * np.log10(3.0), meta={"fallback": True})
        d = json.loads(p.read_text())
        return cls(coef=list(d["coef"]), intercept=float(d["intercept"]), features=tuple(d["features"]),
                   meta=d.get("meta"))

    def save(self, path: str | Path | None = None) -> None:
        p = Path(path) if path else MODEL_PATH
        p.write_text(json.dumps({"coef": list(map(float, self.coef)), "intercept": float(self.intercept),
                                 "features": list(self.features), "meta": self.meta or {}}, indent=1))


def band_ratio(block: DASBlock, cols: np.ndarray, t_s: np.ndarray, t0_ns: int, n_max: int = 24,
               half_s: float = 0.6) -> float:
    """log10(E[2-12 Hz] / E[12-45 Hz]) of the raw data around the line (times relative to ``t0_ns``)."""
    if cols.size == 0:
        return 0.0
    sel = np.linspace(0, cols.size - 1, min(n_max, cols.size)).round().astype(int)
    cols, t_s = cols[sel], t_s[sel]
    fs = block.fs
    n = int(round(2 * half_s * fs))
    off = (t0_ns - block.t0_ns) / 1e9
    i0 = np.round((t_s + off - half_s) * fs).astype(np.int64)
    ok = (i0 >= 0) & (i0 + n <= block.n_time)
    if not ok.any():
        return 0.0
    idx = i0[ok][:, None] + np.arange(n)[None, :]
    seg = block.data[idx, cols[ok][:, None]].astype(np.float64)
    seg -= seg.mean(axis=1, keepdims=True)
    spec = np.abs(np.fft.rfft(seg * np.hanning(n)[None, :], axis=1)) ** 2
    f = np.fft.rfftfreq(n, 1 / fs)
    p = spec.mean(axis=0)
    lo = p[(f >= 2) & (f < 12)].sum()
    hi = p[(f >= 12) & (f < min(45, 0.45 * fs))].sum()
    return float(np.log10((lo + 1e-30) / (hi + 1e-30)))
