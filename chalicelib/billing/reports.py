"""Membership analytics from O(1) sharded counters (moved in the same transactions as the
memberships, so they always equal a recount)."""
from __future__ import annotations

from zoneinfo import ZoneInfo

from ..core import clock
from ..core.tenancy import TenantContext
from ..tenants import service as tenants
from . import store
from .schemas import MembershipAnalytics, MoneyOut, PlanCounts


def analytics(ctx: TenantContext) -> MembershipAnalytics:
    t = ctx.tenant_id
    settings = tenants.tenant_settings(t)
    local = clock.now().astimezone(ZoneInfo(settings.timezone))
    month = f"{local.year:04d}-{local.month:02d}"
    plans: list[store.PlanItem] = []
    after = None
    while True:
        page, after = store.list_plans(t, after)
        plans += page
        if after is None:
            break
    currencies = sorted({p.currency for p in plans} | {settings.currency})
    names = [store.status_counter(t, p.plan_id, s) for p in plans for s in ("active", "trialing", "past_due")]
    names += [store.mrr_counter(t, c) for c in currencies]
    names += [store.new_counter(t, month), store.churn_counter(t, month)]
    totals = store.read_counters(names)
    per_plan = [PlanCounts(plan_id=p.plan_id, name=p.name,
                           active=totals[store.status_counter(t, p.plan_id, "active")],
                           trialing=totals[store.status_counter(t, p.plan_id, "trialing")],
                           past_due=totals[store.status_counter(t, p.plan_id, "past_due")]) for p in plans]
    mrr = [MoneyOut(currency=c, amount=round(totals[store.mrr_counter(t, c)] / 12)) for c in currencies
           if totals[store.mrr_counter(t, c)]]
    return MembershipAnalytics(
        month=month, active_paid_members=sum(p.active for p in per_plan), per_plan=per_plan, mrr=mrr,
        new_this_month=totals[store.new_counter(t, month)], churned_this_month=totals[store.churn_counter(t, month)],
        past_due=sum(p.past_due for p in per_plan))

