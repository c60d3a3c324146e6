"""(d) one ``order.paid`` event through the app vs the bare DynamoDB calls it needs, and
(e) how many members per second the nightly pass evaluates.

(d) The app side sends ``POST /v1/events`` with one event for an existing member (by id).
The members come from a pool, used round-robin, each primed first with a few orders, so
that every measured event is the steady-state case: the member has a standing, and the
event moves neither its lifecycle stage nor its tier (the tier program is evaluated all
the same). The bare side replays the DynamoDB requests the app made for one such event
(captured), with a plain boto3 client: the reads as captured (only the event id and the
member changed, so the claim lookup misses as the app's does), and the
TransactWriteItems with the same actions, item shapes and conditions, under a new event
id and order id, against a bench-only member of its own pool whose standing version the
bench tracks (so the version condition passes as it does for the app).

(e) One tenant per worker count (1, 4, 16) gets the same N members, each made by one
``order.paid`` event naming a new phone (the tenant creates unknown members), in batches
of 100. Then ``run_nightly(tenant_ids=[it])`` starts the pass, which fans out over the
tenant's 16 ranges, and the bench drains the job queue on that many threads
(``ENCLAVE_JOB_DISPATCH=manual``), metered: members/s, the speed-up, and the time and cost
extrapolated to 1,000,000 members.
"""
from __future__ import annotations

import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from .api import TIER_PROGRAM, App, member_body
from .dynamo import Bare, InAppTimer, Request, by_index, captured
from .report import fmt, heading, median, p90, progress, ratio, table
from .shapes import describe, unit_rows

EVENT_WARMUP = 30
EVENT_ITERATIONS = 200
EVENT_CAPACITY_OPS = 25
#: members per side, used round-robin
POOL = 10
#: orders each pool member gets before the measurement: 5 make it "loyal", the last stage
#: an order count reaches, and 5 + ~26 orders of 19.99 stay below the first tier
PRIME_ORDERS = 5
AMOUNT = 1999
#: API key, event claim, profile, the tenant's generations (one item: every cached configuration's,
#: read once per request), standing, the transaction (with its outbox item: an order is wanted
#: by the guides' receiver), the guides receiver's Query of the member, then the outbox item's delete
EVENT_CALLS = ["GetItem"] * 5 + ["TransactWriteItems", "Query", "DeleteItem"]

NIGHTLY_MEMBERS = 2000
BATCH = 100
#: the setup's orders happened over this many days before now, evenly spread
SPREAD_DAYS = 180


def order_paid(event_id: str, order_id: str, amount: int = AMOUNT, member_id: str | None = None,
               phone: str | None = None, occurred_at: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "order.paid", "event_id": event_id,
                             "member": {"id": member_id} if member_id else {"phone": phone},
                             "order_id": order_id, "amount": amount, "currency": "CNY"}
    if occurred_at:
        event["occurred_at"] = occurred_at
    return event


# the ids of one side's events are the same length as the other's
def app_ids(n: int) -> tuple[str, str]:
    return f"ev-a-{n:08d}", f"or-a-{n:08d}"


def bare_ids(n: int) -> tuple[str, str]:
    return f"ev-b-{n:08d}", f"or-b-{n:08d}"


def pool_phone(n: int) -> str:
    return f"+86137{n:08d}"  # neither (a)'s app (138) nor bare (139) range


def nightly_phone(n: int) -> str:
    return f"+86136{n:08d}"


