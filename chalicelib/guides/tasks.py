"""Tasks for guides: a member, a guide (or the pool store's, for a member without one), a
kind, a title and body rendered from the member (journeys' template language), a local due
day in the store's time zone, and a cause. open -> done (outcome) | expired | cancelled.

Read paths stay flat in the tenant's size: a guide's daily list is one Query of the key
``(guide, local day)``; an order closes the member's open tasks found through pointers in
the member's collection; the ``task_expiry`` schedule reads only due tasks from a sparse,
sharded index (an open task's GSI2 entry, removed when it closes).

Sources: by hand, in bulk for a segment (a job; one task per (job, member)), and journeys'
``create_task`` step (``journeys.task_requested`` signal; one task per (enrolment, step)).
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ..core import clock, observability as obs
from ..core.errors import Conflict, NotFound, Unprocessable
from ..core.ids import is_id, new_id
from ..core.signals import Delivery
from ..core.table import counters, keys
from ..core.table.definition import LIST_SHARDS
from ..core.table.transactions import Transaction, TransactionCancelled, retrying
from ..core.tenancy import READ, WRITE, TenantContext
from ..journeys import templates
from ..members import service as members
from . import counting, service, store
from .schemas import TaskCause, TaskComplete, TaskCreate, TaskList, TaskOut, TasksQuery

#: an open task expires this long after the end of its due day
GRACE = timedelta(days=1)


def task_out(t: store.TaskItem) -> TaskOut:
    return TaskOut(id=t.task_id, member_id=t.member_id, guide_id=t.guide_id, store_id=t.store_id,
                   kind=t.kind, title=t.title, body=t.body, due_date=t.due_date,  # type: ignore[arg-type]
                   due_at=t.due_at, expires_at=t.expires_at, cause=TaskCause(**dict(t.cause)),
                   status=t.status, outcome=t.outcome, created_at=t.created_at,  # type: ignore[arg-type]
                   closed_at=t.closed_at)


def local_day(tz: str, now: datetime | None = None) -> date:
    return (now or clock.now()).astimezone(ZoneInfo(tz)).date()


def _day_end(day: date, tz: str) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=ZoneInfo(tz))


# --- templates ------------------------------------------------------------------------------------------
def check_templates(title: str, body: str | None) -> None:
    for name, text in (("title", title), ("body", body)):
        if not text:
            continue
        try:
            used = templates.placeholders(text)
        except templates.TemplateError as exc:
            raise Unprocessable(str(exc), field=name, code="invalid_template") from exc
        if any(p.root != "member" for p in used):
            raise Unprocessable("task templates use member variables only", field=name, code="invalid_template")


def render(title: str, body: str | None, member: Any, tz: str) -> tuple[str, str | None]:
    values = {"member": {"id": member.id, "name": member.name, "phone": member.phone, "email": member.email,
                         "gender": member.gender, "attributes": dict(member.attributes)}}
    return templates.render(title, values, tz)[:200], templates.render(body, values, tz) if body else None


# --- create --------------------------------------------------------------------------------------------
def _owner_and_store(tenant_id: str, member_id: str) -> tuple[str | None, store.StoreItem | None]:
    owner = store.get_owner(tenant_id, member_id)
    if owner is not None and owner.guide_id and owner.store_id:
        return owner.guide_id, store.get_store(tenant_id, owner.store_id)
    return None, service.pool_store(tenant_id)


def create(tenant_id: str, member: Any, kind: str, title: str, body: str | None, due: date | int,
           cause: dict[str, Any], claim: str | None, rendered: bool = False) -> store.TaskItem | None:
    """The task for ``member``'s guide (or the pool); ``due`` a local date or days from the
    store's today. None if ``claim`` was taken (made before). 422 when nobody can take it."""
    guide_id, where = _owner_and_store(tenant_id, member.id)
    if where is None:
        raise Unprocessable("The member has no guide and no store pool is set (PATCH a store with task_pool).",
                            field="member_id", code="no_guide_or_pool")
    tz = where.timezone
    due_date = due if isinstance(due, date) else local_day(tz) + timedelta(days=due)
    try:
        title_text, body_text = (title[:200], body) if rendered else render(title, body, member, tz)
    except templates.MissingVariable as exc:
        raise Unprocessable(str(exc), field="title", code="template_variable_missing") from exc
    now = clock.iso(clock.now())
    due_at = _day_end(due_date, tz)
    task_id = new_id()
    item = store.TaskItem(
        keys.task(tenant_id, task_id), keys.TASK_SK, task_id=task_id, member_id=member.id, guide_id=guide_id,
        store_id=where.store_id, kind=kind, title=title_text, body=body_text, due_date=due_date.isoformat(),
        due_at=clock.iso(due_at), expires_at=clock.iso(due_at + GRACE), cause=cause, status="open", created_at=now)
    owner_key = guide_id or f"pool-{where.store_id}"
    item.gsi1pk, item.gsi1sk = keys.tasks_of_day(tenant_id, owner_key, item.due_date), f"{item.due_at}#{task_id}"
    item.gsi2pk = keys.tasks_expiring(tenant_id, keys.shard_of(task_id, LIST_SHARDS))
    item.gsi2sk = f"{item.expires_at}#{task_id}"
    tx = Transaction()
    tx.save("task", item, condition=store.TaskItem.pk.does_not_exist())
    tx.save("open", store.marker(tenant_id, member.id, keys.open_task_sk(task_id)))
    tx.save("ref", store.marker(tenant_id, member.id, keys.task_ref_sk(task_id)))
    if claim:
        tx.save("claim", store.marker(tenant_id, member.id, keys.task_claim_sk(claim), task_id),
                condition=store.MarkerItem.pk.does_not_exist())
    try:
        tx.commit()
    except TransactionCancelled as exc:
        if "claim" in exc.failed:
            return None
        raise
    obs.count("GuideTaskCreated", tenant_id)
    return item


