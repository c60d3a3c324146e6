"""Standing (aggregates, stage, tier, RFM) per member, its history, the tenant's tier
program / stage rules / RFM cut-offs, and the counters analytics read."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, fields
from typing import Any

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute, VersionAttribute
from pynamodb.exceptions import DoesNotExist

from ..core.table import counters, generations, keys, tag_index
from ..core.table.definition import STANDING_SHARDS
from ..core.table.model import TableItem
from ..core.table.transactions import StaleVersion, Transaction, TransactionCancelled
from .rules import Change, Standing

STANDING_SK = "STANDING"
PROGRAM_SK, STAGE_RULES_SK, RFM_SK = "TIER_PROGRAM", "STAGE_RULES", "RFM_CUTOFFS"


def config_pk(tenant_id: str) -> str:
    return f"T#{tenant_id}#CONFIG"


def standings_list(tenant_id: str, shard: int) -> str:
    return f"T#{tenant_id}#STANDINGS#{shard}"


class ConfigItem(TableItem, discriminator="config"):
    body = JSONAttribute(default=dict)
    updated_at = UnicodeAttribute(null=True)
    version = VersionAttribute()


class StandingItem(TableItem, discriminator="standing"):
    tenant_id = UnicodeAttribute()
    member_id = UnicodeAttribute()
    data = JSONAttribute(default=dict)
    #: the indexed copies analytics and re-evaluation need
    stage = UnicodeAttribute(null=True)
    tier = UnicodeAttribute(null=True)
    lifetime_spend = NumberAttribute(default=0)
    version = VersionAttribute()

    def standing(self) -> Standing:
        known = {f.name for f in fields(Standing)}
        return Standing(**{k: v for k, v in (self.data or {}).items() if k in known})


class HistoryItem(TableItem, discriminator="history"):
    dimension = UnicodeAttribute()
    old = UnicodeAttribute(null=True)
    new = UnicodeAttribute(null=True)
    reason = UnicodeAttribute()
    at = UnicodeAttribute()


# --- config -----------------------------------------------------------------------------
def get_config(tenant_id: str, sk: str) -> ConfigItem | None:
    try:
        return ConfigItem.get(config_pk(tenant_id), sk, consistent_read=True)
    except DoesNotExist:
        return None


def get_configs(tenant_id: str) -> dict[str, ConfigItem]:
    """Every config item of the tenant (program, stage rules, RFM cut-offs) in one Query."""
    return {i.sk: i for i in ConfigItem.query(config_pk(tenant_id), consistent_read=True)}


#: the generation every change of a config item moves (readers cache the items by it)
CONFIG_GENERATION = "tiers"


def stage_config(tx: Transaction, tenant_id: str, sk: str, body: dict[str, Any], now: str,
                 current: ConfigItem | None) -> ConfigItem:
    """Like :func:`put_config`, inside ``tx`` (version-checked: label ``config``)."""
    item = current or ConfigItem(config_pk(tenant_id), sk)
    item.body, item.updated_at = body, now
    tx.save("config", item)
    generations.bump(tx, tenant_id, CONFIG_GENERATION)
    return item


def put_config(tenant_id: str, sk: str, body: dict[str, Any], now: str, current: ConfigItem | None) -> ConfigItem:
    """Save one config item, version-checked (StaleVersion when it moved meanwhile)."""
    tx = Transaction()
    item = stage_config(tx, tenant_id, sk, body, now, current)
    try:
        tx.commit()
    except TransactionCancelled as exc:
        if "config" in exc.failed:
            raise StaleVersion() from exc
        raise
    return item


# --- standing ---------------------------------------------------------------------------
def get_standing(tenant_id: str, member_id: str) -> StandingItem | None:
    try:
        return StandingItem.get(keys.member(tenant_id, member_id), STANDING_SK, consistent_read=True)
    except DoesNotExist:
        return None


def get_standings(tenant_id: str, member_ids: list[str]) -> list[StandingItem]:
    if not member_ids:
        return []
    wanted = [(keys.member(tenant_id, m), STANDING_SK) for m in dict.fromkeys(member_ids)]
    return [i for i in StandingItem.batch_get(wanted) if isinstance(i, StandingItem)]


def new_standing_item(tenant_id: str, member_id: str) -> StandingItem:
    item = StandingItem(keys.member(tenant_id, member_id), STANDING_SK, tenant_id=tenant_id, member_id=member_id)
    item.gsi1pk = standings_list(tenant_id, keys.shard_of(member_id, STANDING_SHARDS))
    item.gsi1sk = member_id
    return item


def stage_counter(tenant_id: str, stage: str) -> str:
    return keys.counter(tenant_id, "stage", stage)


def tier_counter(tenant_id: str, tier: str | None) -> str:
    return keys.counter(tenant_id, "tier", tier or "none")


def rfm_counter(tenant_id: str, segment: str) -> str:
    return keys.counter(tenant_id, "rfm", segment)


def stage_standing(
    tx: Transaction, item: StandingItem, before: Standing | None, after: Standing,
    changes: list[Change], now: str, effective_after: str | None, history_ids: list[str],
) -> None:
    """Add to ``tx``: the version-checked standing, its history, and counter moves.

    Counters move from what the item recorded last time (``item.tier``, ``item.stage``),
    so they always undo exactly what an earlier write added."""
    tenant_id, member_id = item.tenant_id, item.member_id
    effective_before = item.tier
    item_stage_before = item.stage or (before.stage if before else None)
    moves: list[tuple[str, int]] = []  # (counter, delta)
    if before is None:
        moves = [(stage_counter(tenant_id, after.stage), 1), (tier_counter(tenant_id, effective_after), 1),
                 (rfm_counter(tenant_id, after.rfm_segment()), 1)]
    else:
        for old, new, name in [(item.stage or before.stage, after.stage, stage_counter),
                               (effective_before, effective_after, tier_counter),
                               (before.rfm_segment(), after.rfm_segment(), rfm_counter)]:
            if old != new:
                moves += [(name(tenant_id, old), -1), (name(tenant_id, new), 1)]  # type: ignore[arg-type]
    item.data = asdict(after)
    item.stage, item.tier, item.lifetime_spend = after.stage, effective_after, after.lifetime_spend
    tx.save("standing", item)
    for change, history_id in zip(changes, history_ids, strict=True):
        tx.save(f"history:{history_id}", HistoryItem(
            keys.member(tenant_id, member_id), f"HIST#{change.dimension}#{now}#{history_id}",
            dimension=change.dimension, old=change.old, new=change.new, reason=change.reason, at=now))
    for counter, delta in moves:
        counters.add(tx, counter, member_id, delta)
    _move_system_tags(tx, tenant_id, member_id, before is None,
                      [("stage", item_stage_before, after.stage), ("tier", effective_before, effective_after),
                       ("rfm", before.rfm_segment() if before else None, after.rfm_segment())])


#: values that mean "none": no system tag item (segments on them walk the member list)
_UNTAGGED = {None, "none", "prospect_aware"}


def _move_system_tags(tx: Transaction, tenant_id: str, member_id: str, new: bool,
                      moves: list[tuple[str, str | None, str | None]]) -> None:
    """Keep the system tags (``stage:loyal``, ``tier:gold``, ``rfm:champions``) of the tag
    index equal to the standing, in the standing's own transaction."""
    for dimension, old, value in moves:
        if not new and old == value:
            continue
        if not new and old not in _UNTAGGED:
            tag_index.stage_delete(tx, tenant_id, member_id, tag_index.system_tag(dimension, old))  # type: ignore[arg-type]
        if value not in _UNTAGGED:
            tag_index.stage_put(tx, tenant_id, member_id, tag_index.system_tag(dimension, value), dimension)  # type: ignore[arg-type]


