"""Audit log query and records."""
from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, Field

from ...core.schema import Input, Limit, Output, Page

_NAME = r"^[a-z_]{1,40}$"
#: ``api_key:<id>``, ``user:<sub>``, ``system:<schedule>``; never a ``#`` (keys are built from it)
_ACTOR = r"^[a-z_]{1,20}:[A-Za-z0-9_.@:-]{1,128}$"


class AuditQuery(Input):
    target_type: str | None = Field(default=None, pattern=_NAME, description="e.g. member, tier_program")
    target: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]{1,128}$",
                               description="The target's id; needs target_type")
    actor: str | None = Field(default=None, pattern=_ACTOR, description="api_key:<id>, user:<sub> or system:<name>")
    since: AwareDatetime | None = Field(default=None, description="Only records at or after this time (ISO 8601 "
                                                                  "with an offset or Z)")
    limit: Limit = 50
    cursor: str | None = Field(default=None, max_length=1024)


class FieldChange(Output):
    field: str
    before: Any = None
    after: Any = None
    #: the target member was erased: its values were removed
    erased: bool = False


class AuditActor(Output):
    id: str
    #: a console user's role
    role: str | None = None


class AuditTarget(Output):
    type: str
    id: str


class AuditEvent(Output):
    id: str
    at: str
    actor: AuditActor
    action: str
    target: AuditTarget
    changes: list[FieldChange]
    #: more fields changed than a record holds
    truncated: bool = False
    request_id: str | None = None


class AuditPage(Page):
    data: list[AuditEvent]
