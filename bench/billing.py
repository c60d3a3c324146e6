"""(q) Billing figures, measured in one run (``python -m bench.billing``, or section ``q`` /
``billing`` of ``python -m bench``):

* requests Enclave makes to Stripe for one purchase (checkout link, then the purchase's
  webhooks: customer.subscription.created/updated, invoice.paid, checkout.session.completed);
* one Stripe webhook that changes a membership (``customer.subscription.updated``
  toggling cancel_at_period_end, so each one is applied: claim, membership, counters, a
  domain event, the outbox when a receiver wants the event) through the app, vs the bare
  DynamoDB calls such a handler needs at the least, replayed with a plain boto3 client: the
  account lookup, the claim check, the membership read, and the one TransactWriteItems
  (claim + membership + counter moves + the membership event's claim and timeline entry,
  and the outbox item if one was staged) exactly as the app sent it (new event ids per
  iteration; the membership written under a bench-only member, its version condition
  replaced by a does-not-exist condition of the same cost).

The app side includes the re-read from Stripe (stripe-mock on 127.0.0.1: a floor for the
real network round trip, typically 100-300 ms to api.stripe.com) and the domain event.
App requests, bare replays and bare Stripe re-reads are interleaved (one of each per
iteration), so the machine's load at any moment weighs on all three alike.
"""
from __future__ import annotations

import contextlib
import copy
import json
import os
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .api import TENANT
from .report import fmt, heading, median, p90, progress, ratio, table
from .stack import ROOT, LocalStack

WARMUP = 20
ITERATIONS = 150


@dataclass
class BillingFigures:
    on_request: Counter[str]
    on_webhooks: Counter[str]
    outcomes: list[str]
    app_ms: list[float] = field(default_factory=list)
    bare_ms: list[float] = field(default_factory=list)
    stripe_ms: list[float] = field(default_factory=list)
    essential: list[str] = field(default_factory=list)
    ops: Counter[str] = field(default_factory=Counter)


@contextlib.contextmanager
def stripe_environment(work: Any) -> Iterator[str]:
    """stripe-mock on 127.0.0.1 and the app's Stripe settings (set before the app reads its
    settings); yields the webhook signing secret."""
    from devstack import stripe_mock

    stripe_mock.install()
    proc, base = stripe_mock.start(work / "stripe-mock.log")
    try:
        secret = "whsec_bench_" + secrets.token_hex(8)
        os.environ.update({"ENCLAVE_STRIPE_API_BASE": base, "ENCLAVE_STRIPE_SECRET_KEY": "sk_test_BenchOnly123",
                           "ENCLAVE_STRIPE_WEBHOOK_SECRET": secret, "ENCLAVE_STRIPE_STATELESS_MOCK": "1"})
        import sys

        config = sys.modules.get("chalicelib.core.config")
        if config is not None:  # read before: read again with the Stripe settings
            config.get_settings.cache_clear()
        yield secret
    finally:
        stripe_mock.stop(proc)


def main() -> int:
    from chalice.test import Client

    with LocalStack() as stack, stripe_environment(stack.work) as secret:
        progress("starting DynamoDB Local")
        stack.start_dynamodb()
        from app import app

        figures = run_billing(Client(app, project_dir=str(ROOT)), stack.issuer.admin_token(), secret,
                              stack.client())
    print_billing(figures)
    return 0


