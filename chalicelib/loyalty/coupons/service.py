"""Coupons: templates (terms, validity, limits, budget), issuing (one member, a list or a
segment as a job, journey steps, rewards), redemption (API and ``order.paid``), refunds,
reads and analytics.

Terms are IMMUTABLE once a template issued its first coupon (not versioned): a PATCH of
the terms then is a 409 ``template_in_use`` and the brand creates a new template. Each
coupon also keeps a copy of the terms it was issued under, so nothing that changes later
(name, budget, refund policy, archiving) alters what a member holds.
"""
from __future__ import annotations

from typing import Any

from ...core import clock, jobs
from ...core.errors import Conflict, NotFound, Problem
from ...core.ids import new_id
from ...core.signals import Delivery
from ...core.table import counters, cursor, keys
from ...core.table.transactions import Transaction, TransactionCancelled, retrying
from ...core.tenancy import READ, TenantContext
from . import issuing, redeeming, rules, store
from .schemas import (
    TERMS_FIELDS,
    AnalyticsQuery,
    BudgetOut,
    CouponAnalytics,
    CouponList,
    CouponOut,
    IssueIn,
    IssueJobIn,
    IssueJobOut,
    ListQuery,
    MemberCouponsQuery,
    RedeemIn,
    RedeemOut,
    RedemptionOut,
    TemplateCreate,
    TemplateList,
    TemplateOut,
    TemplatePatch,
)

ISSUE_JOB = "coupons.issue"
JOB_PAGE = 100

#: the ``activity.ORDER_PAID`` participant and the ``activity.EVENT_RECORDED`` receiver (wired in app.py)
redeem_in_order = redeeming.in_order
on_event = redeeming.on_event
wants_event = redeeming.wants_event


# --- templates -------------------------------------------------------------------------------------
def _terms(body: TemplateCreate | TemplatePatch, item: store.TemplateItem | None = None) -> dict[str, Any]:
    """The rules.Terms of ``body``, over the template's current ones for a PATCH."""
    current = dict(item.terms) if item is not None else {}
    benefit = body.benefit.model_dump() if body.benefit is not None else dict(item.benefit if item else {})
    return rules.Terms(
        kind=benefit["type"], currency=body.currency or current["currency"],
        amount_off=benefit.get("amount_off") or 0, percent_off=benefit.get("percent_off") or 0,
        max_discount=benefit.get("max_discount"), gift_sku=benefit.get("gift_sku"),
        min_spend=body.min_spend if body.min_spend is not None else int(current.get("min_spend") or 0),
        categories=tuple(body.categories if body.categories is not None else current.get("categories") or ()),
    ).to_dict()


def _template_out(item: store.TemplateItem, budget: store.BudgetItem | None) -> TemplateOut:
    terms = dict(item.terms)
    issued = int(budget.issued) if budget else 0
    return TemplateOut(
        id=item.template_id, name=item.name, description=item.description, status=item.status,  # type: ignore[arg-type]
        benefit=dict(item.benefit), currency=terms["currency"], min_spend=int(terms["min_spend"]),
        categories=list(terms["categories"]), validity=dict(item.validity),
        per_member_limit=int(item.per_member_limit) if item.per_member_limit is not None else None,
        budget=BudgetOut(max_issued=_int(item.max_issued), max_discount_value=_int(item.max_discount_value),
                         issued=issued, discount_given=int(budget.discount_given) if budget else 0),
        restore_on_refund=item.restore_on_refund == "yes", code_prefix=item.code_prefix or "",
        terms_locked=issued > 0, version=int(item.version or 0), created_at=item.created_at,
        updated_at=item.updated_at)


def _int(value: Any) -> int | None:
    return int(value) if value is not None else None


def create_template(ctx: TenantContext, body: TemplateCreate) -> TemplateOut:
    now = clock.iso(clock.now())
    item = store.new_template(
        ctx.tenant_id, new_id(), now, name=body.name, description=body.description, status="active",
        terms=_terms(body), benefit=body.benefit.model_dump(), validity=body.validity.model_dump(mode="json"),
        per_member_limit=body.per_member_limit, max_issued=body.budget.max_issued,
        max_discount_value=body.budget.max_discount_value,
        restore_on_refund="yes" if body.restore_on_refund else "no", code_prefix=body.code_prefix)
    tx = Transaction()
    store.stage_new_template(tx, item)
    tx.commit()
    return _template_out(item, None)


