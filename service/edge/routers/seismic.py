"""Seismic resources: picks and events (JSON); the FDSN interface is in ``fdsn.py``."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request

from service.auth import ReadKey
from service.edge.deps import AUTH_RESPONSES, CSV_RESPONSE, EndQ, FormatQ, LimitQ, OffsetQ, StartQ, get_store, page_or_csv, time_range
from service.edge.models import EventOut, Page, PickOut
from service.edge.routers.fdsn import split_event_id

router = APIRouter(prefix="/api/v1/seismic", tags=["seismic"], responses=AUTH_RESPONSES)


@router.get("/picks", response_model=Page[PickOut], responses=CSV_RESPONSE)
def picks(
    request: Request, _key: ReadKey, start: StartQ = None, end: EndQ = None,
    event_id: Annotated[str | None, Query(max_length=330, description="<id>, or <site>/<id> on the cloud")] = None,
    phase: Literal["P", "S"] | None = None,
    min_score: Annotated[float | None, Query(ge=0, le=1, allow_inf_nan=False)] = None,
    limit: LimitQ = 1000, offset: OffsetQ = 0, format: FormatQ = "json",
):
    """P/S picks by time range and/or associated event."""
    s, e = time_range(start, end)
    kw = {}
    if event_id is not None:
        site, event_id = split_event_id(event_id)
        if site is not None:
            kw["site_id"] = site
    docs, total = get_store(request).query_picks(start_ns=s, end_ns=e, event_id=event_id, phase=phase,
                                                 min_score=min_score, limit=limit, offset=offset, raw=format == "json",
                                                 **kw)
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


@router.get("/events/{event_id}", response_model=EventOut, responses={404: {"description": "unknown event"},
                                                                             409: {"description": "ambiguous id"}})
def event(request: Request, _key: ReadKey, event_id: Annotated[str, Path(max_length=330)]):
    """One event (latest version).  On the cloud ids are unique per site: add ``?site=<site>`` (the
    fdsnws ``eventid=<site>/<id>`` form also works there); a bare id held by several sites answers 409."""
    store = get_store(request)
    site, rid = split_event_id(event_id)
    if site is None:
        sites = store.event_sites(rid)
        scoped = getattr(store, "current_site", lambda: None)()
        if scoped is not None:
            sites = [x for x in sites if x == scoped]
        if len(sites) > 1:
            raise HTTPException(status_code=409, detail=f"event id {rid!r} exists on several sites ({', '.join(sites)}); "
                                                        "ask for <site>/<id>")
        site = sites[0] if sites else None
    doc = None if site is None else store.get_event(rid, site_id=site)
    if doc is None:
        raise HTTPException(status_code=404, detail=f"no event {event_id!r}")
    return doc
