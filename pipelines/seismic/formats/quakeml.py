"""QuakeML 1.2 (BED) via ObsPy.

* public ids are stable: ``smi:dasedge/event/<event id>``,
  ``smi:dasedge/origin/<event id>/v<version>``, ``smi:dasedge/pick/<pick id>``;
* ``Origin.depth`` in **metres** (positive down), ``evaluation_mode="automatic"``,
  ``evaluation_status`` preliminary (new/update) or final;
* picks carry ``WaveformStreamID(network, station=channel code, location="", channel="HSF")``;
  the station code is the channel index (base 36 above 99999, so it fits 5 chars).
* A straight fiber without coordinates has no latitude/longitude; the along-fiber
  position goes into an origin comment (``x_m=...``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from dasedge.records import Pick, SeismicEvent

AUTHORITY = "smi:dasedge"
SEED_CHANNEL = "HSF"
_B36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def station_code(channel: int, prefix: str = "") -> str:
    """Channel index -> station code of at most 5 characters."""
    if channel < 0:
        raise ValueError("negative channel index")
    if channel < 10 ** (5 - len(prefix)):
        return f"{prefix}{channel}"
    s, n = "", channel
    while n:
        n, r = divmod(n, 36)
        s = _B36[r] + s
    if len(s) > 5:
        raise ValueError(f"channel {channel} does not fit a 5-character station code")
    return s


def to_catalog(events: Iterable[SeismicEvent], picks: Iterable[Pick] = (), *, network: str = "DA", station_prefix: str = ""):
    """Build an ``obspy.core.event.Catalog`` (events with their associated picks and arrivals)."""
    from obspy import UTCDateTime
    from obspy.core.event import (Arrival, Catalog, Comment, CreationInfo, Event, Magnitude, Origin,
                                  OriginQuality, OriginUncertainty, Pick as QPick, QuantityError,
                                  ResourceIdentifier, WaveformStreamID)

    by_event: dict[str, list[Pick]] = {}
    for p in picks:
        if p.event_id:
            by_event.setdefault(p.event_id, []).append(p)
    cat = Catalog(resource_id=ResourceIdentifier(f"{AUTHORITY}/catalog"))
    for ev in events:
        status = "final" if ev.status == "final" else "preliminary"
        ci = CreationInfo(agency_id="dasedge", author="dasedge", version=str(ev.version))
        origin = Origin(
            resource_id=ResourceIdentifier(f"{AUTHORITY}/origin/{ev.id}/v{ev.version}"),
            time=UTCDateTime(ns=int(ev.origin_ns)),
            latitude=ev.latitude, longitude=ev.longitude,
            depth=ev.depth_m, depth_type="from location" if ev.depth_m is not None else None,
            evaluation_mode="automatic", evaluation_status=status, creation_info=ci,
        )
        if ev.origin_uncertainty_s is not None:
            origin.time_errors = QuantityError(uncertainty=ev.origin_uncertainty_s)
        if ev.location_uncertainty_m is not None:
            origin.depth_errors = QuantityError(uncertainty=ev.location_uncertainty_m)
            origin.origin_uncertainty = OriginUncertainty(horizontal_uncertainty=ev.location_uncertainty_m,
                                                          preferred_description="horizontal uncertainty")
        origin.comments.append(Comment(text=f"fiber_id={ev.fiber_id} x_m={ev.x_m} y_m={ev.y_m} score={ev.score}",
                                       resource_id=ResourceIdentifier(f"{AUTHORITY}/comment/{ev.id}/v{ev.version}")))
        qpicks = []
        for p in sorted(by_event.get(ev.id, []), key=lambda p: (p.t_ns, p.channel)):
            qp = QPick(
                resource_id=ResourceIdentifier(f"{AUTHORITY}/pick/{p.id}"),
                time=UTCDateTime(ns=int(p.t_ns)),
                waveform_id=WaveformStreamID(network_code=network, station_code=station_code(p.channel, station_prefix),
                                             location_code="", channel_code=SEED_CHANNEL),
                phase_hint=p.phase, evaluation_mode="automatic",
            )
            qpicks.append(qp)
            origin.arrivals.append(Arrival(resource_id=ResourceIdentifier(f"{AUTHORITY}/arrival/{ev.id}/v{ev.version}/{p.id}"),
                                           pick_id=qp.resource_id, phase=p.phase, time_weight=p.score))
        origin.quality = OriginQuality(associated_phase_count=ev.num_picks, used_phase_count=ev.num_picks)
        event = Event(resource_id=ResourceIdentifier(f"{AUTHORITY}/event/{ev.id}"), event_type="earthquake",
                      creation_info=ci)
        event.origins.append(origin)
        event.preferred_origin_id = origin.resource_id
        event.picks.extend(qpicks)
        if ev.magnitude is not None:
            mag = Magnitude(resource_id=ResourceIdentifier(f"{AUTHORITY}/magnitude/{ev.id}/v{ev.version}"),
                            mag=ev.magnitude, magnitude_type=ev.magnitude_type, origin_id=origin.resource_id,
                            evaluation_mode="automatic", evaluation_status=status)
            event.magnitudes.append(mag)
            event.preferred_magnitude_id = mag.resource_id
        cat.append(event)
    return cat


def write_quakeml(path: str | Path, events: Iterable[SeismicEvent], picks: Iterable[Pick] = (), **kw) -> None:
    """Write QuakeML 1.2 to ``path``."""
    to_catalog(events, picks, **kw).write(str(path), format="QUAKEML")
