"""Durable timers for journey steps: pick the adapter by ``ENCLAVE_TIMERS``
(``stepfunctions`` with ``ENCLAVE_STATE_MACHINE_ARN`` in AWS, the deployed default;
``scheduler``, EventBridge Scheduler one-time schedules, with ``ENCLAVE_SCHEDULE_GROUP``,
``ENCLAVE_SCHEDULER_ROLE_ARN`` and ``ENCLAVE_JOURNEY_STEP_ARN``; ``local`` by default)."""
from __future__ import annotations

import os
from functools import lru_cache

from .base import Timer, TimerService, timer_name


@lru_cache(maxsize=1)
def timers() -> TimerService:
    kind = os.environ.get("ENCLAVE_TIMERS", "local")
    if kind == "stepfunctions":
        from .stepfunctions import StepFunctionsTimers

        return StepFunctionsTimers(os.environ["ENCLAVE_STATE_MACHINE_ARN"])
    if kind == "scheduler":
        from .scheduler import SchedulerTimers

        return SchedulerTimers(os.environ["ENCLAVE_SCHEDULE_GROUP"], os.environ["ENCLAVE_SCHEDULER_ROLE_ARN"],
                               os.environ["ENCLAVE_JOURNEY_STEP_ARN"])
    from .local import LocalTimers

    return LocalTimers()


__all__ = ["Timer", "TimerService", "timer_name", "timers"]
