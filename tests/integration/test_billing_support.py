"""Billing test support: a tenant's Stripe "world" (connected account, plans, and
subscriptions whose true history the test scripts), signed deliveries to the webhook,
and tests of that support itself.

What stripe-mock proves and what it cannot: every call the app makes goes to stripe-mock,
which validates path, parameters and headers against Stripe's OpenAPI spec (a wrong
parameter fails the test). It keeps no state, so what Stripe *holds* (a subscription's
status over time) is scripted here and remembered by the app's stateless adapter
(``chalicelib/billing/gateway/stateless.py``): ``record`` says "Stripe holds this from
moment t"; a re-read made for an event created at t answers the state at t.

Nothing here imports tests.fixtures (and so tests.conftest) at module level: the separate
processes of the concurrency test import this module.
"""
from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from devstack import stripe_events as se

YEAR = timedelta(days=365)


def gateway() -> Any:
    from chalicelib.billing.gateway import gateway as current

    return current()


def webhook_secret() -> str:
    return os.environ["ENCLAVE_STRIPE_WEBHOOK_SECRET"]


def signed(evt: dict[str, Any], *, secret: str | None = None, timestamp: int | None = None) -> tuple[bytes, str]:
    body = se.encode(evt)
    return body, se.sign(body, secret or webhook_secret(), timestamp)


def epoch(ts: datetime) -> int:
    return int(ts.timestamp())


@dataclass
class History:
    """One subscription's true history on Stripe: (event, state after it) in order."""

    sub_id: str
    member_id: str
    plan_id: str
    steps: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)

    @property
    def events(self) -> list[dict[str, Any]]:
        return [e for e, _ in self.steps]

    def state_after(self, n: int) -> dict[str, Any]:
        return self.steps[n - 1][1]


class World:
    """A tenant connected to (stripe-mock's) Stripe, through the API."""

    def __init__(self, http: Any, tenant: Any) -> None:
        self.http, self.tenant = http, tenant
        r = http.post("/v1/billing/stripe/connect", tenant.key,
                      {"return_url": "https://brand.example/stripe/done", "refresh_url": "https://brand.example/stripe/again"})
        assert r.status == 200, r
        self.account = r.json["stripe"]["account_id"]

    def plan(self, **fields: Any) -> dict[str, Any]:
        body = {"name": "Black Card", "amount": 99900, "currency": "CNY", "interval": "year", **fields}
        r = self.http.post("/v1/plans", self.tenant.key, body)
        assert r.status == 201, r
        return r.json

    def member(self, phone: str | None = None) -> str:
        phone = phone or f"1380013{secrets.randbelow(10**4):04d}"
        r = self.http.post("/v1/members", self.tenant.key, {"phone": phone})
        assert r.status in (200, 201), r
        return r.json["id"]

    def deliver(self, evt: dict[str, Any], **sign: Any) -> Any:
        body, header = signed(evt, **sign)
        return self.http.call("POST", "/webhooks/stripe", headers={"Stripe-Signature": header}, raw=body)

    def memberships(self, member_id: str) -> list[dict[str, Any]]:
        r = self.http.get(f"/v1/members/{member_id}/memberships", self.tenant.key)
        assert r.status == 200, r
        return r.json["data"]

    # --- scripted Stripe histories ------------------------------------------------------
    def sub(self, member_id: str, plan: dict[str, Any], *, status: str, start: datetime, end: datetime,
            created: datetime, sub_id: str, **kw: Any) -> dict[str, Any]:
        return se.subscription(sub_id, tenant_id=self.tenant.id, member_id=member_id, plan_id=plan["id"],
                               status=status, period_start=epoch(start), period_end=epoch(end),
                               created=epoch(created), price_id=plan["stripe"]["price_id"], amount=plan["amount"],
                               currency=plan["currency"].lower(), interval=plan["interval"], **kw)

    def event(self, event_type: str, obj: dict[str, Any], at: datetime) -> dict[str, Any]:
        return se.event(event_type, obj, account_id=self.account, created=epoch(at))

    def lifecycle(self, member_id: str, plan: dict[str, Any], t0: datetime) -> History:
        """A year's membership: purchase, a failed renewal and its recovery, cancel at period
        end, resume, cancel again, and the end. Several events share a second, as they do."""
        sub_id = f"sub_{secrets.token_hex(10)}"
        h = History(sub_id, member_id, plan["id"])
        p1, p2 = (t0, t0 + YEAR), (t0 + YEAR, t0 + 2 * YEAR)

        def sub(status: str, period: tuple[datetime, datetime], **kw: Any) -> dict[str, Any]:
            return self.sub(member_id, plan, status=status, start=period[0], end=period[1], created=t0,
                            sub_id=sub_id, **kw)

        def step(event_type: str, state: dict[str, Any], at: datetime, obj: dict[str, Any] | None = None) -> None:
            h.steps.append((self.event(event_type, obj or state, at), state))

        s = sub("incomplete", p1)
        step("customer.subscription.created", s, t0)
        s = sub("active", p1)
        step("customer.subscription.updated", s, t0 + timedelta(seconds=1))
        step("invoice.paid", s, t0 + timedelta(seconds=1), se.invoice(s, paid=True, created=epoch(t0),
                                                                       billing_reason="subscription_create"))
        step("checkout.session.completed", s, t0 + timedelta(seconds=2), se.checkout_session(s, created=epoch(t0)))
        renewal = p2[0]
        s = sub("past_due", p2)
        step("customer.subscription.updated", s, renewal)
        step("invoice.payment_failed", s, renewal, se.invoice(s, paid=False, created=epoch(renewal)))
        s = sub("active", p2)
        step("invoice.paid", s, renewal + timedelta(days=3), se.invoice(s, paid=True, created=epoch(renewal)))
        step("customer.subscription.updated", s, renewal + timedelta(days=3))
        s = sub("active", p2, cancel_at_period_end=True, canceled_at=epoch(renewal + timedelta(days=10)))
        step("customer.subscription.updated", s, renewal + timedelta(days=10))
        s = sub("active", p2)
        step("customer.subscription.updated", s, renewal + timedelta(days=20))
        s = sub("active", p2, cancel_at_period_end=True, canceled_at=epoch(renewal + timedelta(days=30)))
        step("customer.subscription.updated", s, renewal + timedelta(days=30))
        s = sub("canceled", p2, cancel_at_period_end=True, canceled_at=epoch(renewal + timedelta(days=30)),
                ended_at=epoch(p2[1]))
        step("customer.subscription.deleted", s, p2[1])
        return h

    def remember(self, h: History, upto: int | None = None) -> None:
        """Stripe holds this history (up to step ``upto``): re-reads answer from it."""
        for evt, state in h.steps[:upto]:
            gateway().record(state, evt["created"])


