"""fdsnws-event 1.2 compatible interface (``/fdsnws/event/1/``).

Supported ``query`` parameters: ``starttime``/``start``, ``endtime``/``end``,
``minmagnitude``/``minmag``, ``maxmagnitude``/``maxmag``, ``mindepth``,
``maxdepth`` (km), ``updatedafter``, ``eventid``, ``orderby``
(time|time-asc|magnitude|magnitude-asc), ``limit``, ``offset`` (1-based),
``includearrivals`` (picks in QuakeML), ``format`` (xml = QuakeML 1.2 via
ObsPy, text, json = GeoJSON), ``nodata`` (204|404); geographic box
``minlatitude``/``minlat``, ``maxlatitude``/``maxlat``, ``minlongitude``/``minlon``,
``maxlongitude``/``maxlon`` (``minlongitude > maxlongitude`` crosses the
antimeridian) and radius ``latitude``/``lat``, ``longitude``/``lon``,
``minradius``, ``maxradius`` (great-circle degrees; centre defaults 0, 0 as in
the spec); ``includeallorigins`` and ``includeallmagnitudes`` are accepted
(every event has exactly one origin and one magnitude, its latest version).
Events without a location never match a geographic filter.

Identity: on the cloud an event is ``(site, id)``; its ``EventID`` /
publicID there is ``<site>/<id>`` and ``eventid=<site>/<id>`` selects it
(a bare id matches that id on every site).  On an edge box ids are bare.
Bad parameters answer 422 with a message (FDSN clients treat any 4xx as an
error).  ``version`` and ``application.wadl`` are public; ``query`` needs a
read key.
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
          <param name="minlatitude" style="query" type="xsd:double"/>
          <param name="maxlatitude" style="query" type="xsd:double"/>
          <param name="minlongitude" style="query" type="xsd:double"/>
          <param name="maxlongitude" style="query" type="xsd:double"/>
          <param name="latitude" style="query" type="xsd:double" default="0.0"/>
          <param name="longitude" style="query" type="xsd:double" default="0.0"/>
          <param name="minradius" style="query" type="xsd:double" default="0.0"/>
          <param name="maxradius" style="query" type="xsd:double" default="180.0"/>
          <param name="includeallorigins" style="query" type="xsd:boolean" default="false"/>
          <param name="includeallmagnitudes" style="query" type="xsd:boolean" default="false"/>
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


_LAT = Annotated[float | None, Query(ge=-90, le=90, allow_inf_nan=False, description="degrees")]
_LON = Annotated[float | None, Query(ge=-180, le=180, allow_inf_nan=False, description="degrees")]
_RAD = Annotated[float | None, Query(ge=0, le=180, allow_inf_nan=False, description="great-circle degrees")]


def split_event_id(eventid: str) -> tuple[str | None, str]:
    """``"<site>/<id>"`` -> ``(site, id)``; a bare id -> ``(None, id)`` (site ids never contain ``/``)."""
    if "/" in eventid:
        site, _, rid = eventid.partition("/")
        return site, rid
    return None, eventid


def public_docs(docs: list[dict]) -> list[dict]:
    """Docs with the cloud identity ``<site>/<id>`` as their id (edge docs, without a site, unchanged)."""
    return [{**d, "id": f"{d['site_id']}/{d['id']}"} if d.get("site_id") else d for d in docs]


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
    minlatitude: _LAT = None, minlat: _LAT = None, maxlatitude: _LAT = None, maxlat: _LAT = None,
    minlongitude: _LON = None, minlon: _LON = None, maxlongitude: _LON = None, maxlon: _LON = None,
    latitude: _LAT = None, lat: _LAT = None, longitude: _LON = None, lon: _LON = None,
    minradius: _RAD = None, maxradius: _RAD = None,
    eventid: Annotated[str | None, Query(max_length=330, description="<id>, or <site>/<id> on the cloud")] = None,
    includeallorigins: bool = False,
    includeallmagnitudes: bool = False,
    includearrivals: bool = False,
    orderby: Literal["time", "time-asc", "magnitude", "magnitude-asc"] = "time",
    limit: Annotated[int | None, Query(ge=1, le=100_000)] = None,
    offset: Annotated[int, Query(ge=1, le=1_000_000_000, description="1-based")] = 1,
    format: Literal["xml", "text", "json"] = "xml",
    nodata: Literal["204", "404"] = "204",
):
    """fdsnws-event ``query`` (geographic box and radius filters in degrees; see the module notes)."""
    t0, t1 = to_ns(_pick(starttime, start)), to_ns(_pick(endtime, end))
    box = (_pick(minlatitude, minlat), _pick(maxlatitude, maxlat), _pick(minlongitude, minlon),
           _pick(maxlongitude, maxlon))
    clat, clon = _pick(latitude, lat), _pick(longitude, lon)
    filters = (t0, t1, minmagnitude, minmag, maxmagnitude, maxmag, mindepth, maxdepth, updatedafter, *box,
               clat, clon, minradius, maxradius)
    if eventid is not None and any(v is not None for v in filters):
        raise HTTPException(status_code=422, detail="eventid cannot be combined with other filters")
    if t0 is not None and t1 is not None and t1 < t0:
        raise HTTPException(status_code=422, detail="endtime is before starttime")
    if box[0] is not None and box[1] is not None and box[1] < box[0]:
        raise HTTPException(status_code=422, detail="maxlatitude is below minlatitude")
    if minradius is not None and maxradius is not None and maxradius < minradius:
        raise HTTPException(status_code=422, detail="maxradius is below minradius")
    radius = minradius is not None or maxradius is not None
    if (clat is not None or clon is not None) and not radius:
        raise HTTPException(status_code=422, detail="latitude/longitude need minradius and/or maxradius")
    site_id = None
    if eventid is not None:
        site_id, eventid = split_event_id(eventid)
        if site_id is not None and not site_id:
            raise HTTPException(status_code=422, detail="eventid: empty site before '/'")
    store = get_store(request)
    kw = {"site_id": site_id} if site_id is not None else {}
    docs, _ = store.query_events(
        start_ns=t0, end_ns=t1, min_magnitude=_pick(minmagnitude, minmag), max_magnitude=_pick(maxmagnitude, maxmag),
        min_depth_m=None if mindepth is None else mindepth * 1000.0,
        max_depth_m=None if maxdepth is None else maxdepth * 1000.0,
        updated_after_ns=to_ns(updatedafter), event_id=eventid, orderby=orderby,
        min_latitude=box[0], max_latitude=box[1], min_longitude=box[2], max_longitude=box[3],
        latitude=(clat or 0.0) if radius else None, longitude=(clon or 0.0) if radius else None,
        min_radius_deg=minradius, max_radius_deg=maxradius,
        limit=limit or 100_000, offset=offset - 1, count=False, **kw,
    )
    if not docs:
        if nodata == "404":
            return PlainTextResponse("Error 404: no data\n", status_code=404)
        return Response(status_code=204)
    picks = None
    if includearrivals and format == "xml":
        picks = {}
        for d in docs:
            sid = d.get("site_id") or ""
            ps = store.query_picks(event_id=d["id"], site_id=sid, limit=10_000)[0]
            if sid:  # pick ids are per site too; point them at the composite event id
                ps = [{**p, "id": f"{sid}/{p['id']}", "event_id": f"{sid}/{d['id']}"} for p in ps]
            picks[f"{sid}/{d['id']}" if sid else d["id"]] = ps
    docs = public_docs(docs)
    if format == "text":
        return PlainTextResponse(fdsn_text(docs))
    if format == "json":
        return JSONResponse(geojson(docs))
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
