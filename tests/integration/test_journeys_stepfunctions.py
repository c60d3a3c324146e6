"""The Step Functions timer adapter and its state machine, executed by moto's interpreter
(real ASL: the Wait state, the Lambda task) with the task bridged in-process to the
app's ``journey_step`` function. DynamoDB stays DynamoDB Local."""
from __future__ import annotations

import io
import json
import os
import time
import zipfile
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tests.integration.journey_support import (  # noqa: F401 - fixtures
    connect_webhook,
    create_journey,
    enrolments,
    new_member,
    paid,
    receiver,
    send_events,
    webhook_message,
)

REGION = "us-east-1"


@pytest.fixture
def utc() -> Iterator[None]:
    """moto's Wait compares TimestampPath with local time: run in UTC."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if before is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = before
    time.tzset()


@pytest.fixture
def step_functions(http, utc, monkeypatch) -> Iterator[dict[str, Any]]:
    import boto3
    from moto import mock_aws
    from moto.awslambda_simple.models import LambdaSimpleBackend

    from chalicelib.journeys.timers import stepfunctions, timers

    invocations: list[dict[str, Any]] = []

    def bridge(self, function_name, qualifier, body, headers, response_headers):  # noqa: ANN001 - moto's signature
        payload = json.loads(body)
        invocations.append(payload)
        return json.dumps(http.invoke("journey_step", payload)).encode()

    monkeypatch.setattr(LambdaSimpleBackend, "invoke", bridge)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}):
        iam = boto3.client("iam", region_name=REGION)
        role = iam.create_role(RoleName="journey-timers", AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                    "Principal": {"Service": "states.amazonaws.com"}}]}))["Role"]["Arn"]
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as z:
            z.writestr("app.py", "def journey_step(event, context):\n    return event\n")
        function = boto3.client("lambda", region_name=REGION).create_function(
            FunctionName="enclave-test-journey_step", Runtime="python3.12", Role=role, Handler="app.journey_step",
            Code={"ZipFile": code.getvalue()})["FunctionArn"]
        sfn = boto3.client("stepfunctions", region_name=REGION)
        machine = sfn.create_state_machine(
            name="enclave-test-journey-timers", roleArn=role,
            definition=json.dumps(stepfunctions.state_machine_definition(function)))["stateMachineArn"]
        monkeypatch.setenv("ENCLAVE_TIMERS", "stepfunctions")
        monkeypatch.setenv("ENCLAVE_STATE_MACHINE_ARN", machine)
        timers.cache_clear()
        try:
            yield {"sfn": sfn, "machine": machine, "invocations": invocations}
        finally:
            timers.cache_clear()


def _wait_for(sfn: Any, arn: str, status: str, seconds: float = 15.0) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        found = sfn.describe_execution(executionArn=arn)
        if found["status"] == status or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_state_machine_waits_runs_the_step_and_is_stopped_by_a_goal(http, tenant, receiver, step_functions):
    from chalicelib.journeys.timers import Timer, timers
    from chalicelib.journeys.timers.stepfunctions import due_timestamp, execution_arn

    sfn, machine = step_functions["sfn"], step_functions["machine"]
    connect_webhook(http, tenant, receiver)
    journey = create_journey(http, tenant, {
        "trigger": {"type": "api"}, "goal": {"event": {"type": "order.paid"}}, "start": "hello",
        "steps": [webhook_message("hello", "Hello!", "w"),
                  {"id": "w", "type": "wait", "duration": "PT1H", "next": "bye"},
                  webhook_message("bye", "Bye!")]})
    member = new_member(http, tenant)
    r = http.post(f"/v1/journeys/{journey['id']}/enrolments", tenant.key, {"member_ids": [member]})
    enrolment_id = r.json["results"][0]["enrolment_id"]

    # the first step was due at once: it ran in the enrolling request, no execution for "now"
    assert receiver.texts() == ["Hello!"]
    names = [e["name"] for e in sfn.list_executions(stateMachineArn=machine)["executions"]]
    assert names == [f"j-{enrolment_id}-2"]

    # the step scheduled the next timer as an execution waiting an hour
    second_arn = execution_arn(machine, f"j-{enrolment_id}-2")
    second = sfn.describe_execution(executionArn=second_arn)
    assert second["status"] == "RUNNING"
    wait_until = datetime.fromisoformat(enrolments(http, tenant, member)[0]["wait_until"].replace("Z", "+00:00"))
    assert json.loads(second["input"])["due_at"] == due_timestamp(Timer("x", tenant.id, wait_until))

    # a timer due now (the fallback of a failed in-line run): the Wait passes, the Task runs the step
    service = timers()
    stale = {"tenant_id": tenant.id, "member_id": member, "enrolment_id": enrolment_id, "seq": 1}
    service.start(Timer(name=f"j-{enrolment_id}-1", tenant_id=tenant.id, due_at=datetime.now(timezone.utc),
                        payload=stale))
    first = _wait_for(sfn, execution_arn(machine, f"j-{enrolment_id}-1"), "SUCCEEDED")
    assert first["status"] == "SUCCEEDED", first
    assert json.loads(first["output"]) == {"result": "stale"}  # the in-line run did it: nothing twice
    assert step_functions["invocations"] == [{"due_at": json.loads(first["input"])["due_at"], **stale}]
    history = [e["type"] for e in sfn.get_execution_history(executionArn=first["executionArn"])["events"]]
    assert "WaitStateEntered" in history and "TaskSucceeded" in history

    # a retried start of either timer is a no-op (same name: same or finished execution)
    for seq, arn in ((1, first["executionArn"]), (2, second_arn)):
        data = json.loads(sfn.describe_execution(executionArn=arn)["input"])
        service.start(Timer(name=f"j-{enrolment_id}-{seq}", tenant_id=tenant.id,
                            due_at=datetime.fromisoformat(data.pop("due_at").replace("Z", "+00:00")),
                            payload=data))
    names = [e["name"] for e in sfn.list_executions(stateMachineArn=machine)["executions"]]
    assert sorted(names) == [f"j-{enrolment_id}-1", f"j-{enrolment_id}-2"]

    # an order mid-wait: the enrolment ends and its execution is stopped
    send_events(http, tenant, paid(member, "order-1"))
    assert _wait_for(sfn, second_arn, "ABORTED")["status"] == "ABORTED"
    assert enrolments(http, tenant, member)[0]["exit_reason"] == "goal"
    assert receiver.texts() == ["Hello!"] and len(step_functions["invocations"]) == 1


def test_a_timer_due_in_a_moment_really_waits(http, tenant, step_functions):
    from chalicelib.journeys.timers import Timer, timers
    from chalicelib.journeys.timers.stepfunctions import execution_arn

    sfn, machine = step_functions["sfn"], step_functions["machine"]
    started = time.monotonic()
    due = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=2)
    payload = {"tenant_id": tenant.id, "member_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV",
               "enrolment_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV", "seq": 1}
    timers().start(Timer(name="j-soon-1", tenant_id=tenant.id, due_at=due, payload=payload))
    assert sfn.describe_execution(executionArn=execution_arn(machine, "j-soon-1"))["status"] == "RUNNING"
    assert step_functions["invocations"] == []
    done = _wait_for(sfn, execution_arn(machine, "j-soon-1"), "SUCCEEDED")
    assert done["status"] == "SUCCEEDED" and time.monotonic() - started > 1.0
    assert json.loads(done["output"]) == {"result": "stale"}  # no such enrolment: nothing to do
