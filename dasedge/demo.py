"""``dasedge demo``: the whole edge stack on an embedded default.

Starts a local Apache Kafka broker, writes a built-in synthetic scene (or
takes a folder of real files), replays it through the ingest bridge into
Kafka, runs the traffic and seismic workers (results in SQLite) and the edge
API with its dashboard, then tells the user where to look.

The built-in scene has two fibers, each in a real file format (ASN OptoDAS
v8 tree, 10-s files): ``road-1`` (a 600 m road section at 500 Hz, 2 m
channels, traffic in both directions) on topic ``das.road`` for the traffic
worker, and ``quake-1`` (4 km of fiber at 100 Hz, 8 m channels, local
earthquakes plus traffic noise) on topic ``das.seismic`` for the seismic
worker.  A real installation feeds one topic per fiber the same way.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROAD_TOPIC = "das.road"
QUAKE_TOPIC = "das.seismic"
#: site file of the synthetic quake fiber (magnitude site terms from bench/calibrate_magnitude.py)
SYNTHETIC_QUAKE_SITE = Path(__file__).resolve().parents[1] / "deploy" / "sites" / "synthetic-quake.yaml"
T0_NS = int(np.datetime64("2026-01-01T12:00:00", "ns").astype(np.int64))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state-dir", type=Path, default=Path("var/demo"),
                        help="where the broker, store, ledgers, scene and logs go (default var/demo)")
    parser.add_argument("--input", type=Path, default=None,
                        help="folder of real interrogator files to feed instead of the synthetic scene "
                             "(sent to both pipelines)")
    parser.add_argument("--minutes", type=float, default=3.0, help="length of the synthetic scene")
    parser.add_argument("--speed", default="2", help="replay speed (1 = real time, 'max' = as fast as possible)")
    parser.add_argument("--port", type=int, default=8080, help="edge API / dashboard port")
    parser.add_argument("--seed", type=int, default=7, help="seed of the synthetic scene")
    parser.add_argument("--cloud", choices=["postgres", "sqlite", "none"], default="postgres",
                        help="also run the cloud API (default: on a throwaway PostgreSQL from the Debian package, "
                             "falling back to SQLite) and push the edge's results to it")
    parser.add_argument("--exit-when-done", action="store_true",
                        help="stop everything once the scene has been processed (default: keep serving)")
    parser.add_argument("--timeout", type=float, default=900.0, help="give up waiting for the pipelines after this")
    parser.add_argument("--settle", type=float, default=30.0,
                        help="with --exit-when-done: seconds without new results after ingest finished")


# --------------------------------------------------------------------------- scene
def write_scene(root: Path, minutes: float, seed: int) -> dict[str, Path]:
    """Write the two-fiber synthetic scene; returns {fiber: folder}."""
    from dasedge.io.optodas import write_tree
    from dasedge.synth.quake import simulate_quake_scene
    from dasedge.synth.traffic import TrafficScene, TrafficSceneConfig, write_truth

    duration = minutes * 60.0
    road_dir, quake_dir = root / "road-1", root / "quake-1"
    if not (road_dir / "truth.json").exists():
        scene = TrafficScene(TrafficSceneConfig(duration_s=duration, fs=500.0, dx_m=2.0, length_m=600.0,
                                                fiber_id="road-1", seed=seed, t0_ns=T0_NS))
        blocks = [b.new(fiber_id="road-1") for b in scene.iter_blocks(chunk_s=10.0)]
        write_tree(blocks, road_dir, "road-1")
        write_truth(scene.truth(), road_dir)
    if not (quake_dir / "truth.json").exists():
        n_events = max(1, int(minutes // 1.5))
        events = [{"origin_s": 20.0 + i * 90.0} for i in range(n_events)]
        block, truth = simulate_quake_scene(n_channels=500, dx_m=8.0, fs=100.0, duration_s=duration,
                                            events=events, seed=seed, snr_db=15.0, t0_ns=T0_NS,
                                            fiber_id="quake-1", magnitude_range=(2.0, 3.0))
        step = int(round(10.0 * block.fs))
        write_tree([block.select(samples=slice(i, i + step)) for i in range(0, block.n_time, step)],
                   quake_dir, "quake-1")
        (quake_dir / "truth.json").write_text(json.dumps(truth, indent=1, default=_jsonable))
    return {"road-1": road_dir, "quake-1": quake_dir}


def _jsonable(o):
    return o.tolist() if hasattr(o, "tolist") else str(o)


# ----------------------------------------------------------------------- processes
class Stack:
    """Child processes of the demo, stopped together."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.logs = state / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab")
        cmd = [sys.executable, "-m", "dasedge.cli", *args]
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                                start_new_session=True)
        self.procs[name] = proc
        return proc

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.time() + 20
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                proc.kill()


