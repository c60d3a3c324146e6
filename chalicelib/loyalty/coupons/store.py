"""Coupon items: templates and their budget, coupons (one item per code: the claim and the
state), and, in the member's collection, what issued a coupon (source), how many of a
template the member holds, and which order redeemed which code."""
from __future__ import annotations

from typing import Any

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute, VersionAttribute
from pynamodb.exceptions import DoesNotExist

from ...core.table import keys
from ...core.table.model import TableItem
from ...core.table.transactions import Transaction


class TemplateItem(TableItem, discriminator="coupon_template"):
    template_id = UnicodeAttribute()
    name = UnicodeAttribute()
    description = UnicodeAttribute(null=True)
    status = UnicodeAttribute()  # active | archived
    #: rules.Terms as a dict (benefit, currency, minimum spend, categories)
    terms = JSONAttribute()
    benefit = JSONAttribute()
    validity = JSONAttribute()
    per_member_limit = NumberAttribute(null=True)
    max_issued = NumberAttribute(null=True)
    max_discount_value = NumberAttribute(null=True)
    restore_on_refund = UnicodeAttribute(default="yes")  # yes | no
    code_prefix = UnicodeAttribute(default="")
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    version = VersionAttribute()


class BudgetItem(TableItem, discriminator="coupon_budget"):
    """Written by every issue (``issued``) and every redemption of a template with a value
    budget (``discount_given``), each conditioned on its limit: no oversell."""

    issued = NumberAttribute(default=0)
    discount_given = NumberAttribute(default=0)


class CouponItem(TableItem, discriminator="coupon"):
    code = UnicodeAttribute()
    template_id = UnicodeAttribute()
    member_id = UnicodeAttribute()
    terms = JSONAttribute()
    benefit = JSONAttribute()
    name = UnicodeAttribute()
    description = UnicodeAttribute(null=True)
    issued_at = UnicodeAttribute()
    valid_from = UnicodeAttribute(null=True)
    expires_at = UnicodeAttribute(null=True)
    restore_on_refund = UnicodeAttribute(default="yes")
    source = UnicodeAttribute(null=True)
    #: set while redeemed: order_id, redeemed_at, discount, subtotal, eligible_subtotal, gift_sku, bucket
    redemption = JSONAttribute(null=True)
    version = VersionAttribute()


class SourceItem(TableItem, discriminator="coupon_source"):
    code = UnicodeAttribute()


class HoldingItem(TableItem, discriminator="coupon_holding"):
    held = NumberAttribute(default=0)


class RedemptionItem(TableItem, discriminator="coupon_redemption"):
    code = UnicodeAttribute()
    order_id = UnicodeAttribute()
    template_id = UnicodeAttribute()
    redeemed_at = UnicodeAttribute()


def new_template(tenant_id: str, template_id: str, created_at: str, **fields: Any) -> TemplateItem:
    item = TemplateItem(keys.coupon_template(tenant_id, template_id), keys.COUPON_TEMPLATE_SK,
                        template_id=template_id, created_at=created_at, updated_at=created_at, **fields)
    item.gsi1pk = keys.coupon_templates_list(tenant_id)
    item.gsi1sk = f"{created_at}#{template_id}"
    return item


def stage_new_template(tx: Transaction, item: TemplateItem) -> None:
    tx.save("template", item, condition=TemplateItem.pk.does_not_exist())
    tx.save("budget", BudgetItem(item.pk, keys.COUPON_BUDGET_SK), condition=BudgetItem.pk.does_not_exist())


def stage_template_update(tx: Transaction, item: TemplateItem, terms_changed: bool) -> None:
    """Version-checked; a change of terms also checks that nothing was issued yet."""
    tx.save("template", item)
    if terms_changed:
        tx.check("in_use", BudgetItem, item.pk, keys.COUPON_BUDGET_SK, BudgetItem.issued == 0)


def get_template(tenant_id: str, template_id: str) -> TemplateItem | None:
    try:
        return TemplateItem.get(keys.coupon_template(tenant_id, template_id), keys.COUPON_TEMPLATE_SK,
                                consistent_read=True)
    except DoesNotExist:
        return None


def list_templates(tenant_id: str, before: str | None, limit: int) -> tuple[list[TemplateItem], str | None]:
    condition = TableItem.gsi1sk < before if before else None
    items = [i for i in TableItem.gsi1.query(keys.coupon_templates_list(tenant_id), condition,
                                             scan_index_forward=False, limit=limit + 1, page_size=limit + 1)
             if isinstance(i, TemplateItem)]
    more = len(items) > limit
    items = items[:limit]
    return items, (items[-1].gsi1sk if more and items else None)


def budgets(tenant_id: str, template_ids: list[str]) -> dict[str, BudgetItem]:
    found = BudgetItem.batch_get([(keys.coupon_template(tenant_id, t), keys.COUPON_BUDGET_SK)
                                  for t in dict.fromkeys(template_ids)], consistent_read=True)
    return {b.pk.rsplit("#", 1)[1]: b for b in found}


