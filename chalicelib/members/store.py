"""Member, identity, channel and channel-counter items, and the writes that keep them
consistent: a member and its identity items are written in one transaction, so one phone
(or email, or channel id) is one member even under concurrent requests.
"""
from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pynamodb.attributes import JSONAttribute, UnicodeAttribute, VersionAttribute
from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.condition import Condition
from pynamodb.indexes import GlobalSecondaryIndex

from ..core.audit import Entry
from ..core.table import counters, keys
from ..core.table.model import TableItem
from ..core.table.transactions import Transaction


class MemberItem(TableItem, discriminator="member"):
    tenant_id = UnicodeAttribute()
    member_id = UnicodeAttribute()
    #: {kind: normalized value}: phone, email and channel ids
    identities = JSONAttribute(default=dict)
    name = UnicodeAttribute(null=True)
    birthday = JSONAttribute(null=True)
    gender = UnicodeAttribute(null=True)
    attributes = JSONAttribute(default=dict)
    consents = JSONAttribute(default=dict)
    source = JSONAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    erased_at = UnicodeAttribute(null=True)
    version = VersionAttribute()


class IdentityItem(TableItem, discriminator="identity"):
    member_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    created_at = UnicodeAttribute()


class ChannelItem(TableItem, discriminator="channel"):
    code = UnicodeAttribute()
    name = UnicodeAttribute()
    platform = UnicodeAttribute(null=True)
    description = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    #: "guide" for a guide's personal code (made by the guides capability); absent otherwise
    type = UnicodeAttribute(null=True)


class BirthdayEntry(TableItem, discriminator="birthday_entry"):
    """The member under its birthday's month-day (GSI1 ``keys.birthdays``), kept in the
    same transaction as the profile's birthday."""

    member_id = UnicodeAttribute()


class BirthdayIndexState(TableItem, discriminator="birthday_index_state"):
    """Present once every member the tenant had before the index existed was added to it."""

    completed_at = UnicodeAttribute()


def month_day(birthday: Any) -> str | None:
    """``MM-DD`` of a stored birthday ({"month", "day", "year"?}), None without one."""
    if isinstance(birthday, dict) and birthday.get("month") and birthday.get("day"):
        return f"{int(birthday['month']):02d}-{int(birthday['day']):02d}"
    return None


def _birthday_entry(tenant_id: str, member_id: str, day: str) -> BirthdayEntry:
    entry = BirthdayEntry(keys.member(tenant_id, member_id), keys.BIRTHDAY_SK, member_id=member_id)
    entry.gsi1pk, entry.gsi1sk = keys.birthdays(tenant_id, day), member_id
    return entry


def _stage_birthday(tx: Transaction, tenant_id: str, member_id: str, was: Any, now: Any) -> None:
    old, new = month_day(was), month_day(now)
    if old == new:
        return
    if new is None:
        tx.delete("birthday", BirthdayEntry(keys.member(tenant_id, member_id), keys.BIRTHDAY_SK))
    else:
        tx.save("birthday", _birthday_entry(tenant_id, member_id, new))


def add_to_birthday_index(tenant_id: str, member_id: str, birthday: Any) -> bool:
    """The backfill's write: only where the member has no entry yet (a profile write since
    the backfill read it has already put the right one). False if it had one."""
    from pynamodb.exceptions import PutError

    from ..core.table.transactions import is_condition_failure

    day = month_day(birthday)
    if day is None:
        return False
    try:
        _birthday_entry(tenant_id, member_id, day).save(condition=BirthdayEntry.pk.does_not_exist())
    except PutError as exc:
        if is_condition_failure(exc):
            return False
        raise
    return True


def birthday_ids_page(tenant_id: str, day: str, after: str | None, limit: int) -> list[str]:
    condition = TableItem.gsi1sk > after if after else None
    rows = TableItem.gsi1.query(keys.birthdays(tenant_id, day), condition, limit=limit, page_size=limit)
    return [r.member_id for r in rows if isinstance(r, BirthdayEntry)]


