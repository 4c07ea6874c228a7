"""Alerts over real HTTP: SSE resume with Last-Event-ID, signed webhooks with retries, CAP 1.2."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from service.alerts import CAP_NS, sign, verify_signature

from .conftest import T0, make_event

S = 1_000_000_000


def sse_events(lines, n: int, deadline_s: float = 20.0) -> list[dict]:
    """Read ``n`` SSE messages with an ``id`` from an iterator over a streaming response's lines."""
    out, cur = [], {}
    t_end = time.monotonic() + deadline_s
    for line in lines:
        if time.monotonic() > t_end:
            break
        if line == "":
            if "id" in cur:
                out.append(cur)
                if len(out) >= n:
                    break
            cur = {}
            continue
        if line.startswith(":"):
            continue
        k, _, v = line.partition(":")
        cur[k] = v.lstrip(" ")
    return out


def wait_connected(lines) -> None:
    """Consume the stream up to the ``: connected`` comment (the server has subscribed us)."""
    for line in lines:
        if line == ": connected":
            return
    raise AssertionError("stream ended before ': connected'")


def _put(store, i, **kw):
    return store.put_events([make_event(i, t_ns=T0 + 5 * 86_400 * S + i * S, **kw)])


def test_sse_live_then_resume_with_last_event_id(live_edge):
    store = live_edge.store
    timeout = httpx.Timeout(30.0, read=20.0)
    with live_edge.client(timeout=timeout) as c:
        with c.stream("GET", "/api/v1/alerts/stream", params={"keepalive_s": 1}) as r:
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
            lines = r.iter_lines()
            wait_connected(lines)  # alerts created from now on are live
            a1 = _put(store, 201, mag=2.0) + _put(store, 202, mag=2.5)
            got = sse_events(lines, 2)
        assert [int(m["id"]) for m in got] == [a["seq"] for a in a1]
        assert [json.loads(m["data"])["id"] for m in got] == ["ev0201", "ev0202"]
        assert got[0]["event"] == "event" and json.loads(got[0]["data"])["message_type"] == "new"
        last_id = got[-1]["id"]
        # while disconnected: three new alerts (one is an update of ev0201)
        missed = _put(store, 203) + _put(store, 201, mag=2.2, version=2, status="update") + _put(store, 204)
        with c.stream("GET", "/api/v1/alerts/stream", headers={"Last-Event-ID": last_id},
                      params={"keepalive_s": 1}) as r:
            lines = r.iter_lines()
            got2 = sse_events(lines, 3)
            live = _put(store, 205)
            got3 = sse_events(lines, 1)
        assert [int(m["id"]) for m in got2] == [a["seq"] for a in missed]
        d = [json.loads(m["data"]) for m in got2]
        assert [(x["id"], x["version"], x["message_type"]) for x in d] == [
            ("ev0203", 1, "new"), ("ev0201", 2, "update"), ("ev0204", 1, "new")]
        assert [int(m["id"]) for m in got3] == [live[0]["seq"]]
        # polling alternative agrees with the stream
        polled = c.get("/api/v1/alerts", params={"after": int(last_id)}).json()
        assert [p["seq"] for p in polled] == [a["seq"] for a in missed + live]


class Receiver:
    """A tiny real HTTP server that records POSTs and fails the first ``fail_first`` of them."""

    def __init__(self, fail_first: int = 0, always_fail: bool = False):
        self.requests: list[tuple[dict, bytes, int]] = []
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                code = 500 if always_fail or len(outer.requests) < fail_first else 200
                outer.requests.append(({k.lower(): v for k, v in self.headers.items()}, body, code))
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, n: int, timeout: float = 30.0) -> None:
        t = time.monotonic() + timeout
        while len(self.requests) < n and time.monotonic() < t:
            time.sleep(0.05)

    def close(self):
        self.server.shutdown()


def _wait_delivery(c, sub_id, status, timeout=30.0):
    t = time.monotonic() + timeout
    while time.monotonic() < t:
        d = c.get(f"/api/v1/subscriptions/{sub_id}/deliveries").json()
        if d and all(x["status"] == status for x in d):
            return d
        time.sleep(0.1)
    raise AssertionError(f"deliveries not {status}: {d}")


def test_webhook_signed_retried_and_filtered(live_edge):
    rx = Receiver(fail_first=2)
    secret = "whsec-" + "k" * 26
    try:
        with live_edge.client("write") as c:
            r = c.post("/api/v1/subscriptions", json={"url": rx.url, "filters": {"min_magnitude": 2.0},
                                                      "format": "json", "secret": secret})
            assert r.status_code == 201, r.text
            sub = r.json()
            assert sub["secret"] == secret
            assert c.get(f"/api/v1/subscriptions/{sub['id']}").json()["secret"] is None
            _put(live_edge.store, 301, mag=1.0)  # filtered out
            (alert,) = _put(live_edge.store, 302, mag=2.6)
            rx.wait(3)
            (dl,) = _wait_delivery(c, sub["id"], "delivered")
            assert dl["attempts"] == 3 and dl["last_status"] == 200 and dl["alert_seq"] == alert["seq"]
        assert [code for _, _, code in rx.requests] == [500, 500, 200]
        bodies = {b for _, b, _ in rx.requests}
        assert len(bodies) == 1  # the same alert each attempt
        for h, body, _ in rx.requests:
            sig = h["x-dasedge-signature"]
            assert verify_signature(secret, body, sig)
            ts = sig.split(",")[0][2:]
            want = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
            assert sig.endswith("v1=" + want)
            assert h["idempotency-key"] == f"{sub['id']}:{alert['seq']}"
        doc = json.loads(body)
        assert doc["id"] == "ev0302" and doc["event"]["magnitude"] == 2.6 and doc["seq"] == alert["seq"]
    finally:
        rx.close()


