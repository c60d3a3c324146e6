"""(f) Segment pages at 10,000 and 100,000 members: does a page get slower as the tenant grows?

Two tenants, made through the API (tenant, a ``multi`` tag group with tags A and B, and 16
template members: orders 0 / 1 / 2 / 5 x user tags none / A / B / A+B), then filled up to
10,000 and 100,000 members by cloning the templates' items straight into DynamoDB Local
(``bench/seed.py``). Both tenants draw their members from the same seeded sequence (the
10,000 are the first of the 100,000), so the proportions are the same:

* orders: none 20% (no standing: ``prospect_aware``), 1 order 50% (``new_buyer``),
  2 orders 20% (``repeat``), 5 orders 10% (``loyal``);
* tag A on 10% and tag B on 30% of members, independently of each other and of orders.

Then four saved segments per tenant, through the app (``chalice.test.Client``), metered:

1. ``{"tag": A}``: one user tag, base = A's list, every candidate matches;
2. ``{"and": [{"tag": A}, {"tag": B}]}``: base = A (the smaller list, from the counters),
   B evaluated on each candidate's snapshot, ~30% match;
3. ``{"stage": "new_buyer"}``: one system tag, base = the biggest list (50% of members);
4. ``{"metric": "orders", "op": "gte", "value": 2}``: no indexed term, base = every member
   (the member list, by ``created_at``), ~30% match.

For each: ``GET /v1/segments/{id}/members?limit=50`` as the first page (20 times), the 20
pages after it following ``next_cursor``, and a deep page (the page that starts where 100
matching members remain, 20 times), plus ``GET /v1/segments/{id}/count`` (10 times). The two
tenants' requests are interleaved (alternating which goes first). Every page's members,
``examined`` and every exact count are compared with the seeded truth (a difference is
printed as a WARNING).
"""
from __future__ import annotations

import bisect
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from .api import App
from .report import fmt, heading, median, p90, progress, ratio, table
from .seed import SeedFigures, Template, Variant, Writer, make_template, seed_members

SIZES = (10_000, 100_000)
#: (orders, share of members)
ORDERS = ((0, 0.20), (1, 0.50), (2, 0.20), (5, 0.10))
TAG_SHARES = (("A", 0.10), ("B", 0.30))
VARIANTS = [Variant(o, t) for o, _ in ORDERS for t in ((), ("A",), ("B",), ("A", "B"))]
LIMIT = 50
PAGES = 20
WARMUP = 3
COUNTS = 10
#: the deep page starts where this many base entries remain: enough that every list shard
#: still fills its Query (a page near the very end of a list reads less, so is cheaper)
DEEP_LEFT = 600
SPREAD_DAYS = 730
RNG_SEED = 20261123
WRITER_THREADS = 2


@dataclass
class Member:
    member_id: str
    position: str  # the profile's member-list sort key (created_at#member_id)
    orders: int
    stage: str | None
    tags: frozenset[str]


@dataclass
class Tenant:
    size: int
    api: App
    tag_ids: dict[str, str]
    members: list[Member] = field(default_factory=list)
    templates: int = 0
    seed: SeedFigures = field(default_factory=SeedFigures)

    @property
    def label(self) -> str:
        return f"{self.size // 1000}k"


@dataclass(frozen=True)
class SegmentDef:
    name: str
    filter: Callable[[dict[str, str]], dict[str, Any]]
    in_base: Callable[[Member], bool]
    matches: Callable[[Member], bool]
    #: the base is the member list (ordered by created_at#id), else a tag list (by id)
    all_members: bool = False


