"""Delivery guarantees: a crash between the commit and the timer start is repaired by the
sweeper; a step that runs twice sends once; retries back off; a send whose outcome is
unknown is retried only where the receiver dedupes; SES and SNS (captured by moto)."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from tests.fixtures import table_items
from tests.integration.journey_support import (  # noqa: F401 - fixtures
    SENDER,
    T0,
    aws,
    connect_webhook,
    create_journey,
    messages,
    new_member,
    receiver,
    sent_emails,
    sent_sms,
    stats,
    sweep,
    tick,
    webhook_message,
)

pytestmark = pytest.mark.usefixtures("aws")

HELLO = {"trigger": {"type": "api"}, "reentry": {"policy": "always"}, "start": "hello",
         "steps": [webhook_message("hello", "Hello {{member.name|default:there}}")]}


def _enrol(http, tenant, jid, member_id):
    r = http.post(f"/v1/journeys/{jid}/enrolments", tenant.key, {"member_ids": [member_id]})
    assert r.status == 200 and r.json["results"][0]["status"] == "enrolled", r
    return r.json["results"][0]["enrolment_id"]


def _timer_path(monkeypatch) -> None:
    """Enrolments get a timer for their first step instead of running it in line (what a
    first step that is not due yet gets): the tests of the timer path's guarantees."""
    from chalicelib.journeys import runner

    monkeypatch.setattr(runner, "run_or_start", lambda enrolment, active=None: runner.start_timer(enrolment))


def test_a_crash_between_commit_and_timer_start_is_repaired_by_the_sweeper(http, tenant, clock, receiver, monkeypatch):
    from chalicelib.journeys.timers import timers

    clock.now = T0
    _timer_path(monkeypatch)
    connect_webhook(http, tenant, receiver)
    jid = create_journey(http, tenant, HELLO)["id"]
    member = new_member(http, tenant)
    service = timers()
    real_start = service.start
    crashes = []

    def start_once_then_work(timer):
        if not crashes:
            crashes.append(timer.name)
            raise ConnectionError("the process died right after the commit")
        return real_start(timer)

    monkeypatch.setattr(service, "start", start_once_then_work)
    enrolment_id = _enrol(http, tenant, jid, member)  # committed; the timer start "crashed"
    assert crashes == [f"j-{enrolment_id}-1"]
    assert table_items(f"T#{tenant.id}#JTIMER#") == []
    clock.advance(minutes=5)
    assert tick(http) == 0 and receiver.received == []  # nothing would ever fire...
    repaired = sweep(http)
    assert repaired["timers_started"] == 1  # ...until the sweeper starts the intent
    assert sweep(http)["timers_started"] == 0  # once
    assert tick(http) == 1
    assert receiver.texts() == ["Hello there"]
    clock.advance(minutes=30)
    sweep(http)
    tick(http)
    assert len(receiver.received) == 1 and stats(http, tenant, jid)["by_step"]["hello"]["sent"] == 1


def test_a_step_that_runs_twice_sends_once(http, tenant, clock, receiver):
    clock.now = T0
    connect_webhook(http, tenant, receiver)
    jid = create_journey(http, tenant, HELLO)["id"]
    member = new_member(http, tenant)
    enrolment_id = _enrol(http, tenant, jid, member)  # the step ran in line, in the enrolling request
    assert receiver.texts() == ["Hello there"]
    payload = {"tenant_id": tenant.id, "member_id": member, "enrolment_id": enrolment_id, "seq": 1}
    again = http.invoke("journey_step", payload)  # a timer of the same step fired anyway
    twice = http.invoke("journey_step", payload)  # a retried Lambda
    assert again == twice == {"result": "stale"}
    assert tick(http) == 0  # no timer was started for "now"
    assert len(receiver.received) == 1 and len(messages(http, tenant, member_id=member)) == 1


