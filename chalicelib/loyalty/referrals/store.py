"""Referral items: programs, codes (one claim item per code plus the member's pointer to
it), referrals (listed by referrer on GSI1 and, while held, on GSI2), the referee's
first-touch marker, per-code hourly velocity, per-referrer limits and stats, devices."""
from __future__ import annotations

from typing import Any

from pynamodb.attributes import JSONAttribute, ListAttribute, NumberAttribute, UnicodeAttribute, VersionAttribute
from pynamodb.exceptions import DoesNotExist

from ...core.table import keys
from ...core.table.model import TableItem
from ...core.table.transactions import Transaction


class ProgramItem(TableItem, discriminator="referral_program"):
    program_id = UnicodeAttribute()
    status = UnicodeAttribute()  # active | paused | archived
    #: schemas.ProgramIn as JSON (without status)
    body = JSONAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    version = VersionAttribute()


class CodeItem(TableItem, discriminator="referral_code"):
    code = UnicodeAttribute()
    program_id = UnicodeAttribute()
    member_id = UnicodeAttribute()
    created_at = UnicodeAttribute()


class MemberCodeItem(TableItem, discriminator="referral_member_code"):
    code = UnicodeAttribute()
    program_id = UnicodeAttribute()
    created_at = UnicodeAttribute()


class VelocityItem(TableItem, discriminator="referral_velocity"):
    signups = NumberAttribute(default=0)


class ReferralItem(TableItem, discriminator="referral"):
    referral_id = UnicodeAttribute()
    program_id = UnicodeAttribute()
    code = UnicodeAttribute()
    referrer_id = UnicodeAttribute()
    referee_id = UnicodeAttribute()
    status = UnicodeAttribute()
    reasons = ListAttribute(default=list)  # type: ignore[var-annotated]
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    converted_at = UnicodeAttribute(null=True)
    order_id = UnicodeAttribute(null=True)
    rewarded_at = UnicodeAttribute(null=True)
    reversed_at = UnicodeAttribute(null=True)
    #: the rewards of each side as they stood at conversion ({"referrer": {...}, "referee": {...}})
    rewards = JSONAttribute(null=True)
    version = VersionAttribute()


class RefereeItem(TableItem, discriminator="referral_referee"):
    referral_id = UnicodeAttribute()


class LimitItem(TableItem, discriminator="referral_limit"):
    used = NumberAttribute(default=0)


class StatItem(TableItem, discriminator="referral_stat"):
    member_id = UnicodeAttribute()
    signups = NumberAttribute(default=0)
    conversions = NumberAttribute(default=0)


class DeviceItem(TableItem, discriminator="referral_device"):
    member_id = UnicodeAttribute()


# --- programs ------------------------------------------------------------------------------------------
def new_program(tenant_id: str, program_id: str, status: str, body: dict[str, Any], now: str) -> ProgramItem:
    item = ProgramItem(keys.referral_program(tenant_id, program_id), keys.REFERRAL_PROGRAM_SK, program_id=program_id,
                       status=status, body=body, created_at=now, updated_at=now)
    item.gsi1pk, item.gsi1sk = keys.referral_programs_list(tenant_id), f"{now}#{program_id}"
    return item


def get_program(tenant_id: str, program_id: str) -> ProgramItem | None:
    try:
        return ProgramItem.get(keys.referral_program(tenant_id, program_id), keys.REFERRAL_PROGRAM_SK,
                               consistent_read=True)
    except DoesNotExist:
        return None


def list_programs(tenant_id: str, before: str | None, limit: int) -> tuple[list[ProgramItem], str | None]:
    condition = TableItem.gsi1sk < before if before else None
    items = [i for i in TableItem.gsi1.query(keys.referral_programs_list(tenant_id), condition,
                                             scan_index_forward=False, limit=limit + 1, page_size=limit + 1)
             if isinstance(i, ProgramItem)]
    more = len(items) > limit
    items = items[:limit]
    return items, (items[-1].gsi1sk if more and items else None)


# --- codes ---------------------------------------------------------------------------------------------
def get_code(tenant_id: str, code: str) -> CodeItem | None:
    try:
        return CodeItem.get(keys.referral_code(tenant_id, code), keys.REFERRAL_CODE_SK, consistent_read=True)
    except DoesNotExist:
        return None


def get_member_code(tenant_id: str, member_id: str, program_id: str) -> MemberCodeItem | None:
    try:
        return MemberCodeItem.get(keys.member(tenant_id, member_id), keys.member_referral_code_sk(program_id),
                                  consistent_read=True)
    except DoesNotExist:
        return None


