"""Stores, guides, ownership, tasks and the board on the wire."""
from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field, field_validator, model_validator

from ..core.schema import Input, Limit, Output, Page
from ..members.schemas import ULID_PATTERN, MemberOut

Id = Field(pattern=ULID_PATTERN)
TaskKind = Literal["call", "message", "greet", "follow_up", "custom"]
Outcome = Literal["reached", "no_answer", "declined", "converted"]


def _check_timezone(value: str | None) -> str | None:
    from zoneinfo import available_timezones

    if value is not None and value not in available_timezones():
        raise ValueError("must be an IANA time zone such as 'Asia/Shanghai'")
    return value


# --- stores -----------------------------------------------------------------------------------------
class StoreCreate(Input):
    name: str = Field(min_length=1, max_length=200)
    region: str | None = Field(default=None, max_length=100)
    timezone: str = Field(description="IANA time zone, e.g. Asia/Shanghai")
    #: tasks of members without a guide go to this store's pool
    task_pool: bool = False
    _tz = field_validator("timezone")(_check_timezone)


class StorePatch(Input):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    region: str | None = Field(default=None, max_length=100)
    timezone: str | None = None
    task_pool: bool | None = None
    _tz = field_validator("timezone")(_check_timezone)


class StoreOut(Output):
    id: str
    name: str
    region: str | None = None
    timezone: str
    task_pool: bool
    created_at: str


class StoreList(Output):
    data: list[StoreOut]


# --- guides -----------------------------------------------------------------------------------------
class GuideCreate(Input):
    display_name: str = Field(min_length=1, max_length=100)
    store_id: str = Id
    external_staff_id: str | None = Field(default=None, min_length=1, max_length=128,
                                          description="e.g. the WeCom user id")
    user_sub: str | None = Field(default=None, min_length=1, max_length=128,
                                 description="the console user (JWT subject, role guide) who acts as this guide")


class GuideOut(Output):
    id: str
    display_name: str
    store_id: str
    status: Literal["active", "left"]
    external_staff_id: str | None = None
    user_sub: str | None = None
    #: the guide's personal channel code: sign-ups with ``source.channel`` = it are bound to the guide
    channel_code: str
    #: members served now (O(1) counter)
    member_count: int | None = None
    created_at: str
    left_at: str | None = None
    leave_job_id: str | None = None


class GuideList(Output):
    data: list[GuideOut]


class GuideListQuery(Input):
    store_id: str | None = Field(default=None, pattern=ULID_PATTERN)


class GuideLeave(Input):
    """Exactly one: the guide who takes every member, or a store whose active guides share them evenly."""

    transfer_to: str | None = Field(default=None, pattern=ULID_PATTERN)
    spread_over_store: str | None = Field(default=None, pattern=ULID_PATTERN)

    @model_validator(mode="after")
    def _one(self) -> GuideLeave:
        if (self.transfer_to is None) == (self.spread_over_store is None):
            raise ValueError("give exactly one of transfer_to, spread_over_store")
        return self


class LeaveOut(Output):
    guide: GuideOut
    job_id: str


# --- ownership ------------------------------------------------------------------------------------
class AssignIn(Input):
    guide_id: str = Id
    reason: str = Field(min_length=1, max_length=200)


class HistoryEntry(Output):
    id: str
    from_guide_id: str | None = None
    to_guide_id: str | None = None
    reason: str | None = None
    at: str
    by: str


class OwnershipOut(Output):
    member_id: str
    guide_id: str | None = None
    store_id: str | None = None
    since: str | None = None
    #: newest first
    history: list[HistoryEntry]


class GuideMembersQuery(Input):
    limit: Limit = 50
    cursor: str | None = Field(default=None, max_length=1024)
    segment_id: str | None = Field(default=None, pattern=ULID_PATTERN)


class GuideMemberPage(Page):
    data: list[MemberOut]


# --- tasks ---------------------------------------------------------------------------------------------
class TaskCreate(Input):
    """``title`` and ``body`` are templates over the member (``{{ member.name | default: friend }}``)."""

    member_id: str = Id
    kind: TaskKind
    title: str = Field(min_length=1, max_length=200)
    body: str | None = Field(default=None, max_length=2000)
    due_date: date = Field(description="the local day (the store's time zone) the task is for")


class TaskBulk(Input):
    segment_id: str = Id
    kind: TaskKind
    title: str = Field(min_length=1, max_length=200)
    body: str | None = Field(default=None, max_length=2000)
    due_date: date


class BulkOut(Output):
    job_id: str
    status: str


class TaskCause(Output):
    type: Literal["journey", "rule", "admin", "bulk"]
    ref: str | None = None


class TaskOut(Output):
    id: str
    member_id: str
    #: None: in the store's pool (the member has no guide)
    guide_id: str | None = None
    store_id: str
    kind: TaskKind
    title: str
    body: str | None = None
    due_date: str
    due_at: str
    expires_at: str
    cause: TaskCause
    status: Literal["open", "done", "expired", "cancelled"]
    outcome: Outcome | None = None
    created_at: str
    closed_at: str | None = None


class TaskList(Output):
    data: list[TaskOut]
    #: the local day listed, in the store's time zone
    due_date: str


class TasksQuery(Input):
    due: str = Field(default="today", pattern=r"^(today|\d{4}-\d{2}-\d{2})$",
                     description="'today' (the store's time zone) or YYYY-MM-DD")
    limit: Limit = 200


class TaskComplete(Input):
    outcome: Outcome


# --- board -------------------------------------------------------------------------------------------
class BoardQuery(Input):
    store: str | None = Field(default=None, pattern=ULID_PATTERN)
    month: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM in the store's time zone")


class BoardRow(Output):
    guide_id: str
    display_name: str
    store_id: str
    members_total: int
    members_new: int
    tasks_done: int
    tasks_expired: int
    #: done / (done + expired) of the month; None when neither happened
    completion_rate: float | None = None
    orders: int
    revenue: int
    #: revenue of orders placed within ``attribution_days`` after a done task
    task_revenue: int


class Board(Output):
    month: str
    attribution_days: int
    data: list[BoardRow]
