"""The billing provider port: what Enclave asks of Stripe, in Enclave's words.

Every method that acts for a tenant takes the tenant's connected ``account``; every write
takes an ``idempotency_key`` derived from Enclave's own ids, which the adapter sends on
each attempt (its retries after a 5xx or a timeout reuse it, so Stripe applies the write
once). Objects come back as plain dicts in Stripe's JSON shape.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any

StripeObject = dict[str, Any]


class GatewayError(Exception):
    """Base of the errors an adapter raises (the service maps them to problems)."""


class GatewayUnavailable(GatewayError):
    """Stripe could not be reached or kept failing after the retries (5xx, timeouts)."""


class GatewayRejected(GatewayError):
    """Stripe refused the request (4xx): a bad parameter, a missing object, ..."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class GatewayModeMismatch(GatewayRejected):
    """The adapter's secret key is of the other mode than the tenant context (a live key
    for a sandbox, or a test key for a live tenant): refused before anything is sent."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="livemode_mismatch")


class SignatureInvalid(GatewayError):
    """A webhook's signature is missing, wrong, or its timestamp is outside the tolerance."""


class BillingGateway(ABC):
    # --- Connect ---------------------------------------------------------------------
    @abstractmethod
    def create_account(self, *, metadata: dict[str, str], country: str | None, email: str | None,
                       idempotency_key: str) -> StripeObject: ...

    @abstractmethod
    def retrieve_account(self, account: str, *, as_of: int | None = None) -> StripeObject:
        """The account as Stripe has it now. ``as_of`` (epoch s): the caller needs a state
        at least as new as that moment (Stripe's current state always is; see
        ``stateless.py`` for the adapter that needs the hint)."""

    @abstractmethod
    def create_account_link(self, account: str, *, refresh_url: str, return_url: str,
                            idempotency_key: str) -> StripeObject: ...

    # --- catalogue ------------------------------------------------------------------
    @abstractmethod
    def create_product(self, account: str, *, name: str, description: str | None, metadata: dict[str, str],
                       idempotency_key: str) -> StripeObject: ...

    @abstractmethod
    def update_product(self, account: str, product_id: str, *, fields: dict[str, Any],
                       idempotency_key: str) -> StripeObject: ...

    @abstractmethod
    def create_price(self, account: str, *, product_id: str, unit_amount: int, currency: str, interval: str,
                     metadata: dict[str, str], idempotency_key: str) -> StripeObject: ...

    @abstractmethod
    def archive_price(self, account: str, price_id: str, *, idempotency_key: str) -> StripeObject: ...

    # --- customers and sessions -----------------------------------------------------
    @abstractmethod
    def create_customer(self, account: str, *, name: str | None, email: str | None, metadata: dict[str, str],
                        idempotency_key: str) -> StripeObject: ...

    @abstractmethod
    def create_checkout_session(self, account: str, *, customer: str, price_id: str, success_url: str,
                                cancel_url: str, trial_days: int, client_reference_id: str,
                                metadata: dict[str, str], idempotency_key: str) -> StripeObject: ...

    @abstractmethod
    def create_portal_session(self, account: str, *, customer: str, return_url: str,
                              idempotency_key: str) -> StripeObject: ...

    # --- subscriptions ---------------------------------------------------------------
    @abstractmethod
    def retrieve_subscription(self, account: str, subscription_id: str, *,
                              as_of: int | None = None) -> StripeObject:
        """The subscription as Stripe has it now (``as_of`` as for :meth:`retrieve_account`)."""

    @abstractmethod
    def set_cancel_at_period_end(self, account: str, subscription_id: str, cancel: bool, *,
                                 idempotency_key: str) -> StripeObject: ...

    @abstractmethod
    def cancel_subscription_now(self, account: str, subscription_id: str, *,
                                idempotency_key: str) -> StripeObject: ...

    @abstractmethod
    def list_events(self, account: str, *, created_after: int, types: list[str]) -> Iterator[StripeObject]:
        """Events of ``account`` created after ``created_after`` (epoch s), oldest first."""

    # --- webhooks --------------------------------------------------------------------
    def observe(self, event: StripeObject) -> None:  # noqa: B027 (an optional hook: a no-op unless overridden)
        """A verified event was received (an adapter without state of its own may keep it)."""

    @abstractmethod
    def verify_event(self, payload: bytes, signature_header: str | None) -> StripeObject:
        """The event in ``payload`` if ``signature_header`` signs it with our endpoint
        secret within the tolerance, else :class:`SignatureInvalid`."""