def _load(ctx: TenantContext, template_id: str) -> store.TemplateItem:
    return issuing.load_template(ctx.tenant_id, template_id)


def get_template(ctx: TenantContext, template_id: str) -> TemplateOut:
    item = _load(ctx, template_id)
    return _template_out(item, store.budgets(ctx.tenant_id, [template_id]).get(template_id))


def list_templates(ctx: TenantContext, query: ListQuery) -> TemplateList:
    scope = "coupon-templates"
    before = cursor.decode(query.cursor, ctx.tenant_id, scope) if query.cursor else None
    items, last = store.list_templates(ctx.tenant_id, before, query.limit)
    budgets = store.budgets(ctx.tenant_id, [i.template_id for i in items]) if items else {}
    return TemplateList(data=[_template_out(i, budgets.get(i.template_id)) for i in items],
                        next_cursor=cursor.encode(ctx.tenant_id, scope, last) if last else None)


def update_template(ctx: TenantContext, template_id: str, body: TemplatePatch) -> TemplateOut:
    given = body.model_fields_set
    terms_changed = any(f in given for f in TERMS_FIELDS)

    def attempt(_: int) -> store.TemplateItem:
        item = _load(ctx, template_id)
        if item.status == "archived":
            raise Conflict("An archived template does not change.", code="template_archived")
        if "name" in given and body.name:
            item.name = body.name
        if "description" in given:
            item.description = body.description
        if body.budget is not None:
            item.max_issued, item.max_discount_value = body.budget.max_issued, body.budget.max_discount_value
        if body.restore_on_refund is not None:
            item.restore_on_refund = "yes" if body.restore_on_refund else "no"
        if terms_changed:
            item.terms = _terms(body, item)
            if body.benefit is not None:
                item.benefit = body.benefit.model_dump()
            if body.validity is not None:
                item.validity = body.validity.model_dump(mode="json")
            if "per_member_limit" in given:
                item.per_member_limit = body.per_member_limit
            if body.code_prefix is not None:
                item.code_prefix = body.code_prefix
        item.updated_at = clock.iso(clock.now())
        tx = Transaction()
        store.stage_template_update(tx, item, terms_changed)
        try:
            tx.commit()
        except TransactionCancelled as exc:
            if "in_use" in exc.failed:
                raise Conflict("Coupons were issued from this template: its terms are frozen. Create a new "
                               "template.", code="template_in_use") from exc
            raise
        return item

    item = retrying(attempt, attempts=5, conflict="The template kept changing; try again.")
    return _template_out(item, store.budgets(ctx.tenant_id, [template_id]).get(template_id))


def archive_template(ctx: TenantContext, template_id: str) -> TemplateOut:
    """No more issues; coupons already issued stay valid."""
    def attempt(_: int) -> store.TemplateItem:
        item = _load(ctx, template_id)
        if item.status != "archived":
            item.status, item.updated_at = "archived", clock.iso(clock.now())
            tx = Transaction()
            store.stage_template_update(tx, item, False)
            tx.commit()
        return item

    item = retrying(attempt, attempts=5, conflict="The template kept changing; try again.")
    return _template_out(item, store.budgets(ctx.tenant_id, [template_id]).get(template_id))


# --- coupons ---------------------------------------------------------------------------------------
def coupon_out(item: store.CouponItem) -> CouponOut:
    terms = dict(item.terms)
    red = item.redemption
    expires = rules.parse_time(item.expires_at)
    return CouponOut(
        code=item.code, template_id=item.template_id, member_id=item.member_id,
        status=rules.status(red is not None, expires, clock.now()),  # type: ignore[arg-type]
        benefit=dict(item.benefit), currency=terms["currency"], min_spend=int(terms["min_spend"]),
        categories=list(terms["categories"]), name=item.name, description=item.description,
        issued_at=item.issued_at, valid_from=item.valid_from, expires_at=item.expires_at,
        redemption=RedemptionOut(**{k: red[k] for k in RedemptionOut.model_fields}) if red else None)


def _member(ctx: TenantContext, member_id: str) -> None:
    from ...members import service as members

    members.get_member(ctx, member_id)  # 404 / 410 like every member route


