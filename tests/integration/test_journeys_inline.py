"""A first step due at once runs inside the request or event that enrolled the member (no
timer for "now"), and keeps every guarantee of the timer path: a process killed right
after the enrolment's commit still sends once (the sweeper starts the timer from the
committed intent), a run that fails in line falls back to the timer, and a goal still ends
the enrolment mid-wait."""
from __future__ import annotations

import json

import pytest

from tests.fixtures import table_items
from tests.integration.journey_support import (  # noqa: F401 - fixtures
    T0,
    connect_webhook,
    create_journey,
    enrolments,
    follow,
    messages,
    new_member,
    paid,
    receiver,
    send_events,
    stats,
    sweep,
    tick,
    webhook_message,
)

HELLO_THEN_WAIT = {
    "trigger": {"type": "event", "event": {"type": "interaction", "name": "follow"}},
    "goal": {"event": {"type": "order.paid"}},
    "start": "hello",
    "steps": [webhook_message("hello", "Hello {{member.name|default:there}}", "w"),
              {"id": "w", "type": "wait", "duration": "PT1H", "next": "bye"},
              webhook_message("bye", "Bye")],
}


def _timers(tenant_id: str) -> list[str]:
    return sorted(i["name"]["S"] for i in table_items(f"T#{tenant_id}#JTIMER#"))


@pytest.fixture
def journey(http, tenant, clock, receiver):
    clock.now = T0
    connect_webhook(http, tenant, receiver)
    return create_journey(http, tenant, HELLO_THEN_WAIT)


def test_the_first_step_runs_inside_the_enrolling_event_and_a_goal_still_ends_the_wait(
        http, tenant, clock, receiver, journey):
    member = new_member(http, tenant, name="Lin")
    send_events(http, tenant, follow(member, "f-1"))
    assert receiver.texts() == ["Hello Lin"]  # delivered before the event's answer, without a timer
    [enrolment] = enrolments(http, tenant, member)
    assert enrolment["status"] == "live" and enrolment["resume_at"] == "bye"
    assert _timers(tenant.id) == [f"j-{enrolment['id']}-2"]  # the only timer: the hour's wait
    tick(http)  # (the schedules are global: other tests' timers may be due, so this test looks at its own)
    sweep(http)
    assert receiver.texts() == ["Hello Lin"] and _timers(tenant.id) == [f"j-{enrolment['id']}-2"]
    clock.advance(minutes=30)
    send_events(http, tenant, paid(member, "order-1"))  # the goal, mid-wait
    assert enrolments(http, tenant, member)[0]["exit_reason"] == "goal"
    clock.advance(hours=1)
    sweep(http)
    tick(http)
    assert receiver.texts() == ["Hello Lin"] and _timers(tenant.id) == []
    assert stats(http, tenant, journey["id"])["by_step"]["hello"]["sent"] == 1


def test_a_process_killed_right_after_the_enrolment_commit_still_sends_once(
        http, tenant, clock, receiver, journey, monkeypatch):
    from chalicelib.journeys import runner as module

    member = new_member(http, tenant)
    # the process dies right after the enrolment's commit: nothing after it runs (no step, no timer)
    with monkeypatch.context() as killed:
        killed.setattr(module, "run_or_start", lambda enrolment, active=None: None)
        send_events(http, tenant, follow(member, "f-1"))
    [enrolment] = enrolments(http, tenant, member)
    assert enrolment["status"] == "live" and receiver.received == [] and _timers(tenant.id) == []
    sweep(http)
    assert _timers(tenant.id) == []  # within the grace the request may still start it
    clock.advance(seconds=61)
    sweep(http)
    assert _timers(tenant.id) == [f"j-{enrolment['id']}-1"]  # the committed intent: the sweeper starts it
    tick(http)
    assert receiver.texts() == ["Hello there"] and _timers(tenant.id) == [f"j-{enrolment['id']}-2"]
    for _ in range(2):  # sweeping and ticking again repeat nothing
        clock.advance(seconds=61)
        sweep(http)
        tick(http)
        assert len(receiver.received) == 1 and _timers(tenant.id) == [f"j-{enrolment['id']}-2"]
    r = http.post("/v1/events", tenant.key, {"events": [follow(member, "f-1")]})  # sent again: a duplicate
    assert r.json["duplicates"] == 1 and len(receiver.received) == 1
    assert [m["step_id"] for m in messages(http, tenant, member_id=member)] == ["hello"]
    assert stats(http, tenant, journey["id"])["by_step"]["hello"]["sent"] == 1


