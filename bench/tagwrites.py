"""(g) Tag writes per second: ``PUT /v1/members/{id}/tags/{tag_id}`` through the app, one
after the other, each a fresh tag application, vs the bare DynamoDB calls it needs.

A tenant of its own: one template member made through the API (one order.paid event, so
it has a standing, stage ``new_buyer``; no tags), cloned (``bench/seed.py``) into enough
members that every write below goes to a member of its own. A ``multi`` tag group with one
tag C. Every write gives one member its first tag (no TAGSET item yet).

The bare side replays the DynamoDB requests the app made for one such write (captured), for
another member in the same state (only the member id changes; shard numbers derived from
the captured member id stay as captured, see ``bench/dynamo.py``), so it writes the same
TAGSET (condition: it does not exist yet), tag-index item and counter moves, and reads what
the app reads back to answer with the member's tags.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .api import App
from .dynamo import Bare, InAppTimer, Request, by_index, captured
from .report import fmt, heading, median, p90, progress, ratio, table
from .seed import SeedFigures, Variant, Writer, make_template, seed_members
from .shapes import describe, unit_rows

WRITES = 500
WARMUP = 20
CAPACITY_OPS = 25


@dataclass
class TagWriteFigures:
    template: list[Request]
    members: int = 0
    seed: SeedFigures = field(default_factory=SeedFigures)
    app_ms: list[float] = field(default_factory=list)
    bare_ms: list[float] = field(default_factory=list)
    bare_call_ms: list[list[float]] = field(default_factory=list)
    bare_units: list[list[float]] = field(default_factory=list)
    read: list[float] = field(default_factory=list)
    write: list[float] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    in_ddb_ms: list[float] = field(default_factory=list)
    metered_ms: list[float] = field(default_factory=list)
    by_op_ms: Counter[str] = field(default_factory=Counter)
    by_index: list[dict[str, float]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def run_tag_writes(client: Any, admin_token: str, app_ddb: Any, bare_ddb: Any, table_name: str,
                   writer: Writer) -> TagWriteFigures:
    from chalicelib.core import clock
    from chalicelib.core.table.capacity import metered

    api = App(client)
    api.create_tenant(admin_token, name="Bench Tag Writes")
    _, group = api.call("post", "/v1/tag-groups", {"name": "Bench writes", "selection": "multi"}, expected=201)
    _, tag = api.call("post", f"/v1/tag-groups/{group['id']}/tags", {"name": "bench-c"}, expected=201)
    template, shape = make_template(api, app_ddb, bare_ddb, table_name, Variant(1, ()), {}, phone="+8613300000000",
                                    label="w")
    if shape is None:
        raise RuntimeError("the template member moved no counter; update bench/tagwrites.py")
    need = 2 + 2 * (WARMUP + WRITES) + CAPACITY_OPS + 1
    progress(f"tag writes setup: a tenant of {need + 1:,} members (1 through the API, the rest cloned)")
    now = clock.iso(clock.now())
    seed = SeedFigures()
    ids = iter(seed_members(writer, bare_ddb, shape, need, lambda n: template, lambda n: f"+86133{n + 1:08d}",
                            lambda n: now, seed))

    def put(member_id: str) -> float:
        ms, _ = api.call("put", f"/v1/members/{member_id}/tags/{tag['id']}", {})
        return ms

    put(next(ids))  # the key's once-a-minute last_used_at and the cached reads: not captured
    captured_member = next(ids)
    with captured(app_ddb) as calls:
        put(captured_member)
    fig = TagWriteFigures(calls, members=need + 1, seed=seed)
    bare = Bare(bare_ddb, calls)

    progress(f"tag writes: {WARMUP} warm-up + {WRITES} measured PUT .../tags/{{tag_id}}, app and bare")
    for i in range(WARMUP + WRITES):
        app_member, bare_member = next(ids), next(ids)
        requests = bare.build({captured_member: bare_member})
        if i % 2:
            result = bare.run(requests)
            app_ms = put(app_member)
        else:
            app_ms = put(app_member)
            result = bare.run(requests)
        if i >= WARMUP:
            fig.app_ms.append(app_ms)
            fig.bare_ms.append(result.total_ms)
            fig.bare_call_ms.append(result.call_ms)
            fig.bare_units.append(result.units)

    progress(f"tag writes capacity: {CAPACITY_OPS} through the app, metered")
    with InAppTimer(app_ddb) as timer:
        for _ in range(CAPACITY_OPS):
            before, ops_before = timer.spent_ms, dict(timer.by_op)
            with metered(app_ddb) as usage:
                ms = put(next(ids))
            fig.read.append(usage.read)
            fig.write.append(usage.write)
            fig.calls.update(usage.calls)
            fig.in_ddb_ms.append(timer.spent_ms - before)
            fig.metered_ms.append(ms)
            for op, spent in timer.by_op.items():
                fig.by_op_ms[op] += spent - ops_before.get(op, 0.0)
    fig.by_index = by_index(bare, bare.build({captured_member: next(ids)}))
    return fig


def _write_index(template: list[Request]) -> int:
    """Index of the TransactWriteItems: calls after it read the answer back."""
    return next((k for k, (name, _) in enumerate(template) if name == "TransactWriteItems"), len(template) - 1)


def print_tag_writes(fig: TagWriteFigures) -> None:
    print(heading("(g) Tag writes per second: PUT /v1/members/{id}/tags/{tag_id}, app vs bare"))
    s = fig.seed
    print(f"  A tenant of {fig.members:,} members: 1 made through the API (one order.paid: a standing, stage "
          f"new_buyer;\n  no tags), {s.members:,} cloned from it ({s.items:,} items, {s.seconds:.1f} s). "
          "A multi-choice group with one tag C.\n"
          f"  {WRITES} measured after {WARMUP} warm-up per side, one after the other, app and bare interleaved "
          "(alternating\n  which goes first); every write gives a member of its own its first tag (no TAGSET yet).\n"
          "  app  = PUT /v1/members/{id}/tags/{C} with body {} (answers 200 with the member's tags).\n"
          "  bare = the app's DynamoDB requests for one such write (captured), replayed with a plain boto3\n"
          "         client for another member in the same state (only the member id differs).\n")
    a, b = fig.app_ms, fig.bare_ms
    n = len(fig.template)
    rows = [["app", str(n), f"{1000 * len(a) / sum(a):,.1f}", fmt(median(a)), fmt(p90(a)), "", ""],
            ["bare", str(n), f"{1000 * len(b) / sum(b):,.1f}", fmt(median(b)), fmt(p90(b)),
             ratio(median(a), median(b)), fmt(median(a) - median(b))]]
    print(table(["side", "DDB calls", "writes/s (sequential)", "median ms", "p90 ms", "app/bare (medians)",
                 "app - bare ms"], rows, align="lrrrrrr"))
    print(f"\n  writes/s: {WRITES} / the sum of their times (one client, one write at a time); "
          f"writes/s app / bare: {ratio(sum(b), sum(a))}.")
    for warning in fig.warnings:
        print(f"\n  WARNING {warning}")

    cut = _write_index(fig.template)
    total = median(fig.bare_ms)
    print("\n  Bare calls one by one (after the TransactWriteItems: reading the member's tags back for the answer):\n")
    rows = []
    for k, (name, params) in enumerate(fig.template):
        ms = [c[k] for c in fig.bare_call_ms]
        first, *more = describe(name, params)
        rows.append([first, fmt(median(ms)), fmt(p90(ms)), f"{100 * median(ms) / total:.0f}%",
                     fmt(median([u[k] for u in fig.bare_units]), 1)])
        rows += [[line, "", "", "", ""] for line in more]
    print(table(["bare DynamoDB call", "median ms", "p90 ms", "of bare median", "CU reported"], rows, align="lrrrr"))
    before = sum(median([c[k] for c in fig.bare_call_ms]) for k in range(cut + 1))
    after = sum(median([c[k] for c in fig.bare_call_ms]) for k in range(cut + 1, n))
    print(f"\n  Up to and including the write: {cut + 1} calls, {fmt(before)} ms; the read-back after it: "
          f"{n - cut - 1} calls, {fmt(after)} ms (sums of per-call medians).")

    m = len(fig.read)
    print(f"\n  Capacity, {CAPACITY_OPS} more writes through the app, metered (capacity.metered):\n")
    calls = ", ".join(f"{op} x{c / m:g}" for op, c in sorted(fig.calls.items(), key=lambda kv: (-kv[1], kv[0])))
    rows = [["tag write", calls, fmt(median(fig.read), 1), fmt(median(fig.write), 1),
             fmt(median(fig.read) + median(fig.write), 1), fmt(median([sum(u) for u in fig.bare_units]), 1),
             fmt(median(fig.in_ddb_ms)), fmt(median(fig.metered_ms))]]
    print(table(["operation", "DynamoDB calls per write (mean)", "RCU", "WCU", "total CU", "bare CU",
                 "in DDB calls ms", "request ms"], rows, align="llrrrrrr"))
    spent = sum(fig.metered_ms)
    shares = ", ".join(f"{op} {100 * v / spent:.0f}%" for op, v in fig.by_op_ms.most_common() if v / spent >= 0.01)
    print(f"\n  Columns as in (c). Share of the request time by DynamoDB operation: {shares}.")
    print("\n  Where the units go, per call (one bare replay with ReturnConsumedCapacity=INDEXES):\n")
    rows, notes = unit_rows(fig.template, fig.by_index)
    print(table(["DynamoDB call", "CU", "table + indexes"], rows, align="lrl"))
    for note in notes:
        print(f"\n  Note: {note}")