def test_webhook_gives_up_after_max_attempts_and_unsubscribe(live_edge):
    rx = Receiver(always_fail=True)
    try:
        with live_edge.client("write") as c:
            sub = c.post("/api/v1/subscriptions", json={"url": rx.url}).json()
            assert len(sub["secret"]) >= 32  # generated
            _put(live_edge.store, 401, mag=3.0)
            (dl,) = _wait_delivery(c, sub["id"], "failed")
            assert dl["attempts"] == live_edge.settings.webhook_max_attempts and dl["last_status"] == 500
            assert len(rx.requests) == live_edge.settings.webhook_max_attempts
            assert c.delete(f"/api/v1/subscriptions/{sub['id']}").status_code == 204
            assert c.delete(f"/api/v1/subscriptions/{sub['id']}").status_code == 404
            assert sub["id"] not in {s["id"] for s in c.get("/api/v1/subscriptions").json()}
    finally:
        rx.close()


def test_cap_update_references_previous(live_edge):
    rx = Receiver()
    try:
        with live_edge.client("write") as c:
            sub = c.post("/api/v1/subscriptions", json={"url": rx.url, "format": "cap",
                                                        "filters": {"min_magnitude": 4.0}}).json()
            _put(live_edge.store, 501, mag=4.2)
            _put(live_edge.store, 501, mag=4.6, version=2, status="update")
            rx.wait(2)
            _wait_delivery(c, sub["id"], "delivered")
        ns = {"cap": CAP_NS}
        docs = [ET.fromstring(b) for _, b, _ in sorted(rx.requests, key=lambda x: x[0]["idempotency-key"])]
        assert [d.tag for d in docs] == [f"{{{CAP_NS}}}alert"] * 2
        assert [d.findtext("cap:msgType", namespaces=ns) for d in docs] == ["Alert", "Update"]
        ident1 = docs[0].findtext("cap:identifier", namespaces=ns)
        assert ident1 == "dasedge-ev0501-v1" and ident1 in docs[1].findtext("cap:references", namespaces=ns)
        sent = docs[1].findtext("cap:sent", namespaces=ns)
        assert sent.endswith("+00:00") and "." not in sent
        info = docs[1].find("cap:info", ns)
        assert info.findtext("cap:severity", namespaces=ns) == "Moderate"
        params = {p.findtext("cap:valueName", namespaces=ns): p.findtext("cap:value", namespaces=ns)
                  for p in info.findall("cap:parameter", ns)}
        assert float(params["magnitude"]) == 4.6 and params["version"] == "2"
        assert rx.requests[0][0]["content-type"] == "application/cap+xml"
    finally:
        rx.close()


def test_signature_verification_rejects_tampering():
    body = b'{"a":1}'
    h = sign("s3cret", body, ts=1_700_000_000)
    assert verify_signature("s3cret", body, h, now=1_700_000_010)
    assert not verify_signature("s3cret", body + b" ", h, now=1_700_000_010)
    assert not verify_signature("other", body, h, now=1_700_000_010)
    assert not verify_signature("s3cret", body, h, now=1_700_001_000)  # stale (> 300 s)
    assert not verify_signature("s3cret", body, "garbage", now=1_700_000_010)


def test_delivery_state_survives_dispatcher_restart(store):
    """A pending retry is resumed by a new dispatcher (state lives in the store, not in memory)."""
    from service.alerts import WebhookDispatcher

    rx = Receiver(fail_first=1)
    try:
        sub = store.create_subscription(rx.url, secret="s" * 20)
        (alert,) = store.put_events([make_event(601, t_ns=T0)])
        d1 = WebhookDispatcher(store, backoff_s=0.3)
        assert d1.run_once() == 1  # first attempt -> 500
        d1.stop()
        (row,) = store.list_deliveries(sub["id"])
        assert row["status"] == "pending" and row["attempts"] == 1 and row["last_status"] == 500
        assert row["next_attempt_ns"] >= row["updated_ns"] + 0.2e9  # backoff scheduled, not immediate
        d2 = WebhookDispatcher(store, backoff_s=0.3)  # "restarted process"
        deadline = time.monotonic() + 10
        while store.list_deliveries(sub["id"])[0]["status"] == "pending" and time.monotonic() < deadline:
            d2.run_once()
            time.sleep(0.05)
        d2.stop()
        (row,) = store.list_deliveries(sub["id"])
        assert row["status"] == "delivered" and row["attempts"] == 2 and row["alert_seq"] == alert["seq"]
        assert [c for _, _, c in rx.requests] == [500, 200]
    finally:
        rx.close()