def issue_to_member(ctx: TenantContext, member_id: str, body: IssueIn) -> CouponOut:
    _member(ctx, member_id)
    coupon, _ = issuing.issue(ctx.tenant_id, member_id, body.template_id)
    return coupon_out(coupon)


def issue_from_journey(tenant_id: str, member_id: str, template_id: str, enrolment_id: str,
                       step_id: str) -> CouponOut:
    """One coupon per (enrolment, step), however often the step runs."""
    coupon, _ = issuing.issue(tenant_id, member_id, template_id, source=f"journey:{enrolment_id}:{step_id}")
    return coupon_out(coupon)


def issue_for_cause(tenant_id: str, member_id: str, template_id: str, source: str) -> tuple[CouponOut, bool]:
    """One coupon per (member, ``source``) however often it is asked (a completed group-buy:
    ``group:<code>``, a referral's reward: ``referral:<id>:<side>``); (the coupon, True if issued
    now). Problems as :func:`issuing.issue`."""
    coupon, new = issuing.issue(tenant_id, member_id, template_id, source=source)
    return coupon_out(coupon), new


def template_exists(tenant_id: str, template_id: str) -> bool:
    return store.get_template(tenant_id, template_id) is not None


def on_reward_redeemed(delivery: Delivery) -> None:
    """Receiver of the points capability's reward redemptions: ``data`` names
    ``redemption_id``, ``reward_id`` and ``coupon_template_id``; one coupon is issued to the
    member per redemption id, however often the signal is delivered."""
    from ...core import observability as obs

    data = delivery.data
    template_id = data.get("coupon_template_id")
    if not template_id or not delivery.member_id:
        return
    try:
        issuing.issue(delivery.tenant_id, delivery.member_id, template_id, source=f"reward:{data['redemption_id']}")
    except Problem as problem:  # archived / spent template: retrying would not help
        obs.logger.warning("reward coupon not issued", extra={"code": problem.code, "tenant_id": delivery.tenant_id,
                                                              "redemption_id": data.get("redemption_id")})


def forget_member(delivery: Delivery) -> None:
    """Erasure hook (``members.MEMBER_ERASING``): the member's coupons go. Analytics keep
    their counts (they hold no one's data)."""
    assert delivery.member_id is not None
    store.delete_member_coupons(delivery.tenant_id, delivery.member_id)


def start_issue_job(ctx: TenantContext, template_id: str, body: IssueJobIn) -> IssueJobOut:
    template = _load(ctx, template_id)
    if template.status != "active":
        raise Conflict("This coupon template is archived.", code="template_archived")
    if body.segment_id is not None:
        from ...segments import service as segments

        segments.get_segment(ctx, body.segment_id)  # 404 for a missing or another tenant's segment
    params: dict[str, Any] = {"template_id": template_id, "segment_id": body.segment_id}
    job = jobs.start(ISSUE_JOB, ctx.tenant_id, params, inputs=list(body.member_ids) if body.member_ids else None)
    return IssueJobOut(job_id=job.job_id, status=job.status)


def _issue_step(tenant_id: str | None, params: dict[str, Any], checkpoint: dict[str, Any] | None) -> jobs.Step:
    """One page of a bulk issue. A page that runs again (a runner died before its checkpoint)
    issues nobody twice: each member's coupon is claimed under ``job:<job id>``."""
    assert tenant_id is not None
    from ...members import service as members

    cp = dict(checkpoint or {"offset": 0, "position": None})
    job_id = params["job_id"]
    if params.get("segment_id"):
        from ...segments import service as segments

        ctx = TenantContext(tenant_id=tenant_id, principal_type="job", principal_id=job_id,
                            permissions=frozenset({READ}))
        try:
            ids, position = segments.page_ids(ctx, params["segment_id"], cp["position"], JOB_PAGE)
        except NotFound:
            return jobs.Step(checkpoint=None)
        nxt: dict[str, Any] | None = {**cp, "position": position} if position else None
    else:
        ids = jobs.inputs(tenant_id, job_id, cp["offset"], JOB_PAGE)
        nxt = {**cp, "offset": cp["offset"] + len(ids)} if len(ids) == JOB_PAGE else None
    live = members.profiles(tenant_id, ids)
    changed, errors = 0, []
    for member_id in ids:
        if member_id not in live:
            errors.append({"item": member_id, "code": "member_not_found", "detail": "No such member."})
            continue
        try:
            _, new = issuing.issue(tenant_id, member_id, params["template_id"], source=f"job:{job_id}")
        except Problem as problem:
            errors.append({"item": member_id, "code": problem.code, "detail": problem.detail or ""})
            if problem.code in ("budget_spent", "template_archived", "template_expired", "coupon_template_not_found"):
                return jobs.Step(checkpoint=None, processed=len(ids), changed=changed, errors=errors)
            continue
        changed += new
    return jobs.Step(checkpoint=nxt, processed=len(ids), changed=changed, errors=errors)


