"""Points program, balances, ledger, adjustments, redemptions and rewards on the wire."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from ...core.schema import Input, Limit, Output, Page

RuleId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]
Multiplier = Annotated[float, Field(ge=0, le=100, multiple_of=0.01)]
Scalar = str | int | float | bool | None
Points = Annotated[int, Field(strict=True, ge=1, le=10**9)]


class OrderEarning(Input):
    #: points per currency unit of the paid amount
    points_per_unit: int = Field(strict=True, ge=0, le=10_000)
    #: minor units in one currency unit (100: one point per yuan is 1 point per 100 fen)
    unit: int = Field(default=100, strict=True, ge=1, le=1_000_000)
    #: item category -> multiplier (two decimals), applied line-weighted
    category_multipliers: dict[Annotated[str, Field(min_length=1, max_length=64)], Multiplier] = Field(
        default_factory=dict, max_length=100)
    #: apply the member's tier benefit ``points_multiplier``
    tier_multipliers: bool = True


class InteractionRuleIn(Input):
    id: RuleId
    #: the interaction's name (``check_in``, ``article_read``, ...)
    name: str = Field(pattern=r"^[a-z][a-z0-9_.]{0,63}$")
    #: every property must equal this value
    where: dict[Annotated[str, Field(min_length=1, max_length=64)], Scalar] = Field(default_factory=dict,
                                                                                     max_length=10)
    points: Points
    #: at most this many earnings per day (the tenant's time zone)
    per_day: int | None = Field(default=None, strict=True, ge=1, le=1000)
    lifetime: int | None = Field(default=None, strict=True, ge=1, le=1_000_000)
    #: earn once per distinct value of this property (e.g. ``article_id``)
    once_per: str | None = Field(default=None, min_length=1, max_length=64)


class ExpiryIn(Input):
    #: never; ``days`` after earning; or at the end of the ``months``-th month after earning
    type: Literal["never", "days", "end_of_month"] = "never"
    days: int = Field(default=0, strict=True, ge=0, le=3650)
    months: int = Field(default=0, strict=True, ge=0, le=120)

    @model_validator(mode="after")
    def _complete(self) -> ExpiryIn:
        if self.type == "days" and self.days < 1:
            raise ValueError("give days (1 or more) for type 'days'")
        return self


class RedemptionValue(Input):
    """A point's value for the liability report: ``amount`` minor units per ``points``."""

    points: int = Field(default=100, strict=True, ge=1)
    amount: int = Field(default=100, strict=True, ge=0)


class PointsProgramIn(Input):
    order_earning: OrderEarning | None = None
    interaction_rules: list[InteractionRuleIn] = Field(default_factory=list, max_length=50)
    #: order points stay pending this many days (the return window), or until order.completed
    pending_days: int = Field(default=0, strict=True, ge=0, le=365)
    expiry: ExpiryIn = Field(default_factory=ExpiryIn)
    refund_policy: Literal["allow_negative", "clamp_at_zero"] = "allow_negative"
    redemption_value: RedemptionValue = Field(default_factory=RedemptionValue)
    #: ``points.expiring`` goes out this many days before a lot expires
    expiring_notice_days: int = Field(default=7, strict=True, ge=1, le=365)
    #: if given, a stale version is a 409
    version: int | None = Field(default=None, ge=0)

    @field_validator("interaction_rules")
    @classmethod
    def _unique(cls, rules: list[InteractionRuleIn]) -> list[InteractionRuleIn]:
        ids = [r.id for r in rules]
        if len(set(ids)) != len(ids):
            raise ValueError("interaction rule ids must be unique")
        return rules


class PointsProgramOut(Output):
    order_earning: dict[str, Any] | None
    interaction_rules: list[dict[str, Any]]
    pending_days: int
    expiry: dict[str, Any]
    refund_policy: str
    redemption_value: dict[str, Any]
    expiring_notice_days: int
    version: int
    updated_at: str | None = None


