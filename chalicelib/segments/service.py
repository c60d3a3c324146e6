"""Segments: saved filters over members, evaluated from the most selective index.

Cost model (written down in docs/decisions/0006-tags-and-segments.md):

* A **base** is chosen among the indexed terms every match must satisfy (a tag, a system
  tag for tier / stage / RFM segment, or a source channel): the one with the fewest members,
  read from O(1) counters. Without one, the base is the whole member list (still a Query
  per shard, never a Scan), and counting needs a background job.
* A page walks the base in a stable order (its shards' Queries merged), loads candidates'
  snapshots in batches (3 BatchGetItems per 100) and keeps those the filter matches. Work
  per page is bounded (``MAX_EXAMINED`` candidates), whatever the tenant's size; the cursor
  is the base position reached.
* A count is O(1) when the filter is one indexed term, evaluated inline when the base has
  at most ``INLINE_COUNT_MAX`` members, else computed by a job.
"""
from __future__ import annotations

import hashlib
import heapq
import itertools
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ..core import audit, clock, jobs, observability as obs
from ..core.errors import Gone, NotFound, Unprocessable
from ..core.ids import is_id, new_id
from ..core.objects import objects
from ..core.schema import Download
from ..core.table import cursor, keys
from ..core.table.definition import MEMBER_LIST_SHARDS, TAG_LIST_SHARDS
from ..core.table.tag_index import members_page as tag_members_page
from ..core.tenancy import TenantContext
from ..billing import service as billing
from ..members import service as members
from ..tags import service as tags
from ..tiers import rules as tier_rules
from ..tiers import service as tiers
from . import filters, store
from .schemas import (
    CountOut,
    ExportOut,
    SegmentExportOut,
    PreviewIn,
    PreviewOut,
    SegmentCreate,
    SegmentList,
    SegmentMembers,
    SegmentOut,
    SegmentMembersQuery,
    SegmentPatch,
)

MAX_EXAMINED = 1000
BATCH = 100
INLINE_COUNT_MAX = 2000
COUNT_JOB: str = "segment_count"
EXPORT_JOB: str = "segment_export"
EXPORT_PART_BYTES = 300_000


