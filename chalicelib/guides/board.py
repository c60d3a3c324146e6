"""The guides' board and what feeds it: an order of a served member counts for their guide,
closes the member's open tasks as converted, and counts as task revenue when a task was done
for the member within :data:`ATTRIBUTION_DAYS` before it. Fed by ``activity.EVENT_RECORDED``
(at least once): a claim per order event in the member's collection makes it count once.
The board reads O(1) counters (sharded by member), never the orders or tasks themselves."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from ..core import clock
from ..core.signals import Delivery
from ..core.table import counters, keys
from ..core.table.transactions import Transaction, TransactionCancelled, retrying
from ..core.tenancy import TenantContext
from . import counting, service, store, tasks
from .schemas import Board, BoardQuery, BoardRow

ATTRIBUTION_DAYS = 7


def _parse(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def wants_event(tenant_id: str, data: dict[str, Any]) -> bool:  # noqa: ARG001 - the Signal.connect shape
    """``wants`` of :func:`on_event`: orders only."""
    return (data.get("event") or {}).get("type") == "order.paid"


def on_event(delivery: Delivery) -> None:
    event = delivery.data.get("event") or {}
    if event.get("type") != "order.paid" or not delivery.member_id:
        return
    tenant_id, member_id = delivery.tenant_id, delivery.member_id
    occurred = str(delivery.data.get("occurred_at") or event.get("occurred_at"))
    amount = int(event.get("amount") or 0)
    zones: dict[str, str] = {}

    def tz(store_id: str) -> str:
        if store_id not in zones:
            where = store.get_store(tenant_id, store_id)
            zones[store_id] = where.timezone if where else "UTC"
        return zones[store_id]

    def attempt(_: int) -> None:
        owner, done, open_ids = store.guide_state(tenant_id, member_id)  # one Query, the only read for most
        if not (owner and owner.guide_id) and not open_ids and done is None:
            return
        open_tasks = [t for t in store.get_tasks(tenant_id, open_ids) if t.status == "open"]
        now = clock.now()
        tx = Transaction()
        tx.save("order_claim", store.marker(tenant_id, member_id, keys.guide_order_claim_sk(event["event_id"])),
                condition=store.MarkerItem.pk.does_not_exist())
        if owner and owner.guide_id and owner.store_id:
            month = counting.month_of(occurred, tz(owner.store_id))
            counters.add(tx, counting.name(tenant_id, counting.ORDERS, owner.guide_id, month), member_id, +1)
            counters.add(tx, counting.name(tenant_id, counting.REVENUE, owner.guide_id, month), member_id, amount)
        converted: Counter[tuple[str, str]] = Counter()
        for task in open_tasks:
            tasks.stage_close(tx, task, "done", "converted", now, zones, count=False)
            if task.guide_id:
                converted[(task.guide_id, task.store_id)] += 1
        for (guide_id, store_id), n in converted.items():
            month = counting.month_of(clock.iso(now), tz(store_id))
            counters.add(tx, counting.name(tenant_id, counting.DONE, guide_id, month), member_id, n)
        credited: tuple[str, str] | None = next(iter(converted), None)
        if credited:
            tx.save("task_done", store.TaskDoneItem(keys.member(tenant_id, member_id), keys.GUIDE_TASK_DONE_SK,
                                                    guide_id=credited[0], store_id=credited[1],
                                                    at=clock.iso(now)))
        elif done is not None and _parse(done.at) <= _parse(occurred) <= _parse(done.at) + timedelta(
                days=ATTRIBUTION_DAYS):
            credited = (done.guide_id, done.store_id)
        if credited:
            month = counting.month_of(occurred, tz(credited[1]))
            counters.add(tx, counting.name(tenant_id, counting.TASK_REVENUE, credited[0], month), member_id, amount)
        try:
            tx.commit()
        except TransactionCancelled as exc:
            if "order_claim" in exc.failed:
                return  # counted before (a redelivery)
            raise

    retrying(attempt, attempts=10, conflict="the member's tasks kept changing")


def board(ctx: TenantContext, query: BoardQuery) -> Board:
    if query.store:
        service.load_store(ctx.tenant_id, query.store)
    guides = sorted(store.list_guides(ctx.tenant_id, query.store), key=lambda g: (g.store_id, g.display_name))
    names = {g.guide_id: counting.board_names(ctx.tenant_id, g.guide_id, query.month) for g in guides}
    totals = counters.read([n for per in names.values() for n in per.values()])
    rows = []
    for g in guides:
        c = {what: totals[name] for what, name in names[g.guide_id].items()}
        closed = c[counting.DONE] + c[counting.EXPIRED]
        rows.append(BoardRow(
            guide_id=g.guide_id, display_name=g.display_name, store_id=g.store_id,
            members_total=c[counting.MEMBERS], members_new=c[counting.BOUND], tasks_done=c[counting.DONE],
            tasks_expired=c[counting.EXPIRED], completion_rate=round(c[counting.DONE] / closed, 4) if closed else None,
            orders=c[counting.ORDERS], revenue=c[counting.REVENUE], task_revenue=c[counting.TASK_REVENUE]))
    return Board(month=query.month, attribution_days=ATTRIBUTION_DAYS, data=rows)
