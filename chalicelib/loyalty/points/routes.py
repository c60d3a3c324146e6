"""HTTP routes: the points program, balances and ledger, adjustments, redemptions, the
rewards catalog and the points analytics."""
from __future__ import annotations

from chalice import Blueprint

from ...core.http import Api, Reply
from ...core.tenancy import ADMIN, READ, WRITE, TenantContext
from . import rewards, service
from .schemas import (
    AdjustmentIn,
    BalanceOut,
    Ledger,
    LedgerQuery,
    PointsAnalyticsOut,
    PointsAnalyticsQuery,
    PointsProgramIn,
    PointsProgramOut,
    RedemptionIn,
    RedemptionOut,
    RewardIn,
    RewardList,
    RewardOut,
    RewardPatch,
    RewardQuery,
)

bp = Blueprint(__name__)
api = Api(bp, tag="Points", prefix="/v1")


@api.route("/points-program", "GET", permission=READ, response=PointsProgramOut, errors=(401, 403))
def get_points_program(ctx: TenantContext) -> PointsProgramOut:
    """The points program (version 0 and no earning until one is saved)"""
    return service.get_program(ctx)


@api.route("/points-program", "PUT", permission=ADMIN, body=PointsProgramIn, response=PointsProgramOut,
           errors=(401, 403, 409, 422))
def put_points_program(ctx: TenantContext, body: PointsProgramIn) -> PointsProgramOut:
    """Replace the points program (earn rules, pending period, expiry, refund policy)

    It applies to events recorded from now on; points already earned keep their terms.
    """
    return service.put_program(ctx, body)


@api.route("/members/{member_id}/points", "GET", permission=READ, response=BalanceOut,
           errors=(401, 403, 404, 410))
def get_member_points(ctx: TenantContext, member_id: str) -> BalanceOut:
    """Available and pending points, and what expires in the next 30 days (one read)"""
    return service.balance(ctx, member_id)


@api.route("/members/{member_id}/points/ledger", "GET", permission=READ, query=LedgerQuery, response=Ledger,
           errors=(400, 401, 403, 404, 410))
def get_member_points_ledger(ctx: TenantContext, member_id: str, query: LedgerQuery) -> Ledger:
    """The member's points ledger, newest first"""
    return service.ledger_page(ctx, member_id, query)


@api.route("/members/{member_id}/points/adjustments", "POST", permission=ADMIN, body=AdjustmentIn,
           response=BalanceOut, status=201, errors=(401, 403, 404, 409, 410, 422))
def adjust_member_points(ctx: TenantContext, member_id: str, body: AdjustmentIn) -> BalanceOut:
    """Credit or debit points by hand (reason required; the actor is recorded)"""
    return service.adjust(ctx, member_id, body)


@api.route("/members/{member_id}/points/redemptions", "POST", permission=WRITE, body=RedemptionIn,
           response=RedemptionOut, status=201, errors=(401, 403, 404, 409, 410, 422))
def redeem_member_points(ctx: TenantContext, member_id: str, body: RedemptionIn) -> RedemptionOut:
    """Spend points for a reward or a reason (send an Idempotency-Key); 409 insufficient_points when short"""
    return service.redeem(ctx, member_id, body)


@api.route("/rewards", "POST", permission=WRITE, body=RewardIn, response=RewardOut, status=201,
           errors=(401, 403, 422))
def create_reward(ctx: TenantContext, body: RewardIn) -> RewardOut:
    """Add a reward to the catalog"""
    return rewards.create(ctx, body)


@api.route("/rewards", "GET", permission=READ, query=RewardQuery, response=RewardList, errors=(400, 401, 403))
def list_rewards(ctx: TenantContext, query: RewardQuery) -> RewardList:
    """The rewards catalog"""
    return rewards.list_rewards(ctx, query)


@api.route("/rewards/{reward_id}", "GET", permission=READ, response=RewardOut, errors=(401, 403, 404))
def get_reward(ctx: TenantContext, reward_id: str) -> RewardOut:
    """One reward, with its stock left"""
    return rewards.get(ctx, reward_id)


@api.route("/rewards/{reward_id}", "PATCH", permission=WRITE, body=RewardPatch, response=RewardOut,
           errors=(401, 403, 404, 422))
def update_reward(ctx: TenantContext, reward_id: str, body: RewardPatch) -> RewardOut:
    """Change a reward (``stock`` sets the units left)"""
    return rewards.update(ctx, reward_id, body)


@api.route("/rewards/{reward_id}", "DELETE", permission=WRITE, status=204, errors=(401, 403, 404))
def archive_reward(ctx: TenantContext, reward_id: str) -> Reply:
    """Withdraw a reward (kept for the redemptions that name it)"""
    rewards.archive(ctx, reward_id)
    return Reply(status=204)


@api.route("/analytics/points", "GET", permission=READ, query=PointsAnalyticsQuery, response=PointsAnalyticsOut,
           errors=(401, 403, 422))
def points_analytics(ctx: TenantContext, query: PointsAnalyticsQuery) -> PointsAnalyticsOut:
    """Outstanding points (available + pending) and their value; earned, spent, expired, reversed per month"""
    return service.analytics(ctx, query)
