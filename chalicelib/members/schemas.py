"""Members and channel codes on the wire."""
from __future__ import annotations

import calendar
import json
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from ..core.schema import Download, Input, Limit, Output, Page

#: Channel identities a member can be known by (besides phone and email).
ChannelIdKind = Literal[
    "wechat_unionid", "wechat_openid", "wecom_external_userid", "taobao_nick",
    "douyin_openid", "xiaohongshu_userid", "alipay_userid", "external_id",
]
ConsentChannel = Literal["sms", "email", "wechat"]
Gender = Literal["female", "male", "other", "unknown"]

CHANNEL_CODE = r"^[a-z0-9][a-z0-9_-]{0,63}$"
ULID_PATTERN = r"^[0-9A-HJKMNP-TV-Z]{26}$"
ATTRIBUTE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_ATTRIBUTES = 50
MAX_ATTRIBUTES_BYTES = 4096

ChannelCode = Annotated[str, Field(pattern=CHANNEL_CODE, description="lowercase letters, digits, - and _")]
ExternalId = Annotated[str, Field(min_length=1, max_length=128)]
AttributeValue = str | int | float | bool | None


def check_attributes(attrs: dict[str, Any] | None) -> dict[str, Any] | None:
    if attrs is None:
        return attrs
    if len(attrs) > MAX_ATTRIBUTES:
        raise ValueError(f"at most {MAX_ATTRIBUTES} attributes")
    for name, value in attrs.items():
        if not ATTRIBUTE_NAME.match(name):
            raise ValueError(f"attribute name {name!r} must match {ATTRIBUTE_NAME.pattern}")
        if isinstance(value, str) and len(value) > 500:
            raise ValueError(f"attribute {name!r} is longer than 500 characters")
    if len(json.dumps(attrs, separators=(",", ":"))) > MAX_ATTRIBUTES_BYTES:
        raise ValueError(f"attributes take more than {MAX_ATTRIBUTES_BYTES} bytes as JSON")
    return attrs


class Birthday(Input):
    month: int = Field(ge=1, le=12)
    day: int = Field(ge=1, le=31)
    year: int | None = Field(default=None, ge=1900, le=2100)

    @model_validator(mode="after")
    def _real_date(self) -> Birthday:
        leap_year = 2000  # 29 February is a birthday even when the year is unknown
        last = calendar.monthrange(self.year or leap_year, self.month)[1]
        if self.day > last:
            raise ValueError(f"day {self.day} does not exist in month {self.month}")
        return self


class ConsentIn(Input):
    granted: bool
    #: when the member gave or withdrew it; defaults to the time of the request
    at: datetime | None = None


class ConsentOut(Output):
    granted: bool
    at: str


class Source(Input):
    """First-touch attribution, set once."""

    channel: ChannelCode | None = None
    campaign: str | None = Field(default=None, max_length=100)
    referrer_member_id: str | None = Field(default=None, pattern=ULID_PATTERN)


class SourceOut(Output):
    channel: str | None = None
    campaign: str | None = None
    referrer_member_id: str | None = None


class _MemberFields(Input):
    phone: str | None = Field(default=None, min_length=3, max_length=32,
                              description="Any common notation; stored in E.164")
    email: str | None = Field(default=None, min_length=3, max_length=254)
    name: str | None = Field(default=None, min_length=1, max_length=100)
    birthday: Birthday | None = None
    gender: Gender | None = None
    _attributes = field_validator("attributes", check_fields=False)(check_attributes)


class MemberCreate(_MemberFields):
    """Upsert by identity: a known phone, email or channel id returns that member."""

    channel_ids: dict[ChannelIdKind, ExternalId] = Field(default_factory=dict)
    attributes: dict[str, AttributeValue] = Field(default_factory=dict)
    consents: dict[ConsentChannel, ConsentIn] = Field(default_factory=dict)
    source: Source | None = None
    #: a referral code the new member signed up with (first touch: an existing member's is recorded, not applied)
    referral_code: str | None = Field(default=None, min_length=4, max_length=64)
    #: the brand's id of the sign-up device: kept hashed, only for referral fraud rules
    device_id: str | None = Field(default=None, min_length=1, max_length=128)

    @model_validator(mode="after")
    def _has_identity(self) -> MemberCreate:
        if not (self.phone or self.email or self.channel_ids):
            raise ValueError("give at least one identity: phone, email or channel_ids")
        return self


class MemberPatch(_MemberFields):
    """Partial update. ``null`` clears a field; in ``attributes`` and ``channel_ids`` a
    ``null`` value removes that key. ``version`` must be the member's current version."""

    version: int = Field(ge=1)
    channel_ids: dict[ChannelIdKind, ExternalId | None] | None = None
    attributes: dict[str, AttributeValue] | None = None
    consents: dict[ConsentChannel, ConsentIn] | None = None
    source: Source | None = None


class MemberOut(Output):
    id: str
    phone: str | None = None
    email: str | None = None
    channel_ids: dict[str, str] = Field(default_factory=dict)
    name: str | None = None
    birthday: dict[str, int | None] | None = None
    gender: str | None = None
    attributes: dict[str, AttributeValue] = Field(default_factory=dict)
    consents: dict[str, ConsentOut] = Field(default_factory=dict)
    source: SourceOut | None = None
    created_at: str
    updated_at: str
    version: int


class MemberPage(Page):
    data: list[MemberOut]


class MemberListQuery(Input):
    limit: Limit = 50
    cursor: str | None = Field(default=None, max_length=1024)
    channel: ChannelCode | None = Field(default=None, description="source channel code")
    created_after: datetime | None = None


class LookupQuery(Input):
    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=254)
    channel: ChannelIdKind | None = None
    external_id: ExternalId | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> LookupQuery:
        given = [bool(self.phone), bool(self.email), bool(self.channel or self.external_id)]
        if sum(given) != 1:
            raise ValueError("give exactly one of phone, email, or channel with external_id")
        if bool(self.channel) != bool(self.external_id):
            raise ValueError("channel and external_id go together")
        return self


class IdentityOut(Output):
    kind: str
    value: str


class MemberExport(Output):
    exported_at: str
    member: MemberOut
    identities: list[IdentityOut]
    #: every other record kept in the member's item collection, each with its ``record_type``
    records: list[dict[str, Any]]


class MemberExportLink(Output):
    """Where the export is: a JSON file shaped like :class:`MemberExport`."""

    status: Literal["succeeded"]
    exported_at: str
    download: Download


class ChannelCreate(Input):
    code: ChannelCode
    name: str = Field(min_length=1, max_length=100)
    platform: str | None = Field(default=None, max_length=40, description="e.g. wechat, douyin, mall")
    description: str | None = Field(default=None, max_length=500)


class ChannelOut(Output):
    code: str
    name: str
    platform: str | None = None
    description: str | None = None
    created_at: str
    #: members whose first touch was this channel (present on single reads)
    member_count: int | None = None
    #: ``guide``: a guide's personal code (sign-ups through it are bound to that guide)
    type: Literal["channel", "guide"] = "channel"


class ChannelPage(Page):
    data: list[ChannelOut]


class ChannelListQuery(Input):
    limit: Limit = 50
    cursor: str | None = Field(default=None, max_length=1024)