SEGMENTS = [
    SegmentDef("tag A (10%)", lambda t: {"tag": t["A"]}, lambda m: "A" in m.tags, lambda m: True),
    SegmentDef("tag A AND tag B", lambda t: {"and": [{"tag": t["A"]}, {"tag": t["B"]}]},
               lambda m: "A" in m.tags, lambda m: "B" in m.tags),
    SegmentDef("stage new_buyer (50%)", lambda t: {"stage": "new_buyer"}, lambda m: m.stage == "new_buyer",
               lambda m: True),
    SegmentDef("orders >= 2 (unindexed)", lambda t: {"metric": "orders", "op": "gte", "value": 2},
               lambda m: True, lambda m: m.orders >= 2, all_members=True),
]
KINDS = ("first", "walk", "deep", "count")
KIND_LABELS = {"first": "first page", "walk": "next pages (cursors)",
               "deep": f"deep page ({DEEP_LEFT} left)", "count": "count"}


@dataclass
class Sample:
    ms: float
    read: float
    write: float
    calls: dict[str, int]
    in_ddb_ms: float
    by_op: dict[str, float]
    #: capacity units by DynamoDB operation
    units_by_op: dict[str, float]
    body: Any


@dataclass
class Base:
    """The seeded truth about one segment in one tenant, in the app's base order."""

    positions: list[str]
    ids: list[str]
    hits: list[bool]
    total_matches: int


@dataclass
class SegmentRun:
    seg: SegmentDef
    segment_id: dict[int, str] = field(default_factory=dict)
    #: the scope the app binds the segment's cursors to
    scope: dict[int, str] = field(default_factory=dict)
    base: dict[int, Base] = field(default_factory=dict)
    samples: dict[tuple[int, str], list[Sample]] = field(default_factory=dict)
    deep_depth: dict[int, float] = field(default_factory=dict)
    count_status: dict[int, str] = field(default_factory=dict)


@dataclass
class CountPass:
    """One background count of the unindexed segment, drained on ``workers`` threads."""

    workers: int
    seconds: float
    examined: int
    count: int
    ranges: int
    runs: int


@dataclass
class SegmentFigures:
    tenants: list[Tenant]
    runs: list[SegmentRun]
    warnings: list[str] = field(default_factory=list)
    setup_s: float = 0.0
    count_passes: list[CountPass] = field(default_factory=list)


# --- setup ------------------------------------------------------------------------------------------
def _assign(rng: random.Random) -> Variant:
    r, acc, orders = rng.random(), 0.0, ORDERS[-1][0]
    for n, share in ORDERS:
        acc += share
        if r < acc:
            orders = n
            break
    tags = tuple(label for label, share in TAG_SHARES if rng.random() < share)
    return Variant(orders, tags)


def make_tenant(client: Any, admin_token: str, app_ddb: Any, bare_ddb: Any, table_name: str, size: int,
                shapes: list[dict[str, Any]]) -> tuple[Tenant, dict[Variant, Template]]:
    api = App(client)
    api.create_tenant(admin_token, name=f"Bench Segments {size // 1000}k")
    _, group = api.call("post", "/v1/tag-groups", {"name": "Interests", "selection": "multi"}, expected=201)
    tag_ids = {label: api.call("post", f"/v1/tag-groups/{group['id']}/tags", {"name": f"bench-{label}"},
                               expected=201)[1]["id"] for label, _ in TAG_SHARES}
    tenant = Tenant(size, api, tag_ids)
    templates: dict[Variant, Template] = {}
    for n, variant in enumerate(VARIANTS):
        template, shape = make_template(api, app_ddb, bare_ddb, table_name, variant, tag_ids,
                                        phone=f"+86135{n:08d}", label=f"s{n:02d}")
        templates[variant] = template
        if shape is not None:
            shapes.append(shape)
        tenant.members.append(Member(template.member_id, template.position, variant.orders, template.stage,
                                     frozenset(variant.tags)))
    tenant.templates = len(templates)
    return tenant, templates