def stage_template_open(tx: Transaction, template: TemplateItem) -> None:
    """Issue only from the template as read: active, and not changed since."""
    tx.check("template", TemplateItem, template.pk, template.sk,
             (TemplateItem.status == "active") & (TemplateItem.version == template.version))


def stage_issued(tx: Transaction, template: TemplateItem) -> None:
    budget = BudgetItem(template.pk, keys.COUPON_BUDGET_SK)
    condition = BudgetItem.issued < int(template.max_issued) if template.max_issued is not None else None
    tx.update("budget", budget, [BudgetItem.issued.add(1)], condition=condition)


def stage_discount(tx: Transaction, template: TemplateItem, delta: int) -> None:
    """Charge (or give back, negative) discount against a value budget."""
    budget = BudgetItem(template.pk, keys.COUPON_BUDGET_SK)
    condition = None
    if delta > 0 and template.max_discount_value is not None:
        condition = BudgetItem.discount_given <= int(template.max_discount_value) - delta
    tx.update("budget", budget, [BudgetItem.discount_given.add(delta)], condition=condition)


def stage_holding(tx: Transaction, tenant_id: str, member_id: str, template_id: str, limit: int) -> None:
    item = HoldingItem(keys.member(tenant_id, member_id), keys.coupon_holding_sk(template_id))
    tx.update("holding", item, [HoldingItem.held.add(1), HoldingItem.item_type.set(HoldingItem)],
              condition=HoldingItem.held.does_not_exist() | (HoldingItem.held < limit))


def new_coupon(tenant_id: str, code: str, member_id: str, issued_at: str, **fields: Any) -> CouponItem:
    item = CouponItem(keys.coupon(tenant_id, code), keys.COUPON_SK, code=code, member_id=member_id,
                      issued_at=issued_at, **fields)
    item.gsi1pk = keys.member_coupons(tenant_id, member_id)
    item.gsi1sk = f"{issued_at}#{code}"
    return item


def stage_new_coupon(tx: Transaction, coupon: CouponItem) -> None:
    """The code's claim: a taken code fails as ``code`` (drawn again)."""
    tx.save("code", coupon, condition=CouponItem.pk.does_not_exist())


def stage_source(tx: Transaction, tenant_id: str, member_id: str, source: str, code: str) -> None:
    tx.save("source", SourceItem(keys.member(tenant_id, member_id), keys.coupon_source_sk(source), code=code),
            condition=SourceItem.pk.does_not_exist())


def get_source(tenant_id: str, member_id: str, source: str) -> SourceItem | None:
    try:
        return SourceItem.get(keys.member(tenant_id, member_id), keys.coupon_source_sk(source), consistent_read=True)
    except DoesNotExist:
        return None


def get_coupon(tenant_id: str, code: str) -> CouponItem | None:
    try:
        return CouponItem.get(keys.coupon(tenant_id, code), keys.COUPON_SK, consistent_read=True)
    except DoesNotExist:
        return None


def stage_coupon_update(tx: Transaction, coupon: CouponItem) -> None:
    tx.save(f"coupon:{coupon.code}", coupon)  # version-checked: one redemption wins


def member_coupons(tenant_id: str, member_id: str, before: str | None,
                   limit: int) -> tuple[list[CouponItem], str | None]:
    """A page of the member's coupons, newest first (GSI1: eventually consistent)."""
    condition = TableItem.gsi1sk < before if before else None
    items = [i for i in TableItem.gsi1.query(keys.member_coupons(tenant_id, member_id), condition,
                                             scan_index_forward=False, limit=limit + 1, page_size=limit + 1)
             if isinstance(i, CouponItem)]
    more = len(items) > limit
    items = items[:limit]
    return items, (items[-1].gsi1sk if more and items else None)


def stage_redemption(tx: Transaction, tenant_id: str, member_id: str, coupon: CouponItem, order_id: str,
                     redeemed_at: str) -> None:
    item = RedemptionItem(keys.member(tenant_id, member_id), keys.coupon_redemption_sk(order_id, coupon.code),
                          code=coupon.code, order_id=order_id, template_id=coupon.template_id,
                          redeemed_at=redeemed_at)
    tx.save(f"redemption:{coupon.code}", item, condition=RedemptionItem.pk.does_not_exist())


def stage_redemption_gone(tx: Transaction, item: RedemptionItem) -> None:
    tx.delete(f"redemption:{item.code}", item, condition=RedemptionItem.pk.exists())


def order_redemptions(tenant_id: str, member_id: str, order_id: str) -> list[RedemptionItem]:
    return [i for i in RedemptionItem.query(keys.member(tenant_id, member_id),
                                            RedemptionItem.sk.startswith(keys.coupon_redemptions_prefix(order_id)),
                                            consistent_read=True)
            if isinstance(i, RedemptionItem) and i.order_id == order_id]


def delete_member_coupons(tenant_id: str, member_id: str) -> int:
    """Erasure: the member's coupons (their code items; the member's collection goes with the member)."""
    gone, position = 0, None
    while True:
        items, position = member_coupons(tenant_id, member_id, position, 100)
        for item in items:
            item.delete()
        gone += len(items)
        if position is None:
            return gone
