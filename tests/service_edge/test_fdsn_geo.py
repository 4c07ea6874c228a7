"""fdsnws-event geographic filters over real HTTP: box, antimeridian box, radius ring; eventid, updatedafter.

Events sit at known positions; the expected sets come from an independent
distance implementation (``obspy.geodetics.locations2degrees``) and from the
positions themselves, never from the service.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from obspy.geodetics import locations2degrees

from .conftest import T0, make_event, make_live_edge

S = 1_000_000_000


def _positions(seed: int) -> list[tuple[float, float]]:
    rng = np.random.default_rng(seed)
    pts = [(float(a), float(b)) for a, b in zip(rng.uniform(-60, 60, 30), rng.uniform(-180, 180, 30))]
    # fixed ones near the antimeridian and around a radius centre (46.5, 7.5)
    pts += [(10.0, 179.5), (-10.0, -179.5), (0.0, 178.0), (46.5, 7.5), (46.6, 7.6), (47.5, 7.5), (46.5, 9.0)]
    return pts


@pytest.fixture(scope="module")
def geo_edge(tmp_path_factory):
    edge, server = make_live_edge(tmp_path_factory.mktemp("geo"))
    pts = _positions(3)
    evs = [dataclasses.replace(make_event(i, t_ns=T0 + i * 60 * S), latitude=la, longitude=lo)
           for i, (la, lo) in enumerate(pts)]
    evs.append(dataclasses.replace(make_event(len(pts), t_ns=T0 + 99 * 60 * S), latitude=None, longitude=None))
    edge.store.put_events(evs)
    yield edge, {e.id: (e.latitude, e.longitude) for e in evs}
    server.stop()
    edge.store.close()


def _ids(c, **params) -> set[str]:
    r = c.get("/fdsnws/event/1/query", params={"format": "text", **params})
    if r.status_code == 204:
        return set()
    assert r.status_code == 200, r.text
    return {line.split("|")[0] for line in r.text.splitlines()[1:] if line}


@pytest.mark.parametrize("box", [(-20, 20, -30, 30), (40, 50, 5, 10), (-60, 0, 100, 180), (0, 60, -180, -90)])
def test_box(geo_edge, box):
    edge, pos = geo_edge
    lat0, lat1, lon0, lon1 = box
    want = {i for i, (la, lo) in pos.items() if la is not None and lat0 <= la <= lat1 and lon0 <= lo <= lon1}
    with edge.client() as c:
        got = _ids(c, minlatitude=lat0, maxlatitude=lat1, minlongitude=lon0, maxlongitude=lon1)
        assert got == want
        # the short aliases select the same
        assert _ids(c, minlat=lat0, maxlat=lat1, minlon=lon0, maxlon=lon1) == want


def test_box_across_the_antimeridian(geo_edge):
    edge, pos = geo_edge
    want = {i for i, (la, lo) in pos.items() if la is not None and -15 <= la <= 15 and (lo >= 170 or lo <= -170)}
    assert len(want) >= 2  # the fixed points on both sides
    with edge.client() as c:
        assert _ids(c, minlatitude=-15, maxlatitude=15, minlongitude=170, maxlongitude=-170) == want


@pytest.mark.parametrize("centre,rmin,rmax", [((46.5, 7.5), None, 0.5), ((46.5, 7.5), 0.5, 2.0),
                                              ((0.0, 179.0), None, 15.0), ((-30.0, -60.0), 20.0, 60.0)])
def test_radius(geo_edge, centre, rmin, rmax):
    edge, pos = geo_edge
    lat, lon = centre
    want = set()
    for i, (la, lo) in pos.items():
        if la is None:
            continue
        d = locations2degrees(lat, lon, la, lo)
        if (rmin is None or d >= rmin) and d <= rmax:
            want.add(i)
    params = {"latitude": lat, "longitude": lon, "maxradius": rmax}
    if rmin is not None:
        params["minradius"] = rmin
    with edge.client() as c:
        assert _ids(c, **params) == want
        # GeoJSON carries the same events
        r = c.get("/fdsnws/event/1/query", params={**params, "format": "json"})
        got = set() if r.status_code == 204 else {f["id"] for f in r.json()["features"]}
        assert got == want


def test_geo_filters_combine_with_time_and_magnitude(geo_edge):
    edge, pos = geo_edge
    with edge.client() as c:
        got = _ids(c, minlatitude=-90, maxlatitude=90, starttime="2026-01-01T00:05:00Z",
                   endtime="2026-01-01T00:10:00Z")
    # ids are ev0000 + i at T0 + i minutes; 5..10 inclusive, every event has a location there
    assert got == {f"ev{i:04d}" for i in range(5, 11)}


def test_eventid_updatedafter_includeallorigins(geo_edge):
    edge, pos = geo_edge
    with edge.client() as c:
        assert _ids(c, eventid="ev0003") == {"ev0003"}
        assert _ids(c, eventid="ev0003", includeallorigins="true", includeallmagnitudes="true") == {"ev0003"}
        r = c.get("/fdsnws/event/1/query", params={"eventid": "ev0003", "minlatitude": 0})
        assert r.status_code == 422 and "eventid" in r.text
        # everything was stored before now: updatedafter in the future -> nothing; in the past -> all
        assert _ids(c, updatedafter="2100-01-01T00:00:00Z") == set()
        assert len(_ids(c, updatedafter="2000-01-01T00:00:00Z")) == len(pos)


@pytest.mark.parametrize("params,fragment", [
    ({"minlatitude": 91}, "minlatitude"),
    ({"minlongitude": -181}, "minlongitude"),
    ({"minlatitude": 10, "maxlatitude": 0}, "maxlatitude"),
    ({"latitude": 10, "longitude": 10}, "radius"),
    ({"latitude": 0, "maxradius": 181}, "maxradius"),
    ({"latitude": 0, "minradius": 5, "maxradius": 1}, "maxradius"),
])
def test_bad_geo_parameters_are_422(geo_edge, params, fragment):
    edge, _ = geo_edge
    with edge.client() as c:
        r = c.get("/fdsnws/event/1/query", params=params)
    assert r.status_code == 422 and fragment in r.text
