"""Alert fan-out: Server-Sent Events broker and signed webhook deliveries.

Alerts are rows of the store's ``alerts`` table (one per new or advanced
seismic event version, written in the same transaction as the event).  Their
``seq`` is the SSE ``id:`` so a client resumes with ``Last-Event-ID``.

Webhooks
--------
A subscription (``url``, ``filters``, ``format`` json|cap, ``secret``)
receives every alert created after it that matches its filters
(``min_magnitude``, ``max_depth_km``, ``status`` list, ``kinds`` list).
:class:`WebhookDispatcher` fans alerts out to ``deliveries`` rows (durable
state: pending -> delivered | failed | cancelled) and POSTs them:

* headers ``X-Dasedge-Signature: t=<unix s>,v1=<hex>`` with
  ``hex = HMAC-SHA256(secret, f"{t}.{body}")``, ``Idempotency-Key:
  <subscription>:<seq>``, ``X-Dasedge-Event: <kind>``;
* 2xx = delivered; anything else (or a network error) is retried with
  exponential backoff ``min(backoff_s * 2**(attempt-1), backoff_max_s)`` up
  to ``max_attempts`` attempts, then ``failed``.

Receivers verify with :func:`verify_signature` (reject stale ``t`` to stop
replays).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import threading
import time
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from typing import Any, AsyncIterator

import httpx

log = logging.getLogger(__name__)

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
SENDER = "dasedge@localhost"


# --------------------------------------------------------------------------- signing
def sign(secret: str, body: bytes, ts: int | None = None) -> str:
    """``X-Dasedge-Signature`` value for ``body``: ``t=<ts>,v1=<hex hmac-sha256(secret, ts.body)>``."""
    ts = int(time.time()) if ts is None else int(ts)
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def verify_signature(secret: str, body: bytes, header: str, *, tolerance_s: float = 300.0,
                     now: float | None = None) -> bool:
    """Check a ``X-Dasedge-Signature`` header (constant-time; rejects stale timestamps)."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        ts = int(parts["t"])
        got = parts["v1"]
    except (ValueError, KeyError):
        return False
    now = time.time() if now is None else now
    if abs(now - ts) > tolerance_s:
        return False
    want = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(want, got)


# --------------------------------------------------------------------------- bodies
def _cap_time(ns: int) -> str:
    """CAP dateTime: ``YYYY-MM-DDThh:mm:ss+00:00`` (no ``Z``, no fraction)."""
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).replace(microsecond=0).isoformat()


def message_type(alert: dict) -> str:
    """``new`` for version 1, ``final`` for a final status, else ``update``."""
    doc = alert["doc"]
    if doc.get("status") == "final":
        return "final"
    return "new" if int(alert["version"]) <= 1 else "update"


def alert_site(alert: dict) -> str:
    """Originating site of an alert (``''`` on an edge box)."""
    return alert.get("site_id") or (alert.get("doc") or {}).get("site_id") or ""


def alert_json(alert: dict) -> dict[str, Any]:
    """JSON body of an alert (webhooks and SSE ``data:``); ``id`` is ``<site>/<id>`` on the cloud."""
    site = alert_site(alert)
    return {
        "type": "dasedge.alert",
        "seq": int(alert["seq"]),
        "kind": alert["kind"],
        "id": f"{site}/{alert['ref_id']}" if site else alert["ref_id"],
        "site_id": site,
        "version": int(alert["version"]),
        "message_type": message_type(alert),
        "sent": _cap_time(int(alert["created_ns"])),
        "event": alert["doc"],
    }


def _severity(mag: float | None) -> str:
    if mag is None:
        return "Unknown"
    if mag < 4.0:
        return "Minor"
    if mag < 5.0:
        return "Moderate"
    if mag < 6.5:
        return "Severe"
    return "Extreme"


def cap_identifier(ref_id: str, version: int, site: str = "") -> str:
    """CAP ``identifier``; includes the site on the cloud (record ids are unique per site only)."""
    return f"dasedge-{site}-{ref_id}-v{int(version)}" if site else f"dasedge-{ref_id}-v{int(version)}"


