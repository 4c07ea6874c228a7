"""Report the number of malformed inputs of the fuzz area at the end of the run."""

from __future__ import annotations

from .common import COUNTS

#: the brief: at least this many malformed inputs across the fuzz tests; each test
#: asserts its own share (codec >= 8,200, files >= 600 + 150 layouts, DLQ 240 poison)
MIN_TOTAL = 10_000


def pytest_terminal_summary(terminalreporter):
    if not COUNTS:
        return
    total = sum(COUNTS.values())
    lines = ", ".join(f"{k}={v}" for k, v in sorted(COUNTS.items()))
    terminalreporter.write_line(
        f"fuzz: {total} malformed inputs, each rejected with a reason (RecordError/DASFileError/DLQ) "
        f"or decoded into a valid block; no other exception, no crash ({lines})"
        + ("" if total >= MIN_TOTAL or len(COUNTS) < 6 else f"  [below {MIN_TOTAL}!]"))