def feed_waterfall(files: list[Path], url: str, key: str, speed: str, stop) -> None:
    """Post decimated windows of ``files`` to the dashboard's live waterfall, paced like the replay."""
    import httpx

    from dasedge.io import read

    pause = 0.0 if speed == "max" else 10.0 / float(speed)
    with httpx.Client(timeout=10) as client:
        for path in files:
            if stop.wait(pause):
                return
            try:
                block = read(path)
            except ValueError:
                continue
            step = max(1, int(round(0.1 * block.fs)))  # 0.1-s rows: mean |strain rate|
            n = block.n_time // step * step
            rows = np.abs(block.data[:n]).reshape(-1, step, block.n_channel).mean(axis=1)
            body = {"fiber": block.fiber_id, "t0_ns": block.t0_ns, "dt_s": step * block.dt_s,
                    "x0_m": float(block.distance_m[0]), "dx_m": block.dx_m, "data": rows.tolist()}
            try:
                client.post(f"{url}/api/v1/live/waterfall", json=body, headers={"X-API-Key": key})
            except httpx.HTTPError:
                pass


def _cli(*args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "dasedge.cli", *args], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def start_postgres() -> tuple[str, Path] | None:
    """Throwaway PostgreSQL via scripts/postgres.sh; (url, dir) or None if unavailable."""
    import socket
    import tempfile

    script = Path(__file__).resolve().parents[1] / "scripts" / "postgres.sh"
    if not script.exists():
        return None
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    pg_dir = Path(tempfile.mkdtemp(prefix="dasedge-demo-pg-"))
    out = subprocess.run(["bash", str(script), "start", str(pg_dir), str(port)], capture_output=True, text=True)
    if out.returncode != 0:
        print(f"  PostgreSQL not available ({out.stderr.strip()[-200:]}); the cloud uses SQLite", file=sys.stderr)
        return None
    return out.stdout.strip().splitlines()[-1], pg_dir


def _wait_http(url: str, timeout: float = 60.0) -> None:
    import httpx

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {timeout:g} s")


def _api_count(url: str, key: str) -> int:
    import httpx

    try:
        r = httpx.get(url, headers={"X-API-Key": key}, params={"limit": 1}, timeout=5)
        return int(r.json().get("count", 0)) if r.status_code == 200 else -1
    except (httpx.HTTPError, ValueError):
        return -1


