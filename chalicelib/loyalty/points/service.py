"""Points: the program, balances and the ledger, adjustments and redemptions, analytics.

Every change goes through :class:`posting.Posting` (one transaction with the balance
version-checked), retried on a lost race, so concurrent redemptions never overspend.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from ...core import clock, observability as obs
from ...core.errors import Conflict, Unprocessable
from ...core.ids import new_id
from ...core.signals import Delivery, Signal
from ...core.table import counters, cursor
from ...core.table.transactions import Transaction, TransactionCancelled, backoff, retrying
from ...core.tenancy import TenantContext
from ...members import service as members
from . import ledger, rewards, store
from .ledger import Balance, InsufficientPoints, Lot
from .posting import FLOW_KINDS, Posting, flow_counter, liability_counter
from .program import load
from .schemas import (
    AdjustmentIn,
    BalanceOut,
    ExpiringOut,
    Ledger,
    LedgerEntryOut,
    LedgerQuery,
    MonthFlows,
    PointsAnalyticsOut,
    PointsAnalyticsQuery,
    PointsProgramIn,
    PointsProgramOut,
    RedemptionIn,
    RedemptionOut,
)

MAX_ATTEMPTS = 60
EXPIRING_WINDOW = timedelta(days=30)

#: Raised in a reward redemption's transaction when the reward names a coupon template;
#: data ``{"redemption_id", "reward_id", "coupon_template_id"}``. The coupons capability's
#: receiver (wired in app.py) issues the coupon, at least once (it claims the redemption id).
REWARD_REDEEMED = Signal("loyalty.points.reward_redeemed")


# --- program ------------------------------------------------------------------------------------------
def _program_out(body: dict[str, Any], version: int, updated_at: str | None) -> PointsProgramOut:
    defaults = PointsProgramIn().model_dump(mode="json", exclude={"version"})
    merged = {**defaults, **body}
    return PointsProgramOut(**merged, version=version, updated_at=updated_at)


def get_program(ctx: TenantContext) -> PointsProgramOut:
    loaded = load(ctx.tenant_id)
    return _program_out(loaded.body, loaded.program.version, loaded.updated_at)


def put_program(ctx: TenantContext, body: PointsProgramIn) -> PointsProgramOut:
    """Replace the program; it applies to events from now on (earned lots keep their terms)."""
    current = store.get_program(ctx.tenant_id)
    current_version = current.version if current else 0
    if body.version is not None and body.version != current_version:
        raise Conflict(f"The points program is at version {current_version}.", field="version",
                       code="version_conflict", current_version=current_version)
    data = body.model_dump(mode="json", exclude={"version"})
    now = clock.iso(clock.now())
    tx = Transaction()
    item = store.stage_program(tx, ctx.tenant_id, data, now, current)
    try:
        tx.commit()
    except TransactionCancelled as exc:
        raise Conflict("The points program changed meanwhile.", code="version_conflict") from exc
    return _program_out(data, int(item.version), now)


# --- reads ------------------------------------------------------------------------------------------------
def _view(member_id: str, balance: Balance) -> BalanceOut:
    now = clock.now()
    ledger.normalize(balance, clock.iso(now))  # a copy: reads apply time, never write it
    soon = ledger.expiring(balance, clock.iso(now), clock.iso(now + EXPIRING_WINDOW))
    return BalanceOut(member_id=member_id, available=balance.available, pending=balance.pending,
                      expiring=[ExpiringOut(expires_at=at, points=n) for at, n in soon],
                      expiring_in_30_days=sum(n for _, n in soon), as_of=clock.iso(now))


def balance(ctx: TenantContext, member_id: str) -> BalanceOut:
    members.get_member(ctx, member_id)  # 404 / 410 like every member route
    item = store.get_balance(ctx.tenant_id, member_id)
    return _view(member_id, Balance.load(item.data if item else None))


def available_points_of(tenant_id: str, member_ids: list[str]) -> dict[str, int]:
    """For segments: each member's available points now (one BatchGet; 0 without a balance)."""
    now = clock.iso(clock.now())
    out = dict.fromkeys(member_ids, 0)
    for item in store.get_balances(tenant_id, member_ids):
        b = Balance.load(item.data)
        ledger.normalize(b, now)
        out[item.member_id] = b.available
    return out


