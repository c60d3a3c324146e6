"""The Stripe adapter: the only module that imports ``stripe`` (lazily: ~200 ms).

One ``StripeClient`` per process, pointed at stripe-mock when an API base is given. Every
tenant call passes ``stripe_account`` (Connect: the request acts on the tenant's own
account); every write passes the caller's idempotency key. The client retries connection
errors, timeouts, 409 and 5xx answers itself (``max_network_retries``), re-sending the same
``Idempotency-Key``, so Stripe applies a retried write once.
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

from .base import (
    BillingGateway,
    GatewayModeMismatch,
    GatewayRejected,
    GatewayUnavailable,
    SignatureInvalid,
    StripeObject,
)

if TYPE_CHECKING:
    import stripe as stripe_sdk

#: events read per account and reconciliation run (the checkpoint carries on from there)
MAX_EVENTS = 1000
_TEST_KEY_PREFIXES = ("sk_test_", "rk_test_")
_LIVE_KEY_PREFIXES = ("sk_live_", "rk_live_")


def mode_error(secret_key: str, livemode: bool, *, mock: bool) -> str | None:
    """Why ``secret_key`` may not serve a context of this mode, or None. A sandbox needs a
    test-mode key; a live context a live key, except against stripe-mock (``mock``: the
    dev stack, where no live Stripe exists)."""
    if not livemode and not secret_key.startswith(_TEST_KEY_PREFIXES):
        return "a test-mode (sandbox) context needs a test-mode Stripe key (sk_test_...); none is configured"
    if livemode and not mock and not secret_key.startswith(_LIVE_KEY_PREFIXES):
        return "a live context needs a live Stripe key (sk_live_...)"
    return None


class StripeGateway(BillingGateway):
    def __init__(self, secret_key: str, webhook_secret: str, *, api_base: str | None = None,
                 timeout: float = 5.0, max_network_retries: int = 2, tolerance: int = 300,
                 livemode: bool = True) -> None:
        #: the mode of the contexts this adapter serves; a key of the other mode refuses every call
        self.livemode = livemode
        self._mode_error = mode_error(secret_key, livemode, mock=api_base is not None)
        self._secret_key = secret_key
        self._webhook_secret = webhook_secret
        self._api_base = api_base
        self._timeout = timeout
        self._retries = max_network_retries
        self._tolerance = tolerance
        self._client_instance: stripe_sdk.StripeClient | None = None
        #: logical calls made, by method (for figures and logs; attempts are the SDK's)
        self.calls: Counter[str] = Counter()

    # --- plumbing -------------------------------------------------------------------
    @property
    def _client(self) -> stripe_sdk.StripeClient:
        if self._client_instance is None:
            import stripe

            base = {"api": self._api_base, "connect": self._api_base} if self._api_base else None
            self._client_instance = stripe.StripeClient(
                self._secret_key, base_addresses=base,  # type: ignore[arg-type]
                http_client=stripe.RequestsClient(timeout=self._timeout),
                max_network_retries=self._retries,
            )
        return self._client_instance

    def _call(self, name: str, fn: Any, *args: Any, **kwargs: Any) -> StripeObject:
        import stripe

        if self._mode_error:
            raise GatewayModeMismatch(self._mode_error)
        self.calls[name] += 1
        try:
            result = fn(*args, **kwargs)
        except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
            raise GatewayUnavailable(f"Stripe unreachable: {exc.user_message or exc}") from exc
        except stripe.StripeError as exc:
            status = exc.http_status
            if status is None or status >= 500:
                raise GatewayUnavailable(f"Stripe failed: {exc.user_message or exc}") from exc
            raise GatewayRejected(str(exc.user_message or exc), status=status, code=exc.code) from exc
        return result.to_dict() if hasattr(result, "to_dict") else result

    @staticmethod
    def _opts(account: str | None = None, idempotency_key: str | None = None) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if account:
            options["stripe_account"] = account
        if idempotency_key:
            options["idempotency_key"] = idempotency_key
        return options

    # --- Connect --------------------------------------------------------------------
    def create_account(self, *, metadata: dict[str, str], country: str | None, email: str | None,
                       idempotency_key: str) -> StripeObject:
        params: dict[str, Any] = {"type": "standard", "metadata": metadata}
        if country:
            params["country"] = country
        if email:
            params["email"] = email
        return self._call("create_account", self._client.v1.accounts.create, params=params,
                          options=self._opts(idempotency_key=idempotency_key))

    def retrieve_account(self, account: str, *, as_of: int | None = None) -> StripeObject:
        return self._call("retrieve_account", self._client.v1.accounts.retrieve, account)

    def create_account_link(self, account: str, *, refresh_url: str, return_url: str,
                            idempotency_key: str) -> StripeObject:
        params = {"account": account, "refresh_url": refresh_url, "return_url": return_url,
                  "type": "account_onboarding"}
        return self._call("create_account_link", self._client.v1.account_links.create, params=params,
                          options=self._opts(idempotency_key=idempotency_key))

    # --- catalogue ------------------------------------------------------------------
    def create_product(self, account: str, *, name: str, description: str | None, metadata: dict[str, str],
                       idempotency_key: str) -> StripeObject:
        params: dict[str, Any] = {"name": name, "metadata": metadata}
        if description:
            params["description"] = description
        return self._call("create_product", self._client.v1.products.create, params=params,
                          options=self._opts(account, idempotency_key))

    def update_product(self, account: str, product_id: str, *, fields: dict[str, Any],
                       idempotency_key: str) -> StripeObject:
        return self._call("update_product", self._client.v1.products.update, product_id, params=fields,
                          options=self._opts(account, idempotency_key))

    def create_price(self, account: str, *, product_id: str, unit_amount: int, currency: str, interval: str,
                     metadata: dict[str, str], idempotency_key: str) -> StripeObject:
        params = {"product": product_id, "unit_amount": unit_amount, "currency": currency.lower(),
                  "recurring": {"interval": interval}, "metadata": metadata}
        return self._call("create_price", self._client.v1.prices.create, params=params,
                          options=self._opts(account, idempotency_key))

    def archive_price(self, account: str, price_id: str, *, idempotency_key: str) -> StripeObject:
        return self._call("archive_price", self._client.v1.prices.update, price_id, params={"active": False},
                          options=self._opts(account, idempotency_key))

    # --- customers and sessions -----------------------------------------------------
    def create_customer(self, account: str, *, name: str | None, email: str | None, metadata: dict[str, str],
                        idempotency_key: str) -> StripeObject:
        params: dict[str, Any] = {"metadata": metadata}
        if name:
            params["name"] = name
        if email:
            params["email"] = email
        return self._call("create_customer", self._client.v1.customers.create, params=params,
                          options=self._opts(account, idempotency_key))

    def create_checkout_session(self, account: str, *, customer: str, price_id: str, success_url: str,
                                cancel_url: str, trial_days: int, client_reference_id: str,
                                metadata: dict[str, str], idempotency_key: str) -> StripeObject:
        subscription_data: dict[str, Any] = {"metadata": metadata}
        if trial_days:
            subscription_data["trial_period_days"] = trial_days
        params = {
            "mode": "subscription", "customer": customer,
            "line_items": [{"price": price_id, "quantity": 1}],
            "success_url": success_url, "cancel_url": cancel_url,
            "client_reference_id": client_reference_id, "metadata": metadata,
            "subscription_data": subscription_data,
        }
        return self._call("create_checkout_session", self._client.v1.checkout.sessions.create, params=params,
                          options=self._opts(account, idempotency_key))

    def create_portal_session(self, account: str, *, customer: str, return_url: str,
                              idempotency_key: str) -> StripeObject:
        return self._call("create_portal_session", self._client.v1.billing_portal.sessions.create,
                          params={"customer": customer, "return_url": return_url},
                          options=self._opts(account, idempotency_key))

    # --- subscriptions ---------------------------------------------------------------
    def retrieve_subscription(self, account: str, subscription_id: str, *,
                              as_of: int | None = None) -> StripeObject:
        # every webhook's re-read: the JSON as Stripe sent it, not ~50 StripeObjects built
        # only to be turned back into dicts (that cost ~0.5 ms of CPU per webhook)
        return self._call("retrieve_subscription", self._get_json,
                          f"/v1/subscriptions/{quote(subscription_id, safe='')}", account)

    def _get_json(self, path: str, account: str) -> StripeObject:
        response = self._client.raw_request("get", path, stripe_account=account)
        return cast(StripeObject, json.loads(response.body))

    def set_cancel_at_period_end(self, account: str, subscription_id: str, cancel: bool, *,
                                 idempotency_key: str) -> StripeObject:
        return self._call("update_subscription", self._client.v1.subscriptions.update, subscription_id,
                          params={"cancel_at_period_end": cancel}, options=self._opts(account, idempotency_key))

    def cancel_subscription_now(self, account: str, subscription_id: str, *,
                                idempotency_key: str) -> StripeObject:
        return self._call("cancel_subscription", self._client.v1.subscriptions.cancel, subscription_id,
                          options=self._opts(account, idempotency_key))

    def list_events(self, account: str, *, created_after: int, types: list[str]) -> Iterator[StripeObject]:
        page = self._call("list_events", self._client.v1.events.list,
                          params={"created": {"gt": created_after}, "types": types, "limit": 100},
                          options=self._opts(account))
        events = list(page.get("data") or [])
        while page.get("has_more") and events and len(events) < MAX_EVENTS:
            page = self._call("list_events", self._client.v1.events.list,
                              params={"created": {"gt": created_after}, "types": types, "limit": 100,
                                      "starting_after": events[-1]["id"]},
                              options=self._opts(account))
            events += page.get("data") or []
        return iter(sorted(events, key=lambda e: (e.get("created") or 0, e.get("id") or "")))

    # --- webhooks --------------------------------------------------------------------
    def verify_event(self, payload: bytes, signature_header: str | None) -> StripeObject:
        import stripe

        if not self._webhook_secret:
            raise RuntimeError("no webhook signing secret configured")
        try:
            stripe.WebhookSignature.verify_header(payload, signature_header, self._webhook_secret, self._tolerance)
            event = json.loads(payload)
        except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError) as exc:
            raise SignatureInvalid(str(exc)) from exc
        if not isinstance(event, dict) or event.get("object") != "event" or not isinstance(event.get("id"), str):
            raise SignatureInvalid("the payload is not a Stripe event")
        return event
