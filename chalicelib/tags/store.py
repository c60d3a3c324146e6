"""Tag groups, tags, rules, and each member's tags.

A member's tags live in two places written in one transaction: the member's TAGSET item
(every tag with provenance and expiry; version-checked, so a single-choice group's
replacement and the per-member limit hold under concurrency) and the tag index (one item
per tag, listed by tag in GSI1; expiring ones also listed by expiry time in GSI2).
"""
from __future__ import annotations

from typing import Any

from pynamodb.attributes import BooleanAttribute, JSONAttribute, NumberAttribute, UnicodeAttribute, VersionAttribute
from pynamodb.exceptions import DoesNotExist

from ..core.audit import Entry
from ..core.table import counters, generations, keys, limits, tag_index
from ..core.table.definition import LIST_SHARDS
from ..core.table.model import TableItem
from ..core.table.transactions import Transaction

TAGSET_SK = "TAGSET"
EXPIRY_SHARDS = 4
#: moved by every change of a group, tag or rule: the event path caches the rules by it
DEFINITIONS_GENERATION = "tags"


def groups_pk(tenant_id: str) -> str:
    return f"T#{tenant_id}#TAGGROUPS"


def tag_pk(tenant_id: str, tag_id: str) -> str:
    return f"T#{tenant_id}#TAGDEF#{tag_id}"


def group_tags_list(tenant_id: str, group_id: str) -> str:
    return f"T#{tenant_id}#GROUPTAGS#{group_id}"


def rules_pk(tenant_id: str) -> str:
    return f"T#{tenant_id}#TAGRULES"


def expiry_list(tenant_id: str, shard: int) -> str:
    return f"T#{tenant_id}#TAGEXPIRY#{shard}"


def tag_counter(tenant_id: str, tag_id: str) -> str:
    return keys.counter(tenant_id, "tag", tag_id)


def group_counter(tenant_id: str, group_id: str) -> str:
    return keys.counter(tenant_id, "taggroup", group_id)


class TagGroupItem(TableItem, discriminator="tag_group"):
    group_id = UnicodeAttribute()
    name = UnicodeAttribute()
    selection = UnicodeAttribute()
    description = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    deleted = BooleanAttribute(default=False)


class TagItem(TableItem, discriminator="tag"):
    tag_id = UnicodeAttribute()
    group_id = UnicodeAttribute()
    name = UnicodeAttribute()
    description = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    deleted = BooleanAttribute(default=False)


class TagSetItem(TableItem, discriminator="tagset"):
    tenant_id = UnicodeAttribute()
    member_id = UnicodeAttribute()
    #: {tag_id: {"g": group_id, "src": manual|rule, "by": ..., "at": iso, "exp": iso|None}}
    tags = JSONAttribute(default=dict)
    version = VersionAttribute()


