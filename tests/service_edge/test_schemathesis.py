"""Property-based API test: schemathesis against the live app's OpenAPI (no 5xx, no schema violation).

Runs the schemathesis CLI in a subprocess against ``dasedge serve`` on its
own store (generated subscriptions/keys must not leak into other tests),
with an admin key, bounded examples and a fixed seed.

Excluded on purpose:
* ``/api/v1/alerts/stream`` - an endless SSE stream (covered by test_alerts);
* tag ``live`` - the dashboard feeds of ``service.web`` (the cloud/dashboard
  helper's routers, tested with their code);
* check ``positive_data_acceptance`` - semantic 422s that a schema cannot
  express (``end`` before ``start``, ``eventid`` combined with filters, ranges
  longer than 200k bins) are intended;
* check ``allow_header_conformance`` - Starlette's 405 ``Allow`` header lists
  the methods of the first matching route only (framework behaviour).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .conftest import make_live_edge


def test_schemathesis_finds_no_server_errors_or_schema_violations(tmp_path):
    edge, server = make_live_edge(tmp_path)
    try:
        exe = Path(sys.executable).with_name("schemathesis")
        cmd = [
            str(exe), "run", f"{edge.url}/openapi.json",
            "-H", f"X-API-Key: {edge.keys['admin']}",
            "--exclude-path", "/api/v1/alerts/stream", "--exclude-tag", "live",
            "--exclude-checks", "positive_data_acceptance,allow_header_conformance",
            "--phases", "examples,coverage,fuzzing", "-n", "5", "--seed", "20260101", "--workers", "1",
            "--request-timeout", "20", "--no-color", "--generation-database", "none",
        ]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
        tail = p.stdout[-6000:]
        assert p.returncode == 0, tail
        assert " passed" in tail and "generated" in tail, tail
    finally:
        server.stop()
        edge.store.close()