def create_by_hand(ctx: TenantContext, body: TaskCreate) -> TaskOut:
    check_templates(body.title, body.body)
    member = members.get_member(ctx, body.member_id)
    item = create(ctx.tenant_id, member, body.kind, body.title, body.body, body.due_date,
                  {"type": "admin", "ref": ctx.actor}, None)
    assert item is not None
    return task_out(item)


def on_task_requested(delivery: Delivery) -> None:
    """journeys' ``create_task`` step: one task per (enrolment, step), for the member's guide
    (or the pool), due ``due_in_days`` after today in the store's time zone."""
    data, tenant_id, member_id = delivery.data, delivery.tenant_id, delivery.member_id
    if not member_id:
        return
    profile = members.profiles(tenant_id, [member_id]).get(member_id)
    if profile is None:
        return  # erased meanwhile
    cause = {"type": "journey", "ref": f"{data.get('journey_id')}:{data.get('step_id')}"}
    try:
        create(tenant_id, profile, data["kind"], data["title"], data.get("body"), int(data.get("due_in_days", 0)),
               cause, f"journey:{data['enrolment_id']}:{data['step_id']}", rendered=True)
    except Unprocessable as exc:  # no guide and no pool: nobody to give it to (retrying will not help)
        obs.logger.warning("journey task dropped", extra={"tenant_id": tenant_id, "code": exc.code})


# --- read -------------------------------------------------------------------------------------------------
def load(ctx: TenantContext, task_id: str, permission: str) -> store.TaskItem:
    """The task; 404 when missing, another tenant's, or (for a guide) not theirs."""
    guide = service.acting_guide(ctx, permission)
    item = store.get_task(ctx.tenant_id, task_id) if is_id(task_id) else None
    if item is None or (guide is not None and item.guide_id != guide.guide_id):
        raise NotFound("No such task.", code="task_not_found")
    return item


def get_task(ctx: TenantContext, task_id: str) -> TaskOut:
    return task_out(load(ctx, task_id, READ))


def _day(due: str, tz: str) -> str:
    return local_day(tz).isoformat() if due == "today" else due


