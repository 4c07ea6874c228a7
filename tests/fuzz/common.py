"""Shared counters and sample blocks for the bad-input tests."""

from __future__ import annotations

import numpy as np

from dasedge.block import DASBlock

#: malformed inputs fed to the decoders in this test session, by test
COUNTS: dict[str, int] = {}


def count(name: str, n: int = 1) -> None:
    COUNTS[name] = COUNTS.get(name, 0) + n


def sample_block(nt: int = 40, nch: int = 6, seed: int = 0, **kw) -> DASBlock:
    rng = np.random.default_rng(seed)
    return DASBlock(data=rng.normal(size=(nt, nch)).astype(np.float32), t0_ns=1_700_000_000_000_000_000,
                    dt_s=0.002, distance_m=10.0 + 2.0 * np.arange(nch), gauge_length_m=10.0,
                    fiber_id=kw.pop("fiber_id", "fiber0"), seq=kw.pop("seq", 3), **kw)
