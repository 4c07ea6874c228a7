"""Channel coordinates for association: channels are stations.

* Straight fiber (default): ``x`` = distance along the fiber, ``y = z = 0``.
  Only ``x`` and the perpendicular hypocentral distance ``rho = sqrt(y^2+z^2)``
  are then resolvable: a source at ``(x, +y, z)`` gives the same arrival times
  as ``(x, -y, z)`` (left/right ambiguity) and as any ``(x, y', z')`` with the
  same ``rho``.  The associator reports ``rho`` as ``depth_m`` and ``y_m=None``
  for a straight fiber (i.e. epicentre assumed on the fiber line).
* Geometry file: CSV with header ``channel,longitude,latitude[,elevation_m]``
  projected to a local azimuthal-equidistant plane (pyproj ``aeqd``) centred
  on the mean position; ``z = -elevation`` (km, positive down, as GaMMA).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class FiberGeometry:
    """Per-channel station coordinates in km (``x, y, z`` with ``z`` positive down)."""

    channel: np.ndarray  # source channel index
    xyz_km: np.ndarray  # [n, 3]
    lon0: float | None = None
    lat0: float | None = None

    @property
    def collinear(self) -> bool:
        """True if all channels lie on one straight line (then only x and rho are resolvable)."""
        p = self.xyz_km - self.xyz_km.mean(axis=0)
        if len(p) < 3:
            return True
        s = np.linalg.svd(p, compute_uv=False)
        return bool(s[1] <= 1e-3 * max(s[0], 1e-12))

    def lookup(self, channels: np.ndarray) -> np.ndarray:
        """Coordinates ``[n, 3]`` of the given source channels (NaN if unknown)."""
        order = np.argsort(self.channel)
        ch = np.asarray(channels)
        pos = np.searchsorted(self.channel[order], ch)
        pos = np.clip(pos, 0, len(order) - 1)
        idx = order[pos]
        ok = self.channel[idx] == ch
        out = np.full((len(ch), 3), np.nan)
        out[ok] = self.xyz_km[idx[ok]]
        return out

    def to_lonlat(self, x_km: float, y_km: float) -> tuple[float | None, float | None]:
        """Inverse projection of a local point (None for a straight fiber without coordinates)."""
        if self.lon0 is None or self.lat0 is None:
            return None, None
        from pyproj import Transformer

        tr = Transformer.from_crs(_aeqd(self.lon0, self.lat0), "EPSG:4326", always_xy=True)
        lon, lat = tr.transform(x_km * 1000.0, y_km * 1000.0)
        return float(lon), float(lat)


def _aeqd(lon0: float, lat0: float) -> str:
    return f"+proj=aeqd +lon_0={lon0} +lat_0={lat0} +datum=WGS84 +units=m"


def straight(channels: np.ndarray, distance_m: np.ndarray) -> FiberGeometry:
    """Straight fiber along x."""
    d = np.asarray(distance_m, dtype=float) / 1000.0
    return FiberGeometry(np.asarray(channels, dtype=np.int64), np.column_stack([d, np.zeros_like(d), np.zeros_like(d)]))


def from_lonlat(channels: np.ndarray, lon: np.ndarray, lat: np.ndarray, elevation_m: np.ndarray | None = None) -> FiberGeometry:
    """Project channel coordinates to a local aeqd plane centred on their mean."""
    from pyproj import Transformer

    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    lon0, lat0 = float(np.mean(lon)), float(np.mean(lat))
    tr = Transformer.from_crs("EPSG:4326", _aeqd(lon0, lat0), always_xy=True)
    x, y = tr.transform(lon, lat)
    z = -(np.asarray(elevation_m, dtype=float) if elevation_m is not None else np.zeros_like(lon)) / 1000.0
    return FiberGeometry(np.asarray(channels, dtype=np.int64), np.column_stack([np.asarray(x) / 1000.0, np.asarray(y) / 1000.0, z]), lon0, lat0)


def read_geometry(path: str | Path) -> FiberGeometry:
    """Read ``channel,longitude,latitude[,elevation_m]`` CSV (``#`` comments allowed)."""
    path = Path(path)
    with path.open(newline="") as fh:
        rows = [r for r in csv.DictReader(line for line in fh if not line.startswith("#"))]
    if not rows or not {"channel", "longitude", "latitude"} <= set(rows[0]):
        raise ValueError(f"{path}: geometry CSV needs columns channel, longitude, latitude[, elevation_m]")
    ch = np.array([int(r["channel"]) for r in rows])
    lon = np.array([float(r["longitude"]) for r in rows])
    lat = np.array([float(r["latitude"]) for r in rows])
    elev = np.array([float(r.get("elevation_m") or 0.0) for r in rows])
    return from_lonlat(ch, lon, lat, elev)
