"""Events in: each one, in a single transaction, claims its ``event_id`` (a resent event
changes nothing), lands on the member's timeline, records or refunds its order, and moves
the member's standing (aggregates, stage, tier) through the tiers capability.

A transaction lost to a concurrent event for the same member (the standing's version
moved) is retried with a fresh read, so totals stay exact under any concurrency.

What other capabilities do because of an event (tag rules, journey triggers and goals) is
raised as :data:`EVENT_RECORDED` in that same transaction (``core.signals``): it happens at
least once even when this process dies right after the commit.
"""
from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

from pydantic import TypeAdapter, ValidationError

from ..core import clock, observability as obs
from ..core.participants import Join
from ..core.signals import Signal
from ..core.errors import Conflict, Problem, Unprocessable
from ..core.table import cursor, keys
from ..core.table.transactions import Transaction, TransactionCancelled, backoff, retrying
from ..core.tenancy import TenantContext
from ..members import service as members
from ..tenants import service as tenants
from ..tiers import rules
from ..tiers import service as tiers
from . import store
from .schemas import (
    ChangeOut,
    Event,
    EventBatch,
    EventResult,
    EventResults,
    Interaction,
    OrderCompleted,
    OrderPaid,
    OrderRefunded,
    Timeline,
    TimelineEntry,
    TimelineQuery,
)

MAX_ATTEMPTS = 60
AnyEvent = OrderPaid | OrderRefunded | OrderCompleted | Interaction


@lru_cache(maxsize=1)
def _event_adapter() -> TypeAdapter[Any]:
    """Built on the first event, not at import: it builds every event model's schema."""
    return TypeAdapter(Event)


class _Duplicate(Exception):
    pass


#: Raised in the transaction of every accepted event and domain event; receivers (tag rules,
#: journey triggers and goals) get ``{"event": {...}, "occurred_at": iso}`` at least once.
EVENT_RECORDED = Signal("activity.event_recorded")
#: Staged in the transaction of every ``order.paid``: participants (coupon redemption) write in
#: it or refuse the order with a Problem. Data: order_id, amount, currency, items, coupon_codes,
#: group_code, event_id, occurred_at.
ORDER_PAID = Join("activity.order_paid")


def ingest(ctx: TenantContext, batch: EventBatch) -> EventResults:
    results = [_one(ctx, index, raw) for index, raw in enumerate(batch.events)]
    counts = {s: sum(1 for r in results if r.status == s) for s in ("accepted", "duplicate", "rejected")}
    obs.count("EventsAccepted", ctx.tenant_id, counts["accepted"])
    return EventResults(results=results, accepted=counts["accepted"], duplicates=counts["duplicate"],
                        rejected=counts["rejected"])


def _one(ctx: TenantContext, index: int, raw: Any) -> EventResult:
    event_id = raw.get("event_id") if isinstance(raw, dict) else None
    event_id = event_id if isinstance(event_id, str) else None
    try:
        event = _event_adapter().validate_python(raw)
    except ValidationError as exc:
        err = exc.errors(include_url=False, include_input=False)[0]
        if err["type"].startswith("union_tag"):
            path = "type"
        else:  # loc starts with the event type (the union's tag); the rest is the client's path
            path = ".".join(str(p) for p in err["loc"][1:] if not str(p).startswith(("function", "constrained")))
        problem = Unprocessable(err["msg"], field=f"events[{index}].{path}".rstrip("."))
        return EventResult(event_id=event_id, status="rejected", error=problem.to_dict())
    try:
        return _apply(ctx, event)
    except Problem as problem:
        if problem.field and not problem.field.startswith("events["):
            problem.field = f"events[{index}].{problem.field}"
        return EventResult(event_id=event.event_id, status="rejected", error=problem.to_dict())


