"""HTTP routes: members (upsert, read, change, erase, export, lookup, list) and channel codes."""
from __future__ import annotations

from chalice import Blueprint

from ..core.http import Api, Reply
from ..core.tenancy import READ, WRITE, TenantContext
from . import service
from .schemas import (
    ChannelCreate,
    ChannelListQuery,
    ChannelOut,
    ChannelPage,
    LookupQuery,
    MemberCreate,
    MemberExportLink,
    MemberListQuery,
    MemberOut,
    MemberPage,
    MemberPatch,
)

bp = Blueprint(__name__)
api = Api(bp, tag="Members", prefix="/v1")


@api.route("/members", "POST", permission=WRITE, body=MemberCreate, response=MemberOut, status=201,
           also=(200,), errors=(401, 403, 409, 413, 422), member_field="id")
def upsert_member(ctx: TenantContext, body: MemberCreate) -> Reply:
    """Create a member, or return the member a given identity already belongs to

    201 with a new member; 200 with the existing member when a phone, email or channel id
    is known (anything the member lacks is filled in, nothing is overwritten). Identities of
    two different members in one request: 409 naming both.
    """
    member, created = service.upsert_member(ctx, body)
    return Reply(member, status=201 if created else 200)


@api.route("/members", "GET", permission=READ, query=MemberListQuery, response=MemberPage, errors=(401, 403, 422))
def list_members(ctx: TenantContext, query: MemberListQuery) -> MemberPage:
    """Members, newest first, optionally by source channel and creation time"""
    return service.list_members(ctx, query)


@api.route("/members/lookup", "GET", permission=READ, query=LookupQuery, response=MemberOut,
           errors=(401, 403, 404, 422))
def lookup_member(ctx: TenantContext, query: LookupQuery) -> MemberOut:
    """Find a member by phone, email, or channel id (channel + external_id)"""
    return service.lookup_member(ctx, query)


@api.route("/members/{member_id}", "GET", permission=READ, response=MemberOut, errors=(401, 403, 404, 410))
def get_member(ctx: TenantContext, member_id: str) -> MemberOut:
    """One member"""
    return service.get_member(ctx, member_id)


@api.route("/members/{member_id}", "PATCH", permission=WRITE, body=MemberPatch, response=MemberOut,
           errors=(401, 403, 404, 409, 410, 413, 422))
def update_member(ctx: TenantContext, member_id: str, body: MemberPatch) -> MemberOut:
    """Change a member (``version`` must be current: a stale one is a 409)"""
    return service.update_member(ctx, member_id, body)


@api.route("/members/{member_id}", "DELETE", permission=WRITE, status=204, errors=(401, 403, 404, 409))
def erase_member(ctx: TenantContext, member_id: str) -> Reply:
    """Erase a member: personal data removed, identities freed, a tombstone kept"""
    service.erase_member(ctx, member_id)
    return Reply(status=204)


@api.route("/members/{member_id}/export", "GET", permission=READ, response=MemberExportLink,
           errors=(401, 403, 404, 410))
def export_member(ctx: TenantContext, member_id: str) -> MemberExportLink:
    """Everything Enclave stores about a member: a JSON file behind a presigned download URL"""
    return service.export_member(ctx, member_id)


@api.route("/channels", "POST", permission=WRITE, body=ChannelCreate, response=ChannelOut, status=201,
           errors=(401, 403, 409, 422))
def create_channel(ctx: TenantContext, body: ChannelCreate) -> ChannelOut:
    """Register a channel code (a QR code / "live code" members sign up through)"""
    return service.create_channel(ctx, body)


@api.route("/channels", "GET", permission=READ, query=ChannelListQuery, response=ChannelPage, errors=(401, 403, 422))
def list_channels(ctx: TenantContext, query: ChannelListQuery) -> ChannelPage:
    """The tenant's channel codes"""
    return service.list_channels(ctx, query)


@api.route("/channels/{code}", "GET", permission=READ, response=ChannelOut, errors=(401, 403, 404))
def get_channel(ctx: TenantContext, code: str) -> ChannelOut:
    """One channel code with the number of members it brought"""
    return service.get_channel(ctx, code)
