"""Waterfall thumbnails: decimation against a brute-force reference, and the HTTP feed round trip."""

from __future__ import annotations

import base64

import httpx
import numpy as np

from service.web.waterfall import WaterfallRing, peak_decimate, to_pixels

from ..service_cloud.helpers import T0, ServerThread, make_vehicles


def test_peak_decimate_matches_bruteforce():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(53, 37)).astype(np.float32)
    got = peak_decimate(a, 5, 4)
    assert got.shape == (10, 9)
    for i in range(10):
        for j in range(9):
            blk = a[i * 5 : i * 5 + 5, j * 4 : j * 4 + 4]
            k = np.unravel_index(np.abs(blk).argmax(), blk.shape)
            assert got[i, j] == blk[k]  # signed peak of the block


def test_to_pixels_symmetric_clip():
    a = np.array([[-2.0, -1.0, 0.0, 1.0, 2.0]], np.float32)
    px, s = to_pixels(a, clip_pct=100)
    assert s == 2.0
    assert px.tolist() == [[1, 64, 128, 192, 255]]  # 128 + 127 * v/2, rounded half to even
    z, s0 = to_pixels(np.zeros((3, 3)))
    assert s0 == 0.0 and (z == 128).all()


def test_ring_window_and_bounds():
    ring = WaterfallRing(row_s=0.5, max_cols=50, max_seconds=60)
    x = np.arange(200) * 2.0
    for k in range(10):  # 10 windows of 10 s at 100 Hz
        ring.put("f", T0 + k * 10 * 10**9, 0.01, x, np.ones((1000, 200), np.float32) * (k + 1))
    ch = ring.window("f", T0, T0 + 10**12)
    # only the last ~60 s are kept
    assert [c.t0_ns for c in ch] == [T0 + k * 10 * 10**9 for k in range(3, 10)]
    assert ch[0].pixels.shape == (20, 50)  # 0.5 s rows, 200 -> 50 columns
    assert abs(ch[0].dt_s - 0.5) < 1e-12 and ch[0].dx_m == 8.0 and ch[0].x0_m == 0.0
    assert ring.latest_ns("f") == T0 + 100 * 10**9


def test_waterfall_post_and_overview_over_http(tmp_path):
    from service import web
    from service.auth import create_key
    from service.edge.app import create_app
    from service.settings import Settings
    from service.store import open_store

    store = open_store(tmp_path / "e.sqlite")
    _, rkey = create_key(store, ["read"])
    _, wkey = create_key(store, ["write"])
    ring = WaterfallRing()
    app = create_app(Settings(environment="test", db_url=str(tmp_path / "e.sqlite")), store=store,
                     start_dispatcher=False)
    app.include_router(web.router(lambda: store, ring=ring), prefix="/t")
    vs = make_vehicles(12, fiber="fib-w", seed=3)
    store.put_vehicles(vs)
    data = np.zeros((400, 64), np.float32)
    data[100, 10] = 5.0
    data[300, 50] = -5.0
    body = {"fiber": "fib-w", "t0_ns": T0, "dt_s": 0.01, "x0_m": 100.0, "dx_m": 4.0, "data": data.tolist()}
    with ServerThread(app) as srv:
        base = srv.url + "/t"
        assert httpx.post(f"{base}/api/v1/live/waterfall", json=body, headers={"X-API-Key": rkey}).status_code == 403
        r = httpx.post(f"{base}/api/v1/live/waterfall", json=body, headers={"X-API-Key": wkey})
        assert r.status_code == 201, r.text
        assert r.json() == {"fiber": "fib-w", "t0_ns": T0, "nt": 8, "nx": 64}
        assert httpx.get(f"{base}/api/v1/live/waterfall").status_code == 401
        r = httpx.get(f"{base}/api/v1/live/waterfall", params={"fiber": "fib-w", "window_s": 86400},
                      headers={"X-API-Key": rkey})
        (c,) = r.json()["chunks"]
        px = np.frombuffer(base64.b64decode(c["data_b64"]), np.uint8).reshape(c["nt"], c["nx"])
        assert px[2, 10] == 255 and px[6, 50] == 1  # the spikes land in the right 0.5 s rows
        assert (np.delete(px.ravel(), [2 * 64 + 10, 6 * 64 + 50]) == 128).all()
        assert c["x0_m"] == 100.0 and c["dx_m"] == 4.0
        # overview: counts per direction and speed statistics match the inserted vehicles
        r = httpx.get(f"{base}/api/v1/live/overview", params={"window_s": 3600}, headers={"X-API-Key": rkey})
        ov = r.json()
        speeds = np.array([v.speed_kmh for v in vs])
        assert ov["stats"]["total"] == 12
        assert ov["stats"]["pos"] == sum(v.direction > 0 for v in vs)
        assert abs(ov["stats"]["mean_speed_kmh"] - speeds.mean()) < 1e-9
        assert abs(ov["stats"]["p85_speed_kmh"] - np.percentile(speeds, 85)) < 1e-9
        assert sum(ov["speed_hist"]["counts"]) == 12
        assert sum(ov["counts"]["pos"]) + sum(ov["counts"]["neg"]) == 12
        assert httpx.get(f"{base}/dashboard/").text.startswith("<!doctype html>")
        assert httpx.get(f"{base}/dashboard/app.js").headers["content-type"].startswith("text/javascript")
        assert httpx.get(f"{base}/dashboard/secret.txt").status_code == 404
    store.close()
