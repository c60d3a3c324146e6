"""Tasks for every member of a segment, by a job: one task per (job, member), so a step
that runs twice (a runner died before its checkpoint) creates nothing twice."""
from __future__ import annotations

from typing import Any

from ..core import jobs
from ..core.errors import Problem
from ..core.tenancy import READ, WRITE, TenantContext
from ..members import service as members
from ..segments import service as segments
from . import tasks
from .schemas import BulkOut, TaskBulk

BULK_JOB = "guides.bulk_tasks"
PAGE = 100


def start(ctx: TenantContext, body: TaskBulk) -> BulkOut:
    tasks.check_templates(body.title, body.body)
    segments.get_segment(ctx, body.segment_id)  # 404 for a missing or another tenant's segment
    job = jobs.start(BULK_JOB, ctx.tenant_id, {
        "segment_id": body.segment_id, "kind": body.kind, "title": body.title, "body": body.body,
        "due_date": body.due_date.isoformat(), "by": ctx.actor})
    return BulkOut(job_id=job.job_id, status=job.status)


def _step(tenant_id: str | None, params: dict[str, Any], checkpoint: dict[str, Any] | None) -> jobs.Step:
    from datetime import date

    assert tenant_id is not None
    ctx = TenantContext(tenant_id=tenant_id, principal_type="job", principal_id=params["job_id"],
                        permissions=frozenset({READ, WRITE}))
    ids, position = segments.page_ids(ctx, params["segment_id"], (checkpoint or {}).get("position"), PAGE)
    profiles = members.profiles(tenant_id, ids)
    created, errors = 0, []
    for member_id in ids:
        if member_id not in profiles:
            continue
        try:
            made = tasks.create(tenant_id, profiles[member_id], params["kind"], params["title"], params.get("body"),
                                date.fromisoformat(params["due_date"]), {"type": "bulk", "ref": params["job_id"]},
                                f"bulk:{params['job_id']}:{member_id}")
        except Problem as problem:
            errors.append({"item": member_id, "code": problem.code, "detail": problem.detail})
            continue
        created += made is not None
    return jobs.Step(checkpoint={"position": position} if position else None, processed=len(ids),
                     changed=created, errors=errors)


jobs.register(BULK_JOB, _step)
