"""Site configuration of the seismic pipeline (velocities, geometry, thresholds).

Loaded from YAML or JSON; every key is optional::

    fiber_id: fiber0
    vp_km_s: 6.0
    vs_km_s: 3.47            # default vp / 1.73
    velocity_model:          # optional 1-D layered model (replaces vp/vs for travel times)
      - {top_km: 0.0, vp: 4.5, vs: 2.6}
      - {top_km: 1.0, vp: 5.6}          # vs default vp / 1.73
    geometry: channels.csv   # channel,longitude,latitude[,elevation_m]; straight fiber if absent
    station_prefix: ""       # QuakeML station code = prefix + channel index (<= 5 chars)
    network: DA
    association: {min_picks: 20, max_sigma11: 0.5, ...}   # AssocConfig fields
    picker: {threshold: 0.5, threshold_s: 0.6, ...}        # PickerConfig fields (thresholds: default
                             # from the model's sidecar <model>.json, else 0.3)
    magnitude_k: {P: -6.56, S: -6.48}                     # site terms of the magnitude relation
                             # (UNVERIFIED defaults: fit them with magnitude.calibrate_site_terms)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .associate import AssocConfig, LayeredModel
from .magnitude import DEFAULT, ScalingRelation
from .picking import PickerConfig


@dataclass(frozen=True)
class SiteConfig:
    fiber_id: str = "fiber0"
    vp_km_s: float = 6.0
    vs_km_s: float | None = None
    geometry: str | None = None
    network: str = "DA"
    station_prefix: str = ""
    association: dict[str, Any] = field(default_factory=dict)
    picker: dict[str, Any] = field(default_factory=dict)
    magnitude_k: dict[str, float] = field(default_factory=dict)
    velocity_model: list[dict[str, float]] | None = None

    @property
    def vs(self) -> float:
        return self.vs_km_s if self.vs_km_s else self.vp_km_s / 1.73

    def assoc_config(self) -> AssocConfig:
        kw = dict(self.association)
        kw.setdefault("vp", self.vp_km_s)
        kw.setdefault("vs", self.vs)
        if self.velocity_model:
            kw.setdefault("velocity_model", LayeredModel.from_layers(self.velocity_model))
        return AssocConfig(**kw)

    def picker_config(self, preset: str = "throughput") -> PickerConfig:
        return PickerConfig.preset(preset, **self.picker)

    def relation(self) -> ScalingRelation:
        if not self.magnitude_k:
            return DEFAULT
        return replace(DEFAULT, k={**DEFAULT.k, **self.magnitude_k})


def load_site(path: str | Path | None) -> SiteConfig:
    """Read a YAML/JSON site file (None -> defaults)."""
    if path is None:
        return SiteConfig()
    p = Path(path)
    text = p.read_text()
    if p.suffix.lower() in (".yaml", ".yml"):
        import yaml

        raw = yaml.safe_load(text) or {}
    else:
        raw = json.loads(text)
    known = {f.name for f in fields(SiteConfig)}
    unknown = set(raw) - known
    if unknown:
        raise ValueError(f"{p}: unknown site keys {sorted(unknown)}")
    if raw.get("geometry") and not Path(raw["geometry"]).is_absolute():
        raw["geometry"] = str(p.parent / raw["geometry"])
    return SiteConfig(**raw)