def ledger_page(ctx: TenantContext, member_id: str, query: LedgerQuery) -> Ledger:
    members.get_member(ctx, member_id)
    scope = f"points-ledger|{member_id}"
    before = cursor.decode(query.cursor, ctx.tenant_id, scope) if query.cursor else None
    items, last = store.ledger_page(ctx.tenant_id, member_id, before, query.limit)
    return Ledger(data=[LedgerEntryOut(id=i.entry_id, kind=i.kind, points=int(i.points), at=i.at,  # type: ignore[arg-type]
                                       effective_at=i.effective_at, cause=dict(i.cause), shortfall=int(i.shortfall),
                                       available_after=int(i.available_after), pending_after=int(i.pending_after))
                        for i in items],
                  next_cursor=cursor.encode(ctx.tenant_id, scope, last) if last else None)


# --- writes -------------------------------------------------------------------------------------------------
def _retrying(write: Any) -> Any:
    return retrying(write, attempts=MAX_ATTEMPTS, pause=lambda n: backoff(n, cap=0.25),
                    conflict="The member's points are changing too often at once; try again.")


def _insufficient(exc: InsufficientPoints) -> Conflict:
    return Conflict(f"Only {exc.available} points are available.", code="insufficient_points",
                    title="Insufficient points", available=exc.available)


def adjust(ctx: TenantContext, member_id: str, body: AdjustmentIn) -> BalanceOut:
    members.get_member(ctx, member_id)
    loaded = load(ctx.tenant_id)

    def write(_: int) -> Balance:
        p = Posting.open(ctx.tenant_id, member_id, loaded.program, loaded.timezone)
        if body.points > 0:
            ledger.add_lot(p.balance, Lot(id=f"a-{new_id()}", points=body.points, earned=body.points,
                                          earned_at=p.now_iso, expires_at=p.expires_at(p.now)))
        else:
            ledger.spend(p.balance, -body.points)
        p.entry("adjust", body.points, {"actor": ctx.actor, "reason": body.reason})
        p.commit()
        return p.balance

    try:
        result = _retrying(write)
    except InsufficientPoints as exc:
        raise _insufficient(exc) from exc
    obs.count("PointsAdjusted", ctx.tenant_id)
    return _view(member_id, result)


def redeem(ctx: TenantContext, member_id: str, body: RedemptionIn) -> RedemptionOut:
    """Spend points (first to expire first), for a reward or a reason; 409 when short."""
    members.get_member(ctx, member_id)
    loaded = load(ctx.tenant_id)
    reward = rewards.redeemable(ctx.tenant_id, body.reward_id, body.points) if body.reward_id else None
    points = reward.cost if reward else int(body.points or 0)
    redemption_id = new_id()

    def write(_: int) -> tuple[Balance, str]:
        p = Posting.open(ctx.tenant_id, member_id, loaded.program, loaded.timezone)
        taken = ledger.spend(p.balance, points)
        if reward is not None:
            rewards.stage_redemption(p.tx, ctx.tenant_id, member_id, reward)
        store.stage_redemption(p.tx, ctx.tenant_id, member_id, store.RedemptionItem(
            redemption_id=redemption_id, points=points, reward_id=body.reward_id, reason=body.reason,
            coupon_template_id=reward.coupon_template_id if reward else None, actor=ctx.actor, at=p.now_iso))
        p.entry("spend", -points, {"redemption_id": redemption_id, "reward_id": body.reward_id, "reason": body.reason,
                                   "actor": ctx.actor, "lots": taken})
        p.domain_event("points.redeemed", f"points.redeemed:{redemption_id}",
                       {"points": points, "redemption_id": redemption_id, "reward_id": body.reward_id})
        if reward is not None and reward.coupon_template_id:
            REWARD_REDEEMED.stage(p.tx, ctx.tenant_id, member_id, {"redemption_id": redemption_id,
                                                                  "reward_id": reward.id,
                                                                  "coupon_template_id": reward.coupon_template_id})
        p.commit()
        return p.balance, p.now_iso

    def attempt(n: int) -> tuple[Balance, str]:
        if reward is not None:
            rewards.check_still_redeemable(ctx.tenant_id, member_id, reward)
        return write(n)

    try:
        result, at = _retrying(attempt)
    except InsufficientPoints as exc:
        raise _insufficient(exc) from exc
    obs.count("PointsRedeemed", ctx.tenant_id)
    return RedemptionOut(id=redemption_id, member_id=member_id, points=points, reward_id=body.reward_id,
                         reason=body.reason, coupon_template_id=reward.coupon_template_id if reward else None,
                         at=at, balance=_view(member_id, result))


