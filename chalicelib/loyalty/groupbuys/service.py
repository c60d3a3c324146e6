"""Group-buys: offers (admin), opening a group under a join code, joining it, reading it,
and the offer's figures. How a group ends (its last payment, its deadline) is in
``outcomes``; its deadline timer in ``deadlines``.

Opening is one transaction: the offer as read (active, same version), the stock of groups
(``opened < stock``), the code's claim (a conditional put; a collision draws again), the
leader's seat, the leader's per-offer count (``< per_member_limit``), the counters and the
:data:`deadlines.GROUP_OPENED` signal that starts the deadline timer. Joining is one
transaction too: one more seat on the group item only while ``joined < size`` (so the
k+1-th of any number of racers gets 409 ``group_full``), the member's own seat (a member
joins once) and the member's per-offer count.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from ...core import clock, observability as obs
from ...core.errors import Conflict, NotFound, Problem, Unprocessable
from ...core.ids import is_id, new_id
from ...core.table import counters, cursor, keys
from ...core.table.transactions import Transaction, TransactionCancelled, retrying
from ...core.tenancy import TenantContext
from ...members import service as members
from ..coupons import codes
from ..coupons import service as coupons
from . import deadlines, outcomes, store
from .schemas import (
    GroupMemberOut,
    GroupOut,
    JoinIn,
    OfferAnalytics,
    OfferCreate,
    OfferList,
    OfferListQuery,
    OfferOut,
    OfferPatch,
    OpenGroupIn,
)

CODE_LENGTH = 6
MAX_ATTEMPTS = 30

# what app.py wires (the ORDER_PAID participant, signal receivers, the timer port and dispatch)
in_order = outcomes.in_order
on_completed = outcomes.on_completed
on_failed = outcomes.on_failed
on_group_opened = deadlines.on_group_opened
on_timer = outcomes.on_timer
use_timers = deadlines.use_timers
TIMER_KIND = deadlines.KIND
GROUP_OPENED = deadlines.GROUP_OPENED
GROUP_COMPLETED = outcomes.GROUP_COMPLETED
GROUP_FAILED = outcomes.GROUP_FAILED


# --- offers ----------------------------------------------------------------------------------------
def _offer_out(item: store.OfferItem, opened: int) -> OfferOut:
    return OfferOut(
        id=item.offer_id, name=item.name, status=item.status,  # type: ignore[arg-type]
        sku=item.sku, group_price=_int(item.group_price), currency=item.currency,
        coupon_template_id=item.coupon_template_id, group_size=int(item.group_size),
        time_limit_minutes=int(item.time_limit_minutes), per_member_limit=int(item.per_member_limit),
        leaders=item.leaders, leader_segment_id=item.leader_segment_id,  # type: ignore[arg-type]
        stock=_int(item.stock), groups_opened=opened, created_at=item.created_at, updated_at=item.updated_at)


def _int(value: Any) -> int | None:
    return int(value) if value is not None else None


def _load_offer(tenant_id: str, offer_id: str) -> store.OfferItem:
    item = store.get_offer(tenant_id, offer_id) if is_id(offer_id) else None
    if item is None:
        raise NotFound("No group offer with this id.", code="group_offer_not_found")
    return item


def create_offer(ctx: TenantContext, body: OfferCreate) -> OfferOut:
    if body.coupon_template_id is not None and not coupons.template_exists(ctx.tenant_id, body.coupon_template_id):
        raise Unprocessable("No coupon template with this id.", code="coupon_template_not_found",
                            field="coupon_template_id")
    if body.leader_segment_id is not None:
        from ...segments import service as segments

        try:
            segments.get_segment(ctx, body.leader_segment_id)
        except NotFound as exc:
            raise Unprocessable("No segment with this id.", code="segment_not_found",
                                field="leader_segment_id") from exc
    now = clock.iso(clock.now())
    item = store.new_offer(ctx.tenant_id, new_id(), now, status="active",
                           **body.model_dump(exclude={"name"}), name=body.name)
    tx = Transaction()
    store.stage_new_offer(tx, item)
    tx.commit()
    return _offer_out(item, 0)


def get_offer(ctx: TenantContext, offer_id: str) -> OfferOut:
    item = _load_offer(ctx.tenant_id, offer_id)
    return _offer_out(item, store.opened(ctx.tenant_id, [offer_id]).get(offer_id, 0))


def list_offers(ctx: TenantContext, query: OfferListQuery) -> OfferList:
    scope = "group-offers"
    before = cursor.decode(query.cursor, ctx.tenant_id, scope) if query.cursor else None
    items, last = store.list_offers(ctx.tenant_id, before, query.limit)
    opened = store.opened(ctx.tenant_id, [i.offer_id for i in items]) if items else {}
    return OfferList(data=[_offer_out(i, opened.get(i.offer_id, 0)) for i in items],
                     next_cursor=cursor.encode(ctx.tenant_id, scope, last) if last else None)


def update_offer(ctx: TenantContext, offer_id: str, body: OfferPatch) -> OfferOut:
    """Name, stock and status; a group's terms were fixed when it opened."""
    given = body.model_fields_set

    def attempt(_: int) -> store.OfferItem:
        item = _load_offer(ctx.tenant_id, offer_id)
        if body.name is not None:
            item.name = body.name
        if "stock" in given:
            item.stock = body.stock
        if body.status is not None:
            item.status = body.status
        item.updated_at = clock.iso(clock.now())
        tx = Transaction()
        store.stage_offer_update(tx, item)
        tx.commit()
        return item

    item = retrying(attempt, attempts=5, conflict="The offer kept changing; try again.")
    return _offer_out(item, store.opened(ctx.tenant_id, [offer_id]).get(offer_id, 0))


