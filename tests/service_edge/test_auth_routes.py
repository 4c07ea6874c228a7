"""Every route of the edge app refuses unauthenticated and wrong-scope requests (real HTTP)."""

from __future__ import annotations

import httpx
import pytest

from service.edge.app import PUBLIC_PATHS

RANK = {"read": 0, "write": 1, "admin": 2}


def required_scope(route) -> str | None:
    """Scope required by a route, found in its dependency tree (``require_<scope>``)."""
    found = []

    def walk(dep):
        name = getattr(dep.call, "__name__", "")
        if name.startswith("require_"):
            found.append(name.removeprefix("require_"))
        for sub in dep.dependencies:
            walk(sub)

    walk(route.dependant)
    return max(found, key=RANK.__getitem__) if found else None


def _flatten(routes):
    for r in routes:
        if hasattr(r, "effective_route_contexts"):  # FastAPI >= 0.16x included routers
            yield from r.effective_route_contexts()
        else:
            yield r


def app_routes(app):
    """(method, path, scope) for every route of the app, incl. included routers and docs."""
    out = []
    for r in _flatten(app.routes):
        if hasattr(r, "dependant"):
            for m in sorted(r.methods - {"HEAD"}):
                out.append((m, r.path, required_scope(r)))
        else:  # docs, openapi, redoc: plain starlette routes
            out.append(("GET", r.path, None))
    # every documented operation must be in the inventory
    documented = {(m.upper(), p) for p, ops in app.openapi()["paths"].items() for m in ops}
    assert documented <= {(m, p) for m, p, _ in out}
    return out


def _fill(path: str) -> str:
    return path.replace("{event_id}", "ev0001").replace("{sub_id}", "sub_x").replace("{key_id}", "dk_00000000")


def test_route_inventory_is_what_we_document(live_edge):
    routes = app_routes(live_edge.app)
    public = {(m, p) for m, p, s in routes if s is None}
    assert {p for _, p in public} <= PUBLIC_PATHS, public
    assert ("GET", "/health") in public and ("GET", "/api/v1/version") in public
    # spot checks of scopes
    scopes = {(m, p): s for m, p, s in routes}
    assert scopes[("GET", "/api/v1/traffic/vehicles")] == "read"
    assert scopes[("POST", "/api/v1/subscriptions")] == "write"
    assert scopes[("DELETE", "/api/v1/subscriptions/{sub_id}")] == "write"
    assert scopes[("POST", "/api/v1/keys")] == "admin"
    assert scopes[("GET", "/metrics")] == "read"
    assert len([1 for _, _, s in routes if s]) >= 18


def test_all_protected_routes_refuse(live_edge):
    routes = [r for r in app_routes(live_edge.app) if r[2] is not None]
    keys = live_edge.keys
    revoked_kid, revoked = None, None
    from service.auth import create_key

    revoked_kid, revoked = create_key(live_edge.store, ["admin"], name="revoked")
    live_edge.store.revoke_api_key(revoked_kid)
    bad_headers = [
        {},                                             # missing
        {"X-API-Key": ""},                              # empty
        {"X-API-Key": "not-a-key"},                     # malformed
        {"X-API-Key": keys["admin"][:-2] + "xx"},       # wrong secret
        {"X-API-Key": "dk_00000000." + "a" * 43},       # unknown id
        {"X-API-Key": revoked},                         # revoked
        {"Authorization": f"Bearer {keys['admin']}"},   # wrong header
    ]
    checked = 0
    with httpx.Client(base_url=live_edge.url, timeout=10) as c:
        for method, path, scope in routes:
            url = _fill(path)
            body = {} if method in ("POST", "PUT", "PATCH") else None
            for h in bad_headers:
                r = c.request(method, url, headers=h, json=body)
                assert r.status_code == 401, (method, path, h, r.status_code)
                assert r.headers.get("www-authenticate") == "APIKey"
            for have in ("read", "write", "admin"):
                r = c.request(method, url, headers={"X-API-Key": keys[have]}, json=body,
                              params={"keepalive_s": 0.05} if path.endswith("/stream") else None) \
                    if not path.endswith("/stream") or RANK[have] < RANK[scope] else None
                if RANK[have] < RANK[scope]:
                    assert r.status_code == 403, (method, path, have, r.status_code)
                    assert scope in r.json()["detail"]
                elif r is not None:
                    assert r.status_code not in (401, 403), (method, path, have, r.status_code)
            checked += 1
    assert checked == len(routes)


def test_public_routes_open(live_edge):
    with httpx.Client(base_url=live_edge.url, timeout=10) as c:
        for method, path, scope in app_routes(live_edge.app):
            if scope is None and "{" not in path and "oauth2" not in path:
                assert c.request(method, path).status_code in (200, 503), path


def test_admin_key_api(live_edge):
    with live_edge.client("admin") as c:
        r = c.post("/api/v1/keys", json={"scopes": ["read"], "name": "dash"})
        assert r.status_code == 201
        new = r.json()
        assert new["key"].startswith(new["key_id"] + ".")
        listed = c.get("/api/v1/keys").json()
        assert all(k["key"] is None for k in listed) and new["key_id"] in {k["key_id"] for k in listed}
    with httpx.Client(base_url=live_edge.url, headers={"X-API-Key": new["key"]}) as c2:
        assert c2.get("/api/v1/traffic/vehicles").status_code == 200
        assert c2.get("/api/v1/keys").status_code == 403
    with live_edge.client("admin") as c:
        assert c.delete(f"/api/v1/keys/{new['key_id']}").status_code == 204
        assert c.delete(f"/api/v1/keys/{new['key_id']}").status_code == 404
    with httpx.Client(base_url=live_edge.url, headers={"X-API-Key": new["key"]}) as c2:
        assert c2.get("/api/v1/traffic/vehicles").status_code == 401
