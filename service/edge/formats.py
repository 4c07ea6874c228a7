"""Output writers for the edge API: QuakeML (via ObsPy), fdsnws text, GeoJSON, CSV.

QuakeML and fdsnws text delegate to the seismic pipeline's writers
(``pipelines.seismic.formats``: same public ids, arrivals, uncertainties) after
turning the stored JSON docs back into records; the minimal local writers
below are the fallback when that package is not importable.  Input is the
JSON form of :class:`dasedge.records.SeismicEvent` (``to_dict()``).

Units (conventions.md §1.1): QuakeML depth in metres, fdsnws text depth in
km, GeoJSON depth (3rd coordinate) in km and times in Unix ms.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Iterable, Sequence

AUTHORITY = "dasedge"
TEXT_HEADER = (
    "#EventID|Time|Latitude|Longitude|Depth/km|Author|Catalog|Contributor|ContributorID|"
    "MagType|Magnitude|MagAuthor|EventLocationName"
)
_EVAL_STATUS = {"new": "preliminary", "update": "preliminary", "final": "final"}


def _record_from_doc(cls, d: dict, time_field: str):
    """Rebuild a record dataclass from its ``to_dict()`` JSON form (ISO times -> ns)."""
    import dataclasses

    from service.store import iso_to_ns

    kw = {}
    for f in dataclasses.fields(cls):
        if f.name == time_field:
            kw[f.name] = iso_to_ns(d["time"])
        elif f.name.endswith("_ns"):
            iso = d.get(f.name[:-3])
            kw[f.name] = iso_to_ns(iso) if isinstance(iso, str) else d.get(f.name)
        elif f.name in d:
            kw[f.name] = d[f.name]
    return cls(**kw)


def _pipeline_formats():
    try:
        from pipelines.seismic import formats
        from dasedge.records import Pick, SeismicEvent
    except Exception:  # pragma: no cover - seismic package unavailable
        return None
    return formats, Pick, SeismicEvent


def _fmt(v: Any, spec: str = "") -> str:
    if v is None:
        return ""
    return format(v, spec) if spec else str(v)


def fdsn_text(events: Sequence[dict]) -> str:
    """fdsnws-event ``format=text``: header + one pipe-separated line per event."""
    pf = _pipeline_formats()
    if pf is not None:
        from pipelines.seismic.formats.fdsn_text import format_fdsn_text

        return format_fdsn_text([_record_from_doc(pf[2], e, "origin_ns") for e in events])
    lines = [TEXT_HEADER]
    for e in events:
        depth = e.get("depth_m")
        lines.append("|".join([
            e["id"], e["time"].rstrip("Z"), _fmt(e.get("latitude"), ".5f"), _fmt(e.get("longitude"), ".5f"),
            "" if depth is None else f"{depth / 1000:.3f}", AUTHORITY, AUTHORITY, AUTHORITY, e["id"],
            e.get("magnitude_type") or "", _fmt(e.get("magnitude"), ".2f"), AUTHORITY,
            f"DAS fiber {e.get('fiber_id', '')}",
        ]))
    return "\n".join(lines) + "\n"


def to_obspy_catalog(events: Sequence[dict], picks_by_event: dict[str, list[dict]] | None = None):
    """ObsPy :class:`~obspy.core.event.Catalog` for the events (picks optional)."""
    from obspy import UTCDateTime
    from obspy.core.event import (Catalog, CreationInfo, Event, Magnitude, Origin, Pick, ResourceIdentifier,
                                  WaveformStreamID)

    cat = Catalog(resource_id=ResourceIdentifier(f"smi:{AUTHORITY}/catalog"))
    cat.creation_info = CreationInfo(agency_id=AUTHORITY)
    for e in events:
        eid = e["id"]
        ver = str(e.get("version", 1))
        ci = CreationInfo(agency_id=AUTHORITY, version=ver)
        origin = Origin(
            resource_id=ResourceIdentifier(f"smi:{AUTHORITY}/origin/{eid}/v{ver}"),
            time=UTCDateTime(e["time"]), latitude=e.get("latitude"), longitude=e.get("longitude"),
            depth=e.get("depth_m"), evaluation_mode="automatic",
            evaluation_status=_EVAL_STATUS.get(e.get("status", "new"), "preliminary"), creation_info=ci,
        )
        if e.get("origin_uncertainty_s") is not None:
            origin.time_errors.uncertainty = e["origin_uncertainty_s"]
        ev = Event(resource_id=ResourceIdentifier(f"smi:{AUTHORITY}/event/{eid}"), event_type="earthquake",
                   creation_info=ci)
        ev.origins.append(origin)
        ev.preferred_origin_id = origin.resource_id
        if e.get("magnitude") is not None:
            mag = Magnitude(resource_id=ResourceIdentifier(f"smi:{AUTHORITY}/magnitude/{eid}/v{ver}"),
                            mag=e["magnitude"], magnitude_type=e.get("magnitude_type") or "M",
                            origin_id=origin.resource_id, evaluation_mode="automatic", creation_info=ci)
            ev.magnitudes.append(mag)
            ev.preferred_magnitude_id = mag.resource_id
        for p in (picks_by_event or {}).get(eid, []):
            ev.picks.append(Pick(
                resource_id=ResourceIdentifier(f"smi:{AUTHORITY}/pick/{p['id']}"), time=UTCDateTime(p["time"]),
                waveform_id=WaveformStreamID(network_code="DA", station_code=str(p["channel"])[:5]),
                phase_hint=p["phase"], evaluation_mode="automatic",
            ))
        cat.append(ev)
    return cat


def quakeml(events: Sequence[dict], picks_by_event: dict[str, list[dict]] | None = None) -> bytes:
    """QuakeML BED 1.2 document (ObsPy writer)."""
    buf = io.BytesIO()
    pf = _pipeline_formats()
    if pf is not None:
        formats, Pick, SeismicEvent = pf
        evs = [_record_from_doc(SeismicEvent, e, "origin_ns") for e in events]
        picks = [_record_from_doc(Pick, p, "t_ns") for ps in (picks_by_event or {}).values() for p in ps]
        formats.to_catalog(evs, picks).write(buf, format="QUAKEML")
        return buf.getvalue()
    to_obspy_catalog(events, picks_by_event).write(buf, format="QUAKEML")
    return buf.getvalue()


def _unix_ms(iso: str) -> int:
    from service.store import iso_to_ns

    return iso_to_ns(iso) // 1_000_000


def geojson(events: Sequence[dict]) -> dict:
    """USGS-style GeoJSON FeatureCollection (depth km, times Unix ms)."""
    feats = []
    for e in events:
        depth = e.get("depth_m")
        feats.append({
            "type": "Feature",
            "id": e["id"],
            "geometry": None if e.get("latitude") is None or e.get("longitude") is None else {
                "type": "Point",
                "coordinates": [e["longitude"], e["latitude"], None if depth is None else depth / 1000.0],
            },
            "properties": {
                "mag": e.get("magnitude"), "magType": e.get("magnitude_type"), "time": _unix_ms(e["time"]),
                "status": "reviewed" if e.get("status") == "final" else "automatic", "type": "earthquake",
                "version": e.get("version", 1), "nst": e.get("num_picks"), "net": AUTHORITY, "code": e["id"],
                "place": f"DAS fiber {e.get('fiber_id', '')}", "x_m": e.get("x_m"), "y_m": e.get("y_m"),
            },
        })
    return {"type": "FeatureCollection", "metadata": {"count": len(feats), "generator": AUTHORITY}, "features": feats}


def to_csv(rows: Iterable[dict], columns: Sequence[str] | None = None) -> str:
    """CSV with a header; nested values (dicts/lists) are JSON-encoded."""
    rows = list(rows)
    if columns is None:
        columns = []
        for r in rows:
            for k in r:
                if k not in columns:
                    columns.append(k)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow(["" if r.get(c) is None else (json.dumps(r[c], separators=(",", ":"))
                                                 if isinstance(r.get(c), (dict, list)) else r[c]) for c in columns])
    return out.getvalue()
