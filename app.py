"""Enclave's Chalice app: wires each capability's blueprint, schedules and background
functions. No logic lives here.

Every Lambda function imports this module on its cold start, so it imports no capability
(ADR 0020): blueprints register from the route manifest and import on their first request
(core.lazyroutes), signal receivers and providers are named and imported on first use
(core.wiring), and each schedule or function imports its service in its body.
"""
from __future__ import annotations

from typing import Any

from chalice import Chalice, Rate

from chalicelib.core import lazyroutes, objects, wiring
from chalicelib.core.wiring import ref

app = Chalice(app_name="enclave")
app.api.binary_types = []  # every response is text (JSON, HTML, JS, CSS)
# Chalice's own errors as problem+json
app.register_middleware(ref("chalicelib.core.http:problem_middleware"), "http")

wiring.provide("tenancy.api_key_verifier", "chalicelib.tenants.service:verify_api_key")
# imports and exports live in S3 (gofakes3 locally); the client is built on first use
objects.configure(ref("chalicelib.integrations.transfers.storage:S3Objects"))
wiring.provide("throttle.rate_source", "chalicelib.tenants.service:rate_limit")
# erasure: every capability forgets the member (counters included) before the profile goes
wiring.connect("chalicelib.members.service:MEMBER_ERASING", "chalicelib.tiers.service:forget_member")
wiring.connect("chalicelib.members.service:MEMBER_ERASING", "chalicelib.tags.service:forget_member")
wiring.connect("chalicelib.members.service:MEMBER_ERASING", "chalicelib.billing.apply:forget_member")
wiring.connect("chalicelib.members.service:MEMBER_ERASING", "chalicelib.journeys.triggers:forget_member")
wiring.connect("chalicelib.members.service:MEMBER_ERASING", "chalicelib.core.audit:forget_member")
wiring.connect("chalicelib.members.service:MEMBER_ERASING", "chalicelib.loyalty.coupons.service:forget_member")
wiring.connect("chalicelib.members.service:MEMBER_ERASING", "chalicelib.loyalty.points.service:forget_member")
wiring.connect("chalicelib.members.service:MEMBER_ERASING", "chalicelib.integrations.webhooks.events:forget_member")
wiring.connect("chalicelib.members.service:MEMBER_ERASING", "chalicelib.guides.ownership:forget_member")
wiring.connect("chalicelib.members.service:MEMBER_ERASING", "chalicelib.loyalty.referrals.service:forget_member")
# what follows a committed write, delivered at least once through the outbox (core.signals)
# (rule tags also read history: an import's past orders; every other receiver acts on live events only)
wiring.connect("chalicelib.activity.service:EVENT_RECORDED", "chalicelib.tags.service:on_event",
               accepts="chalicelib.tags.service:wants_event", history=True)
wiring.connect("chalicelib.activity.service:EVENT_RECORDED", "chalicelib.journeys.triggers:on_event",
               accepts="chalicelib.journeys.triggers:wants_event")
wiring.connect("chalicelib.activity.service:EVENT_RECORDED", "chalicelib.loyalty.points.earning:on_event",
               accepts="chalicelib.loyalty.points.earning:wants_event")
wiring.connect("chalicelib.tiers.service:STANDING_CHANGED", "chalicelib.journeys.triggers:on_standing_change")
wiring.connect("chalicelib.tags.service:TAG_CHANGED", "chalicelib.journeys.triggers:on_tag_change")
# a full refund gives coupons back; a reward may issue a coupon
wiring.connect("chalicelib.activity.service:EVENT_RECORDED", "chalicelib.loyalty.coupons.service:on_event",
               accepts="chalicelib.loyalty.coupons.service:wants_event")
wiring.connect("chalicelib.loyalty.points.service:REWARD_REDEEMED",
               "chalicelib.loyalty.coupons.service:on_reward_redeemed")
