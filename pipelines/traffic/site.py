"""Site configuration for the traffic pipeline (dataclass + YAML).

A site is one monitored road section on one fiber.  Every field has a
default that works on the synthetic scenes and, untuned, on a new site:

``section_m``
    ``[lo, hi]`` distance range (m) of the monitored section; ``None`` = all
    channels of the data.
``masked_channels`` / ``masked_ranges_m``
    channel indices (``channel_index`` of the block) or distance ranges to
    ignore (loops, slack, junction boxes).  Dead/hot channels are also masked
    automatically.
``x_ref_m``
    reference point for ``t_ref`` (default: section midpoint).
``speed_range_kmh``
    speeds searched by the line detector.
``directions``
    per direction (+1 = increasing distance, -1) a dict ``{name, lanes,
    one_way_allowed}``; a direction with ``allowed: false`` is a one-way road
    against which every detection is a wrong-way event.
``lowpass_hz`` / ``feature_fs``
    quasi-static band and its sampling rate after decimation.
``detect_z`` / ``min_coverage``
    detection threshold (robust z-score of the line stack) and minimum
    fraction of the section a line must cover.
``window_s`` / ``step_s`` / ``margin_s``
    windowing shared by the batch CLI and the streaming worker.
``congestion_kmh`` / ``congestion_window_s`` / ``stopped_kmh``
    event thresholds.
``follower_pass`` / ``follower_min_s`` / ``follower_max_s`` / ``follower_z`` / ``follower_dp``
``follower_hp_s`` / ``follower_max_seeds`` / ``follower_known_s``
    second detection pass for vehicles 1-4 s behind/ahead of a detected
    line, within +-``follower_dp`` of its slowness (``detect.follower_candidates``).
``stopped_detection`` / ``partial_*`` / ``stopped_after_s`` / ``stopped_step_s``
    stopped-vehicle search (lines that enter and end inside the section,
    ``detect.partial_lines``), reported ``stopped_after_s`` after the last
    pick, run on windows ending on a ``stopped_step_s`` grid.
``lane_split``
    amp/v over the direction's running car median below which a vehicle is
    in the far lane (sites with ``lanes: 2``).
``amp_ref`` / ``class_model``
    car reference amplitude (strain) and a classifier JSON path (default: the
    packaged model fitted on synthetic training seeds).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


@dataclass
class SiteConfig:
    name: str = "default"
    fiber_id: str | None = None
    section_m: tuple[float, float] | None = None
    masked_channels: list[int] = field(default_factory=list)
    masked_ranges_m: list[tuple[float, float]] = field(default_factory=list)
    x_ref_m: float | None = None
    speed_range_kmh: tuple[float, float] = (15.0, 150.0)
    directions: dict[int, dict[str, Any]] = field(
        default_factory=lambda: {1: {"name": "increasing", "lanes": 1, "allowed": True},
                                 -1: {"name": "decreasing", "lanes": 1, "allowed": True}}
    )
    lane_split: float = 1.0  # amp/v over the direction's running car median below which a vehicle is in the far lane
    polarity: str | int = "auto"  # sign of the quasi-static strain bump: "auto", 1 or -1
    lowpass_hz: float = 2.0
    highpass_hz: float = 0.1
    feature_fs: float = 10.0
    max_stack_channels: int = 64
    hough_t_step: int = 1  # accumulator t_ref step in feature samples (2 = 0.2 s: 1.6x faster Hough, -1 TP in 60 on tuning seeds)
    max_candidates: int = 80
    hough_tol_s: float = 0.2  # max misalignment at the section ends between slowness grid nodes
    detect_z: float = 3.5
    min_abs_stack: float = 0.8
    min_coverage: float = 0.5
    pick_threshold: float = 2.0
    beam_m: float = 12.0  # velocity-tuned smoothing length along the line for picking
    merge_eps_s: float = 0.5
    follower_pass: bool = True  # second pass for vehicles close behind/ahead of a detected line (detect.follower_candidates)
    follower_min_s: float = 1.0  # time offsets (s at x_ref) searched by the follower pass
    follower_max_s: float = 4.0
    stopped_detection: bool = True  # look for lines that end inside the section (detect.partial_lines)
    partial_stack_channels: int = 24
    partial_min_coverage: float = 0.4  # of the entry-half channels
    partial_max_exit_support: float = 0.15
    partial_exit_gap: float = 0.15  # a complete line whose picks end this share of the section before the exit
    stopped_after_s: float = 20.0  # a line that ended inside is reported this long after its last pick
    stopped_step_s: float = 10.0  # the stopped-vehicle search runs on windows ending on this grid (CPU / latency)
    follower_z: float = 1.5  # robust z of the stack near the neighbour's slowness (refine checks coverage)
    follower_dp: float = 0.12  # relative slowness band searched around each line by the follower pass
    follower_hp_s: float = 1.5  # running mean (s) removed from the stack before the follower maximum search (0 = off)
    follower_max_seeds: int = 3  # strongest local maxima per line and side refined by the follower pass
    follower_known_s: float = 0.5  # seeds closer than this (s at x_ref) to any detected line are skipped
    hough: str = "gray"  # "gray" (clipped intensity stack) or "binary" (binarised image)
    window_s: float = 60.0
    step_s: float = 2.0  # latency <= step + margin + block + processing; step 1 s doubles the CPU (see bench/results/traffic.md)
    margin_s: float = 1.5
    congestion_kmh: float = 40.0
    congestion_window_s: float = 300.0
    congestion_min_vehicles: int = 3
    stopped_kmh: float = 5.0
    amp_ref: float | None = None
    class_model: str | None = None

    # ------------------------------------------------------------------ io
    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SiteConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown site config keys: {sorted(unknown)}")
        d = dict(d)
        for k in ("section_m", "speed_range_kmh"):
            if d.get(k) is not None:
                d[k] = tuple(float(v) for v in d[k])
        if "masked_ranges_m" in d:
            d["masked_ranges_m"] = [tuple(float(v) for v in r) for r in d["masked_ranges_m"] or []]
        if "directions" in d and d["directions"] is not None:
            d["directions"] = {int(k): dict(v) for k, v in d["directions"].items()}
        return cls(**d)

    @classmethod
    def load(cls, path: str | Path) -> "SiteConfig":
        """Read a YAML site file (see ``deploy/sites/*.yaml``)."""
        data = yaml.safe_load(Path(path).read_text()) or {}
        return cls.from_dict(data.get("site", data))

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for k in ("section_m", "speed_range_kmh"):
            if d[k] is not None:
                d[k] = list(d[k])
        d["masked_ranges_m"] = [list(r) for r in d["masked_ranges_m"]]
        return d

    def dump(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump({"site": self.to_dict()}, sort_keys=False))

    # ------------------------------------------------------------------ helpers
    def allowed(self, direction: int) -> bool:
        return bool(self.directions.get(int(direction), {}).get("allowed", True))

    def lanes(self, direction: int) -> int:
        return int(self.directions.get(int(direction), {}).get("lanes", 1))
