"""Enclave's Chalice app: wires each capability's blueprint, schedules and background
functions. No logic lives here."""
from __future__ import annotations

from typing import Any

from chalice import Chalice, Rate

from chalicelib.activity import routes as activity
from chalicelib.activity import service as activity_service
from chalicelib.analytics import routes as analytics
from chalicelib.apidocs import routes as apidocs
from chalicelib.billing import apply as billing_apply
from chalicelib.billing import reconcile as billing_reconcile
from chalicelib.billing import routes as billing
from chalicelib.core import http as http_layer
from chalicelib.core import audit, jobs, objects, signals, tenancy, throttle
from chalicelib.integrations.audit import routes as audit_log
from chalicelib.integrations.transfers import routes as transfers
from chalicelib.integrations.transfers import storage as transfers_storage
from chalicelib.integrations.webhooks import events as webhook_events
from chalicelib.integrations.webhooks import routes as webhooks
from chalicelib.journeys import delivery as journeys_delivery
from chalicelib.guides import board as guides_board
from chalicelib.guides import ownership as guides_ownership
from chalicelib.guides import routes as guides
from chalicelib.guides import tasks as guides_tasks
from chalicelib.journeys import actions as journeys_actions
from chalicelib.journeys import routes as journeys
from chalicelib.journeys import runner as journeys_runner
from chalicelib.journeys import triggers as journeys_triggers
from chalicelib.journeys.timers import timers as journey_timer_service
from chalicelib.loyalty.coupons import routes as coupons
from chalicelib.loyalty.coupons import service as coupons_service
from chalicelib.loyalty.points import earning as points_earning
from chalicelib.loyalty.points import expiry as points_expiry_pass
from chalicelib.loyalty.points import routes as points
from chalicelib.loyalty.points import service as points_service
from chalicelib.members import routes as members
from chalicelib.members import service as members_service
from chalicelib.segments import routes as segments
from chalicelib.tenants import routes as tenants
from chalicelib.tenants import service as tenants_service
from chalicelib.tags import routes as tags
from chalicelib.tags import service as tags_service
from chalicelib.tiers import routes as tiers
from chalicelib.tiers import service as tiers_service

app = Chalice(app_name="enclave")
app.api.binary_types = []  # every response is text (JSON, HTML, JS, CSS)
app.register_middleware(http_layer.problem_middleware, "http")  # Chalice's own errors as problem+json

tenancy.register_api_key_verifier(tenants_service.verify_api_key)
# imports and exports live in S3 (gofakes3 locally); the client is built on first use
objects.configure(transfers_storage.S3Objects)
throttle.register_rate_source(tenants_service.rate_limit)
# erasure: every capability forgets the member (counters included) before the profile goes
members_service.MEMBER_ERASING.connect(tiers_service.forget_member)
members_service.MEMBER_ERASING.connect(tags_service.forget_member)
members_service.MEMBER_ERASING.connect(billing_apply.forget_member)
members_service.MEMBER_ERASING.connect(journeys_triggers.forget_member)
members_service.MEMBER_ERASING.connect(audit.forget_member)
members_service.MEMBER_ERASING.connect(coupons_service.forget_member)
members_service.MEMBER_ERASING.connect(points_service.forget_member)
members_service.MEMBER_ERASING.connect(webhook_events.forget_member)
members_service.MEMBER_ERASING.connect(guides_ownership.forget_member)
# what follows a committed write, delivered at least once through the outbox (core.signals)
activity_service.EVENT_RECORDED.connect(tags_service.on_event, wants=tags_service.wants_event)
activity_service.EVENT_RECORDED.connect(journeys_triggers.on_event, wants=journeys_triggers.wants_event)
activity_service.EVENT_RECORDED.connect(points_earning.on_event, wants=points_earning.wants_event)
tiers_service.STANDING_CHANGED.connect(journeys_triggers.on_standing_change)
tags_service.TAG_CHANGED.connect(journeys_triggers.on_tag_change)
activity_service.EVENT_RECORDED.connect(coupons_service.on_event,  # a full refund gives coupons back
                                        wants=coupons_service.wants_event)
