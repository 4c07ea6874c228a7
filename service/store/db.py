"""Thin connection layer over sqlite3 and psycopg 3 (same SQL, ``?`` placeholders).

One connection per thread (``threading.local``) so FastAPI's thread pool can
read concurrently (SQLite in WAL mode: readers never block the writer).
Write transactions on SQLite start with ``BEGIN IMMEDIATE`` so two writers
serialise on the busy timeout instead of failing on lock upgrade.
"""

from __future__ import annotations

import math
import re
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence


def parse_url(url: str | Path) -> tuple[str, str]:
    """Return ``(dialect, target)`` for ``sqlite:///path``, a plain path or ``postgresql://``."""
    s = str(url)
    if s.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        return "postgresql", s.replace("postgresql+psycopg://", "postgresql://", 1)
    if s.startswith("sqlite:///"):
        return "sqlite", s[len("sqlite:///"):]
    if s.startswith("sqlite://"):
        raise ValueError(f"unsupported SQLite URL {s!r}; use sqlite:///path (in-memory is not supported)")
    if "://" in s:
        raise ValueError(f"unsupported database URL scheme in {s.split('://', 1)[0]!r}")
    return "sqlite", s


_QMARK = re.compile(r"\?")


def gcdist_deg(lat1: float | None, lon1: float | None, lat2: float | None, lon2: float | None) -> float | None:
    """Great-circle distance in degrees (haversine); ``None`` if any input is ``None``.

    Registered as the SQL function ``dasedge_gcdist_deg`` on SQLite; PostgreSQL
    has the same function from migration 3.
    """
    if lat1 is None or lon1 is None or lat2 is None or lon2 is None:
        return None
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return math.degrees(2 * math.asin(min(1.0, math.sqrt(h))))


class Database:
    """Per-thread connections to one SQLite file or PostgreSQL database."""

    def __init__(self, url: str | Path, *, synchronous: str = "NORMAL", busy_timeout_ms: int = 10_000):
        self.dialect, self.target = parse_url(url)
        self.synchronous = synchronous.upper()
        if self.synchronous not in ("NORMAL", "FULL"):
            raise ValueError("synchronous must be NORMAL or FULL")
        self.busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._all: list[Any] = []
        self._lock = threading.Lock()
        if self.dialect == "sqlite":
            Path(self.target).expanduser().parent.mkdir(parents=True, exist_ok=True)
        self.conn()  # fail early on a bad URL / unreachable server

    # -- connections -------------------------------------------------------
    def _connect(self):
        if self.dialect == "sqlite":
            c = sqlite3.connect(
                str(Path(self.target).expanduser()),
                isolation_level=None,
                check_same_thread=False,
                timeout=self.busy_timeout_ms / 1000,
            )
            c.row_factory = sqlite3.Row
            c.execute("PRAGMA journal_mode=WAL")
            c.execute(f"PRAGMA synchronous={self.synchronous}")
            c.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
            c.execute("PRAGMA foreign_keys=ON")
            c.create_function("dasedge_gcdist_deg", 4, gcdist_deg, deterministic=True)
            return c
        import psycopg
        from psycopg.rows import dict_row

        return psycopg.connect(self.target, autocommit=True, row_factory=dict_row)

    def conn(self):
        c = getattr(self._local, "conn", None)
        if c is None:
            c = self._connect()
            self._local.conn = c
            with self._lock:
                self._all.append(c)
        return c

    def close(self) -> None:
        with self._lock:
            for c in self._all:
                try:
                    c.close()
                except Exception:  # pragma: no cover - best effort
                    pass
            self._all.clear()
        self._local = threading.local()

    # -- SQL ---------------------------------------------------------------
    def sql(self, stmt: str) -> str:
        return stmt if self.dialect == "sqlite" else _QMARK.sub("%s", stmt)

    def execute(self, stmt: str, params: Sequence[Any] = ()):
        c = self.conn()
        if self.dialect == "sqlite":
            return c.execute(stmt, tuple(params))
        return c.execute(self.sql(stmt), tuple(params))

    def executemany(self, stmt: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = [tuple(r) for r in rows]
        if not rows:
            return
        c = self.conn()
        if self.dialect == "sqlite":
            c.executemany(stmt, rows)
        else:
            with c.cursor() as cur:
                cur.executemany(self.sql(stmt), rows)

    def fetchall(self, stmt: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in self.execute(stmt, params).fetchall()]

    def fetchone(self, stmt: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        r = self.execute(stmt, params).fetchone()
        return None if r is None else dict(r)

    def scalar(self, stmt: str, params: Sequence[Any] = ()) -> Any:
        r = self.execute(stmt, params).fetchone()
        if r is None:
            return None
        return r[0] if self.dialect == "sqlite" else next(iter(r.values()))

    @contextmanager
    def tx(self) -> Iterator["Database"]:
        """A write transaction on this thread's connection (nested use is not supported)."""
        c = self.conn()
        if self.dialect == "sqlite":
            c.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                # SQLITE_FULL/IOERR roll the transaction back by themselves: do not mask the
                # real error with "cannot rollback - no transaction is active"
                if c.in_transaction:
                    c.execute("ROLLBACK")
                raise
            else:
                try:
                    c.execute("COMMIT")
                except BaseException:
                    if c.in_transaction:
                        c.execute("ROLLBACK")
                    raise
        else:
            with c.transaction():
                yield self
