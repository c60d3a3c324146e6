"""Imports: create (a presigned upload URL), start (check the file, then a background job
applies it: ``steps.py``), read (status, progress, the per-row errors file).

Nothing is written when a start is refused: the file is checked first (there, not too
large, a header that names known fields), then the import gets its job in one transaction
with the job item (``jobs.stage``), so a job exists exactly when the import was started.
"""
from __future__ import annotations

import time
from typing import Any, ClassVar

from pydantic import Field

from ...core import clock, jobs
from ...core.config import EnvSettings
from ...core.errors import Conflict, NotFound, Unprocessable
from ...core.ids import new_id
from ...core.objects import objects
from ...core.table import keys
from ...core.table.transactions import Transaction, TransactionCancelled
from ...core.tenancy import TenantContext
from . import parsing, store
from .schemas import ErrorsFile, ImportCreate, ImportOut, ImportProgress, ImportStatus, Upload

IMPORT_JOB = "transfers_import"
#: one byte range of a fanned-out import (``steps.py``)
IMPORT_RANGE_JOB = "transfers_import_range"
CONTENT_TYPES = {"csv": "text/csv", "jsonl": "application/x-ndjson"}


class ImportSettings(EnvSettings):
    env_prefix: ClassVar[str] = "ENCLAVE_IMPORT_"

    #: largest file accepted (5 million orders as JSON Lines are ~1.5 GB)
    max_bytes: int = Field(default=2 * 1024**3, ge=1024)
    #: rows applied per job step (the checkpoint moves after each)
    page_rows: int = Field(default=500, ge=1, le=5000)
    #: rows of one page applied concurrently
    workers: int = Field(default=4, ge=1, le=32)
    #: a file is cut into ranges of about this many bytes, each applied by its own child job
    #: (its own Lambda in AWS): 1M members as CSV (~70 MB) are ~35 ranges
    range_bytes: int = Field(default=2 * 1024**2, ge=1024)
    #: the most ranges one import runs at once (run_job's reserved concurrency is shared)
    max_ranges: int = Field(default=32, ge=1, le=256)


def settings() -> ImportSettings:
    return ImportSettings.from_env()  # read per call: cheap, and tests may change the limit


def create(ctx: TenantContext, body: ImportCreate) -> ImportOut:
    mapping = body.mapping or {}
    for column, field in mapping.items():
        if not parsing.known_field(body.kind, field):
            raise Unprocessable(f"{field!r} is not a {body.kind} field.", field=f"mapping.{column}",
                                code="unknown_field")
    import_id = "imp_" + new_id()
    key = keys.object_key(ctx.tenant_id, "imports", import_id, f"source.{body.format}")
    item = store.new(ctx.tenant_id, import_id, kind=body.kind, format=body.format, mapping=mapping, object_key=key,
                     created_at=clock.iso(clock.now()), ttl=int(time.time()) + store.IMPORT_TTL_SECONDS)
    store.create(item)
    return _out(ctx.tenant_id, item)


def _load(ctx: TenantContext, import_id: str) -> store.ImportItem:
    item = store.get(ctx.tenant_id, import_id) if len(import_id) <= 64 else None
    if item is None:
        raise NotFound("No such import.", code="import_not_found")
    return item


def get(ctx: TenantContext, import_id: str) -> ImportOut:
    return _out(ctx.tenant_id, _load(ctx, import_id))


def start(ctx: TenantContext, import_id: str) -> ImportOut:
    item = _load(ctx, import_id)
    if item.job_id:
        return _out(ctx.tenant_id, item)  # started before: the same job
    size = objects().size(item.object_key)
    if size is None:
        raise Conflict("Nothing was uploaded yet: PUT the file to the upload URL first.", code="import_not_uploaded")
    limit = settings().max_bytes
    if size > limit:
        raise Unprocessable(f"The file is {size} bytes; the most an import takes is {limit}.", field="file",
                            code="import_too_large", size=size, max_bytes=limit)
    if size == 0:
        raise Unprocessable("The file is empty.", field="file", code="import_empty")
    params: dict[str, Any] = {"import_id": import_id, "size": size, "actor": ctx.actor}
    if item.format == "csv":
        params["fields"], params["data_offset"] = _check_header(item, size)
    tx = Transaction()
    job = jobs.stage(tx, IMPORT_JOB, ctx.tenant_id, params)
    store.stage_started(tx, item, job.job_id)
    try:
        tx.commit()
    except TransactionCancelled:
        pass  # a concurrent start won: answer its job
    return _out(ctx.tenant_id, _load(ctx, import_id))


HEADER_BYTES = 64 * 1024


def _check_header(item: store.ImportItem, size: int) -> tuple[list[str], int]:
    head = objects().read(item.object_key, 0, min(size, HEADER_BYTES))
    try:
        found = parsing.header_of(head, at_eof=size <= HEADER_BYTES)
        if found is None:
            raise parsing.HeaderError(f"the header line is longer than {HEADER_BYTES} bytes")
        columns, used = found
        fields = parsing.check_header(item.kind, columns, item.mapping or {})  # type: ignore[arg-type]
    except UnicodeDecodeError:
        raise Unprocessable("The file is not UTF-8 text.", field="file", code="import_not_utf8") from None
    except parsing.HeaderError as exc:
        raise Unprocessable(f"Malformed CSV header: {exc}.", field="file", code="import_bad_header") from None
    return fields, used


def _out(tenant_id: str, item: store.ImportItem) -> ImportOut:
    base: dict[str, Any] = {"id": item.import_id, "kind": item.kind, "format": item.format,
                            "created_at": item.created_at, "job_id": item.job_id}
    if not item.job_id:
        put = objects().presign_put(item.object_key, CONTENT_TYPES[item.format])
        upload = Upload(url=put.url, headers=put.headers, expires_at=clock.iso(put.expires_at))
        return ImportOut(**base, status="awaiting_upload", upload=upload, progress=ImportProgress())
    job = jobs.get_job(tenant_id, item.job_id)
    status: ImportStatus = job.status if job else "queued"  # type: ignore[assignment]  # the job's statuses
    if status == "waiting":  # type: ignore[comparison-overlap]  # on its ranges' child jobs
        status = "running"
    result = item.result
    if result is not None:  # the last step wrote it; the job may not have saved "succeeded" yet
        status = "succeeded"
        progress = ImportProgress(rows_total=result["rows_done"], rows_done=result["rows_done"],
                                  rows_applied=result["rows_applied"], rows_failed=result["rows_failed"])
    else:  # the sum of its ranges (one Query), however many child jobs apply them
        ranges = store.ranges(tenant_id, item.import_id)
        progress = ImportProgress(rows_done=sum(int(r.rows_done) for r in ranges),
                                  rows_applied=sum(int(r.rows_applied) for r in ranges),
                                  rows_failed=sum(int(r.rows_failed) for r in ranges))
    errors = None
    if result and result.get("errors_count"):
        link = objects().presign_get(result["errors_key"], f"{item.import_id}-errors.csv")
        errors = ErrorsFile(url=link.url, expires_at=clock.iso(link.expires_at), count=result["errors_count"])
    failure = job.error if job is not None and status == "failed" else None
    return ImportOut(**base, status=status, progress=progress, errors=errors, failure=failure)
