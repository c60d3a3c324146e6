"""The durable-timer port: "run this enrolment's next step at that time", kept outside the
process that asks, so it survives restarts.

A timer is named from the enrolment and its timer generation (``j-<enrolment>-<seq>``):
starting the same timer twice (a retry, the sweeper repairing a lost start) is a no-op,
and a timer that fires after its enrolment moved on finds a newer generation and does
nothing. Adapters: ``stepfunctions`` (AWS) and ``local`` (DynamoDB items run by the
``journey_timers`` schedule).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


def timer_name(enrolment_id: str, seq: int) -> str:
    """Step Functions execution names allow 80 characters of ``[A-Za-z0-9_-]``."""
    return f"j-{enrolment_id}-{seq}"


@dataclass(frozen=True)
class Timer:
    name: str
    tenant_id: str
    due_at: datetime
    #: what the step function receives: tenant_id, member_id, enrolment_id, seq
    payload: dict[str, Any] = field(default_factory=dict)


class TimerService(ABC):
    @abstractmethod
    def start(self, timer: Timer) -> None:
        """Arrange for the step to run at ``timer.due_at`` (at once if past). Idempotent
        by name; raises if the timer service could not be reached (the caller's sweeper
        retries)."""

    @abstractmethod
    def cancel(self, tenant_id: str, name: str) -> None:
        """Stop the timer if it has not fired (an exited enrolment). Best effort: a timer
        that fires anyway finds its enrolment ended and does nothing."""

    def fire_due(self, run: Callable[[dict[str, Any]], object], limit: int = 500) -> int:
        """Run the timers that are due (only adapters without their own scheduler)."""
        return 0
