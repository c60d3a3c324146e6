"""Starting, running and sweeping jobs (see the package docstring)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from .. import clock, observability as obs
from ..ids import new_id
from ..table.transactions import StaleVersion, Transaction
from . import store
from .dispatch import dispatcher

#: stop stepping when less than this many seconds of the invocation are left
TIME_RESERVE_SECONDS = 30.0
#: an open job untouched this long is presumed dead and re-dispatched by the sweeper
STALE_AFTER = timedelta(minutes=5)


@dataclass
class Step:
    """What one step did; ``checkpoint`` None means the job is finished."""

    checkpoint: dict[str, Any] | None
    processed: int = 0
    changed: int = 0
    total: int | None = None
    #: per-item failures ({"item": ..., "code": ..., "detail": ...}); the first 100 are kept
    errors: list[dict[str, Any]] = field(default_factory=list)


#: handler(tenant_id, params, checkpoint) -> Step; must be safe to repeat (a step may run
#: twice when a runner dies between doing it and saving the checkpoint)
Handler = Callable[[str | None, dict[str, Any], dict[str, Any] | None], Step]
_handlers: dict[str, Handler] = {}


def register(kind: str, handler: Handler) -> None:
    _handlers[kind] = handler


MAX_KEPT_ERRORS = 100
INPUT_CHUNK = 500


def start(kind: str, tenant_id: str | None, params: dict[str, Any] | None = None,
          job_id: str | None = None, inputs: list[Any] | None = None) -> store.JobItem:
    """Create the job and dispatch it; with an explicit ``job_id`` a second start of the
    same job is a no-op returning the existing one. ``inputs`` (e.g. 10,000 member ids) are
    stored beside the job in chunks and read back by the handler with :func:`inputs`."""
    job_id = job_id or new_id()
    if inputs:
        store.put_inputs(tenant_id, job_id, [inputs[i:i + INPUT_CHUNK] for i in range(0, len(inputs), INPUT_CHUNK)])
    job = _new_job(kind, tenant_id, params, job_id, len(inputs) if inputs else None)
    if not store.create(job):
        existing = store.get(tenant_id, job_id)
        assert existing is not None
        return existing
    dispatcher().dispatch(tenant_id, job_id, run)
    return job


def stage(tx: Transaction, kind: str, tenant_id: str | None, params: dict[str, Any] | None = None) -> store.JobItem:
    """Create the job inside ``tx``, the write that makes it necessary (a tier program, a
    tag rule): it exists exactly when that write committed. It is dispatched after the
    commit; if the process dies first, the job is open and the sweeper dispatches it."""
    job = _new_job(kind, tenant_id, params, new_id(), None)
    store.stage_create(tx, job)
    tx.after_commit(lambda: dispatcher().dispatch(tenant_id, job.job_id, run))
    return job


def _new_job(kind: str, tenant_id: str | None, params: dict[str, Any] | None, job_id: str,
             input_count: int | None) -> store.JobItem:
    if kind not in _handlers:
        raise KeyError(f"no job handler registered for {kind!r}")
    now = clock.iso(clock.now())
    params = {**(params or {}), "job_id": job_id}
    if input_count is not None:
        params["input_count"] = input_count
    job = store.JobItem(store.job_pk(tenant_id, job_id), store.JOB_SK, job_id=job_id, tenant_id=tenant_id,
                        kind=kind, status="queued", params=params, progress={"processed": 0, "changed": 0},
                        created_at=now, updated_at=now)
    store.mark_open(job)
    return job


def get_job(tenant_id: str | None, job_id: str) -> store.JobItem | None:
    return store.get(tenant_id, job_id)


def inputs(tenant_id: str | None, job_id: str, offset: int, limit: int) -> list[Any]:
    """Items ``offset`` .. ``offset + limit`` of the inputs the job was started with."""
    first, last = offset // INPUT_CHUNK, (offset + limit - 1) // INPUT_CHUNK
    items: list[Any] = []
    for chunk in range(first, last + 1):
        items += store.get_inputs(tenant_id, job_id, chunk)
    start_at = offset - first * INPUT_CHUNK
    return items[start_at:start_at + limit]


def run(tenant_id: str | None, job_id: str, time_left: Callable[[], float] = lambda: 900.0) -> store.JobItem | None:
    """Run steps until done or out of time (then re-dispatch). Safe to call concurrently:
    a runner that loses a checkpoint race to another stops."""
    job = store.get(tenant_id, job_id)
    if job is None or job.status in ("succeeded", "failed"):
        return job
    handler = _handlers[job.kind]
    try:
        job.status = "running"
        _touch(job)
        while True:
            step = handler(tenant_id, job.params, job.checkpoint)
            progress = dict(job.progress)
            progress["processed"] = progress.get("processed", 0) + step.processed
            progress["changed"] = progress.get("changed", 0) + step.changed
            if step.total is not None:
                progress["total"] = step.total
            if step.errors:
                kept = progress.get("errors", [])
                progress["errors"] = (kept + step.errors)[:MAX_KEPT_ERRORS]
                progress["error_count"] = progress.get("error_count", 0) + len(step.errors)
            job.progress, job.checkpoint = progress, step.checkpoint
            if step.checkpoint is None:
                job.status, job.finished_at = "succeeded", clock.iso(clock.now())
                store.mark_closed(job)
                _touch(job)
                obs.count("JobSucceeded", tenant_id)
                return job
            _touch(job)
            if time_left() < TIME_RESERVE_SECONDS:
                dispatcher().dispatch(tenant_id, job_id, run)
                return job
    except StaleVersion:
        obs.logger.info("job taken over by another runner", extra={"job_id": job_id})
        return store.get(tenant_id, job_id)
    except Exception as exc:  # noqa: BLE001 - a failed job is recorded, not lost
        obs.logger.exception("job failed", extra={"job_id": job_id, "kind": job.kind})
        job.status, job.error, job.finished_at = "failed", f"{type(exc).__name__}: {exc}"[:500], clock.iso(clock.now())
        store.mark_closed(job)
        try:
            _touch(job)
        except StaleVersion:
            pass
        obs.count("JobFailed", tenant_id)
        return job


def _touch(job: store.JobItem) -> None:
    job.updated_at = clock.iso(clock.now())
    if job.gsi2pk:
        job.gsi2sk = job.updated_at
    store.save(job)


def sweep() -> int:
    """Re-dispatch open jobs whose heartbeat is stale; the number re-dispatched."""
    stale = store.open_jobs(older_than=clock.iso(clock.now() - STALE_AFTER))
    for job in stale:
        dispatcher().dispatch(job.tenant_id, job.job_id, run)
    return len(stale)