class TagRuleItem(TableItem, discriminator="tag_rule"):
    rule_id = UnicodeAttribute()
    name = UnicodeAttribute()
    tag_id = UnicodeAttribute()
    when = JSONAttribute()
    expires_after_days = NumberAttribute(null=True)
    enabled = BooleanAttribute(default=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    backfill_job_id = UnicodeAttribute(null=True)
    version = VersionAttribute()


# --- definitions ------------------------------------------------------------------------------
def get_group(tenant_id: str, group_id: str) -> TagGroupItem | None:
    try:
        item = TagGroupItem.get(groups_pk(tenant_id), f"G#{group_id}", consistent_read=True)
    except DoesNotExist:
        return None
    return None if item.deleted else item


def list_groups(tenant_id: str) -> list[TagGroupItem]:
    return [g for g in TagGroupItem.query(groups_pk(tenant_id), TagGroupItem.sk.startswith("G#")) if not g.deleted]


def create_group(tenant_id: str, group: TagGroupItem, max_groups: int, audit: Entry | None = None) -> None:
    tx = Transaction()
    if audit is not None:
        audit.stage(tx)
    limits.reserve(tx, tenant_id, "tag_groups", max_groups)
    tx.save("group", group, condition=TagGroupItem.pk.does_not_exist())
    generations.bump(tx, tenant_id, DEFINITIONS_GENERATION)
    tx.commit()


def save_group(tenant_id: str, group: TagGroupItem, audit: Entry | None = None) -> None:
    tx = Transaction()
    tx.save("group", group)
    if audit is not None:
        audit.stage(tx)
    generations.bump(tx, tenant_id, DEFINITIONS_GENERATION)
    tx.commit()


def delete_group(tenant_id: str, group: TagGroupItem, audit: Entry | None = None) -> None:
    tx = Transaction()
    if audit is not None:
        audit.stage(tx)
    limits.release(tx, tenant_id, "tag_groups")
    tx.update("group", group, actions=[TagGroupItem.deleted.set(True)], condition=TagGroupItem.deleted == False)  # noqa: E712
    generations.bump(tx, tenant_id, DEFINITIONS_GENERATION)
    tx.commit()


def get_tag(tenant_id: str, tag_id: str) -> TagItem | None:
    try:
        item = TagItem.get(tag_pk(tenant_id, tag_id), "TAG", consistent_read=True)
    except DoesNotExist:
        return None
    return None if item.deleted else item


def get_tags(tenant_id: str, tag_ids: list[str]) -> dict[str, TagItem]:
    if not tag_ids:
        return {}
    return {t.tag_id: t for t in TagItem.batch_get([(tag_pk(tenant_id, i), "TAG") for i in set(tag_ids)])}


def list_group_tags(tenant_id: str, group_id: str) -> list[TagItem]:
    return [t for t in TableItem.gsi2.query(group_tags_list(tenant_id, group_id))
            if isinstance(t, TagItem) and not t.deleted]


def create_tag(tenant_id: str, tag: TagItem, max_per_group: int, audit: Entry | None = None) -> None:
    tx = Transaction()
    if audit is not None:
        audit.stage(tx)
    limits.reserve(tx, tenant_id, f"tags_in_{tag.group_id}", max_per_group)
    tx.check("group", TagGroupItem, groups_pk(tenant_id), f"G#{tag.group_id}", TagGroupItem.deleted == False)  # noqa: E712
    tx.save("tag", tag, condition=TagItem.pk.does_not_exist())
    generations.bump(tx, tenant_id, DEFINITIONS_GENERATION)
    tx.commit()


def save_tag(tenant_id: str, tag: TagItem, audit: Entry | None = None) -> None:
    tx = Transaction()
    tx.save("tag", tag)
    if audit is not None:
        audit.stage(tx)
    generations.bump(tx, tenant_id, DEFINITIONS_GENERATION)
    tx.commit()


def delete_tag(tenant_id: str, tag: TagItem, audit: Entry | None = None) -> None:
    tx = Transaction()
    if audit is not None:
        audit.stage(tx)
    limits.release(tx, tenant_id, f"tags_in_{tag.group_id}")
    tag.gsi2pk = tag.gsi2sk = None
    tx.update("tag", tag, actions=[TagItem.deleted.set(True), TagItem.gsi2pk.remove(), TagItem.gsi2sk.remove()],
              condition=TagItem.deleted == False)  # noqa: E712
    generations.bump(tx, tenant_id, DEFINITIONS_GENERATION)
    tx.commit()


# --- member tags -----------------------------------------------------------------------------------
def get_tagset(tenant_id: str, member_id: str) -> TagSetItem | None:
    try:
        return TagSetItem.get(keys.member(tenant_id, member_id), TAGSET_SK, consistent_read=True)
    except DoesNotExist:
        return None


def get_tagsets(tenant_id: str, member_ids: list[str]) -> dict[str, TagSetItem]:
    if not member_ids:
        return {}
    return {t.member_id: t for t in TagSetItem.batch_get([(keys.member(tenant_id, m), TAGSET_SK) for m in member_ids])}


def new_tagset(tenant_id: str, member_id: str) -> TagSetItem:
    return TagSetItem(keys.member(tenant_id, member_id), TAGSET_SK, tenant_id=tenant_id, member_id=member_id)


def _index_item(tenant_id: str, member_id: str, tag_id: str, entry: dict[str, Any]) -> tag_index.TagIndexItem:
    item = tag_index.index_item(tenant_id, member_id, tag_id, entry["g"])
    if entry.get("exp"):
        item.gsi2pk = expiry_list(tenant_id, keys.shard_of(member_id, EXPIRY_SHARDS))
        item.gsi2sk = f"{entry['exp']}#{member_id}#{tag_id}"
    return item


def stage_tagset(tx: Transaction, tagset: TagSetItem, before: dict[str, Any], after: dict[str, Any]) -> None:
    """Write the member's new tags: the version-checked set, the index items that changed,
    and the tag and group-coverage counters."""
    tagset.tags = after
    tx.save("tagset", tagset)
    _stage_moves(tx, tagset, before, after)


def stage_tagset_gone(tx: Transaction, tagset: TagSetItem) -> None:
    """Erasure: the set goes (version-checked) with its index items, out of the counters.
    (One transaction may not both save and delete the set: DynamoDB refuses two actions
    on one item.)"""
    tx.delete("tagset", tagset)
    _stage_moves(tx, tagset, dict(tagset.tags or {}), {})


def _stage_moves(tx: Transaction, tagset: TagSetItem, before: dict[str, Any], after: dict[str, Any]) -> None:
    tenant_id, member_id = tagset.tenant_id, tagset.member_id
    for tag_id in before:
        if tag_id not in after:
            tag_index.stage_delete(tx, tenant_id, member_id, tag_id)
            counters.add(tx, tag_counter(tenant_id, tag_id), member_id, -1)
    for tag_id, entry in after.items():
        if tag_id not in before or before[tag_id].get("exp") != entry.get("exp"):
            tx.save(f"tag:{tag_id}", _index_item(tenant_id, member_id, tag_id, entry))
        if tag_id not in before:
            counters.add(tx, tag_counter(tenant_id, tag_id), member_id, +1)
    groups_before = {e["g"] for e in before.values()}
    groups_after = {e["g"] for e in after.values()}
    for group_id in groups_before - groups_after:
        counters.add(tx, group_counter(tenant_id, group_id), member_id, -1)
    for group_id in groups_after - groups_before:
        counters.add(tx, group_counter(tenant_id, group_id), member_id, +1)


def expired(tenant_id: str, now: str, limit: int = 100) -> list[tag_index.TagIndexItem]:
    """Tag index entries whose expiry has passed (a Query per shard, no scan)."""
    found: list[tag_index.TagIndexItem] = []
    bound = f"{now}$"  # an expiry equal to now has expired (as reads see it)
    for shard in range(EXPIRY_SHARDS):
        found += [i for i in TableItem.gsi2.query(expiry_list(tenant_id, shard), TableItem.gsi2sk < bound, limit=limit)
                  if isinstance(i, tag_index.TagIndexItem)]
    return found


def expired_holders(tenant_id: str, now: str) -> set[str]:
    """Members holding a tag whose expiry is at or before ``now`` that the sweep has not
    removed yet (every page of every expiry shard: the backlog is what expired since the
    last sweep)."""
    bound = f"{now}$"  # past "<now>#<member>#<tag>": an expiry equal to now has expired, as reads see it
    found: set[str] = set()
    for shard in range(EXPIRY_SHARDS):
        found |= {i.member_id for i in TableItem.gsi2.query(expiry_list(tenant_id, shard), TableItem.gsi2sk < bound)
                  if isinstance(i, tag_index.TagIndexItem)}
    return found


def tag_members_page(tenant_id: str, tag_id: str, shard: int, after: str | None, limit: int) -> list[str]:
    return tag_index.members_page(tenant_id, tag_id, shard, after, limit)


def read_counts(names: list[str]) -> dict[str, int]:
    return counters.read(names)


# --- rules -----------------------------------------------------------------------------------------------
def get_rule(tenant_id: str, rule_id: str) -> TagRuleItem | None:
    try:
        return TagRuleItem.get(rules_pk(tenant_id), f"R#{rule_id}", consistent_read=True)
    except DoesNotExist:
        return None


def list_rules(tenant_id: str) -> list[TagRuleItem]:
    return list(TagRuleItem.query(rules_pk(tenant_id), TagRuleItem.sk.startswith("R#")))


def stage_new_rule(tx: Transaction, tenant_id: str, rule: TagRuleItem, max_rules: int) -> None:
    limits.reserve(tx, tenant_id, "tag_rules", max_rules)
    tx.save("rule", rule, condition=TagRuleItem.pk.does_not_exist())
    generations.bump(tx, tenant_id, DEFINITIONS_GENERATION)


def stage_rule(tx: Transaction, tenant_id: str, rule: TagRuleItem) -> None:
    tx.save("rule", rule)  # version-checked
    generations.bump(tx, tenant_id, DEFINITIONS_GENERATION)


def delete_rule(tenant_id: str, rule: TagRuleItem, audit: Entry | None = None) -> None:
    tx = Transaction()
    if audit is not None:
        audit.stage(tx)
    limits.release(tx, tenant_id, "tag_rules")
    tx.delete("rule", rule)
    generations.bump(tx, tenant_id, DEFINITIONS_GENERATION)
    tx.commit()


__all__ = ["LIST_SHARDS"]
