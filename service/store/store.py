"""The dasedge result store (SQLite on the edge, PostgreSQL on the cloud).

Public API (stable; the cloud side and the pushers build on it)
----------------------------------------------------------------
Writes — idempotent upserts by record id; a record whose stored JSON is
identical is skipped (no duplicate outbox row).  Each changed record writes
its outbox row in the SAME transaction (when the store has ``outbox=True``):

* ``put_vehicles(list[Vehicle], site_id="") -> int`` (rows changed)
* ``put_traffic_events(list[TrafficEvent], site_id="") -> int``
* ``put_modal(list[ModalFrequency], site_id="") -> int``
* ``put_picks(list[Pick], site_id="") -> int``
* ``put_events(list[SeismicEvent], site_id="") -> list[dict]`` — keeps the
  highest ``version``; a lower or equal version is ignored.  Returns the
  alerts created (one per inserted/advanced event, ``{seq, kind, ref_id,
  version, doc}``); alerts feed SSE and webhooks.
* ``put_interval_stats(rows, site_id="") -> int`` — rows as produced by
  :func:`service.store.stats.interval_stats` (dicts with ``fiber_id``,
  ``interval_start_ns`` or ``interval_start`` ISO, ``interval_s``,
  ``direction``, optional ``vehicle_class``, ``volume``, ...); key
  ``(site, fiber, interval_s, interval_start, direction, class)``.
* ``put_records(list)`` dispatches on record type.
* The ``*_dicts`` variants (``put_vehicle_dicts`` ...) take the JSON form
  (``to_dict()``, e.g. as received by the cloud) instead of dataclasses.

Queries (return the JSON docs, i.e. ``to_dict()`` form):
``query_vehicles``, ``query_interval_stats``, ``query_traffic_events``,
``query_modal``, ``query_picks``, ``query_events``, ``get_event``,
``alerts_after``.

Outbox (store-and-forward to the cloud): ``claim(batch, lease_s)`` ->
``[{seq, kind, key, priority, payload, attempts}]`` (highest priority first,
then oldest); ``ack(seqs)`` deletes; ``nack(seqs, retry_after_s)`` releases
and counts an attempt; ``outbox_stats()``.

**Bounded outbox policy.** At most ``outbox_max_rows`` rows are kept.  When a
write pushes the outbox over the bound, the oldest rows of the lowest
priority are deleted first: priority 0 (picks, modal frequencies), then 1
(traffic events, interval statistics), and the ``outbox_dropped`` counter is
increased by the number dropped (exported as ``dasedge_outbox_dropped_total``).
Priority 2 rows (vehicles and seismic events) are never dropped and writes
are never refused: if only priority-2 rows remain the outbox grows beyond the
bound and ``/ready`` turns not-ready (``outbox_ready_max``).

Also: API keys (``add_api_key``, ``get_api_key``, ``list_api_keys``,
``revoke_api_key``), webhook subscriptions/deliveries, the site registry
(``upsert_site``, ``list_sites``, ``get_site``) and the status table
(``heartbeat``, ``get_status``).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict
from datetime import datetime
from typing import Any, Iterable, Sequence

import numpy as np

from dasedge.records import ModalFrequency, Pick, SeismicEvent, TrafficEvent, Vehicle

from .db import Database
from .migrations import MIGRATIONS, statements
from .stats import interval_stats

#: outbox priorities (higher = more important; 2 is never dropped)
PRIORITY = {"pick": 0, "modal": 0, "traffic_event": 1, "interval_stats": 1, "coverage": 1, "vehicle": 2,
            "event": 2}

_CHUNK = 400


def now_ns() -> int:
    return time.time_ns()


def iso_to_ns(s: str) -> int:
    """ISO 8601 (``Z`` or offset; naive = UTC) to int ns."""
    s = s.strip()
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        from datetime import timezone

        dt = dt.replace(tzinfo=timezone.utc)
    whole = int(dt.timestamp())
    return whole * 1_000_000_000 + dt.microsecond * 1000


def _dumps(d: Any) -> str:
    return json.dumps(d, separators=(",", ":"), sort_keys=True, default=_json_default)


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _chunks(seq: Sequence[Any], n: int = _CHUNK):
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


class Store:
    """Result store over one :class:`~service.store.db.Database`.

    Use :func:`service.store.open_store` to create one.  Thread-safe (one
    connection per thread).
    """

    def __init__(self, db: Database, *, outbox: bool = True, outbox_max_rows: int = 200_000):
        self.db = db
        self.dialect = db.dialect
        self.outbox_enabled = outbox
        self.outbox_max_rows = int(outbox_max_rows)
        self.migrate()

    # ------------------------------------------------------------------ admin
    def migrate(self) -> list[int]:
        """Apply missing migrations; returns the numbers applied."""
        db = self.db
        with db.tx():
            # under the same advisory lock as the migrations: concurrent first opens (several
            # uvicorn workers) otherwise race in CREATE TABLE IF NOT EXISTS on PostgreSQL
            if self.dialect == "postgresql":
                db.execute("SELECT pg_advisory_xact_lock(4242)")
            db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                "name TEXT NOT NULL, applied_ns BIGINT NOT NULL)"
            )
        applied = []
        for number, name, stmts in MIGRATIONS:
            with db.tx():
                if self.dialect == "postgresql":
                    db.execute("SELECT pg_advisory_xact_lock(4242)")
                if db.fetchone("SELECT version FROM schema_migrations WHERE version = ?", (number,)):
                    continue
                for s in statements(stmts, self.dialect):
                    db.execute(s)
                db.execute(
                    "INSERT INTO schema_migrations (version, name, applied_ns) VALUES (?, ?, ?)",
                    (number, name, now_ns()),
                )
                applied.append(number)
        return applied

    def schema_version(self) -> int:
        return int(self.db.scalar("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"))

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------ generic upsert
    def _upsert(
        self,
        table: str,
        cols: list[str],
        rows: list[tuple],
        *,
        kind: str,
        keys: list[str],
        docs: list[dict],
        site_id: str,
        pk: tuple[str, ...] = ("site_id", "id"),
    ) -> int:
        """Upsert ``rows`` (tuples in ``cols`` order, incl. ``doc`` last); skip unchanged.

        ``keys`` are the idempotency keys (one per row) used to compare with
        the stored doc and as the outbox key.
        """
        if not rows:
            return 0
        changed = 0
        set_cols = [c for c in cols if c not in pk]
        sql = (
            f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
            f"ON CONFLICT ({', '.join(pk)}) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in set_cols)
        )
        doc_idx = cols.index("doc")
        with self.db.tx():
            for chunk_i in range(0, len(rows), _CHUNK):
                chunk = rows[chunk_i : chunk_i + _CHUNK]
                ckeys = keys[chunk_i : chunk_i + _CHUNK]
                existing = self._existing_docs(table, pk, chunk, cols, site_id)
                todo = [i for i, r in enumerate(chunk) if existing.get(self._pk_of(r, cols, pk)) != r[doc_idx]]
                if not todo:
                    continue
                self.db.executemany(sql, [chunk[i] for i in todo])
                changed += len(todo)
                self._outbox_add(kind, [(ckeys[i], chunk[i][doc_idx]) for i in todo], site_id)
            self._outbox_enforce()
        return changed

    @staticmethod
    def _pk_of(row: tuple, cols: list[str], pk: tuple[str, ...]) -> tuple:
        return tuple(row[cols.index(c)] for c in pk)

    def _existing_docs(self, table, pk, chunk, cols, site_id) -> dict[tuple, str]:
        if pk == ("site_id", "id"):
            ids = [r[cols.index("id")] for r in chunk]
            q = f"SELECT id, doc FROM {table} WHERE site_id = ? AND id IN ({', '.join('?' * len(ids))})"
            return {(site_id, r["id"]): r["doc"] for r in self.db.fetchall(q, [site_id, *ids])}
        # composite key (interval_stats): fetch the span of the chunk
        starts = [r[cols.index("interval_start_ns")] for r in chunk]
        q = (
            f"SELECT {', '.join(pk)}, doc FROM {table} WHERE site_id = ? "
            "AND interval_start_ns >= ? AND interval_start_ns <= ?"
        )
        out = {}
        for r in self.db.fetchall(q, (site_id, min(starts), max(starts))):
            out[tuple(r[c] for c in pk)] = r["doc"]
        return out

    # ---------------------------------------------------------------- outbox
    def _outbox_add(self, kind: str, items: list[tuple[str, str]], site_id: str) -> None:
        """Outbox rows ``{"key", "kind", "record"}`` for ``(key, record JSON text)`` items."""
        if not self.outbox_enabled or not items:
            return
        t = now_ns()
        prio = PRIORITY[kind]
        k = json.dumps(kind)
        self.db.executemany(
            "INSERT INTO outbox (kind, key, priority, payload, created_ns) VALUES (?, ?, ?, ?, ?)",
            [(kind, key, prio, f'{{"key":{json.dumps(key)},"kind":{k},"record":{doc}}}', t) for key, doc in items],
        )

    def _outbox_enforce(self) -> None:
        if not self.outbox_enabled:
            return
        # cheap upper bound first (seq is the primary key): COUNT(*) is O(n) on SQLite
        span = self.db.scalar("SELECT MAX(seq) - MIN(seq) + 1 FROM outbox")
        if span is None or int(span) <= self.outbox_max_rows:
            return
        n = int(self.db.scalar("SELECT COUNT(*) FROM outbox"))
        excess = n - self.outbox_max_rows
        if excess <= 0:
            return
        dropped = 0
        for prio in (0, 1):
            if excess <= 0:
                break
            cur = self.db.execute(
                "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE priority = ? "
                "ORDER BY seq LIMIT ?)",
                (prio, excess),
            )
            k = max(cur.rowcount, 0)
            dropped += k
            excess -= k
        if dropped:
            self._counter_add("outbox_dropped", dropped)

    def _counter_add(self, name: str, value: int) -> None:
        self.db.execute(
            "INSERT INTO counters (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value",
            (name, int(value)),
        )

    def counter(self, name: str) -> int:
        v = self.db.scalar("SELECT value FROM counters WHERE name = ?", (name,))
        return int(v or 0)

    def claim(self, batch: int = 500, *, lease_s: float = 30.0) -> list[dict[str, Any]]:
        """Lease up to ``batch`` outbox rows (highest priority, then oldest).

        Leased rows are invisible to other claimers for ``lease_s``; ``ack``
        deletes them, ``nack`` releases them (a crashed pusher's lease simply
        expires, so delivery is at-least-once).
        """
        t = now_ns()
        lock = " FOR UPDATE SKIP LOCKED" if self.dialect == "postgresql" else ""
        with self.db.tx():
            rows = self.db.fetchall(
                "SELECT seq, kind, key, priority, payload, attempts FROM outbox WHERE claimed_until_ns < ? "
                f"ORDER BY priority DESC, seq LIMIT ?{lock}",
                (t, int(batch)),
            )
            if rows:
                until = t + int(lease_s * 1e9)
                self.db.executemany(
                    "UPDATE outbox SET claimed_until_ns = ? WHERE seq = ?", [(until, r["seq"]) for r in rows]
                )
        for r in rows:
            r["payload"] = json.loads(r["payload"])
        return rows

    def ack(self, seqs: Iterable[int]) -> int:
        """Delete delivered outbox rows; returns how many were deleted."""
        seqs = [int(s) for s in seqs]
        n = 0
        with self.db.tx():
            for ch in _chunks(seqs):
                cur = self.db.execute(f"DELETE FROM outbox WHERE seq IN ({', '.join('?' * len(ch))})", ch)
                n += max(cur.rowcount, 0)
            if n:
                self._counter_add("outbox_acked", n)
        return n

    def nack(self, seqs: Iterable[int], *, retry_after_s: float = 0.0) -> None:
        """Release leased rows for a later retry (counts an attempt)."""
        seqs = [int(s) for s in seqs]
        until = now_ns() + int(retry_after_s * 1e9) if retry_after_s > 0 else 0
        with self.db.tx():
            for ch in _chunks(seqs):
                self.db.execute(
                    f"UPDATE outbox SET claimed_until_ns = ?, attempts = attempts + 1 "
                    f"WHERE seq IN ({', '.join('?' * len(ch))})",
                    [until, *ch],
                )

    def outbox_pending(self) -> int:
        return int(self.db.scalar("SELECT COUNT(*) FROM outbox"))

    def outbox_stats(self) -> dict[str, Any]:
        """``{pending, by_kind{kind: n}, oldest_ns, dropped_total, acked_total, max_rows}``."""
        by_kind = {r["kind"]: int(r["n"]) for r in self.db.fetchall("SELECT kind, COUNT(*) AS n FROM outbox GROUP BY kind")}
        oldest = self.db.scalar("SELECT MIN(created_ns) FROM outbox")
        return {
            "pending": sum(by_kind.values()),
            "by_kind": by_kind,
            "oldest_ns": None if oldest is None else int(oldest),
            "dropped_total": self.counter("outbox_dropped"),
            "acked_total": self.counter("outbox_acked"),
            "max_rows": self.outbox_max_rows,
        }

    # ---------------------------------------------------------------- writes
    def put_vehicles(self, vehicles: Sequence[Vehicle], *, site_id: str = "") -> int:
        return self.put_vehicle_dicts([v.to_dict() for v in vehicles], site_id=site_id, _ns=[asdict(v) for v in vehicles])

    def put_vehicle_dicts(self, docs: Sequence[dict], *, site_id: str = "", _ns: Sequence[dict] | None = None) -> int:
        """Upsert vehicles given in JSON form (``Vehicle.to_dict()``)."""
        rows = []
        for i, d in enumerate(docs):
            n = _ns[i] if _ns is not None else None
            t_ref = n["t_ref_ns"] if n else iso_to_ns(d["t_ref"])
            t0 = n["t_start_ns"] if n else iso_to_ns(d["t_start"])
            t1 = n["t_end_ns"] if n else iso_to_ns(d["t_end"])
            rows.append(
                (d["id"], site_id, d["fiber_id"], t_ref, t0, t1, int(d["direction"]), d["vehicle_class"],
                 float(d["speed_kmh"]), d.get("lane"), _dumps(d))
            )
        cols = ["id", "site_id", "fiber_id", "t_ref_ns", "t_start_ns", "t_end_ns", "direction",
                "vehicle_class", "speed_kmh", "lane", "doc"]
        return self._upsert("vehicles", cols, rows, kind="vehicle", keys=[d["id"] for d in docs],
                            docs=list(docs), site_id=site_id)

    def put_traffic_events(self, events: Sequence[TrafficEvent], *, site_id: str = "") -> int:
        return self.put_traffic_event_dicts([e.to_dict() for e in events], site_id=site_id)

    def put_traffic_event_dicts(self, docs: Sequence[dict], *, site_id: str = "") -> int:
        rows = [
            (d["id"], site_id, d["fiber_id"], d["kind"], iso_to_ns(d["t_start"]), iso_to_ns(d["t_end"]),
             d.get("direction"), _dumps(d))
            for d in docs
        ]
        cols = ["id", "site_id", "fiber_id", "kind", "t_start_ns", "t_end_ns", "direction", "doc"]
        return self._upsert("traffic_events", cols, rows, kind="traffic_event", keys=[d["id"] for d in docs],
                            docs=list(docs), site_id=site_id)

    def put_modal(self, modes: Sequence[ModalFrequency], *, site_id: str = "") -> int:
        return self.put_modal_dicts([m.to_dict() for m in modes], site_id=site_id)

    def put_modal_dicts(self, docs: Sequence[dict], *, site_id: str = "") -> int:
        rows = [
            (d["id"], site_id, d["fiber_id"], iso_to_ns(d["t"]), int(d["mode"]), float(d["frequency_hz"]), _dumps(d))
            for d in docs
        ]
        cols = ["id", "site_id", "fiber_id", "t_ns", "mode", "frequency_hz", "doc"]
        return self._upsert("modal_frequencies", cols, rows, kind="modal", keys=[d["id"] for d in docs],
                            docs=list(docs), site_id=site_id)

    def put_picks(self, picks: Sequence[Pick], *, site_id: str = "") -> int:
        return self.put_pick_dicts([p.to_dict() for p in picks], site_id=site_id, _t=[p.t_ns for p in picks])

    def put_pick_dicts(self, docs: Sequence[dict], *, site_id: str = "", _t: Sequence[int] | None = None) -> int:
        rows = [
            (d["id"], site_id, d["fiber_id"], _t[i] if _t is not None else iso_to_ns(d["time"]), int(d["channel"]),
             d["phase"], float(d["score"]), d.get("event_id"), _dumps(d))
            for i, d in enumerate(docs)
        ]
        cols = ["id", "site_id", "fiber_id", "t_ns", "channel", "phase", "score", "event_id", "doc"]
        return self._upsert("picks", cols, rows, kind="pick", keys=[d["id"] for d in docs], docs=list(docs),
                            site_id=site_id)

    def put_events(self, events: Sequence[SeismicEvent], *, site_id: str = "") -> list[dict[str, Any]]:
        return self.put_event_dicts([e.to_dict() for e in events], site_id=site_id, _t=[e.origin_ns for e in events])

    def put_event_dicts(
        self, docs: Sequence[dict], *, site_id: str = "", _t: Sequence[int] | None = None
    ) -> list[dict[str, Any]]:
        """Upsert events keeping the highest version; returns the alerts created."""
        alerts: list[dict[str, Any]] = []
        if not docs:
            return alerts
        t_now = now_ns()
        sql = (
            "INSERT INTO events (id, site_id, fiber_id, origin_ns, magnitude, depth_m, version, status, "
            "updated_ns, doc, latitude, longitude) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (site_id, id) DO UPDATE SET "
            "fiber_id = excluded.fiber_id, origin_ns = excluded.origin_ns, "
            "magnitude = excluded.magnitude, depth_m = excluded.depth_m, version = excluded.version, "
            "status = excluded.status, updated_ns = excluded.updated_ns, doc = excluded.doc, "
            "latitude = excluded.latitude, longitude = excluded.longitude "
            "WHERE excluded.version > events.version"
        )
        with self.db.tx():
            for ch_i in range(0, len(docs), _CHUNK):
                ch = list(docs[ch_i : ch_i + _CHUNK])
                ids = [d["id"] for d in ch]
                have = {
                    r["id"]: int(r["version"])
                    for r in self.db.fetchall(
                        f"SELECT id, version FROM events WHERE site_id = ? AND id IN ({', '.join('?' * len(ids))})",
                        [site_id, *ids],
                    )
                }
                # within one batch keep the highest version per id
                best: dict[str, tuple[int, dict]] = {}
                for j, d in enumerate(ch):
                    v = int(d.get("version", 1))
                    if d["id"] not in best or v > int(best[d["id"]][1].get("version", 1)):
                        best[d["id"]] = (j, d)
                for eid, (j, d) in best.items():
                    v = int(d.get("version", 1))
                    if eid in have and v <= have[eid]:
                        continue
                    t = _t[ch_i + j] if _t is not None else iso_to_ns(d["time"])
                    doc = _dumps(d)
                    self.db.execute(
                        sql,
                        (eid, site_id, d["fiber_id"], t, d.get("magnitude"), d.get("depth_m"), v,
                         d.get("status", "new"), t_now, doc, d.get("latitude"), d.get("longitude")),
                    )
                    self._outbox_add("event", [(f"{eid}:{v}", doc)], site_id)
                    alerts.append(self._add_alert("event", eid, v, {**d, "site_id": site_id} if site_id else d,
                                                  site_id=site_id))
            self._outbox_enforce()
        return alerts

    def put_interval_stats(self, rows: Sequence[dict], *, site_id: str = "") -> int:
        """Upsert per-interval traffic statistics rows (see module docstring)."""
        tuples, keys, docs = [], [], []
        for r in rows:
            start = int(r["interval_start_ns"]) if "interval_start_ns" in r else iso_to_ns(r["interval_start"])
            d = {k: v for k, v in r.items() if k != "interval_start_ns"}
            d.setdefault("interval_start", _iso(start))
            # accept pipelines.traffic.stats rows: class "all" = all classes, completeness as a fraction
            if d.get("vehicle_class") in ("all", ""):
                d["vehicle_class"] = None
            if d.get("completeness_pct") is None and d.get("completeness") is not None:
                d["completeness_pct"] = round(100.0 * float(d["completeness"]), 3)
            r = {**r, "vehicle_class": d.get("vehicle_class"), "completeness_pct": d.get("completeness_pct")}
            cls = r.get("vehicle_class") or ""
            fiber = r.get("fiber_id", "")
            tuples.append((site_id, fiber, start, int(r["interval_s"]), int(r["direction"]), cls,
                           int(r["volume"]), r.get("completeness_pct"), _dumps(d)))
            keys.append(f"{fiber}:{int(r['interval_s'])}:{start}:{int(r['direction'])}:{cls}")
            docs.append(d)
        cols = ["site_id", "fiber_id", "interval_start_ns", "interval_s", "direction", "vehicle_class", "volume",
                "completeness_pct", "doc"]
        return self._upsert("interval_stats", cols, tuples, kind="interval_stats", keys=keys, docs=docs,
                            site_id=site_id,
                            pk=("site_id", "fiber_id", "interval_s", "interval_start_ns", "direction", "vehicle_class"))

    def put_records(self, records: Sequence[Any], *, site_id: str = "") -> dict[str, int]:
        """Write a mixed list of records (as handed to a worker ``sink``)."""
        groups: dict[type, list] = {}
        for r in records:
            groups.setdefault(type(r), []).append(r)
        out = {}
        for typ, fn in ((Vehicle, self.put_vehicles), (TrafficEvent, self.put_traffic_events),
                        (ModalFrequency, self.put_modal), (Pick, self.put_picks)):
            if typ in groups:
                out[typ.__name__] = fn(groups.pop(typ), site_id=site_id)
        if SeismicEvent in groups:
            out["SeismicEvent"] = len(self.put_events(groups.pop(SeismicEvent), site_id=site_id))
        if groups:
            raise TypeError(f"unsupported record types: {sorted(t.__name__ for t in groups)}")
        return out

    # ---------------------------------------------------------------- alerts
    def _add_alert(self, kind: str, ref_id: str, version: int, doc: dict, *, site_id: str = "") -> dict[str, Any]:
        t = now_ns()
        seq = self.db.scalar(
            "INSERT INTO alerts (kind, ref_id, version, created_ns, doc, site_id) VALUES (?, ?, ?, ?, ?, ?) "
            "RETURNING seq",
            (kind, ref_id, int(version), t, _dumps(doc), site_id),
        )
        return {"seq": int(seq), "kind": kind, "ref_id": ref_id, "version": int(version), "created_ns": t,
                "doc": doc, "site_id": site_id}

    def alerts_after(self, seq: int, limit: int = 100, *, site_id: str | None = None) -> list[dict[str, Any]]:
        """Alerts with a sequence above ``seq`` (oldest first); ``site_id`` keeps one site's alerts."""
        where = " AND site_id = ?" if site_id is not None else ""
        params = (int(seq), *((site_id,) if site_id is not None else ()), int(limit))
        rows = self.db.fetchall(
            "SELECT seq, kind, ref_id, version, created_ns, doc, site_id FROM alerts WHERE seq > ?"
            f"{where} ORDER BY seq LIMIT ?",
            params,
        )
        for r in rows:
            r["doc"] = json.loads(r["doc"])
        return rows

    def alerts_for(self, ref_id: str, *, site_id: str = "") -> list[dict[str, Any]]:
        """All alerts of one event (or other referenced record) of one site, oldest first."""
        rows = self.db.fetchall(
            "SELECT seq, kind, ref_id, version, created_ns, doc, site_id FROM alerts WHERE ref_id = ? AND site_id = ? "
            "ORDER BY seq", (ref_id, site_id)
        )
        for r in rows:
            r["doc"] = json.loads(r["doc"])
        return rows

    def last_alert_seq(self) -> int:
        return int(self.db.scalar("SELECT COALESCE(MAX(seq), 0) FROM alerts"))

    # --------------------------------------------------------- subscriptions
    def create_subscription(self, url: str, *, filters: dict | None = None, fmt: str = "json", secret: str) -> dict:
        """New webhook subscription; it receives alerts created after this call."""
        sid = "sub_" + uuid.uuid4().hex[:16]
        t = now_ns()
        after = self.last_alert_seq()
        self.db.execute(
            "INSERT INTO subscriptions (id, url, filters, format, secret, created_ns, after_seq, active) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 1)",
            (sid, url, _dumps(filters or {}), fmt, secret, t, after),
        )
        return self.get_subscription(sid)  # type: ignore[return-value]

    def _sub_row(self, r: dict) -> dict:
        r["filters"] = json.loads(r["filters"])
        r["active"] = bool(r["active"])
        return r

    def get_subscription(self, sid: str) -> dict | None:
        r = self.db.fetchone("SELECT * FROM subscriptions WHERE id = ?", (sid,))
        return None if r is None else self._sub_row(r)

    def list_subscriptions(self, *, active_only: bool = True) -> list[dict]:
        q = "SELECT * FROM subscriptions" + (" WHERE active = 1" if active_only else "") + " ORDER BY created_ns"
        return [self._sub_row(r) for r in self.db.fetchall(q)]

    def delete_subscription(self, sid: str) -> bool:
        with self.db.tx():
            cur = self.db.execute("UPDATE subscriptions SET active = 0 WHERE id = ? AND active = 1", (sid,))
            self.db.execute(
                "UPDATE deliveries SET status = 'cancelled', updated_ns = ? WHERE subscription_id = ? "
                "AND status = 'pending'",
                (now_ns(), sid),
            )
        return cur.rowcount > 0

    # ------------------------------------------------------------ deliveries
    def enqueue_deliveries(self, matches) -> int:
        """Create pending deliveries for alerts not yet fanned out.

        ``matches(subscription, alert) -> bool`` applies the subscription
        filters.  Idempotent (unique ``(subscription, alert)``); progress is
        remembered in ``subscriptions.after_seq``.
        """
        n = 0
        for sub in self.list_subscriptions():
            alerts = self.alerts_after(sub["after_seq"], limit=1000)
            if not alerts:
                continue
            t = now_ns()
            rows = [(sub["id"], a["seq"], "pending", 0, t, t) for a in alerts if matches(sub, a)]
            with self.db.tx():
                self.db.executemany(
                    "INSERT INTO deliveries (subscription_id, alert_seq, status, attempts, next_attempt_ns, "
                    "updated_ns) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (subscription_id, alert_seq) DO NOTHING",
                    rows,
                )
                # never move backwards when another process (uvicorn worker) got further meanwhile
                self.db.execute("UPDATE subscriptions SET after_seq = ? WHERE id = ? AND after_seq < ?",
                                (alerts[-1]["seq"], sub["id"], alerts[-1]["seq"]))
            n += len(rows)
        return n

    def due_deliveries(self, *, limit: int = 50, at_ns: int | None = None, lease_s: float = 60.0) -> list[dict]:
        """Claim pending deliveries whose next attempt is due, joined with subscription and alert.

        Claiming moves ``next_attempt_ns`` ``lease_s`` into the future in the same
        transaction (PostgreSQL: ``FOR UPDATE SKIP LOCKED``; SQLite: ``BEGIN
        IMMEDIATE`` serialises), so several dispatchers - e.g. one per uvicorn
        worker process - never attempt the same delivery concurrently; the
        attempt's outcome (``update_delivery``) replaces the lease, and a
        dispatcher that dies mid-attempt lets the lease expire (retried).
        """
        t = now_ns() if at_ns is None else at_ns
        lock = " FOR UPDATE OF d SKIP LOCKED" if self.dialect == "postgresql" else ""
        with self.db.tx():
            rows = self.db.fetchall(
                "SELECT d.id, d.subscription_id, d.alert_seq, d.attempts, s.url, s.format, s.secret, "
                "a.kind, a.ref_id, a.version, a.created_ns, a.doc, a.site_id FROM deliveries d "
                "JOIN subscriptions s ON s.id = d.subscription_id JOIN alerts a ON a.seq = d.alert_seq "
                "WHERE d.status = 'pending' AND d.next_attempt_ns <= ? ORDER BY d.next_attempt_ns, d.id LIMIT ?"
                + lock,
                (t, int(limit)),
            )
            if rows:
                until = t + int(lease_s * 1e9)
                self.db.executemany("UPDATE deliveries SET next_attempt_ns = ? WHERE id = ?",
                                    [(until, r["id"]) for r in rows])
        for r in rows:
            r["doc"] = json.loads(r["doc"])
        return rows

    def update_delivery(
        self, delivery_id: int, *, status: str, attempts: int, next_attempt_ns: int,
        last_status: int | None = None, last_error: str | None = None,
    ) -> None:
        self.db.execute(
            "UPDATE deliveries SET status = ?, attempts = ?, next_attempt_ns = ?, last_status = ?, last_error = ?, "
            "updated_ns = ? WHERE id = ?",
            (status, int(attempts), int(next_attempt_ns), last_status, last_error, now_ns(), int(delivery_id)),
        )

    def list_deliveries(self, subscription_id: str | None = None) -> list[dict]:
        q = "SELECT * FROM deliveries" + (" WHERE subscription_id = ?" if subscription_id else "") + " ORDER BY id"
        return self.db.fetchall(q, (subscription_id,) if subscription_id else ())

    # --------------------------------------------------------------- api keys
    def add_api_key(self, key_id: str, *, salt: str, hash: str, scopes: Sequence[str], name: str = "") -> None:
        self.db.execute(
            "INSERT INTO api_keys (key_id, salt, hash, scopes, name, created_ns) VALUES (?, ?, ?, ?, ?, ?)",
            (key_id, salt, hash, ",".join(scopes), name, now_ns()),
        )

    def get_api_key(self, key_id: str) -> dict | None:
        r = self.db.fetchone("SELECT * FROM api_keys WHERE key_id = ?", (key_id,))
        if r is not None:
            r["scopes"] = [s for s in r["scopes"].split(",") if s]
        return r

    def list_api_keys(self) -> list[dict]:
        rows = self.db.fetchall(
            "SELECT key_id, scopes, name, created_ns, revoked_ns, last_used_ns FROM api_keys ORDER BY created_ns"
        )
        for r in rows:
            r["scopes"] = [s for s in r["scopes"].split(",") if s]
        return rows

    def revoke_api_key(self, key_id: str) -> bool:
        cur = self.db.execute(
            "UPDATE api_keys SET revoked_ns = ? WHERE key_id = ? AND revoked_ns IS NULL", (now_ns(), key_id)
        )
        return cur.rowcount > 0

    def touch_api_key(self, key_id: str) -> None:
        self.db.execute("UPDATE api_keys SET last_used_ns = ? WHERE key_id = ?", (now_ns(), key_id))

    # ------------------------------------------------------------ site registry
    def upsert_site(self, site_id: str, **fields: Any) -> dict:
        """Create/update a site (cloud registry). Known columns: name, fiber_id, latitude,
        longitude, chainage_from_m, chainage_to_m, key_id, last_seen_ns; anything else goes to ``doc``."""
        known = ["name", "fiber_id", "latitude", "longitude", "chainage_from_m", "chainage_to_m", "key_id",
                 "last_seen_ns"]
        cur = self.get_site(site_id) or {}
        merged = {**{k: cur.get(k) for k in known}, **{k: v for k, v in fields.items() if k in known}}
        extra = {**cur.get("doc", {}), **{k: v for k, v in fields.items() if k not in known}}
        merged["name"] = merged.get("name") or ""
        merged["fiber_id"] = merged.get("fiber_id") or ""
        cols = ["site_id", *known, "doc"]
        vals = [site_id, *[merged[k] for k in known], _dumps(extra)]
        self.db.execute(
            f"INSERT INTO sites ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) ON CONFLICT (site_id) "
            "DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in cols[1:]),
            vals,
        )
        return self.get_site(site_id)  # type: ignore[return-value]

    def get_site(self, site_id: str) -> dict | None:
        r = self.db.fetchone("SELECT * FROM sites WHERE site_id = ?", (site_id,))
        if r is not None:
            r["doc"] = json.loads(r["doc"])
        return r

    def list_sites(self) -> list[dict]:
        rows = self.db.fetchall("SELECT * FROM sites ORDER BY site_id")
        for r in rows:
            r["doc"] = json.loads(r["doc"])
        return rows

    # ----------------------------------------------------------------- status
    def heartbeat(
        self, component: str, *, site_id: str = "", last_data_ns: int | None = None, lag_s: float | None = None,
        throughput: float | None = None, model_version: str | None = None, ok: bool = True,
        detail: dict | None = None, at_ns: int | None = None,
    ) -> None:
        """Record a component heartbeat (pipeline worker, ingest, pusher ...).

        ``detail`` is free JSON; conventional keys: ``partitions_assigned``
        (int), ``model_loaded`` (bool), ``records_total`` (int).  ``None``
        arguments keep the previous value.
        """
        t = now_ns() if at_ns is None else at_ns
        self.db.execute(
            "INSERT INTO status (site_id, component, heartbeat_ns, last_data_ns, lag_s, throughput, model_version, "
            "ok, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (site_id, component) DO UPDATE SET "
            "heartbeat_ns = excluded.heartbeat_ns, "
            "last_data_ns = COALESCE(excluded.last_data_ns, status.last_data_ns), "
            "lag_s = COALESCE(excluded.lag_s, status.lag_s), "
            "throughput = COALESCE(excluded.throughput, status.throughput), "
            "model_version = COALESCE(excluded.model_version, status.model_version), "
            "ok = excluded.ok, detail = excluded.detail",
            (site_id, component, t, last_data_ns, lag_s, throughput, model_version, int(bool(ok)),
             _dumps(detail or {})),
        )

    def get_status(self, site_id: str | None = None) -> list[dict]:
        q = "SELECT * FROM status" + (" WHERE site_id = ?" if site_id is not None else "") + " ORDER BY site_id, component"
        rows = self.db.fetchall(q, (site_id,) if site_id is not None else ())
        for r in rows:
            r["detail"] = json.loads(r["detail"])
            r["ok"] = bool(r["ok"])
        return rows

    # --------------------------------------------------------------- coverage
    def add_coverage(self, stream: str, t0_ns: int, t1_ns: int, *, site_id: str = "",
                     outbox: bool = True) -> None:
        """Record that ``stream`` (a pipeline component, e.g. ``"traffic-worker"``) processed data
        time ``[t0_ns, t1_ns)``; merged with overlapping or touching spans already stored.

        On an edge store the span is also queued for the cloud (outbox kind ``coverage``).
        """
        t0, t1 = int(t0_ns), int(t1_ns)
        if t1 <= t0:
            return
        with self.db.tx():
            rows = self.db.fetchall(
                "SELECT t0_ns, t1_ns FROM coverage WHERE site_id = ? AND stream = ? AND t1_ns >= ? AND t0_ns <= ?",
                (site_id, stream, t0, t1),
            )
            if rows:
                lo = min(t0, *(int(r["t0_ns"]) for r in rows))
                hi = max(t1, *(int(r["t1_ns"]) for r in rows))
                if lo == int(rows[0]["t0_ns"]) and hi == int(rows[0]["t1_ns"]) and len(rows) == 1:
                    return  # already covered
                self.db.execute(
                    "DELETE FROM coverage WHERE site_id = ? AND stream = ? AND t1_ns >= ? AND t0_ns <= ?",
                    (site_id, stream, t0, t1),
                )
                t0, t1 = lo, hi
            self.db.execute("INSERT INTO coverage (site_id, stream, t0_ns, t1_ns) VALUES (?, ?, ?, ?)",
                            (site_id, stream, t0, t1))
            if self.outbox_enabled and outbox:
                rec = {"stream": stream, "t0_ns": int(t0_ns), "t1_ns": int(t1_ns)}
                self._outbox_add("coverage", [(f"{stream}:{int(t0_ns)}:{int(t1_ns)}", _dumps(rec))], site_id)
                self._outbox_enforce()

    def get_coverage(self, stream: str, *, start_ns: int, end_ns: int,
                     site_id: str | None = None) -> dict[str, list[tuple[int, int]]]:
        """Covered spans overlapping ``[start_ns, end_ns)`` per site: ``{site_id: [(t0, t1), ...]}``."""
        where = " AND site_id = ?" if site_id is not None else ""
        rows = self.db.fetchall(
            "SELECT site_id, t0_ns, t1_ns FROM coverage WHERE stream = ? AND t1_ns > ? AND t0_ns < ?"
            f"{where} ORDER BY site_id, t0_ns",
            (stream, int(start_ns), int(end_ns), *((site_id,) if site_id is not None else ())),
        )
        out: dict[str, list[tuple[int, int]]] = {}
        for r in rows:
            out.setdefault(r["site_id"], []).append((int(r["t0_ns"]), int(r["t1_ns"])))
        return out

    def completeness_pct(self, bin_starts_ns: Sequence[int], interval_s: int, *, stream: str = "traffic-worker",
                         site_id: str | None = None) -> np.ndarray:
        """Completeness of each interval ``[start, start + interval_s)``, in percent.

        Definition: the share of the interval's duration for which ``stream``
        processed data (its recorded coverage spans).  Over several sites
        (cloud, no site filter) it is the mean over the sites that report
        coverage for ``stream``.  ``NaN`` where no site reports coverage at all
        for the requested range (unknown, e.g. a store filled without a worker).
        """
        starts = np.asarray(bin_starts_ns, dtype=np.int64)
        out = np.full(starts.size, np.nan)
        if starts.size == 0:
            return out
        step = int(interval_s) * 1_000_000_000
        sw = " AND site_id = ?" if site_id is not None else ""
        sp = (stream, *((site_id,) if site_id is not None else ()))
        sites = [r["site_id"] for r in self.db.fetchall(f"SELECT DISTINCT site_id FROM coverage WHERE stream = ?{sw}", sp)]
        if not sites:
            return out  # this stream never reported coverage: unknown
        cov = self.get_coverage(stream, start_ns=int(starts.min()), end_ns=int(starts.max()) + step, site_id=site_id)
        acc = np.zeros(starts.size)
        for spans in cov.values():
            a = np.array([t for t, _ in spans], dtype=np.int64)
            b = np.array([t for _, t in spans], dtype=np.int64)
            acc += (_covered_upto(starts + step, a, b) - _covered_upto(starts, a, b)) / step
        return np.round(100.0 * np.minimum(acc / len(sites), 1.0), 3)

    # ---------------------------------------------------------------- queries
    @staticmethod
    def _where(conds: list[tuple[str, Any]]) -> tuple[str, list[Any]]:
        parts, params = [], []
        for clause, val in conds:
            if val is None:
                continue
            parts.append(clause)
            params.append(val)
        return (" WHERE " + " AND ".join(parts)) if parts else "", params

    def _page(self, table: str, where: str, params: list, order: str, limit: int, offset: int,
              count: bool = True, raw: bool = False) -> tuple[list, int | None]:
        rows = self.db.fetchall(f"SELECT doc FROM {table}{where} ORDER BY {order} LIMIT ? OFFSET ?",
                                [*params, int(limit), int(offset)])
        total = int(self.db.scalar(f"SELECT COUNT(*) FROM {table}{where}", params)) if count else None
        if raw:  # JSON text as stored (the API splices it into the response without re-parsing)
            return [r["doc"] for r in rows], total
        return [json.loads(r["doc"]) for r in rows], total

    def query_vehicles(
        self, *, start_ns: int | None = None, end_ns: int | None = None, direction: int | None = None,
        vehicle_class: str | None = None, fiber_id: str | None = None, site_id: str | None = None,
        limit: int = 1000, offset: int = 0, descending: bool = False, count: bool = True, raw: bool = False,
    ) -> tuple[list, int | None]:
        """Vehicles with ``start_ns <= t_ref_ns < end_ns``; returns ``(docs, total)``.

        ``raw=True`` returns the stored JSON strings instead of dicts (all ``query_*`` methods).
        """
        where, params = self._where([
            ("t_ref_ns >= ?", start_ns), ("t_ref_ns < ?", end_ns), ("direction = ?", direction),
            ("vehicle_class = ?", vehicle_class), ("fiber_id = ?", fiber_id), ("site_id = ?", site_id),
        ])
        order = "t_ref_ns DESC, id" if descending else "t_ref_ns, id"
        return self._page("vehicles", where, params, order, limit, offset, count, raw)

    def vehicle_arrays(self, *, start_ns: int, end_ns: int, direction: int | None = None,
                       fiber_id: str | None = None, site_id: str | None = None) -> dict[str, np.ndarray]:
        where, params = self._where([
            ("t_ref_ns >= ?", start_ns), ("t_ref_ns < ?", end_ns), ("direction = ?", direction),
            ("fiber_id = ?", fiber_id), ("site_id = ?", site_id),
        ])
        rows = self.db.execute(
            f"SELECT t_ref_ns, direction, vehicle_class, speed_kmh FROM vehicles{where}", params
        ).fetchall()
        if self.dialect == "postgresql":
            rows = [tuple(r.values()) for r in rows]
        if not rows:
            return {"t_ns": np.zeros(0, np.int64), "direction": np.zeros(0, np.int64),
                    "vehicle_class": np.zeros(0, str), "speed_kmh": np.zeros(0)}
        t, d, c, s = zip(*rows)
        return {"t_ns": np.asarray(t, np.int64), "direction": np.asarray(d, np.int64),
                "vehicle_class": np.asarray(c, str), "speed_kmh": np.asarray(s, np.float64)}

    def query_interval_stats(
        self, *, start_ns: int, end_ns: int, interval_s: int, direction: int | None = None,
        by_class: bool = False, fiber_id: str | None = None, site_id: str | None = None,
        source: str = "auto", limit: int = 100_000, offset: int = 0, raw: bool = False,
    ) -> tuple[list, str]:
        """Per-interval statistics; returns ``(rows, source_used)``.

        ``source="stored"`` returns rows written by ``put_interval_stats``
        with that ``interval_s``; ``"vehicles"`` aggregates vehicles on the
        fly (bins aligned on multiples of ``interval_s`` since the epoch);
        ``"auto"`` uses stored rows when any exist in the range, else vehicles.

        ``completeness_pct`` of rows computed from vehicles (and of stored rows
        that lack it) comes from the traffic worker's coverage spans, see
        :meth:`completeness_pct`; ``None`` when no coverage was ever reported.
        """
        if source in ("auto", "stored"):
            where, params = self._where([
                ("interval_s = ?", int(interval_s)), ("interval_start_ns >= ?", start_ns),
                ("interval_start_ns < ?", end_ns), ("direction = ?", direction), ("fiber_id = ?", fiber_id),
                ("site_id = ?", site_id),
            ])
            where += " AND vehicle_class <> ''" if by_class else " AND vehicle_class = ''"
            rows = self.db.fetchall(
                f"SELECT doc, interval_start_ns, completeness_pct FROM interval_stats{where} "
                "ORDER BY interval_start_ns, direction, vehicle_class LIMIT ? OFFSET ?", [*params, int(limit), int(offset)],
            )
            if rows or source == "stored":
                missing = [i for i, r in enumerate(rows) if r["completeness_pct"] is None]
                if missing:
                    comp = self.completeness_pct([rows[i]["interval_start_ns"] for i in missing], interval_s,
                                                 site_id=site_id)
                    for i, c in zip(missing, comp.tolist()):
                        if c == c:  # not NaN
                            d = json.loads(rows[i]["doc"])
                            d["completeness_pct"] = c
                            rows[i]["doc"] = _dumps(d)
                return [r["doc"] if raw else json.loads(r["doc"]) for r in rows], "stored"
        step = int(interval_s) * 1_000_000_000
        aligned = (int(start_ns) // step) * step
        arr = self.vehicle_arrays(start_ns=aligned, end_ns=end_ns, direction=direction, fiber_id=fiber_id,
                                  site_id=site_id)
        out = interval_stats(arr["t_ns"], arr["direction"], arr["vehicle_class"], arr["speed_kmh"],
                             start_ns=aligned, interval_s=int(interval_s), by_class=by_class)
        out = out[offset : offset + limit]
        comp = self.completeness_pct([r["interval_start_ns"] for r in out], interval_s, site_id=site_id).tolist()
        for r, c in zip(out, comp):
            r.pop("interval_start_ns", None)
            r["completeness_pct"] = None if c != c else c
        return ([_dumps(r) for r in out] if raw else out), "vehicles"

    def query_traffic_events(
        self, *, start_ns: int | None = None, end_ns: int | None = None, kind: str | None = None,
        site_id: str | None = None, limit: int = 1000, offset: int = 0, raw: bool = False,
    ) -> tuple[list, int | None]:
        where, params = self._where([
            ("t_end_ns >= ?", start_ns), ("t_start_ns < ?", end_ns), ("kind = ?", kind), ("site_id = ?", site_id),
        ])
        return self._page("traffic_events", where, params, "t_start_ns, id", limit, offset, True, raw)

    def query_modal(
        self, *, start_ns: int | None = None, end_ns: int | None = None, mode: int | None = None,
        site_id: str | None = None, limit: int = 1000, offset: int = 0, raw: bool = False,
    ) -> tuple[list, int | None]:
        where, params = self._where([
            ("t_ns >= ?", start_ns), ("t_ns < ?", end_ns), ("mode = ?", mode), ("site_id = ?", site_id),
        ])
        return self._page("modal_frequencies", where, params, "t_ns, id", limit, offset, True, raw)

    def query_picks(
        self, *, start_ns: int | None = None, end_ns: int | None = None, event_id: str | None = None,
        phase: str | None = None, min_score: float | None = None, site_id: str | None = None,
        limit: int = 1000, offset: int = 0, raw: bool = False,
    ) -> tuple[list, int | None]:
        where, params = self._where([
            ("t_ns >= ?", start_ns), ("t_ns < ?", end_ns), ("event_id = ?", event_id), ("phase = ?", phase),
            ("score >= ?", min_score), ("site_id = ?", site_id),
        ])
        return self._page("picks", where, params, "t_ns, id", limit, offset, True, raw)

    _EVENT_ORDER = {
        "time": "origin_ns DESC, id",
        "time-asc": "origin_ns, id",
        "magnitude": "magnitude DESC, origin_ns DESC, id",
        "magnitude-asc": "magnitude, origin_ns, id",
    }

    def query_events(
        self, *, start_ns: int | None = None, end_ns: int | None = None, min_magnitude: float | None = None,
        max_magnitude: float | None = None, min_depth_m: float | None = None, max_depth_m: float | None = None,
        updated_after_ns: int | None = None, event_id: str | None = None, site_id: str | None = None,
        min_latitude: float | None = None, max_latitude: float | None = None,
        min_longitude: float | None = None, max_longitude: float | None = None,
        latitude: float | None = None, longitude: float | None = None,
        min_radius_deg: float | None = None, max_radius_deg: float | None = None,
        orderby: str = "time", limit: int = 1000, offset: int = 0, count: bool = True, raw: bool = False,
    ) -> tuple[list, int | None]:
        """fdsnws-style event query (``offset`` here is 0-based; depths in metres).

        Geographic filters follow fdsnws-event: a box (``min/max_latitude``,
        ``min/max_longitude``; ``min_longitude > max_longitude`` is a box across
        the antimeridian) and a ring around ``latitude``/``longitude`` between
        ``min_radius_deg`` and ``max_radius_deg`` (great-circle degrees).  Events
        without a location never match a geographic filter.
        """
        if orderby not in self._EVENT_ORDER:
            raise ValueError(f"orderby must be one of {sorted(self._EVENT_ORDER)}")
        conds: list[tuple[str, Any]] = [
            ("origin_ns >= ?", start_ns), ("origin_ns <= ?", end_ns), ("magnitude >= ?", min_magnitude),
            ("magnitude <= ?", max_magnitude), ("depth_m >= ?", min_depth_m), ("depth_m <= ?", max_depth_m),
            ("updated_ns > ?", updated_after_ns), ("id = ?", event_id), ("site_id = ?", site_id),
            ("latitude >= ?", min_latitude), ("latitude <= ?", max_latitude),
        ]
        where, params = self._where(conds)
        extra: list[str] = []
        if min_longitude is not None and max_longitude is not None and min_longitude > max_longitude:
            extra.append("(longitude >= ? OR longitude <= ?)")
            params += [min_longitude, max_longitude]
        else:
            for clause, v in (("longitude >= ?", min_longitude), ("longitude <= ?", max_longitude)):
                if v is not None:
                    extra.append(clause)
                    params.append(v)
        if min_radius_deg is not None or max_radius_deg is not None:
            if latitude is None or longitude is None:
                raise ValueError("minradius/maxradius need latitude and longitude")
            dist = "dasedge_gcdist_deg(?, ?, latitude, longitude)"
            for op, v in ((">=", min_radius_deg), ("<=", max_radius_deg)):
                if v is not None:
                    extra.append(f"latitude IS NOT NULL AND {dist} {op} ?")
                    params += [float(latitude), float(longitude), float(v)]
        if extra:
            where = (where + " AND " if where else " WHERE ") + " AND ".join(extra)
        return self._page("events", where, params, self._EVENT_ORDER[orderby], limit, offset, count, raw)

    def get_event(self, event_id: str, site_id: str | None = None) -> dict | None:
        """The latest version of one event; ``site_id=None`` matches any site (first by site)."""
        if site_id is None:
            r = self.db.fetchone("SELECT doc FROM events WHERE id = ? ORDER BY site_id LIMIT 1", (event_id,))
        else:
            r = self.db.fetchone("SELECT doc FROM events WHERE site_id = ? AND id = ?", (site_id, event_id))
        return None if r is None else json.loads(r["doc"])

    def event_sites(self, event_id: str) -> list[str]:
        """Sites holding an event with this id (cloud: ids are unique per site only)."""
        return [r["site_id"] for r in self.db.fetchall(
            "SELECT site_id FROM events WHERE id = ? ORDER BY site_id", (event_id,))]

    def last_data_ns(self) -> int | None:
        """Latest record time over vehicles, picks and events (``None`` if empty)."""
        vals = [
            self.db.scalar("SELECT MAX(t_ref_ns) FROM vehicles"),
            self.db.scalar("SELECT MAX(t_ns) FROM picks"),
            self.db.scalar("SELECT MAX(origin_ns) FROM events"),
        ]
        vals = [int(v) for v in vals if v is not None]
        return max(vals) if vals else None


def _covered_upto(t: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Covered time before each ``t`` by the disjoint sorted spans ``[a_i, b_i)`` (vectorised)."""
    cum = np.concatenate([[0], np.cumsum(b - a)])
    k = np.searchsorted(a, t, side="right")  # spans starting at or before t
    last = np.maximum(k - 1, 0)
    part = np.where(k > 0, np.clip(np.minimum(t, b[last]) - a[last], 0, None), 0)
    return cum[last] * (k > 0) + part


def _iso(ns: int) -> str:
    from dasedge.block import iso_utc

    return iso_utc(ns)
