"""The tag index: one item per (member, tag), listed by tag in a sparse, sharded GSI1
partition (``T#<tenant>#TAG#<tag_id>#<shard>``, sorted by member id), so "members with
tag X" is a Query, never a Scan, and no tag's list is a hot key.

Shared by the tags capability (tags set by hand and by rules) and the tiers capability
(system tags mirroring tier, stage and RFM segment: ``tier:gold``, ``stage:loyal``,
``rfm:champions``), so segments find members by either the same way.
"""
from __future__ import annotations

from pynamodb.attributes import UnicodeAttribute

from . import keys
from .definition import TAG_LIST_SHARDS
from .model import TableItem
from .transactions import Transaction


def tag_sk(tag_id: str) -> str:
    return f"TAG#{tag_id}"


def tag_list(tenant_id: str, tag_id: str, shard: int) -> str:
    return f"T#{tenant_id}#TAG#{tag_id}#{shard}"


def system_tag(dimension: str, value: str) -> str:
    return f"{dimension}:{value}"


class TagIndexItem(TableItem, discriminator="member_tag"):
    member_id = UnicodeAttribute()
    tag_id = UnicodeAttribute()
    group_id = UnicodeAttribute()


def index_item(tenant_id: str, member_id: str, tag_id: str, group_id: str) -> TagIndexItem:
    item = TagIndexItem(keys.member(tenant_id, member_id), tag_sk(tag_id), member_id=member_id, tag_id=tag_id,
                        group_id=group_id)
    item.gsi1pk = tag_list(tenant_id, tag_id, keys.shard_of(member_id, TAG_LIST_SHARDS))
    item.gsi1sk = member_id
    return item


def stage_put(tx: Transaction, tenant_id: str, member_id: str, tag_id: str, group_id: str) -> None:
    tx.save(f"tag:{tag_id}", index_item(tenant_id, member_id, tag_id, group_id))


def stage_delete(tx: Transaction, tenant_id: str, member_id: str, tag_id: str) -> None:
    tx.delete(f"untag:{tag_id}", TagIndexItem(keys.member(tenant_id, member_id), tag_sk(tag_id)))


def members_page(tenant_id: str, tag_id: str, shard: int, after: str | None, limit: int) -> list[str]:
    """Member ids holding ``tag_id`` in one shard, ascending, after ``after``."""
    condition = TableItem.gsi1sk > after if after else None
    return [i.gsi1sk for i in TableItem.gsi1.query(tag_list(tenant_id, tag_id, shard), condition, limit=limit,
                                                   page_size=limit)]
