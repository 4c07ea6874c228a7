"""Pydantic response models of the edge API (documented in OpenAPI).

Models allow extra fields so records may grow without breaking clients.
Times are ISO 8601 UTC strings.
"""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class VehicleOut(_Open):
    id: str
    fiber_id: str
    t_start: str
    t_end: str
    t_ref: str
    x_start_m: float
    x_end_m: float
    speed_kmh: float
    direction: int = Field(description="+1 toward increasing distance, -1 otherwise")
    vehicle_class: str
    lane: int | None = None


class TrafficEventOut(_Open):
    id: str
    fiber_id: str
    kind: str
    t_start: str
    t_end: str
    x_m: float | None = None
    direction: int | None = None
    detail: dict[str, Any] = {}


class ModalOut(_Open):
    id: str
    fiber_id: str
    t: str
    window_s: float
    frequency_hz: float
    amplitude: float
    mode: int


class PickOut(_Open):
    id: str
    fiber_id: str
    channel: int
    distance_m: float
    time: str
    phase: str
    score: float
    amplitude: float | None = None
    event_id: str | None = None


class EventOut(_Open):
    id: str
    fiber_id: str
    time: str
    magnitude: float | None = None
    depth_m: float | None = None
    latitude: float | None = None
    longitude: float | None = None
    status: str
    version: int


class SpeedBins(BaseModel):
    edges: list[float] = Field(description="lower bin edges in km/h; the last bin is open-ended")
    counts: list[int]


class StatsRow(_Open):
    interval_start: str
    interval_s: int
    direction: int
    vehicle_class: str | None = None
    volume: int
    flow_veh_h: float | None = None
    mean_speed_kmh: float | None = None
    p50_speed_kmh: float | None = None
    p85_speed_kmh: float | None = None
    speed_bins: SpeedBins | None = None
    class_counts: dict[str, int] | None = None
    heavy_share: float | None = None
    completeness_pct: float | None = Field(
        default=None,
        description="share of the interval (percent of its duration) for which the traffic pipeline processed "
                    "data, from the coverage spans the traffic worker reports; over several sites (cloud without "
                    "?site=) the mean over the sites; null when no coverage was ever reported")


class Page(BaseModel, Generic[T]):
    data: list[T]
    count: int | None = Field(description="total rows matching the filters")
    limit: int
    offset: int


class StatsPage(BaseModel):
    data: list[StatsRow]
    interval_s: int
    source: Literal["stored", "vehicles"]


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    url: str = Field(pattern=r"^https?://[^\s]+$", max_length=2000, description="HTTP(S) endpoint receiving POSTs")
    filters: "SubscriptionFilters" = Field(default_factory=lambda: SubscriptionFilters())
    format: Literal["json", "cap"] = "json"
    secret: str | None = Field(default=None, min_length=16, max_length=200,
                               description="HMAC secret; generated (and returned once) when omitted")


class SubscriptionFilters(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    min_magnitude: float | None = Field(default=None, allow_inf_nan=False)
    max_depth_km: float | None = Field(default=None, allow_inf_nan=False)
    status: list[Literal["new", "update", "final"]] | None = None
    kinds: list[str] | None = None
    site: str | None = Field(default=None, min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:-]+$",
                             description="cloud: only alerts from this site (edge id)")


SubscriptionIn.model_rebuild()


class SubscriptionOut(BaseModel):
    id: str
    url: str
    filters: dict[str, Any]
    format: str
    created: str
    active: bool
    secret: str | None = Field(default=None, description="only in the creation response")


class AlertOut(BaseModel):
    type: str
    seq: int
    kind: str
    id: str = Field(description="event id; on the cloud <site>/<id>")
    site_id: str = Field(default="", description="originating site on the cloud ('' on an edge)")
    version: int
    message_type: str
    sent: str
    event: dict[str, Any]


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    scopes: list[Literal["read", "write", "admin"]] = Field(min_length=1)
    name: str = Field(default="", max_length=200)


class KeyOut(BaseModel):
    key_id: str
    scopes: list[str]
    name: str
    created: str
    revoked: str | None = None
    key: str | None = Field(default=None, description="the plain key, only in the creation response")
