"""Every route of the cloud app refuses requests without a valid key, and the right scopes (real HTTP)."""

from __future__ import annotations

import httpx

PUBLIC = {"/health", "/ready", "/api/v1/version", "/fdsnws/event/1/version", "/fdsnws/event/1/application.wadl",
          "/dashboard/", "/dashboard/{name}", "/docs", "/docs/oauth2-redirect", "/redoc", "/api/v1/openapi.json"}
RANK = {"read": 0, "write": 1, "admin": 2}


def _scope(route) -> str | None:
    found = []

    def walk(dep):
        name = getattr(dep.call, "__name__", "")
        if name.startswith("require_"):
            found.append(name.removeprefix("require_"))
        for d in dep.dependencies:
            walk(d)

    walk(route.dependant)
    return max(found, key=RANK.__getitem__) if found else None


def _flatten(routes):
    for r in routes:
        if hasattr(r, "effective_route_contexts"):  # FastAPI >= 0.16x keeps included routers
            yield from r.effective_route_contexts()
        else:
            yield r


def _routes(app):
    out = []
    for r in _flatten(app.routes):
        if hasattr(r, "dependant"):
            for m in sorted(r.methods - {"HEAD"}):
                out.append((m, r.path, _scope(r)))
        else:
            out.append(("GET", r.path, None))
    return out


def test_cloud_routes_auth(cloud):
    from service.auth import create_key

    routes = _routes(cloud.app)
    public = {p for _, p, s in routes if s is None}
    assert public <= PUBLIC, public - PUBLIC
    scopes = {(m, p): s for m, p, s in routes}
    assert scopes[("POST", "/api/v1/ingest")] == "write"
    assert scopes[("POST", "/api/v1/sites")] == "admin"
    assert scopes[("GET", "/api/v1/sites")] == "read"
    assert scopes[("GET", "/fdsnws/event/1/query")] == "read"
    assert scopes[("GET", "/api/v1/live/overview")] == "read"
    keys = {s: create_key(cloud.store, [s])[1] for s in RANK}
    fill = {"{event_id}": "ev1", "{sub_id}": "sub_x", "{key_id}": "dk_00000000", "{site_id}": "s1",
            "{name}": "app.js"}
    n = 0
    with httpx.Client(base_url=cloud.url, timeout=10) as c:
        for m, p, s in routes:
            url = p
            for k, v in fill.items():
                url = url.replace(k, v)
            body = {} if m in ("POST", "PUT", "PATCH") else None
            if s is None:
                continue
            for h in ({}, {"X-API-Key": "dk_00000000." + "a" * 43}, {"X-API-Key": keys["admin"][:-2] + "zz"}):
                r = c.request(m, url, headers=h, json=body)
                assert r.status_code == 401, (m, p, r.status_code)
            for have in RANK:
                if p.endswith("/stream") and RANK[have] >= RANK[s]:
                    continue  # an open SSE stream; covered elsewhere
                r = c.request(m, url, headers={"X-API-Key": keys[have]}, json=body)
                if RANK[have] < RANK[s]:
                    assert r.status_code == 403, (m, p, have, r.status_code)
                else:
                    assert r.status_code not in (401, 403, 500), (m, p, have, r.status_code, r.text[:200])
            n += 1
    assert n >= 20
