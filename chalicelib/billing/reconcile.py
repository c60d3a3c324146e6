"""Schedules: Stripe reconciliation (hourly) and renewal reminders (daily), as background
jobs that visit tenant after tenant (checkpointed, resumable, safe to repeat).

Reconciliation, per connected account, re-reads from Stripe:

* every subscription named by the account's events since the last run (Stripe's event
  list, minus nothing: it also lists the events whose webhooks were lost), and
* every live membership whose period end or scheduled end has passed (the "due" list),

applies each read as an observation at the latest moment Stripe proves (the newest listed
event about it, or the subscription's own fields; never our clock), brings each due member's plan tier up to
date (a scheduled end that passed ends the tier even if Stripe's event is late), and
retries archiving replaced prices. So a dropped webhook is repaired within the hour.
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from ..activity import service as activity
from ..core import clock, jobs, observability as obs
from ..tenants import service as tenants
from . import apply, state, store
from .gateway import GatewayError, gateway
from .state import Snapshot
from .webhooks import CHECKOUT_EVENTS, INVOICE_EVENTS, SUBSCRIPTION_EVENTS, subscription_id

RECONCILE_JOB, REMINDER_JOB, PLAN_TIER_JOB = "stripe_reconciliation", "renewal_reminders", "plan_tier_resync"
#: the first run of an account looks this far back; later runs from the last one
FIRST_LOOKBACK = timedelta(days=3)
#: re-read events this much before the checkpoint too (Stripe's clock vs ours, late listing)
OVERLAP = timedelta(minutes=10)
REMINDER_LEAD = timedelta(days=7)
#: a reminder still goes out if a daily run was missed (the event id dedupes)
REMINDER_WINDOW = timedelta(days=2)
EVENT_TYPES = sorted(SUBSCRIPTION_EVENTS | INVOICE_EVENTS | CHECKOUT_EVENTS)


# --- reconciliation ------------------------------------------------------------------------
def reconcile_tenant(tenant_id: str, now: datetime) -> dict[str, int]:
    """One tenant's pass; {read, repaired, due}."""
    account = store.get_account(tenant_id)
    if account is None:
        return {"read": 0, "repaired": 0, "due": 0}
    gw = gateway(tenants.tenant_settings(tenant_id).livemode)
    since = int(account.reconciled_until) if account.reconciled_until else state.epoch(now - FIRST_LOOKBACK)
    #: subscription -> the newest listed event about it (our read comes after it)
    wanted: dict[str, int] = {}
    for event in gw.list_events(account.account_id, created_after=since - int(OVERLAP.total_seconds()),
                                types=EVENT_TYPES):
        sub = subscription_id(str(event.get("type")), (event.get("data") or {}).get("object") or {})
        if sub:
            wanted[sub] = max(wanted.get(sub, 0), int(event.get("created") or 0))
    due = store.due_memberships(tenant_id, None, clock.iso(now))
    for item in due:
        wanted.setdefault(item.membership_id, 0)
    repaired = 0
    for sub, listed in wanted.items():
        try:
            current = gw.retrieve_subscription(account.account_id, sub)
        except GatewayError:
            obs.logger.warning("reconciliation could not read a subscription", extra={"subscription": sub})
            continue
        result = apply.apply_subscription(tenant_id, current, max(listed, state.moment_of(current)))
        repaired += result.outcome == "applied"
    for item in due:  # a scheduled end that passed ends the plan tier now
        apply.sync_plan_tier(tenant_id, item.member_id)
        fresh = store.get_membership(tenant_id, item.member_id, item.membership_id)
        if fresh is not None and fresh.pending_events:
            apply.run_effects(fresh)
    plans, _ = store.list_plans(tenant_id)
    for plan in plans:
        if plan.archive_pending:
            apply.archive_replaced_prices(tenant_id, account.account_id, plan)
    account.reconciled_until = state.epoch(now)
    try:
        store.save_account(account)
    except Exception:  # noqa: BLE001 - a concurrent account.updated: the next run reads a bit more
        obs.logger.info("reconciliation checkpoint not saved")
    obs.count("StripeReconciled", tenant_id, repaired)
    return {"read": len(wanted), "repaired": repaired, "due": len(due)}


def _each_tenant(params: dict[str, Any], checkpoint: dict[str, Any] | None) -> str | None:
    """The next tenant to visit after the checkpoint (all tenants, or ``tenant_ids``)."""
    return tenants.next_tenant((checkpoint or {}).get("last_tenant"), params.get("tenant_ids"))


