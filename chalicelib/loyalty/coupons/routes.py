"""HTTP routes: coupon templates, issuing, redemption, coupon reads and coupon analytics."""
from __future__ import annotations

from chalice import Blueprint

from ...core.http import Api
from ...core.tenancy import READ, WRITE, TenantContext
from . import service
from .schemas import (
    AnalyticsQuery,
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
    TemplateCreate,
    TemplateList,
    TemplateOut,
    TemplatePatch,
)

bp = Blueprint(__name__)
api = Api(bp, tag="Coupons", prefix="/v1")


@api.route("/coupon-templates", "POST", permission=WRITE, body=TemplateCreate, response=TemplateOut, status=201,
           errors=(401, 403, 422))
def create_template(ctx: TenantContext, body: TemplateCreate) -> TemplateOut:
    """Create a coupon template (money off, percent off with a cap, or a gift)"""
    return service.create_template(ctx, body)


@api.route("/coupon-templates", "GET", permission=READ, query=ListQuery, response=TemplateList,
           errors=(401, 403, 422))
def list_templates(ctx: TenantContext, query: ListQuery) -> TemplateList:
    """Coupon templates, newest first"""
    return service.list_templates(ctx, query)


@api.route("/coupon-templates/{template_id}", "GET", permission=READ, response=TemplateOut, errors=(401, 403, 404))
def get_template(ctx: TenantContext, template_id: str) -> TemplateOut:
    """One coupon template, with its budget use"""
    return service.get_template(ctx, template_id)


@api.route("/coupon-templates/{template_id}", "PATCH", permission=WRITE, body=TemplatePatch, response=TemplateOut,
           errors=(401, 403, 404, 409, 422))
def update_template(ctx: TenantContext, template_id: str, body: TemplatePatch) -> TemplateOut:
    """Change a template (its terms only until the first coupon is issued: 409 template_in_use)"""
    return service.update_template(ctx, template_id, body)


@api.route("/coupon-templates/{template_id}/archive", "POST", permission=WRITE, response=TemplateOut,
           errors=(401, 403, 404))
def archive_template(ctx: TenantContext, template_id: str) -> TemplateOut:
    """Stop issuing from a template (issued coupons stay valid)"""
    return service.archive_template(ctx, template_id)


@api.route("/coupon-templates/{template_id}/issue-jobs", "POST", permission=WRITE, body=IssueJobIn,
           response=IssueJobOut, status=202, errors=(401, 403, 404, 409, 422))
def start_issue_job(ctx: TenantContext, template_id: str, body: IssueJobIn) -> IssueJobOut:
    """Issue one coupon to each member of a list or a segment, as a background job

    Follow it at ``/v1/jobs/{job_id}``: progress and per-member errors. A job that runs a
    page again issues nobody twice."""
    return service.start_issue_job(ctx, template_id, body)


@api.route("/members/{member_id}/coupons", "POST", permission=WRITE, body=IssueIn, response=CouponOut, status=201,
           errors=(401, 403, 404, 410, 422))
def issue_coupon(ctx: TenantContext, member_id: str, body: IssueIn) -> CouponOut:
    """Issue a coupon of a template to a member (send ``Idempotency-Key`` to retry safely)"""
    return service.issue_to_member(ctx, member_id, body)


@api.route("/members/{member_id}/coupons", "GET", permission=READ, query=MemberCouponsQuery, response=CouponList,
           errors=(401, 403, 404, 410, 422))
def member_coupons(ctx: TenantContext, member_id: str, query: MemberCouponsQuery) -> CouponList:
    """The member's coupons, newest first (``?status=active|used|expired``)"""
    return service.member_coupons(ctx, member_id, query)


@api.route("/coupons/redeem", "POST", permission=WRITE, body=RedeemIn, response=RedeemOut,
           errors=(401, 403, 404, 422))
def redeem(ctx: TenantContext, body: RedeemIn) -> RedeemOut:
    """Redeem a code for an order: the discount, or a 422 naming the failed condition

    Conditions: ``not_holder``, ``already_redeemed``, ``coupon_expired``,
    ``coupon_not_yet_valid``, ``currency_mismatch``, ``category_out_of_scope``,
    ``below_minimum_spend``, ``budget_spent``. The same order and code again return the
    same result (``new`` false) and write nothing."""
    return service.redeem(ctx, body)


@api.route("/coupons/{coupon_code}", "GET", permission=READ, response=CouponOut, errors=(401, 403, 404))
def get_coupon(ctx: TenantContext, coupon_code: str) -> CouponOut:
    """One coupon by its code (case and dashes ignored)"""
    return service.get_coupon(ctx, coupon_code)


@api.route("/analytics/coupons", "GET", permission=READ, query=AnalyticsQuery, response=CouponAnalytics,
           errors=(401, 403, 404, 422))
def coupon_analytics(ctx: TenantContext, query: AnalyticsQuery) -> CouponAnalytics:
    """Issued, redeemed, redemption rate, redeemed within N days of issue, revenue, discount"""
    return service.analytics(ctx, query)