def forget_member(delivery: Delivery) -> None:
    """Erasure hook: the member's outstanding points leave the liability with the balance
    (the ledger goes with the member's collection; monthly flows stay, as history)."""
    tenant_id, member_id = delivery.tenant_id, delivery.member_id
    assert member_id is not None

    def attempt(_: int) -> None:
        item = store.get_balance(tenant_id, member_id)
        if item is None:
            return
        tx = Transaction()
        store.stage_balance_delete(tx, item)
        outstanding = int(item.available) + int(item.pending)
        if outstanding:
            counters.add(tx, liability_counter(tenant_id), member_id, -outstanding)
        tx.commit()

    _retrying(attempt)


# --- analytics ---------------------------------------------------------------------------------------------
def _months(since: str, until: str) -> list[str]:
    year, month = (int(x) for x in since.split("-"))
    out: list[str] = []
    while f"{year:04d}-{month:02d}" <= until and len(out) < 120:
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def analytics(ctx: TenantContext, query: PointsAnalyticsQuery) -> PointsAnalyticsOut:
    """Liability and monthly flows from sharded counters (one BatchGet per 100 shards)."""
    loaded = load(ctx.tenant_id)
    from .rules import local_month

    now = clock.now()
    until = local_month(now, loaded.timezone)
    since = query.since or local_month(now - timedelta(days=365), loaded.timezone)
    if since > until:
        raise Unprocessable("since is after this month.", field="since", code="validation_failed")
    months = _months(since, until)
    names = [liability_counter(ctx.tenant_id)] + [flow_counter(ctx.tenant_id, k, m) for m in months
                                                   for k in FLOW_KINDS]
    totals = counters.read(names)
    liability = totals[liability_counter(ctx.tenant_id)]
    program = loaded.program
    flows = {m: MonthFlows(**{k: totals[flow_counter(ctx.tenant_id, k, m)] for k in FLOW_KINDS}) for m in months}
    return PointsAnalyticsOut(liability_points=liability,
                              liability_value=liability * program.value_amount // program.value_points,
                              currency=loaded.currency,
                              months={m: f for m, f in flows.items() if any(f.model_dump().values())})


def require_member(ctx: TenantContext, member_id: str) -> None:
    members.get_member(ctx, member_id)



# --- grants for another capability's cause (referral rewards) ------------------------------------------
def grant(tenant_id: str, member_id: str, points: int, cause: str, reason: str) -> bool:
    """Give ``points`` for ``cause`` (e.g. ``referral:<id>:referrer``), once however often it
    is asked, and never after :func:`take_back` of the same cause. True if given now."""
    loaded = load(tenant_id)

    def write(_: int) -> bool:
        p = Posting.open(tenant_id, member_id, loaded.program, loaded.timezone)
        p.claim(f"grant:{cause}")
        store.stage_unclaimed(p.tx, tenant_id, member_id, f"revoke:{cause}")
        ledger.add_lot(p.balance, Lot(id=f"g-{cause}", points=points, earned=points, earned_at=p.now_iso,
                                      expires_at=p.expires_at(p.now), order_id=f"grant:{cause}"))
        p.entry("earn", points, {"cause": cause, "reason": reason})
        p.domain_event("points.earned", f"points.earned:grant:{cause}", {"points": points, "cause": cause,
                                                                         "pending": False})
        try:
            p.commit()
        except TransactionCancelled as exc:
            if exc.failed & {"claim", "unclaimed"}:
                return False
            raise
        return True

    given = bool(_retrying(write))
    if given:
        obs.count("PointsGranted", tenant_id)
    return given


def take_back(tenant_id: str, member_id: str, points: int, cause: str, reason: str) -> bool:
    """Reverse what :func:`grant` gave for ``cause`` (from its lot first; the rest as the
    program's refund policy says), once. Taken back before it was granted, the grant never
    lands. True if reversed now."""
    loaded = load(tenant_id)

    def write(_: int) -> bool:
        granted = store.claimed(tenant_id, member_id, f"grant:{cause}")
        p = Posting.open(tenant_id, member_id, loaded.program, loaded.timezone)
        p.claim(f"revoke:{cause}")
        if granted:
            result = ledger.reverse(p.balance, f"grant:{cause}", points, loaded.program.allow_negative)
            p.entry("reverse", -result.reversed, {"cause": cause, "reason": reason}, shortfall=result.shortfall)
        else:  # a grant committing meanwhile cancels this and the retry reverses it
            store.stage_unclaimed(p.tx, tenant_id, member_id, f"grant:{cause}")
        try:
            p.commit()
        except TransactionCancelled as exc:
            if "claim" in exc.failed:
                return False
            raise
        return granted

    return bool(_retrying(write))
