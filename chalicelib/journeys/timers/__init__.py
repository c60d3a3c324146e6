"""Durable timers for journey steps: pick the adapter by ``ENCLAVE_TIMERS``
(``stepfunctions`` with ``ENCLAVE_STATE_MACHINE_ARN`` in AWS; ``local`` by default)."""
from __future__ import annotations

import os
from functools import lru_cache

from .base import Timer, TimerService, timer_name


@lru_cache(maxsize=1)
def timers() -> TimerService:
    if os.environ.get("ENCLAVE_TIMERS", "local") == "stepfunctions":
        from .stepfunctions import StepFunctionsTimers

        return StepFunctionsTimers(os.environ["ENCLAVE_STATE_MACHINE_ARN"])
    from .local import LocalTimers

    return LocalTimers()


__all__ = ["Timer", "TimerService", "timer_name", "timers"]
