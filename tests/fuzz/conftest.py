"""Report (and check) the number of malformed inputs of the fuzz area."""

from __future__ import annotations

import pytest

from .common import COUNTS

#: the brief: at least this many malformed inputs across the fuzz tests
MIN_TOTAL = 10_000


@pytest.fixture(scope="session", autouse=True)
def _fuzz_total(request):
    yield
    total = sum(COUNTS.values())
    lines = ", ".join(f"{k}={v}" for k, v in sorted(COUNTS.items()))
    tr = request.config.pluginmanager.get_plugin("terminalreporter")
    msg = f"fuzz: {total} malformed inputs rejected with a reason ({lines})"
    if tr is not None:
        tr.write_line(msg)
    else:  # pragma: no cover
        print(msg)
