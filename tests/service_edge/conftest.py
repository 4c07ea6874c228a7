"""Fixtures for the edge service tests: a fresh SQLite store per test."""

from __future__ import annotations

import pytest

from dasedge.records import Pick, SeismicEvent, Vehicle, stable_id


@pytest.fixture()
def store(tmp_path):
    from service.store import open_store

    s = open_store(tmp_path / "edge.sqlite")
    yield s
    s.close()


T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z


def make_vehicle(i: int, *, t_ns: int, direction: int = 1, speed: float = 60.0, cls: str = "car") -> Vehicle:
    return Vehicle(
        id=stable_id("veh", i, t_ns, prefix="v_"), fiber_id="fib", t_start_ns=t_ns - 2_000_000_000,
        t_end_ns=t_ns + 2_000_000_000, x_start_m=0.0, x_end_m=500.0, speed_kmh=float(speed),
        direction=direction, vehicle_class=cls, t_ref_ns=t_ns,
    )


def make_event(i: int, *, t_ns: int, mag: float = 2.0, depth_m: float = 8000.0, version: int = 1,
               status: str = "new") -> SeismicEvent:
    return SeismicEvent(
        id=f"ev{i:04d}", fiber_id="fib", origin_ns=t_ns, x_m=1000.0, y_m=None, depth_m=depth_m, magnitude=mag,
        num_picks=10, num_p=6, num_s=4, status=status, version=version, latitude=46.5 + i * 0.01,
        longitude=7.5, magnitude_type="Mdas",
    )


def make_pick(i: int, *, t_ns: int, event_id: str | None = None, phase: str = "P") -> Pick:
    return Pick(id=f"pk{i:05d}", fiber_id="fib", channel=i, distance_m=i * 4.0, t_ns=t_ns, phase=phase,
                score=0.9, event_id=event_id)


# --------------------------------------------------------------------------- live server
import socket  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import httpx  # noqa: E402


@dataclass
class LiveEdge:
    """A real uvicorn server on a loopback port serving the edge app."""

    url: str
    store: object
    app: object
    settings: object
    keys: dict[str, str] = field(default_factory=dict)

    def client(self, scope: str | None = "read", **kw) -> httpx.Client:
        headers = {"X-API-Key": self.keys[scope]} if scope else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=kw.pop("timeout", 30.0), **kw)


def start_uvicorn(app):
    """Run ``app`` with uvicorn in a thread on a free 127.0.0.1 port; returns (server, thread, url)."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1,
                            lifespan="on")
    server = uvicorn.Server(config)
    th = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    th.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not th.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    return server, th, f"http://127.0.0.1:{port}"


def stop_uvicorn(server, th) -> None:
    server.should_exit = True
    th.join(15)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """``dasedge serve`` in a subprocess (real CLI, real uvicorn, loopback)."""

    def __init__(self, env: dict[str, str], port: int, log_path):
        import os
        import subprocess
        import sys

        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dasedge.cli", "serve", "--port", str(port), "--host", "127.0.0.1",
             "--log-level", "warning"],
            env={**os.environ, **env}, stdout=self.log, stderr=subprocess.STDOUT,
            cwd=str(Path(__file__).resolve().parents[2]),
        )
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dasedge serve exited with {self.proc.returncode}: {Path(log_path).read_text()}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("dasedge serve did not become healthy in 60 s")
            time.sleep(0.1)

    def stop(self) -> None:
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except Exception:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


def make_live_edge(tmp_path, **settings_kw) -> tuple[LiveEdge, ServerProcess]:
    """Create a store with read/write/admin keys and start ``dasedge serve`` on it."""
    import json

    from service.auth import create_key
    from service.edge.app import create_app
    from service.settings import Settings
    from service.store import open_store

    kw = dict(environment="test", db_url=str(tmp_path / "live.sqlite"), disk_path=str(tmp_path),
              disk_min_free_bytes=1, disk_min_free_pct=0.0, webhook_backoff_s=0.2, webhook_backoff_max_s=1.0,
              dispatcher_poll_s=0.05, webhook_max_attempts=4, site_id="test-edge")
    kw.update(settings_kw)
    env = {f"DASEDGE_{k.upper()}": (json.dumps(v) if isinstance(v, (list, dict)) else str(v)) for k, v in kw.items()}
    env["DASEDGE_ENV_FILE"] = str(tmp_path / "none.env")
    settings = Settings(_env_file=None, **kw)
    store = open_store(settings.db_url)
    keys = {scope: create_key(store, [scope], name=f"test-{scope}")[1] for scope in ("read", "write", "admin")}
    server = ServerProcess(env, free_port(), tmp_path / "serve.log")
    app = create_app(settings, store=store, start_dispatcher=False)  # for route inspection only
    return LiveEdge(url=server.url, store=store, app=app, settings=settings, keys=keys), server


@pytest.fixture(scope="session")
def live_edge(tmp_path_factory):
    edge, server = make_live_edge(tmp_path_factory.mktemp("edge"))
    yield edge
    server.stop()
    edge.store.close()
