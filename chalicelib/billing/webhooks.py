"""``POST /webhooks/stripe``: Stripe's signature is the credential.

1. Verify the signature on the raw body (tolerance: 5 minutes); anything else is a 400
   and nothing is written.
2. Unknown event types, platform events, accounts no tenant connected, and objects Enclave
   did not create are answered 200 and ignored (nothing written, not even a claim).
3. Find the tenant from the event's connected ``account``; a claimed event id is a
   duplicate (its leftover effects, if any, are finished).
4. Re-read the subscription (or account) from Stripe: the event's payload may be stale by
   the time it arrives. The read is labelled with the event's ``created`` (a lower bound
   of its moment) and applied only if newer than what is stored (see ``state``), in one
   transaction with the event's claim.

A failed re-read is a 503 with nothing claimed, so Stripe redelivers later.
"""
from __future__ import annotations

from typing import Any

from ..core import observability as obs
from ..core.errors import BadRequest, PayloadTooLarge, Problem
from ..core.table import generations
from . import apply, store
from .gateway import GatewayError, SignatureInvalid, gateway
from .schemas import WebhookOut

MAX_BYTES = 512 * 1024
SUBSCRIPTION_EVENTS = frozenset({
    "customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted",
    "customer.subscription.trial_will_end", "customer.subscription.paused", "customer.subscription.resumed",
    "customer.subscription.pending_update_applied", "customer.subscription.pending_update_expired",
})
INVOICE_EVENTS = frozenset({
    "invoice.paid", "invoice.payment_failed", "invoice.payment_succeeded", "invoice.payment_action_required",
    "invoice.marked_uncollectible",
})
CHECKOUT_EVENTS = frozenset({"checkout.session.completed", "checkout.session.async_payment_succeeded"})
ACCOUNT_EVENTS = frozenset({"account.updated"})
HANDLED = SUBSCRIPTION_EVENTS | INVOICE_EVENTS | CHECKOUT_EVENTS | ACCOUNT_EVENTS


def subscription_id(event_type: str, obj: dict[str, Any]) -> str | None:
    """The subscription an event is about (None when it is about none)."""
    def _id(value: Any) -> str | None:
        value = value.get("id") if isinstance(value, dict) else value
        return value if isinstance(value, str) and value.startswith("sub_") else None

    if event_type in SUBSCRIPTION_EVENTS:
        return _id(obj.get("id"))
    if event_type in INVOICE_EVENTS:
        parent = (obj.get("parent") or {}).get("subscription_details") or {}
        return _id(parent.get("subscription")) or _id(obj.get("subscription"))
    if event_type in CHECKOUT_EVENTS:
        return _id(obj.get("subscription")) if obj.get("mode") == "subscription" else None
    return None


def _ignored(reason: str) -> WebhookOut:
    return WebhookOut(outcome="ignored", reason=reason)


def handle(raw_body: bytes, signature: str | None) -> WebhookOut:
    if len(raw_body) > MAX_BYTES:
        raise PayloadTooLarge(f"The body is larger than {MAX_BYTES} bytes.")
    gw = gateway()
    try:
        event = gw.verify_event(raw_body, signature)
    except SignatureInvalid as exc:
        obs.logger.warning("stripe webhook rejected", extra={"reason": str(exc)[:200]})
        raise BadRequest("The Stripe-Signature does not sign this body, or it is too old.",
                         field="Stripe-Signature", code="invalid_signature") from exc
    gw.observe(event)
    event_id, event_type, account = event["id"], str(event.get("type") or ""), event.get("account")
    created = int(event.get("created") or 0)
    obs.logger.append_keys(stripe_event_id=event_id)
    if event_type not in HANDLED:
        return _ignored("event_type")
    if not isinstance(account, str) or not account:
        return _ignored("not_a_connected_account")
    tenant_id = store.tenant_for_account(account)
    if tenant_id is None:
        return _ignored("unknown_account")
    obs.logger.append_keys(tenant_id=tenant_id)
    claim = store.get_claim(tenant_id, event_id)
    if claim is not None:
        _finish_leftovers(tenant_id, claim)
        return WebhookOut(outcome="duplicate")
    obj = (event.get("data") or {}).get("object") or {}
    try:
        if event_type in ACCOUNT_EVENTS:
            current = gw.retrieve_account(account, as_of=created)
            return WebhookOut(outcome=apply.apply_account(tenant_id, account, current, created,
                                                           apply.Claim(event_id, event_type)))
        sub_id = subscription_id(event_type, obj)
        if sub_id is None:
            return _ignored("no_subscription")
        # the domain event's receivers look at the tenant's configuration: its generations are
        # read while Stripe answers, not after
        with generations.read_ahead(tenant_id):
            current = gw.retrieve_subscription(account, sub_id, as_of=created)
    except GatewayError as exc:
        raise Problem("Stripe could not be read; deliver again later.", status=503,
                      code="stripe_unavailable", title="Service unavailable") from exc
    result = apply.apply_subscription(tenant_id, current, created, apply.Claim(event_id, event_type))
    obs.count(f"StripeWebhook{result.outcome.capitalize()}", tenant_id)
    return WebhookOut(outcome=result.outcome, reason=result.reason)


def _finish_leftovers(tenant_id: str, claim: store.StripeEventClaim) -> None:
    """A redelivery after a crash between the commit and its effects finishes them."""
    if claim.member_id and claim.membership_id:
        item = store.get_membership(tenant_id, claim.member_id, claim.membership_id)
        if item is not None and item.pending_events:
            apply.run_effects(item)
