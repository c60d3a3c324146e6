"""Tag groups, tags, member tags, tag rules and bulk tagging on the wire."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from ..core.schema import Input, Limit, Output, Page
from ..members.schemas import ULID_PATTERN, ChannelIdKind, ExternalId

#: documented limits (beyond them: 422)
MAX_GROUPS = 100
MAX_TAGS_PER_GROUP = 200
MAX_TAGS_PER_MEMBER = 500
MAX_RULES = 100
MAX_BULK = 10_000

Name = Annotated[str, Field(min_length=1, max_length=100)]


class TagGroupCreate(Input):
    name: Name
    #: single: a member holds at most one tag of the group (a new one replaces the old)
    selection: Literal["single", "multi"] = "multi"
    description: str | None = Field(default=None, max_length=500)


class TagGroupPatch(Input):
    name: Name | None = None
    description: str | None = Field(default=None, max_length=500)


class TagGroupOut(Output):
    id: str
    name: str
    selection: str
    description: str | None = None
    #: system groups mirror tier, lifecycle stage and RFM segment; read-only
    system: bool = False
    created_at: str | None = None


class TagGroupList(Output):
    data: list[TagGroupOut]


class TagCreate(Input):
    name: Name
    description: str | None = Field(default=None, max_length=500)


class TagPatch(Input):
    name: Name | None = None
    description: str | None = Field(default=None, max_length=500)


class TagOut(Output):
    id: str
    group_id: str
    name: str
    description: str | None = None
    system: bool = False
    created_at: str | None = None


class TagList(Output):
    data: list[TagOut]


class MemberTagIn(Input):
    #: the tag disappears at this time (e.g. "browsed in the last 30 days")
    expires_at: datetime | None = None


class MemberTagOut(Output):
    tag_id: str
    group_id: str
    name: str | None = None
    #: manual (by hand), rule (by a tag rule), system (tier, stage, RFM)
    source: Literal["manual", "rule", "system"]
    #: who or what set it: the actor, the rule id, or the system
    by: str
    at: str | None = None
    expires_at: str | None = None


class MemberTagList(Output):
    data: list[MemberTagOut]


# --- rules ------------------------------------------------------------------------------------
class PropertyPredicate(Input):
    property: str = Field(min_length=1, max_length=64)
    op: Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "exists"] = "eq"
    value: Any = None


class EventTrigger(Input):
    type: Literal["order.paid", "order.refunded", "interaction"]
    #: for interactions: the interaction name (view_product, follow, ...)
    name: str | None = Field(default=None, max_length=64)
    where: list[PropertyPredicate] = Field(default_factory=list, max_length=10)
    #: for orders: an item of this category
    item_category: str | None = Field(default=None, max_length=64)


class RuleWhen(Input):
    """Exactly one of: an event that matches, or a condition on the member (a segment
    filter over attributes and aggregates, e.g. lifetime spend >= 1000.00)."""

    event: EventTrigger | None = None
    member: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one(self) -> RuleWhen:
        if (self.event is None) == (self.member is None):
            raise ValueError("give exactly one of 'event' or 'member'")
        return self


class TagRuleCreate(Input):
    name: Name
    tag_id: str = Field(min_length=1, max_length=64)
    when: RuleWhen
    #: tags applied by this rule expire this many days after the matching event / evaluation
    expires_after_days: int | None = Field(default=None, ge=1, le=3650)
    enabled: bool = True


class TagRulePatch(Input):
    name: Name | None = None
    when: RuleWhen | None = None
    expires_after_days: int | None = Field(default=None, ge=1, le=3650)
    enabled: bool | None = None


class TagRuleOut(Output):
    id: str
    name: str
    tag_id: str
    when: dict[str, Any]
    expires_after_days: int | None
    enabled: bool
    created_at: str
    updated_at: str
    version: int
    #: the backfill job that applies the rule to existing members
    backfill_job_id: str | None = None


class TagRuleList(Output):
    data: list[TagRuleOut]


# --- bulk ---------------------------------------------------------------------------------------------
class Identity(Input):
    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=254)
    channel: ChannelIdKind | None = None
    external_id: ExternalId | None = None


class BulkTagIn(Input):
    action: Literal["add", "remove"]
    member_ids: list[Annotated[str, Field(pattern=ULID_PATTERN)]] = Field(default_factory=list, max_length=MAX_BULK)
    identities: list[Identity] = Field(default_factory=list, max_length=MAX_BULK)
    segment_id: str | None = Field(default=None, pattern=ULID_PATTERN)
    expires_at: datetime | None = None

    @model_validator(mode="after")
    def _one_source(self) -> BulkTagIn:
        sources = sum([bool(self.member_ids or self.identities), self.segment_id is not None])
        if sources != 1:
            raise ValueError("give member_ids and/or identities, or a segment_id")
        if len(self.member_ids) + len(self.identities) > MAX_BULK:
            raise ValueError(f"at most {MAX_BULK} members per bulk request")
        return self


class BulkJobOut(Output):
    job_id: str
    status: str


class TagCount(Output):
    tag_id: str
    name: str
    members: int


class GroupCoverage(Output):
    group_id: str
    name: str
    system: bool
    #: members holding at least one tag of the group
    members_tagged: int
    #: members_tagged / all members (0 when there are none)
    coverage: float
    top_tags: list[TagCount]


class TagAnalytics(Output):
    total_members: int
    groups: list[GroupCoverage]


class ListQuery(Input):
    limit: Limit = 100
    cursor: str | None = Field(default=None, max_length=1024)


class TagPage(Page):
    data: list[TagOut]