def stage_new_code(tx: Transaction, tenant_id: str, member_id: str, program_id: str, code: str, now: str) -> None:
    """Labels: ``code`` (the code is taken: draw again), ``member_code`` (the member got one meanwhile)."""
    tx.save("code", CodeItem(keys.referral_code(tenant_id, code), keys.REFERRAL_CODE_SK, code=code,
                             program_id=program_id, member_id=member_id, created_at=now),
            condition=CodeItem.pk.does_not_exist())
    tx.save("member_code", MemberCodeItem(keys.member(tenant_id, member_id), keys.member_referral_code_sk(program_id),
                                          code=code, program_id=program_id, created_at=now),
            condition=MemberCodeItem.pk.does_not_exist())


def velocity(tenant_id: str, code: str, hour: str) -> int:
    try:
        return int(VelocityItem.get(keys.referral_code(tenant_id, code), keys.referral_velocity_sk(hour),
                                    consistent_read=True).signups)
    except DoesNotExist:
        return 0


def stage_velocity(tx: Transaction, tenant_id: str, code: str, hour: str, below: int | None, ttl: int) -> None:
    """One more sign-up this hour; with ``below``, only while fewer than that (label ``velocity``)."""
    item = VelocityItem(keys.referral_code(tenant_id, code), keys.referral_velocity_sk(hour))
    condition = (VelocityItem.signups.does_not_exist() | (VelocityItem.signups < below)) if below else None
    tx.update("referral:velocity", item, [VelocityItem.signups.add(1), VelocityItem.item_type.set(VelocityItem),
                                          VelocityItem.ttl.set(ttl)], condition=condition)


# --- referrals -----------------------------------------------------------------------------------------
def new_referral(tenant_id: str, referral_id: str, now: str, **fields: Any) -> ReferralItem:
    item = ReferralItem(keys.referral(tenant_id, referral_id), keys.REFERRAL_SK, referral_id=referral_id,
                        created_at=now, updated_at=now, **fields)
    item.gsi1pk, item.gsi1sk = keys.referrals_by_referrer(tenant_id, item.referrer_id), f"{now}#{referral_id}"
    place_held(item, tenant_id)
    return item


def place_held(item: ReferralItem, tenant_id: str) -> None:
    """Listed on GSI2 only while held (a sparse index: the review queue)."""
    if item.status == "held":
        item.gsi2pk, item.gsi2sk = keys.held_referrals(tenant_id), f"{item.created_at}#{item.referral_id}"
    else:
        item.gsi2pk = item.gsi2sk = None


def get_referral(tenant_id: str, referral_id: str) -> ReferralItem | None:
    try:
        return ReferralItem.get(keys.referral(tenant_id, referral_id), keys.REFERRAL_SK, consistent_read=True)
    except DoesNotExist:
        return None


def stage_referral(tx: Transaction, item: ReferralItem) -> None:
    """New (no item yet) or version-checked: label ``referral:item``."""
    tx.save("referral:item", item)


def get_referee(tenant_id: str, member_id: str) -> RefereeItem | None:
    try:
        return RefereeItem.get(keys.member(tenant_id, member_id), keys.REFERRED_SK, consistent_read=True)
    except DoesNotExist:
        return None


def stage_referee(tx: Transaction, tenant_id: str, member_id: str, referral_id: str) -> None:
    """First touch: one per member (label ``referral:referee``)."""
    tx.save("referral:referee", RefereeItem(keys.member(tenant_id, member_id), keys.REFERRED_SK,
                                            referral_id=referral_id), condition=RefereeItem.pk.does_not_exist())


def held_page(tenant_id: str, after: str | None, limit: int) -> tuple[list[ReferralItem], str | None]:
    """Oldest first (the review queue); GSI2 is eventually consistent."""
    condition = TableItem.gsi2sk > after if after else None
    items = [i for i in TableItem.gsi2.query(keys.held_referrals(tenant_id), condition, limit=limit + 1,
                                             page_size=limit + 1) if isinstance(i, ReferralItem)]
    more = len(items) > limit
    items = items[:limit]
    return items, (items[-1].gsi2sk if more and items else None)


def by_referrer(tenant_id: str, member_id: str, limit: int) -> list[ReferralItem]:
    return [i for i in TableItem.gsi1.query(keys.referrals_by_referrer(tenant_id, member_id), limit=limit,
                                            page_size=limit) if isinstance(i, ReferralItem)]


