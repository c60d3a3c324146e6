"""HTTP routes: events in, member timeline."""
from __future__ import annotations

from chalice import Blueprint

from ..core.errors import Problem
from ..core.http import Api, Reply
from ..core.tenancy import READ, WRITE, TenantContext
from . import service
from .schemas import EventBatch, EventResults, Timeline, TimelineQuery

bp = Blueprint(__name__)
api = Api(bp, tag="Activity", prefix="/v1")


@api.route("/events", "POST", permission=WRITE, body=EventBatch, response=EventResults,
           errors=(401, 403, 409, 413, 422))
def post_events(ctx: TenantContext, body: EventBatch) -> Reply:
    """Send orders, refunds and interactions: one event, or up to 100 in ``events``

    Results are reported per event (accepted, duplicate, rejected with a problem); one bad
    event does not drop the others. A single event that is rejected answers with its problem.
    """
    results = service.ingest(ctx, body)
    if body.single and results.results[0].error:
        error = results.results[0].error
        raise Problem(error.get("detail"), status=error["status"], code=error["code"], title=error["title"],
                      field=error.get("field"), **{k: v for k, v in error.items()
                                                   if k not in {"type", "title", "status", "code", "detail", "field"}})
    return Reply(results)


@api.route("/members/{member_id}/timeline", "GET", permission=READ, query=TimelineQuery, response=Timeline,
           errors=(401, 403, 404, 410, 422))
def member_timeline(ctx: TenantContext, member_id: str, query: TimelineQuery) -> Timeline:
    """The member's events, newest first (by when they happened)"""
    return service.timeline(ctx, member_id, query)
