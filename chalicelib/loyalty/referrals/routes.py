"""HTTP routes: referral programs, members' codes, the held-referral review queue and
referral analytics."""
from __future__ import annotations

from chalice import Blueprint

from ...core.http import Api
from ...core.tenancy import ADMIN, READ, TenantContext
from . import service
from .schemas import (
    AnalyticsQuery,
    MemberReferralOut,
    MemberReferralQuery,
    ProgramCreate,
    ProgramList,
    ProgramOut,
    ProgramQuery,
    ProgramUpdate,
    ReferralAnalytics,
    ReferralList,
    ReferralOut,
    ReferralQuery,
    ReferralTree,
    TreeQuery,
)

bp = Blueprint(__name__)
api = Api(bp, tag="Referrals", prefix="/v1")


@api.route("/referral-programs", "POST", permission=ADMIN, body=ProgramCreate, response=ProgramOut, status=201,
           errors=(401, 403, 422))
def create_program(ctx: TenantContext, body: ProgramCreate) -> ProgramOut:
    """Create a referral program: who may refer, both sides' rewards, conversion, limits, fraud rules"""
    return service.create_program(ctx, body)


@api.route("/referral-programs", "GET", permission=READ, query=ProgramQuery, response=ProgramList,
           errors=(401, 403, 422))
def list_programs(ctx: TenantContext, query: ProgramQuery) -> ProgramList:
    """Referral programs, newest first"""
    return service.list_programs(ctx, query)


@api.route("/referral-programs/{program_id}", "GET", permission=READ, response=ProgramOut, errors=(401, 403, 404))
def get_program(ctx: TenantContext, program_id: str) -> ProgramOut:
    """One referral program"""
    return service.get_program(ctx, program_id)


@api.route("/referral-programs/{program_id}", "PUT", permission=ADMIN, body=ProgramUpdate, response=ProgramOut,
           errors=(401, 403, 404, 409, 422))
def replace_program(ctx: TenantContext, program_id: str, body: ProgramUpdate) -> ProgramOut:
    """Replace a program (send the ``version`` you read: 409 ``version_conflict`` if it moved)"""
    return service.replace_program(ctx, program_id, body)


@api.route("/referral-programs/{program_id}/archive", "POST", permission=ADMIN, response=ProgramOut,
           errors=(401, 403, 404, 409))
def archive_program(ctx: TenantContext, program_id: str) -> ProgramOut:
    """Stop a program: no new codes or referrals (made ones still convert and claw back)"""
    return service.archive_program(ctx, program_id)


@api.route("/members/{member_id}/referral", "GET", permission=READ, query=MemberReferralQuery,
           response=MemberReferralOut, errors=(401, 403, 404, 410, 422))
def member_referral(ctx: TenantContext, member_id: str, query: MemberReferralQuery) -> MemberReferralOut:
    """The member's referral code of a program and its share URL (made on first ask)

    422 ``referrer_not_eligible`` when the program's segment or tier excludes the member,
    ``program_not_active`` outside its window."""
    return service.member_referral(ctx, member_id, query)


@api.route("/referrals", "GET", permission=READ, query=ReferralQuery, response=ReferralList, errors=(401, 403, 422))
def list_referrals(ctx: TenantContext, query: ReferralQuery) -> ReferralList:
    """Referrals held for review (``?status=held``), oldest first"""
    return service.list_referrals(ctx, query)


@api.route("/referrals/{referral_id}", "GET", permission=READ, response=ReferralOut, errors=(401, 403, 404))
def get_referral(ctx: TenantContext, referral_id: str) -> ReferralOut:
    """One referral: its state and the reasons its fraud rules gave"""
    return service.get_referral(ctx, referral_id)


@api.route("/referrals/{referral_id}/approve", "POST", permission=ADMIN, response=ReferralOut,
           errors=(401, 403, 404, 409))
def approve_referral(ctx: TenantContext, referral_id: str) -> ReferralOut:
    """Approve a held referral (it converts and is rewarded like any other)"""
    return service.approve(ctx, referral_id)


@api.route("/referrals/{referral_id}/reject", "POST", permission=ADMIN, response=ReferralOut,
           errors=(401, 403, 404, 409))
def reject_referral(ctx: TenantContext, referral_id: str) -> ReferralOut:
    """Reject a held or pending referral: never rewarded"""
    return service.reject(ctx, referral_id)


@api.route("/analytics/referrals", "GET", permission=READ, query=AnalyticsQuery, response=ReferralAnalytics,
           errors=(401, 403, 404, 422))
def referral_analytics(ctx: TenantContext, query: AnalyticsQuery) -> ReferralAnalytics:
    """Codes shared, sign-ups, conversions, fission ratio, rewards given and reversed, top referrers"""
    return service.report(ctx, query)


@api.route("/analytics/referrals/tree", "GET", permission=READ, query=TreeQuery, response=ReferralTree,
           errors=(401, 403, 404, 410, 422))
def referral_tree(ctx: TenantContext, query: TreeQuery) -> ReferralTree:
    """Whom a member brought, to depth 3"""
    return service.tree(ctx, query)
