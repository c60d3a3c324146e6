"""Pure referral rules (no I/O): the program as read, fraud decisions at sign-up, conversion
and clawback windows. Unit-tested without servers."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

#: a reason that rejects the referral (no reward, ever); ``velocity`` only holds it
REJECTING = ("self_referral", "not_new", "outside_window")


@dataclass(frozen=True)
class Program:
    program_id: str
    status: str
    body: dict[str, Any]

    @property
    def fraud(self) -> dict[str, Any]:
        return dict(self.body.get("fraud") or {})

    @property
    def conversion(self) -> dict[str, Any]:
        return dict(self.body.get("conversion") or {"type": "first_order", "min_amount": 0})

    @property
    def limits(self) -> dict[str, Any]:
        return dict(self.body.get("limits") or {})

    @property
    def clawback_days(self) -> int:
        return int(self.body.get("clawback_days", 30))

    def reward(self, side: str) -> dict[str, Any]:
        return dict(self.body.get(f"{side}_reward") or {"type": "none"})


def parse(at: str | None) -> datetime | None:
    return datetime.fromisoformat(at.replace("Z", "+00:00")) if at else None


def in_window(program: Program, now: datetime) -> bool:
    """Active, and ``now`` inside [starts_at, ends_at)."""
    if program.status != "active":
        return False
    starts, ends = parse(program.body.get("starts_at")), parse(program.body.get("ends_at"))
    return (starts is None or now >= starts) and (ends is None or now < ends)


def device_hash(device_id: str) -> str:
    """Device ids are kept hashed: they only ever answer "seen before, and by whom?"."""
    return hashlib.sha256(device_id.strip().encode()).hexdigest()[:32]


def shared_identities(referrer: dict[str, str], referee: dict[str, str]) -> list[str]:
    """Kinds of identity (phone, email, a channel id) the two hold with the same normalized value."""
    return sorted(kind for kind, value in referee.items() if value and referrer.get(kind) == value)


@dataclass(frozen=True)
class SignupFacts:
    """What the sign-up's fraud rules look at, read by the caller."""

    referrer_id: str
    referee_id: str
    #: normalized identities of both (phone E.164, lowercased email, channel ids)
    referrer_identities: dict[str, str]
    referee_identities: dict[str, str]
    #: the member first seen on the referee's device (None: a new device, or none sent)
    device_owner: str | None
    #: the referee existed before this request (an existing member presenting a code)
    existing_member: bool
    in_window: bool
    #: sign-ups under the code in this hour so far
    velocity: int


def decide(fraud: dict[str, Any], facts: SignupFacts) -> tuple[str, list[str]]:
    """(status, reasons) of a new referral: ``rejected`` when a rejecting rule fires, ``held``
    when only velocity does, else ``pending``. Every rule that fires is named."""
    reasons: list[str] = []
    same_person = (facts.referee_id == facts.referrer_id
                   or bool(shared_identities(facts.referrer_identities, facts.referee_identities))
                   or (facts.device_owner is not None and facts.device_owner == facts.referrer_id))
    if fraud.get("self_referral", True) and same_person:
        reasons.append("self_referral")
    seen_device = facts.device_owner is not None and facts.device_owner != facts.referee_id
    if fraud.get("not_new", True) and not same_person and (facts.existing_member or seen_device):
        reasons.append("not_new")
    if fraud.get("outside_window", True) and not facts.in_window:
        reasons.append("outside_window")
    cap = fraud.get("velocity_per_hour", 10)
    if cap is not None and facts.velocity >= int(cap):
        reasons.append("velocity")
    if any(r in REJECTING for r in reasons):
        return "rejected", reasons
    return ("held", reasons) if reasons else ("pending", reasons)


def hour_bucket(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H")


def local_day(now: datetime, tz: str) -> str:
    return now.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d")


def qualifies(program: Program, amount: int) -> bool:
    conversion = program.conversion
    return conversion.get("type") == "first_order" and amount >= int(conversion.get("min_amount") or 0)


def within_clawback(program: Program, converted_at: datetime, refunded_at: datetime) -> bool:
    """A refund of the converting order reverses the rewards only within ``clawback_days`` of the conversion."""
    return refunded_at <= converted_at + timedelta(days=program.clawback_days)