def alert_cap(alert: dict, previous: list[dict] | None = None, *, sender: str = SENDER) -> bytes:
    """CAP 1.2 XML for an event alert; ``previous`` alerts of the same event become ``references``."""
    doc = alert["doc"]
    ET.register_namespace("", CAP_NS)
    q = lambda tag: f"{{{CAP_NS}}}{tag}"  # noqa: E731
    root = ET.Element(q("alert"))

    def sub(parent, tag, text):
        el = ET.SubElement(parent, q(tag))
        el.text = str(text)
        return el

    site = alert_site(alert)
    sub(root, "identifier", cap_identifier(alert["ref_id"], alert["version"], site))
    sub(root, "sender", sender)
    sub(root, "sent", _cap_time(int(alert["created_ns"])))
    sub(root, "status", "Actual")
    sub(root, "msgType", "Alert" if not previous else "Update")
    sub(root, "scope", "Public")
    if previous:
        refs = " ".join(
            f"{sender},{cap_identifier(p['ref_id'], p['version'], site)},{_cap_time(int(p['created_ns']))}"
            for p in previous
        )
        sub(root, "references", refs)
    info = ET.SubElement(root, q("info"))
    sub(info, "category", "Geo")
    sub(info, "event", "Earthquake")
    sub(info, "urgency", "Immediate")
    mag = doc.get("magnitude")
    sub(info, "severity", _severity(mag))
    sub(info, "certainty", "Observed" if doc.get("status") == "final" else "Likely")
    sub(info, "onset", doc["time"][:19] + "+00:00")
    mtxt = "unknown magnitude" if mag is None else f"M{mag:.1f}"
    sub(info, "headline", f"Earthquake {mtxt} detected by DAS fiber {doc.get('fiber_id', '')}")
    depth = doc.get("depth_m")
    sub(info, "description",
        f"Automatic detection, version {alert['version']} ({doc.get('status', 'new')}); origin {doc['time']}; "
        f"depth {'unknown' if depth is None else f'{depth / 1000:.1f} km'}; {doc.get('num_picks', 0)} picks.")
    for name, value in (("magnitude", mag), ("magnitudeType", doc.get("magnitude_type")),
                        ("depthKm", None if depth is None else round(depth / 1000, 3)),
                        ("eventId", f"{site}/{alert['ref_id']}" if site else alert["ref_id"]),
                        ("version", alert["version"])):
        if value is not None:
            p = ET.SubElement(info, q("parameter"))
            sub(p, "valueName", name)
            sub(p, "value", value)
    area = ET.SubElement(info, q("area"))
    sub(area, "areaDesc", f"around fiber {doc.get('fiber_id', '')}")
    lat, lon = doc.get("latitude"), doc.get("longitude")
    if lat is not None and lon is not None:
        unc = doc.get("location_uncertainty_m")
        radius_km = max(10.0, (unc or 0) / 1000.0)
        sub(area, "circle", f"{lat:.5f},{lon:.5f} {radius_km:.1f}")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def matches(subscription: dict, alert: dict) -> bool:
    """Apply a subscription's filters to an alert."""
    f = subscription.get("filters") or {}
    doc = alert["doc"]
    if f.get("site") and alert_site(alert) != f["site"]:
        return False
    if f.get("kinds") and alert["kind"] not in f["kinds"]:
        return False
    if f.get("status") and doc.get("status") not in f["status"]:
        return False
    if f.get("min_magnitude") is not None:
        m = doc.get("magnitude")
        if m is None or m < float(f["min_magnitude"]):
            return False
    if f.get("max_depth_km") is not None:
        d = doc.get("depth_m")
        if d is None or d / 1000.0 > float(f["max_depth_km"]):
            return False
    return True


# --------------------------------------------------------------------------- SSE broker
class AlertBroker:
    """Polls the store for new alerts once and fans them out to SSE clients.

    Pipelines write alerts from other processes, so the broker polls
    (``poll_s``) rather than relying on in-process notifications.
    """

    def __init__(self, store, *, poll_s: float = 0.25):
        self.store = store
        self.poll_s = poll_s
        self._queues: set[asyncio.Queue] = set()
        self._task: asyncio.Task | None = None
        self._closed = asyncio.Event()
        self.last_seq = 0

    @property
    def clients(self) -> int:
        return len(self._queues)

    async def start(self) -> None:
        self.last_seq = await asyncio.to_thread(self.store.last_alert_seq)
        self._task = asyncio.create_task(self._run(), name="alert-broker")

    async def stop(self) -> None:
        self._closed.set()
        for q in list(self._queues):
            q.put_nowait(None)
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass

    async def _run(self) -> None:
        while not self._closed.is_set():
            try:
                rows = await asyncio.to_thread(self.store.alerts_after, self.last_seq, 500)
            except Exception:  # pragma: no cover - transient DB error
                log.exception("alert broker poll failed")
                rows = []
            for r in rows:
                self.last_seq = max(self.last_seq, int(r["seq"]))
                for q in list(self._queues):
                    q.put_nowait(r)
            if len(rows) < 500:
                try:
                    await asyncio.wait_for(self._closed.wait(), self.poll_s)
                except asyncio.TimeoutError:
                    pass

    async def stream(self, last_id: int | None, *, keepalive_s: float = 15.0,
                     site: str | None = None) -> AsyncIterator[dict | None]:
        """Yield alerts after ``last_id`` (replayed from the store), then live ones.

        ``site`` keeps only that site's alerts (cloud).  ``last_id=None`` starts
        with live alerts only.  Yields ``None`` once
        right after subscribing (every alert created after that is
        delivered), then as a keep-alive tick every ``keepalive_s`` without alerts.
        """
        q: asyncio.Queue = asyncio.Queue()
        self._queues.add(q)
        try:
            sent = self.last_seq if last_id is None else int(last_id)
            yield None
            while True:  # replay (pages) until caught up with the store
                rows = await asyncio.to_thread(self.store.alerts_after, sent, 500, site_id=site)
                for r in rows:
                    sent = int(r["seq"])
                    yield r
                if len(rows) < 500:
                    break
            while not self._closed.is_set():
                try:
                    r = await asyncio.wait_for(q.get(), keepalive_s)
                except asyncio.TimeoutError:
                    yield None
                    continue
                if r is None:
                    return
                if int(r["seq"]) > sent:
                    sent = int(r["seq"])
                    if site is None or alert_site(r) == site:
                        yield r
        finally:
            self._queues.discard(q)


