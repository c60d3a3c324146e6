"""Referral programs, codes, referrals and their analytics on the wire."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, model_validator

from ...core.schema import Input, Limit, Output, Page

ULID = r"^[0-9A-HJKMNP-TV-Z]{26}$"
Status = Literal["pending", "converted", "rewarded", "rejected", "held", "reversed"]
Reason = Literal["self_referral", "not_new", "velocity", "outside_window", "referrer_limit", "rejected_by_admin"]


class Reward(Input):
    """What one side gets: points, a coupon of one of the tenant's templates, or nothing."""

    type: Literal["points", "coupon", "none"] = "none"
    points: int | None = Field(default=None, ge=1, le=1_000_000)
    coupon_template_id: str | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _complete(self) -> Reward:
        if (self.type == "points") != (self.points is not None):
            raise ValueError("points is given exactly when type is points")
        if (self.type == "coupon") != (self.coupon_template_id is not None):
            raise ValueError("coupon_template_id is given exactly when type is coupon")
        return self


class WhoMayRefer(Input):
    type: Literal["all", "segment", "tier"] = "all"
    segment_id: str | None = Field(default=None, pattern=ULID)
    tier: str | None = Field(default=None, min_length=1, max_length=32)

    @model_validator(mode="after")
    def _complete(self) -> WhoMayRefer:
        if (self.type == "segment") != (self.segment_id is not None):
            raise ValueError("segment_id is given exactly when type is segment")
        if (self.type == "tier") != (self.tier is not None):
            raise ValueError("tier is given exactly when type is tier")
        return self


class Conversion(Input):
    """What earns the rewards: the referee's sign-up, or their first paid order of at least ``min_amount``."""

    type: Literal["signup", "first_order"] = "first_order"
    min_amount: int = Field(default=0, ge=0, description="minor units of the tenant's currency")


class Limits(Input):
    """Rewarded referrals per referrer: per tenant-local day and in total (None: no limit)."""

    per_day: int | None = Field(default=None, ge=1, le=100_000)
    total: int | None = Field(default=None, ge=1, le=1_000_000)


class FraudRules(Input):
    """Each rule on or off; ``velocity_per_hour`` None turns velocity off."""

    self_referral: bool = True
    not_new: bool = True
    outside_window: bool = True
    velocity_per_hour: int | None = Field(default=10, ge=1, le=100_000)


class ProgramIn(Input):
    name: str = Field(min_length=1, max_length=100)
    status: Literal["active", "paused"] = "active"
    who_may_refer: WhoMayRefer = Field(default_factory=WhoMayRefer)
    referrer_reward: Reward = Field(default_factory=Reward)
    referee_reward: Reward = Field(default_factory=Reward)
    conversion: Conversion = Field(default_factory=Conversion)
    limits: Limits = Field(default_factory=Limits)
    fraud: FraudRules = Field(default_factory=FraudRules)
    clawback_days: int = Field(default=30, ge=0, le=365)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    share_url_template: str | None = Field(default=None, max_length=300, pattern=r"^https://[^\s]*\{code\}[^\s]*$",
                                           description="e.g. https://brand.example/r/{code}")

    @model_validator(mode="after")
    def _window(self) -> ProgramIn:
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        for at in (self.starts_at, self.ends_at):
            if at is not None and at.tzinfo is None:
                raise ValueError("times need a time zone (e.g. Z)")
        return self


class ProgramCreate(ProgramIn):
    """A new program (``status`` active or paused)."""


class ProgramUpdate(ProgramIn):
    """The whole program again, with the version it was read at (409 ``version_conflict`` if it moved)."""

    version: int = Field(ge=1)


class ProgramOut(Output):
    id: str
    name: str
    status: Literal["active", "paused", "archived"]
    who_may_refer: WhoMayRefer
    referrer_reward: Reward
    referee_reward: Reward
    conversion: Conversion
    limits: Limits
    fraud: FraudRules
    clawback_days: int
    starts_at: str | None = None
    ends_at: str | None = None
    share_url_template: str | None = None
    version: int
    created_at: str
    updated_at: str


class ProgramList(Page):
    data: list[ProgramOut]


class ProgramQuery(Input):
    limit: Limit = 50
    cursor: str | None = Field(default=None, max_length=1024)


class MemberReferralQuery(Input):
    program: str | None = Field(default=None, pattern=ULID, description="default: the newest active program")


class MemberReferralOut(Output):
    program_id: str
    member_id: str
    code: str
    #: the code grouped for print (dashes are ignored when typed back)
    display_code: str
    share_url: str | None = None
    created_at: str


class ReferralOut(Output):
    id: str
    program_id: str
    code: str
    referrer_member_id: str
    referee_member_id: str
    status: Status
    reasons: list[str]
    created_at: str
    updated_at: str
    converted_at: str | None = None
    order_id: str | None = None
    rewarded_at: str | None = None
    reversed_at: str | None = None


class ReferralList(Page):
    data: list[ReferralOut]


class ReferralQuery(Input):
    status: Literal["held"] = Field(description="only held referrals are listed (the review queue)")
    limit: Limit = 50
    cursor: str | None = Field(default=None, max_length=1024)


class AnalyticsQuery(Input):
    program: str = Field(pattern=ULID)
    top: int = Field(default=10, ge=1, le=50)


class TopReferrer(Output):
    member_id: str
    signups: int
    conversions: int


class ReferralAnalytics(Output):
    program_id: str
    codes_shared: int
    signups: int
    #: sign-ups not rejected (pending, held, converted, rewarded, reversed)
    new_members: int
    conversions: int
    rewarded: int
    reversed: int
    held: int
    rejected: int
    active_referrers: int
    #: new members per active referrer
    fission_ratio: float
    rewards_given: int
    rewards_reversed: int
    top_referrers: list[TopReferrer]


class TreeQuery(Input):
    member: str = Field(pattern=ULID)
    program: str | None = Field(default=None, pattern=ULID)
    depth: int = Field(default=3, ge=1, le=3)


class TreeNode(Output):
    member_id: str
    referral_id: str | None = None
    status: str | None = None
    children: list[TreeNode] = Field(default_factory=list)
    #: more referrals than a node lists (each node lists at most 100)
    truncated: bool = False


class ReferralTree(Output):
    root: TreeNode
    size: int
