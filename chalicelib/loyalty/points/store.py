"""Points items: the program (tenant config), and in the member's collection the balance
(lots inline, so a read is one GetItem), ledger entries, event claims, per-order earnings,
caps and redemptions; the rewards catalog in its own tenant partition."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute, VersionAttribute
from pynamodb.exceptions import DoesNotExist

from ...core.table import generations, keys
from ...core.table.model import TableItem
from ...core.table.transactions import Transaction


class ProgramItem(TableItem, discriminator="points_program"):
    body = JSONAttribute(default=dict)
    updated_at = UnicodeAttribute(null=True)
    version = VersionAttribute()


class BalanceItem(TableItem, discriminator="points_balance"):
    tenant_id = UnicodeAttribute()
    member_id = UnicodeAttribute()
    #: lots and deficit (see ledger.Balance)
    data = JSONAttribute(default=dict)
    #: copies as of the last write (segments read ``available``)
    available = NumberAttribute(default=0)
    pending = NumberAttribute(default=0)
    version = VersionAttribute()


class LedgerItem(TableItem, discriminator="points_entry"):
    entry_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    points = NumberAttribute()
    at = UnicodeAttribute()
    effective_at = UnicodeAttribute()
    cause = JSONAttribute(default=dict)
    shortfall = NumberAttribute(default=0)
    available_after = NumberAttribute(default=0)
    pending_after = NumberAttribute(default=0)


class ClaimItem(TableItem, discriminator="points_claim"):
    at = UnicodeAttribute()


class OrderPointsItem(TableItem, discriminator="points_order"):
    order_id = UnicodeAttribute()
    amount = NumberAttribute()
    earned = NumberAttribute(default=0)
    refunded = NumberAttribute(default=0)
    reversed = NumberAttribute(default=0)
    version = VersionAttribute()


class CapItem(TableItem, discriminator="points_cap"):
    n = NumberAttribute(default=0)


class RedemptionItem(TableItem, discriminator="points_redemption"):
    redemption_id = UnicodeAttribute()
    points = NumberAttribute()
    reward_id = UnicodeAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    coupon_template_id = UnicodeAttribute(null=True)
    actor = UnicodeAttribute()
    at = UnicodeAttribute()


class RewardItem(TableItem, discriminator="reward"):
    reward_id = UnicodeAttribute()
    body = JSONAttribute(default=dict)
    #: kept outside ``body``: redemptions decrement it with a conditional update
    stock = NumberAttribute(null=True)
    created_at = UnicodeAttribute()


# --- program --------------------------------------------------------------------------------------
def get_program(tenant_id: str) -> ProgramItem | None:
    try:
        return ProgramItem.get(keys.points_config(tenant_id), keys.POINTS_PROGRAM_SK, consistent_read=True)
    except DoesNotExist:
        return None


#: the tenant's points-program generation (core.table.generations): every event's earning
#: reads the program, so processes cache it and re-read it only when this moved
PROGRAM_GENERATION = "points_program"


def stage_program(tx: Transaction, tenant_id: str, body: dict[str, Any], now: str,
                  current: ProgramItem | None) -> ProgramItem:
    item = current or ProgramItem(keys.points_config(tenant_id), keys.POINTS_PROGRAM_SK)
    item.body, item.updated_at = body, now
    tx.save("program", item)  # version-checked
    generations.bump(tx, tenant_id, PROGRAM_GENERATION)
    return item


# --- balance and ledger -----------------------------------------------------------------------------
def get_balance(tenant_id: str, member_id: str) -> BalanceItem | None:
    try:
        return BalanceItem.get(keys.member(tenant_id, member_id), keys.POINTS_BALANCE_SK, consistent_read=True)
    except DoesNotExist:
        return None


def get_balances(tenant_id: str, member_ids: list[str]) -> list[BalanceItem]:
    if not member_ids:
        return []
    return list(BalanceItem.batch_get([(keys.member(tenant_id, m), keys.POINTS_BALANCE_SK) for m in member_ids]))


def new_balance(tenant_id: str, member_id: str) -> BalanceItem:
    return BalanceItem(keys.member(tenant_id, member_id), keys.POINTS_BALANCE_SK, tenant_id=tenant_id,
                       member_id=member_id)


def stage_balance(tx: Transaction, item: BalanceItem, data: dict[str, Any], available: int, pending: int,
                  due_at: str | None) -> None:
    """Version-checked (label ``balance``): a concurrent writer cancels ``tx``. ``due_at``
    lists the balance in the tenant's due list for the expiry pass (None: not listed)."""
    item.data, item.available, item.pending = data, available, pending
    if due_at is None:
        item.gsi1pk = item.gsi1sk = None
    else:
        shard = keys.shard_of(item.member_id, keys.POINTS_DUE_SHARDS)
        item.gsi1pk = keys.points_due(item.tenant_id, shard)
        item.gsi1sk = keys.points_due_sk(due_at, item.member_id)
    tx.save("balance", item)