# --- groups ----------------------------------------------------------------------------------------
def _may_lead(ctx: TenantContext, offer: store.OfferItem, member_id: str) -> None:
    if offer.leaders == "members":
        from ...tiers import service as tiers

        standing = tiers.standings(ctx.tenant_id, [member_id]).get(member_id)
        if standing is None or standing.orders < 1:
            raise Unprocessable("Only members with a paid order may lead this offer's groups.",
                                code="not_eligible_to_lead", field="leader_id")
    elif offer.leaders == "segment" and offer.leader_segment_id:
        from ...segments import service as segments

        try:
            inside = segments.contains(ctx, offer.leader_segment_id, member_id)
        except NotFound:
            inside = False  # the segment was deleted: nobody qualifies
        if not inside:
            raise Unprocessable("This member is not in the segment that may lead this offer's groups.",
                                code="not_eligible_to_lead", field="leader_id")


def open_group(ctx: TenantContext, offer_id: str, body: OpenGroupIn) -> GroupOut:
    offer = _load_offer(ctx.tenant_id, offer_id)
    members.get_member(ctx, body.leader_id)  # 404 / 410
    _may_lead(ctx, offer, body.leader_id)

    def attempt(_: int) -> str:
        fresh = _load_offer(ctx.tenant_id, offer_id)
        if fresh.status != "active":
            raise Conflict("This offer is archived: no new groups.", code="offer_archived")
        if fresh.stock is not None and store.opened(ctx.tenant_id, [offer_id]).get(offer_id, 0) >= int(fresh.stock):
            raise _sold_out()
        now = clock.now()
        code = codes.new_code(length=CODE_LENGTH)
        deadline = clock.iso(now + timedelta(minutes=int(fresh.time_limit_minutes)))
        terms = {"sku": fresh.sku, "group_price": _int(fresh.group_price), "currency": fresh.currency,
                 "coupon_template_id": fresh.coupon_template_id}
        group = store.new_group(ctx.tenant_id, code, offer_id=offer_id, leader_id=body.leader_id,
                                size=int(fresh.group_size), joined=1, paid=0, status="open",
                                opened_at=clock.iso(now), deadline=deadline, terms=terms)
        tx = Transaction()
        store.stage_offer_open(tx, fresh)
        store.stage_stock(tx, fresh)
        store.stage_new_group(tx, group)
        store.stage_new_member(tx, store.new_member(ctx.tenant_id, code, body.leader_id, leader="yes",
                                                    joined_at=clock.iso(now)))
        store.stage_joins(tx, ctx.tenant_id, body.leader_id, offer_id, int(fresh.per_member_limit))
        for metric in ("opened", "joined"):
            counters.add(tx, keys.group_counter(ctx.tenant_id, offer_id, metric), code, 1)
        deadlines.GROUP_OPENED.stage(tx, ctx.tenant_id, body.leader_id, {"code": code, "deadline": deadline})
        try:
            tx.commit()
        except TransactionCancelled as exc:
            if "stock" in exc.failed:
                raise _sold_out() from exc
            if "limit" in exc.failed:
                raise _limit(fresh) from exc
            raise  # the offer changed, the code was taken, or a concurrent write: read and draw again
        return code

    code = retrying(attempt, attempts=MAX_ATTEMPTS, conflict="The offer kept changing; try again.")
    obs.count("GroupOpened", ctx.tenant_id)
    return get_group(ctx, code)


