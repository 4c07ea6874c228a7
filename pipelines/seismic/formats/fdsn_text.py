"""fdsnws-event text format (13 pipe-separated columns, depth in km)."""

from __future__ import annotations

from typing import IO, Iterable

from dasedge.block import iso_utc
from dasedge.records import SeismicEvent

HEADER = "#EventID|Time|Latitude|Longitude|Depth/km|Author|Catalog|Contributor|ContributorID|MagType|Magnitude|MagAuthor|EventLocationName"


def _f(v, fmt: str) -> str:
    return "" if v is None else format(v, fmt)


def event_line(ev: SeismicEvent, *, author: str = "dasedge", catalog: str = "dasedge") -> str:
    depth_km = None if ev.depth_m is None else ev.depth_m / 1000.0
    cols = [
        ev.id, iso_utc(ev.origin_ns)[:-1], _f(ev.latitude, ".5f"), _f(ev.longitude, ".5f"), _f(depth_km, ".3f"),
        author, catalog, "dasedge", ev.id, ev.magnitude_type if ev.magnitude is not None else "",
        _f(ev.magnitude, ".2f"), author if ev.magnitude is not None else "",
        f"{ev.fiber_id} x={ev.x_m:.0f} m" if ev.x_m is not None else ev.fiber_id,
    ]
    return "|".join(c.replace("|", "/") for c in cols)


def format_fdsn_text(events: Iterable[SeismicEvent], **kw) -> str:
    return "\n".join([HEADER] + [event_line(e, **kw) for e in events]) + "\n"


def write_fdsn_text(fh: IO[str], events: Iterable[SeismicEvent], **kw) -> None:
    fh.write(format_fdsn_text(events, **kw))
