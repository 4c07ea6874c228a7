"""Shared pytest fixtures.

Service fixtures live in ``tests/fixtures/`` (one module per real service) and
are loaded as plugins; they *start* the service with the project's own
scripts and fail loudly if it cannot start - no test skips for want of a
service.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytest_plugins = [
    p
    for p in ("tests.fixtures.kafka", "tests.fixtures.postgres")
    if (ROOT / (p.replace(".", "/") + ".py")).exists()
]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` next to the checkout (real data and reference); must exist."""
    d = Path(os.environ.get("DASEDGE_SHARED", ROOT.parent / "shared")).resolve()
    if not (d / "data").is_dir():
        pytest.fail(f"shared data folder not found at {d} (set DASEDGE_SHARED)")
    return d


@pytest.fixture(scope="session")
def das_samples(shared_dir: Path) -> Path:
    """Folder of real interrogator sample files."""
    return shared_dir / "data" / "das-samples"