def seed_tenant(tenant: Tenant, templates: dict[Variant, Template], writer: Writer, bare_ddb: Any,
                shape: dict[str, Any]) -> None:
    """Clone templates until the tenant has ``tenant.size`` members, with their counters."""
    from chalicelib.core import clock

    rng, when = random.Random(RNG_SEED), random.Random(RNG_SEED + 1)
    now = clock.now()

    def created_at(n: int) -> str:
        return clock.iso(now - timedelta(milliseconds=when.randrange(SPREAD_DAYS * 86_400_000)))

    def on_member(member_id: str, created: str, t: Template) -> None:
        tenant.members.append(Member(member_id, f"{created}#{member_id}", t.variant.orders, t.stage,
                                     frozenset(t.variant.tags)))

    def report(written: int) -> None:
        progress(f"  {tenant.label}: {written:,} items written")

    seed_members(writer, bare_ddb, shape, tenant.size - tenant.templates, lambda n: templates[_assign(rng)],
                 lambda n: f"+86134{n:08d}", created_at, tenant.seed, on_member, report)


def truth(tenant: Tenant, seg: SegmentDef) -> Base:
    members = [m for m in tenant.members if seg.in_base(m)]
    if seg.all_members:
        members.sort(key=lambda m: m.position)
        positions = [m.position for m in members]
    else:
        members.sort(key=lambda m: m.member_id)
        positions = [m.member_id for m in members]
    hits = [seg.matches(m) for m in members]
    return Base(positions, [m.member_id for m in members], hits, sum(hits))


def expected_page(base: Base, after: str | None, limit: int) -> tuple[list[str], str | None, int]:
    """What ``segments.service.evaluate_page`` must answer on this base (same batches, same
    bound on candidates examined)."""
    from chalicelib.segments.service import BATCH, MAX_EXAMINED

    i = bisect.bisect_right(base.positions, after) if after is not None else 0
    found: list[str] = []
    examined = 0
    while examined < MAX_EXAMINED:
        want = min(BATCH, MAX_EXAMINED - examined)
        batch = range(i, min(i + want, len(base.ids)))
        for k in batch:
            examined += 1
            i = k + 1
            if base.hits[k]:
                found.append(base.ids[k])
                if len(found) == limit:
                    return found, base.positions[k], examined
        if len(batch) < want:
            return found, None, examined
    return found, base.positions[i - 1], examined


# --- measurement ----------------------------------------------------------------------------------------
class Meter:
    """Per request: time, capacity (``capacity.metered``), time inside DynamoDB calls and
    capacity units by operation (hooks on the client PynamoDB uses)."""

    def __init__(self, app_ddb: Any) -> None:
        from .dynamo import InAppTimer

        self.app_ddb = app_ddb
        self.timer = InAppTimer(app_ddb)
        self.units: Counter[str] = Counter()

    def _units(self, parsed: dict[str, Any], model: Any = None, **_: Any) -> None:
        from .dynamo import consumed_units

        if model is not None:
            self.units[model.name] += consumed_units(parsed)

    def __enter__(self) -> Meter:
        self.timer.__enter__()
        self.app_ddb.meta.events.register("after-call.dynamodb", self._units)
        return self

    def __exit__(self, *exc: object) -> None:
        self.app_ddb.meta.events.unregister("after-call.dynamodb", self._units)
        self.timer.__exit__(*exc)

    def get(self, api: App, path: str) -> Sample:
        from chalicelib.core.table.capacity import metered

        before, ops_before, units_before = self.timer.spent_ms, dict(self.timer.by_op), Counter(self.units)
        with metered(self.app_ddb) as usage:
            ms, body = api.call("get", path)
        by_op = {op: v - ops_before.get(op, 0.0) for op, v in self.timer.by_op.items()
                 if v - ops_before.get(op, 0.0) > 0}
        units = {op: v - units_before.get(op, 0.0) for op, v in self.units.items() if v - units_before.get(op, 0.0) > 0}
        return Sample(ms, usage.read, usage.write, dict(usage.calls), self.timer.spent_ms - before, by_op, units, body)


def _members_path(segment_id: str, cursor: str | None) -> str:
    return f"/v1/segments/{segment_id}/members?limit={LIMIT}" + (f"&cursor={cursor}" if cursor else "")


