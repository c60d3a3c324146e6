"""The billing gateway: a port (``base``) and its Stripe adapter (``stripe``).

``gateway()`` builds the adapter once per process from ``ENCLAVE_STRIPE_*``: locally the
secret key, webhook secret and API base (stripe-mock) come from the environment; in AWS
``ENCLAVE_STRIPE_SECRET_ARN`` names a Secrets Manager secret
(``{"secret_key": "sk_...", "webhook_secret": "whsec_..."}``) read through Powertools
Parameters. Importing this package does not import ``stripe`` (~200 ms): the adapter
imports it on first use.

Modes: ``gateway(livemode)`` gives the adapter of a tenant context's mode. A sandbox
(test keys, ``livemode=False``) gets the test-mode secret key (``ENCLAVE_STRIPE_TEST_SECRET_KEY``
or ``test_secret_key`` in the secret; the main key if it is itself a test key) and an
``sk_live_`` key is refused for it; a live context refuses an ``sk_test_`` key, except
against stripe-mock (``api_base`` set: the dev stack, which has no live Stripe).
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, ClassVar

from ...core.config import EnvSettings
from .base import (
    BillingGateway,
    GatewayError,
    GatewayModeMismatch,
    GatewayRejected,
    GatewayUnavailable,
    SignatureInvalid,
    StripeObject,
)


class StripeSettings(EnvSettings):
    env_prefix: ClassVar[str] = "ENCLAVE_STRIPE_"

    #: stripe-mock's URL in the dev stack and tests; unset in AWS (Stripe's own API)
    api_base: str = ""
    #: the platform's secret key and the Connect webhook endpoint's signing secret (locally)
    secret_key: str = ""
    webhook_secret: str = ""
    #: the platform's test-mode secret key, for sandbox tenants (test keys)
    test_secret_key: str = ""
    #: in AWS: the Secrets Manager secret holding both (JSON; optionally ``test_secret_key``)
    secret_arn: str = ""
    #: dev stack and tests: stripe-mock is stateless, so remember what signed events said
    #: (see ``stateless.py``); never set in AWS
    stateless_mock: bool = False
    webhook_tolerance_seconds: int = 300
    #: per attempt; the adapter retries 5xx and timeouts with the same idempotency key
    #: (3 attempts x 5 s + backoff stays under API Gateway's 29 s)
    timeout_seconds: float = 5.0
    max_network_retries: int = 2


@lru_cache(maxsize=1)
def settings() -> StripeSettings:
    return StripeSettings.from_env()


def _secrets(s: StripeSettings, livemode: bool) -> tuple[str, str]:
    if s.secret_key:
        secret_key, webhook_secret, test_key = s.secret_key, s.webhook_secret, s.test_secret_key
    elif s.secret_arn:
        from aws_lambda_powertools.utilities import parameters

        value: Any = parameters.get_secret(s.secret_arn, transform="json", max_age=300)
        secret_key, webhook_secret = str(value["secret_key"]), str(value["webhook_secret"])
        test_key = str(value.get("test_secret_key") or "")
    else:
        raise RuntimeError("ENCLAVE_STRIPE_SECRET_KEY or ENCLAVE_STRIPE_SECRET_ARN must be set")
    if not livemode:
        secret_key = test_key or secret_key
    return secret_key, webhook_secret


_override: BillingGateway | None = None


@lru_cache(maxsize=4)
def _adapter(secret_key: str, webhook_secret: str, livemode: bool) -> BillingGateway:
    from .stripe import StripeGateway

    s = settings()
    adapter = StripeGateway(secret_key, webhook_secret, api_base=s.api_base or None, timeout=s.timeout_seconds,
                            max_network_retries=s.max_network_retries, tolerance=s.webhook_tolerance_seconds,
                            livemode=livemode)
    if s.stateless_mock:
        if not s.api_base:
            raise RuntimeError("ENCLAVE_STRIPE_STATELESS_MOCK only goes with stripe-mock (ENCLAVE_STRIPE_API_BASE)")
        from .stateless import StatelessMockGateway

        return StatelessMockGateway(adapter)
    return adapter


def _default(livemode: bool = True) -> BillingGateway:
    return _adapter(*_secrets(settings(), livemode), livemode)


def gateway(livemode: bool = True) -> BillingGateway:
    """The adapter for a context of this mode (``TenantContext.livemode``). It refuses every
    call (:class:`GatewayModeMismatch`, nothing sent) if its key is of the other mode."""
    return _override or _default(livemode)


def set_gateway(replacement: BillingGateway | None) -> None:
    """Use another adapter (tests wrap the Stripe adapter); ``None`` restores the default."""
    global _override
    _override = replacement


__all__ = ["BillingGateway", "GatewayError", "GatewayModeMismatch", "GatewayRejected", "GatewayUnavailable",
           "SignatureInvalid", "StripeObject", "StripeSettings", "gateway", "set_gateway", "settings"]
