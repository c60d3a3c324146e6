"""Endpoint, event-object and delivery items of event subscriptions.

- Endpoints: all of a tenant's in one partition (``WHEP``, a few dozen at most), read
  when the tenant's endpoint *generation* moved; every endpoint change bumps it in its
  own transaction (``core.table.generations``, as the tier program and journeys do).
- Event objects: one partition each (``WHEVT#<evt id>``), listed by time in GSI1 under
  ``WHEVTS#<shard>`` (16 shards: a sale day writes thousands a second), for replays.
- Deliveries: one partition each, listed per endpoint in GSI1 (``WHDLVS#<ep>#<shard>``)
  and, while one is owed, in the platform-wide due list (GSI2 ``WHDUE#<shard>``) by next
  attempt: the schedule reads that list, never scans.
"""
from __future__ import annotations

import heapq
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    NumberAttribute,
    UnicodeAttribute,
    VersionAttribute,
)
from pynamodb.exceptions import DoesNotExist, PutError

from ...core.table import generations, keys, limits
from ...core.table.model import TableItem
from ...core.table.transactions import Transaction, is_condition_failure, save_versioned

MAX_ENDPOINTS = 20
#: event objects and deliveries are kept this long (Stripe keeps events 30 days)
RETENTION_DAYS = 30


class EndpointItem(TableItem, discriminator="webhook_endpoint"):
    tenant_id = UnicodeAttribute()
    endpoint_id = UnicodeAttribute()
    url = UnicodeAttribute()
    event_types = JSONAttribute(default=list)
    description = UnicodeAttribute(null=True)
    enabled = BooleanAttribute(default=True)
    #: [{"secret": "whsec_...", "expires_at": iso | None}], newest first
    secrets = JSONAttribute(default=list)
    disabled_reason = UnicodeAttribute(null=True)
    disabled_at = UnicodeAttribute(null=True)
    #: set by the first failed attempt after a success, cleared by a success
    failing_since = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    version = VersionAttribute()


class EventItem(TableItem, discriminator="webhook_event"):
    tenant_id = UnicodeAttribute()
    event_id = UnicodeAttribute()
    type = UnicodeAttribute()
    created_at = UnicodeAttribute()
    data = JSONAttribute(default=dict)


class DeliveryItem(TableItem, discriminator="webhook_delivery"):
    tenant_id = UnicodeAttribute()
    delivery_id = UnicodeAttribute()
    endpoint_id = UnicodeAttribute()
    event_id = UnicodeAttribute()
    event_type = UnicodeAttribute()
    #: pending (an attempt is owed) | succeeded | failed (gave up, or the endpoint went)
    status = UnicodeAttribute()
    attempts = NumberAttribute(default=0)
    #: newest last, the last :data:`LOG_KEPT`: {at, status_code, latency_ms, response, error}
    log = JSONAttribute(default=list)
    next_attempt_at = UnicodeAttribute(null=True)
    #: why it failed for good (gave_up, endpoint_disabled, endpoint_deleted)
    reason = UnicodeAttribute(null=True)
    #: what made it: "event" or "replay:<job id>" or "retry"
    cause = UnicodeAttribute(default="event")
    created_at = UnicodeAttribute()
    version = VersionAttribute()


LOG_KEPT = 20


# --- generation --------------------------------------------------------------------------
#: the tenant's endpoint generation (core.table.generations: copies bumped in each change's
#: own transaction, one copy read per request)
ENDPOINTS_GENERATION = "webhook_endpoints"


def bump_generation(tx: Transaction, tenant_id: str) -> None:
    generations.bump(tx, tenant_id, ENDPOINTS_GENERATION)


def generation(tenant_id: str) -> int:
    """The tenant's endpoint generation (0: never changed); read once per request."""
    return generations.current(tenant_id, ENDPOINTS_GENERATION)


# --- endpoints ---------------------------------------------------------------------------
def new_endpoint(tenant_id: str, endpoint_id: str, **fields: Any) -> EndpointItem:
    return EndpointItem(keys.webhook_endpoints(tenant_id), keys.webhook_endpoint_sk(endpoint_id),
                        tenant_id=tenant_id, endpoint_id=endpoint_id, **fields)