def birthday_index_complete(tenant_id: str) -> bool:
    pk, sk = keys.birthday_index_state(tenant_id)
    try:
        BirthdayIndexState.get(pk, sk)
    except DoesNotExist:
        return False
    return True


def mark_birthday_index_complete(tenant_id: str, now: str) -> None:
    pk, sk = keys.birthday_index_state(tenant_id)
    BirthdayIndexState(pk, sk, completed_at=now).save()


# --- reads ----------------------------------------------------------------------------
def get_member(tenant_id: str, member_id: str) -> MemberItem | None:
    try:
        return MemberItem.get(keys.member(tenant_id, member_id), keys.PROFILE_SK, consistent_read=True)
    except DoesNotExist:
        return None


def get_members(tenant_id: str, member_ids: list[str]) -> dict[str, MemberItem]:
    """Profiles by id, one BatchGetItem per 100 (eventually consistent: for bulk reads)."""
    if not member_ids:
        return {}
    keys_ = [(keys.member(tenant_id, m), keys.PROFILE_SK) for m in dict.fromkeys(member_ids)]
    return {m.member_id: m for m in MemberItem.batch_get(keys_) if isinstance(m, MemberItem)}


def member_ids_page(tenant_id: str, channel: str | None, shard: int, after: str | None,
                    limit: int) -> list[tuple[str, str]]:
    """(sort key, member id) ascending in one shard of the member list (or of a source
    channel's list), after ``after``: for walking every member without a scan."""
    idx: GlobalSecondaryIndex[TableItem]
    if channel:
        idx, pk, rng = TableItem.gsi2, keys.members_by_channel(tenant_id, channel, shard), TableItem.gsi2sk
    else:
        idx, pk, rng = TableItem.gsi1, keys.members_list(tenant_id, shard), TableItem.gsi1sk
    condition = rng > after if after else None
    rows = idx.query(pk, condition, limit=limit, page_size=limit)
    return [(getattr(r, "gsi2sk" if channel else "gsi1sk"), r.member_id) for r in rows if isinstance(r, MemberItem)]


def find_identities(tenant_id: str, identities: dict[str, str]) -> dict[str, str]:
    """{kind: member_id} for those of ``identities`` that already belong to a member."""
    wanted = {keys.identity(tenant_id, kind, value): kind for kind, value in identities.items()}
    found: dict[str, str] = {}
    for item in IdentityItem.batch_get([(pk, keys.IDENTITY_SK) for pk in wanted], consistent_read=True):
        found[wanted[item.pk]] = item.member_id
    return found


def member_collection(tenant_id: str, member_id: str) -> list[TableItem]:
    """Every item in the member's collection (profile and whatever capabilities add)."""
    return list(TableItem.query(keys.member(tenant_id, member_id), consistent_read=True))


#: bookkeeping every item carries (keys, index keys, type, version, expiry): not data about the member
_INTERNAL = frozenset({"pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "item_type", "version", "revision",
                       "ttl"})
#: machinery that only points at other records (pending deliveries, dedupe claims, task pointers)
_MACHINERY = ("OUTBOX#", "JTRIG#", "GUIDE_OTASK#", "TASKREF#", "TASK_CLAIM#", "GORDER#")


def export_records(tenant_id: str, member_id: str) -> list[dict[str, Any]]:
    """The member's records besides the profile, for a data-subject export: each as
    ``{**its data, "record_type": <item type>}``, without the table's bookkeeping."""
    records = []
    for item in member_collection(tenant_id, member_id):
        if item.sk == keys.PROFILE_SK or item.sk.startswith(_MACHINERY):
            continue
        data = {k: v for k, v in item.attribute_values.items() if k not in _INTERNAL}
        records.append({**data, "record_type": TableItem.item_type.serialize(type(item))})
    return records


@dataclass
class ListPage:
    items: list[MemberItem]
    more: bool


