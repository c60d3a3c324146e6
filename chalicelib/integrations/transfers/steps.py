"""The import job: one step reads the next page of the file with a ranged GET (never the
whole object), applies its rows concurrently, keeps the page's per-row errors, and moves
the checkpoint (byte offset, row number, counts) past it. The last step writes the errors
file to S3 and the result on the import.

Resumable: a stopped job continues from its checkpoint. A page that ran but whose
checkpoint was not saved runs again: its rows are idempotent (``rows.py``) and its errors
item is overwritten, so nothing is applied or reported twice.
"""
from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ...core import jobs
from ...core.objects import objects
from ...core.table import keys
from ...core.tenancy import TenantContext
from . import parsing, store
from .rows import apply_member, apply_order
from .service import IMPORT_JOB, settings

#: first read of a page; doubled while no whole record fits, up to MAX_READ
FIRST_READ, MAX_READ = 256 * 1024, 16 * 1024 * 1024
ERRORS_TTL_SECONDS = 30 * 24 * 3600

Apply = Callable[[TenantContext, dict[str, Any]], bool]
_APPLY: dict[str, Apply] = {"members": apply_member, "orders": apply_order}


def _page(key: str, offset: int, size: int, page_rows: int, fmt: parsing.Format) -> tuple[list[bytes], int]:
    length = FIRST_READ
    while True:
        data = objects().read(key, offset, min(length, size - offset))
        at_eof = offset + len(data) >= size
        records, used = parsing.split_records(data, at_eof, page_rows, fmt)
        if records or at_eof:
            return records, used
        if length >= MAX_READ:
            raise ValueError(f"a record at byte {offset} is longer than {MAX_READ} bytes")
        length *= 2


def _row(item: store.ImportItem, fields: list[str] | None, record: bytes) -> dict[str, Any]:
    if item.format == "csv":
        assert fields is not None
        return parsing.csv_row(record, fields)
    return parsing.jsonl_row(item.kind, record, item.mapping or {})  # type: ignore[arg-type]


def step(tenant_id: str | None, params: dict[str, Any], checkpoint: dict[str, Any] | None) -> jobs.Step:
    assert tenant_id is not None
    item = store.get(tenant_id, params["import_id"])
    if item is None:
        raise RuntimeError("the import is gone")
    cfg = settings()
    cp = dict(checkpoint or {"offset": params.get("data_offset", 0), "row": 0,
                             "rows_done": 0, "rows_applied": 0, "rows_failed": 0})
    size = int(params["size"])
    records, used = _page(item.object_key, cp["offset"], size, cfg.page_rows, item.format)  # type: ignore[arg-type]
    ctx = TenantContext(tenant_id=tenant_id, principal_type="job", principal_id=params.get("actor", "import"),
                        permissions=frozenset({"read", "write"}))
    apply = _APPLY[item.kind]

    def one(numbered: tuple[int, bytes]) -> tuple[int, bool | None, list[Any] | None]:
        number, record = numbered
        try:
            return number, apply(ctx, _row(item, params.get("fields"), record)), None
        except parsing.RowError as exc:
            return number, None, [number, exc.field, exc.message]
        except UnicodeDecodeError:
            return number, None, [number, "", "not UTF-8 text"]

    numbered = [(cp["row"] + i + 1, r) for i, r in enumerate(records)]
    rows = [(n, r) for n, r in numbered if r.strip()]  # blank lines are skipped, not counted
    with ThreadPoolExecutor(max_workers=min(cfg.workers, max(1, len(rows)))) as pool:
        results = list(pool.map(one, rows))
    errors = [e for _, _, e in results if e is not None]
    applied = sum(1 for _, ok, _ in results if ok)
    if errors:
        store.put_errors(tenant_id, item.import_id, cp["offset"], errors, int(time.time()) + ERRORS_TTL_SECONDS)
    cp.update(offset=cp["offset"] + used, row=cp["row"] + len(records), rows_done=cp["rows_done"] + len(rows),
              rows_applied=cp["rows_applied"] + applied, rows_failed=cp["rows_failed"] + len(errors))
    if cp["offset"] < size:
        return jobs.Step(checkpoint=cp, processed=len(rows), changed=applied)
    _finish(tenant_id, item, cp)
    return jobs.Step(checkpoint=None, processed=len(rows), changed=applied, total=cp["rows_done"])


def _finish(tenant_id: str, item: store.ImportItem, cp: dict[str, Any]) -> None:
    """Write the errors file (every page's errors, in file order) and the result."""
    result = {k: cp[k] for k in ("rows_done", "rows_applied", "rows_failed")}
    result["errors_count"] = 0
    if cp["rows_failed"]:
        key = keys.object_key(tenant_id, "imports", item.import_id, "errors.csv")
        count = [0]

        def lines() -> Iterator[bytes]:
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow(["row", "field", "message"])
            for page in store.errors(tenant_id, item.import_id):
                for row in page.rows:
                    writer.writerow(row)
                    count[0] += 1
                yield out.getvalue().encode()
                out.seek(0)
                out.truncate()
            yield out.getvalue().encode()

        objects().write(key, lines(), "text/csv", "import-errors")
        result.update(errors_key=key, errors_count=count[0])
    store.record_result(tenant_id, item.import_id, result)


jobs.register(IMPORT_JOB, step)
