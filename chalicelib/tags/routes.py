"""HTTP routes: tag groups, tags, member tags, tag rules, bulk tagging, tag analytics."""
from __future__ import annotations

from chalice import Blueprint

from ..core.http import Api, Reply
from ..core.tenancy import ADMIN, READ, WRITE, TenantContext
from . import service
from .schemas import (
    BulkJobOut,
    BulkTagIn,
    MemberTagIn,
    MemberTagList,
    TagAnalytics,
    TagCreate,
    TagGroupCreate,
    TagGroupList,
    TagGroupOut,
    TagGroupPatch,
    TagList,
    TagOut,
    TagPatch,
    TagRuleCreate,
    TagRuleList,
    TagRuleOut,
    TagRulePatch,
)

bp = Blueprint(__name__)
api = Api(bp, tag="Tags", prefix="/v1")


@api.route("/tag-groups", "POST", permission=WRITE, body=TagGroupCreate, response=TagGroupOut, status=201,
           errors=(401, 403, 422))
def create_tag_group(ctx: TenantContext, body: TagGroupCreate) -> TagGroupOut:
    """Create a tag group (single choice: a member holds at most one of its tags)"""
    return service.create_group(ctx, body)


@api.route("/tag-groups", "GET", permission=READ, response=TagGroupList, errors=(401, 403))
def list_tag_groups(ctx: TenantContext) -> TagGroupList:
    """Tag groups, the system groups (tier, stage, rfm) first"""
    return service.list_groups(ctx)


@api.route("/tag-groups/{group_id}", "GET", permission=READ, response=TagGroupOut, errors=(401, 403, 404))
def get_tag_group(ctx: TenantContext, group_id: str) -> TagGroupOut:
    """One tag group"""
    return service.get_group(ctx, group_id)


@api.route("/tag-groups/{group_id}", "PATCH", permission=WRITE, body=TagGroupPatch, response=TagGroupOut,
           errors=(401, 403, 404, 422))
def update_tag_group(ctx: TenantContext, group_id: str, body: TagGroupPatch) -> TagGroupOut:
    """Rename or describe a tag group (system groups are read-only)"""
    return service.update_group(ctx, group_id, body)


@api.route("/tag-groups/{group_id}", "DELETE", permission=WRITE, status=204, errors=(401, 403, 404, 409, 422))
def delete_tag_group(ctx: TenantContext, group_id: str) -> Reply:
    """Delete an empty tag group"""
    service.delete_group(ctx, group_id)
    return Reply(status=204)


@api.route("/tag-groups/{group_id}/tags", "POST", permission=WRITE, body=TagCreate, response=TagOut, status=201,
           errors=(401, 403, 404, 422))
def create_tag(ctx: TenantContext, group_id: str, body: TagCreate) -> TagOut:
    """Create a tag in a group"""
    return service.create_tag(ctx, group_id, body)


@api.route("/tag-groups/{group_id}/tags", "GET", permission=READ, response=TagList, errors=(401, 403, 404))
def list_tags(ctx: TenantContext, group_id: str) -> TagList:
    """The group's tags"""
    return service.list_tags(ctx, group_id)


@api.route("/tag-groups/{group_id}/tags/{tag_id}", "GET", permission=READ, response=TagOut, errors=(401, 403, 404))
def get_tag(ctx: TenantContext, group_id: str, tag_id: str) -> TagOut:
    """One tag"""
    return service.get_tag(ctx, group_id, tag_id)


@api.route("/tag-groups/{group_id}/tags/{tag_id}", "PATCH", permission=WRITE, body=TagPatch, response=TagOut,
           errors=(401, 403, 404, 422))
def update_tag(ctx: TenantContext, group_id: str, tag_id: str, body: TagPatch) -> TagOut:
    """Rename or describe a tag"""
    return service.update_tag(ctx, group_id, tag_id, body)


@api.route("/tag-groups/{group_id}/tags/{tag_id}", "DELETE", permission=WRITE, status=204,
           errors=(401, 403, 404, 409, 422))
