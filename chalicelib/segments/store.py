"""Saved segments and export files (CSV in parts, kept 7 days)."""
from __future__ import annotations

from collections.abc import Iterator

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist

from ..core.audit import Entry
from ..core.table.model import TableItem
from ..core.table.transactions import Transaction

EXPORT_TTL_SECONDS = 7 * 24 * 3600


def segments_pk(tenant_id: str) -> str:
    return f"T#{tenant_id}#SEGMENTS"


def export_pk(tenant_id: str, job_id: str) -> str:
    return f"T#{tenant_id}#EXPORT#{job_id}"


class SegmentItem(TableItem, discriminator="segment"):
    segment_id = UnicodeAttribute()
    name = UnicodeAttribute()
    description = UnicodeAttribute(null=True)
    filter = JSONAttribute()
    last_count = NumberAttribute(null=True)
    counted_at = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()


class ExportPart(TableItem, discriminator="export_part"):
    segment_id = UnicodeAttribute()
    body = UnicodeAttribute()
    rows = NumberAttribute(null=True)


def get(tenant_id: str, segment_id: str) -> SegmentItem | None:
    try:
        return SegmentItem.get(segments_pk(tenant_id), f"S#{segment_id}", consistent_read=True)
    except DoesNotExist:
        return None


def list_all(tenant_id: str) -> list[SegmentItem]:
    return list(SegmentItem.query(segments_pk(tenant_id), SegmentItem.sk.startswith("S#")))


def save(item: SegmentItem, audit: Entry | None = None) -> None:
    """Last writer wins (no version), with its audit record in the same transaction."""
    tx = Transaction()
    tx.save("segment", item)
    if audit is not None:
        audit.stage(tx)
    tx.commit()


def delete(item: SegmentItem, audit: Entry | None = None) -> None:
    tx = Transaction()
    tx.delete("segment", item)
    if audit is not None:
        audit.stage(tx)
    tx.commit()


def record_count(tenant_id: str, segment_id: str, count: int, at: str) -> None:
    item = SegmentItem(segments_pk(tenant_id), f"S#{segment_id}")
    item.update(actions=[SegmentItem.last_count.set(count), SegmentItem.counted_at.set(at)],
                condition=SegmentItem.pk.exists())


def put_part(tenant_id: str, export_id: str, segment_id: str, range_n: int, n: int, body: str, rows: int,
             expires: int) -> None:
    """Part ``n`` of range ``range_n`` of an export: a repeated step overwrites its own part
    (each row lands once), and the parts sort range by range, in order within each."""
    ExportPart(export_pk(tenant_id, export_id), f"PART#R{range_n:03d}#{n:06d}", segment_id=segment_id, body=body,
               rows=rows, ttl=expires).save()


def parts(tenant_id: str, export_id: str) -> Iterator[ExportPart]:
    """In order, a query page at a time (a big export never sits in memory whole)."""
    return iter(ExportPart.query(export_pk(tenant_id, export_id), ExportPart.sk.startswith("PART#R")))
