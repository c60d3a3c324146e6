"""A group's deadline, through the journeys' durable-timer port (Step Functions in AWS, the
local timer items in the dev stack).

The port is handed in by app.py (``wiring.provide("groupbuys.timer_service", ...)`` and
``"groupbuys.timer"``, or :func:`use_timers`): journeys already imports loyalty (a journey step
grants coupons), so loyalty importing journeys would be a cycle. The timer is
started by the receiver of :data:`GROUP_OPENED`, a signal staged in the transaction that
opens the group: the outbox retries a start that failed, so no committed group is left
without its deadline. The start is idempotent by the timer's name (tenant and code).
When it fires, app.py's timer dispatch sees ``kind == "group_deadline"`` and calls
:func:`on_timer`, which fails the group if it is still open (a conditional write: once).
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from ...core import clock, observability as obs, wiring
from ...core.signals import Delivery, Signal

KIND = "group_deadline"
#: staged when a group opens; data: code, deadline (its receiver starts the timer)
GROUP_OPENED = Signal("groupbuys.group_opened")

_service: Callable[[], Any] | None = None
_timer: Callable[..., Any] | None = None


def use_timers(service: Callable[[], Any], timer: Callable[..., Any]) -> None:
    """app.py: ``use_timers(journeys.timers.timers, journeys.timers.Timer)``."""
    global _service, _timer
    _service, _timer = service, timer


def timer_name(tenant_id: str, code: str) -> str:
    """Step Functions execution names: at most 80 characters of ``[A-Za-z0-9_-]``, unique in
    the account (so the tenant is in it)."""
    return f"gb-{tenant_id}-{code}"


def _port() -> tuple[Callable[[], Any] | None, Callable[..., Any] | None]:
    """The timer service and Timer type: handed in directly, or named in app.py (lazily imported)."""
    return (_service or wiring.provided("groupbuys.timer_service"), _timer or wiring.provided("groupbuys.timer"))


def start(tenant_id: str, code: str, due_at: datetime) -> None:
    service, timer = _port()
    if service is None or timer is None:
        raise RuntimeError("group-buy deadlines need a timer service (app.py: wiring.provide groupbuys.timer_service)")
    service().start(timer(name=timer_name(tenant_id, code), tenant_id=tenant_id, due_at=due_at,
                            payload={"kind": KIND, "tenant_id": tenant_id, "code": code}))


def on_group_opened(delivery: Delivery) -> None:
    """:data:`GROUP_OPENED` receiver: start the deadline timer (again, harmlessly, on redelivery)."""
    start(delivery.tenant_id, delivery.data["code"], clock.parse(delivery.data["deadline"]))


def cancel(tenant_id: str, code: str) -> None:
    """Best effort (a completed group): a timer that fires anyway finds the group closed."""
    service, _ = _port()
    if service is None:
        return
    try:
        service().cancel(tenant_id, timer_name(tenant_id, code))
    except Exception:  # noqa: BLE001 - best effort, see above
        obs.logger.warning("group deadline timer not cancelled", extra={"tenant_id": tenant_id, "code": code})