# --- per-referrer limits and stats ---------------------------------------------------------------------
def stage_limit(tx: Transaction, tenant_id: str, member_id: str, program_id: str, period: str, limit: int,
                ttl: int | None) -> None:
    item = LimitItem(keys.member(tenant_id, member_id), keys.referrer_limit_sk(program_id, period))
    actions = [LimitItem.used.add(1), LimitItem.item_type.set(LimitItem)]
    if ttl:
        actions.append(LimitItem.ttl.set(ttl))
    tx.update(f"referral:limit:{period}", item, actions,
              condition=LimitItem.used.does_not_exist() | (LimitItem.used < limit))


def limit_used(tenant_id: str, member_id: str, program_id: str, period: str) -> int:
    try:
        return int(LimitItem.get(keys.member(tenant_id, member_id), keys.referrer_limit_sk(program_id, period),
                                 consistent_read=True).used)
    except DoesNotExist:
        return 0


def get_stat(tenant_id: str, member_id: str, program_id: str) -> StatItem | None:
    try:
        return StatItem.get(keys.member(tenant_id, member_id), keys.referrer_stat_sk(program_id), consistent_read=True)
    except DoesNotExist:
        return None


def stage_stat(tx: Transaction, tenant_id: str, member_id: str, program_id: str, current: StatItem | None,
               signups: int, conversions: int) -> None:
    """Add to the referrer's stats, conditioned on what was read (label ``referral:stat``), and
    keep its place in the top-referrer index (GSI2, sharded by member) in step."""
    total = (int(current.conversions) if current else 0) + conversions
    rank_pk = keys.referrer_rank(tenant_id, program_id, keys.shard_of(member_id, keys.REFERRER_RANK_SHARDS))
    rank_sk = f"{total:010d}#{member_id}"
    item = StatItem(keys.member(tenant_id, member_id), keys.referrer_stat_sk(program_id))
    actions = [StatItem.signups.add(signups), StatItem.conversions.add(conversions), StatItem.member_id.set(member_id),
               StatItem.item_type.set(StatItem), StatItem.gsi2pk.set(rank_pk), StatItem.gsi2sk.set(rank_sk)]
    condition = (StatItem.pk.does_not_exist() if current is None
                 else StatItem.conversions == int(current.conversions))
    tx.update("referral:stat", item, actions, condition=condition)


def top_referrers(tenant_id: str, program_id: str, n: int) -> list[StatItem]:
    """The ``n`` referrers with most conversions: ``n`` from each shard, merged (bounded)."""
    found: list[StatItem] = []
    for shard in range(keys.REFERRER_RANK_SHARDS):
        found += [i for i in TableItem.gsi2.query(keys.referrer_rank(tenant_id, program_id, shard),
                                                  scan_index_forward=False, limit=n, page_size=n)
                  if isinstance(i, StatItem)]
    return sorted(found, key=lambda s: (-int(s.conversions), -int(s.signups), s.member_id))[:n]


# --- devices -------------------------------------------------------------------------------------------
def device_owner(tenant_id: str, device_hash: str) -> str | None:
    try:
        return DeviceItem.get(keys.referral_device(tenant_id, device_hash), keys.REFERRAL_DEVICE_SK,
                              consistent_read=True).member_id
    except DoesNotExist:
        return None


def stage_device(tx: Transaction, tenant_id: str, device_hash: str, member_id: str) -> None:
    """The first member seen on the device keeps it (label ``referral:device``), with a pointer
    in the member's collection so erasure finds it."""
    tx.save("referral:device", DeviceItem(keys.referral_device(tenant_id, device_hash), keys.REFERRAL_DEVICE_SK,
                                          member_id=member_id), condition=DeviceItem.pk.does_not_exist())
    tx.save("referral:device_of", DeviceOfItem(keys.member(tenant_id, member_id),
                                               f"{keys.REFERRAL_DEVICE_OF_PREFIX}{device_hash}"))


class DeviceOfItem(TableItem, discriminator="referral_device_of"):
    pass


def forget_member(tenant_id: str, member_id: str) -> int:
    """Erasure: the member's code items and device items (their pointers go with the member's
    collection). Referral items keep only member ids, no personal value. Idempotent."""
    gone = 0
    for prefix in (keys.REFERRAL_CODE_OF_PREFIX, keys.REFERRAL_DEVICE_OF_PREFIX):
        for item in TableItem.query(keys.member(tenant_id, member_id), TableItem.sk.startswith(prefix),
                                    consistent_read=True):
            if isinstance(item, MemberCodeItem):
                CodeItem(keys.referral_code(tenant_id, item.code), keys.REFERRAL_CODE_SK).delete()
            elif isinstance(item, DeviceOfItem):
                device = DeviceItem(keys.referral_device(tenant_id, item.sk[len(prefix):]), keys.REFERRAL_DEVICE_SK)
                device.delete()  # the pointer was written with it: the device is this member's
            gone += 1
    return gone