def _reconcile_step(_: str | None, params: dict[str, Any], checkpoint: dict[str, Any] | None) -> jobs.Step:
    tenant_id = _each_tenant(params, checkpoint)
    if tenant_id is None:
        return jobs.Step(checkpoint=None)
    counts = reconcile_tenant(tenant_id, clock.now())
    return jobs.Step(checkpoint={"last_tenant": tenant_id}, processed=counts["read"], changed=counts["repaired"])


def _job_id(prefix: str, stamp: str, tenant_ids: list[str] | None) -> str:
    if tenant_ids is None:
        return f"{prefix}-{stamp}"
    return f"{prefix}-{stamp}-" + hashlib.sha256(",".join(sorted(tenant_ids)).encode()).hexdigest()[:16]


def run_reconciliation(now: datetime | None = None, tenant_ids: list[str] | None = None) -> str:
    """Start the pass, once per UTC hour (a second start that hour returns the same job)."""
    stamp = (now or clock.now()).strftime("%Y%m%d%H")
    params: dict[str, Any] = {"hour": stamp}
    if tenant_ids is not None:
        params["tenant_ids"] = sorted(tenant_ids)
    return jobs.start(RECONCILE_JOB, None, params, job_id=_job_id("STRIPE-RECONCILE", stamp, tenant_ids)).job_id


# --- renewal reminders ---------------------------------------------------------------------
def remind_tenant(tenant_id: str, now: datetime) -> int:
    """membership.renewal_upcoming for live memberships ending or renewing in about 7 days
    (one per membership and period: the event id is derived from both)."""
    sent = 0
    window_end = now + REMINDER_LEAD
    for item in store.due_memberships(tenant_id, clock.iso(window_end - REMINDER_WINDOW) + "#~",
                                      clock.iso(window_end)):
        s = Snapshot.from_dict(item.state)
        if not state.entitled(s, state.epoch(now)) or s.current_period_end is None:
            continue
        ends = s.ends_at or s.current_period_end
        sent += activity.record_domain_event(
            tenant_id, item.member_id, "membership.renewal_upcoming",
            f"membership.renewal_upcoming:{item.membership_id}:{ends}",
            {"membership_id": item.membership_id, "plan_id": item.plan_id, "will_renew": s.ends_at is None,
             "at": clock.iso(state.from_epoch(ends)), "days_before": REMINDER_LEAD.days},  # type: ignore[arg-type]
            now)
    return sent


def _reminder_step(_: str | None, params: dict[str, Any], checkpoint: dict[str, Any] | None) -> jobs.Step:
    tenant_id = _each_tenant(params, checkpoint)
    if tenant_id is None:
        return jobs.Step(checkpoint=None)
    sent = remind_tenant(tenant_id, clock.now())
    return jobs.Step(checkpoint={"last_tenant": tenant_id}, processed=1, changed=sent)


def run_renewal_reminders(now: datetime | None = None, tenant_ids: list[str] | None = None) -> str:
    """Start the reminders, once per UTC day."""
    stamp = (now or clock.now()).strftime("%Y%m%d")
    params: dict[str, Any] = {"day": stamp}
    if tenant_ids is not None:
        params["tenant_ids"] = sorted(tenant_ids)
    return jobs.start(REMINDER_JOB, None, params, job_id=_job_id("RENEWAL-REMINDERS", stamp, tenant_ids)).job_id


# --- a plan's tier changed: re-sync its live members ------------------------------------------
def _plan_tier_step(tenant_id: str | None, params: dict[str, Any], checkpoint: dict[str, Any] | None) -> jobs.Step:
    assert tenant_id is not None
    page = 100
    items = store.due_memberships(tenant_id, (checkpoint or {}).get("after"), "9999", limit=page)
    # each shard gave up to a page: only the first `page` of the merge are surely in order
    items = items[:page]
    members = {i.member_id for i in items if i.plan_id == params["plan_id"]}
    for member_id in members:
        apply.sync_plan_tier(tenant_id, member_id)
    if len(items) < page:
        return jobs.Step(checkpoint=None, processed=len(items), changed=len(members))
    return jobs.Step(checkpoint={"after": items[-1].gsi1sk}, processed=len(items), changed=len(members))


def start_plan_tier_job(tenant_id: str, plan_id: str) -> str:
    return jobs.start(PLAN_TIER_JOB, tenant_id, {"plan_id": plan_id}).job_id


jobs.register(RECONCILE_JOB, _reconcile_step)
jobs.register(REMINDER_JOB, _reminder_step)
jobs.register(PLAN_TIER_JOB, _plan_tier_step)
