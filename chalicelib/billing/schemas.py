"""Billing on the wire: the Stripe connection, plans, sessions, memberships, benefits,
membership analytics, and the webhook's answer."""
from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from ..core.schema import Input, Limit, Output, Page
from ..tiers.schemas import Benefit, TierId

Url = Annotated[str, Field(min_length=10, max_length=2000, pattern=r"^https?://[^\s]+$",
                           description="http(s) URL; Stripe substitutes {CHECKOUT_SESSION_ID} in success_url")]
Currency = Annotated[str, Field(pattern=r"^[A-Za-z]{3}$", description="ISO 4217, e.g. CNY")]
Interval = Literal["month", "year"]
ULID = r"^[0-9A-HJKMNP-TV-Z]{26}$"
_COUNTRY = re.compile(r"^[A-Z]{2}$")


# --- Stripe connection -------------------------------------------------------------------
class ConnectIn(Input):
    return_url: Url
    #: where Stripe sends the user when the link expired or was used (a fresh one is made)
    refresh_url: Url
    #: ISO 3166 alpha-2 of the brand's business (asked during onboarding when omitted)
    country: str | None = Field(default=None, min_length=2, max_length=2)
    email: str | None = Field(default=None, min_length=3, max_length=254)

    @field_validator("country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        if value is not None and not _COUNTRY.match(value.upper()):
            raise ValueError("must be an ISO 3166 alpha-2 country code such as 'CN'")
        return value.upper() if value else value


class StripeStatusOut(Output):
    connected: bool
    account_id: str | None = None
    charges_enabled: bool = False
    details_submitted: bool = False
    payouts_enabled: bool = False
    connected_at: str | None = None
    updated_at: str | None = None


class ConnectOut(Output):
    #: Stripe's onboarding page for the brand (single use, expires in minutes)
    onboarding_url: str
    #: ISO 8601 UTC, like every time of the API
    expires_at: str | None = None
    stripe: StripeStatusOut


# --- plans ----------------------------------------------------------------------------------
class PlanCreate(Input):
    name: str = Field(min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=500)
    #: price per interval in minor units (e.g. 99900 = 999.00 CNY)
    amount: int = Field(strict=True, ge=1, le=99_999_999)
    currency: Currency
    interval: Interval
    trial_days: int = Field(default=0, ge=0, le=730)
    benefits: list[Benefit] = Field(default_factory=list, max_length=20)
    #: a tier of the tier program the member holds while the membership is active
    tier_id: TierId | None = None


class PlanPatch(Input):
    """Partial update; ``version`` must be current. A new amount, currency or interval
    makes a new Stripe Price (existing members keep the price they bought)."""

    version: int = Field(ge=1)
    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=500)
    amount: int | None = Field(default=None, strict=True, ge=1, le=99_999_999)
    currency: Currency | None = None
    interval: Interval | None = None
    trial_days: int | None = Field(default=None, ge=0, le=730)
    benefits: list[Benefit] | None = Field(default=None, max_length=20)
    tier_id: TierId | None = None
    #: false archives the plan: no new purchases; existing memberships go on
    active: bool | None = None

    @model_validator(mode="after")
    def _not_null(self) -> PlanPatch:
        for name in ("name", "amount", "currency", "interval", "trial_days", "benefits", "active"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class PlanStripeOut(Output):
    product_id: str
    price_id: str


class PlanOut(Output):
    id: str
    name: str
    description: str | None = None
    amount: int
    currency: str
    interval: str
    trial_days: int
    benefits: list[dict[str, Any]]
    tier_id: str | None = None
    active: bool
    stripe: PlanStripeOut
    created_at: str
    updated_at: str
    version: int


class PlanPage(Page):
    data: list[PlanOut]


class PlanListQuery(Input):
    limit: Limit = 50
    cursor: str | None = Field(default=None, max_length=1024)
    active: bool | None = None


# --- purchase and self-service --------------------------------------------------------------
class CheckoutIn(Input):
    plan_id: str = Field(pattern=ULID)
    success_url: Url
    cancel_url: Url


class CheckoutOut(Output):
    id: str
    #: send the member here to pay (Stripe Checkout, subscription mode)
    url: str
    plan_id: str
    customer_id: str
    #: ISO 8601 UTC
    expires_at: str | None = None


class PortalIn(Input):
    return_url: Url


class PortalOut(Output):
    id: str
    #: Stripe's Billing Portal for the member (cards, invoices, cancellation)
    url: str


class CancelIn(Input):
    #: true: the membership runs to the end of the paid period; false: it ends now
    at_period_end: bool = True


# --- memberships ------------------------------------------------------------------------------
class MembershipOut(Output):
    id: str
    member_id: str
    plan_id: str
    #: Stripe's status, or "canceled" once a scheduled end has passed
    status: str
    #: the member has the plan's benefits (and tier) now
    entitled: bool
    cancel_at_period_end: bool
    current_period_start: str | None = None
    current_period_end: str | None = None
    #: when a scheduled cancellation ends it (or when it ended)
    ends_at: str | None = None
    trial_end: str | None = None
    amount: int | None = None
    currency: str | None = None
    interval: str | None = None
    activated_at: str | None = None
    created_at: str
    updated_at: str


class MembershipList(Output):
    data: list[MembershipOut]


class BenefitSource(Output):
    kind: Literal["tier", "plan"]
    id: str


class EffectiveBenefit(Output):
    benefit: dict[str, Any]
    source: BenefitSource


class BenefitsOut(Output):
    member_id: str
    #: the member's effective tier (earned, hand-assigned, or granted by a plan)
    tier_id: str | None = None
    tier_source: str
    #: plans whose memberships entitle the member now
    plan_ids: list[str]
    benefits: list[EffectiveBenefit]


# --- analytics ----------------------------------------------------------------------------------
class PlanCounts(Output):
    plan_id: str
    name: str
    active: int
    trialing: int
    past_due: int


class MoneyOut(Output):
    currency: str
    #: minor units per month (yearly plans divided by 12)
    amount: int


class MembershipAnalytics(Output):
    #: the tenant's month (its time zone), e.g. "2026-11"
    month: str
    #: active paid members (status active), all plans
    active_paid_members: int
    per_plan: list[PlanCounts]
    #: monthly recurring revenue of active and past_due memberships, per currency
    mrr: list[MoneyOut]
    new_this_month: int
    churned_this_month: int
    past_due: int


# --- webhook ---------------------------------------------------------------------------------
class WebhookOut(Output):
    received: bool = True
    #: applied | unchanged | stale | duplicate | ignored
    outcome: str
    reason: str | None = None
