"""Local magnitude from DAS strain-rate amplitudes.

Scaling relation (form of Yin et al., 2023, "Earthquake magnitude with DAS:
a transferable data-based scaling relation", Geophys. Res. Lett. 50,
e2023GL103045, doi:10.1029/2023GL103045)::

    log10(E) = a * M + b * log10(D) + K

with ``E`` the peak |strain rate| (1/s) of the phase on one channel, ``D`` the
hypocentral distance in km, ``a``/``b`` per phase and ``K`` a site term.

Coefficients used here (``DEFAULT``): P ``a=0.437, b=-1.269``, S
``a=0.690, b=-1.588``.  **UNVERIFIED**: these are the values of Yin et al.
for strain rate *as recalled* when this module was written; they could not be
checked against the paper (not in /work/shared/reference, not found by a
literature search on 2026-11-25).  The site terms ``K_P=-6.56, K_S=-6.48``
are dasedge defaults chosen so that an M3 at 10 km gives about 3e-7 1/s (P)
and 1e-6 1/s (S).  Treat the whole relation as **site-calibrated**: before
operational use fit ``K`` per fiber from events with catalogue magnitudes
(:func:`calibrate_site_terms`, Yin et al. also fit one K per array) and put the
result in the site YAML (``magnitude_k``).  dasedge's synthetic scenes use
their own relation (``SYNTH_QUAKE``), so magnitude errors measured on them
test the inversion, not the relation.

Limits: calibrated for local events (D of ~5-150 km) and M ~1-5; units are
strain rate in 1/s (convert strain / phase first); amplitudes saturate for
large or near events (phase unwrapping errors, interrogator dynamic range), so
M > ~5 is underestimated; DAS axial sensitivity (angle of incidence,
radiation pattern) is not modelled and adds per-channel scatter, which the
median over channels reduces.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ScalingRelation:
    """``log10(E) = a*M + b*log10(D_km) + K`` per phase."""

    a: dict[str, float]
    b: dict[str, float]
    k: dict[str, float]
    name: str = "Mdas"

    def amplitude(self, magnitude: float | np.ndarray, dist_km: np.ndarray, phase: str) -> np.ndarray:
        """Predicted peak |strain rate| (1/s)."""
        d = np.maximum(np.asarray(dist_km, dtype=float), 0.1)
        return 10.0 ** (self.a[phase] * np.asarray(magnitude) + self.b[phase] * np.log10(d) + self.k[phase])

    def station_magnitudes(self, amp: np.ndarray, dist_km: np.ndarray, phase: np.ndarray) -> np.ndarray:
        """Per-pick magnitudes; ``phase`` is an array of ``"P"``/``"S"``."""
        amp = np.asarray(amp, dtype=float)
        d = np.log10(np.maximum(np.asarray(dist_km, dtype=float), 0.1))
        ph = np.asarray(phase)
        a = np.where(ph == "P", self.a["P"], self.a["S"])
        b = np.where(ph == "P", self.b["P"], self.b["S"])
        k = np.where(ph == "P", self.k["P"], self.k["S"])
        with np.errstate(divide="ignore", invalid="ignore"):
            return (np.log10(amp) - b * d - k) / a


DEFAULT = ScalingRelation(
    a={"P": 0.437, "S": 0.690},
    b={"P": -1.269, "S": -1.588},
    k={"P": -6.56, "S": -6.48},
)


#: Richter-style relation of dasedge's synthetic scenes (:mod:`dasedge.synth.quake`):
#: peak S strain rate ``3e-8 * 10**(M - 2) * (10 km / D)``, P = S / 1.5, i.e.
#: ``log10(E) = 1.0 * M - 1.0 * log10(D_km) + K`` with ``K_S = log10(3e-8) - 2 + 1``
#: (axial sensitivity 0.3 + ... and log-normal coupling are left as scatter).
#: Used to measure the magnitude *inversion* error on synthetic scenes.
SYNTH_QUAKE = ScalingRelation(
    a={"P": 1.0, "S": 1.0},
    b={"P": -1.0, "S": -1.0},
    k={"P": float(np.log10(3e-8) - 1.0 - np.log10(1.5)), "S": float(np.log10(3e-8) - 1.0)},
    name="Mdas",
)


def estimate_magnitude(amp: np.ndarray, dist_km: np.ndarray, phase: np.ndarray,
                       relation: ScalingRelation = DEFAULT) -> tuple[float | None, float | None]:
    """Event magnitude = median of per-pick magnitudes (positive finite amplitudes only).

    S picks are preferred when at least 5 exist (larger, better-calibrated
    amplitudes); otherwise all picks are used.

    Returns
    -------
    ``(magnitude, uncertainty)`` with the uncertainty = 1.4826 * MAD / sqrt(n),
    or ``(None, None)`` without usable amplitudes.
    """
    amp = np.asarray(amp, dtype=float)
    phase = np.asarray(phase)
    ok = np.isfinite(amp) & (amp > 0)
    if (ok & (phase == "S")).sum() >= 5:
        ok &= phase == "S"
    if not ok.any():
        return None, None
    m = relation.station_magnitudes(amp[ok], np.asarray(dist_km)[ok], phase[ok])
    m = m[np.isfinite(m)]
    if m.size == 0:
        return None, None
    med = float(np.median(m))
    mad = float(np.median(np.abs(m - med))) * 1.4826
    return round(med, 2), round(mad / np.sqrt(m.size), 3)


def calibrate_site_terms(amp: np.ndarray, dist_km: np.ndarray, phase: np.ndarray, catalogue_mag: np.ndarray,
                         relation: ScalingRelation = DEFAULT) -> tuple[ScalingRelation, dict[str, float]]:
    """Fit the site terms ``K`` per phase from picks of events with catalogue magnitudes.

    With ``a`` and ``b`` held fixed, every pick gives ``K = log10(E) - a*M - b*log10(D)``; the
    site term is the median over picks (robust to clipped or badly coupled channels), with the
    scatter 1.4826 * MAD / sqrt(n) as its uncertainty.  Phases without usable picks keep the
    relation's value.

    Parameters
    ----------
    amp, dist_km, phase
        Per pick: peak |strain rate| (1/s), hypocentral distance (km), ``"P"`` / ``"S"``.
    catalogue_mag
        Per pick: the catalogue magnitude of the pick's event.
    relation
        Relation whose ``a``, ``b`` are kept.

    Returns
    -------
    ``(relation with the fitted k, {phase: uncertainty of K})``
    """
    amp = np.asarray(amp, dtype=float)
    d = np.log10(np.maximum(np.asarray(dist_km, dtype=float), 0.1))
    ph = np.asarray(phase)
    m = np.asarray(catalogue_mag, dtype=float)
    k = dict(relation.k)
    unc: dict[str, float] = {}
    for p in ("P", "S"):
        ok = (ph == p) & np.isfinite(amp) & (amp > 0) & np.isfinite(m) & np.isfinite(d)
        if not ok.any():
            continue
        kk = np.log10(amp[ok]) - relation.a[p] * m[ok] - relation.b[p] * d[ok]
        med = float(np.median(kk))
        k[p] = med
        unc[p] = float(np.median(np.abs(kk - med)) * 1.4826 / np.sqrt(kk.size))
    from dataclasses import replace

    return replace(relation, k=k), unc
