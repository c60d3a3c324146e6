"""A referral after sign-up: conversion on the referee's first qualifying ``order.paid``,
rewards (exactly once), clawback on a refund of the converting order within the window,
and an admin's approval or rejection of a held referral.

Conversion and clawback are an ``activity.EVENT_RECORDED`` receiver (delivered at least
once, after the order's commit): each is a version-checked move of the referral item, so a
redelivered event finds the move made and does nothing. The move stages
``REFERRAL_SETTLE`` in its own transaction; the settle receiver grants the rewards (points
and coupons claim ``referral:<id>:<side>``: once however often it runs) and marks the
referral rewarded, or, after a reversal, takes them back (a points grant taken back before
it landed never lands)."""
from __future__ import annotations

from typing import Any

from ...core import clock, observability as obs
from ...core.errors import Conflict, NotFound, Problem
from ...core.ids import is_id
from ...core.signals import Delivery
from ...core.table import generations
from ...core.table.transactions import Transaction, retrying
from ...core.tenancy import TenantContext
from ..coupons import service as coupons
from ..points import service as points_service
from . import moves, programs, rules, store

MAX_ATTEMPTS = 20
_LIMIT_LABELS = "referral:limit:"


def _retrying(attempt: Any) -> Any:
    return retrying(attempt, attempts=MAX_ATTEMPTS, conflict="The referral kept changing; try again.")


def _program(tenant_id: str, program_id: str) -> rules.Program | None:
    item = programs.cached(tenant_id, program_id)
    return programs.as_rules(item) if item else None


# --- events in ---------------------------------------------------------------------------------------
def wants_event(tenant_id: str, data: dict[str, Any]) -> bool:
    """``wants`` of :func:`on_event`: orders and refunds, of a tenant that ever had a referral
    program (its programs' generation moves on every program write; read with the request's
    other generations), so an event of any other tenant stages no outbox item for referrals."""
    kind = (data.get("event") or {}).get("type")
    return kind in ("order.paid", "order.refunded") and generations.current(tenant_id, programs.PROGRAM_GENERATION) > 0


def on_event(delivery: Delivery) -> None:
    """``activity.EVENT_RECORDED`` receiver: ``order.paid`` may convert, ``order.refunded`` may claw back."""
    event = delivery.data.get("event") or {}
    kind = event.get("type")
    if kind not in ("order.paid", "order.refunded") or not delivery.member_id:
        return
    marker = store.get_referee(delivery.tenant_id, delivery.member_id)
    if marker is None:
        return  # not a referred member: one read per order, on the asynchronous path
    at = rules.parse(delivery.data.get("occurred_at") or event.get("occurred_at")) or clock.now()
    if kind == "order.paid":
        _convert(delivery.tenant_id, marker.referral_id, str(event["order_id"]), int(event.get("amount") or 0))
    else:
        _claw_back(delivery.tenant_id, marker.referral_id, str(event["order_id"]), at)


def _convert(tenant_id: str, referral_id: str, order_id: str, amount: int) -> None:
    def attempt(_: int) -> None:
        item = store.get_referral(tenant_id, referral_id)
        program = _program(tenant_id, item.program_id) if item else None
        if item is None or program is None or item.status != "pending" or not rules.qualifies(program, amount):
            return
        now = clock.now()
        tx = Transaction()
        if moves.limits_full(tenant_id, program, item.referrer_id, now):
            _reject(tx, tenant_id, item, "referrer_limit", now)
        else:
            moves.convert(tx, tenant_id, program, item, now, order_id)
            stat = store.get_stat(tenant_id, item.referrer_id, item.program_id)
            store.stage_stat(tx, tenant_id, item.referrer_id, item.program_id, stat, 0, 1)
        item.updated_at = clock.iso(now)
        store.stage_referral(tx, item)
        tx.commit()  # a limit taken meanwhile, or a concurrent move: read again

    _retrying(attempt)


def _reject(tx: Transaction, tenant_id: str, item: store.ReferralItem, reason: str, now: Any) -> None:
    was_held = item.status == "held"
    item.status, item.reasons = "rejected", [*item.reasons, reason]
    store.place_held(item, tenant_id)
    moves.count(tx, tenant_id, item.program_id, item.referral_id, rejected=1, held=-1 if was_held else 0)
    moves.events(tx, tenant_id, item, "rejected", now)


def _claw_back(tenant_id: str, referral_id: str, order_id: str, refunded_at: Any) -> None:
    def attempt(_: int) -> None:
        item = store.get_referral(tenant_id, referral_id)
        program = _program(tenant_id, item.program_id) if item else None
        if item is None or program is None or item.order_id != order_id or item.status not in ("converted",
                                                                                               "rewarded"):
            return
        converted = rules.parse(item.converted_at)
        if converted is None or not rules.within_clawback(program, converted, refunded_at):
            return  # a refund after the window keeps the rewards
        now = clock.now()
        was_rewarded = item.status == "rewarded"
        item.status, item.reversed_at, item.updated_at = "reversed", clock.iso(now), clock.iso(now)
        tx = Transaction()
        store.stage_referral(tx, item)
        moves.count(tx, tenant_id, item.program_id, item.referral_id, reversed=1,
                    rewards_reversed=moves.rewarded_sides(item) if was_rewarded else 0)
        moves.events(tx, tenant_id, item, "reversed", now)
        moves.REFERRAL_SETTLE.stage(tx, tenant_id, item.referee_id, {"referral_id": item.referral_id})
        tx.commit()

    _retrying(attempt)