# work that commits or fails WITH another capability's write (core.participants)
# order.paid coupon_codes
wiring.connect("chalicelib.activity.service:ORDER_PAID", "chalicelib.loyalty.coupons.service:redeem_in_order")
wiring.connect("chalicelib.billing.apply:ENTITLEMENT_CHANGED", "chalicelib.billing.apply:on_entitlement_changed")
# outbound event subscriptions: every domain event becomes an event object and deliveries
wiring.connect("chalicelib.activity.service:EVENT_RECORDED", "chalicelib.integrations.webhooks.events:on_signal",
               wants="chalicelib.integrations.webhooks.events:wants")
wiring.connect("chalicelib.tiers.service:STANDING_CHANGED", "chalicelib.integrations.webhooks.events:on_signal")
wiring.connect("chalicelib.tags.service:TAG_CHANGED", "chalicelib.integrations.webhooks.events:on_signal")
for _only_outbound in ("chalicelib.members.service:MEMBER_CREATED", "chalicelib.members.service:MEMBER_UPDATED",
                       "chalicelib.members.service:MEMBER_ERASED", "chalicelib.journeys.delivery:MESSAGE_CLOSED"):
    wiring.connect(_only_outbound, "chalicelib.integrations.webhooks.events:on_signal",
                   wants="chalicelib.integrations.webhooks.events:wants")
# guides: sign-ups through a guide's code bind in the member's own transaction; orders count
# for the member's guide and close their open tasks; journeys' create_task steps make tasks
wiring.connect("chalicelib.members.service:MEMBER_CREATING", "chalicelib.guides.ownership:on_member_creating")
# referrals: a code at sign-up is the first touch; an existing member's code is recorded, never re-attributes;
# the referee's orders convert (and refunds claw back); rewards are granted / taken back once
wiring.connect("chalicelib.members.service:MEMBER_CREATING", "chalicelib.loyalty.referrals.service:on_member_creating")
wiring.connect("chalicelib.members.service:MEMBER_MATCHED", "chalicelib.loyalty.referrals.service:on_member_matched")
wiring.connect("chalicelib.activity.service:EVENT_RECORDED", "chalicelib.loyalty.referrals.service:on_event",
               accepts="chalicelib.loyalty.referrals.service:wants_event")
wiring.connect("chalicelib.loyalty.referrals.moves:REFERRAL_SETTLE", "chalicelib.loyalty.referrals.service:settle")
wiring.connect("chalicelib.activity.service:EVENT_RECORDED", "chalicelib.guides.board:on_event",
               accepts="chalicelib.guides.board:wants_event")
wiring.connect("chalicelib.journeys.actions:TASK_REQUESTED", "chalicelib.guides.tasks:on_task_requested")
# group-buys: order.paid with a group_code pays a seat in the order's own transaction; a group's
# deadline is a journeys timer (started from the outbox); its outcome rewards or notifies members
wiring.connect("chalicelib.activity.service:ORDER_PAID", "chalicelib.loyalty.groupbuys.service:in_order")
wiring.provide("groupbuys.timer_service", "chalicelib.journeys.timers:timers")
wiring.provide("groupbuys.timer", "chalicelib.journeys.timers:Timer")
wiring.connect("chalicelib.loyalty.groupbuys.deadlines:GROUP_OPENED",
               "chalicelib.loyalty.groupbuys.service:on_group_opened")
wiring.connect("chalicelib.loyalty.groupbuys.outcomes:GROUP_COMPLETED",
               "chalicelib.loyalty.groupbuys.service:on_completed")
wiring.connect("chalicelib.loyalty.groupbuys.outcomes:GROUP_FAILED", "chalicelib.loyalty.groupbuys.service:on_failed")

