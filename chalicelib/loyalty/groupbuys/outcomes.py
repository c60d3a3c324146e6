"""How a group ends: completed by its last member's ``order.paid`` (the
``activity.ORDER_PAID`` participant, in the order's own transaction) or failed by its
deadline timer. Both are conditional writes on the group's ``status`` leaving ``open``, so
whichever commits first is the only outcome; the other finds the group closed and does
nothing (the order is still recorded: a payment for a failed group is the brand's refund).

The outcome's per-member work runs from a signal staged in that same transaction
(:data:`GROUP_COMPLETED`, :data:`GROUP_FAILED`): at least once, and idempotent per member
(the coupon is claimed under ``group:<code>``, the domain event under its event id).
"""
from __future__ import annotations

from typing import Any

from ...activity import service as activity
from ...core import clock, observability as obs
from ...core.errors import Problem, Unprocessable
from ...core.signals import Delivery, Signal
from ...core.table import counters, keys
from ...core.table.transactions import Transaction, TransactionCancelled, retrying
from ..coupons import codes
from ..coupons import service as coupons
from . import deadlines, store

#: staged when the last member paid; data: code, offer_id
GROUP_COMPLETED = Signal("groupbuys.group_completed")
#: staged when the deadline failed the group; data: code, offer_id
GROUP_FAILED = Signal("groupbuys.group_failed")


def find_code(typed: str) -> str | None:
    """The stored code of what was typed (case, spaces and dashes ignored)."""
    return codes.normalize(typed)


def in_order(tx: Transaction, tenant_id: str, member_id: str, order: dict[str, Any]) -> None:
    """The ``activity.ORDER_PAID`` participant: an order carrying ``group_code`` marks its
    member paid; the payment that makes every seat paid completes the group. An unknown
    code or a member outside the group refuses the order (422, field ``group_code``). It
    reads afresh on every retry of the order's transaction (a lost race on the group)."""
    typed = order.get("group_code")
    if not typed:
        return
    code = find_code(typed)
    group = store.get_group(tenant_id, code) if code else None
    if group is None or code is None:
        raise Unprocessable("No group with this code.", code="group_not_found", field="group_code")
    entry = store.get_member(tenant_id, code, member_id)
    if entry is None:
        raise Unprocessable("This member has not joined the group.", code="not_in_group", field="group_code")
    if entry.order_id is not None:
        return  # the member paid for the group already: a second order counts once
    now = clock.now()
    store.stage_paid(tx, entry, order["order_id"], clock.iso(now))
    if group.status != "open" or clock.iso(now) >= group.deadline:
        # recorded (the brand refunds it): the outcome is decided, or will be by the deadline's
        # timer (a payment after the deadline never completes a group, however late the timer)
        return
    completes = int(group.paid) + 1 >= int(group.size)
    store.stage_group_paid(tx, group, completes, clock.iso(now))
    if completes:
        seconds = max(0, int((now - clock.parse(group.opened_at)).total_seconds()))
        counters.add(tx, keys.group_counter(tenant_id, group.offer_id, "completed"), code, 1)
        counters.add(tx, keys.group_counter(tenant_id, group.offer_id, "completion_seconds"), code, seconds)
        # staged about the payer: the outbox item stays in a member's collection (a tenant-wide one is a hot key)
        GROUP_COMPLETED.stage(tx, tenant_id, member_id, {"code": code, "offer_id": group.offer_id})


def fail(tenant_id: str, code: str) -> bool:
    """Fail the group if it is still open (its deadline passed); False when it was closed
    already (completed by its last payment, or failed by an earlier firing)."""
    def attempt(_: int) -> bool:
        group = store.get_group(tenant_id, code)
        if group is None or group.status != "open":
            return False
        tx = Transaction()
        store.stage_fail(tx, group, clock.iso(clock.now()))
        counters.add(tx, keys.group_counter(tenant_id, group.offer_id, "failed"), code, 1)
        GROUP_FAILED.stage(tx, tenant_id, group.leader_id, {"code": code, "offer_id": group.offer_id})
        try:
            tx.commit()
        except TransactionCancelled as exc:
            if "gb_group" in exc.failed:
                return False  # the last payment won the race
            raise
        return True

    return retrying(attempt, attempts=10, conflict="The group kept changing.")


def on_timer(payload: dict[str, Any]) -> dict[str, Any]:
    """The deadline timer fired (app.py dispatches ``kind == "group_deadline"`` here)."""
    failed = fail(payload["tenant_id"], payload["code"])
    return {"kind": deadlines.KIND, "code": payload["code"], "failed": failed}


def _reward(tenant_id: str, code: str, terms: dict[str, Any], entry: store.GroupMemberItem) -> dict[str, Any]:
    template_id = terms.get("coupon_template_id")
    if not template_id:
        return {"sku": terms.get("sku"), "group_price": terms.get("group_price"), "currency": terms.get("currency"),
                "order_id": entry.order_id}
    try:
        coupon, _ = coupons.issue_for_cause(tenant_id, entry.member_id, template_id, f"group:{code}")
    except Problem as problem:  # archived template, spent budget: retrying would not help
        obs.logger.warning("group-buy coupon not issued", extra={"tenant_id": tenant_id, "code": code,
                                                                 "problem": problem.code})
        return {"coupon_code": None, "error": problem.code}
    return {"coupon_code": coupon.code}


def on_completed(delivery: Delivery) -> None:
    """:data:`GROUP_COMPLETED` receiver: each member's reward (once: the coupon is claimed
    under ``group:<code>``), recorded on their group entry, and ``group.completed`` on their
    timeline (journeys trigger on it); the deadline timer is cancelled."""
    tenant_id, code = delivery.tenant_id, delivery.data["code"]
    group = store.get_group(tenant_id, code)
    if group is None or group.status != "completed":
        return
    deadlines.cancel(tenant_id, code)
    terms = dict(group.terms)
    for entry in store.group_members(tenant_id, code):
        reward = dict(entry.reward) if entry.reward is not None else _reward(tenant_id, code, terms, entry)
        if entry.reward is None:
            store.set_reward(entry, reward)
        activity.record_domain_event(tenant_id, entry.member_id, "group.completed",
                                     f"group.completed:{code}:{entry.member_id}",
                                     {"code": code, "offer_id": group.offer_id, "group_size": int(group.size),
                                      "reward": reward})


def on_failed(delivery: Delivery) -> None:
    """:data:`GROUP_FAILED` receiver: ``group.failed`` on each member's timeline (journeys
    notify them; the brand refunds those who paid). Nobody is rewarded."""
    tenant_id, code = delivery.tenant_id, delivery.data["code"]
    group = store.get_group(tenant_id, code)
    if group is None or group.status != "failed":
        return
    for entry in store.group_members(tenant_id, code):
        activity.record_domain_event(tenant_id, entry.member_id, "group.failed",
                                     f"group.failed:{code}:{entry.member_id}",
                                     {"code": code, "offer_id": group.offer_id, "paid": entry.order_id is not None,
                                      "order_id": entry.order_id})