# --- bases ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Base:
    name: str
    size: int
    fetch: Callable[[int, str | None, int], list[tuple[str, str]]]  # (shard, after, limit) -> [(position, id)]
    #: how many partitions the list is spread over (a tag's list has more: see TAG_LIST_SHARDS)
    shards: int = MEMBER_LIST_SHARDS

    def page(self, after: str | None, limit: int, shards: Sequence[int] | None = None) -> list[tuple[str, str]]:
        """The next ``limit`` (position, member id) across ``shards`` (all by default), in position order."""
        return list(itertools.islice(self.stream(after, shards, limit), limit))

    def stream(self, after: str | None, shards: Sequence[int] | None = None, first: int = BATCH
               ) -> Iterator[tuple[str, str]]:
        """(position, member id) after ``after`` across ``shards``, in position order, read
        lazily: each shard a slice at a time, the first slices sized so that together they
        hold about ``first`` twice, the next ones doubling (a short walk reads little, a long
        one costs few calls per shard)."""
        wanted = list(range(self.shards)) if shards is None else list(shards)
        chunk = max(8, 2 * first // max(1, len(wanted)) + 1)
        return heapq.merge(*(self._walk(shard, after, chunk) for shard in wanted))

    def _walk(self, shard: int, after: str | None, chunk: int) -> Iterator[tuple[str, str]]:
        while True:
            rows = self.fetch(shard, after, chunk)
            yield from rows
            if len(rows) < chunk:
                return
            after, chunk = rows[-1][0], min(2 * chunk, 500)


def _base_for(tenant_id: str, term: filters.IndexTerm, tag_sizes: dict[str, int]) -> Base:
    if term.kind == "channel":
        return Base(f"channel:{term.value}", members.channel_member_count(tenant_id, term.value),
                    lambda shard, after, limit: members.member_ids_page(tenant_id, term.value, shard, after, limit))
    if ":" in term.value and term.value.split(":", 1)[0] in ("tier", "stage", "rfm"):
        dimension, value = term.value.split(":", 1)
        size = tiers.stage_count(tenant_id, dimension, value)
    else:
        size = tag_sizes[term.value]
    return Base(f"tag:{term.value}", size, lambda shard, after, limit: [
        (m, m) for m in tag_members_page(tenant_id, term.value, shard, after, limit)], TAG_LIST_SHARDS)


def choose_base(tenant_id: str, tree: dict[str, Any], pinned: str | None = None) -> tuple[Base, bool]:
    """(the base to walk, whether it is an index narrower than all members). ``pinned``: the
    name of the base a fanned-out pass chose when it split (its ranges are that base's)."""
    terms = filters.index_terms(tree)
    user_tags = [t.value for t in terms
                 if t.kind == "tag" and t.value.split(":", 1)[0] not in ("tier", "stage", "rfm")]
    # one read of the counters and of the expired-but-unswept tags for all the filter's tags
    tag_sizes = tags.live_tag_counts(tenant_id, user_tags) if user_tags else {}
    candidates = [_base_for(tenant_id, t, tag_sizes) for t in terms]
    if candidates:
        same = [b for b in candidates if b.name == pinned]
        return (same or [min(candidates, key=lambda b: b.size)])[0], True
    return Base("all_members", members.member_count(tenant_id),
                lambda shard, after, limit: members.member_ids_page(tenant_id, None, shard, after, limit)), False


# --- evaluation --------------------------------------------------------------------------------------------
def evaluate_page(tenant_id: str, tree: dict[str, Any], after: str | None, limit: int,
                  max_examined: int = MAX_EXAMINED, shards: Sequence[int] | None = None, pinned: str | None = None
                  ) -> tuple[list[filters.Snapshot], str | None, int]:
    """(matching members' snapshots, base position to resume from or None at the end, examined);
    ``shards``: only those of the base's (one range of a fanned-out pass)."""
    base, _ = choose_base(tenant_id, tree, pinned)
    with_plans = filters.uses_term(tree, "plan")  # memberships are read only when asked about
    with_points = filters.uses_term(tree, "points_available")  # so are points balances
    found: list[filters.Snapshot] = []
    examined = 0
    position = after
    now = clock.now()
    stream = base.stream(after, shards)
    while examined < max_examined:
        want = min(BATCH, max_examined - examined)
        batch = list(itertools.islice(stream, want))
        snaps = tags.snapshots(tenant_id, [m for _, m in batch], with_points=with_points)
        if with_plans:
            for member_id, plan_ids in billing.active_plan_ids(tenant_id, list(snaps)).items():
                snaps[member_id].plans = plan_ids
        for pos, member_id in batch:
            examined += 1
            position = pos
            snap = snaps.get(member_id)
            if snap is not None and filters.matches(tree, snap, now):
                found.append(snap)
                if len(found) == limit:
                    return found, position, examined
        if len(batch) < want:
            return found, None, examined  # the base is exhausted
    return found, position, examined


def _count_inline(tenant_id: str, tree: dict[str, Any]) -> int:
    total, position = 0, None
    while True:
        found, position, _ = evaluate_page(tenant_id, tree, position, 10**9, max_examined=INLINE_COUNT_MAX)
        total += len(found)
        if position is None:
            return total


def _count(ctx: TenantContext, tree: dict[str, Any], segment_id: str | None) -> CountOut:
    base, indexed = choose_base(ctx.tenant_id, tree)
    term = filters.single_term(tree) or {}
    dimension = next((k for k in ("tier", "stage", "rfm") if k in term), None)
    now = clock.iso(clock.now())

    def exact(count: int) -> CountOut:
        return CountOut(count=count, status="exact", counted_at=now, current=True, base=base.name,
                        base_size=base.size)

    if dimension is not None:  # O(1), including the implicit "none" / "prospect_aware"
        reports = {"tier": tiers.tier_counts, "stage": tiers.stage_counts, "rfm": tiers.rfm_counts}
        return exact(reports[dimension](ctx).counts.get(term[dimension], 0))
    if "tag" in term or "channel" in term:  # O(1): the base is the term's own list
        return exact(base.size)
    if indexed and base.size <= INLINE_COUNT_MAX:
        return exact(_count_inline(ctx.tenant_id, tree))
    # One count job per saved segment version and hour: repeated GETs join it instead of
    # each walking the whole base again.
    job_id = None
    if segment_id is not None:
        version = hashlib.sha256(json.dumps(tree, sort_keys=True).encode()).hexdigest()[:12]
        job_id = f"COUNT-{segment_id}-{version}-{clock.now():%Y%m%d%H}"
    job = jobs.start(COUNT_JOB, ctx.tenant_id, {"filter": tree, "segment_id": segment_id}, job_id=job_id)
    if job.status == "succeeded":  # taken earlier this hour: say when, never "exact"
        return CountOut(count=job.progress.get("total"), status="as_of", counted_at=job.finished_at, current=False,
                        job_id=job.job_id, base=base.name, base_size=base.size)
    return CountOut(count=None, status="computing", job_id=job.job_id, base=base.name, base_size=base.size)


# --- validation -------------------------------------------------------------------------------------------
def _unknown(field: str, message: str, code: str) -> Unprocessable:
    return Unprocessable(message, field=field, code=code)


def check_filter(ctx: TenantContext, tree: Any, path: str = "filter") -> None:
    """The filter language's checks, then that every id a term names exists for this tenant
    (another tenant's tag does not): a 422 naming the first term that fails. Every place that
    accepts a filter (segments, tag rules' member conditions, journeys) calls this."""
    filters.validate(tree, path)
    named = filters.named_terms(tree, path)
    tags_named = [v for t, v, _ in named if t == "tag" and v.split(":", 1)[0] not in tags.SYSTEM_GROUPS]
    groups_named = [v for t, v, _ in named if t == "tag_group"]
    known_tags = tags.existing_tags(ctx.tenant_id, tags_named) if tags_named else set()
    known_groups = tags.existing_groups(ctx.tenant_id, groups_named) if groups_named else set()
    programs: list[tier_rules.Program] = []

    def program() -> tier_rules.Program:  # read only when a tier term is checked
        if not programs:
            programs.append(tiers.load_config(ctx.tenant_id).program)
        return programs[0]

    for named_term, named_value, field in named:
        term, value = named_term, named_value
        if term == "tag" and value.split(":", 1)[0] in tags.SYSTEM_GROUPS:
            term, value = value.split(":", 1)  # a system tag: tier:gold, stage:loyal, rfm:champions
        if term == "tag" and value not in known_tags:
            raise _unknown(field, "No tag with this id.", "unknown_tag")
        if term == "tag_group" and value not in known_groups:
            raise _unknown(field, "No tag group with this id (system groups: use the tier, stage or rfm terms).",
                           "unknown_tag_group")
        if term == "tier" and value != tier_rules.NO_TIER and program().tier(value) is None:
            raise _unknown(field, "No tier with this id in the tier program (or 'none').", "unknown_tier")
        if term == "stage" and value not in tier_rules.STAGES:
            raise _unknown(field, f"Stages are {', '.join(tier_rules.STAGES)}.", "unknown_stage")
        if term == "rfm" and value not in (*tier_rules.RFM_SEGMENTS, tier_rules.NO_RFM):
            raise _unknown(field, f"RFM segments are {', '.join(tier_rules.RFM_SEGMENTS)} (or 'none').",
                           "unknown_rfm_segment")
        if term == "channel":
            try:
                members.get_channel(ctx, value)
            except NotFound as exc:
                raise _unknown(field, "No channel with this code.", "unknown_channel") from exc
        if term == "plan":
            try:
                billing.get_plan(ctx, value)
            except NotFound as exc:
                raise _unknown(field, "No plan with this id.", "unknown_plan") from exc


# --- saved segments ----------------------------------------------------------------------------------------
def _out(item: store.SegmentItem, tenant_id: str) -> SegmentOut:
    _, indexed = choose_base(tenant_id, item.filter)
    return SegmentOut(id=item.segment_id, name=item.name, description=item.description, filter=item.filter,
                      indexed=indexed, last_count=int(item.last_count) if item.last_count is not None else None,
                      counted_at=item.counted_at, created_at=item.created_at, updated_at=item.updated_at)


def _load(ctx: TenantContext, segment_id: str) -> store.SegmentItem:
    item = store.get(ctx.tenant_id, segment_id) if is_id(segment_id) else None
    if item is None:
        raise NotFound("No such segment.", code="segment_not_found")
    return item


def contains(ctx: TenantContext, segment_id: str, member_id: str) -> bool:
    """Whether one member matches a saved segment now (who may lead a group-buy): the
    member's snapshot against the filter, without walking the segment. 404 for a missing
    or another tenant's segment."""
    tree = _load(ctx, segment_id).filter
    snaps = tags.snapshots(ctx.tenant_id, [member_id], with_points=filters.uses_term(tree, "points_available"))
    if member_id in snaps and filters.uses_term(tree, "plan"):
        for found, plan_ids in billing.active_plan_ids(ctx.tenant_id, [member_id]).items():
            snaps[found].plans = plan_ids
    snap = snaps.get(member_id)
    return snap is not None and filters.matches(tree, snap, clock.now())


def _audited(item: store.SegmentItem) -> dict[str, Any]:
    return json.loads(json.dumps({"name": item.name, "description": item.description, "filter": item.filter}))


def create(ctx: TenantContext, body: SegmentCreate) -> SegmentOut:
    check_filter(ctx, body.filter)
    now = clock.iso(clock.now())
    segment_id = new_id()
    item = store.SegmentItem(store.segments_pk(ctx.tenant_id), f"S#{segment_id}", segment_id=segment_id,
                             name=body.name, description=body.description, filter=body.filter,
                             created_at=now, updated_at=now)
    store.save(item, audit.Entry(ctx.tenant_id, "segment.created", "segment", segment_id, None, _audited(item)))
    return _out(item, ctx.tenant_id)


def get_segment(ctx: TenantContext, segment_id: str) -> SegmentOut:
    return _out(_load(ctx, segment_id), ctx.tenant_id)


def member_in_segment(ctx: TenantContext, segment_id: str, member_id: str) -> bool:
    """Whether the member matches the segment's filter now (404 for an unknown segment);
    for a single-member check such as a referral program's "who may refer"."""
    condition = _load(ctx, segment_id).filter
    snap = tags.snapshots(ctx.tenant_id, [member_id]).get(member_id)
    return snap is not None and filters.matches(condition, snap, clock.now())


def list_segments(ctx: TenantContext) -> SegmentList:
    return SegmentList(data=[_out(i, ctx.tenant_id) for i in store.list_all(ctx.tenant_id)])


def update(ctx: TenantContext, segment_id: str, body: SegmentPatch) -> SegmentOut:
    item = _load(ctx, segment_id)
    before = _audited(item)
    given = body.model_dump(exclude_unset=True)
    if given.get("filter") is not None:
        check_filter(ctx, given["filter"])
        item.filter, item.last_count, item.counted_at = given["filter"], None, None
    if given.get("name") is not None:
        item.name = given["name"]
    if "description" in given:
        item.description = given["description"]
    item.updated_at = clock.iso(clock.now())
    store.save(item, audit.Entry(ctx.tenant_id, "segment.updated", "segment", segment_id, before, _audited(item)))
    return _out(item, ctx.tenant_id)


def delete(ctx: TenantContext, segment_id: str) -> None:
    item = _load(ctx, segment_id)
    store.delete(item, audit.Entry(ctx.tenant_id, "segment.deleted", "segment", segment_id, _audited(item), None))


def preview(ctx: TenantContext, body: PreviewIn) -> PreviewOut:
    check_filter(ctx, body.filter)
    count = _count(ctx, body.filter, None)
    found, _, _ = evaluate_page(ctx.tenant_id, body.filter, None, body.sample_size)
    return PreviewOut(**count.model_dump(), sample=[s.profile for s in found])


def count(ctx: TenantContext, segment_id: str) -> CountOut:
    item = _load(ctx, segment_id)
    result = _count(ctx, item.filter, segment_id)
    if result.status == "exact" and result.count is not None and result.counted_at is not None:
        store.record_count(ctx.tenant_id, segment_id, result.count, result.counted_at)  # jobs record their own
    return result


def segment_members(ctx: TenantContext, segment_id: str, query: SegmentMembersQuery) -> SegmentMembers:
    item = _load(ctx, segment_id)
    scope = f"segment|{segment_id}|{item.updated_at}"
    after = cursor.decode(query.cursor, ctx.tenant_id, scope) if query.cursor else None
    started = time.perf_counter()
    found, position, examined = evaluate_page(ctx.tenant_id, item.filter, after, query.limit)
    obs.metrics.add_metric(name="SegmentPageMs", unit="Milliseconds", value=(time.perf_counter() - started) * 1000)
    return SegmentMembers(data=[s.profile for s in found],
                          next_cursor=cursor.encode(ctx.tenant_id, scope, position) if position else None,
                          examined=examined)


def page_ids(ctx: TenantContext, segment_id: str, position: str | None, limit: int,
             walk_range: dict[str, Any] | None = None) -> tuple[list[str], str | None]:
    """For jobs (bulk tagging): the next matching member ids and where to resume; in one of
    :func:`walk_ranges` when given."""
    item = _load(ctx, segment_id)
    found, nxt, _ = evaluate_page(ctx.tenant_id, item.filter, position, limit,
                                  shards=walk_range["shards"] if walk_range else None,
                                  pinned=walk_range["base"] if walk_range else None)
    return [s.member_id for s in found], nxt


def walk_ranges(ctx: TenantContext, segment_id: str) -> list[dict[str, Any]]:
    """The independent ranges a job over the segment's members can fan out over (each a
    ``walk_range`` for :func:`page_ids`): one per shard of a large base, else one."""
    return ranges(ctx.tenant_id, _load(ctx, segment_id).filter)


#: base size from which a pass over it fans out (below it, one range: 32 child jobs and
#: their parent's wake-ups are not worth it for a few thousand members)
FAN_OUT_MIN = 2000
#: ranges of a larger base: one per shard (member and tag lists have 32 each)
RANGES = 32


def ranges(tenant_id: str, tree: dict[str, Any]) -> list[dict[str, Any]]:
    """The independent ranges a pass over ``tree``'s base splits into: each names the base
    (so a range keeps walking the base the split was made for) and its shards."""
    base, _ = choose_base(tenant_id, tree)
    n = 1 if base.size < FAN_OUT_MIN else max(1, min(RANGES, base.shards))
    return [{"base": base.name, "shards": list(range(k, base.shards, n))} for k in range(n)]


# --- export ----------------------------------------------------------------------------------------------------
EXPORT_COLUMNS = ["member_id", "name", "phone", "email", "tier", "stage", "rfm", "lifetime_spend", "orders",
                  "source_channel", "created_at"]


def start_export(ctx: TenantContext, segment_id: str) -> ExportOut:
    _load(ctx, segment_id)
    job_id = new_id()  # the request is audited as an action on the segment, naming its job
    job = jobs.start(EXPORT_JOB, ctx.tenant_id, {"segment_id": segment_id}, job_id=job_id,
                     audited=audit.Entry(ctx.tenant_id, "segment.export_requested", "segment", segment_id,
                                         None, {"job_id": job_id}))
    return ExportOut(job_id=job.job_id, status=job.status)


def export_key(tenant_id: str, segment_id: str, job_id: str) -> str:
    return keys.object_key(tenant_id, "exports", "segments", segment_id, f"{job_id}.csv")


def export_status(ctx: TenantContext, segment_id: str, job_id: str) -> SegmentExportOut:
    """The export's state; once done, a presigned URL of its CSV, until the export expires."""
    _load(ctx, segment_id)
    job = jobs.get_job(ctx.tenant_id, job_id) if len(job_id) <= 64 else None
    if job is None or job.kind != EXPORT_JOB or job.params.get("segment_id") != segment_id:
        raise NotFound("No such export.", code="export_not_found")
    if job.status != "succeeded" or not job.finished_at:
        return SegmentExportOut(job_id=job_id, status=job.status)
    expires_at = clock.parse(job.finished_at) + timedelta(seconds=store.EXPORT_TTL_SECONDS)
    if clock.now() >= expires_at:
        raise Gone("This export has expired; start a new one.", code="export_expired")
    link = objects().presign_get(export_key(ctx.tenant_id, segment_id, job_id), f"segment-{segment_id}.csv")
    return SegmentExportOut(job_id=job_id, status=job.status, rows=job.progress.get("total"),
                            download=Download(url=link.url, expires_at=clock.iso(min(link.expires_at, expires_at))),
                            expires_at=clock.iso(expires_at))