class ExpiringOut(Output):
    expires_at: str
    points: int


class BalanceOut(Output):
    member_id: str
    #: spendable now (negative when a refund reversed points already spent)
    available: int
    #: earned, not yet available (return window)
    pending: int
    #: available points expiring in the next 30 days, by date
    expiring: list[ExpiringOut]
    expiring_in_30_days: int
    as_of: str


class LedgerEntryOut(Output):
    id: str
    kind: Literal["earn", "release", "spend", "expire", "reverse", "adjust"]
    #: signed change of available + pending (a release moves points, changing neither sum)
    points: int
    at: str
    #: when it took effect (a lazily applied release or expiry took effect before ``at``)
    effective_at: str
    cause: dict[str, Any]
    shortfall: int = 0
    available_after: int
    pending_after: int


class Ledger(Page):
    data: list[LedgerEntryOut]


class LedgerQuery(Input):
    limit: Limit = 50
    cursor: str | None = Field(default=None, max_length=1024)


class AdjustmentIn(Input):
    #: positive credits a new lot (expiring per the program); negative takes from available points
    points: int = Field(strict=True, ge=-(10**9), le=10**9)
    reason: str = Field(min_length=1, max_length=200)

    @field_validator("points")
    @classmethod
    def _not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("points must not be 0")
        return value


class RedemptionIn(Input):
    #: points to spend (a reward's cost when ``reward_id`` is given; then it may be omitted)
    points: Points | None = None
    reason: str | None = Field(default=None, min_length=1, max_length=200)
    reward_id: str | None = Field(default=None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _what_for(self) -> RedemptionIn:
        if not self.reward_id and not self.reason:
            raise ValueError("give a reason or a reward_id")
        if not self.reward_id and self.points is None:
            raise ValueError("give the points to spend")
        return self


class RedemptionOut(Output):
    id: str
    member_id: str
    points: int
    reward_id: str | None
    reason: str | None
    coupon_template_id: str | None
    at: str
    balance: BalanceOut


class RewardIn(Input):
    name: str = Field(min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=1000)
    points_cost: Points
    #: units left; absent means unlimited
    stock: int | None = Field(default=None, strict=True, ge=0, le=10**9)
    per_member_limit: int | None = Field(default=None, strict=True, ge=1, le=10_000)
    active_from: datetime | None = None
    active_until: datetime | None = None
    #: a coupon template the coupons capability issues on redemption
    coupon_template_id: str | None = Field(default=None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _window(self) -> RewardIn:
        if self.active_from and self.active_until and self.active_until <= self.active_from:
            raise ValueError("active_until must be after active_from")
        return self


class RewardPatch(Input):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=1000)
    points_cost: Points | None = None
    stock: int | None = Field(default=None, strict=True, ge=0, le=10**9)
    per_member_limit: int | None = Field(default=None, strict=True, ge=1, le=10_000)
    active_from: datetime | None = None
    active_until: datetime | None = None
    active: bool | None = None


class RewardOut(Output):
    id: str
    name: str
    description: str | None
    points_cost: int
    stock: int | None
    per_member_limit: int | None
    active_from: str | None
    active_until: str | None
    active: bool
    coupon_template_id: str | None
    created_at: str


class RewardList(Page):
    data: list[RewardOut]


class RewardQuery(Input):
    limit: Limit = 50
    cursor: str | None = Field(default=None, max_length=1024)


class MonthFlows(Output):
    earned: int
    spent: int
    expired: int
    reversed: int
    adjusted: int


class PointsAnalyticsOut(Output):
    #: available + pending points of all members (expiry counted once the pass recorded it)
    liability_points: int
    #: its value in minor units at the program's redemption value
    liability_value: int
    currency: str
    months: dict[str, MonthFlows]


class PointsAnalyticsQuery(Input):
    #: first month (YYYY-MM, tenant time zone); default 12 months back
    since: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}$")
