"""Numbered schema migrations, shared by SQLite and PostgreSQL.

Each migration is ``(number, name, [statements])``.  Statements use the
placeholders ``{serial}`` (auto-increment integer primary key) which the
dialect fills in; everything else is portable SQL (``BIGINT``, ``DOUBLE
PRECISION``, ``TEXT``).  Applied migrations are recorded in
``schema_migrations``; :func:`apply` runs the missing ones in order, each in
its own transaction.  Never edit a released migration: append a new one.

Times are stored as int UTC nanoseconds (``*_ns``).  The full JSON form of a
record (``records.*.to_dict()``) is kept in ``doc`` and returned by the API;
the other columns exist for filtering and ordering.  ``site_id`` is ``''`` on
an edge box and the originating edge's site on the cloud.
"""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (
        1,
        "initial schema",
        [
            # ---- traffic ----
            """CREATE TABLE vehicles (
                id TEXT PRIMARY KEY, site_id TEXT NOT NULL DEFAULT '', fiber_id TEXT NOT NULL,
                t_ref_ns BIGINT NOT NULL, t_start_ns BIGINT NOT NULL, t_end_ns BIGINT NOT NULL,
                direction INTEGER NOT NULL, vehicle_class TEXT NOT NULL, speed_kmh DOUBLE PRECISION NOT NULL,
                lane INTEGER, doc TEXT NOT NULL)""",
            "CREATE INDEX vehicles_t ON vehicles (t_ref_ns)",
            "CREATE INDEX vehicles_site_t ON vehicles (site_id, t_ref_ns)",
            """CREATE TABLE traffic_events (
                id TEXT PRIMARY KEY, site_id TEXT NOT NULL DEFAULT '', fiber_id TEXT NOT NULL,
                kind TEXT NOT NULL, t_start_ns BIGINT NOT NULL, t_end_ns BIGINT NOT NULL,
                direction INTEGER, doc TEXT NOT NULL)""",
            "CREATE INDEX traffic_events_t ON traffic_events (t_start_ns)",
            """CREATE TABLE modal_frequencies (
                id TEXT PRIMARY KEY, site_id TEXT NOT NULL DEFAULT '', fiber_id TEXT NOT NULL,
                t_ns BIGINT NOT NULL, mode INTEGER NOT NULL, frequency_hz DOUBLE PRECISION NOT NULL,
                doc TEXT NOT NULL)""",
            "CREATE INDEX modal_t ON modal_frequencies (t_ns)",
            """CREATE TABLE interval_stats (
                site_id TEXT NOT NULL DEFAULT '', fiber_id TEXT NOT NULL,
                interval_start_ns BIGINT NOT NULL, interval_s INTEGER NOT NULL,
                direction INTEGER NOT NULL, vehicle_class TEXT NOT NULL DEFAULT '',
                volume INTEGER NOT NULL, completeness_pct DOUBLE PRECISION, doc TEXT NOT NULL,
                PRIMARY KEY (site_id, fiber_id, interval_s, interval_start_ns, direction, vehicle_class))""",
            "CREATE INDEX interval_stats_t ON interval_stats (interval_s, interval_start_ns)",
            # ---- seismic ----
            """CREATE TABLE picks (
                id TEXT PRIMARY KEY, site_id TEXT NOT NULL DEFAULT '', fiber_id TEXT NOT NULL,
                t_ns BIGINT NOT NULL, channel INTEGER NOT NULL, phase TEXT NOT NULL,
                score DOUBLE PRECISION NOT NULL, event_id TEXT, doc TEXT NOT NULL)""",
            "CREATE INDEX picks_t ON picks (t_ns)",
            "CREATE INDEX picks_event ON picks (event_id)",
            """CREATE TABLE events (
                id TEXT PRIMARY KEY, site_id TEXT NOT NULL DEFAULT '', fiber_id TEXT NOT NULL,
                origin_ns BIGINT NOT NULL, magnitude DOUBLE PRECISION, depth_m DOUBLE PRECISION,
                version INTEGER NOT NULL, status TEXT NOT NULL, updated_ns BIGINT NOT NULL,
                doc TEXT NOT NULL)""",
            "CREATE INDEX events_t ON events (origin_ns)",
            # ---- alerts and webhooks ----
            """CREATE TABLE alerts (
                seq {serial}, kind TEXT NOT NULL, ref_id TEXT NOT NULL, version INTEGER NOT NULL,
                created_ns BIGINT NOT NULL, doc TEXT NOT NULL)""",
            "CREATE INDEX alerts_ref ON alerts (ref_id)",
            """CREATE TABLE subscriptions (
                id TEXT PRIMARY KEY, url TEXT NOT NULL, filters TEXT NOT NULL, format TEXT NOT NULL,
                secret TEXT NOT NULL, created_ns BIGINT NOT NULL, after_seq BIGINT NOT NULL,
                active INTEGER NOT NULL DEFAULT 1)""",
            """CREATE TABLE deliveries (
                id {serial}, subscription_id TEXT NOT NULL, alert_seq BIGINT NOT NULL,
                status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_ns BIGINT NOT NULL, last_status INTEGER, last_error TEXT,
                updated_ns BIGINT NOT NULL, UNIQUE (subscription_id, alert_seq))""",
            "CREATE INDEX deliveries_due ON deliveries (status, next_attempt_ns)",
            # ---- auth ----
            """CREATE TABLE api_keys (
                key_id TEXT PRIMARY KEY, salt TEXT NOT NULL, hash TEXT NOT NULL, scopes TEXT NOT NULL,
                name TEXT NOT NULL DEFAULT '', created_ns BIGINT NOT NULL, revoked_ns BIGINT,
                last_used_ns BIGINT)""",
            # ---- store-and-forward ----
            """CREATE TABLE outbox (
                seq {serial}, kind TEXT NOT NULL, key TEXT NOT NULL, priority INTEGER NOT NULL,
                payload TEXT NOT NULL, created_ns BIGINT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
                claimed_until_ns BIGINT NOT NULL DEFAULT 0)""",
            "CREATE INDEX outbox_prio ON outbox (priority, seq)",
            """CREATE TABLE counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL)""",
            # ---- cloud site registry ----
            """CREATE TABLE sites (
                site_id TEXT PRIMARY KEY, name TEXT NOT NULL DEFAULT '', fiber_id TEXT NOT NULL DEFAULT '',
                latitude DOUBLE PRECISION, longitude DOUBLE PRECISION,
                chainage_from_m DOUBLE PRECISION, chainage_to_m DOUBLE PRECISION,
                key_id TEXT, last_seen_ns BIGINT, doc TEXT NOT NULL)""",
            # ---- status / heartbeats ----
            """CREATE TABLE status (
                site_id TEXT NOT NULL DEFAULT '', component TEXT NOT NULL,
                heartbeat_ns BIGINT NOT NULL, last_data_ns BIGINT, lag_s DOUBLE PRECISION,
                throughput DOUBLE PRECISION, model_version TEXT, ok INTEGER NOT NULL DEFAULT 1,
                detail TEXT NOT NULL DEFAULT '{{}}', PRIMARY KEY (site_id, component))""",
        ],
    ),
]


def dialect_sql(stmt: str, dialect: str) -> str:
    """Fill the dialect placeholders of a migration statement."""
    serial = (
        "INTEGER PRIMARY KEY AUTOINCREMENT"
        if dialect == "sqlite"
        else "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
    )
    return stmt.format(serial=serial)
