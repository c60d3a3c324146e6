"""Import items: one per import (kind, format, mapping, the job that runs it, the result),
the per-row errors of each page, kept until the errors file is written, and the counts of
each byte range (its progress; its record count places its rows in the file)."""
from __future__ import annotations

from typing import Any

from pynamodb.attributes import BooleanAttribute, JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist

from ...core.table import keys
from ...core.table.model import TableItem
from ...core.table.transactions import Transaction

#: DynamoDB's TTL removes an import's items a month after it was created
IMPORT_TTL_SECONDS = 30 * 24 * 3600


class ImportItem(TableItem, discriminator="import"):
    import_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    format = UnicodeAttribute()
    mapping = JSONAttribute(default=dict)
    object_key = UnicodeAttribute()
    job_id = UnicodeAttribute(null=True)
    #: counts and the errors file, written by the job's last step
    result = JSONAttribute(null=True)
    created_at = UnicodeAttribute()


class ImportErrors(TableItem, discriminator="import_errors"):
    #: [[row, field, message], ...]; row numbers count from the start of the range
    rows = JSONAttribute(default=list)
    #: the byte range the page belongs to (None: written before imports were cut into ranges)
    range_no = NumberAttribute(null=True)


class ImportRange(TableItem, discriminator="import_range"):
    """One range's counts after its last applied page: ``row`` counts its records (blank
    lines included, as row numbers do), ``done`` once its last page applied."""

    range_no = NumberAttribute()
    start = NumberAttribute()
    end = NumberAttribute()
    offset = NumberAttribute()
    row = NumberAttribute(default=0)
    rows_done = NumberAttribute(default=0)
    rows_applied = NumberAttribute(default=0)
    rows_failed = NumberAttribute(default=0)
    done = BooleanAttribute(default=False)


def new(tenant_id: str, import_id: str, **fields: Any) -> ImportItem:
    return ImportItem(keys.import_(tenant_id, import_id), keys.IMPORT_SK, import_id=import_id, **fields)


def create(item: ImportItem) -> None:
    item.save(condition=ImportItem.pk.does_not_exist())


def get(tenant_id: str, import_id: str) -> ImportItem | None:
    try:
        return ImportItem.get(keys.import_(tenant_id, import_id), keys.IMPORT_SK, consistent_read=True)
    except DoesNotExist:
        return None


def stage_started(tx: Transaction, item: ImportItem, job_id: str) -> None:
    """The import gets its job once: a second start loses the condition."""
    tx.update("import", item, actions=[ImportItem.job_id.set(job_id)],
              condition=ImportItem.pk.exists() & ImportItem.job_id.does_not_exist())


def record_result(tenant_id: str, import_id: str, result: dict[str, Any]) -> None:
    item = ImportItem(keys.import_(tenant_id, import_id), keys.IMPORT_SK)
    item.update(actions=[ImportItem.result.set(result)], condition=ImportItem.pk.exists())


def put_errors(tenant_id: str, import_id: str, offset: int, rows: list[list[Any]], ttl: int,
               range_no: int = 0) -> None:
    """The page at ``offset``'s errors (a page run twice writes the same item twice)."""
    ImportErrors(keys.import_(tenant_id, import_id), keys.import_errors_sk(offset), rows=rows, ttl=ttl,
                 range_no=range_no).save()


def put_range(tenant_id: str, import_id: str, range_no: int, counts: dict[str, Any], done: bool, ttl: int) -> None:
    """A range's counts after a page (a page run twice writes the same counts again)."""
    c = {k: int(counts[k]) for k in ("start", "end", "offset", "row", "rows_done", "rows_applied", "rows_failed")}
    ImportRange(keys.import_(tenant_id, import_id), keys.import_range_sk(range_no), range_no=range_no, done=done,
                ttl=ttl, start=c["start"], end=c["end"], offset=c["offset"], row=c["row"], rows_done=c["rows_done"],
                rows_applied=c["rows_applied"], rows_failed=c["rows_failed"]).save()


def ranges(tenant_id: str, import_id: str) -> list[ImportRange]:
    """Every range that applied a page, in file order."""
    return list(ImportRange.query(keys.import_(tenant_id, import_id), ImportRange.sk.startswith("RANGE#"),
                                  consistent_read=True))


def errors(tenant_id: str, import_id: str) -> list[ImportErrors]:
    """Every page's errors in file order (the sort key is the page's byte offset)."""
    return list(ImportErrors.query(keys.import_(tenant_id, import_id), ImportErrors.sk.startswith("ERR#"),
                                   consistent_read=True))
