"""Traffic resources: vehicles, per-interval statistics, traffic events, modal frequencies."""

from __future__ import annotations

import time
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request

from service.auth import ReadKey
from service.edge.deps import (AUTH_RESPONSES, CSV_RESPONSE, EndQ, FormatQ, LimitQ, OffsetQ, StartQ, get_store, json_page, page_or_csv,
                               time_range)
from service.edge.formats import to_csv
from service.edge.models import ModalOut, Page, StatsPage, TrafficEventOut, VehicleOut

router = APIRouter(prefix="/api/v1/traffic", tags=["traffic"], responses=AUTH_RESPONSES)

INTERVALS = {"1min": 60, "5min": 300, "15min": 900, "1h": 3600, "60min": 3600}
VEHICLE_CSV = ["id", "t_ref", "t_start", "t_end", "direction", "lane", "speed_kmh", "vehicle_class", "x_start_m",
               "x_end_m", "fiber_id"]
STATS_CSV = ["interval_start", "interval_s", "direction", "vehicle_class", "volume", "flow_veh_h", "mean_speed_kmh",
             "p50_speed_kmh", "p85_speed_kmh", "heavy_share", "completeness_pct", "class_counts", "speed_bins"]
MAX_BINS = 200_000


def _direction(v: str | None) -> int | None:
    if v is None:
        return None
    try:
        d = int(v)
    except ValueError:
        d = 0
    if d not in (-1, 1):
        raise HTTPException(status_code=422, detail="direction must be 1 or -1")
    return d


DirQ = Annotated[str | None, Query(pattern=r"^[+-]?1$", description="+1 (toward increasing distance) or -1")]


@router.get("/vehicles", response_model=Page[VehicleOut], responses=CSV_RESPONSE)
def vehicles(
    request: Request, _key: ReadKey, start: StartQ = None, end: EndQ = None, direction: DirQ = None,
    vehicle_class: Annotated[str | None, Query(max_length=32)] = None,
    order: Literal["asc", "desc"] = "asc", limit: LimitQ = 1000, offset: OffsetQ = 0, format: FormatQ = "json",
):
    """Per-vehicle records (time, direction, lane, speed, class) with paging; ``format=csv`` exports."""
    s, e = time_range(start, end)
    docs, total = get_store(request).query_vehicles(
        start_ns=s, end_ns=e, direction=_direction(direction), vehicle_class=vehicle_class, limit=limit,
        offset=offset, descending=order == "desc", raw=format == "json")
    return page_or_csv(docs, total, limit, offset, format, VEHICLE_CSV, "vehicles.csv")


@router.get("/stats", response_model=StatsPage, responses=CSV_RESPONSE)
def stats(
    request: Request, _key: ReadKey,
    start: StartQ = None, end: EndQ = None,
    interval: Annotated[Literal["1min", "5min", "15min", "60min", "1h"], Query(description="bin width")] = "15min",
    direction: DirQ = None,
    by_class: Annotated[bool, Query(description="one row per vehicle class")] = False,
    source: Annotated[Literal["auto", "stored", "vehicles"],
                      Query(description="stored pipeline rows, on-the-fly from vehicles, or auto")] = "auto",
    limit: Annotated[int, Query(ge=1, le=MAX_BINS)] = 10_000, offset: OffsetQ = 0, format: FormatQ = "json",
):
    """Per-interval, per-direction statistics (volume, flow, mean/p50/p85 speed, speed bins, classes).

    Default range: the last 24 h ending now.

    ``completeness_pct``: the share of the interval (percent of its duration)
    for which the traffic pipeline processed data - the union of the analysis
    windows the traffic worker processed, which it reports as coverage spans
    (windows never straddle a data gap, failed windows do not count).  100 = the
    whole interval was analysed; 50 = half of it had no data (volume is then a
    lower bound).  Over several sites (cloud without ``?site=``) it is the mean
    over the sites that report coverage; ``null`` when no coverage was ever
    reported (e.g. a store filled by the batch CLI without a worker).  Rows
    written by the pipeline with their own completeness keep it.
    """
    s, e = time_range(start, end)
    interval_s = INTERVALS[interval]
    if e is None:
        e = time.time_ns() if s is None else s + 86_400 * 10**9
    if s is None:
        s = e - 86_400 * 10**9
    if e <= s:
        raise HTTPException(status_code=422, detail="end must be after start")
    if (e - s) // (interval_s * 10**9) > MAX_BINS:
        raise HTTPException(status_code=422, detail=f"range too long: more than {MAX_BINS} intervals")
    rows, used = get_store(request).query_interval_stats(
        start_ns=s, end_ns=e, interval_s=interval_s, direction=_direction(direction), by_class=by_class,
        source=source, limit=limit, offset=offset, raw=format == "json")
    if format == "csv":
        from fastapi.responses import Response

        return Response(to_csv(rows, STATS_CSV), media_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="traffic_stats.csv"'})
    return json_page(rows, {"interval_s": interval_s, "source": used})


@router.get("/events", response_model=Page[TrafficEventOut], responses=CSV_RESPONSE)
def traffic_events(
    request: Request, _key: ReadKey, start: StartQ = None, end: EndQ = None,
    kind: Literal["congestion", "stopped_vehicle", "wrong_way"] | None = None,
    limit: LimitQ = 1000, offset: OffsetQ = 0, format: FormatQ = "json",
):
    """Congestion, stopped-vehicle and wrong-way events overlapping the range."""
    s, e = time_range(start, end)
    docs, total = get_store(request).query_traffic_events(start_ns=s, end_ns=e, kind=kind, limit=limit, offset=offset, raw=format == "json")
    return page_or_csv(docs, total, limit, offset, format, None, "traffic_events.csv")


@router.get("/modal", response_model=Page[ModalOut], responses=CSV_RESPONSE)
def modal(
    request: Request, _key: ReadKey, start: StartQ = None, end: EndQ = None,
    mode: Annotated[int | None, Query(ge=0, le=1000)] = None,
    limit: LimitQ = 1000, offset: OffsetQ = 0, format: FormatQ = "json",
):
    """Tracked structural (modal) frequencies."""
    s, e = time_range(start, end)
    docs, total = get_store(request).query_modal(start_ns=s, end_ns=e, mode=mode, limit=limit, offset=offset, raw=format == "json")
    return page_or_csv(docs, total, limit, offset, format, None, "modal.csv")
