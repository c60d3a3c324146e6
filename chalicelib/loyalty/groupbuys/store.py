"""Group-buy items: offers and their stock of groups; one partition per group (addressed by
its join code) holding the group item and one item per member; and, in each member's
collection, how many groups of an offer the member opened or joined.

Every invariant is a condition on one of these items, written in one transaction: the stock
(``opened < stock``), the code's uniqueness (a conditional put), the group's size
(``joined < size``), one membership per (group, member), the per-member limit, and the one
move of ``status`` out of ``open`` (to ``completed`` by the last payment or to ``failed`` by
the deadline, whichever commits first).
"""
from __future__ import annotations

from typing import Any

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute, VersionAttribute
from pynamodb.exceptions import DoesNotExist

from ...core.table import keys
from ...core.table.model import TableItem
from ...core.table.transactions import Transaction


class OfferItem(TableItem, discriminator="group_offer"):
    offer_id = UnicodeAttribute()
    name = UnicodeAttribute()
    status = UnicodeAttribute()  # active | archived
    sku = UnicodeAttribute(null=True)
    group_price = NumberAttribute(null=True)
    currency = UnicodeAttribute(null=True)
    coupon_template_id = UnicodeAttribute(null=True)
    group_size = NumberAttribute()
    time_limit_minutes = NumberAttribute()
    per_member_limit = NumberAttribute()
    leaders = UnicodeAttribute()  # anyone | members | segment
    leader_segment_id = UnicodeAttribute(null=True)
    stock = NumberAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    version = VersionAttribute()


class StockItem(TableItem, discriminator="group_stock"):
    opened = NumberAttribute(default=0)


class GroupItem(TableItem, discriminator="group"):
    code = UnicodeAttribute()
    offer_id = UnicodeAttribute()
    leader_id = UnicodeAttribute()
    size = NumberAttribute()
    joined = NumberAttribute(default=0)
    paid = NumberAttribute(default=0)
    status = UnicodeAttribute()  # open | completed | failed
    opened_at = UnicodeAttribute()
    deadline = UnicodeAttribute()
    closed_at = UnicodeAttribute(null=True)
    #: the offer's terms as the group opened: sku, group_price, currency, coupon_template_id
    terms = JSONAttribute()


class GroupMemberItem(TableItem, discriminator="group_member"):
    member_id = UnicodeAttribute()
    leader = UnicodeAttribute(default="no")  # yes | no
    joined_at = UnicodeAttribute()
    new_member = UnicodeAttribute(default="no")  # yes | no
    order_id = UnicodeAttribute(null=True)
    paid_at = UnicodeAttribute(null=True)
    reward = JSONAttribute(null=True)


class JoinsItem(TableItem, discriminator="group_joins"):
    joined = NumberAttribute(default=0)


# --- offers ----------------------------------------------------------------------------------------
def new_offer(tenant_id: str, offer_id: str, created_at: str, **fields: Any) -> OfferItem:
    item = OfferItem(keys.group_offer(tenant_id, offer_id), keys.GROUP_OFFER_SK, offer_id=offer_id,
                     created_at=created_at, updated_at=created_at, **fields)
    item.gsi1pk = keys.group_offers_list(tenant_id)
    item.gsi1sk = f"{created_at}#{offer_id}"
    return item


def stage_new_offer(tx: Transaction, item: OfferItem) -> None:
    tx.save("offer", item, condition=OfferItem.pk.does_not_exist())
    tx.save("stock", StockItem(item.pk, keys.GROUP_STOCK_SK), condition=StockItem.pk.does_not_exist())


def stage_offer_update(tx: Transaction, item: OfferItem) -> None:
    tx.save("offer", item)  # version-checked


def get_offer(tenant_id: str, offer_id: str) -> OfferItem | None:
    try:
        return OfferItem.get(keys.group_offer(tenant_id, offer_id), keys.GROUP_OFFER_SK, consistent_read=True)
    except DoesNotExist:
        return None


def list_offers(tenant_id: str, before: str | None, limit: int) -> tuple[list[OfferItem], str | None]:
    condition = TableItem.gsi1sk < before if before else None
    items = [i for i in TableItem.gsi1.query(keys.group_offers_list(tenant_id), condition,
                                             scan_index_forward=False, limit=limit + 1, page_size=limit + 1)
             if isinstance(i, OfferItem)]
    more = len(items) > limit
    items = items[:limit]
    return items, (items[-1].gsi1sk if more and items else None)


def opened(tenant_id: str, offer_ids: list[str]) -> dict[str, int]:
    """{offer id: groups opened} (the stock items, one BatchGetItem)."""
    found = StockItem.batch_get([(keys.group_offer(tenant_id, o), keys.GROUP_STOCK_SK)
                                 for o in dict.fromkeys(offer_ids)], consistent_read=True)
    return {s.pk.rsplit("#", 1)[1]: int(s.opened) for s in found}


