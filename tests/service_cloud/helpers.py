"""Test helpers: uvicorn on a loopback port in a thread, a fault-injecting HTTP proxy, record factories."""

from __future__ import annotations

import asyncio
import random
import socket
import threading
import time
from collections import deque
from typing import Any

import uvicorn

from dasedge.records import Pick, SeismicEvent, TrafficEvent, Vehicle, stable_id

T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z


class ServerThread:
    """Run an ASGI app with uvicorn on 127.0.0.1 (real HTTP) in a daemon thread."""

    def __init__(self, app: Any, port: int = 0) -> None:
        self.app = app
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        cfg = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(cfg)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> "ServerThread":
        self.thread.start()
        t_end = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > t_end:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        self.sock.close()


class FaultProxy:
    """HTTP/1.1 proxy on 127.0.0.1 in front of ``upstream`` that injects faults per request.

    Modes (per request): ``pass``; ``http500`` (answer 500, never forward);
    ``slow`` (wait ``delay_s`` then forward - the client has usually timed
    out, but the upstream still stores the batch); ``drop_after`` (forward,
    read the upstream answer, then close the client connection without a
    response: the cloud committed, the client sees a broken connection);
    ``reset`` (close right after reading the request, never forward).
    ``script`` is consumed first, then ``default``; with ``chaos`` set, each
    request draws a mode from that ``{mode: weight}`` map.  ``close()`` /
    ``open()`` stop and restart listening on the same port (cloud down).
    """

    def __init__(self, upstream_port: int, *, delay_s: float = 2.0, seed: int = 0) -> None:
        self.upstream_port = upstream_port
        self.delay_s = delay_s
        self.default = "pass"
        self.script: deque[str] = deque()
        self.chaos: dict[str, float] | None = None
        self.rng = random.Random(seed)
        self.log: list[str] = []
        self.forwarded = 0
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.url = f"http://127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self._server: asyncio.base_events.Server | None = None
        self._lock = threading.Lock()

    # -- control (from the test thread) -----------------------------------
    def open(self) -> None:
        fut = asyncio.run_coroutine_threadsafe(self._open(), self.loop)
        fut.result(10)

    def close(self) -> None:
        fut = asyncio.run_coroutine_threadsafe(self._close(), self.loop)
        fut.result(10)

    def shutdown(self) -> None:
        self.close()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    def next_mode(self) -> str:
        with self._lock:
            if self.script:
                m = self.script.popleft()
            elif self.chaos:
                modes, weights = zip(*self.chaos.items())
                m = self.rng.choices(modes, weights)[0]
            else:
                m = self.default
            self.log.append(m)
            return m

    # -- asyncio side ----------------------------------------------------
    async def _open(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                n = 0
                lines = head.decode("latin-1").split("\r\n")
                kept = [lines[0]]
                for line in lines[1:]:
                    if not line:
                        continue
                    k, _, v = line.partition(":")
                    if k.strip().lower() == "content-length":
                        n = int(v.strip())
                    if k.strip().lower() == "connection":
                        continue
                    kept.append(line)
                body = await reader.readexactly(n) if n else b""
                mode = self.next_mode()
                if mode == "reset":
                    writer.transport.abort()
                    return
                if mode == "http500":
                    writer.write(b"HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain\r\n"
                                 b"content-length: 14\r\n\r\ninjected fault")
                    await writer.drain()
                    continue
                if mode == "slow":
                    await asyncio.sleep(self.delay_s)
                up_r, up_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
                up_w.write(("\r\n".join(kept) + "\r\nConnection: close\r\n\r\n").encode("latin-1") + body)
                await up_w.drain()
                resp = await up_r.read()
                up_w.close()
                self.forwarded += 1
                if mode == "drop_after":
                    writer.transport.abort()
                    return
                writer.write(resp)
                await writer.drain()
                writer.close()
                return
        except (ConnectionError, asyncio.IncompleteReadError):
            try:
                writer.transport.abort()
            except Exception:
                pass


# ---------------------------------------------------------------- records
def make_vehicles(n: int, *, start_ns: int = T0, fiber: str = "fib-a", seed: int = 0, step_s: float = 3.0,
                  tag: str = "") -> list[Vehicle]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        t = start_ns + int(i * step_s * 1e9)
        d = 1 if rng.random() < 0.5 else -1
        speed = rng.uniform(40, 120)
        length = 800.0
        dur = int(length / (speed / 3.6) * 1e9)
        xs, xe = (0.0, length) if d > 0 else (length, 0.0)
        out.append(Vehicle(
            id=stable_id("veh", fiber, tag, i, prefix="v_"), fiber_id=fiber, t_start_ns=t, t_end_ns=t + dur,
            x_start_m=xs, x_end_m=xe, speed_kmh=round(speed, 2), direction=d,
            vehicle_class="truck" if rng.random() < 0.15 else "car", t_ref_ns=t + dur // 2,
        ))
    return out


def make_event(i: int, *, t_ns: int, fiber: str = "fib-a", version: int = 1, mag: float = 2.5,
               status: str = "new") -> SeismicEvent:
    return SeismicEvent(
        id=f"ev{i:04d}", fiber_id=fiber, origin_ns=t_ns, x_m=400.0, y_m=None, depth_m=9000.0, magnitude=mag,
        num_picks=8, num_p=4, num_s=4, status=status, version=version, latitude=46.5, longitude=7.5,
    )


def make_picks(event_id: str, *, t_ns: int, n: int = 8, fiber: str = "fib-a") -> list[Pick]:
    out = []
    for k in range(n):
        ph = "P" if k < n // 2 else "S"
        ch = 20 + 20 * (k % (n // 2))
        t = t_ns + int((1.5 if ph == "P" else 2.6) * 1e9) + int(ch * 1e6)
        out.append(Pick(id=stable_id("pk", event_id, k, prefix="p_"), fiber_id=fiber, channel=ch,
                        distance_m=ch * 4.0, t_ns=t, phase=ph, score=0.8, event_id=event_id))
    return out


def make_traffic_event(i: int, *, t_ns: int, fiber: str = "fib-a") -> TrafficEvent:
    return TrafficEvent(id=f"te{i:04d}", fiber_id=fiber, kind="congestion", t_start_ns=t_ns,
                        t_end_ns=t_ns + 60_000_000_000, x_m=300.0, direction=1, detail={"mean_speed_kmh": 12.0})
