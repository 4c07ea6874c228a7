"""Live dashboard: one static page (vanilla JS + canvas) and the JSON feeds it polls.

Mount it in an app that has ``app.state.store`` (for :mod:`service.auth`)::

    from service import web
    app.include_router(web.router(lambda: app.state.store))

Routes
------
* ``GET /dashboard/`` (+ ``/dashboard/{name}`` for ``app.js``, ``style.css``): the
  page, public - list these in the app's public paths (it holds
  no data; the API key is typed in or passed as ``#key=...`` in the URL
  fragment, which browsers never send to the server).
* ``GET /api/v1/live/overview`` (read): vehicles, counts and mean speed per
  minute, speed histogram, recent earthquakes with their picks, picks in the
  window and the latest alerts, for ``window_s`` seconds before the newest
  data time (not the wall clock, so a replayed scene shows up).  ``site`` and
  ``fiber`` filter (``site`` matters on the cloud).
* ``GET /api/v1/live/waterfall`` (read): decimated DAS thumbnails of one
  fiber from the in-process ring (:mod:`service.web.waterfall`).
* ``POST /api/v1/live/waterfall`` (write): add a thumbnail from another
  process (same arguments as :func:`put_waterfall`).

Alerts stream over the app's own ``GET /api/v1/alerts/stream`` (SSE), which
the page reads with ``fetch`` so it can send ``X-API-Key``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from .waterfall import RING, WaterfallRing, put_waterfall

__all__ = ["STATIC_DIR", "RING", "WaterfallRing", "put_waterfall", "router", "overview"]

STATIC_DIR = Path(__file__).parent / "static"
_FILES = {"index.html": "text/html", "app.js": "text/javascript", "style.css": "text/css"}
SPEED_EDGES = list(range(0, 170, 10))  # km/h, 10 km/h bins (conventions §2)
_ID_PATTERN = r"^[^\x00-\x1f]*$"  # no control characters (PostgreSQL refuses NUL in text)
_MAX_VALUES = 2_000_000


def _ms(ns: int | None) -> float | None:
    return None if ns is None else ns / 1e6


def _scope_filter(site: str | None, fiber: str | None, conds: list[str] | None = None,
                  params: list[Any] | None = None) -> tuple[list[str], list[Any]]:
    """SQL conditions (and their parameters) restricting rows to one site and/or fiber, appended to ``conds``."""
    conds, params = list(conds or []), list(params or [])
    for column, value in (("site_id", site), ("fiber_id", fiber)):
        if value:
            conds.append(f"{column} = ?")
            params.append(value)
    return conds, params


def _latest_ns(store: Any, site: str | None, fiber: str | None, ring: WaterfallRing) -> int | None:
    conds, params = _scope_filter(site, fiber)
    w = (" WHERE " + " AND ".join(conds)) if conds else ""
    vals = [
        store.db.scalar(f"SELECT MAX(t_end_ns) FROM vehicles{w}", params),
        store.db.scalar(f"SELECT MAX(t_ns) FROM picks{w}", params),
        store.db.scalar(f"SELECT MAX(origin_ns) FROM events{w}", params),
        None if site else ring.latest_ns(fiber),
    ]
    vals = [int(v) for v in vals if v is not None]
    return max(vals) if vals else None


def _percentile(a: np.ndarray, q: float) -> float | None:
    return None if a.size == 0 else float(np.percentile(a, q))


def overview(store: Any, *, window_s: float = 600.0, site: str | None = None, fiber: str | None = None,
             end_ns: int | None = None, ring: WaterfallRing = RING, max_vehicles: int = 5000) -> dict[str, Any]:
    """Everything the dashboard draws, as one JSON-able dict (times in UNIX ms for the browser)."""
    site = site or None
    fiber = fiber or None
    if end_ns is None:
        end_ns = _latest_ns(store, site, fiber, ring)
    if end_ns is None:
        import time

        end_ns = time.time_ns()
    start_ns = end_ns - int(window_s * 1e9)
    conds, params = _scope_filter(site, fiber, ["t_ref_ns >= ?", "t_ref_ns <= ?"], [start_ns, end_ns])
    rows = store.db.fetchall(
        "SELECT site_id, t_start_ns, t_end_ns, t_ref_ns, direction, speed_kmh, doc FROM vehicles WHERE "
        + " AND ".join(conds) + " ORDER BY t_ref_ns DESC LIMIT ?",
        [*params, int(max_vehicles)],
    )
    vehicles = []
    for r in rows:
        d = json.loads(r["doc"])
        vehicles.append({
            "id": d["id"], "site_id": r["site_id"], "fiber_id": d["fiber_id"],
            "t_start_ms": _ms(int(r["t_start_ns"])), "t_end_ms": _ms(int(r["t_end_ns"])),
            "x_start_m": d.get("x_start_m"), "x_end_m": d.get("x_end_m"),
            "speed_kmh": float(r["speed_kmh"]), "direction": int(r["direction"]),
            "vehicle_class": d.get("vehicle_class"),
        })
    t_ref = np.array([int(r["t_ref_ns"]) for r in rows], np.int64)
    direc = np.array([int(r["direction"]) for r in rows], np.int64)
    speed = np.array([float(r["speed_kmh"]) for r in rows], float)

    # counts and mean speed per bin (1 min, or coarser for long windows: <= 60 bins)
    bin_s = max(60, int(np.ceil(window_s / 60 / 60)) * 60)
    nb = int(np.ceil(window_s / bin_s))
    edges_ns = end_ns - bin_s * 10**9 * np.arange(nb, -1, -1, dtype=np.int64)
    idx = np.clip(np.searchsorted(edges_ns, t_ref, side="right") - 1, 0, nb - 1)
    pos = np.bincount(idx[direc > 0], minlength=nb)[:nb]
    neg = np.bincount(idx[direc <= 0], minlength=nb)[:nb]
    ssum = np.bincount(idx, weights=speed, minlength=nb)[:nb]
    cnt = pos + neg
    mean_sp = [None if c == 0 else round(float(s / c), 2) for s, c in zip(ssum, cnt)]
    hist, _ = np.histogram(np.clip(speed, 0, SPEED_EDGES[-1] - 1e-9), bins=SPEED_EDGES)

    # seismic: latest events (any time) with their picks; picks inside the window
    ev_conds, ev_params = _scope_filter(site, fiber)
    ew = (" WHERE " + " AND ".join(ev_conds)) if ev_conds else ""
    ev_rows = store.db.fetchall(f"SELECT site_id, doc FROM events{ew} ORDER BY origin_ns DESC LIMIT 20", ev_params)
    events = []
    ev_ids = []  # (site_id, id): record ids are unique per site only
    for r in ev_rows:
        d = json.loads(r["doc"])
        ev_ids.append((r["site_id"], d["id"]))
        events.append({
            "id": d["id"], "site_id": r["site_id"], "time": d.get("time"),
            "magnitude": d.get("magnitude"),
            "depth_km": None if d.get("depth_m") is None else d["depth_m"] / 1000.0,
            "status": d.get("status"), "version": d.get("version"), "num_picks": d.get("num_picks"),
            "picks": [],
        })
    by_event: dict[tuple[str, str], list] = {e: [] for e in ev_ids}
    if ev_ids:
        ids = sorted({i for _, i in ev_ids})
        prow = store.db.fetchall(
            f"SELECT site_id, event_id, t_ns, doc FROM picks WHERE event_id IN ({', '.join('?' * len(ids))}) "
            "ORDER BY t_ns LIMIT 5000", ids,
        )
        for r in prow:
            if (r["site_id"], r["event_id"]) not in by_event:
                continue
            d = json.loads(r["doc"])
            by_event[(r["site_id"], r["event_id"])].append({
                "channel": d.get("channel"), "distance_m": d.get("distance_m"), "phase": d.get("phase"),
                "time": d.get("time"), "t_ms": _ms(int(r["t_ns"])), "score": d.get("score"),
            })
    for e in events:
        e["picks"] = by_event.get((e["site_id"], e["id"]), [])
    pconds, pparams = _scope_filter(site, fiber, ["t_ns >= ?", "t_ns <= ?"], [start_ns, end_ns])
    picks = [
        {"fiber_id": r["fiber_id"], "distance_m": json.loads(r["doc"]).get("distance_m"),
         "t_ms": _ms(int(r["t_ns"])), "phase": r["phase"], "event_id": r["event_id"]}
        for r in store.db.fetchall(
            "SELECT fiber_id, t_ns, phase, event_id, doc FROM picks WHERE " + " AND ".join(pconds)
            + " ORDER BY t_ns LIMIT 5000", pparams,
        )
    ]
    from service.alerts import alert_json  # same JSON as the SSE stream and webhooks

    alerts = []
    for r in store.db.fetchall(
        "SELECT seq, kind, ref_id, version, created_ns, doc, site_id FROM alerts"
        + (" WHERE site_id = ?" if site else "") + " ORDER BY seq DESC LIMIT 20", (site,) if site else (),
    ):
        r["doc"] = json.loads(r["doc"])
        alerts.append(alert_json(r))
    sites = [s["site_id"] for s in store.list_sites()]
    fibers = sorted({r["fiber_id"] for r in store.db.fetchall("SELECT DISTINCT fiber_id FROM vehicles")}
                    | set(ring.fibers()))
    return {
        "end_ms": _ms(end_ns), "start_ms": _ms(start_ns), "window_s": window_s, "site": site, "fiber": fiber,
        "sites": sites, "fibers": fibers,
        "vehicles": vehicles,
        "stats": {
            "total": int(cnt.sum()), "pos": int(pos.sum()), "neg": int(neg.sum()),
            "mean_speed_kmh": None if speed.size == 0 else float(speed.mean()),
            "p85_speed_kmh": _percentile(speed, 85),
        },
        "counts": {"bin_s": bin_s, "t_ms": [_ms(int(t)) for t in edges_ns[:-1]], "pos": pos.tolist(),
                   "neg": neg.tolist(), "mean_speed_kmh": mean_sp},
        "speed_hist": {"edges": SPEED_EDGES, "counts": hist.tolist()},
        "events": events,
        "picks": picks,
        "alerts": alerts,
    }


class WaterfallIn(BaseModel):
    """A DAS window for the live waterfall (``data`` is ``[time][distance]``)."""

    fiber: str = Field(min_length=1, max_length=200, pattern=_ID_PATTERN)
    t0_ns: int = Field(ge=0, le=2**62, description="UTC ns of the first row")
    dt_s: float = Field(ge=1e-6, le=3600, allow_inf_nan=False, description="row spacing, s")
    x0_m: float = Field(0.0, ge=-1e8, le=1e8, allow_inf_nan=False)
    dx_m: float = Field(gt=0, le=1e5, allow_inf_nan=False)
    data: list[list[float]] = Field(min_length=1, max_length=100_000, description="[time][distance], <= 2e6 values")


def router(get_store: Callable[[], Any], *, ring: WaterfallRing = RING, prefix: str = "") -> APIRouter:
    """The dashboard router: static page under ``/dashboard/`` and ``/api/v1/live/*`` feeds.

    Parameters
    ----------
    get_store
        Zero-argument callable returning the :class:`service.store.Store`.
    ring
        Waterfall ring buffer (the process-wide one by default).
    prefix
        Optional path prefix for all routes.
    """
    from service.auth import require_scope

    r = APIRouter(prefix=prefix, tags=["live"])
    read = [Depends(require_scope("read"))]

    @r.get("/dashboard/", include_in_schema=False)
    def dashboard_index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    @r.get("/dashboard/{name}", include_in_schema=False)
    def dashboard_file(name: str) -> FileResponse:
        if name not in _FILES:
            raise HTTPException(404, "not found")
        return FileResponse(STATIC_DIR / name, media_type=_FILES[name], headers={"Cache-Control": "no-cache"})

    @r.get("/api/v1/live/overview", dependencies=read, summary="Dashboard overview for a recent window")
    def live_overview(
        window_s: float = Query(600.0, gt=0, le=7 * 86400, description="window length before the newest data"),
        site: str | None = Query(None, max_length=200, pattern=_ID_PATTERN),
        fiber: str | None = Query(None, max_length=200, pattern=_ID_PATTERN),
    ) -> dict[str, Any]:
        return overview(get_store(), window_s=window_s, site=site, fiber=fiber, ring=ring)

    @r.get("/api/v1/live/waterfall", dependencies=read, summary="Decimated recent DAS window (uint8, base64)")
    def live_waterfall(
        window_s: float = Query(600.0, gt=0, le=86400),
        fiber: str | None = Query(None, max_length=200, pattern=_ID_PATTERN),
        site: str | None = Query(None, max_length=200, pattern=_ID_PATTERN),
    ) -> dict[str, Any]:
        fibers = ring.fibers()
        f = fiber or (fibers[0] if fibers else None)
        if f is None:
            return {"fiber": None, "fibers": fibers, "chunks": []}
        end = ring.latest_ns(f) or 0
        store = get_store()
        data_end = _latest_ns(store, site or None, f, ring)
        end = max(end, data_end or 0)
        chunks = ring.window(f, end - int(window_s * 1e9), end)
        return {"fiber": f, "fibers": fibers, "chunks": [c.to_json() for c in chunks]}

    @r.post("/api/v1/live/waterfall", dependencies=[Depends(require_scope("write"))], status_code=201,
            summary="Add a DAS window to the live waterfall")
    def post_waterfall(body: WaterfallIn) -> dict[str, Any]:
        rows = {len(row) for row in body.data}
        if len(rows) != 1 or 0 in rows:
            raise HTTPException(422, "data must be a non-empty rectangular [time][distance] array")
        if len(body.data) * next(iter(rows)) > _MAX_VALUES:
            raise HTTPException(413, f"at most {_MAX_VALUES} values per request; decimate first")
        arr = np.asarray(body.data, np.float32)
        x = body.x0_m + body.dx_m * np.arange(arr.shape[1])
        ch = ring.put(body.fiber, body.t0_ns, body.dt_s, x, arr)
        return {"fiber": ch.fiber, "t0_ns": ch.t0_ns, "nt": int(ch.pixels.shape[0]), "nx": int(ch.pixels.shape[1])}

    return r