def sse_format(alert: dict) -> bytes:
    """One SSE message for an alert (``id`` = alert seq)."""
    data = json.dumps(alert_json(alert), separators=(",", ":"))
    return f"id: {int(alert['seq'])}\nevent: {alert['kind']}\ndata: {data}\n\n".encode()


# --------------------------------------------------------------------------- webhooks
class WebhookDispatcher:
    """Durable webhook delivery loop (a background thread)."""

    def __init__(self, store, *, max_attempts: int = 6, backoff_s: float = 1.0, backoff_max_s: float = 300.0,
                 timeout_s: float = 5.0, poll_s: float = 0.5, sender: str = SENDER):
        self.store = store
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.poll_s = poll_s
        self.sender = sender
        self.timeout_s = timeout_s
        self.batch = 20
        self._client = httpx.Client(timeout=timeout_s, follow_redirects=False)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.delivered = 0
        self.failed_attempts = 0

    @classmethod
    def from_settings(cls, store, settings) -> "WebhookDispatcher":
        return cls(store, max_attempts=settings.webhook_max_attempts, backoff_s=settings.webhook_backoff_s,
                   backoff_max_s=settings.webhook_backoff_max_s, timeout_s=settings.webhook_timeout_s,
                   poll_s=settings.dispatcher_poll_s, sender=f"dasedge@{settings.site_id}")

    def body(self, row: dict) -> tuple[bytes, str]:
        alert = {k: row[k] for k in ("kind", "ref_id", "version", "created_ns", "doc")} | {
            "seq": row["alert_seq"], "site_id": row.get("site_id") or ""}
        if row["format"] == "cap":
            prev = [a for a in self.store.alerts_for(row["ref_id"], site_id=alert["site_id"])
                    if int(a["seq"]) < int(row["alert_seq"])]
            return alert_cap(alert, prev, sender=self.sender), "application/cap+xml"
        return json.dumps(alert_json(alert), separators=(",", ":")).encode(), "application/json"

    def backoff(self, attempts: int) -> float:
        return min(self.backoff_s * 2 ** max(attempts - 1, 0), self.backoff_max_s)

    def deliver(self, row: dict) -> bool:
        body, ctype = self.body(row)
        headers = {
            "Content-Type": ctype,
            "X-Dasedge-Signature": sign(row["secret"], body),
            "Idempotency-Key": f"{row['subscription_id']}:{row['alert_seq']}",
            "X-Dasedge-Event": row["kind"],
            "User-Agent": "dasedge-webhook/1",
        }
        attempts = int(row["attempts"]) + 1
        status = None
        err = None
        try:
            resp = self._client.post(row["url"], content=body, headers=headers)
            status = resp.status_code
            ok = 200 <= status < 300
            if not ok:
                err = f"HTTP {status}"
        except httpx.HTTPError as exc:
            ok = False
            err = f"{type(exc).__name__}: {exc}"[:300]
        now = time.time_ns()
        if ok:
            self.store.update_delivery(row["id"], status="delivered", attempts=attempts, next_attempt_ns=now,
                                       last_status=status)
            self.delivered += 1
        else:
            self.failed_attempts += 1
            final = attempts >= self.max_attempts
            self.store.update_delivery(
                row["id"], status="failed" if final else "pending", attempts=attempts,
                next_attempt_ns=now + int(self.backoff(attempts) * 1e9), last_status=status, last_error=err,
            )
            log.info("webhook %s alert %s attempt %d failed: %s", row["subscription_id"], row["alert_seq"], attempts, err)
        return ok

    def run_once(self) -> int:
        """Fan out new alerts and attempt a batch of due deliveries; returns attempts made.

        Due deliveries are claimed with a lease longer than the batch can take, so
        dispatchers in several processes (uvicorn ``--workers``) share the work
        without attempting one delivery twice.
        """
        self.store.enqueue_deliveries(matches)
        due = self.store.due_deliveries(limit=self.batch, lease_s=self.batch * (self.timeout_s + 1) + 30)
        for row in due:
            self.deliver(row)
        return len(due)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                n = self.run_once()
            except Exception:  # pragma: no cover - keep the loop alive
                log.exception("webhook dispatcher iteration failed")
                n = 0
            if n < self.batch:
                self._stop.wait(self.poll_s)

    def start(self) -> "WebhookDispatcher":
        self._thread = threading.Thread(target=self._loop, name="webhook-dispatcher", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._client.close()
