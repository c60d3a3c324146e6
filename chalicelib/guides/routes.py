"""HTTP routes: stores, guides, member ownership, a guide's own view, tasks and the board.

Routes a guide-role user may call take no fixed permission: the service decides (a guide
acts only on their own members and tasks; staff need read/write)."""
from __future__ import annotations

from chalice import Blueprint

from ..core.http import Api, Reply
from ..core.tenancy import READ, WRITE, TenantContext
from ..members.schemas import MemberOut
from . import board, bulk, ownership, service, tasks
from .schemas import (
    AssignIn,
    Board,
    BoardQuery,
    BulkOut,
    GuideCreate,
    GuideLeave,
    GuideList,
    GuideListQuery,
    GuideMemberPage,
    GuideMembersQuery,
    GuideOut,
    LeaveOut,
    OwnershipOut,
    StoreCreate,
    StoreList,
    StoreOut,
    StorePatch,
    TaskBulk,
    TaskComplete,
    TaskCreate,
    TaskList,
    TaskOut,
    TasksQuery,
)

bp = Blueprint(__name__)
api = Api(bp, tag="Guides", prefix="/v1")


# --- stores ---------------------------------------------------------------------------------------------
@api.route("/stores", "POST", permission=WRITE, body=StoreCreate, response=StoreOut, status=201,
           errors=(401, 403, 413, 422))
def create_store(ctx: TenantContext, body: StoreCreate) -> Reply:
    """Create a store (its time zone sets its guides' days)"""
    return Reply(service.create_store(ctx, body), status=201)


@api.route("/stores", "GET", permission=READ, response=StoreList, errors=(401, 403))
def list_stores(ctx: TenantContext) -> StoreList:
    """The tenant's stores"""
    return service.list_stores(ctx)


@api.route("/stores/{store_id}", "GET", permission=READ, response=StoreOut, errors=(401, 403, 404))
def get_store(ctx: TenantContext, store_id: str) -> StoreOut:
    """One store"""
    return service.get_store(ctx, store_id)


@api.route("/stores/{store_id}", "PATCH", permission=WRITE, body=StorePatch, response=StoreOut,
           errors=(401, 403, 404, 409, 413, 422))
def update_store(ctx: TenantContext, store_id: str, body: StorePatch) -> StoreOut:
    """Change a store; ``task_pool: true`` makes it take tasks of members without a guide"""
    return service.update_store(ctx, store_id, body)


@api.route("/stores/{store_id}/pool/tasks", "GET", permission=READ, query=TasksQuery, response=TaskList,
           errors=(401, 403, 404, 422))
def pool_tasks(ctx: TenantContext, store_id: str, query: TasksQuery) -> TaskList:
    """The store pool's tasks for a local day"""
    return tasks.pool_tasks(ctx, store_id, query)


# --- guides ---------------------------------------------------------------------------------------------
@api.route("/guides", "POST", permission=WRITE, body=GuideCreate, response=GuideOut, status=201,
           errors=(401, 403, 404, 409, 413, 422))
def create_guide(ctx: TenantContext, body: GuideCreate) -> Reply:
    """Create a guide with their personal channel code"""
    return Reply(service.create_guide(ctx, body), status=201)


@api.route("/guides", "GET", permission=READ, query=GuideListQuery, response=GuideList, errors=(401, 403, 422))
def list_guides(ctx: TenantContext, query: GuideListQuery) -> GuideList:
    """Guides, optionally of one store"""
    return service.list_guides(ctx, query)


@api.route("/guides/me", "GET", permission=None, response=GuideOut, errors=(401, 403))
def me(ctx: TenantContext) -> GuideOut:
    """The guide the calling guide-role user acts as"""
    return service.me(ctx)


@api.route("/guides/me/members", "GET", permission=None, query=GuideMembersQuery, response=GuideMemberPage,
           errors=(400, 401, 403, 404, 422))
def my_members(ctx: TenantContext, query: GuideMembersQuery) -> GuideMemberPage:
    """The calling guide's members, newest bound first, optionally in a segment"""
    return ownership.my_members(ctx, query)


@api.route("/guides/me/members/{member_id}", "GET", permission=None, response=MemberOut,
           errors=(401, 403, 404, 410))
def my_member(ctx: TenantContext, member_id: str) -> MemberOut:
    """One of the calling guide's members (another guide's member is a 404)"""
    return ownership.my_member(ctx, member_id)


@api.route("/guides/me/tasks", "GET", permission=None, query=TasksQuery, response=TaskList, errors=(401, 403, 422))
def my_tasks(ctx: TenantContext, query: TasksQuery) -> TaskList:
    """The calling guide's tasks for a day (``due=today``: in their store's time zone)"""
    return tasks.my_tasks(ctx, query)