def _check_page(fig: SegmentFigures, run: SegmentRun, tenant: Tenant, what: str, sample: Sample,
                after: str | None) -> str | None:
    """Compare a page with the truth; returns the truth's next position."""
    ids, position, examined = expected_page(run.base[tenant.size], after, LIMIT)
    got = [m["id"] for m in sample.body["data"]]
    last_page = sample.body.get("next_cursor") is None
    if got != ids or sample.body["examined"] != examined or last_page != (position is None):
        fig.warnings.append(f"{run.seg.name}, {tenant.label}, {what}: the app answered {len(got)} members "
                            f"(examined {sample.body['examined']}), the seeded truth says {len(ids)} (examined "
                            f"{examined}){'; the members differ' if got[:len(ids)] != ids[:len(got)] else ''}")
    return position


def run_segments(client: Any, admin_token: str, app_ddb: Any, bare_ddb: Any, table_name: str,
                 make_client: Callable[[], Any]) -> SegmentFigures:
    from chalicelib.core.table import cursor

    started = time.perf_counter()
    progress(f"segments setup: 2 tenants, {len(VARIANTS)} template members each through the API")
    shapes: list[dict[str, Any]] = []
    made = [make_tenant(client, admin_token, app_ddb, bare_ddb, table_name, size, shapes) for size in SIZES]
    if not shapes:
        raise RuntimeError("the template members moved no counter; update bench/segments.py")
    writer = Writer(make_client, table_name, WRITER_THREADS)
    for tenant, templates in made:
        progress(f"segments setup: seeding {tenant.size - tenant.templates:,} members into the {tenant.label} "
                 f"tenant (BatchWriteItem, {WRITER_THREADS} threads)")
        seed_tenant(tenant, templates, writer, bare_ddb, shapes[0])
    tenants = [t for t, _ in made]
    fig = SegmentFigures(tenants, [SegmentRun(seg) for seg in SEGMENTS])

    for run in fig.runs:
        for tenant in tenants:
            _, created = tenant.api.call("post", "/v1/segments",
                                         {"name": run.seg.name, "filter": run.seg.filter(tenant.tag_ids)}, expected=201)
            run.segment_id[tenant.size] = created["id"]
            run.base[tenant.size] = truth(tenant, run.seg)
            run.scope[tenant.size] = f"segment|{created['id']}|{created['updated_at']}"
    fig.setup_s = time.perf_counter() - started

    progress(f"segments: {len(SEGMENTS)} segments x 2 tenants: first page x{PAGES}, {PAGES} pages by cursor, "
             f"deep page x{PAGES}, count x{COUNTS}")
    with Meter(app_ddb) as meter:
        for run in fig.runs:
            for tenant in tenants:  # unmeasured: warm DynamoDB Local's read paths on this list
                for _ in range(WARMUP):
                    meter.get(tenant.api, _members_path(run.segment_id[tenant.size], None))
            for kind in KINDS:
                for tenant in tenants:
                    run.samples[(tenant.size, kind)] = []

            def order(rep: int) -> list[Tenant]:
                return tenants if rep % 2 == 0 else tenants[::-1]

            # first page
            for rep in range(PAGES):
                for tenant in order(rep):
                    s = meter.get(tenant.api, _members_path(run.segment_id[tenant.size], None))
                    run.samples[(tenant.size, "first")].append(s)
            cursors: dict[int, tuple[str | None, str | None]] = {}
            for tenant in tenants:
                s = run.samples[(tenant.size, "first")][0]
                position = _check_page(fig, run, tenant, "first page", s, None)
                cursors[tenant.size] = (s.body.get("next_cursor"), position)
            # the next pages, following next_cursor (only full pages that are not the last are kept)
            for rep in range(PAGES):
                for tenant in order(rep):
                    next_cursor, position = cursors[tenant.size]
                    if next_cursor is None:
                        continue
                    s = meter.get(tenant.api, _members_path(run.segment_id[tenant.size], next_cursor))
                    nxt = _check_page(fig, run, tenant, f"page {rep + 2}", s, position)
                    cursors[tenant.size] = (s.body.get("next_cursor"), nxt)
                    if len(s.body["data"]) == LIMIT and s.body.get("next_cursor"):
                        run.samples[(tenant.size, "walk")].append(s)
            # the deep page: where DEEP_LEFT base entries remain
            deep: dict[int, str] = {}
            for tenant in tenants:
                base = run.base[tenant.size]
                if len(base.ids) > DEEP_LEFT + 1:
                    k = len(base.ids) - DEEP_LEFT - 1
                    deep[tenant.size] = base.positions[k]
                    run.deep_depth[tenant.size] = (k + 1) / len(base.ids)
            for rep in range(PAGES):
                for tenant in order(rep):
                    if tenant.size not in deep:
                        continue
                    token = cursor.encode(tenant.api.tenant_id, run.scope[tenant.size], deep[tenant.size])
                    s = meter.get(tenant.api, _members_path(run.segment_id[tenant.size], token))
                    run.samples[(tenant.size, "deep")].append(s)
                    if rep < 2:
                        _check_page(fig, run, tenant, "deep page", s, deep[tenant.size])
            # count
            for rep in range(COUNTS):
                for tenant in order(rep):
                    s = meter.get(tenant.api, f"/v1/segments/{run.segment_id[tenant.size]}/count")
                    run.samples[(tenant.size, "count")].append(s)
            for tenant in tenants:
                body = run.samples[(tenant.size, "count")][0].body
                base = run.base[tenant.size]
                run.count_status[tenant.size] = _count_status(body, base)
                if body["count"] is not None and body["count"] != base.total_matches:
                    fig.warnings.append(f"{run.seg.name}, {tenant.label}: count {body['count']}, the seeded truth "
                                        f"says {base.total_matches}")
                if not run.seg.all_members and body["base_size"] != len(base.ids):
                    fig.warnings.append(f"{run.seg.name}, {tenant.label}: base {body['base']} of "
                                        f"{body['base_size']} members, the seeded base has {len(base.ids)}")
    fig.count_passes = _count_passes(fig, tenants[0])
    return fig