lazyroutes.register_blueprint(app, "chalicelib.apidocs.routes")
lazyroutes.register_blueprint(app, "chalicelib.tenants.routes", url_prefix="/v1")
lazyroutes.register_blueprint(app, "chalicelib.members.routes", url_prefix="/v1")
lazyroutes.register_blueprint(app, "chalicelib.activity.routes", url_prefix="/v1")
lazyroutes.register_blueprint(app, "chalicelib.tiers.routes", url_prefix="/v1")
lazyroutes.register_blueprint(app, "chalicelib.analytics.routes", url_prefix="/v1")
lazyroutes.register_blueprint(app, "chalicelib.tags.routes", url_prefix="/v1")
lazyroutes.register_blueprint(app, "chalicelib.segments.routes", url_prefix="/v1")
lazyroutes.register_blueprint(app, "chalicelib.billing.routes", url_prefix="/v1")
lazyroutes.register_blueprint(app, "chalicelib.billing.routes", "webhook_bp")
lazyroutes.register_blueprint(app, "chalicelib.journeys.routes", url_prefix="/v1")
lazyroutes.register_blueprint(app, "chalicelib.integrations.audit.routes", url_prefix="/v1")
lazyroutes.register_blueprint(app, "chalicelib.loyalty.coupons.routes", url_prefix="/v1")
lazyroutes.register_blueprint(app, "chalicelib.loyalty.points.routes", url_prefix="/v1")
lazyroutes.register_blueprint(app, "chalicelib.integrations.webhooks.routes", url_prefix="/v1")
lazyroutes.register_blueprint(app, "chalicelib.integrations.transfers.routes", url_prefix="/v1")
lazyroutes.register_blueprint(app, "chalicelib.guides.routes", url_prefix="/v1")
lazyroutes.register_blueprint(app, "chalicelib.loyalty.referrals.routes", url_prefix="/v1")
lazyroutes.register_blueprint(app, "chalicelib.loyalty.groupbuys.routes", url_prefix="/v1")


def _time_left(context: Any) -> float:
    return context.get_remaining_time_in_millis() / 1000.0 if context else 900.0


