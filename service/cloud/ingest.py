"""Idempotent ingestion of edge batches into the cloud store.

Wire format (``POST /api/v1/ingest``, produced by :mod:`service.pusher`)::

    {"edge_id": "site-a",
     "items": [{"idempotency_key": "vehicle:<id>:<digest>", "kind": "vehicle", "record": {...}}, ...]}

``record`` is the JSON form of a result record (``Vehicle.to_dict()`` ...),
or an interval-statistics row for ``kind="interval_stats"``.

Idempotency, two layers:

Identity on the cloud is ``(site_id, record id)`` (``site_id = edge_id``):
stable record ids derive from fiber + time, so two edges may produce the
same id; the store's primary keys, queries, alerts and fdsnws ``eventid``
(``<site>/<id>``) all carry the site, and stored docs get a ``site_id`` field.

1. ``cloud_ingest_log`` has a unique ``(edge_id, idempotency_key)``; items
   whose key is already logged are skipped and reported as ``duplicates``.
2. The store writes are upserts by record id (events keep the highest
   version), so even an item applied twice - e.g. the process died between
   the store write and the log insert - leaves exactly one row.

The log is written *after* the store write, so a crash in between can only
cause a harmless re-apply, never a lost record.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, Field

KINDS = ("vehicle", "traffic_event", "modal", "pick", "event", "interval_stats", "coverage")
Kind = Literal["vehicle", "traffic_event", "modal", "pick", "event", "interval_stats", "coverage"]

_CHUNK = 400


class IngestItem(BaseModel):
    """One outbox row."""

    idempotency_key: str = Field(min_length=1, max_length=300)
    kind: Kind
    record: dict[str, Any]


class IngestBatch(BaseModel):
    """A batch of outbox rows from one edge."""

    edge_id: str = Field(min_length=1, max_length=200)
    items: list[IngestItem] = Field(max_length=10_000)


class IngestResult(BaseModel):
    """What the cloud did with a batch."""

    edge_id: str
    received: int
    accepted: int
    duplicates: int
    by_kind: dict[str, int]
    alerts: int


def ensure_schema(store: Any) -> None:
    """The ingest log table is created by store migration 2; kept for callers (checks it exists)."""
    store.db.execute("SELECT 1 FROM cloud_ingest_log LIMIT 1").fetchall()


def _seen(store: Any, edge_id: str, keys: list[str]) -> set[str]:
    out: set[str] = set()
    for i in range(0, len(keys), _CHUNK):
        ch = keys[i : i + _CHUNK]
        rows = store.db.fetchall(
            f"SELECT idempotency_key FROM cloud_ingest_log WHERE edge_id = ? AND idempotency_key IN "
            f"({', '.join('?' * len(ch))})",
            [edge_id, *ch],
        )
        out.update(r["idempotency_key"] for r in rows)
    return out


#: fields each record kind must carry (the JSON form of ``dasedge.records``)
REQUIRED: dict[str, tuple[str, ...]] = {
    "vehicle": ("id", "fiber_id", "t_ref", "t_start", "t_end", "direction", "vehicle_class", "speed_kmh"),
    "traffic_event": ("id", "fiber_id", "kind", "t_start", "t_end"),
    "modal": ("id", "fiber_id", "t", "mode", "frequency_hz"),
    "pick": ("id", "fiber_id", "time", "channel", "phase", "score"),
    "event": ("id", "fiber_id", "time"),
    "interval_stats": ("interval_s", "direction", "volume"),
    "coverage": ("stream", "t0_ns", "t1_ns"),
}


class BatchError(ValueError):
    """A batch item is malformed (answered with HTTP 422)."""


def validate_batch(batch: IngestBatch) -> None:
    """Check that every record has the fields of its kind; raise :class:`BatchError` naming the first bad item."""
    for i, it in enumerate(batch.items):
        missing = [f for f in REQUIRED[it.kind] if f not in it.record]
        if it.kind == "interval_stats" and "interval_start" not in it.record and "interval_start_ns" not in it.record:
            missing.append("interval_start")
        if missing:
            raise BatchError(f"items[{i}] ({it.kind} {it.idempotency_key!r}): missing {', '.join(missing)}")


def apply_batch(store: Any, batch: IngestBatch) -> tuple[IngestResult, list[dict[str, Any]]]:
    """Store a batch idempotently; return the result and the alerts created (events).

    Parameters
    ----------
    store
        The cloud :class:`service.store.Store` (``outbox=False``).
    batch
        The validated request body; ``edge_id`` is used as the rows' ``site_id``.
    """
    validate_batch(batch)
    site = batch.edge_id
    # dedup inside the batch, then against the log
    uniq: dict[str, IngestItem] = {}
    for it in batch.items:
        uniq.setdefault(it.idempotency_key, it)
    seen = _seen(store, site, list(uniq))
    todo = [it for k, it in uniq.items() if k not in seen]
    groups: dict[str, list[dict[str, Any]]] = {k: [] for k in KINDS}
    for it in todo:
        # record ids are unique per edge only: the stored doc names its site (identity = (site_id, id))
        rec = it.record if it.kind in ("interval_stats", "coverage") else {**it.record, "site_id": site}
        groups[it.kind].append(rec)
    alerts: list[dict[str, Any]] = []
    if groups["vehicle"]:
        store.put_vehicle_dicts(groups["vehicle"], site_id=site)
    if groups["traffic_event"]:
        store.put_traffic_event_dicts(groups["traffic_event"], site_id=site)
    if groups["modal"]:
        store.put_modal_dicts(groups["modal"], site_id=site)
    if groups["pick"]:
        store.put_pick_dicts(groups["pick"], site_id=site)
    if groups["interval_stats"]:
        store.put_interval_stats(groups["interval_stats"], site_id=site)
    for c in groups["coverage"]:
        store.add_coverage(str(c["stream"]), int(c["t0_ns"]), int(c["t1_ns"]), site_id=site, outbox=False)
    if groups["event"]:
        alerts = store.put_event_dicts(groups["event"], site_id=site)
    if todo:
        t = time.time_ns()
        store.db.executemany(
            "INSERT INTO cloud_ingest_log (edge_id, idempotency_key, kind, received_ns) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (edge_id, idempotency_key) DO NOTHING",
            [(site, it.idempotency_key, it.kind, t) for it in todo],
        )
    res = IngestResult(
        edge_id=site,
        received=len(batch.items),
        accepted=len(todo),
        duplicates=len(batch.items) - len(todo),
        by_kind={k: len(v) for k, v in groups.items() if v},
        alerts=len(alerts),
    )
    return res, alerts
