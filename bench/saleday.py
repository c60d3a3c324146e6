"""(i) Sale day: one tenant's burst of ``order.paid`` at 5,000 events per simulated second,
metered per DynamoDB partition key per simulated second (issue 14, "Sale day").

The events go through the real app (``POST /v1/events`` over Chalice's test client, so the
API-key lookup each request makes is counted), for a tenant set up as a brand would be on
sale day: a tier program, tag rules (one on every ``order.paid``, two on member
conditions), and an active journey triggered by ``order.paid``. Most events name existing
members (a pool made before the burst, not metered); some name a new phone, so the tenant
creates the member, as it does for a shopper who joins at checkout.

The clock is virtual (``chalicelib.core.clock.set_clock``): it advances 1/5,000 s per event,
so one simulated second holds 5,000 events whatever speed DynamoDB Local manages (the events
of one request share its instant). Load is counted per 0.1 simulated second. Jobs the events
queue are drained after each request and counted in the window they were queued (in AWS they
run within moments, on other Lambdas, against the same partitions).

The meter is a hook on the botocore client PynamoDB uses. It asks for
``ReturnConsumedCapacity=INDEXES`` on every call and attributes what DynamoDB reports to
partition keys: a single-item call's table units to its ``pk``, its index units to the
item's ``gsi1pk``/``gsi2pk``; a multi-item call's units split evenly over its items (the
per-table total is all DynamoDB reports for those). A write to an item that is in an index
is also a write on its index partition (both indexes project ALL), so index keys come from
the written item, from the update, or from a scan of the table after the burst. Read units
are what DynamoDB Local reports (a strongly consistent read of <= 4 KB is 1 unit).
"""
from __future__ import annotations

import json
import os
import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from .dynamo import BotocoreHooks
from .api import TIER_PROGRAM, App, member_body
from .report import heading, progress, table

RATE = 5000
#: events per window: the load is counted per 0.1 simulated second (500 events at 5,000/s)
WINDOW = RATE // 10
WINDOWS_PER_SECOND = RATE // WINDOW
#: events pushed at the full rate: 0.6 simulated s here (see print_saleday for why not 60 s)
EVENTS = int(os.environ.get("SALEDAY_EVENTS", str(6 * WINDOW)))
#: events per POST /v1/events (the API-key lookup is one read per request)
BATCH = int(os.environ.get("SALEDAY_BATCH", "10"))
#: existing members the burst's events name (round-robin); one event in NEW_EVERY names a new phone
POOL = int(os.environ.get("SALEDAY_POOL", "1000"))
NEW_EVERY = 5
WRITE_LIMIT = 500.0
READ_LIMIT = 1500.0
TOP = 10

WRITE_OPS = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
INDEX_ATTRS = {"gsi1": "gsi1pk", "gsi2": "gsi2pk"}
#: keys of the local timer adapter only: in AWS a timer is a Step Functions execution
LOCAL_ONLY = ("#JTIMER#", "PLATFORM#JTIMERS#")

JOURNEY = {
    "name": "Sale-day thank-you",
    "trigger": {"type": "event", "event": {"type": "order.paid"}},
    "start": "wait",
    "steps": [{"id": "wait", "type": "wait", "duration": "P3D", "next": "done"}, {"id": "done", "type": "exit"}],
}


# --- what one DynamoDB call touches (pure) ---------------------------------------------------
@dataclass(frozen=True)
class Touch:
    """One item a call reads or writes: ``role`` "read" or "write"; ``index`` "" for the
    table; ``gsi``: the item's index partition keys known from the request itself."""

    role: str
    pk: str
    sk: str = ""
    index: str = ""
    gsi: tuple[tuple[str, str], ...] = ()


@dataclass
class Call:
    window: int
    op: str
    touches: list[Touch]
    table_units: float
    index_units: dict[str, float] = field(default_factory=dict)


def _s(value: Any) -> str:
    return str(value.get("S", "")) if isinstance(value, dict) else ""