points_service.REWARD_REDEEMED.connect(coupons_service.on_reward_redeemed)  # a reward may issue a coupon
# work that commits or fails WITH another capability's write (core.participants)
activity_service.ORDER_PAID.connect(coupons_service.redeem_in_order)  # order.paid coupon_codes
billing_apply.ENTITLEMENT_CHANGED.connect(billing_apply.on_entitlement_changed)
# outbound event subscriptions: every domain event becomes an event object and deliveries
activity_service.EVENT_RECORDED.connect(webhook_events.on_signal,
                                        wants=webhook_events.wants(activity_service.EVENT_RECORDED.name))
tiers_service.STANDING_CHANGED.connect(webhook_events.on_signal)
tags_service.TAG_CHANGED.connect(webhook_events.on_signal)
for _only_outbound in (members_service.MEMBER_CREATED, members_service.MEMBER_UPDATED,
                       members_service.MEMBER_ERASED, journeys_delivery.MESSAGE_CLOSED):
    _only_outbound.connect(webhook_events.on_signal, wants=webhook_events.wants(_only_outbound.name))
# guides: sign-ups through a guide's code bind in the member's own transaction; orders count
# for the member's guide and close their open tasks; journeys' create_task steps make tasks
members_service.MEMBER_CREATING.connect(guides_ownership.on_member_creating)
activity_service.EVENT_RECORDED.connect(guides_board.on_event, wants=guides_board.wants_event)
journeys_actions.TASK_REQUESTED.connect(guides_tasks.on_task_requested)

app.register_blueprint(apidocs.bp)
app.register_blueprint(tenants.bp, url_prefix="/v1")
app.register_blueprint(members.bp, url_prefix="/v1")
app.register_blueprint(activity.bp, url_prefix="/v1")
app.register_blueprint(tiers.bp, url_prefix="/v1")
app.register_blueprint(analytics.bp, url_prefix="/v1")
app.register_blueprint(tags.bp, url_prefix="/v1")
app.register_blueprint(segments.bp, url_prefix="/v1")
app.register_blueprint(billing.bp, url_prefix="/v1")
app.register_blueprint(billing.webhook_bp)
app.register_blueprint(journeys.bp, url_prefix="/v1")
app.register_blueprint(audit_log.bp, url_prefix="/v1")
app.register_blueprint(coupons.bp, url_prefix="/v1")
app.register_blueprint(points.bp, url_prefix="/v1")
app.register_blueprint(webhooks.bp, url_prefix="/v1")
app.register_blueprint(transfers.bp, url_prefix="/v1")
app.register_blueprint(guides.bp, url_prefix="/v1")


def _time_left(context: Any) -> float:
    return context.get_remaining_time_in_millis() / 1000.0 if context else 900.0


