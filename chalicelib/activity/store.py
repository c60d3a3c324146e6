"""Event claims (dedupe per tenant), timeline entries and orders, in the member's collection."""
from __future__ import annotations

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute, VersionAttribute
from pynamodb.exceptions import DoesNotExist

from ..core.table import keys
from ..core.table.model import TableItem
from ..core.table.transactions import Transaction

CLAIM_SK = "EVENT"


def claim_pk(tenant_id: str, event_id: str) -> str:
    return f"T#{tenant_id}#EV#{event_id}"


def timeline_sk(occurred_at: str, event_id: str) -> str:
    return f"EVT#{occurred_at}#{event_id}"


def order_sk(order_id: str) -> str:
    return f"ORDER#{order_id}"


class EventClaim(TableItem, discriminator="event_claim"):
    """Exists once per (tenant, event_id): a resent event finds it and changes nothing."""

    member_id = UnicodeAttribute()
    type = UnicodeAttribute()
    received_at = UnicodeAttribute()


class TimelineItem(TableItem, discriminator="timeline"):
    event_id = UnicodeAttribute()
    type = UnicodeAttribute()
    occurred_at = UnicodeAttribute()
    received_at = UnicodeAttribute()
    data = JSONAttribute(default=dict)


class OrderItem(TableItem, discriminator="order"):
    order_id = UnicodeAttribute()
    amount = NumberAttribute()
    refunded = NumberAttribute(default=0)
    currency = UnicodeAttribute()
    occurred_at = UnicodeAttribute()
    #: the month bucket (tenant time zone) its spend was counted in
    month = UnicodeAttribute()
    version = VersionAttribute()


def get_claim(tenant_id: str, event_id: str) -> EventClaim | None:
    try:
        return EventClaim.get(claim_pk(tenant_id, event_id), CLAIM_SK, consistent_read=True)
    except DoesNotExist:
        return None


def get_order(tenant_id: str, member_id: str, order_id: str) -> OrderItem | None:
    try:
        return OrderItem.get(keys.member(tenant_id, member_id), order_sk(order_id), consistent_read=True)
    except DoesNotExist:
        return None


def stage_event(tx: Transaction, tenant_id: str, member_id: str, event_id: str, type_: str,
                occurred_at: str, received_at: str, data: dict[str, object]) -> None:
    """The claim (fails as ``claim`` if the event was seen) and the timeline entry."""
    tx.save("claim", EventClaim(claim_pk(tenant_id, event_id), CLAIM_SK, member_id=member_id, type=type_,
                                received_at=received_at), condition=EventClaim.pk.does_not_exist())
    tx.save("timeline", TimelineItem(keys.member(tenant_id, member_id), timeline_sk(occurred_at, event_id),
                                     event_id=event_id, type=type_, occurred_at=occurred_at,
                                     received_at=received_at, data=data))


def stage_new_order(tx: Transaction, order: OrderItem) -> None:
    tx.save("order", order, condition=OrderItem.pk.does_not_exist())


def stage_order_update(tx: Transaction, order: OrderItem) -> None:
    tx.save("order", order)  # version-checked


def timeline(tenant_id: str, member_id: str, before: str | None, limit: int) -> tuple[list[TimelineItem], str | None]:
    """Newest first, up to ``limit`` entries older than ``before`` (the last key of the previous page).

    A key condition has one bound on the sort key, and ``sk < before`` alone would reach the
    collection's other items, so the range is ``EVT#`` .. ``before`` inclusive: it may hold the
    cursor item itself, hence one more read than ``limit + 1`` (which tells whether more follow).
    """
    condition = TimelineItem.sk.between("EVT#", before) if before else TimelineItem.sk.startswith("EVT#")
    read = limit + 2 if before else limit + 1
    items = [i for i in TimelineItem.query(keys.member(tenant_id, member_id), condition, scan_index_forward=False,
                                           limit=read, page_size=read, consistent_read=True)
             if i.sk != before]
    more = len(items) > limit
    items = items[:limit]
    return items, (items[-1].sk if more and items else None)
