"""Dev stack and tests: timers are items in DynamoDB, listed by due time in a sharded GSI,
and the ``journey_timers`` schedule (every minute; the dev stack fires app schedules
itself) runs the due ones. Nothing lives in process memory, so timers survive a restart.

Firing takes a lease on the item first (two runners never fire one timer together; a
runner that dies mid-step leaves the lease to expire and the timer fires again, which the
step handles: it is idempotent), then deletes the item.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from ...core import clock, observability as obs
from ...core.table.definition import JOURNEY_LIST_SHARDS
from .. import store
from .base import Timer, TimerService

LEASE = timedelta(minutes=5)
#: timers due this soon fire on this tick: a schedule running every minute would otherwise
#: miss, by milliseconds, a one-minute wait started by the previous tick (the step accepts
#: being up to 2 s early, see ``runner.EARLY_TOLERANCE``)
LOOK_AHEAD = timedelta(seconds=1)


class LocalTimers(TimerService):
    def start(self, timer: Timer) -> None:
        store.put_timer(store.LocalTimerItem(
            store.timer_pk(timer.tenant_id, timer.name), store.TIMER_SK, name=timer.name, tenant_id=timer.tenant_id,
            due_at=clock.iso(timer.due_at), payload=timer.payload))

    def cancel(self, tenant_id: str, name: str) -> None:
        store.delete_timer(tenant_id, name)

    def fire_due(self, run: Callable[[dict[str, Any]], object], limit: int = 500) -> int:
        now = clock.now()
        fired = 0
        for shard in range(JOURNEY_LIST_SHARDS):
            for item in store.due_timers(shard, clock.iso(now + LOOK_AHEAD), limit):
                lease = clock.iso(now + LEASE)
                if not store.lease_timer(item, clock.iso(now), lease):
                    continue
                try:
                    run(dict(item.payload))
                except Exception:  # noqa: BLE001 - the lease expires and the timer fires again
                    obs.logger.exception("journey timer failed", extra={"timer": item.name})
                    continue
                store.delete_timer(item.tenant_id, item.name, lease)
                fired += 1
        return fired

    def pending(self, tenant_id: str, name: str) -> bool:
        """Whether the timer exists and has not fired (tests, dev tools)."""
        return store.get_timer(tenant_id, name) is not None