# --- rewards ------------------------------------------------------------------------------------------
def settle(delivery: Delivery) -> None:
    """``REFERRAL_SETTLE`` receiver: reward a converted referral, or take a reversed one's rewards back."""
    tenant_id, referral_id = delivery.tenant_id, str(delivery.data["referral_id"])
    item = store.get_referral(tenant_id, referral_id)
    if item is None:
        return
    if item.status == "converted":
        _reward(tenant_id, item)
    elif item.status == "reversed":
        _take_back(tenant_id, item)


def _sides(item: store.ReferralItem) -> list[tuple[str, str, dict[str, Any]]]:
    rewards = dict(item.rewards or {})
    return [(side, member_id, dict(rewards.get(side) or {})) for side, member_id in
            (("referrer", item.referrer_id), ("referee", item.referee_id))]


def _reward(tenant_id: str, item: store.ReferralItem) -> None:
    for side, member_id, reward in _sides(item):
        cause = f"referral:{item.referral_id}:{side}"
        if reward.get("type") == "points":
            points_service.grant(tenant_id, member_id, int(reward["points"]), cause, "referral")
        elif reward.get("type") == "coupon":
            try:
                coupons.issue_for_cause(tenant_id, member_id, str(reward["coupon_template_id"]), cause)
            except Problem as problem:  # archived / spent template: retrying would not help
                obs.logger.warning("referral coupon not issued", extra={"code": problem.code, "tenant_id": tenant_id,
                                                                        "referral_id": item.referral_id})

    def attempt(_: int) -> None:
        fresh = store.get_referral(tenant_id, item.referral_id)
        if fresh is None or fresh.status != "converted":
            return  # rewarded by a concurrent delivery, or reversed meanwhile (its settle takes back)
        now = clock.now()
        fresh.status, fresh.rewarded_at, fresh.updated_at = "rewarded", clock.iso(now), clock.iso(now)
        tx = Transaction()
        store.stage_referral(tx, fresh)
        moves.count(tx, tenant_id, fresh.program_id, fresh.referral_id, rewarded=1,
                    rewards_given=moves.rewarded_sides(fresh))
        moves.events(tx, tenant_id, fresh, "rewarded", now)
        tx.commit()

    _retrying(attempt)
    obs.count("ReferralRewarded", tenant_id)


def _take_back(tenant_id: str, item: store.ReferralItem) -> None:
    for side, member_id, reward in _sides(item):
        cause = f"referral:{item.referral_id}:{side}"
        if reward.get("type") == "points":
            points_service.take_back(tenant_id, member_id, int(reward["points"]), cause, "referral reversed")
        elif reward.get("type") == "coupon":
            coupons.void_for_cause(tenant_id, member_id, cause)


# --- review -------------------------------------------------------------------------------------------
def load(ctx: TenantContext, referral_id: str) -> store.ReferralItem:
    item = store.get_referral(ctx.tenant_id, referral_id) if is_id(referral_id) else None
    if item is None:
        raise NotFound("No such referral.", code="referral_not_found")
    return item


def approve(ctx: TenantContext, referral_id: str) -> store.ReferralItem:
    """Held -> pending (or converted at once when the program converts on sign-up)."""
    def attempt(_: int) -> store.ReferralItem:
        item = load(ctx, referral_id)
        if item.status != "held":
            raise Conflict(f"Only a held referral is approved; this one is {item.status}.", code="referral_not_held")
        program = _program(ctx.tenant_id, item.program_id)
        now = clock.now()
        tx = Transaction()
        item.status, item.updated_at = "pending", clock.iso(now)
        store.place_held(item, ctx.tenant_id)
        moves.count(tx, ctx.tenant_id, item.program_id, item.referral_id, held=-1)
        moves.events(tx, ctx.tenant_id, item, "approved", now)
        if program is not None and program.conversion.get("type") == "signup":
            if moves.limits_full(ctx.tenant_id, program, item.referrer_id, now):
                item.status = "pending"
                _reject(tx, ctx.tenant_id, item, "referrer_limit", now)
            else:
                moves.convert(tx, ctx.tenant_id, program, item, now, None)
                stat = store.get_stat(ctx.tenant_id, item.referrer_id, item.program_id)
                store.stage_stat(tx, ctx.tenant_id, item.referrer_id, item.program_id, stat, 0, 1)
        store.stage_referral(tx, item)
        tx.commit()
        return item

    return _retrying(attempt)


def reject(ctx: TenantContext, referral_id: str) -> store.ReferralItem:
    """Held or pending -> rejected (``rejected_by_admin``): it will never be rewarded."""
    def attempt(_: int) -> store.ReferralItem:
        item = load(ctx, referral_id)
        if item.status not in ("held", "pending"):
            raise Conflict(f"A {item.status} referral cannot be rejected.", code="referral_not_open")
        now = clock.now()
        item.updated_at = clock.iso(now)
        tx = Transaction()
        _reject(tx, ctx.tenant_id, item, "rejected_by_admin", now)
        store.stage_referral(tx, item)
        tx.commit()
        return item

    return _retrying(attempt)