@api.route("/guides/{guide_id}", "GET", permission=READ, response=GuideOut, errors=(401, 403, 404))
def get_guide(ctx: TenantContext, guide_id: str) -> GuideOut:
    """One guide, with the number of members they serve"""
    return service.get_guide(ctx, guide_id)


@api.route("/guides/{guide_id}/members", "GET", permission=READ, query=GuideMembersQuery,
           response=GuideMemberPage, errors=(400, 401, 403, 404, 422))
def guide_members(ctx: TenantContext, guide_id: str, query: GuideMembersQuery) -> GuideMemberPage:
    """A guide's members (staff view)"""
    return ownership.members_of_guide(ctx, guide_id, query)


@api.route("/guides/{guide_id}/tasks", "GET", permission=READ, query=TasksQuery, response=TaskList,
           errors=(401, 403, 404, 422))
def guide_tasks(ctx: TenantContext, guide_id: str, query: TasksQuery) -> TaskList:
    """A guide's tasks for a day (staff view)"""
    return tasks.guide_tasks(ctx, guide_id, query)


@api.route("/guides/{guide_id}/leave", "POST", permission=WRITE, body=GuideLeave, response=LeaveOut, status=202,
           errors=(401, 403, 404, 409, 413, 422))
def leave(ctx: TenantContext, guide_id: str, body: GuideLeave) -> Reply:
    """A guide leaves: their members move (to one guide, or spread over a store) by a job"""
    return Reply(ownership.leave(ctx, guide_id, body), status=202)


# --- ownership ------------------------------------------------------------------------------------------
@api.route("/members/{member_id}/guide", "PUT", permission=WRITE, body=AssignIn, response=OwnershipOut,
           errors=(401, 403, 404, 409, 410, 413, 422))
def assign(ctx: TenantContext, member_id: str, body: AssignIn) -> OwnershipOut:
    """Assign or transfer the member to a guide (history kept)"""
    return ownership.assign(ctx, member_id, body)


@api.route("/members/{member_id}/guide", "GET", permission=READ, response=OwnershipOut,
           errors=(401, 403, 404, 410))
def get_ownership(ctx: TenantContext, member_id: str) -> OwnershipOut:
    """The member's guide and who served them when"""
    return ownership.ownership(ctx, member_id)


# --- tasks ------------------------------------------------------------------------------------------------
@api.route("/tasks", "POST", permission=WRITE, body=TaskCreate, response=TaskOut, status=201,
           errors=(401, 403, 404, 410, 413, 422), member_field="member_id")
def create_task(ctx: TenantContext, body: TaskCreate) -> Reply:
    """A task by hand, for the member's guide (or the store pool)"""
    return Reply(tasks.create_by_hand(ctx, body), status=201)


@api.route("/tasks/bulk", "POST", permission=WRITE, body=TaskBulk, response=BulkOut, status=202,
           errors=(401, 403, 404, 413, 422))
def bulk_tasks(ctx: TenantContext, body: TaskBulk) -> Reply:
    """A task for every member of a segment (a job)"""
    return Reply(bulk.start(ctx, body), status=202)


@api.route("/tasks/{task_id}", "GET", permission=None, response=TaskOut, errors=(401, 403, 404))
def get_task(ctx: TenantContext, task_id: str) -> TaskOut:
    """One task (a guide: only their own)"""
    return tasks.get_task(ctx, task_id)


@api.route("/tasks/{task_id}/complete", "POST", permission=None, body=TaskComplete, response=TaskOut,
           errors=(401, 403, 404, 409, 413, 422))
def complete_task(ctx: TenantContext, task_id: str, body: TaskComplete) -> TaskOut:
    """Done, with an outcome (a guide: only their own tasks)"""
    return tasks.complete(ctx, task_id, body)


@api.route("/tasks/{task_id}/cancel", "POST", permission=None, response=TaskOut, errors=(401, 403, 404, 409))
def cancel_task(ctx: TenantContext, task_id: str) -> TaskOut:
    """Cancel an open task"""
    return tasks.cancel(ctx, task_id)


# --- board ------------------------------------------------------------------------------------------------
@api.route("/analytics/guides", "GET", permission=READ, query=BoardQuery, response=Board, errors=(401, 403, 404, 422))
def guides_board(ctx: TenantContext, query: BoardQuery) -> Board:
    """Per guide for a month: members, tasks, orders and revenue (O(1) counters)"""
    return board.board(ctx, query)