def unstage_standing(tx: Transaction, item: StandingItem) -> None:
    """Remove a member's standing (erasure) and take it out of the counters."""
    s = item.standing()
    tx.delete("standing", item)
    _move_system_tags(tx, item.tenant_id, item.member_id, False,
                      [("stage", item.stage or s.stage, None), ("tier", item.tier, None),
                       ("rfm", s.rfm_segment(), None)])
    counters.add(tx, stage_counter(item.tenant_id, item.stage or s.stage), item.member_id, -1)
    counters.add(tx, tier_counter(item.tenant_id, item.tier), item.member_id, -1)
    counters.add(tx, rfm_counter(item.tenant_id, s.rfm_segment()), item.member_id, -1)


def history(tenant_id: str, member_id: str, dimension: str, limit: int = 50) -> list[HistoryItem]:
    return list(HistoryItem.query(keys.member(tenant_id, member_id), HistoryItem.sk.startswith(f"HIST#{dimension}#"),
                                  scan_index_forward=False, limit=limit))


def standings_page(tenant_id: str, shard: int, after: str | None, limit: int) -> tuple[list[StandingItem], str | None]:
    """One page of a tenant's standings (the GSI1 list), for jobs."""
    condition = TableItem.gsi1sk > after if after else None
    result = TableItem.gsi1.query(standings_list(tenant_id, shard), condition, limit=limit, page_size=limit)
    items = [i for i in result if isinstance(i, StandingItem)]
    last = items[-1].member_id if len(items) >= limit else None
    return items, last


def iter_standings(tenant_id: str) -> Iterator[StandingItem]:
    for shard in range(STANDING_SHARDS):
        for item in TableItem.gsi1.query(standings_list(tenant_id, shard)):
            if isinstance(item, StandingItem):
                yield item


def read_counters(names: list[str]) -> dict[str, int]:
    return counters.read(names)
