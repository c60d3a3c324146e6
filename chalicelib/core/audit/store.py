"""Audit items: one per committed change, listed three ways without a scan.

* by time, per tenant: ``T#<t>#AUDIT#<shard>`` / ``<at>#<id>`` (the item's own key; the
  shard is a hash of the record id, so a burst of changes spreads over ``AUDIT_SHARDS``
  partitions; reads merge the shards newest first);
* by target: GSI1 ``T#<t>#AUDIT_TARGET#<type>#<id>`` (one member, one journey...);
* by actor: GSI2 ``T#<t>#AUDIT_ACTOR#<actor>#<shard>`` (sharded like the time list).

Every sort key is ``<at>#<id>``, so the three lists page with one cursor format: the sort
key of the last record returned.
"""
from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator
from typing import Any

from pynamodb.attributes import BooleanAttribute, JSONAttribute, UnicodeAttribute

from ..table import keys
from ..table.definition import AUDIT_SHARDS
from ..table.model import TableItem
from ..table.transactions import Transaction


class AuditItem(TableItem, discriminator="audit_event"):
    tenant_id = UnicodeAttribute()
    event_id = UnicodeAttribute()
    at = UnicodeAttribute()
    actor = UnicodeAttribute()
    actor_role = UnicodeAttribute(null=True)
    action = UnicodeAttribute()
    target_type = UnicodeAttribute()
    target_id = UnicodeAttribute()
    changes = JSONAttribute(default=list)
    truncated = BooleanAttribute(default=False)
    request_id = UnicodeAttribute(null=True)
    #: set when the target member was erased and the values were removed
    erased_at = UnicodeAttribute(null=True)


def new_item(tenant_id: str, event_id: str, at: str, actor: str) -> AuditItem:
    sk = keys.audit_sk(at, event_id)
    item = AuditItem(keys.audit_list(tenant_id, keys.shard_of(event_id, AUDIT_SHARDS)), sk)
    item.gsi2pk = keys.audit_by_actor(tenant_id, actor, keys.shard_of(event_id, AUDIT_SHARDS))
    item.gsi2sk = sk
    return item


def stage(tx: Transaction, item: AuditItem) -> None:
    item.gsi1pk = keys.audit_by_target(item.tenant_id, item.target_type, item.target_id)
    item.gsi1sk = item.sk
    tx.save(f"audit:{item.event_id}", item, condition=AuditItem.pk.does_not_exist())


def _shard_query(pk: str, index: str | None, before: str | None, since: str | None,
                 filter_condition: Any, page_size: int) -> Iterator[AuditItem]:
    attr = {None: AuditItem.sk, "gsi1": TableItem.gsi1sk, "gsi2": TableItem.gsi2sk}[index]
    condition: Any
    if before and since:
        condition = attr.between(since, before)
    elif before:
        condition = attr < before
    elif since:
        condition = attr >= since
    else:
        condition = None
    kwargs: dict[str, Any] = {"scan_index_forward": False, "page_size": page_size,
                              "filter_condition": filter_condition}
    if index is None:
        found: Any = AuditItem.query(pk, condition, consistent_read=True, **kwargs)
    else:
        found = getattr(TableItem, index).query(pk, condition, **kwargs)
    for item in found:
        if isinstance(item, AuditItem) and item.sk != before:  # between() includes the cursor's record
            yield item


def page(pks: list[str], index: str | None, before: str | None, since: str | None, limit: int,
         actor: str | None = None, target_type: str | None = None) -> tuple[list[AuditItem], bool]:
    """(records newest first, more): the shards' lists merged by sort key, filtered by
    ``actor`` / ``target_type`` where the list read is not already theirs."""
    filter_condition = None
    if actor:
        filter_condition = AuditItem.actor == actor
    if target_type:
        by_type = AuditItem.target_type == target_type
        filter_condition = by_type if filter_condition is None else filter_condition & by_type
    lists = [_shard_query(pk, index, before, since, filter_condition, limit + 1) for pk in pks]
    merged = heapq.merge(*lists, key=lambda i: i.sk, reverse=True)
    found = list(itertools.islice(merged, limit + 1))
    return found[:limit], len(found) > limit


def by_target(tenant_id: str, target_type: str, target_id: str) -> Iterator[AuditItem]:
    pk = keys.audit_by_target(tenant_id, target_type, target_id)
    for item in TableItem.gsi1.query(pk):
        if isinstance(item, AuditItem):
            yield item


def erase_values(item: AuditItem, changes: list[dict[str, Any]], now: str) -> None:
    item.update(actions=[AuditItem.changes.set(changes), AuditItem.erased_at.set(now)],
                condition=AuditItem.pk.exists())