@app.lambda_function(name="run_job")
def run_job(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Runs a background job's steps (invoked asynchronously by the job dispatcher)."""
    from chalicelib.core import jobs
    job = jobs.run(event.get("tenant_id"), event["job_id"], time_left=lambda: _time_left(context))
    return {"status": job.status if job else "missing"}


@app.schedule(Rate(1, unit=Rate.DAYS), name="nightly")
def nightly(event: Any) -> dict[str, Any]:
    """Re-evaluates stages, RFM cut-offs and scores, and due downgrades, for every tenant
    (or, when an operator invokes it with ``{"tenant_ids": [...]}``, for those)."""
    from chalicelib.tiers import service as tiers_service
    detail = getattr(event, "detail", None) or {}
    return {"job_id": tiers_service.run_nightly(tenant_ids=detail.get("tenant_ids"))}


@app.schedule(Rate(5, unit=Rate.MINUTES), name="job_sweeper")
def job_sweeper(event: Any) -> dict[str, Any]:
    """Re-dispatches background jobs whose runner died (stale heartbeat)."""
    from chalicelib.core import jobs
    return {"redispatched": jobs.sweep()}


@app.schedule(Rate(1, unit=Rate.MINUTES), name="outbox_sweeper")
def outbox_sweeper(event: Any) -> dict[str, int]:
    """Delivers signals whose after-commit delivery did not finish (the writer died right
    after its commit, or a receiver failed), with backoff."""
    from chalicelib.core import signals
    return signals.sweep()


@app.schedule(Rate(5, unit=Rate.MINUTES), name="tag_expiry")
def tag_expiry(event: Any) -> dict[str, Any]:
    """Removes expired tags (reads hide them at once; this keeps the counts right)."""
    from chalicelib.core import audit
    from chalicelib.tags import service as tags_service
    with audit.acting_as_system("tag_expiry"):  # the audit log names the schedule
        return {"removed": tags_service.expire_all_tenants()}


@app.schedule(Rate(1, unit=Rate.DAYS), name="renewal_reminders")
def renewal_reminders(event: Any) -> dict[str, Any]:
    """membership.renewal_upcoming, 7 days before a paid membership renews or ends."""
    from chalicelib.billing import reconcile as billing_reconcile
    detail = getattr(event, "detail", None) or {}
    return {"job_id": billing_reconcile.run_renewal_reminders(tenant_ids=detail.get("tenant_ids"))}


@app.schedule(Rate(1, unit=Rate.HOURS), name="stripe_reconciliation")
def stripe_reconciliation(event: Any) -> dict[str, Any]:
    """Re-reads recently changed and due subscriptions from each connected Stripe account
    and repairs any drift (lost webhooks)."""
    from chalicelib.billing import reconcile as billing_reconcile
    detail = getattr(event, "detail", None) or {}
    return {"job_id": billing_reconcile.run_reconciliation(tenant_ids=detail.get("tenant_ids"))}


@app.lambda_function(name="journey_step")
def journey_step(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Runs an enrolment's next steps when its timer fires (the Step Functions task; the
    local timers call the same code)."""
    return on_timer(event)


def on_timer(payload: dict[str, Any]) -> dict[str, Any]:
    """A durable timer fired: by ``kind`` (absent: a journey step, as every timer before kinds)."""
    if payload.get("kind") == "group_deadline":
        from chalicelib.loyalty.groupbuys import service as groupbuys_service
        return groupbuys_service.on_timer(payload)
    from chalicelib.journeys import runner as journeys_runner
    return journeys_runner.on_timer(payload)


@app.schedule(Rate(1, unit=Rate.MINUTES), name="journey_timers")
def journey_timers(event: Any) -> dict[str, Any]:
    """Fires due journey timers kept in DynamoDB (ENCLAVE_TIMERS=local; a no-op with Step
    Functions, which fires its own)."""
    from chalicelib.journeys.timers import timers as journey_timer_service
    return {"fired": journey_timer_service().fire_due(on_timer)}


@app.schedule(Rate(1, unit=Rate.MINUTES), name="journey_sweeper")
def journey_sweeper(event: Any) -> dict[str, Any]:
    """Starts journey timers whose start was lost after their commit, re-arms lost ones,
    and delivers messages due for a (re)try."""
    from chalicelib.journeys import runner as journeys_runner
    return journeys_runner.sweep()


@app.schedule(Rate(1, unit=Rate.MINUTES), name="webhook_deliveries")
def webhook_deliveries(event: Any) -> dict[str, int]:
    """Sends event deliveries due for a (re)try, and disables endpoints failing for days."""
    from chalicelib.integrations.webhooks import events as webhook_events
    return webhook_events.run_schedule()


@app.schedule(Rate(1, unit=Rate.HOURS), name="journey_triggers")
def journey_triggers(event: Any) -> dict[str, Any]:
    """Date triggers (birthdays, per tenant-local day) and segment entry (hourly), for every
    tenant (or, when an operator invokes it with ``{"tenant_ids": [...]}``, for those)."""
    from chalicelib.journeys import triggers as journeys_triggers
    detail = getattr(event, "detail", None) or {}
    return journeys_triggers.run_scheduled(tenant_ids=detail.get("tenant_ids"))


@app.schedule(Rate(1, unit=Rate.HOURS), name="points_expiry")
def points_expiry(event: Any) -> dict[str, Any]:
    """Expires due points lots and sends points.expiring notices (only balances listed as
    due; reads apply expiry themselves), for every tenant or ``{"tenant_ids": [...]}``."""
    from chalicelib.loyalty.points import expiry as points_expiry_pass
    detail = getattr(event, "detail", None) or {}
    return points_expiry_pass.run(tenant_ids=detail.get("tenant_ids"))


@app.schedule(Rate(15, unit=Rate.MINUTES), name="task_expiry")
def task_expiry(event: Any) -> dict[str, Any]:
    """Expires open guide tasks past their due day + grace (read from the due-task index)."""
    from chalicelib.guides import tasks as guides_tasks
    return {"expired": guides_tasks.expire_all_tenants()}