def _count(db: Path, table: str) -> int:
    import sqlite3

    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
            return int(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    except sqlite3.Error:
        return 0


def run(args: argparse.Namespace) -> int:
    state: Path = args.state_dir.resolve()
    state.mkdir(parents=True, exist_ok=True)
    db = state / "dasedge.sqlite"
    print(f"dasedge demo: state in {state}", file=sys.stderr)

    print("- starting the local Apache Kafka broker (first run fetches the jars from Maven Central) ...",
          file=sys.stderr)
    bootstrap = _cli("broker", "start", "--state-dir", str(state / "kafka")).splitlines()[-1]
    print(f"  broker at {bootstrap}", file=sys.stderr)

    if args.input is None:
        print(f"- writing the synthetic scene ({args.minutes:g} min, OptoDAS v8 files) ...", file=sys.stderr)
        fibers = write_scene(state / "scene", args.minutes, args.seed)
        feeds = [(fibers["road-1"], ROAD_TOPIC), (fibers["quake-1"], QUAKE_TOPIC)]
    else:
        feeds = [(args.input.resolve(), ROAD_TOPIC), (args.input.resolve(), QUAKE_TOPIC)]

    env = {"DASEDGE_DB_URL": str(db), "DASEDGE_KAFKA_BOOTSTRAP": bootstrap, "KAFKA_BOOTSTRAP": bootstrap,
           "DASEDGE_ENVIRONMENT": "development"}
    os.environ.update(env)
    key = _cli("keys", "--db", str(db), "create", "--scope", "read", "--name", "demo-dashboard").split()[-1]
    write_key = _cli("keys", "--db", str(db), "create", "--scope", "write", "--name", "demo-feeder").split()[-1]
    (state / "read-key.txt").write_text(key + "\n")
    os.chmod(state / "read-key.txt", 0o600)

    stack = Stack(state)
    pg = None
    cloud_url = None
    try:
        if args.cloud != "none":
            import httpx

            pg = start_postgres() if args.cloud == "postgres" else None
            cloud_db = pg[0] if pg else str(state / "cloud.sqlite")
            cloud_key = _cli("keys", "--db", cloud_db, "create", "--scope", "admin", "--name", "demo-admin").split()[-1]
            (state / "cloud-admin-key.txt").write_text(cloud_key + "\n")
            os.chmod(state / "cloud-admin-key.txt", 0o600)
            cloud_url = f"http://127.0.0.1:{args.port + 1}"
            stack.start("cloud-api", "cloud", "--db", cloud_db, "--port", str(args.port + 1))
            _wait_http(f"{cloud_url}/health")
            site = httpx.post(f"{cloud_url}/api/v1/sites", headers={"X-API-Key": cloud_key}, timeout=10,
                              json={"site_id": "demo-edge", "name": "dasedge demo edge"}).json()
            print(f"- cloud API at {cloud_url} on {'PostgreSQL' if pg else 'SQLite'}; site demo-edge registered",
                  file=sys.stderr)
            edge_env = {"DASEDGE_CLOUD_URL": cloud_url, "DASEDGE_EDGE_KEY": site["api_key"],
                        "DASEDGE_SITE_ID": "demo-edge", "DASEDGE_PUSH_INTERVAL_S": "1"}
            stack.start("edge-api", "serve", "--db", str(db), "--port", str(args.port), env=edge_env)
        else:
            stack.start("edge-api", "serve", "--db", str(db), "--port", str(args.port), "--no-pusher")
        stack.start("traffic-worker", "traffic-worker", "--bootstrap", bootstrap, "--topic", ROAD_TOPIC,
                    "--store", str(db))
        # the synthetic fiber's site file: magnitude site terms calibrated on other synthetic seeds
        use_site = args.input is None and SYNTHETIC_QUAKE_SITE.is_file()
        quake_site = ["--site", str(SYNTHETIC_QUAKE_SITE)] if use_site else []
        stack.start("seismic-worker", "seismic-worker", "--bootstrap", bootstrap, "--topic", QUAKE_TOPIC,
                    "--store", str(db), *quake_site)
        for folder, topic in feeds:
            stack.start(f"ingest-{topic}", "ingest", "replay", str(folder), "--bootstrap", bootstrap,
                        "--topic", topic, "--speed", str(args.speed),
                        "--ledger", str(state / f"ingest-{topic}.sqlite"))
        url = f"http://127.0.0.1:{args.port}"
        import threading

        stop_feed = threading.Event()
        road_files = sorted(feeds[0][0].rglob("*.hdf5")) + sorted(feeds[0][0].rglob("*.h5"))
        threading.Thread(target=feed_waterfall, args=(road_files, url, write_key, str(args.speed), stop_feed),
                         daemon=True).start()
        print(
            "\nWhere to look:\n"
            f"  dashboard      {url}/dashboard/#key={key}\n"
            f"  vehicles       curl -H 'X-API-Key: {key}' '{url}/api/v1/traffic/vehicles'\n"
            f"  15-min stats   curl -H 'X-API-Key: {key}' '{url}/api/v1/traffic/stats?interval=15min'\n"
            f"  catalog        curl -H 'X-API-Key: {key}' '{url}/fdsnws/event/1/query?format=text'\n"
            f"  alerts (SSE)   curl -N -H 'X-API-Key: {key}' '{url}/api/v1/alerts/stream'\n"
            f"  API docs       {url}/docs\n"
            + (f"  cloud          {cloud_url}/api/v1/traffic/vehicles?site=demo-edge "
               f"(admin key in {state / 'cloud-admin-key.txt'})\n" if cloud_url else "")
            + f"  SQLite store   {db}\n"
            f"  logs           {stack.logs}\n"
            f"  read key       {state / 'read-key.txt'}\n",
            file=sys.stderr,
        )
        deadline = time.time() + args.timeout
        ingests = [p for n, p in stack.procs.items() if n.startswith("ingest-")]
        last_counts, last_change = (-1, -1, -1), time.time()
        while time.time() < deadline:
            crashed = [n for n, p in stack.procs.items() if not n.startswith("ingest-") and p.poll() is not None]
            if crashed:
                print(f"dasedge demo: {', '.join(crashed)} stopped unexpectedly; see {stack.logs}", file=sys.stderr)
                return 1
            done = all(p.poll() is not None for p in ingests)
            print(f"\r  vehicles {_count(db, 'vehicles'):4d}   picks {_count(db, 'picks'):6d}   "
                  f"events {_count(db, 'events'):3d}   ingest {'done' if done else 'running'}   ",
                  end="", file=sys.stderr)
            if done and args.exit_when_done:
                counts = tuple(_count(db, t) for t in ("vehicles", "picks", "events"))
                if counts == last_counts and time.time() - last_change > args.settle:
                    break  # the workers have drained the last windows
                if counts != last_counts:
                    last_counts, last_change = counts, time.time()
            time.sleep(2)
        print(file=sys.stderr)
        summary = {t: _count(db, t) for t in ("vehicles", "picks", "events")}
        if cloud_url:
            time.sleep(5)  # one more push interval
            summary["cloud_vehicles"] = _api_count(f"{cloud_url}/api/v1/traffic/vehicles?site=demo-edge", cloud_key)
            summary["cloud_events"] = _api_count(f"{cloud_url}/api/v1/seismic/events?site=demo-edge", cloud_key)
        print(json.dumps(summary))
        if not args.exit_when_done:
            print("serving; press Ctrl-C to stop", file=sys.stderr)
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()
        _cli("broker", "stop", "--state-dir", str(state / "kafka"))
        if pg:
            subprocess.run(["bash", str(Path(__file__).resolve().parents[1] / "scripts" / "postgres.sh"), "stop",
                            str(pg[1])], capture_output=True)
