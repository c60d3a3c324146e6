"""(m) Imports on S3: rows per second of a members CSV import and of an orders JSON Lines
import, the whole way (file PUT to gofakes3 by its presigned URL, start, the cut into byte
ranges, one child job per range drained on a thread pool as Lambdas would run them, ranged
GETs, rows applied through the members and activity services), with 1, 4 and 16 ranges;
the DynamoDB calls and capacity units a row costs; and what that means for 1 million
members and 5 million orders at the AWS concurrency configured.

``BENCH_TRANSFERS_ROWS`` (default 20,000; the issue's 100,000-row run is ``=100000``) sets
the members file's rows; the orders file has as many orders (2 per member of the first
half). 1% of the member rows are bad and must be reported, so the figure includes error
handling. ``BENCH_TRANSFERS_RANGES`` (default ``1,4,16``) the range counts to run,
``BENCH_TRANSFERS_KINDS`` (default ``members,orders``) the files. Each run
uses a fresh tenant, so every row is applied (nothing is a re-run).
"""
from __future__ import annotations

import csv
import io
import json
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import requests

from devstack import dynamodb_local, s3_server
from chalicelib.core.table.definition import AUDIT_SHARDS, MEMBER_LIST_SHARDS, STANDING_SHARDS

from .api import App
from .dynamo import BotocoreHooks
from .report import fmt, heading, progress, table

WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
#: AWS latency model for the extrapolation (in-region, warm connections): a single-item
#: call and a transaction, milliseconds
AWS_CALL_MS, AWS_TRANSACT_MS = 6.0, 15.0
#: DynamoDB's per-partition write limit: what a tenant-wide GSI list shard takes per second
PARTITION_WCU = 1000
#: rows/s a tenant's hottest shared keys allow: a new member writes one of the 32 members-list
#: shards (GSI1, MEMBER_LIST_SHARDS) and one of the 16 shards of each audit list (the tighter),
#: an order one of the 16 standings shards (GSI1), ~1 WCU each
HOT_KEY_CAP = {"members": min(MEMBER_LIST_SHARDS, AUDIT_SHARDS) * PARTITION_WCU,
               "orders": STANDING_SHARDS * PARTITION_WCU}
#: an on-demand table's default write throughput quota (units/s; raised on request)
TABLE_WCU = 40_000


@dataclass
class Meter(BotocoreHooks):
    """Calls and capacity units of every thread's DynamoDB calls (they share PynamoDB's client)."""

    client: Any
    calls: dict[str, int] = field(default_factory=dict)
    read: float = 0.0
    write: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _before(self, params: dict[str, Any], **kwargs: Any) -> None:
        pass

    def _after(self, parsed: Any = None, model: Any = None, **_: Any) -> None:
        if model is None:
            return
        consumed = (parsed or {}).get("ConsumedCapacity")
        entries = consumed if isinstance(consumed, list) else [consumed] if consumed else []
        units = sum(float(e.get("CapacityUnits", 0.0)) for e in entries)
        with self._lock:
            self.calls[model.name] = self.calls.get(model.name, 0) + 1
            if model.name in WRITES:
                self.write += units
            else:
                self.read += units


@dataclass
class Run:
    kind: str
    ranges: int
    rows: int
    failed: int
    seconds: float
    calls: dict[str, int]
    read_units: float
    write_units: float

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


@dataclass
class TransferFigures:
    runs: list[Run]
    workers: int
    page_rows: int
    max_ranges: int
    job_concurrency: int


def _members_file(n: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["phone", "name", "email", "birthday"])
    for i in range(1, n + 1):
        phone = "not-a-phone" if i % 100 == 0 else f"+86150{i:08d}"
        writer.writerow([phone, f"Member {i}", f"m{i}@example.com" if i % 3 == 0 else "",
                         f"1990-{1 + i % 12:02d}-{1 + i % 28:02d}"])
    return out.getvalue().encode()


