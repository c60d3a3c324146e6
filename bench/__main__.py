"""``make bench``: print speed and capacity figures of the member API, events, the
nightly pass, segment pages, tag writes, lifecycle journeys and the sale-day load per
partition key, measured in one run.

Not a timed test: nothing here asserts on speed. It checks only that each request did what
it should (a 201 for a create, a 200 for a get, every event accepted, the nightly job
succeeded), so a figure never describes an error path.

``BENCH_ONLY=segments,tags make bench`` runs only some sections (names or letters, comma
separated): members (a, c), imports (b), events (d), nightly (e), segments (f), tags (g),
journeys (h), saleday (i), coupons (j), points (k), webhooks (l), transfers (m: imports on S3,
BENCH_TRANSFERS_ROWS), guides (n), referrals (o), groupbuys (p), billing (q: Stripe
webhooks via stripe-mock).
By default, all of them.
"""
from __future__ import annotations

import contextlib
import io
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from . import (billing, coupons, events, groupbuys, guides, imports, journeys, points, referrals, saleday, segments,
               tagwrites, transfers, webhooks)
from .api import App, member_body
from .report import fmt, heading, median, p90, progress, ratio, table
from .shapes import describe, unit_rows
from .stack import ROOT, LocalStack, machine_context

WARMUP = 20
#: bare create+get pairs sent first, unmeasured, so DynamoDB Local's JVM has compiled its hot
#: paths (without them the first ~150 creates of a run are up to 2-3x slower on both sides)
ENGINE_WARMUP = 300
ITERATIONS = 200
CAPACITY_OPS = 25
IMPORT_RUNS = 5

CREATE_CALLS = ["GetItem", "BatchGetItem", "TransactWriteItems"]
GET_CALLS = ["GetItem", "GetItem"]


def app_phone(n: int) -> str:
    return f"+86138{n:08d}"


def bare_phone(n: int) -> str:
    return f"+86139{n:08d}"  # a range of its own: the bare creates never meet the app's


@dataclass
class Side:
    ms: list[float] = field(default_factory=list)
    call_ms: list[list[float]] = field(default_factory=list)
    units: list[list[float]] = field(default_factory=list)