def _item_gsi(item: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple((index, _s(item[attr])) for index, attr in INDEX_ATTRS.items() if _s(item.get(attr)))


def _update_gsi(params: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """Index keys an UpdateExpression SETs (``#n = :v`` with #n naming gsi1pk/gsi2pk)."""
    names = params.get("ExpressionAttributeNames") or {}
    values = params.get("ExpressionAttributeValues") or {}
    expr = params.get("UpdateExpression") or ""
    found = []
    for index, attr in INDEX_ATTRS.items():
        refs = [n for n, v in names.items() if v == attr] + [attr]
        for ref in refs:
            m = re.search(rf"(?<![\w#]){re.escape(ref)}\s*=\s*(:\w+)", expr)
            if m and _s(values.get(m.group(1))):
                found.append((index, _s(values[m.group(1)])))
                break
    return tuple(found)


def _query_key(params: dict[str, Any]) -> str:
    """The partition key value a Query's KeyConditionExpression names."""
    names = params.get("ExpressionAttributeNames") or {}
    values = params.get("ExpressionAttributeValues") or {}
    expr = params.get("KeyConditionExpression") or ""
    index = params.get("IndexName") or ""
    attr = INDEX_ATTRS.get(index.split("-")[-1].lower(), "pk") if index else "pk"
    refs = [n for n, v in names.items() if v == attr or v.endswith("pk")] + [attr]
    for ref in refs:
        m = re.search(rf"(?<![\w#]){re.escape(ref)}\s*=\s*(:\w+)", expr)
        if m:
            return _s(values.get(m.group(1)))
    return "?"


def index_name(name: str) -> str:
    """``gsi1``/``gsi2`` for the table's index names (whatever their prefix)."""
    low = name.lower()
    return next((i for i in INDEX_ATTRS if low.endswith(i)), low)


def touches(op: str, params: dict[str, Any]) -> list[Touch]:
    """The items one call reads or writes, from its API parameters."""
    if op == "GetItem":
        return [Touch("read", _s(params["Key"]["pk"]), _s(params["Key"].get("sk")))]
    if op in ("Query", "Scan"):
        index = index_name(params["IndexName"]) if params.get("IndexName") else ""
        return [Touch("read", _query_key(params) if op == "Query" else "<scan>", "", index)]
    if op == "PutItem":
        item = params["Item"]
        return [Touch("write", _s(item["pk"]), _s(item.get("sk")), "", _item_gsi(item))]
    if op == "UpdateItem":
        return [Touch("write", _s(params["Key"]["pk"]), _s(params["Key"].get("sk")), "", _update_gsi(params))]
    if op == "DeleteItem":
        return [Touch("write", _s(params["Key"]["pk"]), _s(params["Key"].get("sk")))]
    if op == "BatchGetItem":
        return [Touch("read", _s(k["pk"]), _s(k.get("sk")))
                for spec in params["RequestItems"].values() for k in spec["Keys"]]
    if op == "TransactGetItems":
        return [Touch("read", _s(a["Get"]["Key"]["pk"]), _s(a["Get"]["Key"].get("sk")))
                for a in params["TransactItems"]]
    if op == "BatchWriteItem":
        out = []
        for requests in params["RequestItems"].values():
            for r in requests:
                if "PutRequest" in r:
                    item = r["PutRequest"]["Item"]
                    out.append(Touch("write", _s(item["pk"]), _s(item.get("sk")), "", _item_gsi(item)))
                else:
                    key = r["DeleteRequest"]["Key"]
                    out.append(Touch("write", _s(key["pk"]), _s(key.get("sk"))))
        return out
    if op == "TransactWriteItems":
        out = []
        for action in params["TransactItems"]:
            kind, body = next(iter(action.items()))
            if kind == "Put":
                out.append(Touch("write", _s(body["Item"]["pk"]), _s(body["Item"].get("sk")), "",
                                 _item_gsi(body["Item"])))
            elif kind == "Update":
                out.append(Touch("write", _s(body["Key"]["pk"]), _s(body["Key"].get("sk")), "", _update_gsi(body)))
            elif kind == "Delete":
                out.append(Touch("write", _s(body["Key"]["pk"]), _s(body["Key"].get("sk"))))
            else:  # ConditionCheck: a read of the item's partition
                out.append(Touch("read", _s(body["Key"]["pk"]), _s(body["Key"].get("sk"))))
        return out
    return []


def consumed(parsed: dict[str, Any]) -> tuple[float, dict[str, float]]:
    """(table units, {index: units}) from a ReturnConsumedCapacity=INDEXES answer; a
    TOTAL-only answer counts as table units."""
    raw = parsed.get("ConsumedCapacity")
    entries = raw if isinstance(raw, list) else [raw] if raw else []
    table_units, by_index = 0.0, defaultdict[str, float](float)
    for e in entries:
        if "Table" in e:
            table_units += float(e["Table"].get("CapacityUnits", 0.0))
        elif not e.get("GlobalSecondaryIndexes"):
            table_units += float(e.get("CapacityUnits", 0.0))
        for name, part in (e.get("GlobalSecondaryIndexes") or {}).items():
            by_index[index_name(name)] += float(part.get("CapacityUnits", 0.0))
    return table_units, dict(by_index)


# --- per key per window (pure) ---------------------------------------------------------------
@dataclass
class KeyLoad:
    """Units (and item operations) per window of simulated time, for one partition key."""

    units: defaultdict[int, float] = field(default_factory=lambda: defaultdict(float))
    ops: Counter[int] = field(default_factory=Counter)

    def rate(self, windows: int, per_second: int = WINDOWS_PER_SECOND) -> float:
        """Units per simulated second over ``windows`` windows."""
        return sum(self.units.values()) * per_second / windows if windows else 0.0

    def ops_rate(self, windows: int, per_second: int = WINDOWS_PER_SECOND) -> float:
        return sum(self.ops.values()) * per_second / windows if windows else 0.0

    def peak(self, per_second: int = WINDOWS_PER_SECOND) -> float:
        """The busiest window's units, as a rate per simulated second."""
        return max(self.units.values(), default=0.0) * per_second


def partition(index: str, key: str) -> str:
    return f"{index}:{key}" if index else key


def aggregate(calls: Iterable[Call], gsi_of: dict[tuple[str, str], dict[str, str]]
              ) -> tuple[dict[str, KeyLoad], dict[str, KeyLoad]]:
    """(writes, reads): partition key ("gsi1:<key>" for an index's) -> load per window.

    A call's table units split evenly over its items; its index units over the items it
    wrote that are in that index (from this or an earlier request, else ``gsi_of[(pk, sk)]``),
    or onto "<index>:<unknown>" when none is known. A Query's units all go to the key it names."""
    calls = list(calls)
    known_gsi = dict(gsi_of)
    for call in calls:  # an item's index keys, from the requests that wrote it (deleted items too)
        for t in call.touches:
            if t.gsi:
                known_gsi[(t.pk, t.sk)] = dict(t.gsi)
    writes: dict[str, KeyLoad] = defaultdict(KeyLoad)
    reads: dict[str, KeyLoad] = defaultdict(KeyLoad)
    for call in calls:
        if not call.touches:
            continue
        reading = call.op not in WRITE_OPS
        # a read's index units are those of the index it queried: all on the keys it names
        share = (call.table_units + (sum(call.index_units.values()) if reading else 0.0)) / len(call.touches)
        in_index: dict[str, list[str]] = defaultdict(list)
        for t in call.touches:
            target = writes if t.role == "write" else reads
            load = target[partition(t.index, t.pk)]
            load.units[call.window] += share
            load.ops[call.window] += 1
            if t.role != "write":
                continue
            known = dict(t.gsi) or known_gsi.get((t.pk, t.sk), {})
            for index, key in known.items():
                in_index[index].append(key)
                writes[partition(index, key)].ops[call.window] += 1
        for index, units in call.index_units.items():
            if units <= 0 or reading:
                continue
            owners = in_index.get(index) or ["<unknown>"]
            for key in owners:
                writes[partition(index, key)].units[call.window] += units / len(owners)
    return dict(writes), dict(reads)


def top(loads: dict[str, KeyLoad], windows: int, n: int = TOP) -> list[tuple[str, KeyLoad]]:
    return sorted(loads.items(), key=lambda kv: (-kv[1].rate(windows), -kv[1].ops_rate(windows), kv[0]))[:n]


_ULID = re.compile(r"\b[0-9A-HJKMNP-TV-Z]{26}\b")
_HEX = re.compile(r"\b[0-9a-f]{32,64}\b")
_PHONE = re.compile(r"\+\d{8,15}")


def abstract(key: str, tenant_id: str) -> str:
    """``key`` with ids abstracted: ``T#<tenant>#M#<id>``, ``APIKEY#<hash>``."""
    out = key.replace(tenant_id, "<tenant>") if tenant_id else key
    out = _ULID.sub("<id>", out)
    out = _HEX.sub("<hash>", out)
    out = _PHONE.sub("<phone>", out)
    return re.sub(r"\bsd-(?:ev|or)-\d+", "<ext-id>", out)


# --- the meter ---------------------------------------------------------------------------------
class Meter(BotocoreHooks):
    """Records every call the app's DynamoDB client makes, with its window of simulated time."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.window = 0
        self.calls: list[Call] = []
        #: (pk, sk) -> {index: key}, from items seen in answers and requests
        self.gsi_of: dict[tuple[str, str], dict[str, str]] = {}
        self.errors: Counter[str] = Counter()

    def _before(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if model.name in {"GetItem", "Query", "Scan", "PutItem", "UpdateItem", "DeleteItem", "BatchGetItem",
                          "BatchWriteItem", "TransactWriteItems", "TransactGetItems"}:
            params["ReturnConsumedCapacity"] = "INDEXES"
        context["saleday_touches"] = touches(model.name, params)

    def _after(self, http_response: Any, parsed: dict[str, Any], model: Any, context: dict[str, Any],
               **_: Any) -> None:
        found = context.get("saleday_touches")
        if found is None:
            return
        if "Error" in parsed:
            self.errors[f"{model.name}: {parsed['Error'].get('Code')}"] += 1
        table_units, index_units = consumed(parsed)
        self.calls.append(Call(self.window, model.name, found, table_units, index_units))
        items = [parsed["Item"]] if "Item" in parsed else list(parsed.get("Items", []))
        for item in items:
            self.learn(item)

    def learn(self, item: dict[str, Any]) -> None:
        gsi = dict(_item_gsi(item))
        if gsi:
            self.gsi_of[(_s(item.get("pk")), _s(item.get("sk")))] = gsi


# --- the run -----------------------------------------------------------------------------------
@dataclass
class SaleDayFigures:
    tenant_id: str = ""
    events: int = 0
    requests: int = 0
    windows: int = 0
    jobs: int = 0
    new_members: int = 0
    setup_s: float = 0.0
    run_s: float = 0.0
    writes: dict[str, KeyLoad] = field(default_factory=dict)
    reads: dict[str, KeyLoad] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    total_read: float = 0.0
    total_write: float = 0.0
    warnings: list[str] = field(default_factory=list)


def _order(n: int, member: dict[str, str], at: datetime) -> dict[str, Any]:
    return {"type": "order.paid", "event_id": f"sd-ev-{n:08d}", "member": member, "order_id": f"sd-or-{n:08d}",
            "amount": 299_00 + (n % 7) * 1000, "currency": "CNY", "occurred_at": at.strftime("%Y-%m-%dT%H:%M:%SZ")}


def _setup(api: App) -> None:
    from chalicelib.core.jobs.dispatch import dispatcher

    api.put_tier_program(TIER_PROGRAM)
    _, grp = api.call("POST", "/v1/tag-groups", {"name": "Sale day", "selection": "multi"}, expected=201)
    tags = {name: api.call("POST", f"/v1/tag-groups/{grp['id']}/tags", {"name": name}, expected=201)[1]["id"]
            for name in ("Buyer", "Repeat", "Big spender")}
    rules = [("buyers", "Buyer", {"event": {"type": "order.paid"}}),
             ("repeat", "Repeat", {"member": {"metric": "orders", "op": "gte", "value": 3}}),
             ("big", "Big spender", {"member": {"metric": "lifetime_spend", "op": "gte", "value": 100000}})]
    for name, tag, when in rules:
        api.call("POST", "/v1/tag-rules", {"name": name, "tag_id": tags[tag], "when": when}, expected=201)
    _, journey = api.call("POST", "/v1/journeys", JOURNEY, expected=201)
    api.call("POST", f"/v1/journeys/{journey['id']}/activate")
    dispatcher().drain()


def run_saleday(client: Any, admin_token: str, app_ddb: Any, bare_ddb: Any, table_name: str) -> SaleDayFigures:
    from chalicelib.core import clock
    from chalicelib.core.jobs.dispatch import dispatcher

    fig = SaleDayFigures()
    t0 = time.perf_counter()
    api = App(client)
    api.create_tenant(admin_token, name="Bench Sale Day")
    fig.tenant_id = api.tenant_id
    progress(f"sale day: a tenant with a tier program, 3 tag rules, an order.paid journey, {POOL} members")
    _setup(api)
    pool = [api.create(member_body(f"+86133{n:08d}"))[1] for n in range(POOL)]
    dispatcher().drain()
    fig.setup_s = time.perf_counter() - t0

    total = EVENTS
    progress(f"sale day: {total} order.paid at {RATE}/s ({total / RATE:g} simulated s), {BATCH} per request, "
             "metered")
    start = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(minutes=1)
    state = {"n": 0}
    clock.set_clock(lambda: start + timedelta(seconds=state["n"] / RATE))
    t0 = time.perf_counter()
    try:
        with Meter(app_ddb) as meter:
            for first in range(0, total, BATCH):
                state["n"] = first
                meter.window = first // WINDOW
                at = start + timedelta(seconds=first / RATE)
                batch = []
                for n in range(first, min(first + BATCH, total)):
                    if n % NEW_EVERY == NEW_EVERY - 1:
                        member = {"phone": f"+86132{n:08d}"}
                        fig.new_members += 1
                    else:
                        member = {"id": pool[n % len(pool)]}
                    batch.append(_order(n, member, at))
                api.events(json.dumps({"events": batch}), expected=len(batch))
                fig.requests += 1
                fig.events += len(batch)
                fig.jobs += dispatcher().drain()
                if first and first % WINDOW == 0:
                    progress(f"sale day: {first} events, {time.perf_counter() - t0:.0f} s")
    finally:
        clock.set_clock(None)
    fig.run_s = time.perf_counter() - t0
    fig.windows = total // WINDOW  # whole windows only
    meter.calls = [c for c in meter.calls if c.window < fig.windows]
    if meter.errors:
        fig.warnings.append(f"DynamoDB calls answered with an error: {dict(meter.errors)}")

    # index keys of items the burst updated without naming them: from the table as it is now
    progress("sale day: scanning the table for the index keys of items written")
    for page in bare_ddb.get_paginator("scan").paginate(TableName=table_name, ProjectionExpression="pk, sk, gsi1pk, "
                                                                                                   "gsi2pk"):
        for item in page["Items"]:
            meter.learn(item)
    fig.writes, fig.reads = aggregate(meter.calls, meter.gsi_of)
    fig.calls = Counter(c.op for c in meter.calls)
    fig.total_write = sum(c.table_units + sum(c.index_units.values()) for c in meter.calls if c.op in WRITE_OPS)
    fig.total_read = sum(c.table_units + sum(c.index_units.values()) for c in meter.calls if c.op not in WRITE_OPS)
    return fig


# --- output ---------------------------------------------------------------------------------
def _rows(loads: list[tuple[str, KeyLoad]], tenant_id: str, limit: float, windows: int) -> list[list[str]]:
    rows = []
    for key, load in loads:
        per_window = " ".join(f"{load.units.get(w, 0.0):.0f}" for w in range(windows))
        flag = "OVER" if load.rate(windows) > limit else "ok"
        if any(m in key for m in LOCAL_ONLY):
            flag += " (local timer only)"
        rows.append([abstract(key, tenant_id), f"{load.rate(windows):.0f}", f"{load.peak():.0f}",
                     f"{load.ops_rate(windows):.0f}", per_window, flag])
    return rows


def print_saleday(fig: SaleDayFigures) -> None:
    print(heading("(i) Sale day: one tenant, 5,000 order.paid per simulated second, load per partition key"))
    span = fig.windows * WINDOW / RATE
    print(f"  {fig.events} events in {fig.requests} POST /v1/events ({BATCH} per request) through the app, on a\n"
          f"  virtual clock moving 1/{RATE} s per event: {span:g} simulated s at the full {RATE}/s, counted in\n"
          f"  {fig.windows} windows of {WINDOW} events (0.1 s). One event in {NEW_EVERY} names a new phone "
          f"({fig.new_members} members\n"
          f"  created), the others one of {POOL} existing members. Tenant: tier program (2 tiers), tag rules\n"
          "  (Buyer on every order.paid; Repeat: orders >= 3; Big spender: lifetime spend >= 1000.00), an\n"
          f"  active journey triggered by order.paid. Jobs queued and run during the burst: {fig.jobs}.\n"
          f"  Wall time: setup {fig.setup_s:.0f} s, burst {fig.run_s:.0f} s "
          f"({fig.events / max(fig.run_s, 1e-9):.1f} events/s through DynamoDB Local).\n"
          "  Units: capacity units as DynamoDB Local reports them (ReturnConsumedCapacity=INDEXES), per\n"
          "  partition key; a multi-item call's units split evenly over its items; a write to an indexed\n"
          "  item also counts on its index key (gsi1:/gsi2:).\n"
          "  units/s = the key's units over the span / span (the figure against the target); peak = the\n"
          "  busiest 0.1 s window x10; items/s = item operations on the key per second (requests).\n")
    print(f"  Tenant totals: {fig.total_write / span:.0f} write units/s, {fig.total_read / span:.0f} read units/s;\n"
          f"  calls per event: {', '.join(f'{op} {n / fig.events:.2f}' for op, n in fig.calls.most_common())}\n")
    cols = f"units per 0.1 s window (w0..w{fig.windows - 1})"
    for title, loads, limit in (("writes", fig.writes, WRITE_LIMIT), ("reads", fig.reads, READ_LIMIT)):
        print(f"  Top {TOP} partition keys by {title} per simulated second (target <= {limit:.0f}):\n")
        print(table(["partition key", "units/s", "peak", "items/s", cols, "target"],
                    _rows(top(loads, fig.windows), fig.tenant_id, limit, fig.windows), align="lrrrll"))
        over = [k for k, v in loads.items() if v.rate(fig.windows) > limit]
        peaks = [k for k, v in loads.items() if v.peak() > limit]
        verdict = "every key UNDER its limit" if not over else f"{len(over)} keys OVER"
        print(f"\n  {title}: {verdict} ({len(over)} of {len(loads)} keys over {limit:.0f}/s on average over the "
              f"span, {len(peaks)} in their busiest window).\n")
    first = POOL / (RATE * (NEW_EVERY - 1) / NEW_EVERY) * WINDOWS_PER_SECOND
    print(f"  Why {span:g} simulated s stand for 60 (DynamoDB Local runs ~{fig.events / max(fig.run_s, 1e-9):.0f} "
          "events/s here, so 300,000\n"
          "  events would take hours): the events arrive at the true 5,000/s on the virtual clock, and\n"
          "  every event of the same kind makes the same calls on the same tenant-wide keys (sharded keys\n"
          "  by a hash of the member id), so a key's count is linear in the events of that kind: read the\n"
          "  per-window columns, not only the mean. Windows differ by the kind of event they hold: in the\n"
          f"  first {first:.0f} windows every existing member pays for the first time in the burst (enrols in\n"
          "  the journey, gets the Buyer tag): that is a real sale day's shape, where a buyer pays about\n"
          "  once, so for those keys the 'peak' is the figure; later windows repeat members (no new\n"
          "  enrolment or tag) and move tiers more often than real buyers would. What depends on time is\n"
          "  not linear: caches (tenant settings, 30 s of real time per container; the API key, 10 s\n"
          "  of app time; configuration generations, one read per request) and the API key's\n"
          "  once-a-minute last-used write; scaled up from one occurrence they are overstated, never\n"
          "  understated. Longer runs: SALEDAY_EVENTS=<events> (5,000 per simulated second),\n"
          f"  SALEDAY_POOL=<members> (now {POOL}), SALEDAY_BATCH=<events per request> (now {BATCH}).")
    for w in fig.warnings:
        print(f"\n  WARNING {w}")