def _resolve(ctx: TenantContext, event: AnyEvent) -> str:
    ref = event.member
    create = tenants.tenant_settings(ctx.tenant_id).unknown_identity == "create"
    try:
        return members.resolve_member(ctx, ref.id, ref.phone, ref.email, dict(ref.channel_ids), create_unknown=create)
    except Problem as problem:
        if problem.field in ("phone", "email") or (problem.field or "").startswith("channel_ids"):
            problem.field = f"member.{problem.field}"
        raise


def _apply(ctx: TenantContext, event: AnyEvent) -> EventResult:
    claim = store.get_claim(ctx.tenant_id, event.event_id)
    if claim is not None:
        return EventResult(event_id=event.event_id, status="duplicate", member_id=claim.member_id)
    member_id = _resolve(ctx, event)
    config = tiers.load_config(ctx.tenant_id)
    if isinstance(event, OrderPaid) and event.currency != config.currency:
        raise Unprocessable(f"This tenant counts spend in {config.currency}.", field="currency",
                            code="currency_mismatch")
    def attempt(_: int) -> list[rules.Change]:
        now = clock.now()
        return _commit(ctx.tenant_id, member_id, event, config, event.occurred_at or now, now)

    try:
        changes = retrying(attempt, attempts=MAX_ATTEMPTS, pause=lambda n: backoff(n, cap=0.25),
                           conflict="The member is receiving too many events at once; resend this one.")
    except _Duplicate:
        return EventResult(event_id=event.event_id, status="duplicate", member_id=member_id)
    tiers.record_changes(ctx.tenant_id, changes)
    return EventResult(event_id=event.event_id, status="accepted", member_id=member_id,
                       changes=[ChangeOut(dimension=c.dimension, old=c.old, new=c.new, reason=c.reason)
                                for c in changes])


def _unused(event: AnyEvent) -> set[str]:
    """Fields left out of what is stored when absent (an order without coupons looks as before)."""
    if not isinstance(event, OrderPaid):
        return set()
    return ({"coupon_codes"} if not event.coupon_codes else set()) | ({"group_code"} if not event.group_code else set())


def _payload(event: AnyEvent, occurred: datetime) -> dict[str, Any]:
    payload = event.model_dump(mode="json", exclude={"member", *_unused(event)})
    payload["occurred_at"] = clock.iso(occurred)  # as recorded (defaulted to arrival when absent)
    return payload


def _commit(tenant_id: str, member_id: str, event: AnyEvent,
            config: tiers.Config, occurred: datetime, now: datetime) -> list[rules.Change]:
    tx = Transaction()
    occurred_iso, now_iso = clock.iso(occurred), clock.iso(now)
    data = event.model_dump(mode="json", exclude={"event_id", "member", "occurred_at", "type", *_unused(event)})
    mutate: tiers.Mutation | None = None
    store.stage_event(tx, tenant_id, member_id, event.event_id, event.type, occurred_iso, now_iso, data)
    if isinstance(event, OrderPaid):
        month = rules.month_key(occurred, config.timezone)
        store.stage_new_order(tx, store.OrderItem(
            keys.member(tenant_id, member_id), store.order_sk(event.order_id), order_id=event.order_id,
            amount=event.amount, currency=event.currency, occurred_at=occurred_iso, month=month))

        def mutate(s: rules.Standing) -> bool:
            rules.record_order(s, event.amount, occurred, config.timezone)
            return False
        ORDER_PAID.stage(tx, tenant_id, member_id, {
            "order_id": event.order_id, "amount": event.amount, "currency": event.currency,
            "items": [i.model_dump(mode="json") for i in event.items], "coupon_codes": list(event.coupon_codes),
            "group_code": event.group_code, "event_id": event.event_id, "occurred_at": occurred_iso})
    elif isinstance(event, OrderRefunded):
        order = store.get_order(tenant_id, member_id, event.order_id)
        if order is None:
            raise Unprocessable("No paid order with this order_id for this member.", field="order_id",
                                code="unknown_order")
        left = int(order.amount) - int(order.refunded)
        if event.amount > left:
            raise Unprocessable(f"Only {left} of this order is left to refund.", field="amount",
                                code="refund_exceeds_order")
        order.refunded = int(order.refunded) + event.amount
        store.stage_order_update(tx, order)
        fully = order.refunded >= order.amount

        def mutate(s: rules.Standing) -> bool:
            rules.record_refund(s, event.amount, order.month, fully)
            return True
    elif isinstance(event, Interaction):
        def mutate(s: rules.Standing) -> bool:
            rules.record_interaction(s, occurred)
            return False
    # order.completed is recorded (timeline, signal: it releases pending points) and moves no standing
    changes = tiers.stage_event(tx, tenant_id, member_id, config, now, mutate) if mutate else []
    EVENT_RECORDED.stage(tx, tenant_id, member_id, {"event": _payload(event, occurred), "occurred_at": occurred_iso})
    try:
        tx.commit()
    except TransactionCancelled as exc:
        if "claim" in exc.failed:
            raise _Duplicate() from exc
        if "order" in exc.failed and isinstance(event, OrderPaid):
            raise Conflict("This order_id was already recorded for the member (under another event_id).",
                           field="order_id", code="order_exists") from exc
        raise
    return changes