def test_two_concurrent_runs_of_one_step_send_once(http, tenant, clock, receiver, monkeypatch):
    """Both runs read the enrolment before either commits: the message claim and the
    enrolment's version let exactly one commit."""
    from chalicelib.journeys import runner

    clock.now = T0
    _timer_path(monkeypatch)
    connect_webhook(http, tenant, receiver)
    jid = create_journey(http, tenant, HELLO)["id"]
    member = new_member(http, tenant)
    enrolment_id = _enrol(http, tenant, jid, member)
    payload = {"tenant_id": tenant.id, "member_id": member, "enrolment_id": enrolment_id, "seq": 1}
    both_decided = threading.Barrier(2, timeout=10)
    real_finish = runner._finish

    def finish_together(*args, **kwargs):
        both_decided.wait()
        return real_finish(*args, **kwargs)

    monkeypatch.setattr(runner, "_finish", finish_together)
    results = []
    threads = [threading.Thread(target=lambda: results.append(runner.on_timer(dict(payload)))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r["result"] for r in results) == ["already_ran", "completed"]
    assert len(receiver.received) == 1
    assert [m["status"] for m in messages(http, tenant, member_id=member)] == ["sent"]


def test_a_crash_before_delivery_leaves_the_message_in_the_outbox(http, tenant, clock, receiver, monkeypatch):
    from chalicelib.journeys import runner

    clock.now = T0
    connect_webhook(http, tenant, receiver)
    jid = create_journey(http, tenant, HELLO)["id"]
    member = new_member(http, tenant)
    monkeypatch.setattr(runner.delivery, "deliver", lambda message, **_: "crashed")
    _enrol(http, tenant, jid, member)  # the step commits in line; the process "dies" before delivering
    monkeypatch.undo()
    # a webhook's first attempt is claimed in the step's own write: what a dead deliverer leaves
    assert [(m["status"], m["attempts"]) for m in messages(http, tenant, member_id=member)] == [("sending", 1)]
    assert sweep(http)["deliveries_attempted"] == 0  # the lease of that attempt holds
    clock.advance(minutes=2, seconds=1)
    assert sweep(http)["deliveries_attempted"] == 1  # then it is retried (the receiver dedupes)
    assert [(m["status"], m["attempts"]) for m in messages(http, tenant, member_id=member)] == [("sent", 2)]
    assert sweep(http)["deliveries_attempted"] == 0 and len(receiver.received) == 1


def test_retries_back_off_then_succeed_or_fail_for_good(http, tenant, clock, receiver):
    clock.now = T0
    connect_webhook(http, tenant, receiver)
    jid = create_journey(http, tenant, HELLO)["id"]
    flaky, rejected = new_member(http, tenant), new_member(http, tenant, phone="13900139000")
    receiver.answers = [503]
    _enrol(http, tenant, jid, flaky)
    tick(http)
    [m] = messages(http, tenant, member_id=flaky)
    assert (m["status"], m["attempts"], m["provider_response"]) == ("queued", 1, "HTTP 503")  # never the body
    assert m["next_attempt_at"].startswith("2026-03-02T02:00:30")
    clock.advance(seconds=20)
    assert sweep(http)["deliveries_attempted"] == 0  # not before its backoff
    clock.advance(seconds=11)
    sweep(http)
    [m] = messages(http, tenant, member_id=flaky)
    assert (m["status"], m["attempts"]) == ("sent", 2)
    assert receiver.received[0]["idempotency_key"] == m["id"]

    receiver.answers = [400]
    _enrol(http, tenant, jid, rejected)
    tick(http)
    [m] = messages(http, tenant, member_id=rejected)
    assert (m["status"], m["reason"], m["attempts"]) == ("failed", "provider_rejected", 1)

    receiver.answers = [500] * 6
    _enrol(http, tenant, jid, flaky)
    tick(http)
    for minutes in (1, 3, 11, 61, 361):
        clock.advance(minutes=minutes)
        sweep(http)
    latest = messages(http, tenant, member_id=flaky)[0]
    assert (latest["status"], latest["reason"], latest["attempts"]) == ("failed", "gave_up", 6)
    assert stats(http, tenant, jid)["by_step"]["hello"] | {"reached": 3, "sent": 1, "failed": 2} == \
        stats(http, tenant, jid)["by_step"]["hello"]


def test_an_unknown_outcome_is_retried_only_where_the_receiver_dedupes(http, tenant, clock, receiver, monkeypatch):
    """A deliverer that dies mid-send leaves ``sending``: after its lease the webhook is
    sent again (the receiver dedupes by Idempotency-Key); an email is not risked twice."""
    from chalicelib.journeys.channels import channel

    clock.now = T0
    connect_webhook(http, tenant, receiver)
    steps = {"webhook": webhook_message("only", "hi"),
             "email": {"id": "only", "type": "send_message", "channel": "email",
                       "template": {"subject": "Hi", "body": "hello"}}}
    outcome = {}
    _timer_path(monkeypatch)
    for n, (name, step) in enumerate(steps.items()):
        jid = create_journey(http, tenant, {"trigger": {"type": "api"}, "start": "only", "steps": [step]})["id"]
        member = new_member(http, tenant, phone=f"1380013800{n}", email=f"m{n}@example.com")
        enrolment_id = _enrol(http, tenant, jid, member)

        def die(message):
            raise SystemError("the deliverer died mid-send")

        with monkeypatch.context() as patched:
            patched.setattr(channel(name), "send", die)
            ran = http.invoke("journey_step", {"tenant_id": tenant.id, "member_id": member,
                                               "enrolment_id": enrolment_id, "seq": 1})
        assert ran["result"] == "completed"  # the step committed; its message is the outbox's now
        assert [m["status"] for m in messages(http, tenant, member_id=member)] == ["sending"]
        sweep(http)
        assert [m["status"] for m in messages(http, tenant, member_id=member)] == ["sending"]  # lease held
        clock.advance(minutes=3)
        sweep(http)
        [m] = messages(http, tenant, member_id=member)
        outcome[name] = (m["status"], m["reason"], m["attempts"])
    assert outcome == {"webhook": ("sent", None, 2), "email": ("failed", "outcome_unknown", 1)}
    assert sent_emails() == [] and len(receiver.received) == 1


def test_email_through_ses_and_sms_through_sns(http, tenant, clock):
    clock.now = T0
    jid = create_journey(http, tenant, {
        "trigger": {"type": "api"}, "frequency_capped": False, "start": "mail",
        "steps": [{"id": "mail", "type": "send_message", "channel": "email", "next": "sms",
                   "template": {"subject": "Welcome, {{member.name}}", "body": "Your first gift is waiting."}},
                  {"id": "sms", "type": "send_message", "channel": "sms",
                   "template": {"body": "{{member.name}}: reply TD to unsubscribe"}}]})["id"]
    member = new_member(http, tenant, name="Lin", email="lin@example.com")
    no_email = new_member(http, tenant, phone="13900139000", name="Wu")
    http.post(f"/v1/journeys/{jid}/enrolments", tenant.key, {"member_ids": [member, no_email]})
    tick(http)
    [email] = sent_emails()
    assert (email.source, email.destinations["ToAddresses"], email.subject) == (SENDER, ["lin@example.com"],
                                                                                "Welcome, Lin")
    assert sorted(sent_sms()) == [("+8613800138000", "Lin: reply TD to unsubscribe"),
                                  ("+8613900139000", "Wu: reply TD to unsubscribe")]
    log = {(m["member_id"], m["channel"]): m for m in messages(http, tenant, journey_id=jid)}
    assert log[(member, "email")]["status"] == "sent" and log[(member, "email")]["provider_message_id"]
    assert (log[(no_email, "email")]["status"], log[(no_email, "email")]["reason"]) == ("suppressed", "no_address")
    assert log[(no_email, "sms")]["provider_response"].startswith("MessageId ")


def test_ses_rejection_is_a_failure_with_the_providers_answer(http, tenant, clock, monkeypatch):
    clock.now = T0
    monkeypatch.setenv("ENCLAVE_EMAIL_FROM", "unverified@brand.example")
    jid = create_journey(http, tenant, {"trigger": {"type": "api"}, "start": "mail", "steps": [
        {"id": "mail", "type": "send_message", "channel": "email", "template": {"subject": "s", "body": "b"}}]})["id"]
    member = new_member(http, tenant, email="lin@example.com")
    _enrol(http, tenant, jid, member)
    tick(http)
    [m] = messages(http, tenant, member_id=member)
    assert (m["status"], m["reason"]) == ("failed", "provider_rejected")
    assert m["provider_response"].startswith("MessageRejected")


def test_webhook_step_calls_the_tenant_signed_without_consent_or_cap(http, tenant, clock, receiver):
    clock.now = T0
    connect_webhook(http, tenant, receiver, frequency_cap={"per_24_hours": 1})
    jid = create_journey(http, tenant, {"trigger": {"type": "api"}, "start": "c", "steps": [
        {"id": "c", "type": "grant_coupon", "coupon": {"prefix": "VIP"}, "next": "call"},
        {"id": "call", "type": "webhook", "event": "journey.vip_coupon", "data": {"value": 5000}}]})["id"]
    member = new_member(http, tenant, consents={})
    _enrol(http, tenant, jid, member)
    tick(http)
    [call] = receiver.received
    assert call["verified"] is True
    assert call["json"]["type"] == "journey.vip_coupon" and call["json"]["data"] == {"value": 5000}
    assert call["json"]["coupon"]["code"].startswith("VIP") and call["json"]["member_id"] == member
    assert clock.now - T0 < timedelta(minutes=1)
