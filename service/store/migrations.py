"""Numbered schema migrations, shared by SQLite and PostgreSQL.

Each migration is ``(number, name, [statements])``.  Statements use the
placeholders ``{serial}`` (auto-increment integer primary key) which the
dialect fills in; everything else is portable SQL (``BIGINT``, ``DOUBLE
PRECISION``, ``TEXT``).  Applied migrations are recorded in
``schema_migrations``; :func:`apply` runs the missing ones in order, each in
its own transaction.  Never edit a released migration: append a new one.
A statement item may also be ``{"sqlite": [...], "postgresql": [...]}`` for
dialect-specific DDL (table rebuilds, functions).

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


# ---- migration 3 helpers: rebuild the record tables with a (site_id, id) primary key ----
#: record tables whose id is only unique within one site (stable ids derive from fiber + time, so two
#: edges can produce the same id); columns as in migration 1, ``events`` gains latitude/longitude
_RECORD_TABLES: dict[str, tuple[str, list[str]]] = {
    "vehicles": (
        """site_id TEXT NOT NULL DEFAULT '', id TEXT NOT NULL, fiber_id TEXT NOT NULL,
        t_ref_ns BIGINT NOT NULL, t_start_ns BIGINT NOT NULL, t_end_ns BIGINT NOT NULL,
        direction INTEGER NOT NULL, vehicle_class TEXT NOT NULL, speed_kmh DOUBLE PRECISION NOT NULL,
        lane INTEGER, doc TEXT NOT NULL""",
        ["CREATE INDEX vehicles_t ON vehicles (t_ref_ns)",
         "CREATE INDEX vehicles_site_t ON vehicles (site_id, t_ref_ns)"],
    ),
    "traffic_events": (
        """site_id TEXT NOT NULL DEFAULT '', id TEXT NOT NULL, fiber_id TEXT NOT NULL,
        kind TEXT NOT NULL, t_start_ns BIGINT NOT NULL, t_end_ns BIGINT NOT NULL,
        direction INTEGER, doc TEXT NOT NULL""",
        ["CREATE INDEX traffic_events_t ON traffic_events (t_start_ns)"],
    ),
    "modal_frequencies": (
        """site_id TEXT NOT NULL DEFAULT '', id TEXT NOT NULL, fiber_id TEXT NOT NULL,
        t_ns BIGINT NOT NULL, mode INTEGER NOT NULL, frequency_hz DOUBLE PRECISION NOT NULL,
        doc TEXT NOT NULL""",
        ["CREATE INDEX modal_t ON modal_frequencies (t_ns)"],
    ),
    "picks": (
        """site_id TEXT NOT NULL DEFAULT '', id TEXT NOT NULL, fiber_id TEXT NOT NULL,
        t_ns BIGINT NOT NULL, channel INTEGER NOT NULL, phase TEXT NOT NULL,
        score DOUBLE PRECISION NOT NULL, event_id TEXT, doc TEXT NOT NULL""",
        ["CREATE INDEX picks_t ON picks (t_ns)", "CREATE INDEX picks_event ON picks (site_id, event_id)"],
    ),
    "events": (
        """site_id TEXT NOT NULL DEFAULT '', id TEXT NOT NULL, fiber_id TEXT NOT NULL,
        origin_ns BIGINT NOT NULL, magnitude DOUBLE PRECISION, depth_m DOUBLE PRECISION,
        version INTEGER NOT NULL, status TEXT NOT NULL, updated_ns BIGINT NOT NULL,
        doc TEXT NOT NULL, latitude DOUBLE PRECISION, longitude DOUBLE PRECISION""",
        ["CREATE INDEX events_t ON events (origin_ns)", "CREATE INDEX events_id ON events (id)"],
    ),
}
_OLD_COLS = {
    "vehicles": "site_id, id, fiber_id, t_ref_ns, t_start_ns, t_end_ns, direction, vehicle_class, speed_kmh, lane, doc",
    "traffic_events": "site_id, id, fiber_id, kind, t_start_ns, t_end_ns, direction, doc",
    "modal_frequencies": "site_id, id, fiber_id, t_ns, mode, frequency_hz, doc",
    "picks": "site_id, id, fiber_id, t_ns, channel, phase, score, event_id, doc",
    "events": "site_id, id, fiber_id, origin_ns, magnitude, depth_m, version, status, updated_ns, doc",
}


def _sqlite_rebuild() -> list[str]:
    out = []
    for t, (cols, idx) in _RECORD_TABLES.items():
        out += [
            f"CREATE TABLE {t}__new ({cols}, PRIMARY KEY (site_id, id))",
            f"INSERT INTO {t}__new ({_OLD_COLS[t]}) SELECT {_OLD_COLS[t]} FROM {t}",
            f"DROP TABLE {t}",  # drops its indexes too
            f"ALTER TABLE {t}__new RENAME TO {t}",
            *idx,
        ]
    out.append("UPDATE events SET latitude = json_extract(doc, '$.latitude'), "
               "longitude = json_extract(doc, '$.longitude')")
    # cloud rows: the stored doc names its site (what the API returns)
    out += [f"UPDATE {t} SET doc = json_set(doc, '$.site_id', site_id) WHERE site_id <> ''" for t in _RECORD_TABLES]
    return out


def _pg_rekey() -> list[str]:
    out = [f"ALTER TABLE {t} DROP CONSTRAINT {t}_pkey, ADD PRIMARY KEY (site_id, id)" for t in _RECORD_TABLES]
    out += [
        "DROP INDEX picks_event",
        "CREATE INDEX picks_event ON picks (site_id, event_id)",
        "CREATE INDEX events_id ON events (id)",
        "ALTER TABLE events ADD COLUMN latitude DOUBLE PRECISION, ADD COLUMN longitude DOUBLE PRECISION",
        "UPDATE events SET latitude = (doc::jsonb ->> 'latitude')::double precision, "
        "longitude = (doc::jsonb ->> 'longitude')::double precision",
    ]
    out += [f"UPDATE {t} SET doc = (doc::jsonb || jsonb_build_object('site_id', site_id))::text WHERE site_id <> ''"
            for t in _RECORD_TABLES]
    return out


# great-circle distance in degrees (haversine); SQLite gets the same function from Python
# (``Database._connect`` registers ``dasedge_gcdist_deg``), PostgreSQL as an SQL function
_PG_GCDIST = (
    "CREATE OR REPLACE FUNCTION dasedge_gcdist_deg(lat1 DOUBLE PRECISION, lon1 DOUBLE PRECISION, "
    "lat2 DOUBLE PRECISION, lon2 DOUBLE PRECISION) RETURNS DOUBLE PRECISION LANGUAGE sql IMMUTABLE AS "
    "'SELECT degrees(2 * asin(least(1.0, sqrt(power(sin(radians(lat2 - lat1) / 2), 2) + "
    "cos(radians(lat1)) * cos(radians(lat2)) * power(sin(radians(lon2 - lon1) / 2), 2)))))'"
)

MIGRATIONS += [
    (
        2,
        "outbox claim index; cloud ingest log",
        [
            # Store.claim orders by (priority DESC, seq): without this index SQLite sorts the whole
            # outbox on every claim (0.64 s per claim at 22 k pending rows, 0.06 s with it).
            # IF NOT EXISTS: pushers before this migration created it at runtime.
            "CREATE INDEX IF NOT EXISTS outbox_claim ON outbox (priority DESC, seq)",
            # cloud idempotency log, keyed by (edge, item key); empty on an edge box
            """CREATE TABLE IF NOT EXISTS cloud_ingest_log (
                edge_id TEXT NOT NULL, idempotency_key TEXT NOT NULL, kind TEXT NOT NULL,
                received_ns BIGINT NOT NULL, PRIMARY KEY (edge_id, idempotency_key))""",
        ],
    ),
    (
        3,
        "record identity (site_id, id); event latitude/longitude columns; alerts.site_id",
        [
            {"sqlite": _sqlite_rebuild(), "postgresql": _pg_rekey()},
            "ALTER TABLE alerts ADD COLUMN site_id TEXT NOT NULL DEFAULT ''",
            "CREATE INDEX alerts_site_seq ON alerts (site_id, seq)",
            "CREATE INDEX events_lat_lon ON events (latitude, longitude)",
            {"postgresql": [_PG_GCDIST]},
        ],
    ),
    (
        4,
        "data coverage intervals (interval statistics completeness)",
        [
            # half-open [t0_ns, t1_ns) spans of data time a pipeline processed, merged on write
            """CREATE TABLE coverage (
                site_id TEXT NOT NULL DEFAULT '', stream TEXT NOT NULL,
                t0_ns BIGINT NOT NULL, t1_ns BIGINT NOT NULL, PRIMARY KEY (site_id, stream, t0_ns))""",
            "CREATE INDEX coverage_t1 ON coverage (site_id, stream, t1_ns)",
        ],
    ),
]


def statements(stmts: list, dialect: str) -> list[str]:
    """Flatten a migration's statement list for ``dialect``.

    Items are portable SQL strings or ``{dialect: [statements]}`` mappings
    (a dialect missing from the mapping runs nothing for that item).
    """
    out: list[str] = []
    for s in stmts:
        if isinstance(s, dict):
            out += [dialect_sql(x, dialect) for x in s.get(dialect, [])]
        else:
            out.append(dialect_sql(s, dialect))
    return out


def dialect_sql(stmt: str, dialect: str) -> str:
    """Fill the dialect placeholders of a migration statement."""
    serial = (
        "INTEGER PRIMARY KEY AUTOINCREMENT"
        if dialect == "sqlite"
        else "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
    )
    return stmt.format(serial=serial)
