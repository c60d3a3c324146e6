"""The board's counters: their names, and the month (in the guide's store's time zone) an
event counts in. Every counter is sharded by the member it is about (``core.table.counters``),
so no order or task of a busy tenant writes one hot item."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from ..core.table import keys

MEMBERS = "guide_members"          # members served now (no month)
BOUND = "guide_bound"              # members bound in the month (sign-up, assignment, transfer)
DONE = "guide_tasks_done"
EXPIRED = "guide_tasks_expired"
ORDERS = "guide_orders"
REVENUE = "guide_revenue"
TASK_REVENUE = "guide_task_revenue"
MONTHLY = (BOUND, DONE, EXPIRED, ORDERS, REVENUE, TASK_REVENUE)


def month_of(iso: str, tz: str) -> str:
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return moment.astimezone(ZoneInfo(tz)).strftime("%Y-%m")


def name(tenant_id: str, what: str, guide_id: str, month: str | None = None) -> str:
    return keys.counter(tenant_id, what, f"{guide_id}#{month}" if month else guide_id)


def board_names(tenant_id: str, guide_id: str, month: str) -> dict[str, str]:
    names = {what: name(tenant_id, what, guide_id, month) for what in MONTHLY}
    names[MEMBERS] = name(tenant_id, MEMBERS, guide_id)
    return names