def create_endpoint(item: EndpointItem) -> None:
    """Cancellation label ``limit:webhook_endpoints`` when the tenant has the most it may."""
    tx = Transaction()
    limits.reserve(tx, item.tenant_id, "webhook_endpoints", MAX_ENDPOINTS)
    tx.save("endpoint", item, condition=EndpointItem.pk.does_not_exist())
    bump_generation(tx, item.tenant_id)
    tx.commit()


def save_endpoint(item: EndpointItem, tx: Transaction | None = None) -> None:
    """Version-checked, with the generation bump (TransactionCancelled on a lost race)."""
    own = tx is None
    tx = tx or Transaction()
    tx.save("endpoint", item)  # PynamoDB adds the version condition
    bump_generation(tx, item.tenant_id)
    if own:
        tx.commit()


def delete_endpoint(item: EndpointItem) -> None:
    tx = Transaction()
    tx.delete("endpoint", item)
    limits.release(tx, item.tenant_id, "webhook_endpoints")
    bump_generation(tx, item.tenant_id)
    tx.commit()


def get_endpoint(tenant_id: str, endpoint_id: str) -> EndpointItem | None:
    try:
        return EndpointItem.get(keys.webhook_endpoints(tenant_id), keys.webhook_endpoint_sk(endpoint_id),
                                consistent_read=True)
    except DoesNotExist:
        return None


def list_endpoints(tenant_id: str) -> list[EndpointItem]:
    return [i for i in EndpointItem.query(keys.webhook_endpoints(tenant_id),
                                          EndpointItem.sk.startswith(keys.WEBHOOK_ENDPOINT_SK_PREFIX),
                                          consistent_read=True) if isinstance(i, EndpointItem)]


def mark_failing(item: EndpointItem, since: str) -> None:
    """Set ``failing_since`` unless set (no version bump: health is not configuration)."""
    try:
        item.update(actions=[EndpointItem.failing_since.set(since)],
                    condition=EndpointItem.pk.exists() & EndpointItem.failing_since.does_not_exist())
    except Exception as exc:  # noqa: BLE001 - UpdateError on a failed condition: already failing
        if not is_condition_failure(exc):
            raise


def clear_failing(item: EndpointItem) -> None:
    try:
        item.update(actions=[EndpointItem.failing_since.remove()],
                    condition=EndpointItem.pk.exists() & EndpointItem.failing_since.exists())
    except Exception as exc:  # noqa: BLE001 - already cleared
        if not is_condition_failure(exc):
            raise


# --- events and deliveries -----------------------------------------------------------------
def _expiry(created_epoch: float) -> int:
    return int(created_epoch) + RETENTION_DAYS * 86400


def new_event(tenant_id: str, event_id: str, event_type: str, created_at: str, data: dict[str, Any],
              created_epoch: float, profile_of: str | None = None) -> EventItem:
    """``profile_of``: the member whose profile (PII) the data carries; such events are
    listed per member so that erasure finds them (the others hold ids and amounts only)."""
    item = EventItem(keys.webhook_event(tenant_id, event_id), keys.WEBHOOK_EVENT_SK, tenant_id=tenant_id,
                     event_id=event_id, type=event_type, created_at=created_at, data=data,
                     ttl=_expiry(created_epoch))
    item.gsi1pk = keys.webhook_events_list(tenant_id, keys.shard_of(event_id, keys.WEBHOOK_LIST_SHARDS))
    item.gsi1sk = f"{created_at}#{event_id}"
    if profile_of:
        item.gsi2pk, item.gsi2sk = keys.webhook_member_events(tenant_id, profile_of), item.gsi1sk
    return item


def scrub_member_events(tenant_id: str, member_id: str, data: dict[str, Any]) -> int:
    """Replace the data of every event carrying the member's profile with ``data``."""
    done = 0
    for item in TableItem.gsi2.query(keys.webhook_member_events(tenant_id, member_id)):
        if isinstance(item, EventItem):
            item.update(actions=[EventItem.data.set(data), EventItem.gsi2pk.remove(), EventItem.gsi2sk.remove()])
            done += 1
    return done


