"""Segments on the wire."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ..core.schema import Download, Input, Limit, Output, Page
from ..members.schemas import MemberOut


class SegmentCreate(Input):
    name: str = Field(min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=500)
    #: a filter tree: see the segment filter language in the API guide
    filter: dict[str, Any]


class SegmentPatch(Input):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=500)
    filter: dict[str, Any] | None = None


class SegmentOut(Output):
    id: str
    name: str
    description: str | None
    filter: dict[str, Any]
    #: True when evaluation starts from an index (a tag, tier, stage, RFM segment or channel)
    indexed: bool
    #: the latest count taken (``GET .../count``), and when; members may have changed since
    last_count: int | None = None
    counted_at: str | None = None
    created_at: str
    updated_at: str


class SegmentList(Output):
    data: list[SegmentOut]


class PreviewIn(Input):
    filter: dict[str, Any]
    sample_size: int = Field(default=10, ge=1, le=50)


class CountOut(Output):
    #: the count, when known (O(1) for one indexed term; evaluated inline for small bases; else
    #: by a background job, whose result is reused for the rest of the hour)
    count: int | None
    #: ``exact``: counted for this request; ``as_of``: a background count taken at ``counted_at``
    #: (members may have changed since); ``computing``: in the background job ``job_id``
    status: Literal["exact", "as_of", "computing"]
    #: when ``count`` was taken (ISO 8601 UTC); None while computing
    counted_at: str | None = None
    #: True only when ``count`` reflects the members as they are now (``status`` is ``exact``)
    current: bool = False
    job_id: str | None = None
    #: members the evaluation started from (the chosen index) and how it was chosen
    base: str
    base_size: int


class PreviewOut(CountOut):
    sample: list[MemberOut]


class SegmentMembersQuery(Input):
    limit: Limit = 50
    cursor: str | None = Field(default=None, max_length=2048)


class SegmentMembers(Page):
    data: list[MemberOut]
    #: candidates looked at for this page (the cost driver; bounded per page)
    examined: int


class ExportOut(Output):
    job_id: str
    status: str


class SegmentExportOut(Output):
    job_id: str
    #: queued | running | succeeded | failed
    status: str
    rows: int | None = None
    #: once succeeded: a presigned URL of the CSV (a new one on every GET until ``expires_at``)
    download: Download | None = None
    #: when the export is deleted (410 after that)
    expires_at: str | None = None
