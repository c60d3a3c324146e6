"""AWS: one Step Functions (Standard) execution per timer: a Wait state until ``due_at``
(TimestampPath), then a Task invoking the ``journey_step`` Lambda with the timer's payload.

The execution name is the timer's name, so a repeated start is idempotent (Step Functions
answers a running execution's same name and input with the same execution, and refuses
a finished one's name for 90 days: ``ExecutionAlreadyExists``, which here means done).
Cancelling is ``StopExecution``. ``state_machine_definition`` is the ASL that infra deploys.
"""
from __future__ import annotations

import json
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from .base import Timer, TimerService

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

#: Lambda errors worth retrying (throttling, service faults, our own transient failures)
#: state transitions billed per timer that fires without retries
TRANSITIONS_PER_TIMER = 2
RETRYABLE = ["Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
             "Lambda.TooManyRequestsException", "States.TaskFailed"]


def state_machine_definition(step_function_arn: str) -> dict[str, Any]:
    """The timer state machine, in Amazon States Language.

    Input: ``{"due_at": "2026-03-14T02:00:00Z", "tenant_id": ..., "member_id": ...,
    "enrolment_id": ..., "seq": n}``; a ``due_at`` in the past continues at once. The step
    Lambda is idempotent, so retries are safe. Billing: 2 state transitions per timer
    (the Wait and the Task), plus one per task retry.
    """
    return {
        "Comment": "Enclave journey timer: wait until due_at, then run the enrolment's next step",
        "StartAt": "WaitUntilDue",
        "States": {
            "WaitUntilDue": {"Type": "Wait", "TimestampPath": "$.due_at", "Next": "RunStep"},
            "RunStep": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": step_function_arn, "Payload.$": "$"},
                "OutputPath": "$.Payload",
                "Retry": [{"ErrorEquals": RETRYABLE, "IntervalSeconds": 2, "MaxAttempts": 6, "BackoffRate": 2.0}],
                "End": True,
            },
        },
    }


def due_timestamp(timer: Timer) -> str:
    """``due_at`` as Step Functions accepts it: whole seconds, UTC, ``Z`` (rounded up, so
    the step never runs before its time)."""
    due = timer.due_at
    if due.microsecond:
        due = due.replace(microsecond=0) + timedelta(seconds=1)
    return due.strftime("%Y-%m-%dT%H:%M:%SZ")


def execution_arn(state_machine_arn: str, name: str) -> str:
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{name}"


class StepFunctionsTimers(TimerService):
    def __init__(self, state_machine_arn: str, client: Any = None) -> None:
        self.state_machine_arn = state_machine_arn
        self._given_client = client

    @cached_property
    def client(self) -> SFNClient:
        if self._given_client is not None:
            return self._given_client
        import boto3

        region = self.state_machine_arn.split(":")[3]  # arn:aws:states:<region>:<account>:stateMachine:<name>
        return boto3.client("stepfunctions", region_name=region)

    def start(self, timer: Timer) -> None:
        body = json.dumps({"due_at": due_timestamp(timer), **timer.payload}, sort_keys=True)
        try:
            self.client.start_execution(stateMachineArn=self.state_machine_arn, name=timer.name, input=body)
        except self.client.exceptions.ExecutionAlreadyExists:
            pass  # started before (this is a repair or a retry): nothing to do

    def cancel(self, tenant_id: str, name: str) -> None:
        try:
            self.client.stop_execution(executionArn=execution_arn(self.state_machine_arn, name),
                                       error="JourneyExited", cause="the enrolment ended before this step")
        except self.client.exceptions.ExecutionDoesNotExist:
            pass
