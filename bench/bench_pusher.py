"""Pusher throughput: edge SQLite outbox -> ``dasedge cloud`` (separate process) on PostgreSQL over loopback.

Usage::

    .venv/bin/python bench/bench_pusher.py [--records 20000] [--batches 100,500,2000] [--out bench/results/cloud.md]

Starts a throwaway PostgreSQL with ``scripts/postgres.sh`` (or uses
``DASEDGE_TEST_PG_URL``), the cloud API as a real ``dasedge cloud`` process,
fills an edge SQLite store with synthetic vehicles (plus 10 % picks), and
drains it with :class:`service.pusher.Pusher` at several batch sizes.
Reference figures measured in the same run on the same machine:

* direct cloud store write (``put_vehicle_dicts`` into the same PostgreSQL,
  in-process, no HTTP) - the ceiling the pusher is compared with;
* edge store write (``put_vehicles`` into SQLite, incl. the outbox rows);
* re-sending already delivered batches (all duplicates at the cloud).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from service.pusher import Pusher  # noqa: E402
from service.store import open_store  # noqa: E402
from tests.service_cloud.helpers import T0, make_event, make_picks, make_vehicles  # noqa: E402
from dasedge.machine import cpu_model  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu() -> str:
    return cpu_model()


def _new_db(base_url: str) -> str:
    import psycopg

    name = "bench_" + uuid.uuid4().hex[:10]
    with psycopg.connect(base_url, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    return base_url.rpartition("/")[0] + "/" + name


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=20_000, help="vehicles per run (+10 %% picks)")
    ap.add_argument("--batches", default="100,500,2000")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "cloud.md"))
    args = ap.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    load0 = os.getloadavg()

    tmp = Path(tempfile.mkdtemp(prefix="dasedge-bench-", dir="/tmp"))
    tmp.chmod(0o755)
    pg_dir = tmp / "pg"
    base = os.environ.get("DASEDGE_TEST_PG_URL")
    started_pg = False
    if not base:
        port = _free_port()
        out = subprocess.run(["bash", str(ROOT / "scripts" / "postgres.sh"), "start", str(pg_dir), str(port)],
                             capture_output=True, text=True, check=True)
        base = out.stdout.strip().splitlines()[-1]
        started_pg = True
    procs = []
    results = []
    try:
        cloud_db = _new_db(base)
        env = {**os.environ, "DASEDGE_ENV_FILE": str(tmp / "none.env")}
        admin = subprocess.run([sys.executable, "-m", "dasedge.cli", "keys", "--db", cloud_db, "create", "--scope",
                                "admin"], capture_output=True, text=True, env=env, check=True).stdout.strip()
        cport = _free_port()
        proc = subprocess.Popen([sys.executable, "-m", "dasedge.cli", "cloud", "--db", cloud_db, "--port", str(cport),
                                 "--no-webhooks", "--log-level", "warning"], env=env)
        procs.append(proc)
        url = f"http://127.0.0.1:{cport}"
        t_end = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > t_end:
                raise RuntimeError("cloud did not start")
            time.sleep(0.2)

        # reference: direct write into the cloud store (same PostgreSQL, no HTTP)
        ref_store = open_store(_new_db(base), outbox=False)
        docs = [v.to_dict() for v in make_vehicles(args.records, seed=1, tag="ref")]
        t = time.perf_counter()
        for i in range(0, len(docs), 500):
            ref_store.put_vehicle_dicts(docs[i : i + 500], site_id="ref")
        direct_rps = len(docs) / (time.perf_counter() - t)
        ref_store.close()

        for b in batches:
            site = f"edge-b{b}"
            r = httpx.post(url + "/api/v1/sites", json={"site_id": site}, headers={"X-API-Key": admin})
            key = r.json()["api_key"]
            edge = open_store(tmp / f"edge-{b}.sqlite", outbox_max_rows=10 * args.records)
            vs = make_vehicles(args.records, seed=b, tag=f"b{b}")
            t = time.perf_counter()
            for i in range(0, len(vs), 500):
                edge.put_vehicles(vs[i : i + 500])
            npk = args.records // 10 // 8
            for k in range(npk):
                ev = make_event(k, t_ns=T0 + k * 10**10)
                edge.put_picks(make_picks(f"{ev.id}-{b}", t_ns=ev.origin_ns))
            edge_rps = (args.records + npk * 8) / (time.perf_counter() - t)
            n = edge.outbox_pending()
            p = Pusher(edge, url, key, site, batch_size=b, timeout_s=60)
            t = time.perf_counter()
            acked = p.drain()
            dt = time.perf_counter() - t
            assert acked == n and edge.outbox_pending() == 0, (acked, n)
            # re-send everything as duplicates: re-queue the same records through a second edge store
            dup = open_store(tmp / f"dup-{b}.sqlite", outbox_max_rows=10 * args.records)
            for i in range(0, len(vs), 500):
                dup.put_vehicles(vs[i : i + 500])
            nd = dup.outbox_pending()
            p2 = Pusher(dup, url, key, site, batch_size=b, timeout_s=60)
            t = time.perf_counter()
            p2.drain()
            dt_dup = time.perf_counter() - t
            assert p2.stats.duplicates_reported == nd
            results.append({"batch": b, "records": n, "seconds": dt, "rps": n / dt, "edge_write_rps": edge_rps,
                            "dup_rps": nd / dt_dup})
            p.stop()
            p2.stop()
            edge.close()
            dup.close()
            print(f"batch {b}: {n} records in {dt:.2f} s = {n / dt:,.0f} rec/s (dup {nd / dt_dup:,.0f} rec/s)",
                  flush=True)
    finally:
        for pr in procs:
            pr.terminate()
            pr.wait(20)
        if started_pg:
            subprocess.run(["bash", str(ROOT / "scripts" / "postgres.sh"), "stop", str(pg_dir)], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)

    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Cloud pusher throughput (edge SQLite -> cloud PostgreSQL over loopback HTTP)",
        "",
        f"- date: {date}; machine: `nproc`={os.cpu_count()}, CPU: {_cpu()}; Python {platform.python_version()}",
        "- cloud: a real `dasedge cloud` process (uvicorn, 1 worker) on PostgreSQL 15 from `scripts/postgres.sh`",
        "  (throwaway cluster: `fsync=off`, `synchronous_commit=off`); edge: SQLite WAL `synchronous=NORMAL`.",
        f"- records per run: {args.records} vehicles + {args.records // 10 // 8 * 8} picks; each batch POSTed with",
        "  per-item idempotency keys, acked on 2xx; the machine is shared with other jobs (2 cores), so",
        "  absolute numbers are noisy - compare the ratios measured in the same run.",
        f"- load average (1/5/15 min) at start {load0[0]:.1f}/{load0[1]:.1f}/{load0[2]:.1f}, at end "
        f"{os.getloadavg()[0]:.1f}/{os.getloadavg()[1]:.1f}/{os.getloadavg()[2]:.1f} (other helpers' jobs)",
        f"- reference, same run: direct cloud store write (no HTTP, in-process, 500/tx): **{direct_rps:,.0f} rec/s**",
        "",
        "| batch size | records | seconds | pusher rec/s | ratio to direct store write | all-duplicate re-send rec/s | edge write rec/s (SQLite + outbox) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(f"| {r['batch']} | {r['records']} | {r['seconds']:.2f} | {r['rps']:,.0f} | "
                     f"{r['rps'] / direct_rps:.2f} | {r['dup_rps']:,.0f} | {r['edge_write_rps']:,.0f} |")
    lines += [
        "",
        "Reproduce: `.venv/bin/python bench/bench_pusher.py` (add `--records 5000` for a quick run).",
        "",
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