def stage_balance_delete(tx: Transaction, item: BalanceItem) -> None:
    tx.delete("balance", item)  # version-checked


def stage_entry(tx: Transaction, tenant_id: str, member_id: str, entry: LedgerItem) -> None:
    entry.pk = keys.member(tenant_id, member_id)
    entry.sk = keys.points_ledger_sk(entry.at, entry.entry_id)
    tx.save(f"entry:{entry.entry_id}", entry)


def stage_claim(tx: Transaction, tenant_id: str, member_id: str, event_id: str, at: str) -> None:
    """Fails as ``claim`` when the event already moved points."""
    tx.save("claim", ClaimItem(keys.member(tenant_id, member_id), keys.points_event_claim_sk(event_id), at=at),
            condition=ClaimItem.pk.does_not_exist())


def ledger_page(tenant_id: str, member_id: str, before: str | None, limit: int) -> tuple[list[LedgerItem], str | None]:
    """Newest first, ``limit`` entries older than ``before`` (the previous page's last key)."""
    prefix = keys.POINTS_LEDGER_PREFIX
    condition = LedgerItem.sk.between(prefix, before) if before else LedgerItem.sk.startswith(prefix)
    read = limit + 2 if before else limit + 1
    items = [i for i in LedgerItem.query(keys.member(tenant_id, member_id), condition, scan_index_forward=False,
                                         limit=read, page_size=read, consistent_read=True) if i.sk != before]
    more = len(items) > limit
    items = items[:limit]
    return items, (items[-1].sk if more and items else None)


def due_balances(tenant_id: str, shard: int, now: str, limit: int) -> list[BalanceItem]:
    """Balances whose next expiry or notice time has come (a Query on the due list)."""
    items = BalanceItem.gsi1.query(keys.points_due(tenant_id, shard),
                                   BalanceItem.gsi1sk <= keys.points_due_sk(now, "~"), limit=limit)
    return [i for i in items if isinstance(i, BalanceItem)]


# --- orders and caps -----------------------------------------------------------------------------------
def get_order(tenant_id: str, member_id: str, order_id: str) -> OrderPointsItem | None:
    try:
        return OrderPointsItem.get(keys.member(tenant_id, member_id), keys.points_order_sk(order_id),
                                   consistent_read=True)
    except DoesNotExist:
        return None


def new_order(tenant_id: str, member_id: str, order_id: str, amount: int, earned: int) -> OrderPointsItem:
    return OrderPointsItem(keys.member(tenant_id, member_id), keys.points_order_sk(order_id), order_id=order_id,
                           amount=amount, earned=earned)


def stage_order(tx: Transaction, item: OrderPointsItem) -> None:
    tx.save("order", item)  # version-checked


def cap_counts(tenant_id: str, member_id: str, sks: list[str]) -> dict[str, int]:
    pk = keys.member(tenant_id, member_id)
    found = {i.sk: int(i.n) for i in CapItem.batch_get([(pk, sk) for sk in sks])} if sks else {}
    return {sk: found.get(sk, 0) for sk in sks}


