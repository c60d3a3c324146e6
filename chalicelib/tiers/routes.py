"""HTTP routes: tier program, stage rules, a member's tier and standing, jobs."""
from __future__ import annotations

from chalice import Blueprint

from ..core.http import Api, Reply
from ..core.tenancy import ADMIN, READ, WRITE, TenantContext
from . import service
from .schemas import (
    JobOut,
    ManualTierIn,
    MemberTierOut,
    StageRulesIn,
    StageRulesOut,
    StandingOut,
    TierProgramIn,
    TierProgramOut,
    TierProgramSaved,
)

bp = Blueprint(__name__)
api = Api(bp, tag="Tiers", prefix="/v1")


@api.route("/tier-program", "GET", permission=READ, response=TierProgramOut, errors=(401, 403))
def get_tier_program(ctx: TenantContext) -> TierProgramOut:
    """The spend-based tier program (empty until one is saved)"""
    return service.get_program(ctx)


@api.route("/tier-program", "PUT", permission=ADMIN, body=TierProgramIn, response=TierProgramSaved, status=202,
           errors=(401, 403, 409, 422))
def put_tier_program(ctx: TenantContext, body: TierProgramIn) -> TierProgramSaved:
    """Replace the tier program; existing members are re-evaluated by a background job

    The response names the job; follow it at ``/v1/jobs/{job_id}``.
    """
    return service.put_program(ctx, body)


@api.route("/stage-rules", "GET", permission=READ, response=StageRulesOut, errors=(401, 403))
def get_stage_rules(ctx: TenantContext) -> StageRulesOut:
    """Thresholds of the lifecycle stages"""
    return service.get_stage_rules(ctx)


@api.route("/stage-rules", "PUT", permission=ADMIN, body=StageRulesIn, response=StageRulesOut,
           errors=(401, 403, 409, 422))
def put_stage_rules(ctx: TenantContext, body: StageRulesIn) -> StageRulesOut:
    """Change the lifecycle stage thresholds (applied on the next event and nightly)"""
    return service.put_stage_rules(ctx, body)


@api.route("/members/{member_id}/tier", "GET", permission=READ, response=MemberTierOut, errors=(401, 403, 404, 410))
def get_member_tier(ctx: TenantContext, member_id: str) -> MemberTierOut:
    """The member's tier, since when, next re-qualification, progress to the next tier, history"""
    return service.member_tier(ctx, member_id)


@api.route("/members/{member_id}/tier", "PUT", permission=WRITE, body=ManualTierIn, response=MemberTierOut,
           errors=(401, 403, 404, 410, 422))
def assign_member_tier(ctx: TenantContext, member_id: str, body: ManualTierIn) -> MemberTierOut:
    """Assign a tier by hand (complimentary); it overrides the earned tier until it expires"""
    return service.set_manual_tier(ctx, member_id, body)


@api.route("/members/{member_id}/tier", "DELETE", permission=WRITE, status=204, errors=(401, 403, 404, 410))
def remove_member_tier(ctx: TenantContext, member_id: str) -> Reply:
    """Remove a hand-assigned tier (the earned tier applies again)"""
    service.set_manual_tier(ctx, member_id, None)
    return Reply(status=204)


@api.route("/members/{member_id}/standing", "GET", permission=READ, response=StandingOut,
           errors=(401, 403, 404, 410))
def get_member_standing(ctx: TenantContext, member_id: str) -> StandingOut:
    """Spend and order aggregates, lifecycle stage with its history, RFM scores"""
    return service.member_standing(ctx, member_id)


@api.route("/jobs/{job_id}", "GET", permission=READ, response=JobOut, errors=(401, 403, 404))
def get_job(ctx: TenantContext, job_id: str) -> JobOut:
    """A background job's status and progress"""
    return service.get_job(ctx, job_id)
