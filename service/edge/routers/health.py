"""Liveness, readiness, version, status and metrics.

Public (no key): ``/health``, ``/ready``, ``/api/v1/version``.  ``/metrics``
needs a read key unless ``settings.public_metrics``; ``/api/v1/status``
needs a read key.
"""

from __future__ import annotations

import shutil
import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

import dasedge
from dasedge.block import iso_utc
from service.auth import ReadKey
from service.edge.deps import AUTH_RESPONSES, get_store

router = APIRouter(tags=["health"])


@router.get("/health")
def health() -> dict:
    """Liveness: the process answers."""
    return {"status": "ok"}


def readiness(request: Request) -> tuple[bool, dict]:
    """Readiness checks: store, outbox, disk, pipeline heartbeats/partitions/model."""
    s = request.app.state.settings
    checks: dict[str, dict] = {}
    try:
        store = get_store(request)
        pending = store.outbox_pending()
        status = store.get_status()
        checks["store"] = {"ok": True}
    except Exception as exc:  # database unreachable
        return False, {"store": {"ok": False, "error": type(exc).__name__}}
    checks["outbox"] = {"ok": pending < s.outbox_ready_max, "pending": pending, "max": s.outbox_ready_max}
    try:
        du = shutil.disk_usage(s.disk_path)
        free_pct = 100.0 * du.free / du.total
        checks["disk"] = {"ok": du.free >= s.disk_min_free_bytes and free_pct >= s.disk_min_free_pct,
                          "free_bytes": du.free, "free_pct": round(free_pct, 2)}
    except OSError as exc:
        checks["disk"] = {"ok": False, "error": str(exc)}
    now = time.time_ns()
    by_comp = {r["component"]: r for r in status}
    for name in s.ready_components:
        if name not in by_comp:
            checks[f"component:{name}"] = {"ok": False, "error": "no heartbeat"}
    for name, r in by_comp.items():
        age = (now - r["heartbeat_ns"]) / 1e9
        det = r["detail"]
        ok = r["ok"] and age <= s.heartbeat_max_age_s
        c = {"ok": ok, "heartbeat_age_s": round(age, 3)}
        if "partitions_assigned" in det:
            c["partitions_assigned"] = det["partitions_assigned"]
            c["ok"] = c["ok"] and int(det["partitions_assigned"]) > 0
        if "model_loaded" in det:
            c["model_loaded"] = bool(det["model_loaded"])
            c["ok"] = c["ok"] and bool(det["model_loaded"])
        checks[f"component:{name}"] = c
    return all(c["ok"] for c in checks.values()), checks


@router.get("/ready", responses={503: {"description": "not ready (see checks)"}})
def ready(request: Request):
    """Readiness: partitions assigned, model loaded, outbox below threshold, disk free."""
    ok, checks = readiness(request)
    return JSONResponse({"ready": ok, "checks": checks}, status_code=200 if ok else 503)


@router.get("/api/v1/version")
def version(request: Request) -> dict:
    """Software and API version (public)."""
    return {"name": "dasedge", "version": dasedge.__version__, "api": "v1",
            "schema_version": get_store(request).schema_version()}


@router.get("/api/v1/status", responses=AUTH_RESPONSES)
def status(request: Request, _key: ReadKey) -> dict:
    """Pipelines (heartbeat, consumer lag, throughput, model version), outbox and last data time."""
    store = get_store(request)
    now = time.time_ns()
    comps = []
    for r in store.get_status():
        comps.append({
            "component": r["component"], "ok": r["ok"], "heartbeat": iso_utc(r["heartbeat_ns"]),
            "heartbeat_age_s": (now - r["heartbeat_ns"]) / 1e9,
            "last_data_time": None if r["last_data_ns"] is None else iso_utc(r["last_data_ns"]),
            "lag_s": r["lag_s"], "throughput": r["throughput"], "model_version": r["model_version"],
            "detail": r["detail"],
        })
    last = store.last_data_ns()
    ob = store.outbox_stats()
    ok, _ = readiness(request)
    return {
        "site_id": request.app.state.settings.site_id,
        "version": dasedge.__version__,
        "time": iso_utc(now),
        "ready": ok,
        "components": comps,
        "model_versions": sorted({c["model_version"] for c in comps if c["model_version"]}),
        "last_data_time": None if last is None else iso_utc(last),
        "outbox": {**ob, "oldest": None if ob["oldest_ns"] is None else iso_utc(ob["oldest_ns"])},
        "alerts_last_seq": store.last_alert_seq(),
        "sse_clients": request.app.state.broker.clients if getattr(request.app.state, "broker", None) else 0,
    }
