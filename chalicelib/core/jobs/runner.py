"""Starting, running and sweeping jobs (see the package docstring)."""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from .. import audit, clock, lazyroutes, observability as obs
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
    #: child jobs to run in parallel before the next step, each a :class:`Child`: this job
    #: then waits, holding no runner, and resumes at ``checkpoint`` once every child has
    #: finished (each finishing child wakes it; the sweeper is the backstop)
    fan_out: list[Child] = field(default_factory=list)


@dataclass(frozen=True)
class Child:
    """One range of a fanned-out pass: a job of ``kind`` for ``tenant_id`` with ``params``."""

    kind: str
    tenant_id: str | None
    params: dict[str, Any]


#: handler(tenant_id, params, checkpoint) -> Step; must be safe to repeat (a step may run
#: twice when a runner dies between doing it and saving the checkpoint)
Handler = Callable[[str | None, dict[str, Any], dict[str, Any] | None], Step]
_handlers: dict[str, Handler] = {}


def register(kind: str, handler: Handler) -> None:
    _handlers[kind] = handler


def registered() -> dict[str, Handler]:
    return dict(_handlers)


def handler_of(kind: str) -> Handler:
    """The handler of ``kind``, importing the module that registers it when this process
    has not (a cold ``run_job`` imports no capability: ADR 0020)."""
    if kind not in _handlers:
        module = lazyroutes.job_module(kind)
        if module is not None:
            importlib.import_module(module)
    if kind not in _handlers:  # not in the manifest (yet): import whatever app.py names
        lazyroutes.import_all()
    return _handlers[kind]


MAX_KEPT_ERRORS = 100
INPUT_CHUNK = 500
#: the param holding who started the job (the request's actor): the job's own audited
#: changes name them, not ``system:unattributed``, whichever process runs it later
AUDIT_ACTOR = "audit_actor"


def start(kind: str, tenant_id: str | None, params: dict[str, Any] | None = None,
          job_id: str | None = None, inputs: list[Any] | None = None,
          audited: audit.Entry | None = None) -> store.JobItem:
    """Create the job and dispatch it; with an explicit ``job_id`` a second start of the
    same job is a no-op returning the existing one. ``inputs`` (e.g. 10,000 member ids) are
    stored beside the job in chunks and read back by the handler with :func:`inputs`.
    ``audited``: the audit record of the request that starts it (a bulk change, an export),
    committed with the job; a repeated start records nothing more."""
    job_id = job_id or new_id()
    if inputs:
        store.put_inputs(tenant_id, job_id, [inputs[i:i + INPUT_CHUNK] for i in range(0, len(inputs), INPUT_CHUNK)])
    job = _new_job(kind, tenant_id, params, job_id, len(inputs) if inputs else None)
    if not store.create(job, also=audited.stage if audited is not None else None):
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
    actor = audit.bound()
    if actor is not None and AUDIT_ACTOR not in params:
        params[AUDIT_ACTOR] = {"id": actor.id, "role": actor.role, "request_id": actor.request_id}
    if input_count is not None:
        params["input_count"] = input_count
    job = store.JobItem(store.job_pk(tenant_id, job_id), store.JOB_SK, job_id=job_id, tenant_id=tenant_id,
                        kind=kind, status="queued", params=params, progress={"processed": 0, "changed": 0},
                        created_at=now, updated_at=now)
    store.mark_open(job)
    return job


def get_job(tenant_id: str | None, job_id: str) -> store.JobItem | None:
    return store.get(tenant_id, job_id)


def live_progress(job: store.JobItem) -> dict[str, Any]:
    """The job's progress, with what its children did so far while it waits on a fan-out
    (on resuming, the runner adds the children's final counts to the job's own)."""
    progress = dict(job.progress)
    if job.children:
        for child in store.get_many([(t, j) for t, j, _, _ in job.children]):
            for name in ("processed", "changed"):
                progress[name] = progress.get(name, 0) + child.progress.get(name, 0)
    return progress


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
    started_by = (job.params or {}).get(AUDIT_ACTOR)
    if not started_by:
        return _run(tenant_id, job_id, job, time_left)
    token = audit.bind(audit.Actor(started_by["id"], started_by.get("role"), started_by.get("request_id")))
    try:
        return _run(tenant_id, job_id, job, time_left)
    finally:
        audit.unbind(token)