def list_members(partitions: list[str], index: str, below: str | None, above: str | None,
                 limit: int) -> ListPage:
    """Newest first across the shards of a list: read up to ``limit`` from each shard and
    merge. ``below``/``above`` bound the sort key (exclusive)."""
    idx = TableItem.gsi1 if index == "gsi1" else TableItem.gsi2
    range_attr = TableItem.gsi1sk if index == "gsi1" else TableItem.gsi2sk
    condition: Condition | None = None
    if below and above:
        condition = range_attr.between(above, below)
    elif below:
        condition = range_attr < below
    elif above:
        condition = range_attr > above
    # each shard is read lazily, a slice at a time, only as far as the merge needs: about
    # ``limit`` items in all (32 shards), not ``limit`` from every shard (+2: a bound may be filtered out)
    chunk = max(4, 2 * (limit + 1) // max(1, len(partitions)) + 1)
    runs = [
        (row for row in idx.query(partition, condition, scan_index_forward=False, limit=limit + 2, page_size=chunk)
         if isinstance(row, MemberItem) and getattr(row, f"{index}sk") not in (below, above))
        for partition in partitions
    ]
    sort_key = (lambda m: m.gsi1sk) if index == "gsi1" else (lambda m: m.gsi2sk)
    merged = list(itertools.islice(heapq.merge(*runs, key=sort_key, reverse=True), limit + 1))
    return ListPage(items=merged[:limit], more=len(merged) > limit)


def member_count(tenant_id: str) -> int:
    name = keys.member_count(tenant_id)
    return counters.read([name])[name]


def get_channel(tenant_id: str, code: str) -> ChannelItem | None:
    try:
        return ChannelItem.get(keys.channels(tenant_id), keys.channel_sk(code), consistent_read=True)
    except DoesNotExist:
        return None


def channel_member_count(tenant_id: str, code: str) -> int:
    name = keys.channel_counter(tenant_id, code)
    return counters.read([name])[name]


def list_channels(tenant_id: str, after: str | None, limit: int) -> tuple[list[ChannelItem], str | None]:
    result = ChannelItem.query(
        keys.channels(tenant_id), ChannelItem.sk.startswith("CH#"), limit=limit, page_size=limit,
        last_evaluated_key={"pk": {"S": keys.channels(tenant_id)}, "sk": {"S": after}} if after else None,
    )
    items = list(result)
    last = result.last_evaluated_key
    return items, (last["sk"]["S"] if last and len(items) >= limit else None)


# --- writes ---------------------------------------------------------------------------
def _identity_items(tenant_id: str, member_id: str, identities: dict[str, str], now: str) -> Iterable[IdentityItem]:
    for kind, value in identities.items():
        yield IdentityItem(keys.identity(tenant_id, kind, value), keys.IDENTITY_SK,
                           member_id=member_id, kind=kind, created_at=now)


def _count_channel(tx: Transaction, tenant_id: str, code: str, member_id: str, delta: int) -> None:
    counters.add(tx, keys.channel_counter(tenant_id, code), member_id, delta)


#: stages what must follow the write (a signal) in its transaction
Staging = Callable[[Transaction], None]


def create_member(member: MemberItem, now: str, audit: Entry | None = None,
                  signal: Staging | None = None, contribute: Staging | None = None) -> None:
    """Profile + identity items (+ channel check and count) in one transaction.

    Cancellation labels: ``identity:<kind>`` (taken), ``channel`` (unknown source
    channel), ``referrer`` (unknown referring member).
    """
    tenant_id, member_id = member.tenant_id, member.member_id
    tx = Transaction()
    if contribute is not None:  # first: a participant may complete the source (a referral's referrer)
        contribute(tx)
    tx.save("profile", member, condition=MemberItem.pk.does_not_exist())
    counters.add(tx, keys.member_count(tenant_id), member_id, +1)
    _stage_birthday(tx, tenant_id, member_id, None, member.birthday)
    for item in _identity_items(tenant_id, member_id, member.identities, now):
        tx.save(f"identity:{item.kind}", item, condition=IdentityItem.pk.does_not_exist())
    source = member.source or {}
    if source.get("channel"):
        tx.check("channel", ChannelItem, keys.channels(tenant_id), keys.channel_sk(source["channel"]),
                 ChannelItem.pk.exists())
        _count_channel(tx, tenant_id, source["channel"], member_id, +1)
    if source.get("referrer_member_id"):
        tx.check("referrer", MemberItem, keys.member(tenant_id, source["referrer_member_id"]),
                 keys.PROFILE_SK, MemberItem.pk.exists() & MemberItem.erased_at.does_not_exist())
    if audit is not None:  # the record commits with the change, or neither does
        audit.stage(tx)
    if signal is not None:
        signal(tx)
    tx.commit()


def update_member(member: MemberItem, added: dict[str, str], removed: dict[str, str], now: str,
                  new_source: dict[str, Any] | None = None, birthday_was: Any = None,
                  audit: Entry | None = None, signal: Staging | None = None) -> None:
    """Save the profile (version-checked) and move identity items, in one transaction.

    Cancellation labels: ``profile`` (stale version), ``identity:<kind>`` (taken),
    ``channel``, ``referrer`` as for :func:`create_member`.
    """
    tenant_id, member_id = member.tenant_id, member.member_id
    tx = Transaction()
    tx.save("profile", member)  # PynamoDB adds the version condition
    _stage_birthday(tx, tenant_id, member_id, birthday_was, member.birthday)
    for kind, value in removed.items():
        tx.delete(f"release:{kind}", IdentityItem(keys.identity(tenant_id, kind, value), keys.IDENTITY_SK),
                  condition=IdentityItem.member_id == member_id)
    for item in _identity_items(tenant_id, member_id, added, now):
        tx.save(f"identity:{item.kind}", item, condition=IdentityItem.pk.does_not_exist())
    if new_source and new_source.get("channel"):
        tx.check("channel", ChannelItem, keys.channels(tenant_id), keys.channel_sk(new_source["channel"]),
                 ChannelItem.pk.exists())
        _count_channel(tx, tenant_id, new_source["channel"], member_id, +1)
    if new_source and new_source.get("referrer_member_id"):
        tx.check("referrer", MemberItem, keys.member(tenant_id, new_source["referrer_member_id"]),
                 keys.PROFILE_SK, MemberItem.pk.exists() & MemberItem.erased_at.does_not_exist())
    if audit is not None:  # the record commits with the change, or neither does
        audit.stage(tx)
    if signal is not None:
        signal(tx)
    tx.commit()


def erase_member(tombstone: MemberItem, identities: dict[str, str], channel: str | None,
                 others: list[TableItem], audit: Entry | None = None, signal: Staging | None = None) -> None:
    """Replace the profile with a tombstone, free its identities, uncount its channel,
    and delete every other item of its collection."""
    tenant_id, member_id = tombstone.tenant_id, tombstone.member_id
    tx = Transaction()
    tx.save("profile", tombstone)
    counters.add(tx, keys.member_count(tenant_id), member_id, -1)
    for kind, value in identities.items():
        tx.delete(f"release:{kind}", IdentityItem(keys.identity(tenant_id, kind, value), keys.IDENTITY_SK),
                  condition=IdentityItem.member_id == member_id)
    if channel:
        _count_channel(tx, tenant_id, channel, member_id, -1)
    if audit is not None:  # the record commits with the change, or neither does
        audit.stage(tx)
    if signal is not None:
        signal(tx)
    tx.commit()
    for item in others:  # beyond the transaction's size; a retry of the erasure finishes it
        item.delete()


def stage_channel(tx: Transaction, channel: ChannelItem) -> None:
    """The channel inside another capability's write (a guide and its code); fails as ``channel_code``."""
    tx.save("channel_code", channel, condition=ChannelItem.pk.does_not_exist())


def create_channel(channel: ChannelItem, audit: Entry | None = None) -> bool:
    """False if the code is taken (then no audit record either: one transaction)."""
    from ..core.table.transactions import TransactionCancelled

    tx = Transaction()
    tx.save("channel", channel, condition=ChannelItem.pk.does_not_exist())
    if audit is not None:
        audit.stage(tx)
    try:
        tx.commit()
    except TransactionCancelled as exc:
        if "channel" in exc.failed:
            return False
        raise
    return True
