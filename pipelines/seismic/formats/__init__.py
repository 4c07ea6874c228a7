"""Output formats of the seismic pipeline: QuakeML, FDSN text, NEIC-style JSON, CAP 1.2."""

from .cap import render_cap
from .fdsn_text import write_fdsn_text
from .json_neic import detection_message, pick_message
from .quakeml import station_code, to_catalog, write_quakeml

__all__ = ["render_cap", "write_fdsn_text", "detection_message", "pick_message", "station_code", "to_catalog", "write_quakeml"]