# --- (d) one event -------------------------------------------------------------------------------
@dataclass
class EventFigures:
    template: list[Request]
    app_ms: list[float] = field(default_factory=list)
    bare_ms: list[float] = field(default_factory=list)
    bare_call_ms: list[list[float]] = field(default_factory=list)
    bare_units: list[list[float]] = field(default_factory=list)
    #: measured app events whose answer reported a stage or tier change (should be none)
    changed: int = 0
    read: list[float] = field(default_factory=list)
    write: list[float] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    in_ddb_ms: list[float] = field(default_factory=list)
    metered_ms: list[float] = field(default_factory=list)
    by_index: list[dict[str, float]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _set_standing_version(requests: list[dict[str, Any]], version: int) -> None:
    """In the replayed TransactWriteItems, write the standing as version ``version + 1``
    on the condition that it is at ``version`` (what PynamoDB's VersionAttribute sends)."""
    for params in requests:
        for action in params.get("TransactItems", []):
            put = action.get("Put")
            if not put or put["Item"].get("sk", {}).get("S") != "STANDING":
                continue
            name = next((k for k, v in put.get("ExpressionAttributeNames", {}).items() if v == "version"), None)
            match = re.search(rf"{re.escape(name)} = (:\w+)", put.get("ConditionExpression", "")) if name else None
            if match is None:
                raise RuntimeError("the standing Put has no `version = :v` condition any more; "
                                   "update bench/events.py")
            put["Item"]["version"] = {"N": str(version + 1)}
            put["ExpressionAttributeValues"][match.group(1)] = {"N": str(version)}
            return
    raise RuntimeError("the event's TransactWriteItems no longer writes the standing; update bench/events.py")


def _standing_version(ddb: Any, table_name: str, tenant_id: str, member_id: str) -> int:
    from chalicelib.core.table import keys
    from chalicelib.tiers.store import STANDING_SK

    item = ddb.get_item(TableName=table_name, ConsistentRead=True,
                        Key={"pk": {"S": keys.member(tenant_id, member_id)}, "sk": {"S": STANDING_SK}})["Item"]
    return int(item["version"]["N"])


def run_event(api: App, app_ddb: Any, bare_ddb: Any, table_name: str) -> EventFigures:
    from chalicelib.core.jobs.dispatch import dispatcher
    from chalicelib.core.table.capacity import metered

    api.put_tier_program(TIER_PROGRAM)
    dispatcher().drain()  # the program's re-evaluation job (no standings yet)

    app_pool = [api.create(member_body(pool_phone(n)))[1] for n in range(POOL)]
    bare_pool = [api.create(member_body(pool_phone(POOL + n)))[1] for n in range(POOL)]
    primes = [order_paid(f"ev-p-{k:08d}", f"or-p-{k:08d}", member_id=m)
              for k, m in enumerate(m for m in app_pool + bare_pool for _ in range(PRIME_ORDERS))]
    for start in range(0, len(primes), BATCH):
        chunk = primes[start:start + BATCH]
        api.events(json.dumps({"events": chunk}), expected=len(chunk))
    versions = {m: _standing_version(bare_ddb, table_name, api.tenant_id, m) for m in bare_pool}

    next_app, next_bare = 0, 0

    def app_body(i: int) -> str:
        nonlocal next_app
        event_id, order_id = app_ids(next_app)
        next_app += 1
        return json.dumps(order_paid(event_id, order_id, member_id=app_pool[i % POOL]))

    capture_event_id, capture_order_id = app_ids(next_app)
    capture_member = app_pool[0]
    with captured(app_ddb) as calls:
        _, results = api.events(app_body(0))
    fig = EventFigures(calls)
    made = [name for name, _ in calls]
    if made != EVENT_CALLS:
        fig.warnings.append(f"order.paid: the app now makes {made}; this bench was written for {EVENT_CALLS}. "
                            "The bare side replays the app's calls as captured.")
    if results[0]["changes"]:
        fig.warnings.append(f"order.paid: the captured event changed {results[0]['changes']}; the bare side "
                            "replays that shape.")
    bare = Bare(bare_ddb, calls)

    def bare_requests(i: int) -> tuple[str, list[dict[str, Any]]]:
        nonlocal next_bare
        member = bare_pool[i % POOL]
        event_id, order_id = bare_ids(next_bare)
        next_bare += 1
        requests = bare.build({capture_member: member, capture_event_id: event_id, capture_order_id: order_id})
        _set_standing_version(requests, versions[member])
        return member, requests

    progress(f"order.paid: {EVENT_WARMUP} warm-up + {EVENT_ITERATIONS} measured, app and bare")
    for i in range(1, 1 + EVENT_WARMUP + EVENT_ITERATIONS):
        body = app_body(i)
        member, requests = bare_requests(i)
        if i % 2:
            result = bare.run(requests)
            app_ms, answer = api.events(body)
        else:
            app_ms, answer = api.events(body)
            result = bare.run(requests)
        versions[member] += 1
        if i > EVENT_WARMUP:
            fig.app_ms.append(app_ms)
            fig.bare_ms.append(result.total_ms)
            fig.bare_call_ms.append(result.call_ms)
            fig.bare_units.append(result.units)
            fig.changed += bool(answer[0]["changes"])

    progress(f"order.paid capacity: {EVENT_CAPACITY_OPS} events through the app, metered")
    with InAppTimer(app_ddb) as timer:
        for i in range(EVENT_CAPACITY_OPS):
            body = app_body(i)
            before = timer.spent_ms
            with metered(app_ddb) as usage:
                ms, _ = api.events(body)
            fig.read.append(usage.read)
            fig.write.append(usage.write)
            fig.calls.update(usage.calls)
            fig.in_ddb_ms.append(timer.spent_ms - before)
            fig.metered_ms.append(ms)
    member, requests = bare_requests(0)
    fig.by_index = by_index(bare, requests)
    versions[member] += 1
    return fig


# --- (e) the nightly pass ----------------------------------------------------------------------------
@dataclass
class PassFigures:
    label: str
    seconds: float
    processed: int
    changed: int
    runs: int
    read: float
    write: float
    calls: dict[str, int]
    in_ddb_s: float
    #: seconds inside DynamoDB calls, per operation
    by_op_s: dict[str, float]


@dataclass
class NightlyFigures:
    members: int
    setup_s: float = 0.0
    setup_read: float = 0.0
    setup_write: float = 0.0
    setup_calls: dict[str, int] = field(default_factory=dict)
    setup_in_ddb_s: float = 0.0
    #: one pass per worker count, each over its own tenant holding the same generated data
    passes: list[PassFigures] = field(default_factory=list)


#: the nightly pass's parallel workers measured (a tenant's ranges are its 16 standings shards)
NIGHTLY_WORKERS = (1, 4, 16)
#: the concurrency the extrapolation assumes in AWS: one Lambda per range of the tenant
AWS_RANGES = 16
#: run_job's memory (infra APP_FUNCTIONS) for the Lambda part of the cost per million
RUN_JOB_GB = 1.0


def run_nightly_bench(client: Any, admin_token: str, app_ddb: Any) -> NightlyFigures:
    """The same members and orders in one tenant per worker count (every member changes in
    each pass: its first RFM score), then that tenant's nightly pass drained on N threads."""
    from chalicelib.core import clock, jobs
    from chalicelib.core.jobs.dispatch import dispatcher
    from chalicelib.core.table.capacity import metered
    from chalicelib.tiers.service import run_nightly

    fig = NightlyFigures(NIGHTLY_MEMBERS)
    now = clock.now()
    tenant_ids = []
    started = time.perf_counter()
    with InAppTimer(app_ddb) as timer, metered(app_ddb) as usage:
        for workers in NIGHTLY_WORKERS:
            api = App(client)
            api.create_tenant(admin_token, name=f"Bench Nightly x{workers}")
            api.put_tier_program(TIER_PROGRAM)
            dispatcher().drain()
            tenant_ids.append(api.tenant_id)
            progress(f"nightly setup ({workers} workers): {NIGHTLY_MEMBERS} members, one order.paid event each, "
                     f"in batches of {BATCH}")
            for start in range(0, NIGHTLY_MEMBERS, BATCH):
                batch = []
                for n in range(start, min(start + BATCH, NIGHTLY_MEMBERS)):
                    occurred = now - timedelta(days=SPREAD_DAYS * n / NIGHTLY_MEMBERS)
                    batch.append(order_paid(f"ev-n-{n:08d}", f"or-n-{n:08d}", amount=AMOUNT + (n * 7919) % 150_000,
                                            phone=nightly_phone(n), occurred_at=clock.iso(occurred)))
                api.events(json.dumps({"events": batch}), expected=len(batch))
    made = len(NIGHTLY_WORKERS)
    fig.setup_s = (time.perf_counter() - started) / made
    fig.setup_read, fig.setup_write = usage.read / made, usage.write / made
    fig.setup_calls = {k: v // made for k, v in usage.calls.items()}
    fig.setup_in_ddb_s = timer.spent_ms / 1000 / made

    for workers, tenant_id in zip(NIGHTLY_WORKERS, tenant_ids, strict=True):
        label = f"{workers} worker{'s' if workers > 1 else ''}"
        progress(f"nightly pass, {label}: run_nightly(tenant) + drain on {workers} thread(s)")
        t0 = time.perf_counter()
        with InAppTimer(app_ddb) as timer, metered(app_ddb) as usage:
            job_id = run_nightly(tenant_ids=[tenant_id])
            runs = dispatcher().drain(workers=workers)
        seconds = time.perf_counter() - t0
        job = jobs.get_job(None, job_id)
        if job is None or job.status != "succeeded":
            raise RuntimeError(f"the nightly job {job_id} ended {job and job.status}: {job and job.error}")
        fig.passes.append(PassFigures(label, seconds, int(job.progress.get("processed", 0)),
                                      int(job.progress.get("changed", 0)), runs, usage.read, usage.write,
                                      dict(usage.calls), timer.spent_ms / 1000,
                                      {op: ms / 1000 for op, ms in timer.by_op.items()}))
    return fig


# --- output --------------------------------------------------------------------------------------------
def _calls_text(calls: dict[str, int], n: float, order: list[str] | None = None) -> str:
    rank = {name: i for i, name in reversed(list(enumerate(order or [])))}
    parts = []
    for name, count in sorted(calls.items(), key=lambda kv: (rank.get(kv[0], len(rank)), -kv[1], kv[0])):
        per = count / n
        parts.append(f"{name} x{per:g}" if per == int(per) else f"{name} x{per:.2f}")
    return ", ".join(parts)


def print_event(fig: EventFigures) -> None:
    print(heading("(d) One order.paid event: through the app vs the bare DynamoDB calls it needs"))
    print(f"  {EVENT_ITERATIONS} measured after {EVENT_WARMUP} warm-up per side, app and bare interleaved "
          "(alternating\n  which goes first), same DynamoDB Local and table as (a). Tenant currency CNY, "
          "tier program of\n  two tiers (thresholds 100000 and 500000 fen), evaluated on every event.\n"
          "  app  = POST /v1/events with one event {type order.paid, event_id, member {id}, order_id,\n"
          f"         amount {AMOUNT}, currency CNY}}, new event_id and order_id each time, for {POOL} existing\n"
          f"         members round-robin, each primed with {PRIME_ORDERS} orders first (stage loyal): "
          "so each event is the\n         steady state, a member with a standing whose stage and tier do not "
          "move.\n"
          "  bare = the app's requests for one such event (captured), replayed with a plain boto3 client\n"
          f"         for a bench-only member of its own pool of {POOL} (made and primed the same way) whose\n"
          "         standing version the bench tracks: the reads as captured (so the new event_id's claim\n"
          "         lookup misses as the app's does), the TransactWriteItems with the same actions, shapes\n"
          "         and conditions, under a new event_id and order_id (same lengths) and the tracked version.\n")
    a, b = fig.app_ms, fig.bare_ms
    rows = [["order.paid", "app", str(len(fig.template)), fmt(median(a)), fmt(p90(a)), "", ""],
            ["", "bare", str(len(fig.template)), fmt(median(b)), fmt(p90(b)), ratio(median(a), median(b)),
             fmt(median(a) - median(b))]]
    print(table(["operation", "side", "DDB calls", "median ms", "p90 ms", "app/bare (medians)", "app - bare ms"],
                rows, align="llrrrrr"))
    if fig.changed:
        print(f"\n  {fig.changed} of the {EVENT_ITERATIONS} measured app events changed a stage or tier "
              "(more writes than replayed).")
    for warning in fig.warnings:
        print(f"\n  WARNING {warning}")
    print("\n  Bare calls one by one:\n")
    rows = []
    total = median(fig.bare_ms)
    for k, (name, params) in enumerate(fig.template):
        ms = [c[k] for c in fig.bare_call_ms]
        first, *more = describe(name, params)
        rows.append([first, fmt(median(ms)), fmt(p90(ms)), f"{100 * median(ms) / total:.0f}%",
                     fmt(median([u[k] for u in fig.bare_units]), 1)])
        rows += [[line, "", "", "", ""] for line in more]
    print(table(["bare DynamoDB call", "median ms", "p90 ms", "of bare median", "CU reported"], rows,
                align="lrrrr"))

    print(f"\n  Capacity, {EVENT_CAPACITY_OPS} more events through the app, metered "
          "(chalicelib.core.table.capacity.metered):\n")
    n = len(fig.read)
    bare_cu = median([sum(u) for u in fig.bare_units])
    rows = [["order.paid", _calls_text(fig.calls, n, [name for name, _ in fig.template]), fmt(median(fig.read), 1),
             fmt(median(fig.write), 1), fmt(median(fig.read) + median(fig.write), 1), fmt(bare_cu, 1),
             fmt(median(fig.in_ddb_ms)), fmt(median(fig.metered_ms))]]
    print(table(["operation", "DynamoDB calls per event (mean)", "RCU", "WCU", "total CU", "bare CU",
                 "in DDB calls ms", "request ms"], rows, align="llrrrrrr"))
    print("\n  Columns as in (c): medians per event; INCLUDES the API-key GetItem of the request.")
    print("\n  Where the units go, per call (one bare replay with ReturnConsumedCapacity=INDEXES):\n")
    rows, notes = unit_rows(fig.template, fig.by_index)
    print(table(["DynamoDB call", "CU", "table + indexes"], rows, align="lrl"))
    for note in notes:
        print(f"\n  Note: {note}")


def print_nightly(fig: NightlyFigures) -> None:
    from .journeys import DYNAMODB_PER_RRU, DYNAMODB_PER_WRU, LAMBDA_PER_GB_SECOND, LAMBDA_PER_REQUEST

    print(heading("(e) Nightly pass: members per second at 1, 4 and 16 workers, and 1,000,000 members"))
    n = fig.members
    print(f"  Setup, once per worker count: a tenant (CNY, same tier program) gets {n:,} members, each made by one\n"
          f"  order.paid event naming a new phone, POST /v1/events in batches of {BATCH}; amounts "
          f"{AMOUNT / 100:.2f}-{(AMOUNT + 149_999) / 100:.2f} CNY,\n  occurred_at spread over the last "
          f"{SPREAD_DAYS} days. Per tenant that took {fig.setup_s:.1f} s: {1000 * fig.setup_s / n:.2f} ms per event "
          f"({100 * fig.setup_in_ddb_s / max(fig.setup_s, 1e-9):.0f}% inside DynamoDB calls),\n  per event "
          f"RCU {fig.setup_read / n:.2f}, WCU {fig.setup_write / n:.2f}, calls {_calls_text(fig.setup_calls, n)}.\n")
    print("  Then `run_nightly(tenant_ids=[that tenant])` + dispatcher().drain(workers=N): the pass computes the\n"
          "  tenant's RFM cut-offs (one sample), then fans out one child job per standings shard (16 ranges),\n"
          "  which N threads run in parallel against the one DynamoDB Local (a JVM on this machine's cores).\n"
          "  Every member changes in each pass (its first RFM score), as in the 191 members/s figure.\n")
    rows = []
    base = fig.passes[0].processed / fig.passes[0].seconds if fig.passes else 0.0
    for p in fig.passes:
        per = max(p.processed, 1)
        rate = p.processed / p.seconds
        metered = bool(p.calls)  # worker threads use their own botocore clients: not metered
        rows.append([p.label, f"{p.processed:,}", f"{p.changed:,}", fmt(p.seconds), f"{rate:,.0f}",
                     f"{rate / base:.2f}x" if base else "-", f"{100 * p.in_ddb_s / p.seconds:.0f}%",
                     fmt(sum(p.calls.values()) / per) if metered else "-",
                     fmt(p.read / per) if metered else "-", fmt(p.write / per) if metered else "-"])
    print(table(["pass", "members evaluated", "changed", "seconds", "members/s", "speed-up", "in DDB calls",
                 "calls/member", "RCU/member", "WCU/member"], rows))
    print("\n  in DDB calls: time inside DynamoDB calls summed over the threads, against the pass's wall time.\n"
          "  calls and units are metered on this thread's client only: '-' for the passes on worker threads\n"
          "  (the work per member is the same code; see the 1-worker row).")
    print("\n  speed-up: members/s against the 1-worker pass, measured in this run. The workers share this\n"
          "  machine's cores with DynamoDB Local and the interpreter lock, so the figure is a floor: in AWS each\n"
          "  range is its own Lambda, and DynamoDB serves the 16 standings partitions independently.")
    if fig.passes:
        one = fig.passes[0]
        per_worker = one.processed / one.seconds
        aws_rate = per_worker * AWS_RANGES
        rru = one.read / max(one.processed, 1)
        wru = one.write / max(one.processed, 1)
        ddb = 1_000_000 * (rru * DYNAMODB_PER_RRU + wru * DYNAMODB_PER_WRU)
        worker_s = 1_000_000 / per_worker
        lam = worker_s * RUN_JOB_GB * LAMBDA_PER_GB_SECOND + (1_000_000 / 100) * LAMBDA_PER_REQUEST
        print(f"\n  Extrapolated to 1,000,000 members in AWS: {AWS_RANGES} ranges on {AWS_RANGES} Lambdas at this\n"
              f"  run's 1-worker rate ({per_worker:,.0f} members/s each) = {aws_rate:,.0f} members/s: "
              f"{1_000_000 / aws_rate / 60:.1f} min (target < 15 min; one worker alone: {worker_s / 60:.0f} min).\n"
              f"  Cost per million members re-evaluated: DynamoDB ${ddb:.2f} ({rru:.2f} RRU + {wru:.2f} WRU per "
              f"member, on-demand),\n  Lambda ${lam:.2f} ({RUN_JOB_GB:g} GB x {worker_s:,.0f} s of run_job, an invoke "
              f"per 100-member page at most): ${ddb + lam:.2f} in all.")
    print("\n  DynamoDB calls per member evaluated (mean; includes the jobs' own reads and writes, the RFM\n"
          "  cut-off sample and the tenant listing), and each operation's share of the pass's time:")
    for p in fig.passes[:1]:
        shares = ", ".join(f"{op} {100 * s / p.seconds:.0f}%"
                           for op, s in sorted(p.by_op_s.items(), key=lambda kv: -kv[1]) if s / p.seconds >= 0.005)
        print(f"    {p.label}: {_calls_text(p.calls, max(p.processed, 1))}\n      time: {shares}")
