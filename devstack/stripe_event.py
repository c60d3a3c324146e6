"""``python -m devstack.stripe_event TYPE MEMBER_ID [...]``: deliver signed Stripe-shaped
events to the local webhook, the way ``stripe trigger`` does, so the paid-membership flow
can be walked through against ``make run`` (stripe-mock keeps no state; the app remembers
what signed events said, see chalicelib/billing/gateway/stateless.py).

TYPE and what is sent (each event signed with the local webhook secret):

* ``checkout.session.completed`` (``--plan`` needed): a purchase: subscription created
  (active), first invoice paid, checkout completed;
* ``invoice.paid``: a renewal: the next period, paid;
* ``invoice.payment_failed``: a failed renewal: the next period, past_due;
* ``customer.subscription.updated`` with ``--cancel-at-period-end`` or ``--resume``;
* ``customer.subscription.deleted``: the end;
* ``account.updated``: the brand's onboarding finished (charges and payouts enabled);
* any other type: one bare event (the webhook answers 200 and ignores it).

Reads the base URL and the demo tenant's key from ``.local/dev.json``; the secret from
``ENCLAVE_STRIPE_WEBHOOK_SECRET`` or ``.local/stripe-webhook-secret``.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from . import stripe_events as se

ROOT = Path(__file__).resolve().parent.parent
PERIOD = {"month": 30 * 86400, "year": 365 * 86400}


def _api(base: str, key: str, path: str) -> Any:
    req = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - the local stack's URL
        return json.loads(resp.read())


def _post(base: str, secret: str, evt: dict[str, Any]) -> str:
    body = se.encode(evt)
    req = urllib.request.Request(base + "/webhooks/stripe", data=body, method="POST", headers={
        "Content-Type": "application/json", "Stripe-Signature": se.sign(body, secret)})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
            return f"{resp.status} {resp.read().decode()}"
    except urllib.error.HTTPError as exc:
        return f"{exc.code} {exc.read().decode()}"


def _secret(local_dir: Path) -> str:
    value = os.environ.get("ENCLAVE_STRIPE_WEBHOOK_SECRET")
    path = local_dir / "stripe-webhook-secret"
    if not value and path.exists():
        value = path.read_text().strip()
    if not value:
        raise SystemExit("No webhook secret: set ENCLAVE_STRIPE_WEBHOOK_SECRET or start `make run` first")
    return value


def events_for(kind: str, member: str, tenant: str, account: str, plan: dict[str, Any] | None,
               current: dict[str, Any] | None, args: argparse.Namespace, now: int) -> list[dict[str, Any]]:
    def sub(status: str, start: int, end: int, sub_id: str, **kw: Any) -> dict[str, Any]:
        assert plan is not None
        return se.subscription(sub_id, tenant_id=tenant, member_id=member, plan_id=plan["id"], status=status,
                               period_start=start, period_end=end, created=now, price_id=plan["stripe"]["price_id"],
                               amount=plan["amount"], currency=plan["currency"].lower(), interval=plan["interval"],
                               **kw)

    def ev(event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
        return se.event(event_type, obj, account_id=account, created=now)

    if kind == "account.updated":
        return [ev(kind, se.account(account, charges_enabled=True, details_submitted=True, payouts_enabled=True))]
    if kind == "checkout.session.completed":
        if plan is None:
            raise SystemExit("checkout.session.completed needs --plan PLAN_ID")
        s = sub("active", now, now + PERIOD[plan["interval"]], f"sub_dev{secrets.token_hex(8)}")
        return [ev("customer.subscription.created", s),
                ev("invoice.paid", se.invoice(s, paid=True, created=now, billing_reason="subscription_create")),
                ev(kind, se.checkout_session(s, created=now))]
    if current is None:
        if kind.startswith(("customer.subscription.", "invoice.")):
            raise SystemExit("The member has no membership yet: send checkout.session.completed --plan ... first")
        return [ev(kind, {"id": f"obj_{secrets.token_hex(6)}", "object": kind.split(".")[0]})]

    def iso_epoch(value: str) -> int:
        from datetime import datetime

        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())

    start, end = iso_epoch(current["current_period_start"]), iso_epoch(current["current_period_end"])
    length = PERIOD[current["interval"] or "month"]
    sid = current["id"]
    if kind == "invoice.paid":  # the retry of a failed renewal pays that period; else the next one
        s = sub("active", start, end, sid) if current["status"] == "past_due" else sub("active", end, end + length, sid)
        return [ev("customer.subscription.updated", s), ev(kind, se.invoice(s, paid=True, created=now))]
    if kind == "invoice.payment_failed":
        renewing = current["status"] == "active"
        s = sub("past_due", end, end + length, sid) if renewing else sub("past_due", start, end, sid)
        return [ev("customer.subscription.updated", s), ev(kind, se.invoice(s, paid=False, created=now))]
    if kind == "customer.subscription.deleted":
        return [ev(kind, sub("canceled", start, end, sid, canceled_at=now, ended_at=now))]
    if kind in ("customer.subscription.updated", "customer.subscription.trial_will_end"):
        cancel = bool(args.cancel_at_period_end) or (current["cancel_at_period_end"] and not args.resume)
        return [ev(kind, sub(args.status or current["status"], start, end, sid, cancel_at_period_end=cancel,
                             canceled_at=now if cancel else None))]
    return [ev(kind, {"id": f"obj_{secrets.token_hex(6)}", "object": kind.split(".")[0]})]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.stripe_event")
    parser.add_argument("type", help="a Stripe event type, e.g. invoice.payment_failed")
    parser.add_argument("member_id")
    parser.add_argument("--plan", help="plan id (for checkout.session.completed)")
    parser.add_argument("--membership", help="membership (subscription) id; default: the member's newest")
    parser.add_argument("--cancel-at-period-end", action="store_true")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--status", help="with customer.subscription.updated: set this Stripe status")
    parser.add_argument("--local-dir", type=Path, default=Path(os.environ.get("ENCLAVE_LOCAL_DIR", ROOT / ".local")))
    args = parser.parse_args(argv)
    dev = json.loads((args.local_dir / "dev.json").read_text())
    base, key, tenant = dev["base_url"], dev["demo_api_key"], dev["demo_tenant_id"]
    stripe = _api(base, key, "/v1/billing/stripe")
    if not stripe["connected"]:
        raise SystemExit("Connect Stripe first: POST /v1/billing/stripe/connect (stripe-mock answers it)")
    plan = _api(base, key, f"/v1/plans/{args.plan}") if args.plan else None
    current = None
    if args.type != "checkout.session.completed" and args.type != "account.updated":
        memberships = _api(base, key, f"/v1/members/{args.member_id}/memberships")["data"]
        current = next((m for m in memberships if m["id"] == args.membership), None) if args.membership else (
            memberships[0] if memberships else None)
        if current is not None and plan is None:
            plan = _api(base, key, f"/v1/plans/{current['plan_id']}")
    # Stripe's `created` has 1 s resolution: start a new second, so this command's events are
    # newer than the previous command's (Enclave orders observations by it)
    started = int(time.time())
    while int(time.time()) <= started:
        time.sleep(0.05)
    for evt in events_for(args.type, args.member_id, tenant, stripe["account_id"], plan, current, args,
                          int(time.time())):
        print(f"{evt['type']:<34} {evt['id']}  -> {_post(base, _secret(args.local_dir), evt)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
