"""Coupon templates, coupons, redemptions and coupon analytics, on the wire."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from ...core.schema import Input, Limit, Output, Page
from ...members.schemas import ULID_PATTERN

Money = Annotated[int, Field(strict=True, ge=0, le=10**12, description="minor units")]
Category = Annotated[str, Field(min_length=1, max_length=64)]
TypedCode = Annotated[str, Field(min_length=4, max_length=48, pattern=r"^[A-Za-z0-9 -]+$",
                                 description="case and dashes/spaces are ignored")]


class FixedOff(Input):
    type: Literal["fixed"]
    amount_off: int = Field(strict=True, ge=1, le=10**10)


class PercentOff(Input):
    type: Literal["percent"]
    percent_off: int = Field(strict=True, ge=1, le=100)
    #: cap on the discount (minor units)
    max_discount: int | None = Field(default=None, strict=True, ge=1, le=10**10)


class Gift(Input):
    """No money off: the order gets ``gift_sku`` free (the brand's till adds it)."""

    type: Literal["gift"]
    gift_sku: str = Field(min_length=1, max_length=64)


Benefit = Annotated[FixedOff | PercentOff | Gift, Field(discriminator="type")]


class FixedWindow(Input):
    type: Literal["window"]
    starts_at: datetime | None = None
    ends_at: datetime

    @model_validator(mode="after")
    def _ordered(self) -> FixedWindow:
        if self.starts_at and self.starts_at >= self.ends_at:
            raise ValueError("starts_at must be before ends_at")
        return self


class DaysFromIssue(Input):
    type: Literal["days_from_issue"]
    days: int = Field(strict=True, ge=1, le=3650)


Validity = Annotated[FixedWindow | DaysFromIssue, Field(discriminator="type")]


class Budget(Input):
    """The most the template may cost: coupons issued and/or discount given (minor units)."""

    max_issued: int | None = Field(default=None, strict=True, ge=1, le=10**8)
    max_discount_value: int | None = Field(default=None, strict=True, ge=1, le=10**13)


class TemplateCreate(Input):
    name: str = Field(min_length=1, max_length=120)
    description: str | None = Field(default=None, max_length=500)
    benefit: Benefit
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    min_spend: Money = 0
    #: item categories the discount applies to (empty: the whole order)
    categories: list[Category] = Field(default_factory=list, max_length=50)
    validity: Validity
    #: coupons of this template one member may be issued (None: no limit)
    per_member_limit: int | None = Field(default=None, strict=True, ge=1, le=1000)
    budget: Budget = Field(default_factory=Budget)
    #: a full refund of the redeeming order gives the coupon back (while it is still valid)
    restore_on_refund: bool = True
    code_prefix: str = Field(default="", pattern=r"^[A-Z2-9]{0,8}$")


class TemplatePatch(Input):
    """Name, description, budget and refund policy change any time; the terms (benefit,
    currency, minimum spend, categories, validity, per-member limit, prefix) only until the
    first coupon is issued (409 ``template_in_use`` after: create a new template)."""

    name: str | None = Field(default=None, min_length=1, max_length=120)
    description: str | None = Field(default=None, max_length=500)
    benefit: Benefit | None = None
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    min_spend: Money | None = None
    categories: list[Category] | None = Field(default=None, max_length=50)
    validity: Validity | None = None
    per_member_limit: int | None = Field(default=None, strict=True, ge=1, le=1000)
    budget: Budget | None = None
    restore_on_refund: bool | None = None
    code_prefix: str | None = Field(default=None, pattern=r"^[A-Z2-9]{0,8}$")


TERMS_FIELDS = ("benefit", "currency", "min_spend", "categories", "validity", "per_member_limit", "code_prefix")


class BudgetOut(Output):
    max_issued: int | None
    max_discount_value: int | None
    issued: int
    discount_given: int


class TemplateOut(Output):
    id: str
    name: str
    description: str | None
    status: Literal["active", "archived"]
    benefit: dict[str, Any]
    currency: str
    min_spend: int
    categories: list[str]
    validity: dict[str, Any]
    per_member_limit: int | None
    budget: BudgetOut
    restore_on_refund: bool
    code_prefix: str
    #: terms are frozen once a coupon was issued
    terms_locked: bool
    version: int
    created_at: str
    updated_at: str


class TemplateList(Page):
    data: list[TemplateOut]


class ListQuery(Input):
    limit: Limit = 50
    cursor: str | None = Field(default=None, max_length=1024)


class IssueIn(Input):
    template_id: str = Field(pattern=ULID_PATTERN)


class IssueJobIn(Input):
    """Either ``member_ids`` (up to 10,000) or ``segment_id``."""

    member_ids: list[Annotated[str, Field(pattern=ULID_PATTERN)]] | None = Field(default=None, min_length=1,
                                                                                 max_length=10_000)
    segment_id: str | None = Field(default=None, pattern=ULID_PATTERN)

    @model_validator(mode="after")
    def _one(self) -> IssueJobIn:
        if (self.member_ids is None) == (self.segment_id is None):
            raise ValueError("give member_ids or segment_id (one of them)")
        return self


class IssueJobOut(Output):
    job_id: str
    status: str


class RedemptionOut(Output):
    order_id: str
    redeemed_at: str
    discount: int
    subtotal: int
    eligible_subtotal: int
    gift_sku: str | None = None


class CouponOut(Output):
    code: str
    template_id: str
    member_id: str
    status: Literal["active", "used", "expired"]
    benefit: dict[str, Any]
    currency: str
    min_spend: int
    categories: list[str]
    name: str
    description: str | None
    issued_at: str
    valid_from: str | None
    expires_at: str | None
    redemption: RedemptionOut | None = None


class CouponList(Page):
    data: list[CouponOut]


class MemberCouponsQuery(Input):
    status: Literal["active", "used", "expired"] | None = None
    limit: Limit = 50
    cursor: str | None = Field(default=None, max_length=1024)


class LineIn(Input):
    sku: str = Field(min_length=1, max_length=64)
    category: str | None = Field(default=None, max_length=64)
    #: the line total (all its units), minor units
    amount: Money
    quantity: int = Field(default=1, strict=True, ge=1, le=100_000)


class RedeemIn(Input):
    code: TypedCode
    member_id: str = Field(pattern=ULID_PATTERN)
    order_id: str = Field(min_length=1, max_length=128)
    lines: list[LineIn] = Field(min_length=1, max_length=200)
    currency: str = Field(pattern=r"^[A-Z]{3}$")


class RedeemOut(Output):
    code: str
    member_id: str
    order_id: str
    discount: int
    subtotal: int
    eligible_subtotal: int
    gift_sku: str | None
    currency: str
    #: False when this order had redeemed the code before (the same answer again)
    new: bool


class AnalyticsQuery(Input):
    template: str = Field(pattern=ULID_PATTERN)
    within_days: int = Field(default=15, ge=1, le=90)


class CouponAnalytics(Output):
    template_id: str
    issued: int
    redeemed: int
    #: redeemed / issued (0 when none issued)
    redemption_rate: float
    within_days: int
    #: redeemed less than ``within_days`` days after the coupon was issued
    redeemed_within: int
    redeemed_within_rate: float
    #: total of the redeeming orders (minor units)
    revenue: int
    discount_given: int
