"""The import job. Its first step cuts the file into byte ranges at record starts
(``splitting.py``; ~``range_bytes`` each, at most ``max_ranges``). One range is applied by
the job itself, page after page (``pages.py``); several fan out (``jobs.Step.fan_out``,
ADR 0011) as child jobs, one per range, each with its own checkpoint: in AWS each runs on
its own Lambda, locally on the dispatcher's threads. The job waits for them, holding no
runner, then its last step writes the errors file (every range's errors in file order, row
numbers made global by adding the records of the ranges before) and the import's result.

Resumable: a stopped job or child continues from its checkpoint; a page run twice applies
nothing twice (``pages.py``). A child that failed fails the import (its error is the
import's failure), as a failed page of a single-range import does.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from ...core import jobs
from ...core.objects import objects
from ...core.table import keys
from . import pages, splitting, store
from .service import IMPORT_JOB, IMPORT_RANGE_JOB, settings


def _item(tenant_id: str, params: dict[str, Any]) -> store.ImportItem:
    item = store.get(tenant_id, params["import_id"])
    if item is None:
        raise RuntimeError("the import is gone")
    return item


def _plan(item: store.ImportItem, params: dict[str, Any]) -> list[tuple[int, int]]:
    cfg = settings()
    size, begin = int(params["size"]), int(params.get("data_offset", 0))
    count = splitting.range_count(size - begin, cfg.range_bytes, cfg.max_ranges)
    if count == 1 or size <= begin:
        return [(begin, size)]
    return splitting.spans(lambda at, n: objects().read(item.object_key, at, n), begin, size, count,
                           item.format)  # type: ignore[arg-type]


def step(tenant_id: str | None, params: dict[str, Any], checkpoint: dict[str, Any] | None) -> jobs.Step:
    assert tenant_id is not None
    item = _item(tenant_id, params)
    if checkpoint is None:
        spans = _plan(item, params)
        if len(spans) == 1:
            return jobs.Step(checkpoint=pages.first_checkpoint(0, *spans[0]))
        children = [jobs.Child(IMPORT_RANGE_JOB, tenant_id, {
            "import_id": item.import_id, "fields": params.get("fields"), "actor": params.get("actor", "import"),
            "range": n, "start": start, "end": end}) for n, (start, end) in enumerate(spans)]
        return jobs.Step(checkpoint={"ranges": len(spans)}, fan_out=children)
    if "ranges" in checkpoint:  # every child has finished
        rows_done = _finish(tenant_id, item, int(checkpoint["ranges"]), params.get("job_id"))
        return jobs.Step(checkpoint=None, total=rows_done)
    if "end" not in checkpoint:  # a job started before imports were cut into ranges: the whole file is range 0
        checkpoint = {"range": 0, "start": int(params.get("data_offset", 0)), "end": int(params["size"]), **checkpoint}
    cp, done, processed, applied = pages.apply_page(tenant_id, item, params, checkpoint)
    if not done:
        return jobs.Step(checkpoint=cp, processed=processed, changed=applied)
    rows_done = _finish(tenant_id, item, 1)
    return jobs.Step(checkpoint=None, processed=processed, changed=applied, total=rows_done)


def range_step(tenant_id: str | None, params: dict[str, Any], checkpoint: dict[str, Any] | None) -> jobs.Step:
    """One page of one range (a child job of a fanned-out import)."""
    assert tenant_id is not None
    item = _item(tenant_id, params)
    cp = checkpoint or pages.first_checkpoint(int(params["range"]), int(params["start"]), int(params["end"]))
    cp, done, processed, applied = pages.apply_page(tenant_id, item, params, cp)
    return jobs.Step(checkpoint=None if done else cp, processed=processed, changed=applied)


def _failure_of(tenant_id: str, job_id: str | None) -> str:
    """The first failed child's error, as the runner recorded it on the waiting job."""
    job = jobs.get_job(tenant_id, job_id) if job_id else None
    failed = [e for e in (job.progress.get("errors", []) if job else []) if e.get("code") == "range_failed"]
    return str(failed[0]["detail"]) if failed else "its job failed"


def _finish(tenant_id: str, item: store.ImportItem, count: int, job_id: str | None = None) -> int:
    """Write the errors file (global row numbers, in file order) and the result; rows done."""
    ranges = store.ranges(tenant_id, item.import_id)
    unfinished = sorted(set(range(count)) - {int(r.range_no) for r in ranges if r.done})
    if unfinished:
        raise RuntimeError(f"range {unfinished[0]} of {count} did not finish: {_failure_of(tenant_id, job_id)}")
    before: dict[int, int] = {}
    total = 0
    for r in sorted(ranges, key=lambda r: int(r.range_no)):
        before[int(r.range_no)] = total
        total += int(r.row)
    result: dict[str, Any] = {k: sum(int(getattr(r, k)) for r in ranges)
                              for k in ("rows_done", "rows_applied", "rows_failed")}
    result["errors_count"] = 0
    if result["rows_failed"]:
        key = keys.object_key(tenant_id, "imports", item.import_id, "errors.csv")
        written = [0]

        def lines() -> Iterator[bytes]:
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow(["row", "field", "message"])
            for page in store.errors(tenant_id, item.import_id):  # by byte offset: file order
                shift = before.get(int(page.range_no or 0), 0)
                for row, field, message in page.rows:
                    writer.writerow([shift + int(row), field, message])
                    written[0] += 1
                yield out.getvalue().encode()
                out.seek(0)
                out.truncate()
            yield out.getvalue().encode()

        objects().write(key, lines(), "text/csv", "import-errors")
        result.update(errors_key=key, errors_count=written[0])
    store.record_result(tenant_id, item.import_id, result)
    return int(result["rows_done"])


jobs.register(IMPORT_JOB, step)
jobs.register(IMPORT_RANGE_JOB, range_step)
