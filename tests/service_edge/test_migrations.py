"""Schema migrations: applied once, idempotent, concurrent-safe; upgrade of a version-1 database keeps its data.

Migration 2 creates the outbox claim index (formerly created by the pusher at
runtime), migration 3 re-keys the record tables on ``(site_id, id)``, migration
4 adds the coverage table.  Run on SQLite and on a real PostgreSQL server.
"""

from __future__ import annotations

import json
import threading

import pytest

import service.store.store as store_mod
from service.store import open_store
from service.store.migrations import MIGRATIONS

from .conftest import T0, make_event, make_vehicle

S = 1_000_000_000


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/m.sqlite"
    return request.getfixturevalue("pg_fresh_url")


def _indexes(store, table: str) -> list[str]:
    if store.dialect == "sqlite":
        return [r["name"] for r in store.db.fetchall("SELECT name FROM sqlite_master WHERE type = 'index' "
                                                      "AND tbl_name = ? AND sql IS NOT NULL", (table,))]
    return [r["indexname"] for r in store.db.fetchall("SELECT indexname FROM pg_indexes WHERE tablename = ?",
                                                       (table,))]


def _v1_store(url, monkeypatch, *, pusher_index: bool):
    """A database at schema version 1 with rows written the old way (raw SQL, global ids)."""
    monkeypatch.setattr(store_mod, "MIGRATIONS", MIGRATIONS[:1])
    s = open_store(url, outbox=False)
    assert s.schema_version() == 1
    v = make_vehicle(1, t_ns=T0)
    d = v.to_dict()
    s.db.execute("INSERT INTO vehicles (id, site_id, fiber_id, t_ref_ns, t_start_ns, t_end_ns, direction, "
                 "vehicle_class, speed_kmh, lane, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 (v.id, "site-a", v.fiber_id, v.t_ref_ns, v.t_start_ns, v.t_end_ns, v.direction, v.vehicle_class,
                  v.speed_kmh, None, json.dumps(d)))
    e = make_event(1, t_ns=T0 + 10 * S)
    e_doc = {**e.to_dict(), "latitude": 46.5, "longitude": 7.25}
    s.db.execute("INSERT INTO events (id, site_id, fiber_id, origin_ns, magnitude, depth_m, version, status, "
                 "updated_ns, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 (e.id, "site-a", e.fiber_id, e.origin_ns, e.magnitude, e.depth_m, 1, "new", T0, json.dumps(e_doc)))
    s.db.execute("INSERT INTO alerts (kind, ref_id, version, created_ns, doc) VALUES ('event', ?, 1, ?, '{}')",
                 (e.id, T0))
    if pusher_index:  # what service.pusher did at runtime before migration 2
        s.db.execute("CREATE INDEX IF NOT EXISTS outbox_claim ON outbox (priority DESC, seq)")
    s.close()
    monkeypatch.setattr(store_mod, "MIGRATIONS", MIGRATIONS)
    return v, e


@pytest.mark.parametrize("pusher_index", [False, True])
def test_upgrade_from_v1_keeps_data_and_rekeys(db_url, monkeypatch, pusher_index):
    v, e = _v1_store(db_url, monkeypatch, pusher_index=pusher_index)
    s = open_store(db_url, outbox=False)
    try:
        assert s.schema_version() == MIGRATIONS[-1][0]
        applied = [r["version"] for r in s.db.fetchall("SELECT version FROM schema_migrations ORDER BY version")]
        assert applied == [m[0] for m in MIGRATIONS]
        # the claim index now comes from the migration, exactly one of it
        assert _indexes(s, "outbox").count("outbox_claim") == 1
        # old rows survived; their docs name the site; the event got its coordinates as columns
        docs, total = s.query_vehicles(site_id="site-a")
        assert total == 1 and docs[0]["id"] == v.id and docs[0]["site_id"] == "site-a"
        row = s.db.fetchone("SELECT latitude, longitude FROM events WHERE id = ?", (e.id,))
        assert (row["latitude"], row["longitude"]) == (46.5, 7.25)
        assert s.alerts_after(0)[0]["site_id"] == ""
        # identity is (site_id, id): the same id from another site is a second row, not an overwrite
        assert s.put_vehicle_dicts([{**v.to_dict(), "site_id": "site-b"}], site_id="site-b") == 1
        assert s.db.scalar("SELECT COUNT(*) FROM vehicles WHERE id = ?", (v.id,)) == 2
        assert s.migrate() == []  # idempotent
    finally:
        s.close()
    s2 = open_store(db_url, outbox=False)  # re-open: nothing applied again
    try:
        assert s2.migrate() == []
        assert s2.db.scalar("SELECT COUNT(*) FROM schema_migrations") == len(MIGRATIONS)
    finally:
        s2.close()


def test_fresh_store_has_claim_index_and_claim_uses_it(tmp_path):
    s = open_store(tmp_path / "e.sqlite")
    try:
        assert "outbox_claim" in _indexes(s, "outbox")
        plan = " ".join(str(tuple(r)) for r in s.db.execute(
            "EXPLAIN QUERY PLAN SELECT seq FROM outbox WHERE claimed_until_ns < 0 ORDER BY priority DESC, seq LIMIT 5"
        ).fetchall())
        assert "outbox_claim" in plan and "TEMP B-TREE" not in plan  # no sort of the whole outbox
    finally:
        s.close()


def test_pusher_no_longer_creates_the_index(tmp_path):
    """The runtime DDL is gone from the pusher: constructing one issues no CREATE INDEX."""
    import inspect

    import service.pusher as pusher

    assert "CREATE INDEX" not in inspect.getsource(pusher)


def test_concurrent_first_open_applies_each_migration_once(pg_fresh_url):
    """Several processes/threads opening a fresh PostgreSQL database at once (uvicorn workers)."""
    errors: list[BaseException] = []
    stores = []

    def opener():
        try:
            stores.append(open_store(pg_fresh_url, outbox=False))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    ts = [threading.Thread(target=opener) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    try:
        assert not errors, errors
        s = stores[0]
        assert s.db.scalar("SELECT COUNT(*) FROM schema_migrations") == len(MIGRATIONS)
        assert [r["version"] for r in s.db.fetchall("SELECT version FROM schema_migrations ORDER BY version")] == [
            m[0] for m in MIGRATIONS]
    finally:
        for s in stores:
            s.close()
