"""Edge API benchmark: request throughput and latency percentiles on loopback.

Seeds a SQLite store with a year of 15-min traffic statistics (both
directions), 100k vehicles (over 30 days) and 2000 seismic events, starts
``dasedge serve`` in a subprocess, and drives it from a SECOND process (an
asyncio + httpx load generator) with a fixed number of requests per endpoint
at a fixed concurrency.  Writes ``bench/results/api.md``.

Usage::

    .venv/bin/python bench/bench_api.py [--requests 400] [--concurrency 8] [--out bench/results/api.md]

Timings on a shared machine are noisy; ratios to ``/health`` measured in the
same run are the more portable figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

S = 1_000_000_000
YEAR_START = 1_735_689_600 * S  # 2025-01-01T00:00:00Z
DAY = 86_400 * S


def iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- seeding
def seed(db: Path, n_vehicles: int, n_events: int) -> dict:
    from dasedge.records import SeismicEvent, Vehicle, stable_id
    from service.store import interval_stats, open_store

    rng = np.random.default_rng(0)
    out = {}
    store = open_store(db, outbox=False)
    # a year of stored 15-min stats, both directions (what the traffic pipeline writes)
    t0 = time.perf_counter()
    rows = []
    n_bins = 365 * 96
    for k in range(n_bins):
        for d in (-1, 1):
            vol = int(rng.poisson(60))
            rows.append({"fiber_id": "fib", "interval_start_ns": YEAR_START + k * 900 * S, "interval_s": 900,
                         "direction": d, "volume": vol, "flow_veh_h": vol * 4.0, "mean_speed_kmh": 80.0,
                         "p50_speed_kmh": 79.0, "p85_speed_kmh": 95.0, "completeness_pct": 100.0,
                         "class_counts": {"car": vol, "truck": 0}, "heavy_share": 0.0})
    for i in range(0, len(rows), 5000):
        store.put_interval_stats(rows[i:i + 5000])
    out["stats_rows"] = len(rows)
    out["stats_seed_rows_per_s"] = len(rows) / (time.perf_counter() - t0)
    # 100k vehicles over the last 30 days of the year, written WITH the outbox (the edge write path)
    store_ob = open_store(db, outbox=True, outbox_max_rows=10_000_000)
    v_start = YEAR_START + 335 * DAY
    t = np.sort(rng.integers(v_start, v_start + 30 * DAY, n_vehicles))
    sp = rng.normal(85, 15, n_vehicles).clip(5, 180)
    dr = rng.choice([-1, 1], n_vehicles)
    cl = rng.choice(["car", "truck"], n_vehicles, p=[0.85, 0.15])
    vs = [Vehicle(id=stable_id("bench", i, prefix="v_"), fiber_id="fib", t_start_ns=int(t[i]) - 2 * S,
                  t_end_ns=int(t[i]) + 2 * S, x_start_m=0.0, x_end_m=400.0, speed_kmh=float(sp[i]),
                  direction=int(dr[i]), vehicle_class=str(cl[i]), t_ref_ns=int(t[i])) for i in range(n_vehicles)]
    t0 = time.perf_counter()
    for i in range(0, n_vehicles, 500):  # a worker sink writes one batch per window
        store_ob.put_vehicles(vs[i:i + 500])
    out["vehicle_write_per_s"] = n_vehicles / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    store_ob.put_vehicles(vs[:10_000])  # idempotent re-delivery of 10k vehicles: no change
    out["vehicle_redelivery_per_s"] = 10_000 / (time.perf_counter() - t0)
    # in-process aggregation speed (no HTTP): one day of vehicles into 5-min bins
    arr = store.vehicle_arrays(start_ns=v_start, end_ns=v_start + 30 * DAY)
    t0 = time.perf_counter()
    for _ in range(5):
        interval_stats(arr["t_ns"], arr["direction"], arr["vehicle_class"], arr["speed_kmh"], start_ns=v_start,
                       interval_s=300)
    out["aggregate_100k_5min_s"] = (time.perf_counter() - t0) / 5
    evs = [SeismicEvent(id=f"ev{i:05d}", fiber_id="fib", origin_ns=YEAR_START + int(i * 365 * DAY / n_events),
                        x_m=100.0, y_m=None, depth_m=float(rng.uniform(1e3, 3e4)),
                        magnitude=float(rng.uniform(0, 4)), num_picks=12, num_p=6, num_s=6,
                        latitude=float(rng.uniform(44.0, 49.0)), longitude=float(rng.uniform(4.0, 11.0)))
           for i in range(n_events)]
    store_ob.put_events(evs)
    # processed-data coverage of the traffic worker over the 30 vehicle days: every hour minus a 5-min gap
    t0 = time.perf_counter()
    for h in range(30 * 24):
        a = v_start + h * 3600 * S
        store.add_coverage("traffic-worker", a, a + 3300 * S, outbox=False)
    out["coverage_spans"] = 30 * 24
    out["coverage_write_per_s"] = 30 * 24 / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for _ in range(5):
        store.completeness_pct(np.arange(v_start, v_start + DAY, 300 * S), 300)
    out["completeness_day_5min_ms"] = (time.perf_counter() - t0) / 5 * 1e3
    t0 = time.perf_counter()
    comp = store.completeness_pct(np.arange(YEAR_START, YEAR_START + 365 * DAY, 900 * S), 900)
    out["completeness_year_15min_ms"] = (time.perf_counter() - t0) * 1e3
    out["completeness_check"] = float(np.nanmean(comp[-30 * 96:]))  # 55/60 of every hour = 91.667 %
    out["vehicles"] = n_vehicles
    out["events"] = n_events
    out["v_start"] = v_start
    store_ob.close()
    store.close()
    return out


# --------------------------------------------------------------------------- load generator (child process)
async def _load(url: str, key: str, paths: list[str], concurrency: int) -> dict:
    import httpx

    lat: list[float] = []
    codes: dict[int, int] = {}
    nbytes = 0
    queue = list(paths)
    async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": key}, timeout=120,
                                 limits=httpx.Limits(max_connections=concurrency)) as c:
        await c.get(paths[0])  # warm-up

        async def worker():
            nonlocal nbytes
            while queue:
                p = queue.pop()
                t = time.perf_counter()
                r = await c.get(p)
                lat.append(time.perf_counter() - t)
                codes[r.status_code] = codes.get(r.status_code, 0) + 1
                nbytes += len(r.content)

        t0 = time.perf_counter()
        await asyncio.gather(*[worker() for _ in range(concurrency)])
        wall = time.perf_counter() - t0
    a = np.asarray(lat)
    return {"n": len(lat), "wall_s": wall, "rps": len(lat) / wall, "p50_ms": float(np.percentile(a, 50) * 1e3),
            "p99_ms": float(np.percentile(a, 99) * 1e3), "codes": codes, "mean_bytes": nbytes / max(len(lat), 1)}


def loadgen_main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    res = asyncio.run(_load(spec["url"], spec["key"], spec["paths"], spec["concurrency"]))
    print(json.dumps(res))
    return 0


# --------------------------------------------------------------------------- driver
def endpoints(info: dict, n: int, rng: random.Random) -> dict[str, list[str]]:
    v0 = info["v_start"]

    def day(lo_day: int, hi_day: int) -> int:
        return YEAR_START + rng.randrange(lo_day, hi_day) * DAY

    eps: dict[str, list[str]] = {}
    eps["GET /health (baseline)"] = ["/health"] * n
    eps["vehicles: 1 h window, page of 100"] = [
        f"/api/v1/traffic/vehicles?start={iso(t)}&end={iso(t + 3600 * S)}&limit=100"
        for t in (v0 + rng.randrange(0, 29 * 24) * 3600 * S for _ in range(n))]
    eps["stats: stored 15-min, 1 day (192 rows)"] = [
        f"/api/v1/traffic/stats?start={iso(t)}&end={iso(t + DAY)}&interval=15min&source=stored"
        for t in (day(0, 364) for _ in range(n))]
    eps["stats: stored 15-min, 30 days (5760 rows)"] = [
        f"/api/v1/traffic/stats?start={iso(t)}&end={iso(t + 30 * DAY)}&interval=15min&source=stored"
        for t in (day(0, 330) for _ in range(max(n // 4, 20)))]
    eps["stats: on the fly from vehicles, 1 day in 5-min bins"] = [
        f"/api/v1/traffic/stats?start={iso(t)}&end={iso(t + DAY)}&interval=5min&source=vehicles"
        for t in (v0 + rng.randrange(0, 29) * DAY for _ in range(n))]
    eps["fdsnws text, 30 days (~165 events)"] = [
        f"/fdsnws/event/1/query?starttime={iso(t)}&endtime={iso(t + 30 * DAY)}&format=text"
        for t in (day(0, 330) for _ in range(n))]
    eps["fdsnws text, radius 0.5° around a random point, whole year"] = [
        f"/fdsnws/event/1/query?latitude={rng.uniform(44.5, 48.5):.3f}&longitude={rng.uniform(4.5, 10.5):.3f}"
        "&maxradius=0.5&format=text" for _ in range(n)]
    eps["fdsnws text, 1°x1° box, whole year"] = [
        f"/fdsnws/event/1/query?minlatitude={la:.3f}&maxlatitude={la + 1:.3f}&minlongitude={lo:.3f}"
        f"&maxlongitude={lo + 1:.3f}&format=text"
        for la, lo in ((rng.uniform(44, 48), rng.uniform(4, 10)) for _ in range(n))]
    eps["fdsnws QuakeML (ObsPy), 7 days (~38 events)"] = [
        f"/fdsnws/event/1/query?starttime={iso(t)}&endtime={iso(t + 7 * DAY)}&format=xml"
        for t in (day(0, 350) for _ in range(max(n // 4, 20)))]
    return eps


def bench_migration(seeded: Path, work: Path) -> dict:
    """Time the upgrade of a schema-version-1 edge store holding the seeded rows to the current schema.

    Migration 3 rebuilds the record tables with a ``(site_id, id)`` key (SQLite cannot alter a
    primary key), so its cost grows with the stored records: what an edge box pays once on upgrade.
    """
    import sqlite3

    import service.store.store as store_mod
    from service.store import open_store
    from service.store.migrations import _OLD_COLS, MIGRATIONS

    v1 = work / "v1.sqlite"
    store_mod.MIGRATIONS = MIGRATIONS[:1]
    try:
        open_store(v1, outbox=False).close()
    finally:
        store_mod.MIGRATIONS = MIGRATIONS
    c = sqlite3.connect(v1)
    c.execute("ATTACH DATABASE ? AS src", (str(seeded),))
    n = {}
    for t, cols in _OLD_COLS.items():
        c.execute(f"INSERT INTO {t} ({cols}) SELECT {cols} FROM src.{t}")
        n[t] = c.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
    stats_cols = ("site_id, fiber_id, interval_start_ns, interval_s, direction, vehicle_class, volume, "
                  "completeness_pct, doc")
    c.execute(f"INSERT INTO interval_stats ({stats_cols}) SELECT {stats_cols} FROM src.interval_stats")
    c.commit()
    c.execute("DETACH DATABASE src")
    c.close()
    t0 = time.perf_counter()
    s = open_store(v1, outbox=False)
    dt = time.perf_counter() - t0
    applied = s.schema_version()
    t1 = time.perf_counter()
    again = s.migrate()
    dt_again = time.perf_counter() - t1
    s.close()
    return {"migrate_s": dt, "rows": n, "schema": applied, "again": again, "again_ms": dt_again * 1e3,
            "db_mb": v1.stat().st_size / 1e6}


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--loadgen":
        return loadgen_main(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=400, help="requests per endpoint")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--vehicles", type=int, default=100_000)
    ap.add_argument("--events", type=int, default=2000)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "api.md")
    args = ap.parse_args()

    from service.auth import create_key
    from service.store import open_store

    work = Path(tempfile.mkdtemp(prefix="bench_api_", dir=ROOT / "bench" / "out" if (ROOT / "bench" / "out").is_dir() else None))
    db = work / "bench.sqlite"
    print(f"seeding {db} ...", flush=True)
    info = seed(db, args.vehicles, args.events)
    info["migration"] = bench_migration(db, work)
    print(f"migration v1 -> {info['migration']['schema']}: {info['migration']['migrate_s']:.2f} s", flush=True)
    with open_store(db, outbox=False) as st:
        _, key = create_key(st, ["read"], name="bench")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "DASEDGE_DB_URL": str(db), "DASEDGE_ENV_FILE": str(work / "none.env"),
           "DASEDGE_DISK_PATH": str(work)}
    log = open(work / "serve.log", "wb")
    server = subprocess.Popen([sys.executable, "-m", "dasedge.cli", "serve", "--port", str(port), "--no-dispatcher",
                               "--no-pusher", "--log-level", "warning"], env=env, stdout=log, stderr=subprocess.STDOUT,
                              cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    import httpx

    for _ in range(600):
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    results = {}
    try:
        rng = random.Random(1)
        for name, paths in endpoints(info, args.requests, rng).items():
            spec = work / "spec.json"
            spec.write_text(json.dumps({"url": url, "key": key, "paths": paths, "concurrency": args.concurrency}))
            p = subprocess.run([sys.executable, __file__, "--loadgen", str(spec)], capture_output=True, text=True,
                               timeout=1800)
            if p.returncode != 0:
                raise RuntimeError(p.stderr)
            results[name] = json.loads(p.stdout.strip().splitlines()[-1])
            r = results[name]
            print(f"{name:55s} {r['rps']:8.1f} req/s  p50 {r['p50_ms']:7.1f} ms  p99 {r['p99_ms']:7.1f} ms  {r['codes']}",
                  flush=True)
    finally:
        server.terminate()
        server.wait(20)
        log.close()
    write_report(args, info, results)
    return 0


def write_report(args, info: dict, results: dict) -> None:
    from dasedge.machine import cpu_model

    cpu = cpu_model()
    base = results["GET /health (baseline)"]
    load = os.getloadavg()
    lines = [
        "# Edge API benchmark (`bench/bench_api.py`)",
        "",
        f"- date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {os.cpu_count()} cores (`nproc`), {cpu}; load average at the end {load[0]:.1f} "
        "(the machine is shared with other jobs: absolute numbers are pessimistic, compare ratios)",
        f"- server: `dasedge serve` (uvicorn, 1 process, SQLite WAL, synchronous=NORMAL), loopback; "
        f"client: a second process, asyncio + httpx, concurrency {args.concurrency}",
        f"- data: {info['stats_rows']} stored 15-min rows (a year, 2 directions), {info['vehicles']} vehicles "
        f"(30 days), {info['events']} events",
        "",
        "| endpoint | requests | req/s | p50 ms | p99 ms | mean body bytes | req/s ÷ /health |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        ok = r["codes"].get("200", r["codes"].get(200, 0))
        lines.append(f"| {name} | {r['n']} ({ok} × 200) | {r['rps']:.1f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
                     f"{r['mean_bytes']:.0f} | {r['rps'] / base['rps']:.2f} |")
    lines += [
        "",
        "Store write path (in-process, same run):",
        "",
        f"- `put_vehicles` with outbox rows in the same transaction, batches of 500: "
        f"**{info['vehicle_write_per_s']:.0f} vehicles/s**",
        f"- idempotent re-delivery of 10k unchanged vehicles (read-compare, no writes): "
        f"{info['vehicle_redelivery_per_s']:.0f} vehicles/s",
        f"- `put_interval_stats` seeding (no outbox): {info['stats_seed_rows_per_s']:.0f} rows/s",
        f"- vectorised aggregation of {info['vehicles']} vehicles into 5-min bins (numpy, no HTTP): "
        f"{info['aggregate_100k_5min_s'] * 1e3:.0f} ms",
        "",
        "Completeness of interval statistics (coverage spans of the traffic worker; in-process, same run):",
        "",
        f"- {info['coverage_spans']} coverage spans (30 days, every hour minus a 5-min gap) written at "
        f"{info['coverage_write_per_s']:.0f} spans/s (the worker writes one merged span per heartbeat, every 5 s)",
        f"- completeness of one day in 5-min bins: {info['completeness_day_5min_ms']:.1f} ms; of a year in 15-min "
        f"bins (35040 bins): {info['completeness_year_15min_ms']:.1f} ms; mean over the covered days "
        f"{info['completeness_check']:.3f} % (truth 55/60 = 91.667 %)",
        "- the on-the-fly stats endpoint above includes this (coverage present in the store)",
        "",
        "Schema upgrade of an existing edge store (in-process, same run): a schema-1 SQLite file holding the "
        "rows above, opened by the current code:",
        "",
        f"- migrations 2-{info['migration']['schema']} (claim index, `(site_id, id)` re-key = rebuild of the record "
        f"tables, coverage table): **{info['migration']['migrate_s']:.2f} s** for "
        + ", ".join(f"{v} {k}" for k, v in info["migration"]["rows"].items())
        + f" ({info['migration']['db_mb']:.0f} MB file); opening again applies nothing "
        f"({info['migration']['again']}, {info['migration']['again_ms']:.1f} ms)",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())