def expect(membership: dict[str, Any], truth: dict[str, Any]) -> None:
    """The membership the API shows equals Stripe's true state ``truth``."""
    item = truth["items"]["data"][0]
    assert membership["id"] == truth["id"]
    assert membership["status"] == truth["status"], (membership, truth["status"])
    assert membership["cancel_at_period_end"] == truth["cancel_at_period_end"]
    end = datetime.fromtimestamp(item["current_period_end"], timezone.utc)
    assert membership["current_period_end"].startswith(end.strftime("%Y-%m-%dT%H:%M:%S")), membership


# --- the support itself ------------------------------------------------------------------
def test_our_signatures_are_stripes():
    import stripe

    body = b'{"id": "evt_1", "object": "event"}'
    ours = se.sign(body, "whsec_x", timestamp=1_700_000_000)
    assert ours == stripe.WebhookSignature.generate_signature_header(body.decode(), "whsec_x", timestamp=1_700_000_000)


def test_stripe_mock_validates_what_the_app_sends():
    """The adapter's calls really reach stripe-mock, which rejects what Stripe would."""
    from chalicelib.billing.gateway import GatewayRejected

    gw = gateway()
    assert type(gw).__name__ == "StatelessMockGateway"
    price = gw.create_price("acct_1Test", product_id="prod_1", unit_amount=100, currency="cny", interval="year",
                            metadata={}, idempotency_key="enclave:test:price")
    assert price["unit_amount"] == 100
    try:
        gw.create_price("acct_1Test", product_id="prod_1", unit_amount=100, currency="cny", interval="fortnight",
                        metadata={}, idempotency_key="enclave:test:bad-price")
    except GatewayRejected as exc:
        assert exc.status == 400 and "interval" in str(exc)
    else:
        raise AssertionError("stripe-mock accepted an interval Stripe does not have")


def test_a_read_as_of_a_moment_answers_the_state_stripe_held_then():
    gw = gateway()
    sub_id = f"sub_{secrets.token_hex(8)}"
    old = {"id": sub_id, "object": "subscription", "status": "active"}
    new = {"id": sub_id, "object": "subscription", "status": "past_due"}
    gw.record(old, 100)
    gw.record(new, 200)
    assert gw.retrieve_subscription("acct_1Test", sub_id, as_of=150)["status"] == "active"
    assert gw.retrieve_subscription("acct_1Test", sub_id, as_of=250)["status"] == "past_due"
    assert gw.retrieve_subscription("acct_1Test", sub_id)["status"] == "past_due"
    # nothing recorded for an id: stripe-mock's fixture (no Enclave metadata)
    assert json.dumps(gw.retrieve_subscription("acct_1Test", "sub_unknown")["metadata"]) == "{}"
