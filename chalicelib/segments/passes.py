"""Segment counts and exports as background passes that fan out (ADR 0011): the job splits
its base (the member list, a channel's or a tag's list) into ranges of shards, each range an
ordinary checkpointed child job, and combines what they found once all have finished.

* count: each range counts its matches (its job's ``changed``); the runner adds the ranges'
  progress to the parent's, so the parent's ``changed`` is the count.
* export: each range writes its CSV rows as parts under the parent's id (part ``n`` of range
  ``r``: a repeated step overwrites its own part, so every row lands once); the parent
  streams the header and the parts, range by range, into one S3 object. Parts live in the
  table, not as S3 multipart parts: S3 wants >= 5 MB per part but the last, which a range of
  a small segment never reaches.

A base smaller than ``service.FAN_OUT_MIN`` is one range over all its shards (the sequential
walk, merged in position order); a larger one is ``service.RANGES`` ranges (one per shard).
``routes`` imports this module (app.py, and so the job runner, import the routes), so the
handlers are registered; ``service`` does not import it (no cycle between the two).
"""
from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from typing import Any

from ..core import clock, jobs
from ..core.objects import objects
from . import service, store

EXPORT_PAGE = 500


def _split(kind: str, tenant_id: str, tree: dict[str, Any], params: dict[str, Any]) -> jobs.Step:
    found = service.ranges(tenant_id, tree)
    return jobs.Step(checkpoint={"ranges": len(found)}, fan_out=[
        jobs.Child(kind, tenant_id, {**params, **r, "range": n}) for n, r in enumerate(found)])


def _check_ranges(tenant_id: str, job_id: str) -> dict[str, Any]:
    """The job's progress, its ranges' added in; a failed range fails the pass (a partial
    count or export is not a result)."""
    job = jobs.get_job(tenant_id, job_id)
    assert job is not None
    failed = [e for e in job.progress.get("errors", []) if e.get("code") == "range_failed"]
    if failed:
        raise RuntimeError(f"{len(failed)} range(s) failed, first {failed[0]['item']}: {failed[0]['detail']}")
    return job.progress


def _count_step(tenant_id: str | None, params: dict[str, Any], checkpoint: dict[str, Any] | None) -> jobs.Step:
    assert tenant_id is not None
    if "shards" in params:  # one range
        position = (checkpoint or {}).get("position")
        found, position, examined = service.evaluate_page(tenant_id, params["filter"], position, 10**9,
                                                          shards=params["shards"], pinned=params["base"])
        return jobs.Step(checkpoint={"position": position} if position else None, processed=examined,
                         changed=len(found))
    if not (checkpoint or {}).get("ranges"):  # (the sequential walk's checkpoint starts over too)
        return _split(service.COUNT_JOB, tenant_id, params["filter"], {"filter": params["filter"]})
    count = int(_check_ranges(tenant_id, params["job_id"]).get("changed", 0))
    if params.get("segment_id"):
        store.record_count(tenant_id, params["segment_id"], count, clock.iso(clock.now()))
    return jobs.Step(checkpoint=None, total=count)


def _row(s: Any) -> list[Any]:
    p = s.profile
    return [s.member_id, p.name or "", p.phone or "", p.email or "", s.tier, s.stage, s.rfm,
            s.metrics["lifetime_spend"], s.metrics["orders"], s.channel or "", p.created_at]


def _csv(rows: list[list[Any]]) -> str:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue()


def _export_step(tenant_id: str | None, params: dict[str, Any], checkpoint: dict[str, Any] | None) -> jobs.Step:
    assert tenant_id is not None
    segment_id = params["segment_id"]
    item = store.get(tenant_id, segment_id)
    if item is None:
        raise RuntimeError("the segment was deleted while it was exported")
    if "shards" in params:  # one range: one part per page
        cp = checkpoint or {"position": None, "part": 0}
        found, position, examined = service.evaluate_page(tenant_id, item.filter, cp["position"], EXPORT_PAGE,
                                                          shards=params["shards"], pinned=params["base"])
        store.put_part(tenant_id, params["export_id"], segment_id, int(params["range"]), int(cp["part"]),
                       _csv([_row(s) for s in found]), len(found), int(time.time()) + store.EXPORT_TTL_SECONDS)
        nxt = {"position": position, "part": cp["part"] + 1} if position else None
        return jobs.Step(checkpoint=nxt, processed=examined, changed=len(found))
    if not (checkpoint or {}).get("ranges"):
        return _split(service.EXPORT_JOB, tenant_id, item.filter, {"segment_id": segment_id,
                                                                   "export_id": params["job_id"]})
    _check_ranges(tenant_id, params["job_id"])
    rows = [0]

    def chunks() -> Iterator[bytes]:
        yield _csv([service.EXPORT_COLUMNS]).encode()
        for part in store.parts(tenant_id, params["job_id"]):
            rows[0] += int(part.rows or 0)
            yield part.body.encode()

    # the parts become one encrypted S3 object; the bucket's lifecycle deletes it
    objects().write(service.export_key(tenant_id, segment_id, params["job_id"]), chunks(), "text/csv", "export")
    return jobs.Step(checkpoint=None, total=rows[0])


jobs.register(service.COUNT_JOB, _count_step)
jobs.register(service.EXPORT_JOB, _export_step)
