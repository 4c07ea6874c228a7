"""Result store: SQLite (edge) or PostgreSQL (cloud) behind one API.

>>> store = open_store("var/dasedge.sqlite")            # or "sqlite:///var/x.sqlite"
>>> store = open_store("postgresql://user:pw@host/db", outbox=False)   # cloud

See :class:`service.store.store.Store` for the full method list, the outbox
policy and idempotency rules.

SQLite durability: WAL journal, ``synchronous=NORMAL`` by default (a commit
is durable once the WAL is checkpointed; after a power cut the database is
consistent but the last few commits may be lost — records are then re-produced
from Kafka because offsets are committed only after the store write);
``synchronous="FULL"`` fsyncs every commit.  Busy timeout 10 s.
"""

from __future__ import annotations

from pathlib import Path

from .db import Database, parse_url
from .stats import interval_stats
from .store import PRIORITY, Store, iso_to_ns, now_ns

__all__ = ["Database", "PRIORITY", "Store", "interval_stats", "iso_to_ns", "now_ns", "open_store", "parse_url"]


def open_store(
    url: str | Path,
    *,
    outbox: bool = True,
    outbox_max_rows: int = 200_000,
    synchronous: str = "NORMAL",
    busy_timeout_ms: int = 10_000,
) -> Store:
    """Open (and migrate) the store at ``url``.

    Parameters
    ----------
    url
        ``sqlite:///path``, a plain filesystem path, or ``postgresql://...``
        (psycopg 3).  In-memory SQLite is not supported (one connection per thread).
    outbox
        Write an outbox row for every changed record (edge: True; cloud: False).
    outbox_max_rows
        Bound of the outbox (see the policy in :mod:`service.store.store`).
    synchronous
        SQLite ``synchronous`` pragma, ``"NORMAL"`` or ``"FULL"``.
    busy_timeout_ms
        SQLite busy timeout.
    """
    db = Database(url, synchronous=synchronous, busy_timeout_ms=busy_timeout_ms)
    return Store(db, outbox=outbox, outbox_max_rows=outbox_max_rows)
