"""The live dashboard in headless Chromium (Playwright), served by the real edge app over real HTTP.

A synthetic traffic scene (``dasedge.synth.traffic``) is replayed: its DAS
block goes into the live waterfall (``put_waterfall``) in 10 s chunks and its
truth vehicles, an earthquake and its picks are written through the store's
real write path.  The page must show them, then update live when a new
vehicle and a new earthquake alert arrive after it loaded.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dasedge.records import Pick, SeismicEvent, Vehicle, stable_id

from ..service_cloud.helpers import ServerThread

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.browser


def _vehicle_from_truth(r: dict, fiber: str) -> Vehicle:
    return Vehicle(
        id=stable_id(fiber, r["id"], prefix="v_"), fiber_id=fiber, t_start_ns=int(r["t_entry_ns"]),
        t_end_ns=int(r["t_exit_ns"]), x_start_m=float(r["x_entry_m"]), x_end_m=float(r["x_exit_m"]),
        speed_kmh=float(r["speed_kmh"]), direction=int(r["direction"]), vehicle_class=r["vehicle_class"],
        t_ref_ns=int(r["t_ref_ns"]),
    )


@pytest.fixture(scope="module")
def scene():
    from dasedge.synth.traffic import simulate_traffic_scene

    block, truth = simulate_traffic_scene(duration_s=120.0, fs=200.0, dx_m=4.0, length_m=800.0, snr_db=20.0,
                                          rate_per_min=8.0, fiber_id="synth-road")
    return block, truth


def test_dashboard_shows_scene_and_updates_live(scene, tmp_path):
    from playwright.sync_api import sync_playwright

    from service import web
    from service.auth import create_key
    from service.edge.app import create_app
    from service.settings import Settings
    from service.store import open_store

    block, truth = scene
    fiber = block.fiber_id
    store = open_store(tmp_path / "edge.sqlite")
    web.RING.clear()
    # replay the scene: waterfall thumbnails in 10 s chunks (put_waterfall, as the demo does),
    # vehicles through the store's write path
    n10 = int(round(10.0 / block.dt_s))
    for i in range(0, block.data.shape[0], n10):
        web.put_waterfall(fiber, block.t0_ns + int(round(i * block.dt_s * 1e9)), block.dt_s, block.distance_m,
                 block.data[i : i + n10])
    vehicles = [_vehicle_from_truth(r, fiber) for r in truth["vehicles"] if r.get("complete", True)]
    assert len(vehicles) >= 5
    store.put_vehicles(vehicles)
    ev_t = block.t0_ns + 30 * 10**9
    ev = SeismicEvent(id="ev-dash-1", fiber_id=fiber, origin_ns=ev_t, x_m=400.0, y_m=None, depth_m=7000.0,
                      magnitude=2.2, num_picks=6, num_p=3, num_s=3)
    picks = [Pick(id=f"pk-dash-{k}", fiber_id=fiber, channel=50 * (k % 3 + 1), distance_m=200.0 * (k % 3 + 1),
                  t_ns=ev_t + int((2.0 if k < 3 else 3.4) * 1e9), phase="P" if k < 3 else "S", score=0.9,
                  event_id=ev.id) for k in range(6)]
    store.put_picks(picks)
    store.put_events([ev])
    _, key = create_key(store, ["read"], name="dashboard-test")

    # the edge app mounts the dashboard itself (service.web.router)
    app = create_app(Settings(environment="test", db_url=str(tmp_path / "edge.sqlite")), store=store,
                     start_dispatcher=False)
    shot = Path(os.environ.get("DASEDGE_DASHBOARD_SCREENSHOT", tmp_path / "dashboard.png"))
    with ServerThread(app) as srv, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1100})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            # without a key the feeds are refused and the page says so
            page.goto(f"{srv.url}/dashboard/")
            page.fill("#apikey", "dk_00000000.wrong-wrong-wrong-wrong-wrong")
            page.click("#connect")
            page.wait_for_function("document.getElementById('status').textContent.includes('refused')", timeout=15000)
            # with the key in the URL fragment
            page.goto(f"{srv.url}/dashboard/#key={key}")
            n = len(vehicles)
            page.wait_for_function(f"document.getElementById('veh-total').textContent === '{n}'", timeout=20000)
            npos = sum(v.direction > 0 for v in vehicles)
            assert page.text_content("#veh-pos") == str(npos)
            assert page.text_content("#veh-neg") == str(n - npos)
            mean = sum(v.speed_kmh for v in vehicles) / n
            assert abs(float(page.text_content("#speed-mean")) - mean) < 0.051
            cv = page.locator("#waterfall")
            page.wait_for_function("document.getElementById('waterfall').dataset.lines !== '0'", timeout=10000)
            assert cv.get_attribute("data-lines") == str(n)
            assert cv.get_attribute("data-picks") == "6"
            assert "12 chunk(s)" in page.text_content("#wf-info")  # 120 s in 10 s chunks
            rows = page.locator("#events tr.event")
            assert rows.count() == 1 and "ev-dash-1" == rows.first.get_attribute("data-id")
            assert page.locator("#events tr.picks").first.text_content().count("@ch") == 6
            # the waterfall is not blank: the scene's vehicles show as coloured pixels
            img_before = page.evaluate("document.getElementById('waterfall').toDataURL()")
            page.screenshot(path=str(shot), full_page=True)

            # live: a new vehicle 5 s after the scene ends and a new earthquake (alert via SSE)
            last = max(v.t_end_ns for v in vehicles)
            newv = Vehicle(id="v_live_1", fiber_id=fiber, t_start_ns=last + 1_000_000_000,
                           t_end_ns=last + 30_000_000_000, x_start_m=800.0, x_end_m=0.0, speed_kmh=99.0,
                           direction=-1, vehicle_class="truck", t_ref_ns=last + 15_000_000_000)
            store.put_vehicles([newv])
            page.wait_for_function(f"document.getElementById('veh-total').textContent === '{n + 1}'", timeout=20000)
            page.wait_for_function(f"document.getElementById('waterfall').dataset.lines === '{n + 1}'", timeout=10000)
            img_after = page.evaluate("document.getElementById('waterfall').toDataURL()")
            assert img_after != img_before
            ev2 = SeismicEvent(id="ev-live-2", fiber_id=fiber, origin_ns=last, x_m=300.0, y_m=None, depth_m=5000.0,
                               magnitude=3.4, num_picks=0, num_p=0, num_s=0)
            store.put_events([ev2])
            page.wait_for_function(
                "Array.from(document.querySelectorAll('#alerts li')).some(li => li.textContent.includes('ev-live-2'))",
                timeout=20000)
            live_li = page.locator("#alerts li", has_text="ev-live-2")
            assert "M3.4" in live_li.text_content() and "new" in live_li.text_content()
            assert "M2.2" in page.locator("#alerts li", has_text="ev-dash-1").text_content()  # from the overview
            page.wait_for_function("document.querySelectorAll('#events tr.event').length === 2", timeout=10000)
            page.screenshot(path=str(shot.with_name(shot.stem + "-live.png")), full_page=True)
            assert page.text_content("#alert-conn") == "(live)"
            assert errors == []
        finally:
            browser.close()
            web.RING.clear()
    store.close()
    assert shot.stat().st_size > 10_000