def stage_offer_open(tx: Transaction, offer: OfferItem) -> None:
    """Open only from the offer as read: active, and not changed since (its stock included)."""
    tx.check("offer", OfferItem, offer.pk, offer.sk,
             (OfferItem.status == "active") & (OfferItem.version == offer.version))


def stage_stock(tx: Transaction, offer: OfferItem) -> None:
    condition = StockItem.opened < int(offer.stock) if offer.stock is not None else None
    tx.update("stock", StockItem(offer.pk, keys.GROUP_STOCK_SK), [StockItem.opened.add(1)], condition=condition)


# --- groups ----------------------------------------------------------------------------------------
def new_group(tenant_id: str, code: str, **fields: Any) -> GroupItem:
    return GroupItem(keys.group(tenant_id, code), keys.GROUP_SK, code=code, **fields)


def stage_new_group(tx: Transaction, group: GroupItem) -> None:
    """The code's claim: a taken code fails as ``code`` (drawn again)."""
    tx.save("code", group, condition=GroupItem.pk.does_not_exist())


def new_member(tenant_id: str, code: str, member_id: str, **fields: Any) -> GroupMemberItem:
    return GroupMemberItem(keys.group(tenant_id, code), keys.group_member_sk(member_id), member_id=member_id,
                           **fields)


def stage_new_member(tx: Transaction, item: GroupMemberItem) -> None:
    tx.save("membership", item, condition=GroupMemberItem.pk.does_not_exist())


def stage_joins(tx: Transaction, tenant_id: str, member_id: str, offer_id: str, limit: int) -> None:
    item = JoinsItem(keys.member(tenant_id, member_id), keys.group_joins_sk(offer_id))
    tx.update("limit", item, [JoinsItem.joined.add(1), JoinsItem.item_type.set(JoinsItem)],
              condition=JoinsItem.joined.does_not_exist() | (JoinsItem.joined < limit))


def stage_join_group(tx: Transaction, group: GroupItem, now_iso: str) -> None:
    """One seat more, only while the group is open, before its deadline and not full."""
    tx.update("group", GroupItem(group.pk, group.sk), [GroupItem.joined.add(1)],
              condition=(GroupItem.status == "open") & (GroupItem.joined < int(group.size))
              & (GroupItem.deadline > now_iso))


def get_group(tenant_id: str, code: str) -> GroupItem | None:
    try:
        return GroupItem.get(keys.group(tenant_id, code), keys.GROUP_SK, consistent_read=True)
    except DoesNotExist:
        return None


def group_members(tenant_id: str, code: str) -> list[GroupMemberItem]:
    """The group's members (at most 50: one Query of its partition), in join order."""
    items = [i for i in GroupMemberItem.query(keys.group(tenant_id, code),
                                              GroupMemberItem.sk.startswith(keys.GROUP_MEMBER_PREFIX),
                                              consistent_read=True)
             if isinstance(i, GroupMemberItem)]
    return sorted(items, key=lambda m: (m.joined_at, m.member_id))


def get_member(tenant_id: str, code: str, member_id: str) -> GroupMemberItem | None:
    try:
        return GroupMemberItem.get(keys.group(tenant_id, code), keys.group_member_sk(member_id), consistent_read=True)
    except DoesNotExist:
        return None


def stage_paid(tx: Transaction, item: GroupMemberItem, order_id: str, paid_at: str) -> None:
    """The member's first order for the group (a second one changes nothing)."""
    tx.update("gb_member", GroupMemberItem(item.pk, item.sk),
              [GroupMemberItem.order_id.set(order_id), GroupMemberItem.paid_at.set(paid_at)],
              condition=GroupMemberItem.pk.exists() & GroupMemberItem.order_id.does_not_exist())


def stage_group_paid(tx: Transaction, group: GroupItem, completes: bool, at: str) -> None:
    """One more member paid; the last one completes the group. Conditioned on the state the
    decision was made from (still open, nobody else paid since)."""
    actions: list[Any] = [GroupItem.paid.add(1)]
    if completes:
        actions += [GroupItem.status.set("completed"), GroupItem.closed_at.set(at)]
    tx.update("gb_group", GroupItem(group.pk, group.sk), actions,
              condition=(GroupItem.status == "open") & (GroupItem.paid == int(group.paid)))


def stage_fail(tx: Transaction, group: GroupItem, at: str) -> None:
    tx.update("gb_group", GroupItem(group.pk, group.sk), [GroupItem.status.set("failed"), GroupItem.closed_at.set(at)],
              condition=GroupItem.status == "open")


def set_reward(item: GroupMemberItem, reward: dict[str, Any]) -> None:
    item.update(actions=[GroupMemberItem.reward.set(reward)], condition=GroupMemberItem.pk.exists())