def my_tasks(ctx: TenantContext, query: TasksQuery) -> TaskList:
    """The guide's list for a local day: one Query, whatever the tenant's number of tasks."""
    guide = service.require_guide(ctx)
    where = store.get_store(ctx.tenant_id, guide.store_id)
    day = _day(query.due, where.timezone if where else "UTC")
    return TaskList(data=[task_out(t) for t in store.tasks_of_day(ctx.tenant_id, guide.guide_id, day, query.limit)],
                    due_date=day)


def guide_tasks(ctx: TenantContext, guide_id: str, query: TasksQuery) -> TaskList:
    guide = service.load_guide(ctx.tenant_id, guide_id)
    where = store.get_store(ctx.tenant_id, guide.store_id)
    day = _day(query.due, where.timezone if where else "UTC")
    return TaskList(data=[task_out(t) for t in store.tasks_of_day(ctx.tenant_id, guide_id, day, query.limit)],
                    due_date=day)


def pool_tasks(ctx: TenantContext, store_id: str, query: TasksQuery) -> TaskList:
    where = service.load_store(ctx.tenant_id, store_id)
    day = _day(query.due, where.timezone)
    rows = store.tasks_of_day(ctx.tenant_id, f"pool-{store_id}", day, query.limit)
    return TaskList(data=[task_out(t) for t in rows], due_date=day)


# --- close ------------------------------------------------------------------------------------------------
def stage_close(tx: Transaction, item: store.TaskItem, status: str, outcome: str | None, now: datetime,
                zones: dict[str, str], count: bool = True) -> None:
    """Close ``item`` in ``tx`` (version-checked): leaves the expiry index and the member's
    open tasks; done and expired count on the guide's board."""
    tenant_id = item.pk.split("#")[1]
    item.status, item.outcome, item.closed_at = status, outcome, clock.iso(now)
    item.gsi2pk = item.gsi2sk = None
    tx.save(f"task:{item.task_id}", item)
    tx.delete(f"open:{item.task_id}", store.marker(tenant_id, item.member_id, keys.open_task_sk(item.task_id)))
    if not (count and item.guide_id and status in ("done", "expired")):
        return
    if item.store_id not in zones:
        where = store.get_store(tenant_id, item.store_id)
        zones[item.store_id] = where.timezone if where else "UTC"
    month = counting.month_of(item.closed_at, zones[item.store_id])
    what = counting.DONE if status == "done" else counting.EXPIRED
    counters.add(tx, counting.name(tenant_id, what, item.guide_id, month), item.member_id, +1)
    if status == "done":
        tx.save("task_done", store.TaskDoneItem(keys.member(tenant_id, item.member_id), keys.GUIDE_TASK_DONE_SK,
                                                guide_id=item.guide_id, store_id=item.store_id, at=item.closed_at))


def _close(ctx: TenantContext, task_id: str, status: str, outcome: str | None) -> TaskOut:
    def attempt(_: int) -> store.TaskItem:
        item = load(ctx, task_id, WRITE)
        if item.status != "open":
            raise Conflict(f"The task is {item.status}.", code="task_closed", task_status=item.status)
        tx = Transaction()
        stage_close(tx, item, status, outcome, clock.now(), {})
        tx.commit()
        return item

    return task_out(retrying(attempt, attempts=5, conflict="The task is changing concurrently; try again."))


def complete(ctx: TenantContext, task_id: str, body: TaskComplete) -> TaskOut:
    return _close(ctx, task_id, "done", body.outcome)


def cancel(ctx: TenantContext, task_id: str) -> TaskOut:
    return _close(ctx, task_id, "cancelled", None)


def expire_due(tenant_id: str, now: datetime | None = None) -> int:
    """Expire the tenant's open tasks past due + grace, read from the sparse expiry index."""
    now = now or clock.now()
    expired, zones = 0, {}  # type: ignore[var-annotated]
    for shard in range(LIST_SHARDS):
        for item in store.expiring(tenant_id, shard, f"{clock.iso(now)}#~", 500):
            tx = Transaction()
            stage_close(tx, item, "expired", None, now, zones)
            try:
                tx.commit()
            except TransactionCancelled:
                continue  # closed meanwhile: the next run sees it gone from the index
            expired += 1
    return expired


def expire_all_tenants() -> int:
    from ..tenants import service as tenants

    return sum(tenants.for_each_tenant(expire_due))
