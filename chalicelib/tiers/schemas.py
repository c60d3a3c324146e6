"""Tier programs, stage rules, standing and analytics on the wire."""
from __future__ import annotations

from datetime import datetime
from itertools import pairwise
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from ..core.schema import Input, Output

TierId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]


class DiscountPercent(Input):
    type: Literal["discount_percent"]
    percent: int = Field(ge=1, le=100)


class FreeShipping(Input):
    type: Literal["free_shipping"]


class MonthlyCoupon(Input):
    type: Literal["monthly_coupon"]
    #: value in minor units of the tenant's currency
    amount: int = Field(strict=True, ge=1)
    description: str | None = Field(default=None, max_length=200)


class PointsMultiplier(Input):
    type: Literal["points_multiplier"]
    multiplier: float = Field(gt=1, le=10)


class EarlyAccess(Input):
    type: Literal["early_access"]
    hours: int = Field(default=24, ge=1, le=720)


class CustomBenefit(Input):
    type: Literal["custom"]
    text: str = Field(min_length=1, max_length=500)


Benefit = Annotated[
    DiscountPercent | FreeShipping | MonthlyCoupon | PointsMultiplier | EarlyAccess | CustomBenefit,
    Field(discriminator="type"),
]


class TierIn(Input):
    id: TierId
    name: str = Field(min_length=1, max_length=100)
    #: the qualifying metric's value (minor units) at which a member reaches this tier
    threshold: int = Field(strict=True, ge=0)
    benefits: list[Benefit] = Field(default_factory=list, max_length=20)


class Downgrade(Input):
    policy: Literal["never", "anniversary", "rolling"] = "anniversary"
    #: with "rolling": days below the threshold before the tier drops
    grace_days: int = Field(default=30, ge=0, le=365)


class TierProgramIn(Input):
    metric: Literal["rolling_spend", "lifetime_spend"] = "rolling_spend"
    window_months: int = Field(default=12, ge=1, le=36)
    tiers: list[TierIn] = Field(max_length=20)
    downgrade: Downgrade = Field(default_factory=Downgrade)
    refund_drops_tier: bool = False
    #: if given, a stale version is a 409
    version: int | None = Field(default=None, ge=0)

    @field_validator("tiers")
    @classmethod
    def _ordered(cls, tiers: list[TierIn]) -> list[TierIn]:
        ids = [t.id for t in tiers]
        if len(set(ids)) != len(ids):
            raise ValueError("tier ids must be unique")
        if "none" in ids:
            raise ValueError("'none' is reserved for members below every tier")
        thresholds = [t.threshold for t in tiers]
        if any(b <= a for a, b in pairwise(thresholds)):
            raise ValueError("tiers must be listed with strictly increasing thresholds")
        return tiers


class TierOut(Output):
    id: str
    name: str
    threshold: int
    benefits: list[dict[str, Any]]


class TierProgramOut(Output):
    metric: str
    window_months: int
    tiers: list[TierOut]
    downgrade: dict[str, Any]
    refund_drops_tier: bool
    version: int
    updated_at: str | None = None


class JobRef(Output):
    id: str
    status: str


class TierProgramSaved(Output):
    program: TierProgramOut
    #: re-evaluates existing members in the background; follow it at /v1/jobs/{id}
    job: JobRef


class StageRulesIn(Input):
    interested_after_interactions: int = Field(default=1, ge=1, le=1000)
    repeat_after_orders: int = Field(default=2, ge=2, le=1000)
    loyal_after_orders: int = Field(default=5, ge=2, le=10000)
    dormant_after_days: int = Field(default=90, ge=1, le=3650)
    churned_after_days: int = Field(default=365, ge=2, le=3650)

    @model_validator(mode="after")
    def _ordered(self) -> StageRulesIn:
        if self.loyal_after_orders < self.repeat_after_orders:
            raise ValueError("loyal_after_orders must be at least repeat_after_orders")
        if self.churned_after_days <= self.dormant_after_days:
            raise ValueError("churned_after_days must be more than dormant_after_days")
        return self


class StageRulesOut(StageRulesIn):
    pass


class HistoryOut(Output):
    old: str | None
    new: str | None
    reason: str
    at: str


class ProgressOut(Output):
    metric: str
    value: int
    next_tier: str | None
    amount_to_next_tier: int | None
    #: e.g. "Spend 120.00 CNY more to reach Gold"
    message: str | None


class MemberTierOut(Output):
    tier: TierOut | None
    source: Literal["earned", "manual", "plan", "none"]
    #: when the member got this tier: earned, set by hand, or granted by a paid plan
    since: str | None
    manual_expires_at: str | None
    next_requalification_at: str | None
    progress: ProgressOut
    history: list[HistoryOut]


class ManualTierIn(Input):
    tier_id: TierId
    expires_at: datetime | None = None
    reason: str | None = Field(default=None, max_length=200)


class StandingOut(Output):
    member_id: str
    lifetime_spend: int
    refunded: int
    orders: int
    first_order_at: str | None
    last_order_at: str | None
    interactions: int
    last_interaction_at: str | None
    monthly_spend: dict[str, int]
    stage: str
    stage_since: str | None
    stage_history: list[HistoryOut]
    rfm: dict[str, Any] | None


class CountsOut(Output):
    #: members per value; every member counted once
    counts: dict[str, int]
    total: int


class JobOut(Output):
    id: str
    kind: str
    status: str
    progress: dict[str, Any]
    error: str | None
    created_at: str
    updated_at: str
    finished_at: str | None