def _run(tenant_id: str | None, job_id: str, job: store.JobItem,
         time_left: Callable[[], float]) -> store.JobItem | None:
    handler = handler_of(job.kind)
    if job.children is not None:  # waiting on its fan-out: resume only when all are done
        resumed = _resumable(tenant_id, job_id, job)
        if resumed is None:
            return job
        job = resumed
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
                _wake_parent(job)
                return job
            if step.fan_out:
                _fan_out(job, step.fan_out)
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
        _wake_parent(job)
        return job


# --- fan-out: a job waits for the child jobs that split its work into ranges ---------------------
def _child_id(job: store.JobItem, n: int) -> str:
    """Derived from the job and the ranges it ran before, so a repeated fan-out step
    starts the same children (``start`` with an existing id is a no-op)."""
    return f"{job.job_id}.{job.progress.get('ranges', 0) + n}"


def _fan_out(job: store.JobItem, children: list[Child]) -> None:
    """Record the children on the job (waiting) first, then start them: a runner dying in
    between leaves a waiting job the sweeper wakes, and waking starts what is missing."""
    job.children = [[c.tenant_id, _child_id(job, n), c.kind, c.params] for n, c in enumerate(children)]
    job.status = "waiting"
    _touch(job)
    for tenant_id, child_id, kind, params in job.children:
        _start_child(job, tenant_id, child_id, kind, params)


def _start_child(parent: store.JobItem, tenant_id: str | None, child_id: str, kind: str,
                 params: dict[str, Any]) -> None:
    start(kind, tenant_id, {**params, "parent": [parent.tenant_id, parent.job_id]}, job_id=child_id)


def _resume_after_children(job: store.JobItem) -> bool:
    """True when every child has finished (their progress is added to the job's, failed
    children become errors); otherwise starts any child that is missing and keeps waiting."""
    assert job.children is not None
    found = {c.job_id: c for c in store.get_many([(t, j) for t, j, _, _ in job.children])}
    missing = [c for c in job.children if c[1] not in found]
    for tenant_id, child_id, kind, params in missing:
        _start_child(job, tenant_id, child_id, kind, params)
    if missing or any(c.status not in ("succeeded", "failed") for c in found.values()):
        _touch(job)  # the heartbeat: a parent waiting on live children is not stale
        return False
    progress = dict(job.progress)
    for child in found.values():
        progress["processed"] = progress.get("processed", 0) + child.progress.get("processed", 0)
        progress["changed"] = progress.get("changed", 0) + child.progress.get("changed", 0)
        if child.status == "failed":
            progress["errors"] = (progress.get("errors", []) + [
                {"item": child.job_id, "code": "range_failed", "detail": child.error}])[:MAX_KEPT_ERRORS]
            progress["error_count"] = progress.get("error_count", 0) + 1
    progress["ranges"] = progress.get("ranges", 0) + len(found)
    job.progress, job.children = progress, None
    return True


def _resumable(tenant_id: str | None, job_id: str, job: store.JobItem) -> store.JobItem | None:
    """The waiting job, ready to step on, or None while a child is unfinished (or when
    another runner, woken by another finishing child, took it on)."""
    while True:
        try:
            if not _resume_after_children(job):
                return None
            # claim the resumption now: this runner may have loaded the job before another
            # runner's heartbeat (woken by an earlier child, it saw one still running and
            # left); failing here on that stale version would leave nobody to resume it
            job.status = "running"
            _touch(job)
            return job
        except StaleVersion:  # a finishing child woke another runner too: look again
            fresh = store.get(tenant_id, job_id)
            if fresh is None or fresh.children is None:
                return None
            job = fresh


def _wake_parent(job: store.JobItem) -> None:
    parent = job.params.get("parent")
    if parent:
        dispatcher().dispatch(parent[0], parent[1], run)


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
