"""Group offers, groups and group-buy analytics, on the wire."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from ...core.schema import Input, Limit, Output, Page
from ...members.schemas import ULID_PATTERN

Money = Annotated[int, Field(strict=True, ge=0, le=10**12, description="minor units")]
MemberId = Annotated[str, Field(pattern=ULID_PATTERN)]
Leaders = Literal["anyone", "members", "segment"]


class OfferCreate(Input):
    """What the group buys: a ``sku`` at ``group_price`` (minor units, ``currency``), or the
    coupon template ``coupon_template_id`` issued to each member when the group completes."""

    name: str = Field(min_length=1, max_length=120)
    sku: str | None = Field(default=None, min_length=1, max_length=64)
    group_price: Money | None = None
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    coupon_template_id: str | None = Field(default=None, pattern=ULID_PATTERN)
    group_size: int = Field(strict=True, ge=2, le=50, description="k: members in a complete group, leader included")
    time_limit_minutes: int = Field(strict=True, ge=1, le=60 * 24 * 30)
    per_member_limit: int = Field(default=1, strict=True, ge=1, le=100,
                                  description="groups of this offer a member may open or join")
    leaders: Leaders = Field(default="anyone", description="anyone: any member record (prospects too); "
                             "members: members with at least one paid order; segment: members of leader_segment_id")
    leader_segment_id: str | None = Field(default=None, pattern=ULID_PATTERN)
    stock: int | None = Field(default=None, strict=True, ge=0, le=10**7, description="groups that may open")

    @model_validator(mode="after")
    def _one_offer(self) -> OfferCreate:
        by_sku = self.sku is not None or self.group_price is not None or self.currency is not None
        if by_sku == (self.coupon_template_id is not None):
            raise ValueError("give either sku, group_price and currency, or coupon_template_id")
        if by_sku and (self.sku is None or self.group_price is None or self.currency is None):
            raise ValueError("a sku offer needs sku, group_price and currency")
        if (self.leaders == "segment") != (self.leader_segment_id is not None):
            raise ValueError("leader_segment_id is given exactly when leaders is 'segment'")
        return self


class OfferPatch(Input):
    """What may change while groups are open: the terms of a group are fixed when it opens."""

    name: str | None = Field(default=None, min_length=1, max_length=120)
    stock: int | None = Field(default=None, strict=True, ge=0, le=10**7)
    status: Literal["active", "archived"] | None = None


class OfferOut(Output):
    id: str
    name: str
    status: Literal["active", "archived"]
    sku: str | None
    group_price: int | None
    currency: str | None
    coupon_template_id: str | None
    group_size: int
    time_limit_minutes: int
    per_member_limit: int
    leaders: Leaders
    leader_segment_id: str | None
    stock: int | None
    groups_opened: int
    created_at: str
    updated_at: str


class OfferList(Page):
    data: list[OfferOut]


class OfferListQuery(Input):
    limit: Limit = 50
    cursor: str | None = Field(default=None, max_length=1024)


class OpenGroupIn(Input):
    leader_id: MemberId


class JoinIn(Input):
    member_id: MemberId


class GroupMemberOut(Output):
    member_id: str
    leader: bool
    joined_at: str
    paid: bool
    order_id: str | None
    #: signed up within the group flow (created after the group opened): counted as brought in
    new_member: bool
    #: what completion gave: {"coupon_code": ...} or {"sku", "group_price", "currency", "order_id"}
    reward: dict[str, str | int | None] | None


class GroupOut(Output):
    code: str
    offer_id: str
    status: Literal["open", "completed", "failed"]
    group_size: int
    joined: int
    paid: int
    opened_at: str
    deadline: str
    closed_at: str | None
    members: list[GroupMemberOut]


class OfferAnalytics(Output):
    offer_id: str
    groups_opened: int
    groups_completed: int
    groups_failed: int
    groups_open: int
    members_joined: int
    #: members created at or after the group they joined opened (signed up in the group flow)
    new_members: int
    completion_seconds_mean: float | None
    completion_rate: float