def run_billing(client: Any, admin_token: str, secret: str, bare_client: Any) -> BillingFigures:
    from bench.dynamo import captured
    from chalicelib.billing.gateway import gateway
    from chalicelib.core.table.model import boto_client
    from devstack import stripe_events as se

    def call(method: str, path: str, token: str | None = None, body: Any = None,
             headers: dict[str, str] | None = None, raw: bytes | None = None) -> Any:
        h = {"Content-Type": "application/json", **(headers or {})}
        if token:
            h["Authorization"] = f"Bearer {token}"
        r = client.http.request(method, path, headers=h, body=raw if raw is not None else json.dumps(body or {}))
        assert r.status_code < 300, (path, r.status_code, r.body[:300])
        return json.loads(r.body) if r.body else None

    tenant = call("POST", "/v1/admin/tenants", admin_token, {**TENANT, "name": "Billing bench"})
    key, tenant_id = tenant["api_key"]["secret"], tenant["tenant"]["id"]
    account = call("POST", "/v1/billing/stripe/connect", key, {"return_url": "https://b.example/done",
                                                                "refresh_url": "https://b.example/again"})
    account_id = account["stripe"]["account_id"]
    plan = call("POST", "/v1/plans", key, {"name": "Black", "amount": 99900, "currency": "CNY", "interval": "year"})
    gw: Any = gateway()  # the stateless mock wrapper (its .inner counts the calls)

    def deliver(evt: dict[str, Any]) -> str:
        body = se.encode(evt)
        out = call("POST", "/webhooks/stripe", headers={"Stripe-Signature": se.sign(body, secret)}, raw=body)
        return str(out["outcome"])

    def sub(member: str, sub_id: str, status: str, now: int, cancel: bool = False) -> dict[str, Any]:
        return se.subscription(sub_id, tenant_id=tenant_id, member_id=member, plan_id=plan["id"], status=status,
                               period_start=now, period_end=now + 365 * 86400, created=now,
                               price_id=plan["stripe"]["price_id"], cancel_at_period_end=cancel)

    # --- requests to Stripe per purchase -----------------------------------------------------
    progress("a purchase")
    member = call("POST", "/v1/members", key, {"phone": "13800138000"})["id"]
    before = Counter(gw.inner.calls)
    call("POST", f"/v1/members/{member}/checkout-sessions", key, {
        "plan_id": plan["id"], "success_url": "https://b.example/ok", "cancel_url": "https://b.example/no"})
    on_request = Counter(gw.inner.calls) - before
    now = int(time.time())
    sub_id = f"sub_{secrets.token_hex(10)}"
    incomplete, active = sub(member, sub_id, "incomplete", now), sub(member, sub_id, "active", now + 1)
    purchase = [se.event("customer.subscription.created", incomplete, account_id=account_id, created=now),
                se.event("customer.subscription.updated", active, account_id=account_id, created=now + 1),
                se.event("invoice.paid", se.invoice(active, paid=True, created=now + 1), account_id=account_id,
                         created=now + 1),
                se.event("checkout.session.completed", se.checkout_session(active, created=now + 1),
                         account_id=account_id, created=now + 2)]
    mid = Counter(gw.inner.calls)
    outcomes = [deliver(e) for e in purchase]
    figures = BillingFigures(on_request, Counter(gw.inner.calls) - mid, outcomes)

    # --- one applied webhook: app vs bare ----------------------------------------------------
    created = now + 10
    flag = False

    def next_event() -> dict[str, Any]:
        nonlocal created, flag
        created += 1
        flag = not flag
        return se.event("customer.subscription.updated", sub(member, sub_id, "active", now, cancel=flag),
                        account_id=account_id, created=created)

    for _ in range(3):
        assert deliver(next_event()) == "applied"
    ddb = boto_client()
    with captured(ddb) as calls:
        assert deliver(next_event()) == "applied"
    figures.ops = Counter(op for op, _ in calls)
    essential = _essential(calls, tenant_id)
    figures.essential = [op for op, _ in essential]

    progress(f"{WARMUP + ITERATIONS} webhooks through the app, bare replays and Stripe re-reads, interleaved")
    for i in range(WARMUP + ITERATIONS):
        evt = next_event()
        body = se.encode(evt)
        header = se.sign(body, secret)
        requests = _replay(essential, member, f"evt_bench{i:08d}")
        t0 = time.perf_counter()
        r = client.http.request("POST", "/webhooks/stripe", body=body,
                                headers={"Stripe-Signature": header, "Content-Type": "application/json"})
        t1 = time.perf_counter()
        assert r.status_code == 200 and json.loads(r.body)["outcome"] == "applied", r.body
        for op, params in requests:
            getattr(bare_client, op)(**params)
        t2 = time.perf_counter()
        gw.inner.retrieve_subscription(account_id, sub_id)
        t3 = time.perf_counter()
        if i >= WARMUP:
            figures.app_ms.append((t1 - t0) * 1000)
            figures.bare_ms.append((t2 - t1) * 1000)
            figures.stripe_ms.append((t3 - t2) * 1000)
    return figures


