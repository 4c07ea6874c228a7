"""CAP 1.2 rendering of an earthquake alert (OASIS, ``urn:oasis:names:tc:emergency:cap:1.2``).

``new`` -> ``msgType`` Alert; ``update``/``final`` -> Update with ``references``
to the first message (``sender,identifier,sent``).  Identifiers are stable:
``<event id>-v<version>``.  The area is a circle around the epicentre (km) when
coordinates are known, else only ``areaDesc``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timezone

from dasedge.records import SeismicEvent

NS = "urn:oasis:names:tc:emergency:cap:1.2"
SENDER = "dasedge@edge"


def _iso(t_ns: int) -> str:
    return datetime.fromtimestamp(t_ns / 1e9, tz=timezone.utc).replace(microsecond=0).isoformat()


def identifier(ev: SeismicEvent, version: int | None = None) -> str:
    return f"{ev.id}-v{ev.version if version is None else version}"


def render_cap(ev: SeismicEvent, *, sent_ns: int, first_sent_ns: int | None = None, sender: str = SENDER,
               status: str = "Actual", radius_km: float = 50.0) -> str:
    """CAP 1.2 XML text of one event message."""
    ET.register_namespace("", NS)
    q = lambda tag: f"{{{NS}}}{tag}"  # noqa: E731
    root = ET.Element(q("alert"))

    def sub(parent, tag, text=None):
        el = ET.SubElement(parent, q(tag))
        if text is not None:
            el.text = str(text)
        return el

    sub(root, "identifier", identifier(ev))
    sub(root, "sender", sender)
    sub(root, "sent", _iso(sent_ns))
    sub(root, "status", status)
    sub(root, "msgType", "Alert" if ev.status == "new" else "Update")
    sub(root, "scope", "Public")
    if ev.status != "new":
        first = first_sent_ns if first_sent_ns is not None else (ev.first_emitted_ns or sent_ns)
        sub(root, "references", f"{sender},{identifier(ev, 1)},{_iso(first)}")
    info = sub(root, "info")
    sub(info, "category", "Geo")
    sub(info, "event", "Earthquake")
    sub(info, "urgency", "Immediate")
    sub(info, "severity", "Minor" if (ev.magnitude or 0) < 4.5 else ("Moderate" if ev.magnitude < 6 else "Severe"))
    sub(info, "certainty", "Likely" if ev.status == "new" else "Observed")
    sub(info, "onset", _iso(ev.origin_ns))
    mag = f"M{ev.magnitude:.1f} " if ev.magnitude is not None else ""
    sub(info, "headline", f"{mag}earthquake detected by DAS fiber {ev.fiber_id}")
    depth = f"{ev.depth_m / 1000:.1f} km" if ev.depth_m is not None else "unknown"
    sub(info, "description", f"Automatic DAS detection ({ev.status}, version {ev.version}): origin {_iso(ev.origin_ns)}, "
                              f"along-fiber position {ev.x_m} m, depth {depth}, {ev.num_picks} picks.")
    for name, value in (("magnitude", ev.magnitude), ("magnitudeType", ev.magnitude_type), ("depth_m", ev.depth_m),
                        ("x_m", ev.x_m), ("version", ev.version), ("status", ev.status)):
        if value is not None:
            p = sub(info, "parameter")
            sub(p, "valueName", name)
            sub(p, "value", value)
    area = sub(info, "area")
    sub(area, "areaDesc", f"around fiber {ev.fiber_id}")
    if ev.latitude is not None and ev.longitude is not None:
        sub(area, "circle", f"{ev.latitude:.4f},{ev.longitude:.4f} {radius_km:g}")
    return ET.tostring(root, encoding="unicode", xml_declaration=True)
