"""Small synthetic scenes shared by the traffic tests (rendered once per session)."""

from __future__ import annotations

import pytest

from dasedge.synth.traffic import TrafficScene, TrafficSceneConfig

#: small but default-condition scene: highway, SNR 10 dB, GL 10 m
SMALL = dict(duration_s=150.0, fs=250.0, dx_m=4.0, length_m=400.0, rate_per_min=5.0)


def render(seed: int, **over):
    sc = TrafficScene(TrafficSceneConfig(**{**SMALL, **over, "seed": seed}))
    return list(sc.iter_blocks(10.0)), sc.truth()


@pytest.fixture(scope="session")
def small_scene():
    return render(4242)
