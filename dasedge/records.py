"""Result records shared by the pipelines, the Kafka topics and the stores.

Every record has a stable ``id`` derived from its content (so a re-run or a
re-delivered Kafka record produces the same id, and writes are idempotent
upserts).  ``to_dict()`` gives the JSON form used on Kafka topics
(``traffic.vehicles``, ``seismic.picks``, ``seismic.events``), in the store and
over REST.  Times are ISO 8601 UTC strings in JSON and int ns in Python.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from dasedge.block import iso_utc


def stable_id(*parts: object, prefix: str = "") -> str:
    """Short deterministic id from the given parts (sha1, 16 hex chars)."""
    h = hashlib.sha1("|".join(str(p) for p in parts).encode()).hexdigest()[:16]
    return f"{prefix}{h}"


def _json_times(d: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        if k.endswith("_ns") and isinstance(v, int):
            out[k[:-3]] = iso_utc(v)
        else:
            out[k] = v
    return out


@dataclass(frozen=True)
class Vehicle:
    """One vehicle pass detected as a line in the channel x time image.

    ``t_start_ns``/``x_start_m`` is where the line enters the monitored
    section, ``t_end_ns``/``x_end_m`` where it leaves.  ``direction`` is +1
    toward increasing distance, -1 otherwise; ``speed_kmh`` is positive.
    """

    id: str
    fiber_id: str
    t_start_ns: int
    t_end_ns: int
    x_start_m: float
    x_end_m: float
    speed_kmh: float
    direction: int
    vehicle_class: Literal["car", "truck"]
    t_ref_ns: int  # time at the section's reference point (midpoint by default)
    lane: int | None = None
    amplitude: float | None = None
    score: float | None = None
    reported_ns: int | None = None  # wall-clock time the vehicle was emitted (latency)

    def to_dict(self) -> dict[str, Any]:
        return _json_times(asdict(self))


@dataclass(frozen=True)
class TrafficEvent:
    """Congestion, stopped vehicle or wrong-way vehicle."""

    id: str
    fiber_id: str
    kind: Literal["congestion", "stopped_vehicle", "wrong_way"]
    t_start_ns: int
    t_end_ns: int
    x_m: float | None
    direction: int | None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return _json_times(asdict(self))


@dataclass(frozen=True)
class ModalFrequency:
    """A dominant structural frequency tracked over a time window."""

    id: str
    fiber_id: str
    t_ns: int
    window_s: float
    frequency_hz: float
    amplitude: float
    mode: int

    def to_dict(self) -> dict[str, Any]:
        return _json_times(asdict(self))


@dataclass(frozen=True)
class Pick:
    """A P or S arrival on one channel."""

    id: str
    fiber_id: str
    channel: int  # channel index in the source file / stream
    distance_m: float
    t_ns: int
    phase: Literal["P", "S"]
    score: float
    amplitude: float | None = None
    event_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = _json_times(asdict(self))
        d["time"] = d.pop("t")
        return d


@dataclass(frozen=True)
class SeismicEvent:
    """An associated earthquake; ``version`` counts updates (``new`` -> ``update`` -> ``final``)."""

    id: str
    fiber_id: str
    origin_ns: int
    x_m: float | None  # along-fiber position of the epicentre's projection
    y_m: float | None  # perpendicular offset from the fiber (if resolvable)
    depth_m: float | None
    magnitude: float | None
    num_picks: int
    num_p: int
    num_s: int
    status: Literal["new", "update", "final"] = "new"
    version: int = 1
    latitude: float | None = None
    longitude: float | None = None
    origin_uncertainty_s: float | None = None
    location_uncertainty_m: float | None = None
    score: float | None = None
    magnitude_type: str = "Mdas"
    first_emitted_ns: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d = _json_times(asdict(self))
        d["time"] = d.pop("origin")
        return d
