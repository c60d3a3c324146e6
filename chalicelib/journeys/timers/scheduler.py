"""AWS, the cheaper adapter: one EventBridge Scheduler one-time schedule per timer,
``at(yyyy-mm-ddThh:mm:ss)`` in UTC, whose target is the ``journey_step`` Lambda with the
timer's payload as its input (passed through untouched: journeys and group deadlines share
the port). ``ActionAfterCompletion=DELETE`` removes the schedule once it has invoked.

Billing: one scheduler invocation per timer ($1.00 per million after the free tier) instead
of a Standard execution's two state transitions ($50 per million timers). Chosen by ``ENCLAVE_TIMERS=scheduler`` with
``ENCLAVE_SCHEDULE_GROUP``, ``ENCLAVE_SCHEDULER_ROLE_ARN`` (the role the scheduler assumes
to invoke the function) and ``ENCLAVE_JOURNEY_STEP_ARN``; Step Functions stays the default.

* The schedule's name is the timer's name: a second start answers ``ConflictException``,
  which means started already. Unlike an execution name, a schedule's name is free again
  once it fired and was deleted, so a late repeat start fires a second time: the step is
  idempotent (seq-checked, messages claimed), so that run finds nothing to do.
* Scheduler invokes within the minute of its time (60 s precision), so the time is rounded
  UP to the next whole minute: a step never runs early (an early one would re-arm). A time
  already past is moved a minute ahead rather than asked of the scheduler as a past time.
* Cancelling is ``DeleteSchedule``; a schedule that already fired (and deleted itself) is
  ``ResourceNotFoundException``: nothing to do.
"""
from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

from ...core import clock
from .base import Timer, TimerService

#: schedule names: 1-64 of [0-9a-zA-Z-_.]
_NAME = re.compile(r"^[0-9A-Za-z_.-]{1,64}$")
#: retries of the Lambda invocation (throttling, service faults) and for how long
RETRY_POLICY = {"MaximumRetryAttempts": 10, "MaximumEventAgeInSeconds": 6 * 3600}
#: scheduler invocations billed per timer that fires without a retry of its target
INVOCATIONS_PER_TIMER = 1


def schedule_name(name: str) -> str:
    """The timer's name if the scheduler accepts it, else a stable shortened form (the
    same timer always maps to the same schedule, which keeps starts idempotent)."""
    if _NAME.match(name):
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:24]
    head = re.sub(r"[^0-9A-Za-z_.-]", "_", name)[:39]
    return f"{head}-{digest}"


def at_expression(due_at: datetime, now: datetime) -> str:
    """``at(...)`` for the whole UTC minute at or after ``due_at`` (at least a minute from
    ``now`` when ``due_at`` has passed)."""
    due = max(due_at.astimezone(UTC), now.astimezone(UTC) + timedelta(minutes=1))
    if due.second or due.microsecond:
        due = due.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return f"at({due.strftime('%Y-%m-%dT%H:%M:%S')})"


class SchedulerTimers(TimerService):
    def __init__(self, group: str, role_arn: str, target_arn: str, client: Any = None) -> None:
        self.group = group
        self.role_arn = role_arn
        self.target_arn = target_arn
        self._given_client = client

    @cached_property
    def client(self) -> Any:
        if self._given_client is not None:
            return self._given_client
        import boto3

        region = self.target_arn.split(":")[3]  # arn:aws:lambda:<region>:<account>:function:<name>
        return boto3.client("scheduler", region_name=region)

    def request(self, timer: Timer) -> dict[str, Any]:
        """The ``CreateSchedule`` parameters for ``timer``."""
        name = schedule_name(timer.name)
        return {
            "Name": name,
            "GroupName": self.group,
            "ScheduleExpression": at_expression(timer.due_at, clock.now()),
            "ScheduleExpressionTimezone": "UTC",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "ActionAfterCompletion": "DELETE",
            "ClientToken": name,
            "Description": f"Enclave timer {timer.name} (tenant {timer.tenant_id})"[:512],
            "Target": {"Arn": self.target_arn, "RoleArn": self.role_arn,
                       "Input": json.dumps(timer.payload, sort_keys=True), "RetryPolicy": dict(RETRY_POLICY)},
        }

    def start(self, timer: Timer) -> None:
        try:
            self.client.create_schedule(**self.request(timer))
        except self.client.exceptions.ConflictException:
            pass  # started before (a repair or a retry): nothing to do

    def cancel(self, tenant_id: str, name: str) -> None:
        try:
            self.client.delete_schedule(Name=schedule_name(name), GroupName=self.group)
        except self.client.exceptions.ResourceNotFoundException:
            pass  # fired already (and deleted itself), or never started
