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