def stage_domain_event(tx: Transaction, tenant_id: str, member_id: str, event_type: str, event_id: str,
                       data: dict[str, Any], occurred_at: datetime | None = None) -> None:
    """What :func:`record_domain_event` writes, staged in ``tx`` (the write that caused it):
    the claim (fails as ``claim`` when ``event_id`` was recorded before), the timeline entry
    and :data:`EVENT_RECORDED`."""
    now = clock.now()
    occurred_iso = clock.iso(occurred_at or now)
    store.stage_event(tx, tenant_id, member_id, event_id, event_type, occurred_iso, clock.iso(now), data)
    EVENT_RECORDED.stage(tx, tenant_id, member_id, {"event": {"type": event_type, "event_id": event_id, **data},
                                                     "occurred_at": occurred_iso})


def record_domain_event(tenant_id: str, member_id: str, event_type: str, event_id: str,
                        data: dict[str, Any], occurred_at: datetime | None = None) -> bool:
    """An event Enclave itself emits (``membership.activated``, ...), for the timeline and
    for journeys to trigger on. ``event_id`` must be derived from the cause (e.g. the Stripe
    event id), so a replay records nothing twice. False if it was recorded before."""
    tx = Transaction()
    stage_domain_event(tx, tenant_id, member_id, event_type, event_id, data, occurred_at)
    try:
        tx.commit()
    except TransactionCancelled as exc:
        if "claim" in exc.failed:
            return False
        raise
    obs.count("DomainEventRecorded", tenant_id)
    return True


def order_amounts(tenant_id: str, member_id: str, order_id: str) -> tuple[int, int] | None:
    """(amount paid, amount refunded so far) of the member's order, or None if unknown."""
    order = store.get_order(tenant_id, member_id, order_id)
    return (int(order.amount), int(order.refunded)) if order is not None else None


def recent_events(tenant_id: str, member_id: str, since: datetime | None, limit: int = 1000) -> list[dict[str, Any]]:
    """The member's events, newest first, back to ``since`` (for rule backfills)."""
    items, _ = store.timeline(tenant_id, member_id, None, limit)
    floor = clock.iso(since) if since else ""
    return [{"type": i.type, "occurred_at": i.occurred_at, "data": dict(i.data)}
            for i in items if i.occurred_at >= floor]


def timeline(ctx: TenantContext, member_id: str, query: TimelineQuery) -> Timeline:
    members.get_member(ctx, member_id)  # 404 / 410 like every member route
    scope = f"timeline|{member_id}"
    before = cursor.decode(query.cursor, ctx.tenant_id, scope) if query.cursor else None
    items, last = store.timeline(ctx.tenant_id, member_id, before, query.limit)
    return Timeline(
        data=[TimelineEntry(event_id=i.event_id, type=i.type, occurred_at=i.occurred_at, received_at=i.received_at,
                            data=i.data) for i in items],
        next_cursor=cursor.encode(ctx.tenant_id, scope, last) if last else None,
    )
