"""HTTP routes: member counts per tier, stage and RFM segment, from O(1) counters."""
from __future__ import annotations

from chalice import Blueprint

from ..core.http import Api
from ..core.tenancy import READ, TenantContext
from ..tiers import service as tiers
from ..tiers.schemas import CountsOut

bp = Blueprint(__name__)
api = Api(bp, tag="Analytics", prefix="/v1")


@api.route("/analytics/tiers", "GET", permission=READ, response=CountsOut, errors=(401, 403))
def tiers_report(ctx: TenantContext) -> CountsOut:
    """Members per tier (``none``: below every tier)"""
    return tiers.tier_counts(ctx)


@api.route("/analytics/stages", "GET", permission=READ, response=CountsOut, errors=(401, 403))
def stages_report(ctx: TenantContext) -> CountsOut:
    """Members per lifecycle stage"""
    return tiers.stage_counts(ctx)


@api.route("/analytics/rfm", "GET", permission=READ, response=CountsOut, errors=(401, 403))
def rfm_report(ctx: TenantContext) -> CountsOut:
    """Members per RFM segment (``none``: no order yet)"""
    return tiers.rfm_counts(ctx)
