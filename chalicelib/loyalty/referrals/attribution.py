"""Sign-ups with a referral code: the ``members.MEMBER_CREATING`` participant records the
referral in the new member's own creating transaction (first touch, with
``source.referrer_member_id``), and the ``members.MEMBER_MATCHED`` participant records an
existing member's code as ``not_new`` (or ``self_referral``) without re-attributing.

The fraud rules run here (``rules.decide``). Velocity counts sign-ups per code per UTC hour
with a conditional counter beside the code (``signups < N``): of sign-ups racing for the
hour's last accepted slot one wins, the others' transactions are cancelled, re-run (the
members capability retries), read the full hour and are held. A device id the brand sends is
kept only as a hash naming the first member seen on it."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ...core import clock
from ...core.errors import Unprocessable
from ...core.ids import new_id
from ...core.table.transactions import Transaction
from ...members import service as members
from ..coupons import codes
from . import moves, programs, rules, store

_VELOCITY_TTL = timedelta(days=2)


def _unknown() -> Unprocessable:
    return Unprocessable("No referral code like this in this tenant.", field="referral_code",
                         code="unknown_referral_code")


def _code(tenant_id: str, typed: str) -> tuple[store.CodeItem, store.ProgramItem, dict[str, str]]:
    """The code, its program and its referrer's identities; 422 ``unknown_referral_code`` for
    a code that is not this tenant's (codes never cross tenants) or whose referrer is gone."""
    normalized = codes.normalize(typed)
    item = store.get_code(tenant_id, normalized) if normalized else None
    program = programs.cached(tenant_id, item.program_id) if item else None
    referrer = members.profiles(tenant_id, [item.member_id]).get(item.member_id) if item else None
    if item is None or program is None or referrer is None:
        raise _unknown()
    identities = {"phone": referrer.phone or "", "email": referrer.email or "", **referrer.channel_ids}
    return item, program, {k: v for k, v in identities.items() if v}


def _device(tx: Transaction, tenant_id: str, member_id: str, device_id: str | None, record: bool) -> str | None:
    """The device's first member (None if new or none sent); a new device is recorded as the member's."""
    if not device_id:
        return None
    digest = rules.device_hash(device_id)
    owner = store.device_owner(tenant_id, digest)
    if owner is None and record:
        store.stage_device(tx, tenant_id, digest, member_id)
    return owner


def on_member_creating(tx: Transaction, tenant_id: str, member_id: str, data: dict[str, Any]) -> None:
    owner = _device(tx, tenant_id, member_id, data.get("device_id"), record=True)
    if not data.get("referral_code"):
        return
    code, program, referrer_ids = _code(tenant_id, data["referral_code"])
    source = data["source"]
    if source.get("referrer_member_id") not in (None, code.member_id):
        raise Unprocessable("source.referrer_member_id names another member than the referral code's.",
                            field="source.referrer_member_id", code="referrer_mismatch")
    _record(tx, tenant_id, member_id, code, program, referrer_ids, dict(data.get("identities") or {}), owner,
            existing=False, now=clock.now())
    source["referrer_member_id"] = code.member_id


def on_member_matched(tx: Transaction, tenant_id: str, member_id: str, data: dict[str, Any]) -> None:
    owner = _device(tx, tenant_id, member_id, data.get("device_id"), record=False)
    code, program, referrer_ids = _code(tenant_id, data["referral_code"])
    if store.get_referee(tenant_id, member_id) is not None:
        return  # first touch stands: a later code never re-attributes
    _record(tx, tenant_id, member_id, code, program, referrer_ids, dict(data.get("identities") or {}), owner,
            existing=True, now=clock.now())


def _record(tx: Transaction, tenant_id: str, referee_id: str, code: store.CodeItem, item: store.ProgramItem,
            referrer_ids: dict[str, str], referee_ids: dict[str, str], device_owner: str | None, existing: bool,
            now: datetime) -> None:
    program = programs.as_rules(item)
    fraud = program.fraud
    cap = fraud.get("velocity_per_hour", 10)
    hour = rules.hour_bucket(now)
    facts = rules.SignupFacts(
        referrer_id=code.member_id, referee_id=referee_id, referrer_identities=referrer_ids,
        referee_identities=referee_ids, device_owner=device_owner, existing_member=existing,
        in_window=rules.in_window(program, now),
        velocity=store.velocity(tenant_id, code.code, hour) if cap is not None else 0)
    status, reasons = rules.decide(fraud, facts)
    referral = store.new_referral(tenant_id, new_id(), clock.iso(now), program_id=program.program_id, code=code.code,
                                  referrer_id=code.member_id, referee_id=referee_id, status=status, reasons=reasons)
    accepted = status != "rejected"
    if accepted:  # an accepted sign-up takes a slot of the hour (conditional while pending, so racers hold)
        store.stage_velocity(tx, tenant_id, code.code, hour, int(cap) if cap is not None and status == "pending"
                             else None, int((now + _VELOCITY_TTL).timestamp()))
    converts = status == "pending" and program.conversion.get("type") == "signup"
    if converts and moves.limits_full(tenant_id, program, code.member_id, now):
        referral.status, referral.reasons, converts, accepted = "rejected", ["referrer_limit"], False, True
    if converts:
        moves.convert(tx, tenant_id, program, referral, now, None)
    stat = store.get_stat(tenant_id, code.member_id, program.program_id) if accepted else None
    if accepted and referee_id != code.member_id:
        store.stage_stat(tx, tenant_id, code.member_id, program.program_id, stat, 1, 1 if converts else 0)
    store.stage_referral(tx, referral)
    store.stage_referee(tx, tenant_id, referee_id, referral.referral_id)
    moves.count(tx, tenant_id, program.program_id, referral.referral_id, signups=1,
                new_members=1 if status != "rejected" else 0, held=1 if referral.status == "held" else 0,
                rejected=1 if referral.status == "rejected" else 0,
                active_referrers=1 if accepted and stat is None and referee_id != code.member_id else 0)
    moves.events(tx, tenant_id, referral, {"pending": "signed_up", "converted": "signed_up"}.get(
        referral.status, referral.status), now)
