"""Points from events: the receiver of ``activity.EVENT_RECORDED``.

Delivered at least once (core.signals): every write claims the event id
(``POINTS#EV#<event_id>``) in the same transaction as its ledger entries, so a redelivered
event earns or reverses once. ``order.completed`` only releases a pending lot, which is
idempotent by itself.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ...core import clock, observability as obs
from ...core.signals import Delivery
from ...core.table import keys
from ...core.table.transactions import TransactionCancelled, backoff, retrying
from ...tiers import service as tiers
from . import ledger, rules, store
from .ledger import Lot
from .posting import Posting
from .program import Loaded, load

MAX_ATTEMPTS = 40
_DAY_CAP_TTL = timedelta(days=3)


class _Done(Exception):
    """The event was applied before (its claim exists)."""


def on_event(delivery: Delivery) -> None:
    event = delivery.data.get("event") or {}
    handler = _HANDLERS.get(event.get("type", ""))
    if handler is None or delivery.member_id is None:
        return
    loaded = load(delivery.tenant_id)
    if not loaded.exists:
        return
    occurred = clock.parse(delivery.data.get("occurred_at") or event.get("occurred_at") or clock.iso(clock.now()))
    handler(delivery.tenant_id, delivery.member_id, loaded, event, occurred)


def wants_event(tenant_id: str, data: dict[str, Any]) -> bool:
    """``wants`` of :func:`on_event`: an event type that earns or reverses, and a program."""
    event = data.get("event") or {}
    return event.get("type", "") in _HANDLERS and load(tenant_id).exists


def _run(write: Any) -> None:
    def attempt(_: int) -> None:
        try:
            write()
        except TransactionCancelled as exc:
            if "claim" in exc.failed:
                raise _Done() from exc
            raise

    try:
        retrying(attempt, attempts=MAX_ATTEMPTS, pause=lambda n: backoff(n, cap=0.25),
                 conflict="The member's points kept changing.")
    except _Done:
        obs.count("PointsEventRedelivered", "-")


def _order_paid(tenant_id: str, member_id: str, loaded: Loaded, event: dict[str, Any], occurred: datetime) -> None:
    program = loaded.program
    tier_pct = rules.tier_percent(tiers.member_benefits(tenant_id, member_id)) if program.tier_multipliers else 100
    points = rules.order_points(program, int(event["amount"]), list(event.get("items") or []), tier_pct)
    if points <= 0:
        return
    order_id = str(event["order_id"])

    def write() -> None:
        p = Posting.open(tenant_id, member_id, program, loaded.timezone)
        p.claim(event["event_id"])
        release = occurred + timedelta(days=program.pending_days)
        lot = Lot(id=f"o-{event['event_id']}", points=points, earned=points, earned_at=clock.iso(occurred),
                  available_at=clock.iso(release) if release > p.now else None,
                  expires_at=p.expires_at(occurred), order_id=order_id)
        ledger.add_lot(p.balance, lot)
        entry = p.entry("earn", points, {"event_id": event["event_id"], "order_id": order_id, "rule_id": "order",
                                         "tier_percent": tier_pct}, effective_at=clock.iso(occurred))
        store.stage_order(p.tx, store.new_order(tenant_id, member_id, order_id, int(event["amount"]), points))
        p.domain_event("points.earned", f"points.earned:{entry.entry_id}",
                       {"points": points, "order_id": order_id, "pending": lot.available_at is not None})
        p.commit()

    _run(write)


def _order_refunded(tenant_id: str, member_id: str, loaded: Loaded, event: dict[str, Any],
                    occurred: datetime) -> None:  # noqa: ARG001
    order_id = str(event["order_id"])

    def write() -> None:
        order = store.get_order(tenant_id, member_id, order_id)
        if order is None:
            return  # the order earned nothing
        p = Posting.open(tenant_id, member_id, loaded.program, loaded.timezone)
        p.claim(event["event_id"])
        order.refunded = int(order.refunded) + int(event["amount"])
        due = rules.reversal(int(order.earned), int(order.amount), int(order.refunded), int(order.reversed))
        result = ledger.reverse(p.balance, order_id, due, loaded.program.allow_negative)
        order.reversed = int(order.reversed) + result.reversed
        store.stage_order(p.tx, order)
        if due:
            p.entry("reverse", -result.reversed, {"event_id": event["event_id"], "order_id": order_id,
                                                  "policy": loaded.program.refund_policy}, shortfall=result.shortfall)
        p.commit()

    _run(write)


def _order_completed(tenant_id: str, member_id: str, loaded: Loaded, event: dict[str, Any],
                     occurred: datetime) -> None:  # noqa: ARG001
    order_id = str(event["order_id"])

    def write() -> None:
        item = store.get_balance(tenant_id, member_id)
        lot = ledger.Balance.load(item.data).lot_of_order(order_id) if item else None
        if lot is None or lot.available_at is None:
            return
        p = Posting.open(tenant_id, member_id, loaded.program, loaded.timezone)
        ledger.release_order(p.balance, order_id, p.now_iso)
        p.apply_time()
        p.commit()

    _run(write)


def _interaction(tenant_id: str, member_id: str, loaded: Loaded, event: dict[str, Any], occurred: datetime) -> None:
    props = event.get("properties") or {}
    matching = [r for r in loaded.program.interactions if r.matches(str(event.get("name")), props)
                and (r.once_per is None or props.get(r.once_per) is not None)]
    if not matching:
        return
    day = rules.local_day(occurred, loaded.timezone)
    ttl = int((occurred + _DAY_CAP_TTL).timestamp())

    def caps_of(rule: rules.InteractionRule) -> list[tuple[str, int, int | None]]:
        caps: list[tuple[str, int, int | None]] = []
        if rule.per_day:
            caps.append((keys.points_cap_day_sk(rule.id, day), rule.per_day, ttl))
        if rule.lifetime:
            caps.append((keys.points_cap_life_sk(rule.id), rule.lifetime, None))
        if rule.once_per:
            caps.append((keys.points_cap_value_sk(rule.id, rules.value_hash(props[rule.once_per])), 1, None))
        return caps

    def write() -> None:
        wanted = {rule.id: caps_of(rule) for rule in matching}
        counts = store.cap_counts(tenant_id, member_id, [sk for caps in wanted.values() for sk, _, _ in caps])
        earning = [r for r in matching if all(counts[sk] < limit for sk, limit, _ in wanted[r.id])]
        if not earning:
            return
        p = Posting.open(tenant_id, member_id, loaded.program, loaded.timezone)
        p.claim(event["event_id"])
        total = 0
        for rule in earning:
            for sk, limit, expires in wanted[rule.id]:
                store.stage_cap(p.tx, tenant_id, member_id, sk, limit, expires)
            ledger.add_lot(p.balance, Lot(id=f"i-{event['event_id']}-{rule.id}", points=rule.points,
                                          earned=rule.points, earned_at=clock.iso(occurred),
                                          expires_at=p.expires_at(occurred)))
            entry = p.entry("earn", rule.points, {"event_id": event["event_id"], "rule_id": rule.id},
                            effective_at=clock.iso(occurred))
            total += rule.points
        p.domain_event("points.earned", f"points.earned:{entry.entry_id}",
                       {"points": total, "rules": [r.id for r in earning], "pending": False})
        p.commit()

    _run(write)


_HANDLERS = {"order.paid": _order_paid, "order.refunded": _order_refunded, "order.completed": _order_completed,
             "interaction": _interaction}
