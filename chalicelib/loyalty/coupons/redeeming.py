"""Redeeming codes: through the API (a till asks), inside an ``order.paid`` event's own
transaction (``activity.ORDER_PAID``), and giving a coupon back on a full refund.

A redemption is one transaction: the coupon item (version-checked, so of ten orders racing
for one code exactly one commits; the others re-read it and get ``already_redeemed``), a
record in the member's collection keyed by order and code (found again on refund), the
value budget (conditional: never past ``max_discount_value``), the analytics counters and
the ``coupon.redeemed`` domain event. The same order redeeming the same code again gets
the stored answer and writes nothing: redemption is idempotent by order id.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from ...activity import service as activity
from ...core import clock, observability as obs
from ...core.errors import NotFound, Unprocessable
from ...core.signals import Delivery
from ...core.table import counters, keys
from ...core.table.transactions import Transaction, TransactionCancelled, retrying
from . import codes, rules, store

MAX_ATTEMPTS = 12


def find(tenant_id: str, typed: str, field: str = "code") -> store.CouponItem:
    code = codes.normalize(typed)
    coupon = store.get_coupon(tenant_id, code) if code else None
    if coupon is None:
        raise NotFound("No coupon with this code.", code="coupon_not_found", field=field)
    return coupon


def _failed(exc: rules.ConditionFailed, field: str | None = None) -> Unprocessable:
    return Unprocessable(exc.detail, code=exc.code, field=field or exc.field)


def decide(tenant_id: str, coupon: store.CouponItem, member_id: str, order_id: str, lines: list[rules.Line],
           currency: str, at: datetime) -> tuple[rules.Outcome | None, store.TemplateItem | None]:
    """(outcome, template) of redeeming ``coupon`` for the order; (None, None) when this order
    redeemed it before. Raises a ConditionFailed naming the first condition that fails."""
    if coupon.member_id != member_id:
        raise rules.ConditionFailed("not_holder", "This coupon belongs to another member.", "member_id")
    if coupon.redemption is not None:
        if coupon.redemption.get("order_id") == order_id:
            return None, None
        raise rules.ConditionFailed("already_redeemed", "This coupon was already redeemed by another order.", "code")
    rules.check_window(rules.parse_time(coupon.valid_from), rules.parse_time(coupon.expires_at), at)
    outcome = rules.evaluate(rules.Terms.from_dict(dict(coupon.terms)), lines, currency)
    template = store.get_template(tenant_id, coupon.template_id)
    if template is not None and template.max_discount_value is not None and outcome.discount:
        budget = store.budgets(tenant_id, [coupon.template_id]).get(coupon.template_id)
        given = int(budget.discount_given) if budget is not None else 0
        if given + outcome.discount > int(template.max_discount_value):
            raise rules.ConditionFailed("budget_spent", "This coupon's budget is spent.", "code")
    return outcome, template


def stage(tx: Transaction, tenant_id: str, coupon: store.CouponItem, template: store.TemplateItem | None,
          order_id: str, outcome: rules.Outcome, revenue: int, at: datetime) -> None:
    """Everything one redemption writes, into ``tx``."""
    issued = rules.parse_time(coupon.issued_at) or at
    charged = bool(template is not None and template.max_discount_value is not None and outcome.discount)
    coupon.redemption = {"order_id": order_id, "redeemed_at": clock.iso(at), "discount": outcome.discount,
                         "subtotal": outcome.subtotal, "eligible_subtotal": outcome.eligible_subtotal,
                         "gift_sku": outcome.gift_sku, "revenue": revenue, "charged": charged,
                         "bucket": rules.day_bucket(issued, at)}
    # Unique per racer (the order) and per redemption of one order (the version, after a refund gave it
    # back): racers for one code must lose on the coupon's version, never on this event's claim, which
    # the order's own transaction would read as "this event was a duplicate".
    event_id = f"coupon.redeemed:{coupon.code}:{order_id}:{int(coupon.version or 0)}"
    store.stage_coupon_update(tx, coupon)
    store.stage_redemption(tx, tenant_id, coupon.member_id, coupon, order_id, clock.iso(at))
    if charged and template is not None:
        store.stage_discount(tx, template, outcome.discount)
    _count(tx, tenant_id, coupon, coupon.redemption, +1)
    activity.stage_domain_event(tx, tenant_id, coupon.member_id, "coupon.redeemed", event_id,
                                {"code": coupon.code, "template_id": coupon.template_id, "order_id": order_id,
                                 "discount": outcome.discount, "revenue": revenue}, at)


def _count(tx: Transaction, tenant_id: str, coupon: store.CouponItem, redemption: dict[str, Any], sign: int) -> None:
    seed, template_id = f"{coupon.code}:{redemption['order_id']}", coupon.template_id
    for metric, delta in (("redeemed", 1), ("revenue", int(redemption["revenue"])),
                          ("discount", int(redemption["discount"])), (f"day:{int(redemption['bucket'])}", 1)):
        if delta:
            counters.add(tx, keys.coupon_counter(tenant_id, template_id, metric), seed, sign * delta)


def redeem(tenant_id: str, typed: str, member_id: str, order_id: str, lines: list[rules.Line],
           currency: str) -> tuple[store.CouponItem, bool]:
    """(the redeemed coupon, True if redeemed now / False if this order had redeemed it)."""
    def attempt(_: int) -> tuple[store.CouponItem, bool]:
        coupon = find(tenant_id, typed)
        now = clock.now()
        try:
            outcome, template = decide(tenant_id, coupon, member_id, order_id, lines, currency, now)
        except rules.ConditionFailed as exc:
            raise _failed(exc) from exc
        if outcome is None:
            return coupon, False
        tx = Transaction()
        stage(tx, tenant_id, coupon, template, order_id, outcome, outcome.subtotal, now)
        tx.commit()  # a lost race (coupon, budget) is read again: the loser sees why it lost
        return coupon, True

    coupon, new = retrying(attempt, attempts=MAX_ATTEMPTS, conflict="The coupon kept changing; try again.")
    if new:
        obs.count("CouponRedeemed", tenant_id)
    return coupon, new


def in_order(tx: Transaction, tenant_id: str, member_id: str, order: dict[str, Any]) -> None:
    """The ``activity.ORDER_PAID`` participant: redeem the order's ``coupon_codes`` in its
    own transaction; a failed condition refuses the order (422 naming it, field
    ``coupon_codes[i]``). A code this order already redeemed (the till asked first) is fine."""
    typed_codes = order.get("coupon_codes") or []
    if not typed_codes:
        return
    items = order.get("items") or []
    lines = ([rules.Line(i["sku"], i.get("category"), int(i["qty"]) * int(i["unit_price"]), int(i["qty"]))
              for i in items] or [rules.Line("order", None, int(order["amount"]))])
    at = rules.parse_time(order.get("occurred_at")) or clock.now()
    seen_codes: set[str] = set()
    seen_templates: set[str] = set()
    for index, typed in enumerate(typed_codes):
        field = f"coupon_codes[{index}]"
        coupon = find(tenant_id, typed, field)
        if coupon.code in seen_codes or coupon.template_id in seen_templates:
            raise Unprocessable("One coupon per template per order.", code="coupon_not_combinable", field=field)
        seen_codes.add(coupon.code)
        seen_templates.add(coupon.template_id)
        try:
            outcome, template = decide(tenant_id, coupon, member_id, order["order_id"], lines, order["currency"], at)
        except rules.ConditionFailed as exc:
            raise _failed(exc, field) from exc
        if outcome is not None:
            stage(tx, tenant_id, coupon, template, order["order_id"], outcome, int(order["amount"]), at)


def on_event(delivery: Delivery) -> None:
    """``activity.EVENT_RECORDED`` receiver: a FULL refund of an order gives back the coupons
    it redeemed, when their template says so and they are still valid. Idempotent: a coupon
    already given back (or redeemed again since) is left alone."""
    event = delivery.data.get("event") or {}
    if event.get("type") != "order.refunded" or not delivery.member_id:
        return
    tenant_id, member_id, order_id = delivery.tenant_id, delivery.member_id, event["order_id"]
    amounts = activity.order_amounts(tenant_id, member_id, order_id)
    if amounts is None or amounts[1] < amounts[0]:
        return  # a partial refund keeps the coupon used
    for record in store.order_redemptions(tenant_id, member_id, order_id):
        _restore_retrying(tenant_id, record)


def wants_event(tenant_id: str, data: dict[str, Any]) -> bool:  # noqa: ARG001 - the Signal.connect shape
    """``wants`` of :func:`on_event`: refunds only."""
    return (data.get("event") or {}).get("type") == "order.refunded"


def _restore_retrying(tenant_id: str, record: store.RedemptionItem) -> None:
    retrying(lambda _: _restore(tenant_id, record), attempts=MAX_ATTEMPTS,
             conflict="The coupon kept changing while it was given back.")


def _restore(tenant_id: str, record: store.RedemptionItem) -> None:
    coupon = store.get_coupon(tenant_id, record.code)
    if coupon is None or coupon.redemption is None or coupon.redemption.get("order_id") != record.order_id:
        return
    if coupon.restore_on_refund != "yes":
        return
    now = clock.now()
    expires = rules.parse_time(coupon.expires_at)
    if expires is not None and now >= expires:
        return
    redemption = dict(coupon.redemption)
    coupon.redemption = None
    tx = Transaction()
    store.stage_coupon_update(tx, coupon)
    store.stage_redemption_gone(tx, record)
    _count(tx, tenant_id, coupon, redemption, -1)
    if redemption.get("charged"):
        template = store.get_template(tenant_id, coupon.template_id)
        if template is not None:
            store.stage_discount(tx, template, -int(redemption["discount"]))
    try:
        tx.commit()
    except TransactionCancelled as exc:
        if any(label.startswith("redemption:") for label in exc.failed):
            return  # given back by a concurrent delivery
        raise
    obs.count("CouponRestored", tenant_id)