def _orders_file(n: int) -> bytes:
    lines = []
    for i in range(n):
        member = 1 + (i // 2) if (i // 2) % 100 != 99 else 1  # the bad phones' rows go to member 1
        lines.append(json.dumps({"order_id": f"bench-{i}", "member": {"phone": f"+86150{member:08d}"},
                                 "amount": 10_000 + i % 5_000, "currency": "CNY",
                                 "occurred_at": "2026-06-18T12:00:00Z"}))
    return ("\n".join(lines) + "\n").encode()


def _import(api: App, kind: str, fmt_: str, body: bytes, ranges: int, meter: Meter) -> tuple[float, dict[str, Any]]:
    from chalicelib.core.jobs.dispatch import dispatcher

    _, created = api.call("POST", "/v1/imports", {"kind": kind, "format": fmt_}, expected=201)
    put = requests.put(created["upload"]["url"], data=body, headers=created["upload"]["headers"], timeout=300)
    if put.status_code != 200:
        raise RuntimeError(f"PUT of the {kind} file answered {put.status_code}: {put.text[:300]}")
    # about len(body) / ranges bytes a range: the file is cut into `ranges` ranges
    os.environ.update(ENCLAVE_IMPORT_RANGE_BYTES=str(max(1024, -(-len(body) // ranges))),
                      ENCLAVE_IMPORT_MAX_RANGES=str(ranges))
    t0 = time.perf_counter()
    with meter:
        api.call("POST", f"/v1/imports/{created['id']}/start", expected=202)
        dispatcher().drain(workers=ranges)  # type: ignore[attr-defined]
    elapsed = time.perf_counter() - t0
    _, done = api.call("GET", f"/v1/imports/{created['id']}")
    if done["status"] != "succeeded":
        raise RuntimeError(f"the {kind} import ended {done['status']}: {done.get('failure')}")
    return elapsed, done


def run_transfers(chalice_client: Any, admin_token: str, work: Any) -> TransferFigures:
    from chalicelib.core.table.model import boto_client
    from chalicelib.integrations.transfers.service import settings
    from infra.stack import JOB_CONCURRENCY

    cfg = settings()  # the app's settings (the runs below set the range size and count)
    rows = int(os.environ.get("BENCH_TRANSFERS_ROWS", "20000"))
    counts = [int(n) for n in os.environ.get("BENCH_TRANSFERS_RANGES", "1,4,16").split(",")]
    kinds = os.environ.get("BENCH_TRANSFERS_KINDS", "members,orders").split(",")
    files = {"members": _members_file(rows), "orders": _orders_file(rows)}
    saved = {k: os.environ.get(k) for k in ("ENCLAVE_IMPORT_RANGE_BYTES", "ENCLAVE_IMPORT_MAX_RANGES")}
    s3_server.install()
    proc, endpoint = s3_server.start(dynamodb_local.free_port(), work / "gofakes3.log")
    os.environ.update(s3_server.environment(endpoint))
    runs: list[Run] = []
    try:
        api = App(chalice_client)
        for ranges in counts:
            api.create_tenant(admin_token)  # a fresh tenant: every row applies
            for kind, fmt_ in (("members", "csv"), ("orders", "jsonl")):
                if kind not in kinds:
                    continue
                progress(f"(m) imports: {rows:,} {kind} ({fmt_}), {ranges} range(s) on {ranges} worker(s)")
                meter = Meter(boto_client())
                seconds, done = _import(api, kind, fmt_, files[kind], ranges, meter)
                failed = done["progress"]["rows_failed"]
                if kind == "members" and failed != rows // 100:
                    raise RuntimeError(f"expected {rows // 100} failed member rows: {done['progress']}")
                runs.append(Run(kind, ranges, rows, failed, seconds, meter.calls, meter.read, meter.write))
        return TransferFigures(runs, cfg.workers, cfg.page_rows, cfg.max_ranges, JOB_CONCURRENCY)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        s3_server.stop(proc)


def _aws_ms_per_row(run: Run) -> float:
    """A row's DynamoDB time in AWS by the latency model (its calls, measured here)."""
    transacts = run.calls.get("TransactWriteItems", 0)
    singles = sum(run.calls.values()) - transacts
    return (singles * AWS_CALL_MS + transacts * AWS_TRANSACT_MS) / run.rows


def print_transfers(f: TransferFigures) -> None:
    print(heading("(m) Imports on S3: rows per second by ranges (child jobs), members CSV and orders JSON Lines"))
    rows = []
    for run in f.runs:
        one = next(r for r in f.runs if r.kind == run.kind and r.ranges == min(x.ranges for x in f.runs))
        calls = sum(run.calls.values()) / run.rows
        rows.append([run.kind, str(run.ranges), f"{run.rows:,}", str(run.failed), fmt(run.seconds, 1),
                     fmt(run.rate, 0), f"{run.rate / one.rate:.2f}x", fmt(calls, 1),
                     fmt(run.read_units / run.rows, 1), fmt(run.write_units / run.rows, 1)])
    print(table(["file", "ranges", "rows", "failed", "seconds", "rows/s", "speed-up", "calls/row", "RCU/row",
                 "WCU/row"], rows))
    concurrency = min(f.max_ranges, f.job_concurrency)
    print(f"\n  Each range is a child job (its own Lambda in AWS), here a thread of the local dispatcher; inside it\n"
          f"  {f.workers} rows at a time (ENCLAVE_IMPORT_WORKERS), pages of {f.page_rows} rows. This machine has 2\n"
          f"  cores shared with DynamoDB Local and gofakes3: the speed-up, not the rate, is the figure here.")
    print(f"\n  In AWS: an import runs up to {concurrency} ranges at once (ENCLAVE_IMPORT_MAX_RANGES={f.max_ranges}, "
          f"run_job's reserved\n  concurrency {f.job_concurrency}). A row's DynamoDB time there, from its calls "
          f"measured above at {AWS_CALL_MS:.0f} ms a call\n  and {AWS_TRANSACT_MS:.0f} ms a transaction, "
          f"{f.workers} rows at a time per range:")
    aws = []
    for kind, total in (("members", 1_000_000), ("orders", 5_000_000)):
        if not any(r.kind == kind for r in f.runs):
            continue  # BENCH_TRANSFERS_KINDS left it out
        run = max((r for r in f.runs if r.kind == kind), key=lambda r: r.ranges)
        per_range = f.workers * 1000 / _aws_ms_per_row(run)
        units = run.write_units / run.rows
        table_cap = TABLE_WCU / units if units else float("inf")
        rate = min(per_range * concurrency, HOT_KEY_CAP[kind], table_cap)
        aws.append([f"{total:,} {kind}", fmt(_aws_ms_per_row(run), 0), fmt(per_range, 0),
                    fmt(per_range * concurrency, 0), f"{HOT_KEY_CAP[kind]:,}", fmt(table_cap, 0), fmt(rate, 0),
                    f"{total / rate / 60:.0f} min", f"{rate * units:,.0f}"])
    print(table(["load", "ms/row", "rows/s a range", f"x{concurrency} ranges", "hot-key cap", "table cap", "rows/s",
                 "time", "WCU/s"], aws))
    print(f"  (table cap: {TABLE_WCU:,} write units/s, an on-demand table's default quota, over the units a row\n"
          "  writes: transactions cost twice, and a new member writes 5 items and their index entries)")
    print(f"\n  Tenant-wide keys a row writes, and the cap they set (a partition takes {PARTITION_WCU:,} WCU/s):\n"
          f"  members: the members list (GSI1 T#<t>#MEMBERS#<n>, {MEMBER_LIST_SHARDS} shards), the audit time\n"
          f"  and actor lists ({AUDIT_SHARDS} shards each: the tighter cap), the members counter (32 shards), the\n"
          "  birthday list of the day (366 keys); orders: the standings list (16 shards), stage/tier/RFM\n"
          "  counters (32 shards), stage tag lists (32 shards), the outbox (128 shards). No single item is\n"
          "  written on every row.")