jobs.register(ISSUE_JOB, _issue_step)


def get_coupon(ctx: TenantContext, typed: str) -> CouponOut:
    return coupon_out(redeeming.find(ctx.tenant_id, typed))


def member_coupons(ctx: TenantContext, member_id: str, query: MemberCouponsQuery) -> CouponList:
    """Newest first; with ``status``, pages are filled by reading on (each read is bounded)."""
    _member(ctx, member_id)
    scope = f"member-coupons|{member_id}|{query.status or ''}"
    position = cursor.decode(query.cursor, ctx.tenant_id, scope) if query.cursor else None
    found: list[CouponOut] = []
    for _ in range(20):
        items, position = store.member_coupons(ctx.tenant_id, member_id, position, query.limit)
        found += [c for c in map(coupon_out, items) if query.status in (None, c.status)]
        if len(found) >= query.limit or position is None:
            break
    return CouponList(data=found[:query.limit],
                      next_cursor=cursor.encode(ctx.tenant_id, scope, position) if position else None)


def redeem(ctx: TenantContext, body: RedeemIn) -> RedeemOut:
    lines = [rules.Line(x.sku, x.category, x.amount, x.quantity) for x in body.lines]
    coupon, new = redeeming.redeem(ctx.tenant_id, body.code, body.member_id, body.order_id, lines, body.currency)
    red = dict(coupon.redemption or {})
    return RedeemOut(code=coupon.code, member_id=coupon.member_id, order_id=body.order_id,
                     discount=int(red["discount"]), subtotal=int(red["subtotal"]),
                     eligible_subtotal=int(red["eligible_subtotal"]), gift_sku=red.get("gift_sku"),
                     currency=dict(coupon.terms)["currency"], new=new)


def analytics(ctx: TenantContext, query: AnalyticsQuery) -> CouponAnalytics:
    """O(1) in the number of coupons: sharded counters written with each issue and redemption."""
    _load(ctx, query.template)
    name = lambda metric: keys.coupon_counter(ctx.tenant_id, query.template, metric)  # noqa: E731
    days = [f"day:{d}" for d in range(query.within_days)]
    totals = counters.read([name(m) for m in ("issued", "redeemed", "revenue", "discount", *days)])
    issued, redeemed = totals[name("issued")], totals[name("redeemed")]
    within = sum(totals[name(d)] for d in days)
    return CouponAnalytics(template_id=query.template, issued=issued, redeemed=redeemed,
                           redemption_rate=round(redeemed / issued, 4) if issued else 0.0,
                           within_days=query.within_days, redeemed_within=within,
                           redeemed_within_rate=round(within / issued, 4) if issued else 0.0,
                           revenue=totals[name("revenue")], discount_given=totals[name("discount")])



# --- coupons for another capability's cause (referral rewards, group-buys: issue_for_cause above) -----
def void_for_cause(tenant_id: str, member_id: str, cause: str) -> bool:
    """Void the coupon ``cause`` issued if it is still unused (it expires now: the member
    can no longer redeem it). A used coupon stays used. True if voided now."""
    claim = store.get_source(tenant_id, member_id, cause)
    if claim is None:
        return False

    def attempt(_: int) -> bool:
        coupon = store.get_coupon(tenant_id, claim.code)
        now = clock.now()
        if coupon is None or coupon.redemption is not None:
            return False
        expires = rules.parse_time(coupon.expires_at)
        if expires is not None and expires <= now:
            return False
        coupon.expires_at = clock.iso(now)
        tx = Transaction()
        store.stage_coupon_update(tx, coupon)  # version-checked: a redemption racing this wins or loses whole
        tx.commit()
        return True

    return retrying(attempt, attempts=8, conflict="The coupon kept changing while it was voided.")
