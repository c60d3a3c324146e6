"""Helpers of the event-subscription tests: a receiver on 127.0.0.1 that verifies each
delivery's signature, and shortcuts for endpoints and events."""
from __future__ import annotations

import json
import threading
from typing import Any
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from chalicelib.integrations.webhooks import signing


class Receiver:
    """Answers every POST with ``status`` (changeable); keeps what came, with whether its
    signature verified against each of ``secrets``."""

    def __init__(self) -> None:
        self.status = 200
        self.secrets: list[str] = []
        self.hits: list[dict[str, Any]] = []
        self.headers: dict[str, str] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                header = self.headers.get(signing.HEADER, "")
                verified = []
                for secret in receiver.secrets:
                    try:
                        signing.verify(raw, header, secret)
                        verified.append(secret)
                    except signing.SignatureError:
                        pass
                receiver.hits.append({"body": json.loads(raw), "raw": raw, "signature": header,
                                      "verified": verified, "status": receiver.status,
                                      "event_id": self.headers.get("Enclave-Event-Id")})
                body = b'{"ok": %s, "note": "answer from the receiver"}' % (
                    b"true" if receiver.status < 300 else b"false")
                self.send_response(receiver.status)
                for name, value in receiver.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/enclave"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def ok_hits(self) -> list[dict[str, Any]]:
        return [h for h in self.hits if h["status"] < 300]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def endpoint(http, tenant, receiver: Receiver | None, types: list[str], url: str | None = None) -> dict[str, Any]:
    r = http.post("/v1/webhook-endpoints", tenant.key, {"url": url or receiver.url, "event_types": types})  # type: ignore[union-attr]
    assert r.status == 201, r
    if receiver is not None:
        receiver.secrets.append(r.json["secret"])
    return r.json


def member(http, tenant, phone: str = "13800138000") -> str:
    r = http.post("/v1/members", tenant.key, {"phone": phone})
    assert r.status in (200, 201), r
    return str(r.json["id"])


def order(http, tenant, member_id: str, event_id: str, amount: int = 100_00) -> None:
    r = http.post("/v1/events", tenant.key, {"events": [
        {"type": "order.paid", "event_id": event_id, "member": {"id": member_id}, "order_id": f"o-{event_id}",
         "amount": amount, "currency": "CNY"}]})
    assert r.status == 200 and r.json["results"][0]["status"] == "accepted", r


def deliveries(http, tenant, endpoint_id: str, **query: Any) -> list[dict[str, Any]]:
    qs = "&".join(f"{k}={v}" for k, v in {"limit": 200, **query}.items())
    r = http.get(f"/v1/webhook-endpoints/{endpoint_id}/deliveries?{qs}", tenant.key)
    assert r.status == 200, r
    return list(r.json["data"])
