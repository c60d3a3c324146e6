"""(m) Imports on S3: rows per second of a members CSV import and of an orders JSON Lines
import, the whole way (file PUT to gofakes3 by its presigned URL, start, the job's pages on
the bench's thread: ranged GETs, rows applied through the members and activity services),
and what that rate means for 1 million members and 5 million orders.

``BENCH_TRANSFERS_ROWS`` (default 100,000: the issue's run) sets the members file's rows;
the orders file has as many orders (2 per member of the first half). 1% of the member rows
are bad and must be reported, so the figure includes error handling. The job runs with the
app's settings (``ENCLAVE_IMPORT_PAGE_ROWS``, ``ENCLAVE_IMPORT_WORKERS``).
"""
from __future__ import annotations

import csv
import io
import json
import os
import time
from dataclasses import dataclass
from typing import Any

import requests

from devstack import dynamodb_local, s3_server

from .api import App
from .report import fmt, heading, progress, table


@dataclass
class TransferFigures:
    members_rows: int
    members_seconds: float
    members_failed: int
    orders_rows: int
    orders_seconds: float
    orders_failed: int
    workers: int
    page_rows: int


def _members_file(n: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["phone", "name", "email", "birthday"])
    for i in range(1, n + 1):
        phone = "not-a-phone" if i % 100 == 0 else f"+86150{i:08d}"
        writer.writerow([phone, f"Member {i}", f"m{i}@example.com" if i % 3 == 0 else "", "1990-05-17"])
    return out.getvalue().encode()


def _orders_file(n: int) -> bytes:
    lines = []
    for i in range(n):
        member = 1 + (i // 2) if (i // 2) % 100 != 99 else 1  # the bad phones' rows go to member 1
        lines.append(json.dumps({"order_id": f"bench-{i}", "member": {"phone": f"+86150{member:08d}"},
                                 "amount": 10_000 + i % 5_000, "currency": "CNY",
                                 "occurred_at": "2026-06-18T12:00:00Z"}))
    return ("\n".join(lines) + "\n").encode()


def _import(api: App, drain: Any, kind: str, fmt_: str, body: bytes) -> tuple[float, dict[str, Any]]:
    _, created = api.call("POST", "/v1/imports", {"kind": kind, "format": fmt_}, expected=201)
    put = requests.put(created["upload"]["url"], data=body, headers=created["upload"]["headers"], timeout=300)
    if put.status_code != 200:
        raise RuntimeError(f"PUT of the {kind} file answered {put.status_code}: {put.text[:300]}")
    t0 = time.perf_counter()
    api.call("POST", f"/v1/imports/{created['id']}/start", expected=202)
    drain()
    elapsed = time.perf_counter() - t0
    _, done = api.call("GET", f"/v1/imports/{created['id']}")
    if done["status"] != "succeeded":
        raise RuntimeError(f"the {kind} import ended {done['status']}: {done.get('failure')}")
    return elapsed, done


def run_transfers(chalice_client: Any, admin_token: str, work: Any) -> TransferFigures:
    from chalicelib.core.jobs.dispatch import dispatcher
    from chalicelib.integrations.transfers.service import settings

    rows = int(os.environ.get("BENCH_TRANSFERS_ROWS", "100000"))
    s3_server.install()
    proc, endpoint = s3_server.start(dynamodb_local.free_port(), work / "gofakes3.log")
    os.environ.update(s3_server.environment(endpoint))
    try:
        api = App(chalice_client)
        api.create_tenant(admin_token)
        drain = dispatcher().drain  # type: ignore[attr-defined]
        progress(f"(m) imports: a members CSV of {rows:,} rows (1% bad)")
        m_seconds, members = _import(api, drain, "members", "csv", _members_file(rows))
        if members["progress"]["rows_failed"] != rows // 100:
            raise RuntimeError(f"expected {rows // 100} failed member rows: {members['progress']}")
        progress(f"(m) imports: an orders JSON Lines file of {rows:,} orders")
        o_seconds, orders = _import(api, drain, "orders", "jsonl", _orders_file(rows))
        cfg = settings()
        return TransferFigures(rows, m_seconds, members["progress"]["rows_failed"], rows, o_seconds,
                               orders["progress"]["rows_failed"], cfg.workers, cfg.page_rows)
    finally:
        s3_server.stop(proc)


def print_transfers(f: TransferFigures) -> None:
    print(heading("(m) Imports on S3: rows per second (members CSV, orders JSON Lines)"))
    m_rate, o_rate = f.members_rows / f.members_seconds, f.orders_rows / f.orders_seconds
    print(table(["file", "rows", "failed", "seconds", "rows/s", "one job, at this rate"], [
        ["members CSV", f"{f.members_rows:,}", str(f.members_failed), fmt(f.members_seconds, 1), fmt(m_rate, 0),
         f"1M members: {fmt(1_000_000 / m_rate / 3600, 1)} h"],
        ["orders JSONL", f"{f.orders_rows:,}", str(f.orders_failed), fmt(f.orders_seconds, 1), fmt(o_rate, 0),
         f"5M orders: {fmt(5_000_000 / o_rate / 3600, 1)} h"],
    ], align="lrrrrl"))
    print(f"\n  One job, pages of {f.page_rows} rows, {f.workers} rows at a time (ENCLAVE_IMPORT_PAGE_ROWS, "
          "ENCLAVE_IMPORT_WORKERS),\n  against DynamoDB Local sharing this machine's CPUs; in AWS each row's "
          "writes take a few ms\n  on the network instead, and the job re-dispatches itself every Lambda "
          "invocation (15 min).")
