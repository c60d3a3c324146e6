"""HTTP routes: segments, preview, count, members, CSV export."""
from __future__ import annotations

from chalice import Blueprint

from ..core.http import Api, Reply
from ..core.tenancy import READ, WRITE, TenantContext
from . import passes, service  # noqa: F401 - passes: the count and export jobs' handlers, registered on import
from .schemas import (
    CountOut,
    ExportOut,
    PreviewIn,
    PreviewOut,
    SegmentCreate,
    SegmentExportOut,
    SegmentList,
    SegmentMembers,
    SegmentMembersQuery,
    SegmentOut,
    SegmentPatch,
)

bp = Blueprint(__name__)
api = Api(bp, tag="Segments", prefix="/v1")


@api.route("/segments", "POST", permission=WRITE, body=SegmentCreate, response=SegmentOut, status=201,
           errors=(401, 403, 422))
def create_segment(ctx: TenantContext, body: SegmentCreate) -> SegmentOut:
    """Save a segment: a filter over tags, tier, stage, RFM, channel, attributes and spend"""
    return service.create(ctx, body)


@api.route("/segments", "GET", permission=READ, response=SegmentList, errors=(401, 403))
def list_segments(ctx: TenantContext) -> SegmentList:
    """The tenant's segments"""
    return service.list_segments(ctx)


@api.route("/segments/preview", "POST", permission=READ, body=PreviewIn, response=PreviewOut, errors=(401, 403, 422))
def preview_segment(ctx: TenantContext, body: PreviewIn) -> PreviewOut:
    """Count and sample an unsaved filter"""
    return service.preview(ctx, body)


@api.route("/segments/{segment_id}", "GET", permission=READ, response=SegmentOut, errors=(401, 403, 404))
def get_segment(ctx: TenantContext, segment_id: str) -> SegmentOut:
    """One segment"""
    return service.get_segment(ctx, segment_id)


@api.route("/segments/{segment_id}", "PATCH", permission=WRITE, body=SegmentPatch, response=SegmentOut,
           errors=(401, 403, 404, 422))
def update_segment(ctx: TenantContext, segment_id: str, body: SegmentPatch) -> SegmentOut:
    """Change a segment's name or filter"""
    return service.update(ctx, segment_id, body)


@api.route("/segments/{segment_id}", "DELETE", permission=WRITE, status=204, errors=(401, 403, 404))
def delete_segment(ctx: TenantContext, segment_id: str) -> Reply:
    """Delete a segment"""
    service.delete(ctx, segment_id)
    return Reply(status=204)


@api.route("/segments/{segment_id}/count", "GET", permission=READ, response=CountOut, errors=(401, 403, 404))
def count_segment(ctx: TenantContext, segment_id: str) -> CountOut:
    """How many members match: now when cheap, else through a background job"""
    return service.count(ctx, segment_id)


@api.route("/segments/{segment_id}/members", "GET", permission=READ, query=SegmentMembersQuery,
           response=SegmentMembers, errors=(401, 403, 404, 422))
def segment_members(ctx: TenantContext, segment_id: str, query: SegmentMembersQuery) -> SegmentMembers:
    """Members of the segment, a page at a time (work per page is bounded)"""
    return service.segment_members(ctx, segment_id, query)


@api.route("/segments/{segment_id}/export", "POST", permission=WRITE, response=ExportOut, status=202,
           errors=(401, 403, 404))
def export_segment(ctx: TenantContext, segment_id: str) -> ExportOut:
    """Export the segment's members as CSV, in a background job"""
    return service.start_export(ctx, segment_id)


@api.route("/segments/{segment_id}/exports/{job_id}", "GET", permission=WRITE, response=SegmentExportOut,
           errors=(401, 403, 404, 410))
def export_status(ctx: TenantContext, segment_id: str, job_id: str) -> SegmentExportOut:
    """An export's state; once done, a presigned download URL of its CSV (until it expires: 410)"""
    return service.export_status(ctx, segment_id, job_id)