#: workers the fanned-out count job is drained on (one range per member list shard: 32)
COUNT_WORKERS = (1, 4, 16)


def _count_passes(fig: SegmentFigures, tenant: Tenant) -> list[CountPass]:
    """The unindexed segment's count job in the small tenant, drained on 1, 4 and 16 threads:
    the speed-up of the fan-out over the member list's ranges."""
    from chalicelib.core import jobs
    from chalicelib.core.jobs.dispatch import dispatcher
    from chalicelib.segments import service as segments

    run = next(r for r in fig.runs if r.seg.all_members)
    tree = run.seg.filter(tenant.tag_ids)
    queue = dispatcher()._queue  # type: ignore[attr-defined]
    while not queue.empty():  # the count jobs the GETs above started: not run (see the note)
        queue.get_nowait()
    passes = []
    for workers in COUNT_WORKERS:
        progress(f"segments: count job of '{run.seg.name}' in the {tenant.label} tenant on {workers} worker(s)")
        t0 = time.perf_counter()
        job_id = jobs.start(segments.COUNT_JOB, tenant.api.tenant_id, {"filter": tree}).job_id
        runs = dispatcher().drain(workers=workers)  # type: ignore[attr-defined]
        seconds = time.perf_counter() - t0
        job = jobs.get_job(tenant.api.tenant_id, job_id)
        if job is None or job.status != "succeeded":
            raise RuntimeError(f"the count job {job_id} ended {job and job.status}: {job and job.error}")
        count = int(job.progress.get("total", -1))
        if count != run.base[tenant.size].total_matches:
            fig.warnings.append(f"count job on {workers} workers: {count}, the seeded truth says "
                                f"{run.base[tenant.size].total_matches}")
        passes.append(CountPass(workers, seconds, int(job.progress.get("processed", 0)), count,
                                int(job.progress.get("ranges", 0)), runs))
    return passes


def _count_status(body: dict[str, Any], base: Base) -> str:
    if body["status"] != "exact":
        return "job"
    return "O(1)" if body["count"] == body["base_size"] else "inline"


