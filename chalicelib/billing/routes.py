"""HTTP routes: the Stripe connection, plans, checkout/portal sessions, memberships,
benefits, membership analytics (``bp``, under /v1), and Stripe's webhook (``webhook_bp``,
public: the signature is the credential)."""
from __future__ import annotations

from chalice import Blueprint

from ..core.http import PUBLIC, Api, Reply
from ..core.tenancy import ADMIN, READ, WRITE, TenantContext
from . import reports, service, webhooks
from .schemas import (
    BenefitsOut,
    CancelIn,
    CheckoutIn,
    CheckoutOut,
    ConnectIn,
    ConnectOut,
    MembershipAnalytics,
    MembershipList,
    MembershipOut,
    PlanCreate,
    PlanListQuery,
    PlanOut,
    PlanPage,
    PlanPatch,
    PortalIn,
    PortalOut,
    StripeStatusOut,
    WebhookOut,
)

bp = Blueprint(__name__)
api = Api(bp, tag="Billing", prefix="/v1")
webhook_bp = Blueprint(__name__ + ".webhooks")
webhook_api = Api(webhook_bp, tag="Billing")


@api.route("/billing/stripe/connect", "POST", permission=ADMIN, body=ConnectIn, response=ConnectOut,
           errors=(401, 403, 413, 422, 502, 503))
def connect_stripe(ctx: TenantContext, body: ConnectIn) -> ConnectOut:
    """Connect the brand's Stripe account: returns a Stripe onboarding link

    The connected account is created once and recorded; calling again returns a fresh
    link for the same account (links are single use and expire within minutes).
    """
    return service.connect(ctx, body)


@api.route("/billing/stripe", "GET", permission=READ, response=StripeStatusOut, errors=(401, 403))
def stripe_status(ctx: TenantContext) -> StripeStatusOut:
    """The Stripe connection: account, charges enabled, details submitted (kept current by Stripe's events)"""
    return service.stripe_status(ctx)


@api.route("/plans", "POST", permission=ADMIN, body=PlanCreate, response=PlanOut, status=201,
           errors=(401, 403, 409, 413, 422, 502, 503))
def create_plan(ctx: TenantContext, body: PlanCreate) -> PlanOut:
    """Create a paid membership plan (a Product and a recurring Price on the brand's Stripe account)"""
    return service.create_plan(ctx, body)


@api.route("/plans", "GET", permission=READ, query=PlanListQuery, response=PlanPage, errors=(401, 403, 422))
def list_plans(ctx: TenantContext, query: PlanListQuery) -> PlanPage:
    """The tenant's plans (``active=true|false`` filters)"""
    return service.list_plans(ctx, query)


@api.route("/plans/{plan_id}", "GET", permission=READ, response=PlanOut, errors=(401, 403, 404))
def get_plan(ctx: TenantContext, plan_id: str) -> PlanOut:
    """One plan"""
    return service.get_plan(ctx, plan_id)


@api.route("/plans/{plan_id}", "PATCH", permission=ADMIN, body=PlanPatch, response=PlanOut,
           errors=(401, 403, 404, 409, 413, 422, 502, 503))
def update_plan(ctx: TenantContext, plan_id: str, body: PlanPatch) -> PlanOut:
    """Change a plan (``version`` must be current)

    A new amount, currency or interval makes a new Stripe Price and archives the old one;
    existing members keep the price they bought. ``active: false`` archives the plan.
    """
    return service.update_plan(ctx, plan_id, body)


@api.route("/members/{member_id}/checkout-sessions", "POST", permission=WRITE, body=CheckoutIn,
           response=CheckoutOut, status=201, errors=(401, 403, 404, 409, 410, 413, 422, 502, 503))
def create_checkout_session(ctx: TenantContext, member_id: str, body: CheckoutIn) -> CheckoutOut:
    """A Stripe Checkout link for the member to buy a plan (subscription mode)"""
    return service.checkout(ctx, member_id, body)


@api.route("/members/{member_id}/portal-sessions", "POST", permission=WRITE, body=PortalIn, response=PortalOut,
           status=201, errors=(401, 403, 404, 409, 410, 413, 422, 502, 503))
def create_portal_session(ctx: TenantContext, member_id: str, body: PortalIn) -> PortalOut:
    """A Stripe Billing Portal link for the member (cards, invoices, cancellation)"""
    return service.portal(ctx, member_id, body)


@api.route("/members/{member_id}/memberships", "GET", permission=READ, response=MembershipList,
           errors=(401, 403, 404, 410))
def list_memberships(ctx: TenantContext, member_id: str) -> MembershipList:
    """The member's paid memberships, newest first"""
    return service.list_memberships(ctx, member_id)


@api.route("/members/{member_id}/memberships/{membership_id}/cancel", "POST", permission=WRITE, body=CancelIn,
           response=MembershipOut, errors=(401, 403, 404, 409, 410, 413, 422, 502, 503))
def cancel_membership(ctx: TenantContext, member_id: str, membership_id: str, body: CancelIn) -> MembershipOut:
    """Cancel a membership at the end of its paid period (default) or now"""
    return service.cancel(ctx, member_id, membership_id, body)


@api.route("/members/{member_id}/memberships/{membership_id}/resume", "POST", permission=WRITE,
           response=MembershipOut, errors=(401, 403, 404, 409, 410, 502, 503))
def resume_membership(ctx: TenantContext, member_id: str, membership_id: str) -> MembershipOut:
    """Undo a cancellation at period end (before the period ends)"""
    return service.resume(ctx, member_id, membership_id)


@api.route("/members/{member_id}/benefits", "GET", permission=READ, response=BenefitsOut,
           errors=(401, 403, 404, 410))
def member_benefits(ctx: TenantContext, member_id: str) -> BenefitsOut:
    """The member's effective benefits: their tier's plus those of every active plan"""
    return service.benefits(ctx, member_id)


@api.route("/analytics/memberships", "GET", permission=READ, response=MembershipAnalytics, errors=(401, 403))
def memberships_report(ctx: TenantContext) -> MembershipAnalytics:
    """Active paid members per plan, MRR (yearly normalized to monthly), new and churned this month, past_due"""
    return reports.analytics(ctx)


@webhook_api.route("/webhooks/stripe", "POST", auth=PUBLIC, permission=None, response=WebhookOut,
                   errors=(400, 413, 503))
def stripe_webhook(_: None, raw_body: bytes, headers: dict[str, str]) -> Reply:
    """Stripe's events (Connect); the Stripe-Signature header is the credential

    Unknown event types and objects Enclave did not create are answered 200 and ignored.
    """
    return Reply(webhooks.handle(raw_body, headers.get("stripe-signature")))