def new_delivery(tenant_id: str, delivery_id: str, endpoint_id: str, event: EventItem, cause: str,
                 created_at: str, due_at: str, created_epoch: float) -> DeliveryItem:
    item = DeliveryItem(keys.webhook_delivery(tenant_id, delivery_id), keys.WEBHOOK_DELIVERY_SK,
                        tenant_id=tenant_id, delivery_id=delivery_id, endpoint_id=endpoint_id,
                        event_id=event.event_id, event_type=event.type, status="pending", attempts=0, log=[],
                        cause=cause, created_at=created_at, ttl=_expiry(created_epoch))
    shard = keys.shard_of(delivery_id, keys.WEBHOOK_LIST_SHARDS)
    item.gsi1pk = keys.webhook_deliveries_list(tenant_id, endpoint_id, shard)
    item.gsi1sk = f"{created_at}#{delivery_id}"
    set_due(item, due_at)
    return item


def set_due(item: DeliveryItem, due_at: str | None) -> None:
    """List the delivery by its next attempt (None: nothing owed, out of the due list)."""
    item.next_attempt_at = due_at
    if due_at is None:
        item.gsi2pk = item.gsi2sk = None
    else:
        item.gsi2pk = keys.webhook_due(keys.shard_of(item.delivery_id, keys.WEBHOOK_DUE_SHARDS))
        item.gsi2sk = f"{due_at}#{item.pk}"


def put_new(item: EventItem | DeliveryItem) -> bool:
    """A single conditional put (False: it exists, e.g. a redelivered signal made it)."""
    try:
        item.save(condition=TableItem.pk.does_not_exist())
    except PutError as exc:
        if is_condition_failure(exc):
            return False
        raise
    return True


def save_delivery(item: DeliveryItem) -> None:
    """Version-checked (StaleVersion: another sender touched it first)."""
    save_versioned(item)


def get_event(tenant_id: str, event_id: str) -> EventItem | None:
    try:
        return EventItem.get(keys.webhook_event(tenant_id, event_id), keys.WEBHOOK_EVENT_SK)
    except DoesNotExist:
        return None


def get_delivery(tenant_id: str, delivery_id: str) -> DeliveryItem | None:
    try:
        return DeliveryItem.get(keys.webhook_delivery(tenant_id, delivery_id), keys.WEBHOOK_DELIVERY_SK,
                                consistent_read=True)
    except DoesNotExist:
        return None


def due(shard: int, up_to: str, limit: int) -> list[DeliveryItem]:
    found = TableItem.gsi2.query(keys.webhook_due(shard), TableItem.gsi2sk <= f"{up_to}#~", limit=limit)
    return [i for i in found if isinstance(i, DeliveryItem)]


def list_deliveries(tenant_id: str, endpoint_id: str, below: str | None, status: str | None,
                    limit: int) -> tuple[list[DeliveryItem], bool]:
    """Newest first across the endpoint's shards (merge of one query per shard); ``below``
    is the exclusive upper bound of the sort key. (items, more)."""
    runs: list[list[DeliveryItem]] = []
    more = False
    for shard in range(keys.WEBHOOK_LIST_SHARDS):
        condition = TableItem.gsi1sk < below if below else None
        flt = DeliveryItem.status == status if status else None
        rows: list[DeliveryItem] = []
        result = TableItem.gsi1.query(keys.webhook_deliveries_list(tenant_id, endpoint_id, shard), condition,
                                      filter_condition=flt, scan_index_forward=False, page_size=limit)
        for row in result:
            if isinstance(row, DeliveryItem):
                rows.append(row)
            if len(rows) > limit:
                break
        more = more or len(rows) > limit
        runs.append(rows[:limit])
    merged = list(heapq.merge(*runs, key=lambda d: d.gsi1sk or "", reverse=True))
    return merged[:limit], more or len(merged) > limit


def events_between(tenant_id: str, shard: int, since: str, until: str, after: str | None,
                   limit: int) -> list[EventItem]:
    """One shard's event objects created in [since, until), oldest first, after ``after``."""
    low = after if after else since
    condition = TableItem.gsi1sk.between(low, f"{until}")
    rows = TableItem.gsi1.query(keys.webhook_events_list(tenant_id, shard), condition, limit=limit + 1,
                                page_size=limit + 1)
    found = [r for r in rows if isinstance(r, EventItem) and r.gsi1sk != after and r.gsi1sk < until]
    return found[:limit]
