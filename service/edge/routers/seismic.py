"""Seismic resources: picks and events (JSON); the FDSN interface is in ``fdsn.py``."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request

from service.auth import ReadKey
from service.edge.deps import AUTH_RESPONSES, CSV_RESPONSE, EndQ, FormatQ, LimitQ, OffsetQ, StartQ, get_store, page_or_csv, time_range
from service.edge.models import EventOut, Page, PickOut

router = APIRouter(prefix="/api/v1/seismic", tags=["seismic"], responses=AUTH_RESPONSES)


@router.get("/picks", response_model=Page[PickOut], responses=CSV_RESPONSE)
def picks(
    request: Request, _key: ReadKey, start: StartQ = None, end: EndQ = None,
    event_id: Annotated[str | None, Query(max_length=128)] = None,
    phase: Literal["P", "S"] | None = None,
    min_score: Annotated[float | None, Query(ge=0, le=1, allow_inf_nan=False)] = None,
    limit: LimitQ = 1000, offset: OffsetQ = 0, format: FormatQ = "json",
):
    """P/S picks by time range and/or associated event."""
    s, e = time_range(start, end)
    docs, total = get_store(request).query_picks(start_ns=s, end_ns=e, event_id=event_id, phase=phase,
                                                 min_score=min_score, limit=limit, offset=offset, raw=format == "json")
    return page_or_csv(docs, total, limit, offset, format, None, "picks.csv")


@router.get("/events", response_model=Page[EventOut], responses=CSV_RESPONSE)
def events(
    request: Request, _key: ReadKey, start: StartQ = None, end: EndQ = None,
    min_magnitude: Annotated[float | None, Query(allow_inf_nan=False)] = None,
    orderby: Literal["time", "time-asc", "magnitude", "magnitude-asc"] = "time",
    limit: LimitQ = 1000, offset: OffsetQ = 0, format: FormatQ = "json",
):
    """Associated events (latest version of each) as JSON records."""
    s, e = time_range(start, end)
    docs, total = get_store(request).query_events(start_ns=s, end_ns=e, min_magnitude=min_magnitude,
                                                  orderby=orderby, limit=limit, offset=offset, raw=format == "json")
    return page_or_csv(docs, total, limit, offset, format, None, "events.csv")


@router.get("/events/{event_id}", response_model=EventOut, responses={404: {"description": "unknown event"}})
def event(request: Request, _key: ReadKey, event_id: Annotated[str, Path(max_length=128)]):
    """One event (latest version)."""
    doc = get_store(request).get_event(event_id)
    if doc is None:
        raise HTTPException(status_code=404, detail=f"no event {event_id!r}")
    return doc
