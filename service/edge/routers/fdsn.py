"""fdsnws-event 1.2 compatible interface (``/fdsnws/event/1/``).

Supported ``query`` parameters: ``starttime``/``start``, ``endtime``/``end``,
``minmagnitude``/``minmag``, ``maxmagnitude``/``maxmag``, ``mindepth``,
``maxdepth`` (km), ``updatedafter``, ``eventid``, ``orderby``
(time|time-asc|magnitude|magnitude-asc), ``limit``, ``offset`` (1-based),
``includearrivals`` (picks in QuakeML), ``format`` (xml = QuakeML 1.2 via
ObsPy, text, json = GeoJSON), ``nodata`` (204|404).  Geographic box/radius
filters are not supported (a DAS edge box covers one fiber).  Bad parameters
answer 422 with a message (FDSN clients treat any 4xx as an error).
``version`` and ``application.wadl`` are public; ``query`` needs a read key.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from service.auth import ReadKey
from service.edge.deps import AUTH_RESPONSES, UtcTime, get_store, to_ns
from service.edge.formats import fdsn_text, geojson, quakeml

router = APIRouter(prefix="/fdsnws/event/1", tags=["fdsnws"])

FDSN_VERSION = "1.2.0"
_F = Annotated[float | None, Query(allow_inf_nan=False)]
_T = Annotated[UtcTime | None, Query()]

WADL = f"""<?xml version="1.0" encoding="UTF-8"?>
<application xmlns="http://wadl.dev.java.net/2009/02" xmlns:xsd="http://www.w3.org/2001/XMLSchema">
  <resources base="/fdsnws/event/1/">
    <resource path="query">
      <method name="GET">
        <request>
          <param name="starttime" style="query" type="xsd:dateTime"/>
          <param name="endtime" style="query" type="xsd:dateTime"/>
          <param name="minmagnitude" style="query" type="xsd:double"/>
          <param name="maxmagnitude" style="query" type="xsd:double"/>
          <param name="mindepth" style="query" type="xsd:double"/>
          <param name="maxdepth" style="query" type="xsd:double"/>
          <param name="updatedafter" style="query" type="xsd:dateTime"/>
          <param name="eventid" style="query" type="xsd:string"/>
          <param name="includearrivals" style="query" type="xsd:boolean" default="false"/>
          <param name="orderby" style="query" type="xsd:string" default="time">
            <option value="time"/><option value="time-asc"/><option value="magnitude"/><option value="magnitude-asc"/>
          </param>
          <param name="limit" style="query" type="xsd:int"/>
          <param name="offset" style="query" type="xsd:int" default="1"/>
          <param name="format" style="query" type="xsd:string" default="xml">
            <option value="xml"/><option value="text"/><option value="json"/>
          </param>
          <param name="nodata" style="query" type="xsd:int" default="204">
            <option value="204"/><option value="404"/>
          </param>
        </request>
        <response status="200"><representation mediaType="application/xml"/><representation mediaType="text/plain"/></response>
        <response status="204 400 401 404 422"/>
      </method>
    </resource>
    <resource path="version"><method name="GET"><response><representation mediaType="text/plain"/></response></method></resource>
    <resource path="application.wadl"><method name="GET"><response><representation mediaType="application/xml"/></response></method></resource>
  </resources>
</application>
"""


def _pick(a, b):
    return a if a is not None else b


@router.get(
    "/query",
    responses={
        200: {"content": {"application/xml": {"schema": {"type": "string"}}, "text/plain": {"schema": {"type": "string"}},
                          "application/json": {}}, "description": "QuakeML, fdsn text or GeoJSON"},
        204: {"description": "no matching events (nodata=204)"},
        404: {"description": "no matching events (nodata=404)"},
        **AUTH_RESPONSES,
    },
    response_class=Response,
)
def query(
    request: Request, _key: ReadKey,
    starttime: _T = None, start: _T = None, endtime: _T = None, end: _T = None,
    minmagnitude: _F = None, minmag: _F = None, maxmagnitude: _F = None, maxmag: _F = None,
    mindepth: Annotated[float | None, Query(allow_inf_nan=False, description="km")] = None,
    maxdepth: Annotated[float | None, Query(allow_inf_nan=False, description="km")] = None,
    updatedafter: _T = None,
    eventid: Annotated[str | None, Query(max_length=128)] = None,
    includearrivals: bool = False,
    orderby: Literal["time", "time-asc", "magnitude", "magnitude-asc"] = "time",
    limit: Annotated[int | None, Query(ge=1, le=100_000)] = None,
    offset: Annotated[int, Query(ge=1, le=1_000_000_000, description="1-based")] = 1,
    format: Literal["xml", "text", "json"] = "xml",
    nodata: Literal["204", "404"] = "204",
):
    """fdsnws-event ``query``."""
    t0, t1 = to_ns(_pick(starttime, start)), to_ns(_pick(endtime, end))
    if eventid is not None and any(v is not None for v in (t0, t1, minmagnitude, minmag, maxmagnitude, maxmag,
                                                             mindepth, maxdepth, updatedafter)):
        raise HTTPException(status_code=422, detail="eventid cannot be combined with other filters")
    if t0 is not None and t1 is not None and t1 < t0:
        raise HTTPException(status_code=422, detail="endtime is before starttime")
    store = get_store(request)
    docs, _ = store.query_events(
        start_ns=t0, end_ns=t1, min_magnitude=_pick(minmagnitude, minmag), max_magnitude=_pick(maxmagnitude, maxmag),
        min_depth_m=None if mindepth is None else mindepth * 1000.0,
        max_depth_m=None if maxdepth is None else maxdepth * 1000.0,
        updated_after_ns=to_ns(updatedafter), event_id=eventid, orderby=orderby,
        limit=limit or 100_000, offset=offset - 1, count=False,
    )
    if not docs:
        if nodata == "404":
            return PlainTextResponse("Error 404: no data\n", status_code=404)
        return Response(status_code=204)
    if format == "text":
        return PlainTextResponse(fdsn_text(docs))
    if format == "json":
        return JSONResponse(geojson(docs))
    picks = None
    if includearrivals:
        picks = {d["id"]: store.query_picks(event_id=d["id"], limit=10_000)[0] for d in docs}
    return Response(quakeml(docs, picks), media_type="application/xml")


@router.get("/version", response_class=PlainTextResponse)
def version() -> str:
    """Implemented fdsnws-event specification version."""
    return FDSN_VERSION


@router.get("/application.wadl", response_class=Response,
            responses={200: {"content": {"application/xml": {"schema": {"type": "string"}}}}})
def wadl():
    """WADL description of the query method."""
    return Response(WADL, media_type="application/xml")
