"""Stripe-shaped objects and signed events, built the way Stripe builds them (API
2025+: billing periods on subscription items, invoices pointing at their subscription
through ``parent.subscription_details``), for the dev command and the tests.

``sign`` is Stripe's scheme (``t=<ts>,v1=<HMAC-SHA256 of "<ts>.<body>">``), the same as
``stripe.WebhookSignature.generate_signature_header``, without importing ``stripe``.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any

API_VERSION = "2026-10-28.endive"


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def subscription(sub_id: str, *, tenant_id: str, member_id: str, plan_id: str, status: str, period_start: int,
                 period_end: int, created: int, customer: str = "cus_dev", price_id: str = "price_dev",
                 amount: int = 99900, currency: str = "cny", interval: str = "year",
                 cancel_at_period_end: bool = False, canceled_at: int | None = None,
                 ended_at: int | None = None, trial_end: int | None = None,
                 metadata: dict[str, str] | None = None) -> dict[str, Any]:
    meta = {"enclave_tenant_id": tenant_id, "enclave_member_id": member_id, "enclave_plan_id": plan_id}
    return {
        "id": sub_id, "object": "subscription", "status": status, "customer": customer, "created": created,
        "start_date": created, "currency": currency, "livemode": False,
        "cancel_at_period_end": cancel_at_period_end, "cancel_at": period_end if cancel_at_period_end else None,
        "canceled_at": canceled_at, "ended_at": ended_at, "trial_end": trial_end,
        "metadata": meta if metadata is None else metadata,
        "items": {"object": "list", "data": [{
            "id": f"si_{sub_id[4:]}", "object": "subscription_item", "quantity": 1,
            "current_period_start": period_start, "current_period_end": period_end,
            "price": {"id": price_id, "object": "price", "currency": currency, "unit_amount": amount,
                      "recurring": {"interval": interval, "interval_count": 1}},
        }]},
    }


def invoice(sub: dict[str, Any], *, paid: bool, created: int, billing_reason: str = "subscription_cycle"
            ) -> dict[str, Any]:
    item = sub["items"]["data"][0]
    return {
        "id": _id("in"), "object": "invoice", "customer": sub["customer"], "created": created,
        "status": "paid" if paid else "open", "billing_reason": billing_reason,
        "amount_due": item["price"]["unit_amount"], "amount_paid": item["price"]["unit_amount"] if paid else 0,
        "currency": sub["currency"], "attempt_count": 1,
        "period_start": item["current_period_start"], "period_end": item["current_period_end"],
        "parent": {"type": "subscription_details",
                   "subscription_details": {"subscription": sub["id"], "metadata": sub["metadata"]}},
    }


def checkout_session(sub: dict[str, Any], *, created: int) -> dict[str, Any]:
    return {"id": _id("cs_test"), "object": "checkout.session", "mode": "subscription", "status": "complete",
            "payment_status": "paid", "customer": sub["customer"], "subscription": sub["id"], "created": created,
            "client_reference_id": sub["metadata"].get("enclave_member_id"), "metadata": sub["metadata"]}


def account(account_id: str, *, charges_enabled: bool, details_submitted: bool, payouts_enabled: bool
            ) -> dict[str, Any]:
    return {"id": account_id, "object": "account", "type": "standard", "charges_enabled": charges_enabled,
            "details_submitted": details_submitted, "payouts_enabled": payouts_enabled}


def event(event_type: str, obj: dict[str, Any], *, account_id: str | None, created: int,
          event_id: str | None = None, previous_attributes: dict[str, Any] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"object": obj}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    body: dict[str, Any] = {"id": event_id or _id("evt"), "object": "event", "api_version": API_VERSION,
                            "created": created, "type": event_type, "livemode": False, "pending_webhooks": 1,
                            "request": {"id": None, "idempotency_key": None}, "data": data}
    if account_id:
        body["account"] = account_id
    return body


def encode(evt: dict[str, Any]) -> bytes:
    """The body as Stripe sends it (pretty-printed JSON)."""
    return json.dumps(evt, indent=2).encode()