def stage_cap(tx: Transaction, tenant_id: str, member_id: str, sk: str, limit: int, ttl: int | None) -> None:
    """Count one more against a cap; fails as ``cap`` if a concurrent earning reached it."""
    item = CapItem(keys.member(tenant_id, member_id), sk)
    actions = [CapItem.n.add(1), CapItem.item_type.set(CapItem)]
    if ttl is not None:
        actions.append(CapItem.ttl.set(ttl))
    tx.update(f"cap:{sk}", item, actions=actions, condition=CapItem.n.does_not_exist() | (CapItem.n < limit))


# --- redemptions and rewards ------------------------------------------------------------------------------
def stage_redemption(tx: Transaction, tenant_id: str, member_id: str, item: RedemptionItem) -> None:
    item.pk, item.sk = keys.member(tenant_id, member_id), keys.points_redemption_sk(item.redemption_id)
    tx.save("redemption", item, condition=RedemptionItem.pk.does_not_exist())


def get_reward(tenant_id: str, reward_id: str) -> RewardItem | None:
    try:
        return RewardItem.get(keys.rewards(tenant_id), keys.reward_sk(reward_id), consistent_read=True)
    except DoesNotExist:
        return None


def new_reward(tenant_id: str, reward_id: str, body: dict[str, Any], stock: int | None, now: str) -> RewardItem:
    return RewardItem(keys.rewards(tenant_id), keys.reward_sk(reward_id), reward_id=reward_id, body=body,
                      stock=stock, created_at=now)


def save_reward(item: RewardItem, new: bool = False) -> None:
    item.save(condition=RewardItem.pk.does_not_exist() if new else RewardItem.pk.exists())


def update_reward(item: RewardItem, body: dict[str, Any], stock: int | None, set_stock: bool) -> None:
    """Change the description fields; the stock only when the caller set it (an absolute
    value: redemptions meanwhile are overwritten, as an operator counting shelves expects)."""
    actions: list[Any] = [RewardItem.body.set(body)]
    if set_stock:
        actions.append(RewardItem.stock.set(stock) if stock is not None else RewardItem.stock.remove())
    item.update(actions=actions, condition=RewardItem.pk.exists())


def rewards_page(tenant_id: str, after: str | None, limit: int) -> tuple[list[RewardItem], str | None]:
    condition = RewardItem.sk > after if after else RewardItem.sk.startswith("REWARD#")
    items = list(RewardItem.query(keys.rewards(tenant_id), condition, limit=limit + 1, page_size=limit + 1))
    more = len(items) > limit
    items = items[:limit]
    return items, (items[-1].sk if more and items else None)


def stage_stock(tx: Transaction, item: RewardItem) -> None:
    """One unit, only while one is left (fails as ``stock``); unlimited rewards just check it exists."""
    fresh = RewardItem(item.pk, item.sk)
    if item.stock is None:
        tx.check("stock", RewardItem, item.pk, item.sk, RewardItem.pk.exists() & RewardItem.stock.does_not_exist())
    else:
        tx.update("stock", fresh, actions=[RewardItem.stock.add(-1)], condition=RewardItem.stock >= 1)


def reward_count_sk(reward_id: str) -> str:
    return keys.points_reward_count_sk(reward_id)


def iter_ledger(tenant_id: str, member_id: str) -> Iterator[LedgerItem]:
    return LedgerItem.query(keys.member(tenant_id, member_id), LedgerItem.sk.startswith(keys.POINTS_LEDGER_PREFIX),
                            consistent_read=True)


def claimed(tenant_id: str, member_id: str, event_id: str) -> bool:
    """Whether a claim of ``event_id`` exists (a grant's give-back asks whether it was granted)."""
    try:
        ClaimItem.get(keys.member(tenant_id, member_id), keys.points_event_claim_sk(event_id), consistent_read=True)
        return True
    except DoesNotExist:
        return False


def stage_unclaimed(tx: Transaction, tenant_id: str, member_id: str, event_id: str) -> None:
    """Fails as ``unclaimed`` when ``event_id`` was claimed (a grant given back before it landed)."""
    tx.check("unclaimed", ClaimItem, keys.member(tenant_id, member_id), keys.points_event_claim_sk(event_id),
             ClaimItem.pk.does_not_exist())
