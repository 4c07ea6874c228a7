"""QuakeML / FDSN text round trips through ObsPy, NEIC JSON and CAP 1.2."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from dasedge.records import Pick, SeismicEvent
from pipelines.seismic.formats import detection_message, pick_message, render_cap, station_code, to_catalog, write_quakeml
from pipelines.seismic.formats.fdsn_text import HEADER, format_fdsn_text

T = 1_704_067_212_345_678_000


def _event(**kw):
    base = dict(id="ev_0123456789abcdef", fiber_id="f1", origin_ns=T, x_m=1234.5, y_m=None, depth_m=8500.0,
                magnitude=2.37, num_picks=3, num_p=2, num_s=1, latitude=63.1234, longitude=10.5678,
                origin_uncertainty_s=0.05, location_uncertainty_m=800.0, score=2.5)
    base.update(kw)
    return SeismicEvent(**base)


def _picks():
    return [Pick(id=f"pk_{i}", fiber_id="f1", channel=c, distance_m=8.0 * c, t_ns=T + (2 + i) * 10**9, phase=ph,
                 score=0.8, amplitude=1e-7, event_id="ev_0123456789abcdef")
            for i, (c, ph) in enumerate([(12, "P"), (123456, "P"), (12, "S")])]


def test_quakeml_roundtrip_with_obspy(tmp_path):
    from obspy import UTCDateTime, read_events

    path = tmp_path / "ev.xml"
    write_quakeml(path, [_event()], _picks(), network="DA")
    cat = read_events(str(path))
    assert len(cat) == 1
    ev = cat[0]
    assert str(ev.resource_id) == "smi:dasedge/event/ev_0123456789abcdef"
    o = ev.preferred_origin()
    assert o.depth == pytest.approx(8500.0)  # metres
    assert o.time == UTCDateTime(ns=T)
    assert o.latitude == pytest.approx(63.1234) and o.longitude == pytest.approx(10.5678)
    assert o.evaluation_mode == "automatic"
    assert ev.preferred_magnitude().mag == pytest.approx(2.37)
    assert len(ev.picks) == 3 and len(o.arrivals) == 3
    stations = sorted(p.waveform_id.station_code for p in ev.picks)
    assert stations == sorted(["12", "12", station_code(123456)]) and all(len(s) <= 5 for s in stations)
    assert {p.phase_hint for p in ev.picks} == {"P", "S"}
    assert {str(a.pick_id) for a in o.arrivals} == {str(p.resource_id) for p in ev.picks}


def test_station_code_fits_five_chars():
    assert station_code(7) == "7" and station_code(99999) == "99999"
    assert len(station_code(123456)) <= 5 and station_code(123456) != station_code(123457)


def test_fdsn_text_roundtrip_with_obspy(tmp_path):
    from obspy import UTCDateTime, read_events

    text = format_fdsn_text([_event(), _event(id="ev_2", magnitude=None, latitude=None, longitude=None)])
    lines = text.strip().split("\n")
    assert lines[0] == HEADER and len(lines[0].split("|")) == 13
    assert all(len(line.split("|")) == 13 for line in lines[1:])
    p = tmp_path / "ev.txt"
    p.write_text(text[: text.index("\nev_2")] + "\n")  # ObsPy needs coordinates: read the first row back
    cat = read_events(str(p), format="EVENTTXT")
    o = cat[0].origins[0]
    assert o.time == UTCDateTime(ns=T // 1000 * 1000)
    assert o.depth == pytest.approx(8500.0)  # ObsPy converts Depth/km back to metres
    assert cat[0].magnitudes[0].mag == pytest.approx(2.37)


def test_neic_json_messages():
    ev = _event(status="update", version=2)
    msg = detection_message(ev, _picks())
    json.dumps(msg)
    assert msg["Type"] == "Detection" and msg["DetectionType"] == "Update"
    assert msg["Hypocenter"]["Depth"] == pytest.approx(8.5)  # km
    assert msg["Hypocenter"]["Time"].startswith("2024-01-01T00:00:12.345678")
    assert len(msg["Data"]) == 3
    pm = pick_message(_picks()[0])
    assert pm["Type"] == "Pick" and pm["Site"]["Station"] == "12" and pm["Phase"] == "P"
    assert set(pm["Source"]) == {"AgencyID", "Author"}


def test_cap_alert_then_update_references_first():
    ns = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}
    first = render_cap(_event(status="new", version=1), sent_ns=T + 5 * 10**9)
    root = ET.fromstring(first.split("?>", 1)[1])
    assert root.tag == "{urn:oasis:names:tc:emergency:cap:1.2}alert"
    assert root.find("cap:msgType", ns).text == "Alert"
    assert root.find("cap:references", ns) is None
    assert root.find("cap:info/cap:area/cap:circle", ns).text.startswith("63.1234,10.5678 ")
    ident1 = root.find("cap:identifier", ns).text
    sent1 = root.find("cap:sent", ns).text
    upd = render_cap(_event(status="update", version=2), sent_ns=T + 9 * 10**9, first_sent_ns=T + 5 * 10**9)
    r2 = ET.fromstring(upd.split("?>", 1)[1])
    assert r2.find("cap:msgType", ns).text == "Update"
    assert r2.find("cap:references", ns).text == f"dasedge@edge,{ident1},{sent1}"
    assert r2.find("cap:identifier", ns).text != ident1
    for tag in ("identifier", "sender", "sent", "status", "msgType", "scope"):
        assert r2.find(f"cap:{tag}", ns) is not None
