"""stripe-mock with memory: for the dev stack and the tests, never in AWS.

stripe-mock (Stripe's official mock) validates every request against Stripe's OpenAPI
spec, but it is stateless: a retrieve answers a fixture, not the subscription a member
bought. This adapter sends EVERY call to stripe-mock through the real Stripe adapter (so
each request's path, parameters, account header and idempotency key are checked), and then
answers reads of subscriptions, accounts and event lists with state Stripe itself gave us:
the objects of verified (signed) events, or states a test recorded as "what Stripe holds".
It never invents a state transition: it only remembers, and applies the one a write of
ours asks for (a cancel or resume), as Stripe would, at the app's clock (Stripe's "now"
in the dev stack and the tests).

A read ``as_of`` a moment answers the newest state recorded at or before it, the stalest
answer a real re-read could give after that moment, so the webhook logic is tested
against the worst ordering, not helped by it. Enabled by ``ENCLAVE_STRIPE_STATELESS_MOCK=1``.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from .base import BillingGateway, StripeObject


class StatelessMockGateway(BillingGateway):
    def __init__(self, inner: BillingGateway) -> None:
        self.inner = inner
        self._lock = threading.Lock()
        #: object id -> [(moment, object)] in recording order
        self._states: dict[str, list[tuple[int, StripeObject]]] = {}
        #: account -> events
        self._events: dict[str, dict[str, StripeObject]] = {}

    # --- memory ----------------------------------------------------------------------
    def record(self, obj: StripeObject, at: int) -> None:
        """Stripe holds ``obj`` (a subscription or account) from moment ``at`` on."""
        with self._lock:
            self._states.setdefault(obj["id"], []).append((at, obj))

    def record_event(self, account: str, event: StripeObject) -> None:
        """Stripe lists ``event`` among ``account``'s events (e.g. one whose webhook was lost)."""
        with self._lock:
            self._events.setdefault(account, {})[event["id"]] = event

    def forget(self) -> None:
        with self._lock:
            self._states.clear()
            self._events.clear()

    def _state(self, object_id: str, as_of: int | None) -> StripeObject | None:
        with self._lock:
            states = [s for s in self._states.get(object_id, []) if as_of is None or s[0] <= as_of]
        if not states:
            return None
        newest = max(at for at, _ in states)
        return [obj for at, obj in states if at == newest][-1]

    def observe(self, event: StripeObject) -> None:
        obj = (event.get("data") or {}).get("object") or {}
        if obj.get("object") in ("subscription", "account") and obj.get("id"):
            self.record(obj, int(event.get("created") or 0))
        if event.get("account"):
            self.record_event(event["account"], event)

    # --- reads answer from memory (after stripe-mock validated the request) ----------
    def retrieve_account(self, account: str, *, as_of: int | None = None) -> StripeObject:
        answer = self.inner.retrieve_account(account)
        return self._state(account, as_of) or answer

    def retrieve_subscription(self, account: str, subscription_id: str, *,
                              as_of: int | None = None) -> StripeObject:
        answer = self.inner.retrieve_subscription(account, subscription_id)
        return self._state(subscription_id, as_of) or answer

    def _write(self, subscription_id: str, change: Any) -> StripeObject | None:
        """Stripe's subscription after our write: the remembered state with ``change``
        applied (recorded from now on), or None if nothing is remembered."""
        from ...core import clock

        with self._lock:
            states = self._states.get(subscription_id, [])
            if not states:
                return None
            newest = max(at for at, _ in states)
            current = [obj for at, obj in states if at == newest][-1]
            now = max(int(clock.now().timestamp()), newest)
            after = change(dict(current), now)
            if after != current:
                states.append((now, after))
            return after

    def set_cancel_at_period_end(self, account: str, subscription_id: str, cancel: bool, *,
                                 idempotency_key: str) -> StripeObject:
        answer = self.inner.set_cancel_at_period_end(account, subscription_id, cancel,
                                                     idempotency_key=idempotency_key)

        def change(sub: StripeObject, now: int) -> StripeObject:
            ended = sub.get("status") in ("canceled", "incomplete_expired")
            if ended or bool(sub.get("cancel_at_period_end")) == cancel:
                return sub
            item = ((sub.get("items") or {}).get("data") or [{}])[0] or {}
            end = sub.get("current_period_end") or item.get("current_period_end")
            return {**sub, "cancel_at_period_end": cancel, "cancel_at": end if cancel else None,
                    "canceled_at": now if cancel else None}

        return self._write(subscription_id, change) or answer

    def cancel_subscription_now(self, account: str, subscription_id: str, *,
                                idempotency_key: str) -> StripeObject:
        answer = self.inner.cancel_subscription_now(account, subscription_id, idempotency_key=idempotency_key)

        def change(sub: StripeObject, now: int) -> StripeObject:
            if sub.get("status") in ("canceled", "incomplete_expired"):
                return sub
            return {**sub, "status": "canceled", "canceled_at": now, "ended_at": now}

        return self._write(subscription_id, change) or answer

    def list_events(self, account: str, *, created_after: int, types: list[str]) -> Iterator[StripeObject]:
        fixtures = list(self.inner.list_events(account, created_after=created_after, types=types))
        with self._lock:
            known = list(self._events.get(account, {}).values())
        ours = [e for e in known if int(e.get("created") or 0) > created_after and e.get("type") in types]
        return iter(sorted(fixtures + ours, key=lambda e: (e.get("created") or 0, e.get("id") or "")))

    # --- everything else is stripe-mock's answer ---------------------------------------
    def create_account(self, **kwargs: Any) -> StripeObject:
        return self.inner.create_account(**kwargs)

    def create_account_link(self, account: str, **kwargs: Any) -> StripeObject:
        return self.inner.create_account_link(account, **kwargs)

    def create_product(self, account: str, **kwargs: Any) -> StripeObject:
        return self.inner.create_product(account, **kwargs)

    def update_product(self, account: str, product_id: str, **kwargs: Any) -> StripeObject:
        return self.inner.update_product(account, product_id, **kwargs)

    def create_price(self, account: str, **kwargs: Any) -> StripeObject:
        return self.inner.create_price(account, **kwargs)

    def archive_price(self, account: str, price_id: str, **kwargs: Any) -> StripeObject:
        return self.inner.archive_price(account, price_id, **kwargs)

    def create_customer(self, account: str, **kwargs: Any) -> StripeObject:
        return self.inner.create_customer(account, **kwargs)

    def create_checkout_session(self, account: str, **kwargs: Any) -> StripeObject:
        return self.inner.create_checkout_session(account, **kwargs)

    def create_portal_session(self, account: str, **kwargs: Any) -> StripeObject:
        return self.inner.create_portal_session(account, **kwargs)

    def verify_event(self, payload: bytes, signature_header: str | None) -> StripeObject:
        return self.inner.verify_event(payload, signature_header)
