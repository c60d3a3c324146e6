"""Events in (orders, refunds, interactions) and the member timeline, on the wire."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Literal

from pydantic import Field, PrivateAttr, SkipValidation, field_validator, model_validator

from ..core import clock
from ..core.schema import Input, Limit, Output, Page
from ..members.schemas import ULID_PATTERN, ChannelIdKind, ExternalId

EventId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]
Scalar = str | int | float | bool | None
#: as printed or typed: letters, digits, spaces and dashes (case and separators are ignored)
CouponCode = Annotated[str, Field(min_length=4, max_length=48, pattern=r"^[A-Za-z0-9 -]+$")]
MAX_PROPERTIES = 20
# Money and quantities are ``strict``: a JSON integer, never "100", 100.0 or true (the contract says integer).
#: how far ahead of our clock a sender's ``occurred_at`` may be (its clock may run a little fast)
MAX_CLOCK_SKEW = timedelta(minutes=5)


class MemberRef(Input):
    """Who the event is about: a member id, or identities (an unknown identity creates a
    prospect member or is rejected, per the tenant's ``unknown_identity`` setting)."""

    id: str | None = Field(default=None, pattern=ULID_PATTERN)
    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=254)
    channel_ids: dict[ChannelIdKind, ExternalId] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_way(self) -> MemberRef:
        if not (self.id or self.phone or self.email or self.channel_ids):
            raise ValueError("give the member's id or at least one identity")
        return self


class _Event(Input):
    event_id: EventId
    member: MemberRef
    #: when it happened (defaults to when it arrived); older events are placed where they belong
    occurred_at: datetime | None = None

    @field_validator("occurred_at")
    @classmethod
    def _not_in_the_future(cls, value: datetime | None) -> datetime | None:
        """A future time would become the member's last order or activity for years to come."""
        if value is None:
            return value
        aware = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        if aware > clock.now() + MAX_CLOCK_SKEW:
            minutes = int(MAX_CLOCK_SKEW.total_seconds() // 60)
            raise ValueError(f"occurred_at is in the future (more than {minutes} minutes ahead of the server's clock)")
        return value


class OrderLine(Input):
    sku: str = Field(min_length=1, max_length=64)
    category: str | None = Field(default=None, max_length=64)
    qty: int = Field(strict=True, ge=1, le=100_000)
    #: minor units
    unit_price: int = Field(strict=True, ge=0)


class OrderPaid(_Event):
    type: Literal["order.paid"]
    order_id: str = Field(min_length=1, max_length=128)
    #: integer minor units (fen, cents)
    amount: int = Field(strict=True, ge=0, le=10**12)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    items: list[OrderLine] = Field(default_factory=list, max_length=200)
    channel: str | None = Field(default=None, max_length=64, description="where it was sold")
    #: coupons redeemed by this order, in the order's own transaction (a failed condition rejects the event)
    coupon_codes: list[CouponCode] = Field(default_factory=list, max_length=5)
    #: the group-buy this order pays for (its join code): the group completes when every member paid
    group_code: CouponCode | None = None


class OrderRefunded(_Event):
    type: Literal["order.refunded"]
    order_id: str = Field(min_length=1, max_length=128)
    #: the refunded part, minor units (the whole order or less)
    amount: int = Field(strict=True, ge=1, le=10**12)


class OrderCompleted(_Event):
    """The order can no longer be returned: its pending points become available at once.
    Recorded on the timeline; it changes no spend or standing."""

    type: Literal["order.completed"]
    order_id: str = Field(min_length=1, max_length=128)


class Interaction(_Event):
    type: Literal["interaction"]
    name: str = Field(pattern=r"^[a-z][a-z0-9_.]{0,63}$", description="page_view, follow, check_in, ...")
    properties: dict[str, Scalar] = Field(default_factory=dict)

    @field_validator("properties")
    @classmethod
    def _bounded(cls, props: dict[str, Any]) -> dict[str, Any]:
        if len(props) > MAX_PROPERTIES:
            raise ValueError(f"at most {MAX_PROPERTIES} properties")
        for key, value in props.items():
            if not 1 <= len(key) <= 64:
                raise ValueError("property names are 1-64 characters")
            if isinstance(value, str) and len(value) > 200:
                raise ValueError(f"property {key!r} is longer than 200 characters")
        return props


Event = Annotated[OrderPaid | OrderRefunded | OrderCompleted | Interaction, Field(discriminator="type")]


class EventBatch(Input):
    """One event, or ``{"events": [...]}`` with up to 100. Each event is validated and
    applied on its own: one bad event does not drop the others."""

    # Validated one by one in the service (SkipValidation), so the schema still documents them.
    events: SkipValidation[list[Event]] = Field(min_length=1, max_length=100)

    _single: bool = PrivateAttr(default=False)

    @model_validator(mode="wrap")
    @classmethod
    def _single_event(cls, data: Any, handler: Any) -> EventBatch:
        single = isinstance(data, dict) and "events" not in data
        batch = handler({"events": [data]} if single else data)
        batch._single = single
        return batch

    @property
    def single(self) -> bool:
        """True when the request was one bare event rather than ``{"events": [...]}``."""
        return self._single

    @field_validator("events", mode="before")
    @classmethod
    def _objects(cls, events: Any) -> Any:
        if not isinstance(events, list) or not 1 <= len(events) <= 100:
            raise ValueError("send 1 to 100 events")
        return events


class ChangeOut(Output):
    dimension: str
    old: str | None
    new: str | None
    reason: str


class EventResult(Output):
    event_id: str | None
    #: accepted: applied now; duplicate: this event_id was applied before (nothing changed);
    #: rejected: see ``error``
    status: Literal["accepted", "duplicate", "rejected"]
    member_id: str | None = None
    changes: list[ChangeOut] = Field(default_factory=list)
    error: dict[str, Any] | None = None


class EventResults(Output):
    results: list[EventResult]
    accepted: int
    duplicates: int
    rejected: int


class TimelineEntry(Output):
    event_id: str
    type: str
    occurred_at: str
    received_at: str
    data: dict[str, Any]


class Timeline(Page):
    data: list[TimelineEntry]


class TimelineQuery(Input):
    limit: Limit = 50
    cursor: str | None = Field(default=None, max_length=1024)
