"""fdsnws-event over real HTTP: QuakeML read back with ObsPy, text, GeoJSON, paging, nodata."""

from __future__ import annotations

import io

import obspy
import pytest

from .conftest import T0, make_event, make_pick

S = 1_000_000_000
MAGS = [1.2, 3.4, 2.2, 0.8, 2.9]
DEPTHS_M = [2000.0, 9000.0, 15000.0, 4000.0, 30000.0]


@pytest.fixture(scope="module")
def events(live_edge):
    evs = [make_event(100 + i, t_ns=T0 + 86_400 * S + i * 600 * S, mag=m, depth_m=d)
           for i, (m, d) in enumerate(zip(MAGS, DEPTHS_M))]
    live_edge.store.put_events(evs)
    live_edge.store.put_picks([make_pick(900 + k, t_ns=evs[1].origin_ns + (k + 1) * S, event_id=evs[1].id,
                                         phase="P" if k < 2 else "S") for k in range(3)])
    return evs


Q = "/fdsnws/event/1/query"
DAY = {"starttime": "2026-01-02T00:00:00", "endtime": "2026-01-02T23:59:59"}


def test_quakeml_round_trip_with_obspy(live_edge, events):
    with live_edge.client() as c:
        r = c.get(Q, params={**DAY, "orderby": "time-asc"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/xml")
    cat = obspy.read_events(io.BytesIO(r.content), format="QUAKEML")
    assert len(cat) == 5
    for ev, want in zip(cat, events):
        o = ev.preferred_origin()
        assert str(ev.resource_id) == f"smi:dasedge/event/{want.id}"
        assert o.time == obspy.UTCDateTime(want.origin_ns / 1e9)
        assert o.depth == pytest.approx(want.depth_m)  # metres in QuakeML
        assert o.latitude == pytest.approx(want.latitude)
        assert ev.preferred_magnitude().mag == pytest.approx(want.magnitude)
        assert o.evaluation_mode == "automatic"


def test_filters_order_paging(live_edge, events):
    with live_edge.client() as c:
        r = c.get(Q, params={**DAY, "minmagnitude": 2.0, "maxdepth": 20, "orderby": "magnitude", "format": "text"})
        lines = r.text.strip().splitlines()
        assert lines[0].startswith("#EventID|Time|Latitude|Longitude|Depth/km|")
        rows = [ln.split("|") for ln in lines[1:]]
        assert [x[0] for x in rows] == [events[1].id, events[2].id]  # M3.4 (9 km), M2.2 (15 km); M2.9 at 30 km out
        assert [float(x[10]) for x in rows] == [3.4, 2.2] and float(rows[0][4]) == pytest.approx(9.0)
        assert all(len(x) == 13 for x in rows)
        # offset is 1-based
        r1 = c.get(Q, params={**DAY, "orderby": "time-asc", "limit": 2, "offset": 2, "format": "text"})
        assert [ln.split("|")[0] for ln in r1.text.strip().splitlines()[1:]] == [events[1].id, events[2].id]
        r2 = c.get(Q, params={**DAY, "mindepth": 5, "orderby": "magnitude-asc", "format": "json"}).json()
        assert [f["id"] for f in r2["features"]] == [events[2].id, events[4].id, events[1].id]
        assert r2["features"][0]["geometry"]["coordinates"][2] == pytest.approx(15.0)
        assert r2["features"][0]["properties"]["time"] == events[2].origin_ns // 1_000_000


def test_eventid_nodata_and_arrivals(live_edge, events):
    with live_edge.client() as c:
        r = c.get(Q, params={"eventid": events[1].id, "includearrivals": "true"})
        (ev,) = obspy.read_events(io.BytesIO(r.content))
        assert sorted(p.phase_hint for p in ev.picks) == ["P", "P", "S"]
        assert c.get(Q, params={"eventid": "nope"}).status_code == 204
        assert c.get(Q, params={"eventid": "nope", "nodata": "404"}).status_code == 404
        assert c.get(Q, params={"minmagnitude": 9}).status_code == 204
        r = c.get(Q, params={"eventid": events[1].id, "minmagnitude": 1})
        assert r.status_code == 422 and "eventid" in r.json()["detail"]


def test_versioned_update_visible_in_fdsn(live_edge, events):
    upd = make_event(104, t_ns=events[4].origin_ns, mag=3.1, depth_m=29000.0, version=2, status="final")
    live_edge.store.put_events([upd])
    with live_edge.client() as c:
        (ev,) = obspy.read_events(io.BytesIO(c.get(Q, params={"eventid": upd.id}).content))
    assert ev.preferred_magnitude().mag == pytest.approx(3.1)
    assert ev.preferred_origin().evaluation_status == "final"
    assert ev.creation_info.version == "2"


def test_version_and_wadl_public(live_edge):
    with live_edge.client(None) as c:
        assert c.get("/fdsnws/event/1/version").text == "1.2.0"
        w = c.get("/fdsnws/event/1/application.wadl")
        assert w.status_code == 200 and "<resource path=\"query\">" in w.text
        assert c.get(Q).status_code == 401


def test_fallback_writers_agree_with_pipeline_writers():
    """The local fallback writers (used without pipelines.seismic) and the pipeline's agree on content."""
    from pipelines.seismic.formats import to_catalog
    from pipelines.seismic.formats.fdsn_text import format_fdsn_text

    from service.edge.formats import TEXT_HEADER, _record_from_doc, to_obspy_catalog
    from dasedge.records import SeismicEvent

    evs = [make_event(700 + i, t_ns=T0 + i * 3_600_123_456_000, mag=1.0 + i, depth_m=1500.0 * (i + 1))
           for i in range(3)]
    docs = [e.to_dict() for e in evs]
    assert [_record_from_doc(SeismicEvent, d, "origin_ns") for d in docs] == evs  # exact round trip (µs times)
    a, b = to_obspy_catalog(docs), to_catalog(evs)
    for ea, eb in zip(a, b):
        assert str(ea.resource_id) == str(eb.resource_id)
        oa, ob = ea.preferred_origin(), eb.preferred_origin()
        assert (oa.time, oa.depth, oa.latitude) == (ob.time, ob.depth, ob.latitude)
        assert ea.preferred_magnitude().mag == eb.preferred_magnitude().mag
    assert format_fdsn_text(evs).splitlines()[0] == TEXT_HEADER
