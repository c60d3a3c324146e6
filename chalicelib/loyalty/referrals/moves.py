"""Staging one referral's move (created, converted, rewarded, held, rejected, reversed) in
the transaction of its cause: the referral item (version-checked), the events on BOTH
members' timelines (``referral.<move>``, journey triggers), the analytics counters, and,
for a conversion, the per-referrer limits and the settle signal that rewards it.

Counters: ``signups`` (every referral), ``new_members`` (not rejected at sign-up),
``conversions``, ``rewarded``, ``reversed``, ``rejected``, ``held`` (now held),
``active_referrers`` (referrers with a first accepted sign-up), ``rewards_given`` /
``rewards_reversed`` (rewarded sides)."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ...activity import service as activity
from ...core import clock
from ...core.signals import Signal
from ...core.table import counters, keys
from ...core.table.transactions import Transaction
from ...tenants import service as tenants
from . import rules, store

#: staged with a conversion and a reversal: its receiver grants or takes back the rewards, once
#: (data ``{"referral_id"}``, member: the referee). Wired in app.py.
REFERRAL_SETTLE = Signal("loyalty.referrals.settle")
_DAY_LIMIT_TTL = timedelta(days=3)


def count(tx: Transaction, tenant_id: str, program_id: str, seed: str, **deltas: int) -> None:
    for metric, delta in deltas.items():
        if delta:
            counters.add(tx, keys.referral_counter(tenant_id, program_id, metric), seed, delta)


def events(tx: Transaction, tenant_id: str, item: store.ReferralItem, move: str, at: datetime) -> None:
    """``referral.<move>`` on both members' timelines (one on the referrer's if they are the same member)."""
    sides = [("referrer", item.referrer_id), ("referee", item.referee_id)]
    for role, member_id in sides if item.referrer_id != item.referee_id else sides[:1]:
        other = item.referee_id if role == "referrer" else item.referrer_id
        activity.stage_domain_event(tx, tenant_id, member_id, f"referral.{move}",
                                    f"referral.{move}:{item.referral_id}:{role}",
                                    {"referral_id": item.referral_id, "program_id": item.program_id, "role": role,
                                     "other_member_id": other, "status": item.status, "reasons": list(item.reasons),
                                     "order_id": item.order_id}, at)


def limits_full(tenant_id: str, program: rules.Program, referrer_id: str, at: datetime) -> bool:
    """Whether the referrer already used a limit (read; the write conditions check it again)."""
    wanted = _limit_periods(tenant_id, program, at)
    return any(store.limit_used(tenant_id, referrer_id, program.program_id, period) >= limit
               for period, limit, _ in wanted)


def _limit_periods(tenant_id: str, program: rules.Program, at: datetime) -> list[tuple[str, int, int | None]]:
    limits = program.limits
    out: list[tuple[str, int, int | None]] = []
    if limits.get("total"):
        out.append(("total", int(limits["total"]), None))
    if limits.get("per_day"):
        day = rules.local_day(at, tenants.tenant_settings(tenant_id).timezone)
        out.append((f"D#{day}", int(limits["per_day"]), int((at + _DAY_LIMIT_TTL).timestamp())))
    return out


def convert(tx: Transaction, tenant_id: str, program: rules.Program, item: store.ReferralItem, at: datetime,
            order_id: str | None) -> None:
    """Pending -> converted: the item's new state (saved by the caller), the limits (labels
    ``referral:limit:*``), the rewards as they stand now (kept on the referral, so a reversal
    takes back exactly those), the counters and events, and the settle signal."""
    item.status, item.converted_at, item.order_id = "converted", clock.iso(at), order_id
    item.rewards = {side: program.reward(side) for side in ("referrer", "referee")}
    for period, limit, ttl in _limit_periods(tenant_id, program, at):
        store.stage_limit(tx, tenant_id, item.referrer_id, program.program_id, period, limit, ttl)
    count(tx, tenant_id, program.program_id, item.referral_id, conversions=1)
    events(tx, tenant_id, item, "converted", at)
    REFERRAL_SETTLE.stage(tx, tenant_id, item.referee_id, {"referral_id": item.referral_id})


def rewarded_sides(item: store.ReferralItem) -> int:
    return sum(1 for r in dict(item.rewards or {}).values() if (r or {}).get("type", "none") != "none")


def out(item: store.ReferralItem) -> dict[str, Any]:
    return {"id": item.referral_id, "program_id": item.program_id, "code": item.code,
            "referrer_member_id": item.referrer_id, "referee_member_id": item.referee_id, "status": item.status,
            "reasons": list(item.reasons), "created_at": item.created_at, "updated_at": item.updated_at,
            "converted_at": item.converted_at, "order_id": item.order_id, "rewarded_at": item.rewarded_at,
            "reversed_at": item.reversed_at}
