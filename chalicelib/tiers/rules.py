"""The rules of standing, as pure functions: aggregates from events, lifecycle stage,
spend-based tier (upgrade, downgrade policies, refunds, manual overrides), RFM.

No I/O here: services load a member's :class:`Standing`, apply an event or a re-evaluation
with a given ``now``, and write what changed. Tests drive these with any clock.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

STAGES = ("prospect_aware", "prospect_interested", "new_buyer", "repeat", "loyal", "dormant", "churned")
NO_TIER = "none"
NO_RFM = "none"
RFM_SEGMENTS = ("champions", "loyal", "potential", "new", "promising", "need_attention", "at_risk",
                "cant_lose", "hibernating", "lost")
#: months of buckets kept: enough for the longest window a program may use
MAX_WINDOW_MONTHS = 36


def parse(ts: str | None) -> datetime | None:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")) if ts else None


def iso(ts: datetime) -> str:
    from ..core.clock import iso as _iso

    return _iso(ts)


def month_key(ts: datetime, tz: str) -> str:
    local = ts.astimezone(ZoneInfo(tz))
    return f"{local.year:04d}-{local.month:02d}"


def months_back(ts: datetime, tz: str, count: int) -> list[str]:
    """The ``count`` month keys ending with ``ts``'s month (in the tenant's time zone)."""
    local = ts.astimezone(ZoneInfo(tz))
    year, month = local.year, local.month
    keys = []
    for _ in range(count):
        keys.append(f"{year:04d}-{month:02d}")
        month -= 1
        if month == 0:
            year, month = year - 1, 12
    return keys


def add_months(ts: datetime, months: int) -> datetime:
    month0 = ts.month - 1 + months
    year, month = ts.year + month0 // 12, month0 % 12 + 1
    day = min(ts.day, [31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28,
                       31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1])
    return ts.replace(year=year, month=month, day=day)


# --- configuration -------------------------------------------------------------------------
@dataclass(frozen=True)
class StageRules:
    interested_after_interactions: int = 1
    repeat_after_orders: int = 2
    loyal_after_orders: int = 5
    dormant_after_days: int = 90
    churned_after_days: int = 365


@dataclass(frozen=True)
class Tier:
    id: str
    name: str
    threshold: int
    benefits: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Program:
    tiers: tuple[Tier, ...] = ()
    metric: str = "rolling_spend"  # or "lifetime_spend"
    window_months: int = 12
    downgrade: str = "anniversary"  # "never" | "anniversary" | "rolling"
    grace_days: int = 30
    refund_drops_tier: bool = False
    version: int = 0

    def rank(self, tier_id: str | None) -> int:
        for i, tier in enumerate(self.tiers):
            if tier.id == tier_id:
                return i + 1
        return 0

    def tier(self, tier_id: str | None) -> Tier | None:
        return next((t for t in self.tiers if t.id == tier_id), None)


# --- the member's standing --------------------------------------------------------------------
@dataclass
class Standing:
    lifetime_spend: int = 0
    refunded: int = 0
    orders: int = 0
    first_order_at: str | None = None
    last_order_at: str | None = None
    interactions: int = 0
    last_interaction_at: str | None = None
    monthly: dict[str, int] = field(default_factory=dict)
    stage: str = "prospect_aware"
    stage_since: str | None = None
    tier: str | None = None
    tier_since: str | None = None
    tier_anniversary: str | None = None
    below_since: str | None = None
    manual_tier: str | None = None
    manual_expires_at: str | None = None
    manual_reason: str | None = None
    #: when the hand-assigned tier was set (kept when the same tier is set again)
    manual_since: str | None = None
    #: granted by an active paid membership (billing sets and clears it)
    plan_tier: str | None = None
    #: when the paid plan started granting ``plan_tier``
    plan_since: str | None = None
    rfm: dict[str, Any] | None = None

    def effective_tier(self, now: datetime, program: Program | None = None) -> str | None:
        """A hand-assigned tier until it expires; else the higher of the earned tier and
        the tier an active paid plan grants."""
        expires = parse(self.manual_expires_at)
        if self.manual_tier and (expires is None or now < expires):
            return self.manual_tier
        if self.plan_tier and (program is None or program.rank(self.plan_tier) > program.rank(self.tier)):
            return self.plan_tier
        return self.tier

    def rfm_segment(self) -> str:
        return (self.rfm or {}).get("segment", NO_RFM)


@dataclass(frozen=True)
class Change:
    """A move the service records in history and in the counters."""

    dimension: str  # "stage" | "tier"
    old: str | None
    new: str | None
    reason: str


# --- aggregates --------------------------------------------------------------------------------
def record_order(s: Standing, amount: int, occurred_at: datetime, tz: str) -> None:
    s.lifetime_spend += amount
    s.orders += 1
    at = iso(occurred_at)
    s.first_order_at = min(filter(None, [s.first_order_at, at]))
    s.last_order_at = max(filter(None, [s.last_order_at, at]))
    key = month_key(occurred_at, tz)
    s.monthly[key] = s.monthly.get(key, 0) + amount
    _trim_months(s)


def record_refund(s: Standing, amount: int, order_month: str, order_fully_refunded: bool) -> None:
    s.lifetime_spend -= amount
    s.refunded += amount
    if order_month in s.monthly:
        s.monthly[order_month] -= amount
    if order_fully_refunded:
        s.orders = max(0, s.orders - 1)


def record_interaction(s: Standing, occurred_at: datetime) -> None:
    s.interactions += 1
    at = iso(occurred_at)
    s.last_interaction_at = max(filter(None, [s.last_interaction_at, at]))


def _trim_months(s: Standing) -> None:
    if len(s.monthly) > MAX_WINDOW_MONTHS:
        for key in sorted(s.monthly)[: len(s.monthly) - MAX_WINDOW_MONTHS]:
            del s.monthly[key]


# --- stage ---------------------------------------------------------------------------------------
def stage_of(s: Standing, rules: StageRules, now: datetime) -> str:
    last = parse(s.last_order_at)
    if s.orders <= 0 or last is None:
        return "prospect_interested" if s.interactions >= rules.interested_after_interactions else "prospect_aware"
    idle_days = (now - last).days
    if idle_days >= rules.churned_after_days:
        return "churned"
    if idle_days >= rules.dormant_after_days:
        return "dormant"
    if s.orders >= rules.loyal_after_orders:
        return "loyal"
    if s.orders >= rules.repeat_after_orders:
        return "repeat"
    return "new_buyer"


def update_stage(s: Standing, rules: StageRules, now: datetime, reason: str) -> list[Change]:
    new = stage_of(s, rules, now)
    if new == s.stage and s.stage_since:
        return []
    old, s.stage, s.stage_since = s.stage, new, iso(now)
    return [Change("stage", old, new, reason)] if old != new else []


# --- tier ------------------------------------------------------------------------------------------
def metric(s: Standing, program: Program, now: datetime, tz: str) -> int:
    if program.metric == "lifetime_spend":
        return s.lifetime_spend
    return sum(s.monthly.get(k, 0) for k in months_back(now, tz, program.window_months))


def qualified(s: Standing, program: Program, now: datetime, tz: str) -> str | None:
    value = metric(s, program, now, tz)
    best = None
    for tier in program.tiers:
        if value >= tier.threshold:
            best = tier.id
    return best


def _move_tier(s: Standing, program: Program, new: str | None, now: datetime, reason: str) -> list[Change]:
    before = s.effective_tier(now, program)
    s.tier, s.tier_since, s.below_since = new, iso(now), None
    s.tier_anniversary = iso(add_months(now, 12)) if new and program.downgrade == "anniversary" else None
    after = s.effective_tier(now, program)
    return [Change("tier", before, after, reason)] if before != after else []


def update_tier_on_event(s: Standing, program: Program, now: datetime, tz: str, refund: bool) -> list[Change]:
    """Upgrade at once; a refund downgrades only if the program says so."""
    target = qualified(s, program, now, tz)
    have, want = program.rank(s.tier), program.rank(target)
    if want > have:
        return _move_tier(s, program, target, now, "qualified")
    if want < have:
        if refund and program.refund_drops_tier:
            return _move_tier(s, program, target, now, "refund")
        if program.downgrade == "rolling" and s.below_since is None:
            s.below_since = iso(now)
        return []
    s.below_since = None
    return []


def reevaluate(s: Standing, program: Program, rules: StageRules, now: datetime, tz: str) -> list[Change]:
    """The nightly (or program-change) pass: time-driven stage moves, due downgrades,
    upgrades a program change made due, expired manual tiers."""
    changes: list[Change] = []
    before_effective = s.manual_tier or Standing(tier=s.tier, plan_tier=s.plan_tier).effective_tier(now, program)
    expires = parse(s.manual_expires_at)
    if s.manual_tier and expires is not None and now >= expires:
        s.manual_tier = s.manual_expires_at = s.manual_reason = s.manual_since = None
    if s.tier is not None and program.rank(s.tier) == 0:  # the tier left the program
        changes += _move_tier(s, program, qualified(s, program, now, tz), now, "program_changed")
    else:
        target = qualified(s, program, now, tz)
        have, want = program.rank(s.tier), program.rank(target)
        if want > have:
            changes += _move_tier(s, program, target, now, "qualified")
        elif want < have:
            if program.downgrade == "anniversary":
                anniversary = parse(s.tier_anniversary)
                if anniversary is None or now >= anniversary:
                    changes += _move_tier(s, program, target, now, "anniversary")
            elif program.downgrade == "rolling":
                below = parse(s.below_since)
                if below is None:
                    s.below_since = iso(now)
                elif now - below >= timedelta(days=program.grace_days):
                    changes += _move_tier(s, program, target, now, "grace_expired")
        else:
            s.below_since = None
            anniversary = parse(s.tier_anniversary)
            if anniversary is not None and now >= anniversary:
                s.tier_anniversary = iso(add_months(anniversary, 12))  # re-qualified
    after_effective = s.effective_tier(now, program)
    if not any(c.dimension == "tier" for c in changes) and before_effective != after_effective:
        changes.append(Change("tier", before_effective, after_effective, "manual_expired"))
    changes += update_stage(s, rules, now, "time")
    return changes


def progress(s: Standing, program: Program, now: datetime, tz: str) -> dict[str, Any]:
    """Where the member stands against the next tier up."""
    value = metric(s, program, now, tz)
    current = program.rank(s.effective_tier(now, program))
    nxt = program.tiers[current] if current < len(program.tiers) else None
    return {
        "metric": program.metric,
        "value": value,
        "next_tier": nxt.id if nxt else None,
        "amount_to_next_tier": max(0, nxt.threshold - value) if nxt else None,
    }


def next_requalification(s: Standing, program: Program) -> str | None:
    if program.downgrade == "anniversary":
        return s.tier_anniversary
    below = parse(s.below_since)
    if program.downgrade == "rolling" and below is not None:
        return iso(below + timedelta(days=program.grace_days))
    return None


# --- RFM ----------------------------------------------------------------------------------------------
def cutoffs(values: list[float]) -> list[float]:
    """Quintile boundaries (20/40/60/80th percentiles) of ``values``."""
    if not values:
        return []
    ordered = sorted(values)
    return [ordered[min(len(ordered) - 1, int(len(ordered) * q / 5))] for q in range(1, 5)]


def score(value: float, bounds: list[float], higher_is_better: bool = True) -> int:
    """1 (worst) .. 5 (best). A value equal to a cut-off counts on its better side, so equal
    values share the best score any of them could have: when every buyer ordered today (all
    cut-offs 0 days) they all get recency 5, not 1.
    """
    if not bounds:
        return 3
    if higher_is_better:
        return bisect.bisect_right(bounds, value) + 1  # cut-offs at or below the value
    return 5 - bisect.bisect_left(bounds, value)  # cut-offs strictly below (fewer days is better)


def rfm_inputs(s: Standing, now: datetime) -> tuple[float, float, float] | None:
    last = parse(s.last_order_at)
    if s.orders <= 0 or last is None:
        return None
    return float((now - last).days), float(s.orders), float(s.lifetime_spend)


def rfm_segment(r: int, f: int, m: int) -> str:
    fm = (f + m) / 2
    if r >= 4 and fm >= 4:
        return "champions"
    if r >= 3 and fm >= 3.5:
        return "loyal"
    if r >= 4 and fm >= 2:
        return "potential"
    if r >= 4:
        return "new"
    if r == 3 and fm < 2:
        return "promising"
    if r == 3:
        return "need_attention"
    if r <= 2 and fm >= 4:
        return "cant_lose" if r == 1 else "at_risk"
    if r == 2 and fm >= 2.5:
        return "at_risk"
    if r == 2 or fm >= 2:
        return "hibernating"
    return "lost"


def rfm_of(s: Standing, bounds: dict[str, list[float]], now: datetime) -> dict[str, Any] | None:
    inputs = rfm_inputs(s, now)
    if inputs is None:
        return None
    recency, frequency, monetary = inputs
    r = score(recency, bounds.get("recency", []), higher_is_better=False)
    f = score(frequency, bounds.get("frequency", []))
    m = score(monetary, bounds.get("monetary", []))
    return {"r": r, "f": f, "m": m, "segment": rfm_segment(r, f, m)}