# --- output -------------------------------------------------------------------------------------------------
def _calls_text(calls: Counter[str], n: int) -> str:
    parts = []
    for name, count in sorted(calls.items(), key=lambda kv: (-kv[1], kv[0])):
        per = count / n
        parts.append(f"{name} x{per:g}" if per == int(per) else f"{name} x{per:.1f}")
    return ", ".join(parts)


def print_segments(fig: SegmentFigures) -> None:
    print(heading("(f) Segment pages at 10k and 100k members: does a page get slower as the tenant grows?"))
    small, big = fig.tenants
    print("  Two tenants, same proportions: orders none 20% / 1 (new_buyer) 50% / 2 (repeat) 20% / 5 (loyal) 10%;\n"
          "  tag A on 10%, tag B on 30%, independent. 16 template members per tenant made through the API\n"
          "  (member, order.paid events, PUT tags), the rest cloned from their raw items with BatchWriteItem\n"
          "  (PROFILE, STANDING, TAGSET, tag-index TAG#<tag> items incl. stage:<stage>; new member id, phone,\n"
          "  created_at over the last 2 years, list shards recomputed), and the app's sharded counters moved by\n"
          "  the same deltas the app applied to each template (true totals).\n")
    rows = []
    for t in fig.tenants:
        s = t.seed
        kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(s.by_kind.items()))
        rows.append([t.label, f"{len(t.members):,}", str(t.templates), f"{s.members:,}", f"{s.items:,}", kinds,
                     f"{s.counter_updates}", fmt(s.seconds, 1), f"{s.items / s.seconds:,.0f}" if s.seconds else "-"])
    print(table(["tenant", "members", "via API", "cloned", "items written", "of which", "counter updates",
                 "seconds", "items/s"], rows, align="lrrrrlrrr"))
    print(f"\n  Setup in all (tenants, templates, seeding, segments): {fig.setup_s:.0f} s.\n")
    print(f"  Through the app, metered (capacity.metered + the time inside botocore calls), the two tenants'\n"
          f"  requests interleaved; GET /v1/segments/{{id}}/members?limit={LIMIT}:\n"
          f"    first page: {PAGES} times (after {WARMUP} unmeasured); next pages: up to {PAGES} pages following "
          "next_cursor\n    from the first (only full pages that are not the last are kept; how many in brackets);\n"
          f"    deep page: {PAGES} times, from the base position where {DEEP_LEFT} base entries remain (so every "
          "list shard\n    still fills its Query), with a cursor made by the app's cursor.encode for that position "
          "(depth below);\n"
          f"    count: GET .../count, {COUNTS} times.\n"
          "  ms, RCU: medians per request (the API-key GetItem included). calls: DynamoDB calls per request.\n")
    rows = []
    for run in fig.runs:
        for k, kind in enumerate(KINDS):
            a, b = run.samples[(small.size, kind)], run.samples[(big.size, kind)]
            if not a or not b:
                continue
            ms_a, ms_b = median([s.ms for s in a]), median([s.ms for s in b])
            rcu_a, rcu_b = median([s.read for s in a]), median([s.read for s in b])
            if kind == "count":
                info = f"{run.count_status[small.size]} / {run.count_status[big.size]}"
            elif kind == "walk":
                info = (f"{median([s.body['examined'] for s in a]):.0f} / {median([s.body['examined'] for s in b]):.0f}"
                        f" ({len(a)} / {len(b)} pages)")
            else:
                info = f"{median([s.body['examined'] for s in a]):.0f} / {median([s.body['examined'] for s in b]):.0f}"
            calls_a, calls_b = median([sum(s.calls.values()) for s in a]), median([sum(s.calls.values()) for s in b])
            calls = f"{calls_a:.0f} / {calls_b:.0f}"
            same = kind != "count" or run.count_status[small.size] == run.count_status[big.size]
            rows.append([run.seg.name if k == 0 else "", KIND_LABELS[kind], fmt(ms_a), fmt(ms_b),
                         ratio(ms_b, ms_a) if same else "-",
                         f"{fmt(p90([s.ms for s in a]))} / {fmt(p90([s.ms for s in b]))}",
                         fmt(rcu_a, 1), fmt(rcu_b, 1), ratio(rcu_b, rcu_a) if same else "-", info, calls])
    x, y = small.label, big.label
    print(table(["segment", "request", f"ms {x}", f"ms {y}", f"{y}/{x}", f"p90 ms {x} / {y}", f"RCU {x}",
                 f"RCU {y}", f"{y}/{x}", f"examined (count: how) {x} / {y}", f"calls {x} / {y}"], rows,
                align="llrrrrrrrll"))
    print("\n  Bases and where the deep page starts (share of the base before it):\n")
    rows = [[run.seg.name, f"{len(run.base[small.size].ids):,}", f"{len(run.base[big.size].ids):,}",
             f"{run.base[small.size].total_matches:,}", f"{run.base[big.size].total_matches:,}",
             *(f"{100 * run.deep_depth[t.size]:.1f}%" if t.size in run.deep_depth else "-" for t in (small, big))]
            for run in fig.runs]
    print(table(["segment", f"base {small.label}", f"base {big.label}", f"matches {small.label}",
                 f"matches {big.label}", f"deep page at {small.label}", f"at {big.label}"], rows))
    print()
    print("  count: O(1) = exact from the counters; inline = exact, the whole base evaluated in the request\n"
          "  (bases up to 2,000 members); job = answers status computing and starts a count job (the bench does\n"
          "  not run those jobs; the fanned-out count job is measured below). No ratio where the two tenants'\n"
          "  counts are made differently.")

    print(f"\n  Where a request's time and units go, {big.label} tenant (all its samples; hooks on): "
          "DynamoDB calls per\n"
          "  request, share of the request time inside DynamoDB calls, each operation's share of it, and the\n"
          "  capacity units each operation consumed per request:\n")
    rows = []
    for run in fig.runs:
        for k, kind in enumerate(("first", "deep", "count")):
            samples = run.samples[(big.size, kind)]
            if not samples:
                continue
            calls: Counter[str] = Counter()
            for s in samples:
                calls.update(s.calls)
            total = sum(s.ms for s in samples)
            ops: Counter[str] = Counter()
            for s in samples:
                ops.update(s.by_op)
            shares = ", ".join(f"{op} {100 * v / total:.0f}%" for op, v in ops.most_common() if v / total >= 0.01)
            units: Counter[str] = Counter()
            for s in samples:
                units.update(s.units_by_op)
            cu = ", ".join(f"{op} {v / len(samples):.1f}" for op, v in units.most_common() if v)
            rows.append([run.seg.name if k == 0 else "", KIND_LABELS[kind], _calls_text(calls, len(samples)),
                         f"{100 * sum(s.in_ddb_ms for s in samples) / total:.0f}%", shares, cu])
    print(table(["segment", "request", "DynamoDB calls per request (mean)", "in DDB", "time by operation",
                 "CU by operation (mean)"], rows, align="lllrll"))
    if fig.count_passes:
        print_count_passes(fig.count_passes, small.label)
    for warning in fig.warnings:
        print(f"\n  WARNING {warning}")


def print_count_passes(passes: list[CountPass], label: str) -> None:
    print(f"\n  Background count of the unindexed segment in the {label} tenant (ADR 0011): the job fans out one\n"
          "  range per member list shard (32 child jobs), drained on N threads against the one DynamoDB Local:\n")
    base = passes[0].examined / passes[0].seconds if passes else 0.0
    rows = [[str(p.workers), str(p.ranges), f"{p.examined:,}", f"{p.count:,}", fmt(p.seconds), str(p.runs),
             f"{p.examined / p.seconds:,.0f}", f"{p.examined / p.seconds / base:.2f}x" if base else "-"]
            for p in passes]
    print(table(["workers", "ranges", "members examined", "count", "seconds", "job runs", "members/s", "speed-up"],
                rows))
    print("\n  As for the nightly pass, the workers share this machine's cores with DynamoDB Local: the speed-up\n"
          "  is a floor; in AWS each range is its own Lambda.")
