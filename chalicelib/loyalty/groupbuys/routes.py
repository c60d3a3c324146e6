"""HTTP routes: group offers (admin), groups (open, join, read) and an offer's figures."""
from __future__ import annotations

from chalice import Blueprint

from ...core.http import Api
from ...core.tenancy import ADMIN, READ, WRITE, TenantContext
from . import service
from .schemas import (
    GroupOut,
    JoinIn,
    OfferAnalytics,
    OfferCreate,
    OfferList,
    OfferListQuery,
    OfferOut,
    OfferPatch,
    OpenGroupIn,
)

bp = Blueprint(__name__)
api = Api(bp, tag="Group-buys", prefix="/v1")


@api.route("/group-offers", "POST", permission=ADMIN, body=OfferCreate, response=OfferOut, status=201,
           errors=(401, 403, 422))
def create_offer(ctx: TenantContext, body: OfferCreate) -> OfferOut:
    """Create a group offer: a sku at a group price or a coupon template, for groups of k"""
    return service.create_offer(ctx, body)


@api.route("/group-offers", "GET", permission=READ, query=OfferListQuery, response=OfferList, errors=(401, 403, 422))
def list_offers(ctx: TenantContext, query: OfferListQuery) -> OfferList:
    """Group offers, newest first"""
    return service.list_offers(ctx, query)


@api.route("/group-offers/{offer_id}", "GET", permission=READ, response=OfferOut, errors=(401, 403, 404))
def get_offer(ctx: TenantContext, offer_id: str) -> OfferOut:
    """One group offer, with the groups it opened"""
    return service.get_offer(ctx, offer_id)


@api.route("/group-offers/{offer_id}", "PATCH", permission=ADMIN, body=OfferPatch, response=OfferOut,
           errors=(401, 403, 404, 409, 422))
def update_offer(ctx: TenantContext, offer_id: str, body: OfferPatch) -> OfferOut:
    """Rename, restock or archive an offer (open groups keep the terms they opened with)"""
    return service.update_offer(ctx, offer_id, body)


@api.route("/group-offers/{offer_id}/groups", "POST", permission=WRITE, body=OpenGroupIn, response=GroupOut,
           status=201, errors=(401, 403, 404, 409, 410, 422))
def open_group(ctx: TenantContext, offer_id: str, body: OpenGroupIn) -> GroupOut:
    """Open a group led by a member: its join code and deadline

    409 ``groups_sold_out`` (the offer's stock), ``per_member_limit``, ``offer_archived``;
    422 ``not_eligible_to_lead``."""
    return service.open_group(ctx, offer_id, body)


@api.route("/groups/{group_code}/members", "POST", permission=WRITE, body=JoinIn, response=GroupOut,
           errors=(401, 403, 404, 409, 410, 422))
def join_group(ctx: TenantContext, group_code: str, body: JoinIn) -> GroupOut:
    """Join a group by its code (case and dashes ignored)

    409 ``group_full`` (exactly k members, however many try at once), ``already_joined``,
    ``group_closed``, ``group_expired``, ``per_member_limit``."""
    return service.join_group(ctx, group_code, body)


@api.route("/groups/{group_code}", "GET", permission=READ, response=GroupOut, errors=(401, 403, 404))
def get_group(ctx: TenantContext, group_code: str) -> GroupOut:
    """A group: members, who paid, status, deadline and, once completed, each member's reward"""
    return service.get_group(ctx, group_code)


@api.route("/analytics/group-offers/{offer_id}", "GET", permission=READ, response=OfferAnalytics,
           errors=(401, 403, 404))
def offer_analytics(ctx: TenantContext, offer_id: str) -> OfferAnalytics:
    """Groups opened, completed, failed; mean completion time; members joined and new members brought in"""
    return service.analytics(ctx, offer_id)
