"""Security checks that complement tests/service_edge (edge routes, key files, signatures):

* every route of the **cloud** app refuses missing/invalid/revoked keys (401) and lower
  scopes (403), over real HTTP (the edge app's routes: tests/service_edge/test_auth_routes.py);
* webhook signature verification never raises on hostile headers (hypothesis);
* no API key or secret appears in the logs of key creation, authentication failures,
  scope refusals, the keys CLI, or ``Settings`` reprs;
* ``pip-audit`` of the installed environment (PyPI advisory data over the network).

Key files with loose permissions are refused: tests/service_edge/test_settings.py.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.service_cloud.helpers import ServerThread
from tests.service_edge.test_auth_routes import RANK, _fill, app_routes

ROOT = Path(__file__).resolve().parents[2]

#: cloud routes open without a key (health, version, docs, static dashboard page)
CLOUD_PUBLIC = frozenset({
    "/health", "/ready", "/api/v1/version", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json",
    "/api/v1/openapi.json",
    "/fdsnws/event/1/version", "/fdsnws/event/1/application.wadl", "/dashboard/", "/dashboard/{name}",
})


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    from service.auth import create_key
    from service.cloud.app import create_cloud_app
    from service.settings import Settings
    from service.store import open_store

    db = tmp_path_factory.mktemp("cloud") / "cloud.sqlite"
    store = open_store(db, outbox=False)
    keys = {s: create_key(store, [s], name=f"sec-{s}")[1] for s in ("read", "write", "admin")}
    app = create_cloud_app(Settings(_env_file=None, db_url=str(db), environment="test"), store=store, webhooks=False)
    with ServerThread(app) as srv:
        yield app, srv.url, store, keys
    store.close()


def _fill_cloud(path: str) -> str:
    return _fill(path).replace("{site_id}", "edge-x").replace("{name}", "index.html")


def test_cloud_route_inventory(cloud):
    app, _, _, _ = cloud
    routes = app_routes(app)
    public = {p for _, p, s in routes if s is None}
    assert public <= CLOUD_PUBLIC, public - CLOUD_PUBLIC
    scopes = {(m, p): s for m, p, s in routes}
    assert scopes[("POST", "/api/v1/sites")] == "admin"
    assert scopes[("POST", "/api/v1/ingest")] == "write"
    assert scopes[("GET", "/api/v1/sites")] == "read"
    assert len([1 for _, _, s in routes if s]) >= 15


def test_every_cloud_route_refuses_bad_and_low_keys(cloud):
    from service.auth import create_key

    app, url, store, keys = cloud
    rkid, revoked = create_key(store, ["admin"], name="revoked")
    store.revoke_api_key(rkid)
    bad = [{}, {"X-API-Key": ""}, {"X-API-Key": "not-a-key"}, {"X-API-Key": keys["admin"][:-2] + "xx"},
           {"X-API-Key": "dk_00000000." + "a" * 43}, {"X-API-Key": revoked},
           {"Authorization": f"Bearer {keys['admin']}"}]
    n = refused = 0
    with httpx.Client(base_url=url, timeout=10) as c:
        for method, path, scope in app_routes(app):
            if scope is None:
                continue
            u = _fill_cloud(path)
            body = {} if method in ("POST", "PUT", "PATCH") else None
            for h in bad:
                r = c.request(method, u, headers=h, json=body)
                assert r.status_code == 401, (method, path, h, r.status_code)
                assert r.headers.get("www-authenticate") == "APIKey"
                refused += 1
            for have in ("read", "write"):
                if RANK[have] < RANK[scope]:
                    r = c.request(method, u, headers={"X-API-Key": keys[have]}, json=body)
                    assert r.status_code == 403, (method, path, have, r.status_code)
                    refused += 1
            if not path.endswith("/stream"):
                r = c.request(method, u, headers={"X-API-Key": keys[scope]}, json=body)
                assert r.status_code not in (401, 403), (method, path, scope, r.status_code)
            n += 1
    print(f"cloud: {n} protected routes, {refused} unauthenticated/wrong-scope requests refused")
    assert n >= 15


def test_cloud_public_routes_answer_without_key(cloud):
    app, url, _, _ = cloud
    with httpx.Client(base_url=url, timeout=10) as c:
        for method, path, scope in app_routes(app):
            if scope is None and "{" not in path and "oauth2" not in path:
                assert c.request(method, path).status_code in (200, 503), path


@settings(max_examples=400, deadline=None, derandomize=True)
@given(header=st.text(max_size=80), body=st.binary(max_size=64))
def test_webhook_signature_check_never_raises(header, body):
    from service.alerts import sign, verify_signature

    assert verify_signature("s3cret", body, header) is False or header == sign("s3cret", body)
    good = sign("s3cret", body)
    assert verify_signature("s3cret", body, good)
    assert not verify_signature("s3cret", body + b"x", good)


# ------------------------------------------------------------- secrets in logs
def test_no_secret_in_logs(cloud, caplog, tmp_path):
    from service.auth import create_key, verify_key
    from service.settings import Settings

    app, url, store, keys = cloud
    caplog.set_level(logging.DEBUG)
    kid, plain = create_key(store, ["read"], name="log-check")
    secret = plain.split(".", 1)[1]
    assert verify_key(store, plain) is not None
    assert verify_key(store, kid + "." + secret[::-1]) is None
    with httpx.Client(base_url=url, timeout=10) as c:
        c.get("/api/v1/sites", headers={"X-API-Key": kid + "." + secret[:-3] + "abc"})      # 401
        c.post("/api/v1/sites", headers={"X-API-Key": plain}, json={"site_id": "x"})        # 403
    # the keys CLI (stdout shows the key once, by design; the log stream must not)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DASEDGE_DB_URL": str(tmp_path / "k.sqlite")}
    r = subprocess.run([sys.executable, "-m", "dasedge.cli", "-vv", "keys", "create", "--scope", "admin"],
                       capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    cli_key = r.stdout.strip()
    assert cli_key.startswith("dk_") and cli_key.split(".", 1)[1] not in r.stderr
    listed = subprocess.run([sys.executable, "-m", "dasedge.cli", "-vv", "keys", "list", "--json"],
                            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert cli_key.split(".", 1)[1] not in listed.stdout + listed.stderr
    # settings never print the cloud key
    s = Settings(_env_file=None, edge_key="edge-secret-value-123456")
    assert "edge-secret-value-123456" not in repr(s) + str(s) + json.dumps(s.model_dump(mode="json"))
    # server-side records (this test's own HTTP client logs are not the product's)
    text = "\n".join(rec.getMessage() + " " + str(rec.args) for rec in caplog.records
                     if not rec.name.startswith(("httpx", "httpcore")))
    for k in (plain, keys["admin"], keys["read"]):
        assert k.split(".", 1)[1] not in text
    assert kid in text  # the key id (safe prefix) is what gets logged


# ------------------------------------------------------------------ pip-audit
def test_pip_audit_installed_environment():
    """Known vulnerabilities in the installed packages (PyPI's advisory data).

    Needs the network (PyPI JSON API, reachable on these machines and in CI). If it is not
    reachable the test FAILS with that reason: an audit that could not run is not a pass.
    """
    exe = Path(sys.executable).parent / "pip-audit"
    assert exe.exists(), "pip-audit missing: pip install pip-audit"
    r = subprocess.run([str(exe), "--progress-spinner", "off", "-f", "json", "--skip-editable"],
                       capture_output=True, text=True, timeout=900)
    if not r.stdout.strip().startswith("{"):
        pytest.fail(f"pip-audit could not run (network to PyPI?): rc {r.returncode}: {r.stderr.strip()[-800:]}")
    doc = json.loads(r.stdout)
    vulns = [(d["name"], d["version"], v["id"], v.get("fix_versions")) for d in doc["dependencies"]
             for v in d.get("vulns", [])]
    print(f"pip-audit: {len(doc['dependencies'])} packages audited, {len(vulns)} known vulnerabilities: {vulns}")
    assert vulns == [], vulns
