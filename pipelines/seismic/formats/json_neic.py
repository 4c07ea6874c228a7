"""Edge->cloud JSON in the style of the USGS NEIC detection formats (Pick, Detection).

Fields follow ``usgs/earthquake-detection-formats`` (Pick.md, Detection.md):
``Type``, ``ID``, ``Site{Station, Channel, Network, Location}``, ``Time`` (ISO 8601),
``Source{AgencyID, Author}``, ``Phase``, ``Picker``, ``Amplitude``; a Detection
holds ``Hypocenter{Latitude, Longitude, Depth (km), Time, *Error}``,
``DetectionType`` (New/Update/Final) and ``Data`` (its picks).  DAS extras go
under ``DAS{FiberID, DistanceM, XM, YM, Score}``.
"""

from __future__ import annotations

from typing import Any, Iterable

from dasedge.block import iso_utc
from dasedge.records import Pick, SeismicEvent

from .quakeml import SEED_CHANNEL, station_code

SOURCE = {"AgencyID": "DE", "Author": "dasedge"}
_DTYPE = {"new": "New", "update": "Update", "final": "Final"}


def pick_message(p: Pick, *, network: str = "DA", station_prefix: str = "") -> dict[str, Any]:
    msg: dict[str, Any] = {
        "Type": "Pick",
        "ID": p.id,
        "Site": {"Station": station_code(p.channel, station_prefix), "Channel": SEED_CHANNEL, "Network": network, "Location": "--"},
        "Time": iso_utc(p.t_ns),
        "Source": dict(SOURCE),
        "Phase": p.phase,
        "Picker": "PhaseNet-DAS",
        "DAS": {"FiberID": p.fiber_id, "Channel": p.channel, "DistanceM": p.distance_m, "Score": p.score},
    }
    if p.amplitude is not None:
        msg["Amplitude"] = {"Amplitude": p.amplitude, "Units": "1/s"}
    if p.event_id:
        msg["AssociationInfo"] = {"EventID": p.event_id}
    return msg


def detection_message(ev: SeismicEvent, picks: Iterable[Pick] = (), **kw) -> dict[str, Any]:
    hypo: dict[str, Any] = {
        "Latitude": ev.latitude, "Longitude": ev.longitude,
        "Depth": None if ev.depth_m is None else ev.depth_m / 1000.0,
        "Time": iso_utc(ev.origin_ns),
    }
    if ev.origin_uncertainty_s is not None:
        hypo["TimeError"] = ev.origin_uncertainty_s
    if ev.location_uncertainty_m is not None:
        hypo["LatitudeError"] = hypo["LongitudeError"] = hypo["DepthError"] = ev.location_uncertainty_m / 1000.0
    msg: dict[str, Any] = {
        "Type": "Detection",
        "ID": ev.id,
        "Source": dict(SOURCE),
        "Hypocenter": hypo,
        "DetectionType": _DTYPE[ev.status],
        "EventType": {"Type": "Earthquake", "Certainty": "Suspected" if ev.status == "new" else "Confirmed"},
        "Version": ev.version,
        "DAS": {"FiberID": ev.fiber_id, "XM": ev.x_m, "YM": ev.y_m, "Score": ev.score,
                "NumPicks": ev.num_picks, "NumP": ev.num_p, "NumS": ev.num_s},
        "Data": [pick_message(p, **kw) for p in picks if p.event_id == ev.id],
    }
    if ev.magnitude is not None:
        msg["Magnitude"] = {"Value": ev.magnitude, "Type": ev.magnitude_type}
    return msg
