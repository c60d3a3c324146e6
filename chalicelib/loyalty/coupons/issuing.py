"""Issuing one coupon to one member: the one write every way of issuing shares (the API,
bulk jobs, journey steps, reward redemptions).

One transaction claims a fresh random code (conditional put; a collision draws again),
checks the template is active and unchanged since it was read, counts the issue against
the budget (conditional: never past ``max_issued``) and the member's per-template limit,
records the cause (``source``: a journey step, a reward redemption, a job) so a cause
issues exactly once however often it runs, counts it for analytics and stages the
``coupon.issued`` domain event (timeline, journey triggers).
"""
from __future__ import annotations

from datetime import datetime

from ...activity import service as activity
from ...core import clock, observability as obs
from ...core.errors import NotFound, Unprocessable
from ...core.table import counters, keys
from ...core.table.transactions import Transaction, TransactionCancelled, retrying
from . import codes, rules, store

MAX_ATTEMPTS = 8


class _AlreadyIssued(Exception):
    pass


def load_template(tenant_id: str, template_id: str) -> store.TemplateItem:
    item = store.get_template(tenant_id, template_id)
    if item is None:
        raise NotFound("No coupon template with this id.", code="coupon_template_not_found", field="template_id")
    return item


def issue(tenant_id: str, member_id: str, template_id: str, source: str | None = None) -> tuple[store.CouponItem, bool]:
    """(the coupon, True if issued now). With a ``source``, a second call returns the coupon
    the first one issued (False). Problems: 404 template, 422 ``template_archived``,
    ``template_expired``, ``budget_spent``, ``per_member_limit``."""
    if source:
        found = _by_source(tenant_id, member_id, source)
        if found is not None:
            return found, False

    def attempt(_: int) -> store.CouponItem:
        return _issue_once(tenant_id, member_id, load_template(tenant_id, template_id), source, clock.now())

    try:
        coupon = retrying(attempt, attempts=MAX_ATTEMPTS, conflict="The coupon template kept changing; try again.")
    except _AlreadyIssued:
        found = _by_source(tenant_id, member_id, source or "")
        assert found is not None
        return found, False
    obs.count("CouponIssued", tenant_id)
    return coupon, True


def _by_source(tenant_id: str, member_id: str, source: str) -> store.CouponItem | None:
    claim = store.get_source(tenant_id, member_id, source)
    return store.get_coupon(tenant_id, claim.code) if claim is not None else None


def _issue_once(tenant_id: str, member_id: str, template: store.TemplateItem, source: str | None,
                now: datetime) -> store.CouponItem:
    if template.status != "active":
        raise Unprocessable("This coupon template is archived.", code="template_archived", field="template_id")
    valid_from, expires_at = rules.window(dict(template.validity), now)
    if expires_at is not None and expires_at <= now:
        raise Unprocessable("This template's validity window has ended.", code="template_expired",
                            field="template_id")
    budget = store.budgets(tenant_id, [template.template_id]).get(template.template_id)
    if template.max_issued is not None and budget is not None and int(budget.issued) >= int(template.max_issued):
        raise _budget_spent()
    code = codes.new_code(template.code_prefix or "")
    now_iso = clock.iso(now)
    coupon = store.new_coupon(
        tenant_id, code, member_id, now_iso, template_id=template.template_id, terms=dict(template.terms),
        benefit=dict(template.benefit), name=template.name, description=template.description,
        valid_from=clock.iso(valid_from) if valid_from else None,
        expires_at=clock.iso(expires_at) if expires_at else None,
        restore_on_refund=template.restore_on_refund, source=source)
    tx = Transaction()
    store.stage_template_open(tx, template)
    store.stage_issued(tx, template)
    if template.per_member_limit is not None:
        store.stage_holding(tx, tenant_id, member_id, template.template_id, int(template.per_member_limit))
    store.stage_new_coupon(tx, coupon)
    if source:
        store.stage_source(tx, tenant_id, member_id, source, code)
    counters.add(tx, keys.coupon_counter(tenant_id, template.template_id, "issued"), code, 1)
    activity.stage_domain_event(tx, tenant_id, member_id, "coupon.issued", f"coupon.issued:{code}",
                                {"code": code, "template_id": template.template_id, "expires_at": coupon.expires_at,
                                 "source": source}, now)
    try:
        tx.commit()
    except TransactionCancelled as exc:
        if "source" in exc.failed:
            raise _AlreadyIssued() from exc
        if "budget" in exc.failed:
            raise _budget_spent() from exc
        if "holding" in exc.failed:
            raise Unprocessable(f"A member may hold {int(template.per_member_limit or 0)} of this template's "
                                "coupons.", code="per_member_limit", field="member_id") from exc
        raise  # the template changed, the code was taken, or a concurrent write: read and draw again
    return coupon


def _budget_spent() -> Unprocessable:
    return Unprocessable("This template's budget is spent: no more coupons are issued.", code="budget_spent",
                         field="template_id")
