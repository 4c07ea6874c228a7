"""Store-and-forward pusher: edge outbox -> cloud ``POST /api/v1/ingest``.

The edge store writes every result record *and* an outbox row in one
transaction (``service.store``).  This module drains that durable outbox to
the cloud with at-least-once delivery; the cloud deduplicates by the
per-item ``idempotency_key`` (unique column), so the end-to-end effect is
*nothing lost, nothing duplicated*.

Loop (one thread, see :meth:`Pusher.run`)::

    claim(batch) -> POST {edge_id, items:[{idempotency_key, kind, record}]}
        2xx            -> ack(ids)        (rows leave the outbox)
        error/timeout/
        5xx/4xx        -> nack(ids), sleep backoff(attempt) and retry
                          (at least ``Retry-After`` seconds when the cloud sends it, capped)
        413            -> also halve the batch size (floor 1)

* Backoff is exponential with *full jitter*:
  ``delay = uniform(0, min(max_s, initial_s * 2**attempt))`` (so many edges
  coming back after a cloud outage do not retry in lock-step), reset after
  the first success.
* A batch that the cloud stored but whose response was lost (connection
  dropped after commit, timeout) is nacked and sent again; the cloud answers
  2xx and counts the items as duplicates.
* A crash between claim and ack leaves the rows claimed; the store hands them
  out again after its claim lease expires (or on restart), so nothing is lost.
* 4xx other than 413 (bad key, unknown edge, malformed record) are not
  dropped either: they are retried with the capped backoff and logged,
  because losing data on a misconfiguration is worse than a growing outbox.

Bounded disk use (the store's outbox policy, ``service.store.store``; tested
end to end in ``tests/service_cloud/test_pusher.py``): the outbox holds at
most ``outbox_max_rows`` rows (``DASEDGE_OUTBOX_MAX_ROWS``, default 200 000).
When a write pushes it over the bound, the oldest rows of the lowest priority
are deleted first - picks and modal frequencies, then traffic events and
interval statistics - and counted in ``outbox_dropped``
(``dasedge_outbox_dropped_total``); those records stay in the edge store,
they just are not forwarded.  Vehicles and seismic events are never dropped
and writes are never refused: during a very long outage the outbox grows
past the bound with those rows only and ``/ready`` turns not-ready
(``outbox_ready_max``).

When the store has ``heartbeat`` the pusher reports as component
``pusher`` in the status table at most every ``heartbeat_s`` (detail:
``items_acked``, ``failures``, ``consecutive_failures``, ``last_error``,
``cloud_reachable``).

The HTTP request carries the edge key in ``X-API-Key`` and a batch-level
``Idempotency-Key`` header (sha256 of the item keys) as suggested by the IETF
httpapi draft; the per-item keys in the body are what the cloud dedups on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

log = logging.getLogger(__name__)

INGEST_PATH = "/api/v1/ingest"


class Outbox(Protocol):
    """What the pusher needs from the store (``service.store.Store`` provides it)."""

    def claim(self, batch: int, *, lease_s: float) -> list[Any]: ...  # pragma: no cover

    def ack(self, ids: list[Any]) -> None: ...  # pragma: no cover

    def nack(self, ids: list[Any]) -> None: ...  # pragma: no cover


class PushError(RuntimeError):
    """A batch could not be delivered (transport error or non-2xx status)."""

    def __init__(self, message: str, status: int | None = None, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s


def _retry_after(resp: httpx.Response) -> float | None:
    """Seconds from a ``Retry-After: <seconds>`` header (HTTP-date form ignored)."""
    v = resp.headers.get("retry-after")
    if v is None:
        return None
    try:
        return max(0.0, float(v))
    except ValueError:
        return None


def _field(item: Any, *names: str) -> Any:
    for n in names:
        if isinstance(item, dict):
            if n in item:
                return item[n]
        elif hasattr(item, n):
            return getattr(item, n)
    raise KeyError(f"outbox item has none of {names}: {item!r}")


def item_to_wire(item: Any) -> tuple[Any, dict[str, Any]]:
    """Return ``(outbox_id, {"idempotency_key", "kind", "record"})`` for one outbox row.

    Accepts a mapping or an object with ``seq`` (or ``id``), ``key``,
    ``kind`` and ``payload`` (``{kind, key, record}`` as written by
    ``service.store``, a dict or JSON text) or ``record``.
    """
    oid = _field(item, "seq", "id", "outbox_id")
    key = _field(item, "idempotency_key", "key")
    kind = _field(item, "kind")
    rec = _field(item, "record", "payload")
    if isinstance(rec, (str, bytes)):
        rec = json.loads(rec)
    if isinstance(rec, dict) and "record" in rec and "kind" in rec:  # service.store payload {kind, key, record}
        rec = rec["record"]
    return oid, {"idempotency_key": idempotency_key(str(kind), str(key), rec), "kind": str(kind), "record": rec}


def idempotency_key(kind: str, key: str, record: Any) -> str:
    """``<kind>:<record key>:<content digest>``.

    The same record content always gets the same key (a re-sent batch is
    recognised as a duplicate at the cloud); a changed record (e.g. a
    vehicle re-classified, an event at a new version) gets a new key, so the
    update is applied - the cloud's upserts by record id keep one row.
    """
    digest = hashlib.sha256(json.dumps(record, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]
    return f"{kind}:{key}:{digest}"


def batch_key(items: list[dict[str, Any]]) -> str:
    """Deterministic batch id (sha256 over the item keys), for the ``Idempotency-Key`` header."""
    h = hashlib.sha256()
    for it in items:
        h.update(it["idempotency_key"].encode())
        h.update(b"\n")
    return h.hexdigest()[:32]


def backoff_delay(attempt: int, initial_s: float, max_s: float, rng: random.Random) -> float:
    """Full-jitter exponential backoff: ``uniform(0, min(max_s, initial_s * 2**attempt))``."""
    cap = min(max_s, initial_s * (2.0 ** min(attempt, 30)))
    return rng.uniform(0.0, cap)


@dataclass
class PushStats:
    """Counters exposed for ``/api/v1/status`` and metrics."""

    batches_ok: int = 0
    items_acked: int = 0
    duplicates_reported: int = 0
    failures: int = 0
    consecutive_failures: int = 0
    last_error: str | None = None
    last_success_unix: float | None = None
    status_counts: dict[int, int] = field(default_factory=dict)
    backoffs_s: list[float] = field(default_factory=list)  # the last 100 retry delays chosen


class Pusher:
    """Drain an outbox to a cloud ingest endpoint.

    Parameters
    ----------
    outbox
        Object with ``claim(limit)``, ``ack(ids)``, ``nack(ids)`` (the edge store).
    cloud_url
        Base URL of the cloud API, e.g. ``https://cloud.example/`` (``/api/v1/ingest`` is appended).
    api_key
        The edge's write key for the cloud (sent as ``X-API-Key``; never logged).
    edge_id
        This edge's id; the cloud checks that the key is bound to it.
    batch_size
        Maximum outbox rows per request.
    timeout_s
        Per-request timeout (connect, read, write).
    backoff_initial_s, backoff_max_s
        Exponential backoff parameters (full jitter).
    idle_poll_s
        Sleep when the outbox is empty.
    lease_s
        Claim lease: how long a claimed batch is hidden from other claimers
        (a crashed pusher's batch reappears after it); default ``max(30, 3 * timeout_s)``.
    """

    def __init__(
        self,
        outbox: Outbox,
        cloud_url: str,
        api_key: str,
        edge_id: str,
        *,
        batch_size: int = 500,
        timeout_s: float = 10.0,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 60.0,
        idle_poll_s: float = 1.0,
        lease_s: float | None = None,
        client: httpx.Client | None = None,
        seed: int | None = None,
    ) -> None:
        self.outbox = outbox
        self.url = cloud_url.rstrip("/") + INGEST_PATH
        self._api_key = api_key
        self.edge_id = edge_id
        self.batch_size = max(1, int(batch_size))
        self.timeout_s = timeout_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.idle_poll_s = idle_poll_s
        # a claimed batch stays invisible to other claimers for lease_s; it must outlive one request
        self.lease_s = float(lease_s) if lease_s is not None else max(30.0, 3.0 * timeout_s)
        self._client = client or httpx.Client(timeout=httpx.Timeout(timeout_s))
        self._own_client = client is None
        self._rng = random.Random(seed)
        self.stats = PushStats()
        self.heartbeat_s = 5.0
        self._last_hb = -1e9
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- one step -------------------------------------------------------
    def push_once(self) -> int:
        """Claim one batch and deliver it; return the number of rows acked (0 if the outbox is empty).

        Raises
        ------
        PushError
            The batch was not confirmed (it has been nacked and will be retried).
        """
        rows = self.outbox.claim(self.batch_size, lease_s=self.lease_s)
        if not rows:
            return 0
        ids: list[Any] = []
        items: list[dict[str, Any]] = []
        for r in rows:
            oid, wire = item_to_wire(r)
            ids.append(oid)
            items.append(wire)
        body = {"edge_id": self.edge_id, "items": items}
        headers = {
            "X-API-Key": self._api_key,
            "Idempotency-Key": batch_key(items),
            "Content-Type": "application/json",
        }
        try:
            resp = self._client.post(self.url, content=json.dumps(body, separators=(",", ":")), headers=headers)
        except httpx.HTTPError as exc:
            self.outbox.nack(ids)
            raise PushError(f"{type(exc).__name__}: {exc}") from exc
        except BaseException:
            self.outbox.nack(ids)
            raise
        self.stats.status_counts[resp.status_code] = self.stats.status_counts.get(resp.status_code, 0) + 1
        if 200 <= resp.status_code < 300:
            self.outbox.ack(ids)
            try:
                self.stats.duplicates_reported += int(resp.json().get("duplicates", 0))
            except (ValueError, AttributeError, TypeError):
                pass
            self.stats.batches_ok += 1
            self.stats.items_acked += len(ids)
            self.stats.consecutive_failures = 0
            self.stats.last_success_unix = time.time()
            return len(ids)
        self.outbox.nack(ids)
        if resp.status_code == 413 and self.batch_size > 1:
            self.batch_size = max(1, self.batch_size // 2)
        raise PushError(f"cloud answered HTTP {resp.status_code}: {resp.text[:200]}", resp.status_code,
                        _retry_after(resp))

    # -- loop -----------------------------------------------------------
    def drain(self, *, max_seconds: float | None = None) -> int:
        """Push until the outbox is empty (retrying with backoff); return rows acked.

        Stops early when :meth:`stop` is called or ``max_seconds`` elapse.
        """
        t_end = None if max_seconds is None else time.monotonic() + max_seconds
        total = 0
        attempt = 0
        while not self._stop.is_set():
            if t_end is not None and time.monotonic() >= t_end:
                break
            try:
                n = self.push_once()
            except PushError as exc:
                self._record_failure(exc)
                self._heartbeat()
                delay = backoff_delay(attempt, self.backoff_initial_s, self.backoff_max_s, self._rng)
                if exc.retry_after_s is not None:  # 429/503 with Retry-After: honour it (capped)
                    delay = max(delay, min(exc.retry_after_s, self.backoff_max_s))
                self.stats.backoffs_s.append(delay)
                del self.stats.backoffs_s[:-100]
                attempt += 1
                if t_end is not None:
                    delay = min(delay, max(0.0, t_end - time.monotonic()))
                self._stop.wait(delay)
                continue
            attempt = 0
            if n == 0:
                break
            total += n
        return total

    def run(self) -> None:
        """Loop forever (until :meth:`stop`): drain, then poll the outbox every ``idle_poll_s``."""
        while not self._stop.is_set():
            try:
                self.drain()
            except Exception:  # store errors must not kill the thread
                log.exception("pusher loop error")
                self._stop.wait(self.backoff_max_s / 4)
            self._heartbeat()
            self._stop.wait(self.idle_poll_s)
        self._heartbeat(force=True)

    def start(self) -> threading.Thread:
        """Run :meth:`run` in a daemon thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="dasedge-pusher", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loop (an in-flight request finishes or times out) and close the client."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._own_client:
            self._client.close()

    def _heartbeat(self, force: bool = False) -> None:
        hb = getattr(self.outbox, "heartbeat", None)
        now = time.monotonic()
        if hb is None or (not force and now - self._last_hb < self.heartbeat_s):
            return
        self._last_hb = now
        st = self.stats
        try:
            hb("pusher", ok=True, detail={
                "items_acked": st.items_acked, "batches_ok": st.batches_ok, "failures": st.failures,
                "consecutive_failures": st.consecutive_failures, "last_error": st.last_error,
                "cloud_reachable": st.consecutive_failures == 0, "duplicates_reported": st.duplicates_reported,
            })
        except Exception:  # the status table is best effort
            log.debug("pusher heartbeat failed", exc_info=True)

    def _record_failure(self, exc: PushError) -> None:
        self.stats.failures += 1
        self.stats.consecutive_failures += 1
        self.stats.last_error = str(exc)
        lvl = logging.WARNING if self.stats.consecutive_failures in (1, 10, 100) else logging.DEBUG
        log.log(lvl, "push to %s failed (%d in a row): %s", self.url, self.stats.consecutive_failures, exc)


def pusher_from_settings(store: Outbox, settings: Any) -> Pusher | None:
    """Build a :class:`Pusher` from ``service.settings.Settings`` or return None if no cloud is configured.

    Looks for ``cloud_url``, ``edge_id`` and the edge key (``cloud_api_key``
    / ``edge_key``, a ``SecretStr`` or str) on the settings object.
    """
    url = getattr(settings, "cloud_url", None)
    if not url:
        return None
    key = None
    for name in ("cloud_api_key", "cloud_key", "edge_key", "edge_api_key"):
        key = getattr(settings, name, None)
        if key is not None:
            break
    if key is None:
        return None
    if hasattr(key, "get_secret_value"):
        key = key.get_secret_value()
    edge_id = getattr(settings, "edge_id", None) or getattr(settings, "site_id", None) or "edge"
    kw: dict[str, Any] = {}
    for src, dst in (("push_batch", "batch_size"), ("pusher_timeout_s", "timeout_s"), ("push_interval_s", "idle_poll_s")):
        v = getattr(settings, src, None)
        if v is not None:
            kw[dst] = v
    return Pusher(store, str(url), str(key), str(edge_id), **kw)