def _sold_out() -> Conflict:
    return Conflict("This offer's stock of groups is used up.", code="groups_sold_out")


def _limit(offer: store.OfferItem) -> Conflict:
    return Conflict(f"A member may open or join {int(offer.per_member_limit)} of this offer's groups.",
                    code="per_member_limit", field="member_id")


def _group(tenant_id: str, typed: str) -> store.GroupItem:
    code = outcomes.find_code(typed)
    group = store.get_group(tenant_id, code) if code else None
    if group is None:
        raise NotFound("No group with this code.", code="group_not_found")
    return group


def join_group(ctx: TenantContext, typed: str, body: JoinIn) -> GroupOut:
    group = _group(ctx.tenant_id, typed)
    profile = members.get_member(ctx, body.member_id)  # 404 / 410
    offer = _load_offer(ctx.tenant_id, group.offer_id)
    new_member = profile.created_at >= group.opened_at

    def attempt(_: int) -> None:
        now = clock.now()
        tx = Transaction()
        store.stage_join_group(tx, group, clock.iso(now))
        store.stage_new_member(tx, store.new_member(ctx.tenant_id, group.code, body.member_id, leader="no",
                                                    joined_at=clock.iso(now), new_member="yes" if new_member else "no"))
        store.stage_joins(tx, ctx.tenant_id, body.member_id, group.offer_id, int(offer.per_member_limit))
        counters.add(tx, keys.group_counter(ctx.tenant_id, group.offer_id, "joined"), body.member_id, 1)
        if new_member:
            counters.add(tx, keys.group_counter(ctx.tenant_id, group.offer_id, "new_members"), body.member_id, 1)
        try:
            tx.commit()
        except TransactionCancelled as exc:
            if "membership" in exc.failed:
                raise Conflict("This member is in the group already.", code="already_joined",
                               field="member_id") from exc
            if "group" in exc.failed:
                raise _why_closed(ctx.tenant_id, group.code) from exc
            if "limit" in exc.failed:
                raise _limit(offer) from exc
            raise  # a concurrent transaction: try again

    retrying(attempt, attempts=MAX_ATTEMPTS, conflict="The group is very busy; try again.")
    obs.count("GroupJoined", ctx.tenant_id)
    return get_group(ctx, group.code)


def _why_closed(tenant_id: str, code: str) -> Problem:
    group = store.get_group(tenant_id, code)
    if group is not None and group.status != "open":
        return Conflict(f"This group is {group.status}.", code="group_closed")
    if group is not None and int(group.joined) >= int(group.size):
        return Conflict(f"This group is full ({int(group.size)} members).", code="group_full")
    return Conflict("This group's deadline has passed.", code="group_expired")


def get_group(ctx: TenantContext, typed: str) -> GroupOut:
    group = _group(ctx.tenant_id, typed)
    entries = store.group_members(ctx.tenant_id, group.code)
    return GroupOut(
        code=group.code, offer_id=group.offer_id, status=group.status,  # type: ignore[arg-type]
        group_size=int(group.size), joined=int(group.joined), paid=int(group.paid), opened_at=group.opened_at,
        deadline=group.deadline, closed_at=group.closed_at,
        members=[GroupMemberOut(member_id=e.member_id, leader=e.leader == "yes", joined_at=e.joined_at,
                                paid=e.order_id is not None, order_id=e.order_id, new_member=e.new_member == "yes",
                                reward=dict(e.reward) if e.reward is not None else None) for e in entries])


# --- analytics -------------------------------------------------------------------------------------
def analytics(ctx: TenantContext, offer_id: str) -> OfferAnalytics:
    """O(1) in the number of groups: sharded counters written with each open, join and outcome."""
    _load_offer(ctx.tenant_id, offer_id)
    metrics = ("opened", "completed", "failed", "joined", "new_members", "completion_seconds")
    names = {m: keys.group_counter(ctx.tenant_id, offer_id, m) for m in metrics}
    totals = counters.read(list(names.values()))
    got = {m: totals[n] for m, n in names.items()}
    closed = got["completed"] + got["failed"]
    return OfferAnalytics(
        offer_id=offer_id, groups_opened=got["opened"], groups_completed=got["completed"],
        groups_failed=got["failed"], groups_open=got["opened"] - closed, members_joined=got["joined"],
        new_members=got["new_members"],
        completion_seconds_mean=round(got["completion_seconds"] / got["completed"], 1) if got["completed"] else None,
        completion_rate=round(got["completed"] / closed, 4) if closed else 0.0)
