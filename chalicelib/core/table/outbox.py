"""Outbox items: what a committed transaction still owes the rest of the system.

One item per transaction that raised signals (see :mod:`chalicelib.core.signals`), in the
collection of the member the write was about, listed by due time in the platform-wide
sharded list ``PLATFORM#OUTBOX#<n>`` (GSI2) so the sweeper finds the ones whose
after-commit delivery did not finish, without a scan. An item is deleted once every
receiver of every signal in it has run.
"""
from __future__ import annotations

from typing import Any

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute, UnicodeSetAttribute, VersionAttribute
from pynamodb.exceptions import DeleteError, DoesNotExist, PutError

from . import keys
from .definition import OUTBOX_SHARDS
from .model import TableItem
from .transactions import Transaction, is_condition_failure


class OutboxItem(TableItem, discriminator="outbox"):
    tenant_id = UnicodeAttribute()
    member_id = UnicodeAttribute(null=True)
    outbox_id = UnicodeAttribute()
    #: [{"name": signal name, "member_id": ..., "data": {...}}] in the order they were raised
    signals = JSONAttribute(default=list)
    #: "<signal index>:<receiver>" of receivers that already ran
    done = UnicodeSetAttribute(null=True)
    attempts = NumberAttribute(default=0)
    due_at = UnicodeAttribute()
    created_at = UnicodeAttribute()
    last_error = UnicodeAttribute(null=True)
    version = VersionAttribute()


def new_item(tenant_id: str, member_id: str | None, outbox_id: str, now_iso: str, due_iso: str) -> OutboxItem:
    item = OutboxItem(keys.outbox_pk(tenant_id, member_id), keys.outbox_sk(outbox_id), tenant_id=tenant_id,
                      member_id=member_id, outbox_id=outbox_id, signals=[], attempts=0, created_at=now_iso,
                      due_at=due_iso)
    _list(item, due_iso)
    return item


def _list(item: OutboxItem, due_iso: str | None) -> None:
    item.due_at = due_iso or item.due_at
    if due_iso is None:
        item.gsi2pk = keys.OUTBOX_DEAD
        item.gsi2sk = f"{item.created_at}#{item.pk}#{item.outbox_id}"
    else:
        item.gsi2pk = keys.outbox_list(keys.shard_of(f"{item.pk}#{item.outbox_id}", OUTBOX_SHARDS))
        item.gsi2sk = f"{due_iso}#{item.pk}#{item.outbox_id}"


def stage(tx: Transaction, item: OutboxItem) -> None:
    tx.save("outbox", item, condition=OutboxItem.pk.does_not_exist())


def delete(item: OutboxItem) -> None:
    """Gone once everything ran (a concurrent sweeper that claimed it meanwhile only finds nothing)."""
    try:
        item.delete()  # version-checked
    except DeleteError as exc:
        if not is_condition_failure(exc):
            raise


def save(item: OutboxItem, due_iso: str | None) -> bool:
    """Record progress and the next attempt (``due_iso`` None: dead, listed for operators);
    False when another deliverer changed it first (it owns the item now)."""
    _list(item, due_iso)
    try:
        item.save()  # version-checked
    except PutError as exc:
        if is_condition_failure(exc):
            return False
        raise
    return True


def due(shard: int, up_to: str, limit: int) -> list[OutboxItem]:
    found = TableItem.gsi2.query(keys.outbox_list(shard), TableItem.gsi2sk <= f"{up_to}#~", limit=limit)
    return [i for i in found if isinstance(i, OutboxItem)]


def dead(limit: int = 100) -> list[OutboxItem]:
    return [i for i in TableItem.gsi2.query(keys.OUTBOX_DEAD, limit=limit) if isinstance(i, OutboxItem)]


def get(tenant_id: str, member_id: str | None, outbox_id: str) -> OutboxItem | None:
    try:
        return OutboxItem.get(keys.outbox_pk(tenant_id, member_id), keys.outbox_sk(outbox_id), consistent_read=True)
    except DoesNotExist:
        return None


def pending_for(pk: str) -> list[Any]:
    """Outbox items still in a collection (tests and erasure)."""
    return list(OutboxItem.query(pk, OutboxItem.sk.startswith("OUTBOX#"), consistent_read=True))
