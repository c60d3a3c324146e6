"""Helpers for the journey tests: a local webhook receiver that checks signatures, and
short-hands for members, events, journeys, timers and the message log."""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

#: 10:00 in Shanghai (the test tenants' time zone) on a Monday
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)
CONSENTS = {"sms": {"granted": True}, "email": {"granted": True}, "wechat": {"granted": True}}


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 standing in for a brand's webhook sender."""

    url: str
    secret: str | None = None
    received: list[dict[str, Any]] = field(default_factory=list)
    #: statuses to answer with, in order (then 200)
    answers: list[int] = field(default_factory=list)

    def bodies(self) -> list[dict[str, Any]]:
        return [r["json"] for r in self.received]

    def texts(self) -> list[str]:
        return [(r["json"].get("content") or {}).get("body") for r in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    from chalicelib.journeys.channels.webhook import SIGNATURE_HEADER, verify_signature

    holder: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            rec = holder["r"]
            verified = None
            if rec.secret:
                try:
                    verify_signature(raw, self.headers[SIGNATURE_HEADER], rec.secret)
                    verified = True
                except ValueError:
                    verified = False
            status = rec.answers.pop(0) if rec.answers else 200
            if status == 200:
                rec.received.append({"json": json.loads(raw), "verified": verified,
                                     "idempotency_key": self.headers["Idempotency-Key"]})
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b"ok" if status == 200 else b"try later")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder["r"] = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/hooks")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield holder["r"]
    server.shutdown()
    server.server_close()


def connect_webhook(http, tenant, receiver: Receiver, **settings: Any) -> None:
    r = http.call("PUT", "/v1/messaging/settings", tenant.key, json_body={"webhook_url": receiver.url, **settings})
    assert r.status == 200, r
    secret = http.post("/v1/messaging/webhook-secret", tenant.key)
    assert secret.status == 201, secret
    receiver.secret = secret.json["secret"]


def new_member(http, tenant, phone: str = "13800138000", consents: dict[str, Any] | None = None, **fields: Any) -> str:
    r = http.post("/v1/members", tenant.key, {"phone": phone, "consents": CONSENTS if consents is None else consents,
                                               **fields})
    assert r.status in (200, 201), r
    return r.json["id"]


def send_events(http, tenant, *events: dict[str, Any]) -> list[dict[str, Any]]:
    r = http.post("/v1/events", tenant.key, {"events": list(events)})
    assert r.status == 200, r
    assert all(x["status"] == "accepted" for x in r.json["results"]), r.json
    return r.json["results"]


def follow(member_id: str, event_id: str) -> dict[str, Any]:
    return {"type": "interaction", "event_id": event_id, "member": {"id": member_id}, "name": "follow"}


def paid(member_id: str, event_id: str, amount: int = 100_00) -> dict[str, Any]:
    return {"type": "order.paid", "event_id": event_id, "member": {"id": member_id}, "order_id": f"o-{event_id}",
            "amount": amount, "currency": "CNY"}


def webhook_message(step_id: str, body: str, next_step: str | None = None, consent: str = "wechat") -> dict[str, Any]:
    step: dict[str, Any] = {"id": step_id, "type": "send_message", "channel": "webhook", "consent": consent,
                            "template": {"body": body}}
    if next_step:
        step["next"] = next_step
    return step


def create_journey(http, tenant, body: dict[str, Any], activate: bool = True) -> dict[str, Any]:
    r = http.post("/v1/journeys", tenant.key, {"name": "Journey", **body})
    assert r.status == 201, r
    if activate:
        a = http.post(f"/v1/journeys/{r.json['id']}/activate", tenant.key)
        assert a.status == 200, a
        return a.json
    return r.json


def tick(http) -> int:
    """Fire the local timer schedule once (what ``make run`` does every minute)."""
    return http.schedule("journey_timers")["fired"]


def sweep(http) -> dict[str, int]:
    return http.schedule("journey_sweeper")


def messages(http, tenant, **query: str) -> list[dict[str, Any]]:
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    r = http.get(f"/v1/messages?{qs}", tenant.key)
    assert r.status == 200, r
    return r.json["data"]


def stats(http, tenant, journey_id: str) -> dict[str, Any]:
    r = http.get(f"/v1/journeys/{journey_id}/stats", tenant.key)
    assert r.status == 200, r
    out = r.json
    out["by_step"] = {s["step_id"]: s for s in out["steps"]}
    return out


def enrolments(http, tenant, member_id: str) -> list[dict[str, Any]]:
    r = http.get(f"/v1/members/{member_id}/enrolments", tenant.key)
    assert r.status == 200, r
    return r.json["data"]


SENDER = "hello@brand.example"


@pytest.fixture
def aws(monkeypatch) -> Iterator[Any]:
    """SES and SNS captured by moto (DynamoDB still goes to DynamoDB Local: moto only
    answers AWS endpoints, and the table's endpoint is local)."""
    import boto3
    from moto import mock_aws

    monkeypatch.setenv("ENCLAVE_EMAIL_FROM", SENDER)
    with mock_aws():
        boto3.client("ses", region_name="us-east-1").verify_email_identity(EmailAddress=SENDER)
        yield


def sent_sms() -> list[tuple[str, str]]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    return list(sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sms_messages.values())


def sent_emails() -> list[Any]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    return list(ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages)
