"""Job items. Tenant jobs live under ``T#<tenant>#JOB#<id>``; platform jobs (the nightly
pass over every tenant) under ``PLATFORM#JOB#<id>``. Unfinished jobs sit in a sparse,
sharded GSI2 list so the sweeper finds them without a scan."""
from __future__ import annotations

import time
from collections.abc import Callable

from pynamodb.attributes import JSONAttribute, UnicodeAttribute, VersionAttribute
from pynamodb.exceptions import DoesNotExist, PutError

from ..table import keys
from ..table.model import TableItem
from ..table.transactions import Transaction, TransactionCancelled, is_condition_failure, save_versioned

JOB_SK = "JOB"
OPEN_SHARDS = 4


class JobItem(TableItem, discriminator="job"):
    job_id = UnicodeAttribute()
    tenant_id = UnicodeAttribute(null=True)
    kind = UnicodeAttribute()
    status = UnicodeAttribute()  # queued | running | waiting | succeeded | failed
    params = JSONAttribute(default=dict)
    progress = JSONAttribute(default=dict)
    checkpoint = JSONAttribute(null=True)
    error = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    finished_at = UnicodeAttribute(null=True)
    #: while the job waits for the child jobs it fanned out: [[tenant_id, job_id], ...]
    children = JSONAttribute(null=True)
    version = VersionAttribute()


def job_pk(tenant_id: str | None, job_id: str) -> str:
    return f"T#{tenant_id}#JOB#{job_id}" if tenant_id else f"PLATFORM#JOB#{job_id}"


def open_list(shard: int) -> str:
    return f"PLATFORM#OPEN_JOBS#{shard}"


def mark_open(job: JobItem) -> None:
    job.gsi2pk = open_list(keys.shard_of(job.job_id, OPEN_SHARDS))
    job.gsi2sk = job.updated_at


def mark_closed(job: JobItem) -> None:
    job.gsi2pk = job.gsi2sk = None


def create(job: JobItem, also: Callable[[Transaction], object] | None = None) -> bool:
    """False if a job with this id exists (a job id derived from our ids dedupes starts).
    ``also`` stages what commits with the job (its audit record), in one transaction."""
    if also is not None:
        tx = Transaction()
        stage_create(tx, job)
        also(tx)
        try:
            tx.commit()
        except TransactionCancelled as exc:
            if "job" in exc.failed:
                return False
            raise
        return True
    try:
        job.save(condition=JobItem.pk.does_not_exist())
    except PutError as exc:
        if is_condition_failure(exc):
            return False
        raise
    return True


def stage_create(tx: Transaction, job: JobItem) -> None:
    tx.save("job", job, condition=JobItem.pk.does_not_exist())


def get(tenant_id: str | None, job_id: str) -> JobItem | None:
    try:
        return JobItem.get(job_pk(tenant_id, job_id), JOB_SK, consistent_read=True)
    except DoesNotExist:
        return None


def save(job: JobItem) -> None:
    save_versioned(job)


class JobInputItem(TableItem, discriminator="job_input"):
    items = JSONAttribute(default=list)


#: inputs may hold identities (phones, emails): DynamoDB's TTL removes them after a week
INPUT_TTL_SECONDS = 7 * 24 * 3600


def put_inputs(tenant_id: str | None, job_id: str, chunks: list[list[object]]) -> None:
    expires = int(time.time()) + INPUT_TTL_SECONDS
    with JobInputItem.batch_write() as batch:
        for n, chunk in enumerate(chunks):
            batch.save(JobInputItem(job_pk(tenant_id, job_id), f"INPUT#{n:06d}", items=chunk, ttl=expires))


def get_inputs(tenant_id: str | None, job_id: str, chunk: int) -> list[object]:
    try:
        return list(JobInputItem.get(job_pk(tenant_id, job_id), f"INPUT#{chunk:06d}", consistent_read=True).items)
    except DoesNotExist:
        return []


def get_many(refs: list[tuple[str | None, str]]) -> list[JobItem]:
    """Several jobs in one BatchGet (a parent checking on its children)."""
    wanted = [(job_pk(t, j), JOB_SK) for t, j in dict.fromkeys(refs)]
    return [i for i in JobItem.batch_get(wanted, consistent_read=True) if isinstance(i, JobItem)]


def open_jobs(older_than: str) -> list[JobItem]:
    found: list[JobItem] = []
    for shard in range(OPEN_SHARDS):
        found += [j for j in TableItem.gsi2.query(open_list(shard), TableItem.gsi2sk < older_than)
                  if isinstance(j, JobItem)]
    return found
