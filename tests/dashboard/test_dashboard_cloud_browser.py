"""The dashboard on the cloud app (PostgreSQL): all sites by default, one site when selected."""

from __future__ import annotations

import pytest

from service.pusher import Pusher

from ..service_cloud.helpers import T0, make_event, make_vehicles
from .test_dashboard_browser import ARGS, CHROMIUM

pytestmark = pytest.mark.browser


def test_cloud_dashboard_site_filter(cloud, tmp_path):
    from playwright.sync_api import sync_playwright

    from service.auth import create_key
    from service.store import open_store

    counts = {"site-a": 14, "site-b": 9}
    for i, (site, n) in enumerate(counts.items()):
        key = cloud.register(site, fiber_id=f"fib-{site}")
        edge = open_store(tmp_path / f"{site}.sqlite")
        edge.put_vehicles(make_vehicles(n, fiber=f"fib-{site}", seed=i, tag=site))
        if site == "site-b":
            edge.put_events([make_event(5, t_ns=T0 + 20 * 10**9, fiber="fib-site-b", mag=2.8)])
        p = Pusher(edge, cloud.url, key, site, batch_size=50)
        try:
            assert p.drain(max_seconds=60) > 0
        finally:
            p.stop()
        edge.close()
    _, rkey = create_key(cloud.store, ["read"])
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{cloud.url}/dashboard/#key={rkey}")
            total = sum(counts.values())
            page.wait_for_function(f"document.getElementById('veh-total').textContent === '{total}'", timeout=20000)
            opts = page.eval_on_selector_all("#site option", "els => els.map(e => e.value)")
            assert opts == ["", "site-a", "site-b"]
            page.select_option("#site", "site-b")
            page.wait_for_function("document.getElementById('veh-total').textContent === '9'", timeout=20000)
            assert page.text_content("#eq-total") == "1"
            page.select_option("#site", "site-a")
            page.wait_for_function("document.getElementById('veh-total').textContent === '14'", timeout=20000)
            assert page.text_content("#eq-total") == "0"
            assert errors == []
        finally:
            browser.close()