@app.lambda_function(name="run_job")
def run_job(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Runs a background job's steps (invoked asynchronously by the job dispatcher)."""
    job = jobs.run(event.get("tenant_id"), event["job_id"], time_left=lambda: _time_left(context))
    return {"status": job.status if job else "missing"}


@app.schedule(Rate(1, unit=Rate.DAYS), name="nightly")
def nightly(event: Any) -> dict[str, Any]:
    """Re-evaluates stages, RFM cut-offs and scores, and due downgrades, for every tenant
    (or, when an operator invokes it with ``{"tenant_ids": [...]}``, for those)."""
    detail = getattr(event, "detail", None) or {}
    return {"job_id": tiers_service.run_nightly(tenant_ids=detail.get("tenant_ids"))}


@app.schedule(Rate(5, unit=Rate.MINUTES), name="job_sweeper")
def job_sweeper(event: Any) -> dict[str, Any]:
    """Re-dispatches background jobs whose runner died (stale heartbeat)."""
    return {"redispatched": jobs.sweep()}


@app.schedule(Rate(1, unit=Rate.MINUTES), name="outbox_sweeper")
def outbox_sweeper(event: Any) -> dict[str, int]:
    """Delivers signals whose after-commit delivery did not finish (the writer died right
    after its commit, or a receiver failed), with backoff."""
    return signals.sweep()


@app.schedule(Rate(5, unit=Rate.MINUTES), name="tag_expiry")
def tag_expiry(event: Any) -> dict[str, Any]:
    """Removes expired tags (reads hide them at once; this keeps the counts right)."""
    with audit.acting_as_system("tag_expiry"):  # the audit log names the schedule
        return {"removed": tags_service.expire_all_tenants()}


@app.schedule(Rate(1, unit=Rate.DAYS), name="renewal_reminders")
def renewal_reminders(event: Any) -> dict[str, Any]:
    """membership.renewal_upcoming, 7 days before a paid membership renews or ends."""
    detail = getattr(event, "detail", None) or {}
    return {"job_id": billing_reconcile.run_renewal_reminders(tenant_ids=detail.get("tenant_ids"))}


@app.schedule(Rate(1, unit=Rate.HOURS), name="stripe_reconciliation")
def stripe_reconciliation(event: Any) -> dict[str, Any]:
    """Re-reads recently changed and due subscriptions from each connected Stripe account
    and repairs any drift (lost webhooks)."""
    detail = getattr(event, "detail", None) or {}
    return {"job_id": billing_reconcile.run_reconciliation(tenant_ids=detail.get("tenant_ids"))}


@app.lambda_function(name="journey_step")
def journey_step(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Runs an enrolment's next steps when its timer fires (the Step Functions task; the
    local timers call the same code)."""
    return journeys_runner.on_timer(event)


@app.schedule(Rate(1, unit=Rate.MINUTES), name="journey_timers")
def journey_timers(event: Any) -> dict[str, Any]:
    """Fires due journey timers kept in DynamoDB (ENCLAVE_TIMERS=local; a no-op with Step
    Functions, which fires its own)."""
    return {"fired": journey_timer_service().fire_due(journeys_runner.on_timer)}


@app.schedule(Rate(1, unit=Rate.MINUTES), name="journey_sweeper")
def journey_sweeper(event: Any) -> dict[str, Any]:
    """Starts journey timers whose start was lost after their commit, re-arms lost ones,
    and delivers messages due for a (re)try."""
    return journeys_runner.sweep()


@app.schedule(Rate(1, unit=Rate.MINUTES), name="webhook_deliveries")
def webhook_deliveries(event: Any) -> dict[str, int]:
    """Sends event deliveries due for a (re)try, and disables endpoints failing for days."""
    return webhook_events.run_schedule()


@app.schedule(Rate(1, unit=Rate.HOURS), name="journey_triggers")
def journey_triggers(event: Any) -> dict[str, Any]:
    """Date triggers (birthdays, per tenant-local day) and segment entry (hourly), for every
    tenant (or, when an operator invokes it with ``{"tenant_ids": [...]}``, for those)."""
    detail = getattr(event, "detail", None) or {}
    return journeys_triggers.run_scheduled(tenant_ids=detail.get("tenant_ids"))


@app.schedule(Rate(1, unit=Rate.HOURS), name="points_expiry")
def points_expiry(event: Any) -> dict[str, Any]:
    """Expires due points lots and sends points.expiring notices (only balances listed as
    due; reads apply expiry themselves), for every tenant or ``{"tenant_ids": [...]}``."""
    detail = getattr(event, "detail", None) or {}
    return points_expiry_pass.run(tenant_ids=detail.get("tenant_ids"))


@app.schedule(Rate(15, unit=Rate.MINUTES), name="task_expiry")
def task_expiry(event: Any) -> dict[str, Any]:
    """Expires open guide tasks past their due day + grace (read from the due-task index)."""
    return {"expired": guides_tasks.expire_all_tenants()}