@dataclass
class OpFigures:
    name: str
    template: list[tuple[str, dict[str, Any]]]
    app: Side = field(default_factory=Side)
    bare: Side = field(default_factory=Side)
    # capacity pass (through the app, metered)
    read: list[float] = field(default_factory=list)
    write: list[float] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    in_ddb_ms: list[float] = field(default_factory=list)
    metered_ms: list[float] = field(default_factory=list)
    #: per call, capacity by table/index (one bare replay with ReturnConsumedCapacity=INDEXES)
    by_index: list[dict[str, float]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def run_dynamo(api: App, app_ddb: Any, bare_ddb: Any) -> tuple[OpFigures, OpFigures]:
    """(a) and (c), in ``api``'s tenant."""
    from chalicelib.core.ids import new_id
    from chalicelib.core.table.capacity import metered

    from .dynamo import Bare, InAppTimer, by_index, captured

    # The first keyed request also records the key's use (2 UpdateItem, once a minute)
    # and reads the tenant's settings (then cached 60 s): prime both, then capture.
    api.create(member_body(app_phone(0)))
    with captured(app_ddb) as create_calls:
        _, captured_id = api.create(member_body(app_phone(1)))
    with captured(app_ddb) as get_calls:
        api.get(captured_id)
    create = OpFigures("create-member", create_calls)
    get = OpFigures("get-member", get_calls)
    for op, expected in ((create, CREATE_CALLS), (get, GET_CALLS)):
        made = [name for name, _ in op.template]
        if made != expected:  # the bare side replays what the app does now, whatever it is
            op.warnings.append(f"{op.name}: the app now makes {made}; this bench was written for "
                               f"{expected}. The bare side replays the app's calls as captured.")
    bare_create, bare_get = Bare(bare_ddb, create_calls), Bare(bare_ddb, get_calls)

    progress(f"warming DynamoDB Local's JVM: {ENGINE_WARMUP} bare creates and gets, not measured")
    next_app, next_bare = 2, 0
    for _ in range(ENGINE_WARMUP):
        new = new_id()
        bare_create.run(bare_create.build({app_phone(1): bare_phone(next_bare), captured_id: new}))
        bare_get.run(bare_get.build({captured_id: new}))
        next_bare += 1

    # (a) latency: app and bare interleaved, alternating which goes first
    progress(f"create-member: {WARMUP} warm-up + {ITERATIONS} measured, app and bare")
    member_ids: list[str] = []
    for i in range(WARMUP + ITERATIONS):
        body = member_body(app_phone(next_app))
        requests = bare_create.build({app_phone(1): bare_phone(next_bare), captured_id: new_id()})
        next_app, next_bare = next_app + 1, next_bare + 1
        if i % 2:
            bare = bare_create.run(requests)
            app_ms, member_id = api.create(body)
        else:
            app_ms, member_id = api.create(body)
            bare = bare_create.run(requests)
        member_ids.append(member_id)
        if i >= WARMUP:
            create.app.ms.append(app_ms)
            create.bare.ms.append(bare.total_ms)
            create.bare.call_ms.append(bare.call_ms)
            create.bare.units.append(bare.units)

    progress(f"get-member: {WARMUP} warm-up + {ITERATIONS} measured, app and bare")
    for i in range(WARMUP + ITERATIONS):
        member_id = member_ids[i % len(member_ids)]
        requests = bare_get.build({captured_id: member_id})
        if i % 2:
            bare = bare_get.run(requests)
            app_ms = api.get(member_id)
        else:
            app_ms = api.get(member_id)
            bare = bare_get.run(requests)
        if i >= WARMUP:
            get.app.ms.append(app_ms)
            get.bare.ms.append(bare.total_ms)
            get.bare.call_ms.append(bare.call_ms)
            get.bare.units.append(bare.units)

    # (c) capacity through the app, metered on the client PynamoDB uses
    progress(f"capacity: {CAPACITY_OPS} creates and {CAPACITY_OPS} gets through the app, metered")
    with InAppTimer(app_ddb) as timer:
        for _ in range(CAPACITY_OPS):
            before = timer.spent_ms
            with metered(app_ddb) as usage:
                ms, member_id = api.create(member_body(app_phone(next_app)))
            next_app += 1
            _record(create, usage, timer.spent_ms - before, ms)
            before = timer.spent_ms
            with metered(app_ddb) as usage:
                ms = api.get(member_id)
            _record(get, usage, timer.spent_ms - before, ms)

    new = new_id()
    create.by_index = by_index(
        bare_create, bare_create.build({app_phone(1): bare_phone(next_bare), captured_id: new}))
    get.by_index = by_index(bare_get, bare_get.build({captured_id: new}))
    return create, get


def _record(op: OpFigures, usage: Any, in_ddb_ms: float, ms: float) -> None:
    op.read.append(usage.read)
    op.write.append(usage.write)
    op.calls.update(usage.calls)
    op.in_ddb_ms.append(in_ddb_ms)
    op.metered_ms.append(ms)


# --- output ---------------------------------------------------------------------------------
def print_latency(ops: list[OpFigures]) -> None:
    print(heading("(a) Latency: through the app vs the bare DynamoDB calls it needs"))
    print(f"  {ITERATIONS} measured after {WARMUP} warm-up per side, app and bare interleaved (alternating\n"
          f"  which goes first), same DynamoDB Local, same table; before that {ENGINE_WARMUP} unmeasured bare\n"
          "  create+get pairs let DynamoDB Local's JVM compile its hot paths.\n"
          "  app  = chalice.test.Client over the real app (local API Gateway emulation, API-key auth,\n"
          "         pydantic, PynamoDB); create = POST /v1/members with a new phone each time,\n"
          "         get = GET /v1/members/{id}.\n"
          "  bare = the same DynamoDB requests the app sent (captured from it), replayed with a plain\n"
          "         boto3 client; only the phone number and member id differ (same lengths).\n")
    rows = []
    for op in ops:
        a, b = op.app.ms, op.bare.ms
        rows.append([op.name, "app", str(len(op.template)), fmt(median(a)), fmt(p90(a)), "", ""])
        rows.append(["", "bare", str(len(op.template)), fmt(median(b)), fmt(p90(b)),
                     ratio(median(a), median(b)), fmt(median(a) - median(b))])
    print(table(["operation", "side", "DDB calls", "median ms", "p90 ms", "app/bare (medians)",
                 "app - bare ms"], rows, align="llrrrrr"))
    for op in ops:
        for warning in op.warnings:
            print(f"\n  WARNING {warning}")

    print("\n  Bare calls one by one (the tenant settings GetItem is cached by the app, so not made):\n")
    rows = []
    for op in ops:
        total = median(op.bare.ms)
        for k, (name, params) in enumerate(op.template):
            ms = [c[k] for c in op.bare.call_ms]
            units = median([u[k] for u in op.bare.units])
            first, *more = describe(name, params)
            rows.append([op.name if k == 0 else "", first, fmt(median(ms)), fmt(p90(ms)),
                         f"{100 * median(ms) / total:.0f}%", fmt(units, 1)])
            rows += [["", line, "", "", "", ""] for line in more]
    print(table(["operation", "bare DynamoDB call", "median ms", "p90 ms", "of bare median",
                 "CU reported"], rows, align="llrrrr"))


def print_imports(fig: imports.ImportFigures) -> None:
    print(heading("(b) Cold start per Lambda function vs `import boto3`, as whole processes"))
    print(f"  median of {fig.runs} interleaved runs each, after one untimed run (bytecode cached, OS file cache\n"
          f"  warm); a function's cold start is `python -c \"from app import <handler>\"`, what the Lambda\n"
          f"  runtime runs; both sides include the interpreter start (`python -c pass`: "
          f"{fig.baseline_ms:.0f} ms). Target: <= 1.5x.\n")
    target = f"<= {imports.TARGET:g}x"
    rows = [[name, handler, fmt(ms, 0), ratio(ms, fig.boto3_ms), target,
             "met" if ms / fig.boto3_ms <= imports.TARGET else "NOT met"]
            for name, (handler, ms) in fig.functions.items()]
    rows.append(["(bare)", "import boto3", fmt(fig.boto3_ms, 0), ratio(fig.boto3_ms, fig.boto3_ms), "", ""])
    print(table(["function", "entry point", "whole process ms", "vs boto3", "target", ""], rows))
    worst = max(fig.functions, key=fig.ratio)
    print(f"\n  worst: {worst} {fig.ratio(worst):.2f}x boto3 (every function imports app.py, so they differ by noise)")
    print(f"  a cold API process through its first request (GET /v1/members, 401 before any table read: "
          f"imports that blueprint): {fig.first_request_ms:.0f} ms, {ratio(fig.first_request_ms, fig.boto3_ms)} boto3")
    print(f"  importing everything app.py names, as every cold start did before ADR 0020: "
          f"{fig.everything_ms:.0f} ms, {ratio(fig.everything_ms, fig.boto3_ms)} boto3")
    print(f"  -X importtime (one run): import app {fig.importtime_ms['app']:.0f} ms, {fig.modules['app']} modules; "
          f"import boto3 {fig.importtime_ms['boto3']:.0f} ms, {fig.modules['boto3']} modules")
    heavy = ", ".join(f"{name} {ms:.0f}" for name, ms in fig.heaviest["app"][:8])
    print(f"  heaviest packages under `import app` (self ms summed): {heavy}")
    print("  10 heaviest modules under `import app` (self ms):")
    for name, ms in fig.heaviest_modules[:10]:
        print(f"    {ms:6.1f}  {name}")


def _calls_text(calls: Counter[str], n: int, order: list[str]) -> str:
    """Mean calls per op, in the order the operation makes them, extras last."""
    parts = []
    rank = {name: i for i, name in reversed(list(enumerate(order)))}
    for name, count in sorted(calls.items(), key=lambda kv: (rank.get(kv[0], len(order)), kv[0])):
        per = count / n
        parts.append(f"{name} x{per:g}" if per == int(per) else f"{name} x{per:.2f}")
    return ", ".join(parts)


def print_capacity(ops: list[OpFigures]) -> None:
    print(heading("(c) DynamoDB capacity per operation, through the app"))
    print(f"  {CAPACITY_OPS} of each, metered with chalicelib.core.table.capacity.metered(boto_client());\n"
          "  units as DynamoDB Local reports them (PynamoDB requests ReturnConsumedCapacity=TOTAL).\n"
          "  INCLUDES the API-key lookup GetItem (consistent) that authenticates every request.\n")
    rows = []
    for op in ops:
        n = len(op.read)
        bare_cu = median([sum(u) for u in op.bare.units])
        rows.append([op.name, _calls_text(op.calls, n, [name for name, _ in op.template]),
                     fmt(median(op.read), 1), fmt(median(op.write), 1),
                     fmt(median(op.read) + median(op.write), 1), fmt(bare_cu, 1),
                     fmt(median(op.in_ddb_ms)), fmt(median(op.metered_ms))])
    print(table(["operation", "DynamoDB calls per op (mean)", "RCU", "WCU", "total CU", "bare CU",
                 "in DDB calls ms", "request ms"], rows, align="llrrrrrr"))
    print("\n  RCU/WCU/total: median per op. bare CU: the same requests replayed bare, for comparison.\n"
          "  in DDB calls ms: median time the app spent inside botocore DynamoDB calls (parameter\n"
          "  build to parsed response) during the request; request ms: the whole request (hooks on).\n"
          "  A fractional call count means some ops did extra calls (e.g. the once-a-minute API-key\n"
          "  last_used_at UpdateItems, or the tenant settings GetItem when its 60 s cache expired).")
    print("\n  Where the units go, per call (one bare replay with ReturnConsumedCapacity=INDEXES):\n")
    rows = []
    notes: list[str] = []
    for op in ops:
        op_rows, op_notes = unit_rows(op.template, op.by_index, op.name)
        rows += [[op.name if k == 0 else "", *row] for k, row in enumerate(op_rows)]
        notes += op_notes
    print(table(["operation", "DynamoDB call", "CU", "table + indexes"], rows, align="llrl"))
    for note in notes:
        print(f"\n  Note, {note}")


#: section name -> the letters of the report it prints
SECTIONS = {"members": "ac", "imports": "b", "events": "d", "nightly": "e", "segments": "f", "tags": "g",
            "journeys": "h", "saleday": "i", "coupons": "j", "points": "k", "webhooks": "l", "transfers": "m",
            "guides": "n", "referrals": "o", "groupbuys": "p", "billing": "q"}


def selected_sections(raw: str | None) -> list[str]:
    """The sections ``BENCH_ONLY`` names (all when empty), in report order."""
    if not raw or not raw.strip():
        return list(SECTIONS)
    chosen = set()
    for word in raw.replace(" ", ",").lower().split(","):
        if not word:
            continue
        name = word if word in SECTIONS else next((n for n, letters in SECTIONS.items() if word in letters
                                                   and len(word) == 1), None)
        if name is None:
            raise SystemExit(f"BENCH_ONLY: unknown section {word!r}; use {', '.join(SECTIONS)} "
                             "(or the letters a-j)")
        chosen.add(name)
    return [n for n in SECTIONS if n in chosen]


@dataclass
class Results:
    create: OpFigures | None = None
    get: OpFigures | None = None
    event: events.EventFigures | None = None
    nightly: events.NightlyFigures | None = None
    segments: segments.SegmentFigures | None = None
    tags: tagwrites.TagWriteFigures | None = None
    journeys: journeys.JourneyFigures | None = None
    saleday: saleday.SaleDayFigures | None = None
    coupons: coupons.CouponFigures | None = None
    points: points.PointsFigures | None = None
    webhooks: webhooks.WebhookFigures | None = None
    transfers: transfers.TransferFigures | None = None
    guides: guides.GuideFigures | None = None
    referrals: referrals.ReferralFigures | None = None
    groupbuys: groupbuys.GroupFigures | None = None
    billing: billing.BillingFigures | None = None


def run_all(stack: LocalStack, sections: list[str], stripe_secret: str | None = None) -> Results:
    from chalice.test import Client

    from app import app
    from chalicelib.core.table.model import boto_client

    from .seed import Writer

    app_ddb = boto_client()
    bare_ddb = stack.client()
    admin_token = stack.issuer.admin_token()
    out = Results()
    with Client(app, project_dir=str(ROOT)) as chalice_client:
        if "members" in sections or "events" in sections:
            api = App(chalice_client)
            api.create_tenant(admin_token)
            if "members" in sections:
                out.create, out.get = run_dynamo(api, app_ddb, bare_ddb)
            if "events" in sections:
                out.event = events.run_event(api, app_ddb, bare_ddb, stack.table_name)
        if "webhooks" in sections:
            out.webhooks = webhooks.run_webhooks(chalice_client, admin_token, app_ddb)
        # (q) on the real clock (Stripe signatures are checked against it): before sections that move it
        if "billing" in sections and stripe_secret is not None:
            out.billing = billing.run_billing(chalice_client, admin_token, stripe_secret, bare_ddb)
        if "nightly" in sections:
            out.nightly = events.run_nightly_bench(chalice_client, admin_token, app_ddb)
        # (h) before (f) and (g): it moves the clock (restored after) and drains no jobs
        if "journeys" in sections:
            out.journeys = journeys.run_journeys(chalice_client, admin_token, app_ddb)
        # (i) after (h), before (f): it moves the clock (restored after) and drains the job queue
        if "saleday" in sections:
            out.saleday = saleday.run_saleday(chalice_client, admin_token, app_ddb, bare_ddb, stack.table_name)
        # (j) moves the clock (restored after)
        if "points" in sections:
            out.points = points.run_points(chalice_client, admin_token, app_ddb, bare_ddb)
        if "guides" in sections:
            out.guides = guides.run_guides(chalice_client, admin_token, app_ddb,
                                           Writer(stack.seeding_client, stack.table_name), stack.issuer)
        if "referrals" in sections:
            out.referrals = referrals.run_referrals(chalice_client, admin_token, app_ddb)
        # (f) and (g) last: their tenants are large, and (f) leaves count jobs queued (never run)
        if "segments" in sections:
            out.segments = segments.run_segments(chalice_client, admin_token, app_ddb, bare_ddb, stack.table_name,
                                                 stack.seeding_client)
        if "tags" in sections:
            out.tags = tagwrites.run_tag_writes(chalice_client, admin_token, app_ddb, bare_ddb, stack.table_name,
                                                Writer(stack.seeding_client, stack.table_name))
        if "coupons" in sections:
            out.coupons = coupons.run_coupons(chalice_client, admin_token, app_ddb, bare_ddb)
        if "groupbuys" in sections:
            out.groupbuys = groupbuys.run_groupbuys(chalice_client, admin_token, app_ddb, bare_ddb)
        if "transfers" in sections:  # (j) starts its own gofakes3 (S3) and drains its import jobs
            out.transfers = transfers.run_transfers(chalice_client, admin_token, stack.work)
    return out


def main() -> int:
    started = time.perf_counter()
    sections = selected_sections(os.environ.get("BENCH_ONLY"))
    context = machine_context()
    with LocalStack() as stack:
        import_figures = None
        if "imports" in sections:
            progress(f"cold starts: {IMPORT_RUNS} runs each of python -c pass / import boto3 / each function's entry")
            import_figures = imports.measure(ROOT, stack.env, IMPORT_RUNS)
        progress(f"starting DynamoDB Local in memory on 127.0.0.1:{stack.port}")
        stack.start_dynamodb()
        # Powertools prints EMF metric lines on stdout (locally too, every 100 metrics);
        # keep them out of the report
        emf = io.StringIO()
        with contextlib.ExitStack() as stripe:
            secret = stripe.enter_context(billing.stripe_environment(stack.work)) if "billing" in sections else None
            with contextlib.redirect_stdout(emf):
                results = run_all(stack, sections, secret)

    print(f"Enclave bench, {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} "
          "(figures of one run; not a timed test)")
    if len(sections) < len(SECTIONS):
        print(f"  BENCH_ONLY: {', '.join(sections)}")
    print(table(["context", ""], [[k, v] for k, v in context], align="ll"))
    print("  DynamoDB Local and this Python process share the CPUs above; absolute figures are\n"
          "  local-only (no network), the ratios are what carries over.")
    if results.create and results.get:
        print_latency([results.create, results.get])
    if import_figures:
        print_imports(import_figures)
    if results.create and results.get:
        print_capacity([results.create, results.get])
    if results.event:
        events.print_event(results.event)
    if results.nightly:
        events.print_nightly(results.nightly)
    if results.segments:
        segments.print_segments(results.segments)
    if results.tags:
        tagwrites.print_tag_writes(results.tags)
    if results.journeys:
        journeys.print_journeys(results.journeys)
    if results.saleday:
        saleday.print_saleday(results.saleday)
    if results.coupons:
        coupons.print_coupons(results.coupons)
    if results.points:
        points.print_points(results.points)
    if results.webhooks:
        webhooks.print_webhooks(results.webhooks)
    if results.transfers:
        transfers.print_transfers(results.transfers)
    if results.guides:
        guides.print_guides(results.guides)
    if results.referrals:
        referrals.print_referrals(results.referrals)
    if results.groupbuys:
        groupbuys.print_groupbuys(results.groupbuys)
    if results.billing:
        billing.print_billing(results.billing)
    print(f"\nTotal bench time {time.perf_counter() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
