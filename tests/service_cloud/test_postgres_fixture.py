"""The PostgreSQL fixture gives a real server on loopback with a fresh database per test."""

from urllib.parse import urlparse

import psycopg


def test_postgres_fixture_real_server(pg_fresh_url: str) -> None:
    u = urlparse(pg_fresh_url)
    assert u.hostname == "127.0.0.1"
    with psycopg.connect(pg_fresh_url) as conn:
        major = conn.execute("SHOW server_version_num").fetchone()[0]
        assert int(major) >= 150000
        # fresh database: no user tables
        n = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema='public'"
        ).fetchone()[0]
        assert n == 0
        conn.execute("CREATE TABLE t (k text primary key)")
        conn.execute("INSERT INTO t VALUES ('a') ON CONFLICT DO NOTHING")
        conn.execute("INSERT INTO t VALUES ('a') ON CONFLICT DO NOTHING")
        assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 1