def test_a_first_step_that_fails_in_line_falls_back_to_its_timer(http, tenant, clock, receiver, journey, monkeypatch):
    from chalicelib.journeys import runner

    member = new_member(http, tenant)
    real = runner.on_timer
    with monkeypatch.context() as broken:
        def unreachable(payload, **_):
            raise ConnectionError("DynamoDB throttled the run")

        broken.setattr(runner, "on_timer", unreachable)
        send_events(http, tenant, follow(member, "f-1"))
        assert receiver.received == []
    [enrolment] = enrolments(http, tenant, member)
    assert _timers(tenant.id) == [f"j-{enrolment['id']}-1"]  # a timer for the same step
    assert runner.on_timer is real
    tick(http)
    assert receiver.texts() == ["Hello there"] and _timers(tenant.id) == [f"j-{enrolment['id']}-2"]
    tick(http)
    assert len(receiver.received) == 1 and len(messages(http, tenant, member_id=member)) == 1


def test_a_first_step_that_is_not_due_yet_gets_a_timer(http, tenant, clock, receiver):
    clock.now = T0
    connect_webhook(http, tenant, receiver)
    create_journey(http, tenant, {"trigger": {"type": "api"}, "start": "w", "steps": [
        {"id": "w", "type": "wait", "duration": "P30D", "next": "hi"}, webhook_message("hi", "Hi")]})
    jid = http.get("/v1/journeys", tenant.key).json["data"][0]["id"]
    member = new_member(http, tenant)
    r = http.post(f"/v1/journeys/{jid}/enrolments", tenant.key, {"member_ids": [member]})
    assert r.json["results"][0]["status"] == "enrolled"
    # the wait ran in line (it is the step due now); what is due in 30 days has the one timer
    assert [e["resume_at"] for e in enrolments(http, tenant, member)] == ["hi"]
    assert len(_timers(tenant.id)) == 1 and receiver.received == []
    clock.advance(days=30, seconds=1)
    tick(http)  # (other tests' timers may be due too: the count is not this test's)
    assert receiver.texts() == ["Hi"] and _timers(tenant.id) == []


def test_a_webhook_message_is_claimed_with_its_step_and_stored_without_copies(
        http, tenant, clock, receiver, journey, monkeypatch):
    from chalicelib.journeys import store

    claims: list[str] = []
    real_save = store.save_message

    def counted(message):
        claims.append(message.sk)
        return real_save(message)

    monkeypatch.setattr(store, "save_message", counted)
    member = new_member(http, tenant, name="Lin")
    send_events(http, tenant, follow(member, "f-1"))
    assert claims == []  # the first attempt was claimed in the step's transaction: no claim write
    [body] = receiver.bodies()
    assert set(body) == {"id", "type", "created_at", "journey_id", "enrolment_id", "step_id", "consent", "member",
                         "content", "coupon"}
    assert (body["type"], body["journey_id"], body["step_id"]) == ("journey.message", journey["id"], "hello")
    assert body["content"] == {"subject": None, "body": "Hello Lin"} and body["member"]["id"] == member
    [item] = [i for i in table_items(f"T#{tenant.id}#M#{member}") if i["sk"]["S"].startswith("JMSG#")]
    assert body["id"] == receiver.received[0]["idempotency_key"] == item["sk"]["S"][len("JMSG#"):].replace("#", ".")
    stored = json.loads(item["payload"]["S"])
    assert not {"id", "created_at", "journey_id", "enrolment_id", "step_id", "content"} & set(stored)
    assert (item["status"]["S"], item["attempts"]["N"]) == ("sent", "1") and "gsi2pk" not in item
