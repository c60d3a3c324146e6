"""The points program as plain data, and the earn arithmetic (pure: no table, no clock).

Rounding, stated once: an order earns
``floor(amount * points_per_unit * tier% * category% / (unit * 100 * 100))`` points, one
floor per order (never per line, so splitting a basket never loses a point). ``category%``
is the line-weighted average of the lines' category multipliers (lines without a
multiplier count 100%); multipliers are kept as integer percent (1.5 -> 150), so no float
ever touches a balance. A refund reverses ``floor(earned * refunded / amount)`` minus
what earlier refunds reversed: cumulative, so a full refund reverses exactly all.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo


def percent(multiplier: float) -> int:
    """1.5 -> 150 (multipliers have at most two decimals)."""
    return int(round(multiplier * 100))


@dataclass(frozen=True)
class InteractionRule:
    id: str
    name: str
    points: int
    where: dict[str, Any] = field(default_factory=dict)
    per_day: int | None = None
    lifetime: int | None = None
    #: a property name: earn once per distinct value (e.g. ``article_id``)
    once_per: str | None = None

    def matches(self, name: str, properties: dict[str, Any]) -> bool:
        return name == self.name and all(properties.get(k) == v for k, v in self.where.items())


@dataclass(frozen=True)
class Expiry:
    kind: str = "never"  # "never" | "days" | "end_of_month"
    days: int = 0
    months: int = 0


@dataclass(frozen=True)
class PointsProgram:
    points_per_unit: int = 0
    #: minor units per currency unit (100 for CNY fen)
    unit: int = 100
    category_percent: dict[str, int] = field(default_factory=dict)
    tier_multipliers: bool = True
    interactions: tuple[InteractionRule, ...] = ()
    pending_days: int = 0
    expiry: Expiry = field(default_factory=Expiry)
    refund_policy: str = "allow_negative"  # or "clamp_at_zero"
    #: a point's value for liability: ``value_amount`` minor units per ``value_points`` points
    value_points: int = 100
    value_amount: int = 100
    expiring_notice_days: int = 7
    version: int = 0

    @property
    def allow_negative(self) -> bool:
        return self.refund_policy == "allow_negative"


def program_from(body: dict[str, Any], version: int) -> PointsProgram:
    order = body.get("order_earning") or {}
    expiry = body.get("expiry") or {}
    value = body.get("redemption_value") or {}
    return PointsProgram(
        points_per_unit=order.get("points_per_unit", 0),
        unit=order.get("unit", 100),
        category_percent={k: percent(v) for k, v in (order.get("category_multipliers") or {}).items()},
        tier_multipliers=order.get("tier_multipliers", True),
        interactions=tuple(InteractionRule(id=r["id"], name=r["name"], points=r["points"], where=r.get("where") or {},
                                           per_day=r.get("per_day"), lifetime=r.get("lifetime"),
                                           once_per=r.get("once_per"))
                           for r in body.get("interaction_rules") or []),
        pending_days=body.get("pending_days", 0),
        expiry=Expiry(kind=expiry.get("type", "never"), days=expiry.get("days", 0), months=expiry.get("months", 0)),
        refund_policy=body.get("refund_policy", "allow_negative"),
        value_points=value.get("points", 100), value_amount=value.get("amount", 100),
        expiring_notice_days=body.get("expiring_notice_days", 7),
        version=version,
    )


def tier_percent(benefits: tuple[dict[str, Any], ...] | list[dict[str, Any]]) -> int:
    """The tier's ``points_multiplier`` benefit as a percent (100 when it has none)."""
    best = 100
    for benefit in benefits:
        if benefit.get("type") == "points_multiplier":
            best = max(best, percent(float(benefit["multiplier"])))
    return best


def order_points(program: PointsProgram, amount: int, lines: list[dict[str, Any]], tier_pct: int = 100) -> int:
    """Points for an order of ``amount`` minor units (see the module docstring)."""
    if program.points_per_unit <= 0 or amount <= 0:
        return 0
    totals = [(int(line.get("qty", 1)) * int(line.get("unit_price", 0)), line.get("category")) for line in lines]
    lines_total = sum(t for t, _ in totals)
    if lines_total > 0:
        weighted = sum(t * program.category_percent.get(c or "", 100) for t, c in totals)
    else:
        weighted, lines_total = 100, 1
    tier = tier_pct if program.tier_multipliers else 100
    return (amount * program.points_per_unit * tier * weighted) // (program.unit * 100 * 100 * lines_total)


def reversal(earned: int, amount: int, refunded_total: int, reversed_so_far: int) -> int:
    """Points to reverse now, given the order's cumulative refunded amount."""
    if amount <= 0:
        return max(0, earned - reversed_so_far)
    due = (earned * min(refunded_total, amount)) // amount
    return max(0, due - reversed_so_far)


def expires_at(earned_at: datetime, expiry: Expiry, tz: str) -> datetime | None:
    """When a lot earned at ``earned_at`` expires: after a duration, or at the end of the
    Nth month after the month it was earned (in the tenant's time zone)."""
    if expiry.kind == "days":
        return earned_at + timedelta(days=expiry.days)
    if expiry.kind == "end_of_month":
        local = earned_at.astimezone(ZoneInfo(tz))
        index = local.year * 12 + (local.month - 1) + expiry.months + 1  # the month after the Nth
        year, month = divmod(index, 12)
        return datetime(year, month + 1, 1, tzinfo=ZoneInfo(tz))
    return None


def local_day(at: datetime, tz: str) -> str:
    return at.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d")


def local_month(at: datetime, tz: str) -> str:
    return at.astimezone(ZoneInfo(tz)).strftime("%Y-%m")


def value_hash(value: Any) -> str:
    """A short, stable stand-in for a property value in a key (values may hold any text)."""
    return hashlib.sha256(repr(value).encode()).hexdigest()[:24]