def print_billing(f: BillingFigures) -> None:
    print(heading("(q) Billing (Stripe via stripe-mock on 127.0.0.1, DynamoDB Local in memory)"))
    print(table(["requests to Stripe", "count"], [
        ["checkout link (first purchase of a member)", str(sum(f.on_request.values()))],
        ["  " + ", ".join(f"{k} {v}" for k, v in sorted(f.on_request.items())), ""],
        [f"purchase webhooks ({len(f.outcomes)} events: {', '.join(f.outcomes)})", str(sum(f.on_webhooks.values()))],
        ["  " + ", ".join(f"{k} {v}" for k, v in sorted(f.on_webhooks.items())), ""],
        ["total per purchase", str(sum(f.on_request.values()) + sum(f.on_webhooks.values()))],
    ]))
    print()
    print(table(["one applied webhook", "median ms", "p90 ms"], [
        ["through the app (verify, re-read, apply, domain event)", fmt(median(f.app_ms)), fmt(p90(f.app_ms))],
        ["bare DynamoDB calls it needs (" + ", ".join(f.essential) + ")", fmt(median(f.bare_ms)),
         fmt(p90(f.bare_ms))],
        ["of which the Stripe re-read alone (stripe-mock)", fmt(median(f.stripe_ms)), fmt(p90(f.stripe_ms))],
    ]))
    print(f"\n  app / bare: {ratio(median(f.app_ms), median(f.bare_ms))}"
          f"   (app minus the re-read) / bare: {ratio(median(f.app_ms) - median(f.stripe_ms), median(f.bare_ms))}")
    print("  the app's DynamoDB calls per applied webhook: " + ", ".join(f"{k} {v}" for k, v in sorted(f.ops.items())))


def _essential(calls: list[tuple[str, dict[str, Any]]], tenant_id: str) -> list[tuple[str, dict[str, Any]]]:
    """The account lookup, claim check, membership read and the main transaction."""
    picked: list[tuple[str, dict[str, Any]]] = []
    wanted = [("GetItem", "STRIPEACCT#"), ("GetItem", f"T#{tenant_id}#STRIPE_EV#"), ("GetItem", "MEMBERSHIP#")]
    for op, prefix in wanted:
        for name, params in calls:
            text = json.dumps(params.get("Key", {}))
            if name == op and prefix in text:
                picked.append(("get_item", params))
                break
    for name, params in calls:
        if name == "TransactWriteItems" and "STRIPE_EV#" in json.dumps(params):
            picked.append(("transact_write_items", params))
            break
    assert len(picked) == 4, [n for n, _ in calls]
    return picked


def _replay(template: list[tuple[str, dict[str, Any]]], member: str, event_id: str) -> list[tuple[str, dict[str, Any]]]:
    bench_member = "01BENCH" + secrets.token_hex(10).upper()[:19]
    out = []
    for op, params in template:
        text = json.dumps(params)
        text = text.replace(member, bench_member)
        p = json.loads(text)
        if op == "transact_write_items":
            for action in p["TransactItems"]:
                put = action.get("Put")
                if not put:
                    continue
                if put["Item"].get("item_type", {}).get("S") == "stripe_event":
                    put["Item"]["pk"]["S"] = put["Item"]["pk"]["S"].rsplit("#", 1)[0] + "#" + event_id
                if put["Item"].get("item_type", {}).get("S") == "event_claim":  # the membership event's claim
                    put["Item"]["pk"]["S"] += f"#{event_id}"
                if put["Item"].get("item_type", {}).get("S") == "membership":
                    put["ConditionExpression"] = "attribute_not_exists(#bpk)"
                    put["ExpressionAttributeNames"] = {"#bpk": "pk"}
                    put.pop("ExpressionAttributeValues", None)
        elif "STRIPE_EV#" in text:
            p["Key"]["pk"]["S"] = p["Key"]["pk"]["S"].rsplit("#", 1)[0] + "#" + event_id
        out.append((op, copy.deepcopy(p)))
    return out


if __name__ == "__main__":
    import sys

    sys.exit(main())
