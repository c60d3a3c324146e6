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
from chalicelib.core import jobs, tenancy
from chalicelib.members import routes as members
from chalicelib.members import service as members_service
from chalicelib.tenants import routes as tenants
from chalicelib.tenants import service as tenants_service
from chalicelib.segments import routes as segments
from chalicelib.tags import routes as tags
from chalicelib.tags import service as tags_service
from chalicelib.tiers import routes as tiers
from chalicelib.tiers import service as tiers_service

app = Chalice(app_name="enclave")
app.api.binary_types = []  # every response is text (JSON, HTML, JS, CSS)

tenancy.register_api_key_verifier(tenants_service.verify_api_key)
members_service.on_erasure(tiers_service.forget_member)
members_service.on_erasure(tags_service.forget_member)
activity_service.on_recorded(tags_service.on_event)
members_service.on_erasure(billing_apply.forget_member)

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


@app.schedule(Rate(5, unit=Rate.MINUTES), name="tag_expiry")
def tag_expiry(event: Any) -> dict[str, Any]:
    """Removes expired tags (reads hide them at once; this keeps the counts right)."""
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

