"""One page of one byte range of an import: read the next records with a ranged GET (never
the whole object), apply them concurrently, keep the page's per-row errors (row numbers
count from the range's start) and the range's counts, and answer the moved checkpoint.

A page that ran but whose checkpoint was not saved runs again from the same checkpoint: its
rows are idempotent (``rows.py``), and its errors item and the range's counts item are
overwritten with what they held, so nothing is applied or reported twice.

A page is one "request" for the configuration every row reads (tier program, tag rules,
journeys, webhook endpoints, points program: ``core.table.generations``): each generation is
read once per page, not once per row (an order row made 6 such reads of its 12 calls). A
change committed while a page runs is seen from the next page on, as a request sees it.
"""
from __future__ import annotations

import contextvars
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.exceptions import HTTPClientError
from pynamodb.exceptions import PynamoDBConnectionError

from ...core.objects import objects
from ...core.table import generations
from ...core.table.transactions import StaleVersion, TransactionCancelled
from ...core.tenancy import TenantContext
from . import parsing, store
from .rows import Busy, apply_member, apply_order
from .service import settings

#: first read of a page; doubled while no whole record fits, up to MAX_READ
FIRST_READ, MAX_READ = 256 * 1024, 16 * 1024 * 1024
ERRORS_TTL_SECONDS = 30 * 24 * 3600

#: a row that failed for a reason not its own (a lost race, a throttled or timed-out call) is
#: tried again after these pauses (rows are idempotent); then the page fails, and its job
#: fails with the error (a failed range fails the import)
ROW_RETRY_PAUSES = (0.2, 1.0, 3.0)
TRANSIENT = (Busy, StaleVersion, TransactionCancelled, PynamoDBConnectionError, BotoConnectionError, HTTPClientError)

Apply = Callable[[TenantContext, dict[str, Any]], bool]
_APPLY: dict[str, Apply] = {"members": apply_member, "orders": apply_order}


def first_checkpoint(range_no: int, start: int, end: int) -> dict[str, Any]:
    return {"range": range_no, "start": start, "end": end, "offset": start, "row": 0,
            "rows_done": 0, "rows_applied": 0, "rows_failed": 0}


def _read(key: str, offset: int, end: int, page_rows: int, fmt: parsing.Format) -> tuple[list[bytes], int]:
    length = FIRST_READ
    while True:
        data = objects().read(key, offset, min(length, end - offset))
        at_end = offset + len(data) >= end  # the range's end is a record start (or the file's end)
        records, used = parsing.split_records(data, at_end, page_rows, fmt)
        if records or at_end:
            return records, used
        if length >= MAX_READ:
            raise ValueError(f"a record at byte {offset} is longer than {MAX_READ} bytes")
        length *= 2


def _row(item: store.ImportItem, fields: list[str] | None, record: bytes) -> dict[str, Any]:
    if item.format == "csv":
        assert fields is not None
        return parsing.csv_row(record, fields)
    return parsing.jsonl_row(item.kind, record, item.mapping or {})  # type: ignore[arg-type]


def apply_page(tenant_id: str, item: store.ImportItem, params: dict[str, Any], checkpoint: dict[str, Any]
               ) -> tuple[dict[str, Any], bool, int, int]:
    """(the next checkpoint, whether the range is done, rows read, rows applied)."""
    cfg = settings()
    cp = dict(checkpoint)
    records, used = ([], 0) if cp["offset"] >= cp["end"] else _read(  # a CSV of only its header: no rows
        item.object_key, cp["offset"], cp["end"], cfg.page_rows, item.format)  # type: ignore[arg-type]
    ctx = TenantContext(tenant_id=tenant_id, principal_type="job", principal_id=params.get("actor", "import"),
                        permissions=frozenset({"read", "write"}))
    apply = _APPLY[item.kind]

    def one(numbered: tuple[int, bytes]) -> tuple[int, bool | None, list[Any] | None]:
        number, record = numbered
        try:
            row = _row(item, params.get("fields"), record)
            for pause in ROW_RETRY_PAUSES:
                try:
                    return number, apply(ctx, row), None
                except TRANSIENT:
                    time.sleep(pause)
            return number, apply(ctx, row), None
        except parsing.RowError as exc:
            return number, None, [number, exc.field, exc.message]
        except UnicodeDecodeError:
            return number, None, [number, "", "not UTF-8 text"]

    numbered = [(cp["row"] + i + 1, r) for i, r in enumerate(records)]
    rows = [(n, r) for n, r in numbered if r.strip()]  # blank lines are skipped, not counted
    with generations.request_scope(), ThreadPoolExecutor(max_workers=min(cfg.workers, max(1, len(rows)))) as pool:
        # worker threads do not inherit context variables: each row runs in a copy of this one,
        # which shares the page's memo of generation reads
        runs = [(contextvars.copy_context(), r) for r in rows]
        results = list(pool.map(lambda run: run[0].run(one, run[1]), runs))
    errors = [e for _, _, e in results if e is not None]
    applied = sum(1 for _, ok, _ in results if ok)
    expires = int(time.time()) + ERRORS_TTL_SECONDS
    if errors:
        store.put_errors(tenant_id, item.import_id, cp["offset"], errors, expires, range_no=cp["range"])
    cp.update(offset=cp["offset"] + used, row=cp["row"] + len(records), rows_done=cp["rows_done"] + len(rows),
              rows_applied=cp["rows_applied"] + applied, rows_failed=cp["rows_failed"] + len(errors))
    done = cp["offset"] >= cp["end"]
    store.put_range(tenant_id, item.import_id, cp["range"], cp, done, expires)
    return cp, done, len(rows), applied