def delete_tag(ctx: TenantContext, group_id: str, tag_id: str) -> Reply:
    """Delete a tag no member holds and no rule applies"""
    service.delete_tag(ctx, group_id, tag_id)
    return Reply(status=204)


@api.route("/members/{member_id}/tags", "GET", permission=READ, response=MemberTagList, errors=(401, 403, 404, 410))
def member_tags(ctx: TenantContext, member_id: str) -> MemberTagList:
    """The member's tags with provenance (system tags first); expired tags are gone"""
    return service.member_tags(ctx, member_id)


@api.route("/members/{member_id}/tags/{tag_id}", "PUT", permission=WRITE, body=MemberTagIn, response=MemberTagList,
           errors=(401, 403, 404, 410, 422))
def tag_member(ctx: TenantContext, member_id: str, tag_id: str, body: MemberTagIn) -> MemberTagList:
    """Tag a member by hand (in a single-choice group it replaces the group's other tag)"""
    return service.tag_member(ctx, member_id, tag_id, body)


@api.route("/members/{member_id}/tags/{tag_id}", "DELETE", permission=WRITE, status=204,
           errors=(401, 403, 404, 410, 422))
def untag_member(ctx: TenantContext, member_id: str, tag_id: str) -> Reply:
    """Remove a tag from a member"""
    service.untag_member(ctx, member_id, tag_id)
    return Reply(status=204)


@api.route("/tags/{tag_id}/bulk", "POST", permission=WRITE, body=BulkTagIn, response=BulkJobOut, status=202,
           errors=(401, 403, 404, 422), max_body=2_000_000)
def bulk_tag(ctx: TenantContext, tag_id: str, body: BulkTagIn) -> BulkJobOut:
    """Add or remove a tag for up to 10,000 members, or a whole segment, in a background job

    Follow the job at ``/v1/jobs/{job_id}``: progress and per-item errors.
    """
    return service.start_bulk(ctx, tag_id, body)


@api.route("/tag-rules", "POST", permission=ADMIN, body=TagRuleCreate, response=TagRuleOut, status=201,
           errors=(401, 403, 404, 422))
def create_tag_rule(ctx: TenantContext, body: TagRuleCreate) -> TagRuleOut:
    """Tag members automatically: on a matching event, or when a member condition holds

    Applies on every event from now on, and to existing members through a backfill job.
    """
    return service.create_rule(ctx, body)


@api.route("/tag-rules", "GET", permission=READ, response=TagRuleList, errors=(401, 403))
def list_tag_rules(ctx: TenantContext) -> TagRuleList:
    """The tenant's tag rules"""
    return service.list_rules(ctx)


@api.route("/tag-rules/{rule_id}", "GET", permission=READ, response=TagRuleOut, errors=(401, 403, 404))
def get_tag_rule(ctx: TenantContext, rule_id: str) -> TagRuleOut:
    """One tag rule"""
    return service.get_rule(ctx, rule_id)


@api.route("/tag-rules/{rule_id}", "PATCH", permission=ADMIN, body=TagRulePatch, response=TagRuleOut,
           errors=(401, 403, 404, 422))
def update_tag_rule(ctx: TenantContext, rule_id: str, body: TagRulePatch) -> TagRuleOut:
    """Change a tag rule (a backfill job applies the new version to existing members)"""
    return service.update_rule(ctx, rule_id, body)


@api.route("/tag-rules/{rule_id}", "DELETE", permission=ADMIN, status=204, errors=(401, 403, 404))
def delete_tag_rule(ctx: TenantContext, rule_id: str) -> Reply:
    """Delete a tag rule (tags it applied stay until removed or expired)"""
    service.delete_rule(ctx, rule_id)
    return Reply(status=204)


@api.route("/analytics/tags", "GET", permission=READ, response=TagAnalytics, errors=(401, 403))
def tag_analytics(ctx: TenantContext) -> TagAnalytics:
    """Per group: members with at least one of its tags (coverage) and the top tags"""
    return service.analytics(ctx)
