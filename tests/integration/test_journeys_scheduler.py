"""The EventBridge Scheduler timer adapter against moto's ``scheduler`` (which stores
schedules but never fires them: the test fires one the way the scheduler would, by invoking
``journey_step`` with the schedule's target input). DynamoDB stays DynamoDB Local."""
from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

from tests.integration.journey_support import (  # noqa: F401 - fixtures
    T0,
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
GROUP = "enclave-test-journey-timers"
ROLE = "arn:aws:iam::123456789012:role/enclave-test-scheduler"
STEP = f"arn:aws:lambda:{REGION}:123456789012:function:enclave-test-journey_step"


@pytest.fixture
def scheduler(http, monkeypatch) -> Iterator[Any]:
    import boto3
    from moto import mock_aws

    from chalicelib.journeys.timers import timers

    with mock_aws():
        client = boto3.client("scheduler", region_name=REGION)
        client.create_schedule_group(Name=GROUP)
        monkeypatch.setenv("ENCLAVE_TIMERS", "scheduler")
        monkeypatch.setenv("ENCLAVE_SCHEDULE_GROUP", GROUP)
        monkeypatch.setenv("ENCLAVE_SCHEDULER_ROLE_ARN", ROLE)
        monkeypatch.setenv("ENCLAVE_JOURNEY_STEP_ARN", STEP)
        timers.cache_clear()
        try:
            yield client
        finally:
            timers.cache_clear()


def _schedules(client: Any) -> dict[str, dict[str, Any]]:
    listed = client.list_schedules(GroupName=GROUP)["Schedules"]
    return {s["Name"]: client.get_schedule(Name=s["Name"], GroupName=GROUP) for s in listed}


def _fire(http, client: Any, name: str) -> dict[str, Any]:
    """What EventBridge Scheduler does at the schedule's time: invoke the target with its
    input, then delete the schedule (ActionAfterCompletion=DELETE)."""
    schedule = client.get_schedule(Name=name, GroupName=GROUP)
    result = http.invoke("journey_step", json.loads(schedule["Target"]["Input"]))
    client.delete_schedule(Name=name, GroupName=GROUP)
    return result


def test_a_wait_is_a_one_time_schedule_that_runs_the_step_and_a_goal_deletes_it(
        http, tenant, clock, receiver, scheduler):
    clock.now = T0
    connect_webhook(http, tenant, receiver)
    journey = create_journey(http, tenant, {
        "trigger": {"type": "api"}, "goal": {"event": {"type": "order.paid"}}, "start": "hello",
        "steps": [webhook_message("hello", "Hello!", "w"),
                  {"id": "w", "type": "wait", "duration": "PT90M", "next": "bye"},
                  webhook_message("bye", "Bye!", "w2"),
                  {"id": "w2", "type": "wait", "duration": "P1D", "next": "last"},
                  webhook_message("last", "Last!")]})
    member = new_member(http, tenant)
    r = http.post(f"/v1/journeys/{journey['id']}/enrolments", tenant.key, {"member_ids": [member]})
    enrolment_id = r.json["results"][0]["enrolment_id"]
    assert receiver.texts() == ["Hello!"]  # in line: no schedule for "now"

    name = f"j-{enrolment_id}-2"
    [(found, schedule)] = _schedules(scheduler).items()
    assert found == name
    assert schedule["ScheduleExpression"] == "at(2026-03-02T03:30:00)"  # T0 + 90 min, a whole minute
    assert schedule["ScheduleExpressionTimezone"] == "UTC"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert schedule["ActionAfterCompletion"] == "DELETE"
    target = schedule["Target"]
    assert (target["Arn"], target["RoleArn"]) == (STEP, ROLE)
    assert json.loads(target["Input"]) == {"tenant_id": tenant.id, "member_id": member,
                                           "enrolment_id": enrolment_id, "seq": 2}

    # a repeated start (the sweeper's repair, a retry) is a no-op: ConflictException
    from chalicelib.journeys.timers import Timer, timers

    timers().start(Timer(name=name, tenant_id=tenant.id, due_at=T0, payload={"other": "input"}))
    assert json.loads(_schedules(scheduler)[name]["Target"]["Input"])["seq"] == 2

    clock.advance(minutes=90)
    assert _fire(http, scheduler, name)["result"] == "waiting"
    assert receiver.texts() == ["Hello!", "Bye!"]
    assert list(_schedules(scheduler)) == [f"j-{enrolment_id}-3"]

    send_events(http, tenant, paid(member, "order-1"))  # the goal mid-wait: the schedule is deleted
    assert enrolments(http, tenant, member)[0]["exit_reason"] == "goal"
    assert _schedules(scheduler) == {}
    timers().cancel(tenant.id, f"j-{enrolment_id}-3")  # cancelling again: nothing to delete, no error
    assert receiver.texts() == ["Hello!", "Bye!"]


def test_the_payload_passes_through_untouched_and_long_names_stay_stable(http, tenant, clock, scheduler):
    from chalicelib.journeys.timers import Timer, timers
    from chalicelib.journeys.timers.scheduler import schedule_name

    clock.now = T0
    payload = {"kind": "group_deadline", "tenant_id": tenant.id, "group_id": "g-1", "nested": {"a": [1, 2]}}
    long_name = "group-deadline-" + "x" * 70
    due = datetime(2026, 3, 3, 12, 0, 30, tzinfo=timezone.utc)
    timers().start(Timer(name=long_name, tenant_id=tenant.id, due_at=due, payload=payload))
    timers().start(Timer(name=long_name, tenant_id=tenant.id, due_at=due, payload=payload))
    [(name, schedule)] = _schedules(scheduler).items()
    assert name == schedule_name(long_name) and len(name) <= 64 and name.startswith("group-deadline-")
    assert json.loads(schedule["Target"]["Input"]) == payload
    assert schedule["ScheduleExpression"] == "at(2026-03-03T12:01:00)"  # rounded up: never early
    timers().cancel(tenant.id, long_name)
    assert _schedules(scheduler) == {}
