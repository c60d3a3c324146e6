"""Lifecycle journeys through the API with a controllable clock: the brand stories (the
follow-up sequence, the 30-day repurchase coupon, birthdays, renewal reminders, tier
upgrades, the spend-more nudge), goals mid-wait, versions, re-entry, quiet hours, the
frequency cap and consent."""
from __future__ import annotations

from datetime import timedelta

import pytest

from tests.fixtures import run_jobs
from tests.integration.journey_support import (  # noqa: F401 - receiver is a fixture
    T0,
    aws,
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
    tick,
    webhook_message,
)
from tests.integration.test_events import set_program

pytestmark = pytest.mark.usefixtures("aws")

FOLLOW_UP = {
    "trigger": {"type": "event", "event": {"type": "interaction", "name": "follow"}},
    "goal": {"event": {"type": "order.paid"}},
    "start": "m1",
    "steps": [
        webhook_message("m1", "Welcome {{member.name|default:friend}}!", "w1"),
        {"id": "w1", "type": "wait", "duration": "PT2H", "next": "bought"},
        {"id": "bought", "type": "branch", "condition": {"ordered_since_enrolment": True},
         "then": "done", "else": "m2"},
        webhook_message("m2", "Still thinking? Here is our bestseller.", "w2"),
        {"id": "w2", "type": "wait", "duration": "PT2H", "next": "m3"},
        webhook_message("m3", "Last call: free shipping today."),
        {"id": "done", "type": "exit"},
    ],
}


def test_follow_up_sequence_at_0h_2h_4h_is_stopped_by_an_order_at_3h(http, tenant, clock, receiver):
    clock.now = T0
    connect_webhook(http, tenant, receiver)
    journey = create_journey(http, tenant, FOLLOW_UP)
    lin = new_member(http, tenant, name="Lin")
    wu = new_member(http, tenant, phone="13900139000", name="Wu")
    send_events(http, tenant, follow(lin, "f-lin"), follow(wu, "f-wu"))

    # message 1 at once, inside the event that enrolled them: no timer for "now"
    assert tick(http) == 0
    assert sorted(receiver.texts()) == ["Welcome Lin!", "Welcome Wu!"]
    assert all(r["verified"] for r in receiver.received)

    clock.advance(hours=2, seconds=1)
    tick(http)  # message 2 after two hours, to both
    assert sorted(receiver.texts()).count("Still thinking? Here is our bestseller.") == 2

    clock.advance(hours=1)
    send_events(http, tenant, paid(lin, "order-lin"))  # Lin buys at 3 h: out at once, mid-wait
    lin_enrolment = enrolments(http, tenant, lin)[0]
    assert (lin_enrolment["status"], lin_enrolment["exit_reason"]) == ("exited", "goal")
    assert lin_enrolment["converted_at"] is not None
    from chalicelib.journeys.timers import timers

    assert not timers().pending(tenant.id, f"j-{lin_enrolment['id']}-3")  # its timer was cancelled

    clock.advance(hours=1, seconds=1)
    tick(http)
    lin_texts = [r["json"]["content"]["body"] for r in receiver.received if r["json"]["member"]["id"] == lin]
    wu_texts = [r["json"]["content"]["body"] for r in receiver.received if r["json"]["member"]["id"] == wu]
    assert lin_texts == ["Welcome Lin!", "Still thinking? Here is our bestseller."]
    assert wu_texts[-1] == "Last call: free shipping today." and len(wu_texts) == 3
    s = stats(http, tenant, journey["id"])
    assert (s["entered"], s["converted"], s["exited"], s["completed"], s["live"]) == (2, 1, 1, 1, 0)
    assert s["conversion_rate"] == 0.5 and s["exit_reasons"] == {"goal": 1}
    assert [s["by_step"][k]["sent"] for k in ("m1", "m2", "m3")] == [2, 2, 1]
    log = messages(http, tenant, member_id=lin)
    assert [(m["step_id"], m["status"], m["attempts"]) for m in log] == [("m2", "sent", 1), ("m1", "sent", 1)]
    assert log[0]["provider_response"].startswith("HTTP 200")


def test_branch_sees_an_order_since_enrolment(http, tenant, clock, receiver):
    """Without a goal the branch is what stops message 2 for a member who bought."""
    clock.now = T0
    connect_webhook(http, tenant, receiver)
    create_journey(http, tenant, {**FOLLOW_UP, "goal": None})
    lin = new_member(http, tenant, name="Lin")
    send_events(http, tenant, paid(lin, "before"))  # an order before enrolment does not count
    send_events(http, tenant, follow(lin, "f1"))
    tick(http)
    clock.advance(hours=1)
    send_events(http, tenant, paid(lin, "after"))
    clock.advance(hours=1, seconds=1)
    tick(http)
    assert receiver.texts() == ["Welcome Lin!"]
    assert enrolments(http, tenant, lin)[0]["steps_taken"] == ["m1", "w1", "bought", "done"]


REPURCHASE = {
    "trigger": {"type": "event", "event": {"type": "order.paid"}},
    "entry_filter": {"metric": "orders", "op": "eq", "value": 1},
    "goal": {"event": {"type": "order.paid"}},
    "start": "wait",
    "steps": [
        {"id": "wait", "type": "wait", "duration": "P30D", "next": "coupon"},
        {"id": "coupon", "type": "grant_coupon", "coupon": {"prefix": "BACK", "valid_days": 14,
                                                            "description": "50 CNY off"}, "next": "tell"},
        webhook_message("tell", "{{member.name}}, {{coupon.description}} with {{coupon.code}} until "
                                "{{coupon.expires_at|date}}"),
    ],
}


def test_repurchase_coupon_30_days_after_a_first_order_not_for_who_ordered_again(http, tenant, clock, receiver):
    clock.now = T0
    connect_webhook(http, tenant, receiver)
    journey = create_journey(http, tenant, REPURCHASE)
    once = new_member(http, tenant, name="Once")
    twice = new_member(http, tenant, phone="13900139000", name="Twice")
    send_events(http, tenant, paid(once, "a1"), paid(twice, "b1"))
    tick(http)  # the schedule runs every minute: both start their 30-day wait
    clock.advance(days=10)
    send_events(http, tenant, paid(twice, "b2"))  # ordered again meanwhile: out, and not re-entered
    assert [e["status"] for e in enrolments(http, tenant, twice)] == ["exited"]

    clock.advance(days=20, seconds=1)
    tick(http)
    assert len(receiver.received) == 1
    sent = receiver.received[0]["json"]
    assert sent["member"]["id"] == once
    code = sent["coupon"]["code"]
    assert code.startswith("BACK") and len(code) == 12
    assert sent["content"]["body"] == f"Once, 50 CNY off with {code} until 2026-04-15"
    timeline = http.get(f"/v1/members/{once}/timeline", tenant.key).json["data"]
    assert [(e["type"], e["data"]["code"]) for e in timeline if e["type"] == "coupon.granted"] == [
        ("coupon.granted", code)]
    s = stats(http, tenant, journey["id"])
    assert (s["entered"], s["converted"], s["completed"]) == (2, 1, 1)
    assert s["by_step"]["coupon"]["sent"] == 1 and s["by_step"]["wait"]["reached"] == 2


REPURCHASE_BY_BRANCH = {
    "trigger": {"type": "event", "event": {"type": "order.paid"}},
    "entry_filter": {"metric": "orders", "op": "eq", "value": 1},
    "start": "wait",
    "steps": [
        {"id": "wait", "type": "wait", "duration": "P30D", "next": "ordered"},
        {"id": "ordered", "type": "branch", "condition": {"ordered_since_enrolment": True}, "else": "tell"},
        webhook_message("tell", "Come back, {{member.name}}"),
    ],
}


def test_the_triggering_order_is_not_a_re_order_even_stamped_at_or_after_enrolment(http, tenant, clock, receiver):
    """Regression (found by make bench): the order that enrolled the member counted as
    "ordered since enrolment" when its occurred_at was not strictly before the enrolment."""
    clock.now = T0
    connect_webhook(http, tenant, receiver)
    create_journey(http, tenant, REPURCHASE_BY_BRANCH)
    same, ahead = new_member(http, tenant, name="Same"), new_member(http, tenant, phone="13900139000", name="Ahead")
    brand_clock_ahead = (T0 + timedelta(seconds=30)).isoformat()
    send_events(http, tenant, paid(same, "s1"), {**paid(ahead, "a1"), "occurred_at": brand_clock_ahead})
    tick(http)
    clock.advance(days=30, minutes=1)
    tick(http)
    assert sorted(r["json"]["content"]["body"] for r in receiver.received) == ["Come back, Ahead", "Come back, Same"]


def test_birthday_message_at_ten_local_time(http, tenant, clock, receiver):
    clock.now = T0.replace(day=13, hour=17)  # 01:00 on 14 March in Shanghai
    connect_webhook(http, tenant, receiver)
    create_journey(http, tenant, {
        "trigger": {"type": "date", "attribute": "birthday", "days_before": 0, "at": "10:00"},
        "reentry": {"policy": "always"},
        "start": "hb", "steps": [webhook_message("hb", "Happy birthday, {{member.name}}!")]})
    today = new_member(http, tenant, name="Mei", birthday={"month": 3, "day": 14})
    new_member(http, tenant, phone="13900139000", name="Later", birthday={"month": 3, "day": 15})

    http.schedule("journey_triggers", {"tenant_ids": [tenant.id]})
    run_jobs()
    # the hourly schedule again: the same day's job, nobody twice
    http.schedule("journey_triggers", {"tenant_ids": [tenant.id]})
    run_jobs()
    clock.advance(hours=1)  # 02:00 local
    assert tick(http) == 0 and receiver.received == []
    clock.now = T0.replace(day=14, hour=2, second=30)  # 10:00:30 local
    assert tick(http) == 1
    assert receiver.texts() == ["Happy birthday, Mei!"]
    assert receiver.received[0]["json"]["member"]["id"] == today
    assert receiver.received[0]["json"]["created_at"].startswith("2026-03-14T02:00")


def test_renewal_reminder_seven_days_before_period_end(http, tenant, clock, receiver):
    from chalicelib.activity import service as activity

    clock.now = T0
    connect_webhook(http, tenant, receiver)
    create_journey(http, tenant, {
        "trigger": {"type": "membership", "event": "renewal_upcoming"},
        "reentry": {"policy": "always"},
        "start": "morning",
        "steps": [
            # billing emits the event 7 days ahead; wait for 10:00 local on that day
            {"id": "morning", "type": "wait", "until_date": {"attribute": "trigger.at", "offset": "-P7D",
                                                              "at": "10:00"}, "next": "remind"},
            webhook_message("remind", "Your black card expires on {{trigger.at|date}}; renew to keep your benefits."),
        ]})
    member = new_member(http, tenant, name="Black")
    period_end = T0 + timedelta(days=7, hours=6)  # 16:00 local, a week from now
    clock.advance(hours=-1)  # the event arrives at 09:00 local
    assert activity.record_domain_event(tenant.id, member, "membership.renewal_upcoming", "renew:sub_1:1",
                                        {"plan_id": "plan", "at": period_end.strftime("%Y-%m-%dT%H:%M:%SZ")})
    tick(http)
    assert receiver.received == []  # not before 10:00
    clock.advance(hours=1, seconds=1)
    tick(http)
    assert receiver.texts() == ["Your black card expires on 2026-03-09; renew to keep your benefits."]


def test_tier_upgrade_congratulation_and_spend_more_nudge(http, tenant, clock, receiver):
    clock.now = T0
    set_program(http, tenant)
    connect_webhook(http, tenant, receiver)
    create_journey(http, tenant, {
        "trigger": {"type": "tier_changed", "direction": "up", "to": "gold"},
        "start": "congrats", "steps": [webhook_message("congrats", "Welcome to {{tier.name}}, {{member.name}}!")]})
    create_journey(http, tenant, {
        "trigger": {"type": "event", "event": {"type": "order.paid", "where": [
            {"property": "amount", "op": "gte", "value": 50_00}]}},
        "reentry": {"policy": "always"}, "frequency_capped": False,
        "start": "is-silver",
        "steps": [{"id": "is-silver", "type": "branch", "condition": {"tier": "silver"}, "then": "nudge"},
                  webhook_message("nudge", "{{tier.progress_message}} (you are {{tier.name}})")]})
    member = new_member(http, tenant, name="Lin")
    send_events(http, tenant, paid(member, "o1", 110_00))  # silver
    tick(http)
    assert receiver.texts() == ["Spend 390.00 CNY more to reach Gold (you are Silver)"]
    send_events(http, tenant, paid(member, "o2", 20_00))  # below the nudge's amount: no entry
    clock.advance(minutes=1)
    send_events(http, tenant, paid(member, "o3", 400_00))  # crosses gold
    tick(http)
    assert receiver.texts()[1:] == ["Welcome to Gold, Lin!"]  # the nudge's branch says: not silver any more


def test_quiet_hours_defer_a_send_to_their_end(http, tenant, clock, receiver):
    clock.now = T0.replace(hour=14)  # 22:00 local
    connect_webhook(http, tenant, receiver, quiet_hours={"start": "21:00", "end": "09:00"})
    journey = create_journey(http, tenant, FOLLOW_UP)
    member = new_member(http, tenant, name="Night")
    send_events(http, tenant, follow(member, "late"))
    tick(http)
    assert receiver.received == []
    assert enrolments(http, tenant, member)[0]["wait_until"].startswith("2026-03-03T01:00:00")  # 09:00 local
    clock.now = T0.replace(day=3, hour=1, second=5)
    tick(http)
    assert receiver.texts() == ["Welcome Night!"]
    s = stats(http, tenant, journey["id"])["by_step"]["m1"]
    assert (s["reached"], s["deferred"], s["sent"]) == (1, 1, 1)


def test_frequency_cap_across_journeys_suppresses(http, tenant, clock, receiver):
    clock.now = T0
    connect_webhook(http, tenant, receiver, frequency_cap={"per_24_hours": 1, "per_7_days": 2})
    on_follow = {"type": "event", "event": {"type": "interaction", "name": "follow"}}
    one = create_journey(http, tenant, {"trigger": on_follow,
                                        "reentry": {"policy": "always"},
                                        "start": "a", "steps": [webhook_message("a", "from journey one")]})
    two = create_journey(http, tenant, {"trigger": on_follow,
                                        "reentry": {"policy": "always"},
                                        "start": "b", "steps": [webhook_message("b", "from journey two")]})
    member = new_member(http, tenant)
    send_events(http, tenant, follow(member, "f1"))
    tick(http)
    assert len(receiver.received) == 1
    log = messages(http, tenant, member_id=member)
    assert sorted((m["status"], m["reason"]) for m in log) == [("sent", None), ("suppressed", "frequency_cap")]
    clock.advance(hours=24, seconds=1)
    send_events(http, tenant, follow(member, "f2"))
    tick(http)
    assert len(receiver.received) == 2  # a new day: one more (two in 7 days)
    clock.advance(hours=24, seconds=1)
    send_events(http, tenant, follow(member, "f3"))
    tick(http)
    assert len(receiver.received) == 2  # the weekly cap
    suppressed = stats(http, tenant, one["id"])["suppressed_reasons"].get("frequency_cap", 0) + \
        stats(http, tenant, two["id"])["suppressed_reasons"].get("frequency_cap", 0)
    assert suppressed == 4


def test_no_consent_never_sent_on_that_channel(http, tenant, clock, receiver):
    clock.now = T0
    connect_webhook(http, tenant, receiver)
    journey = create_journey(http, tenant, {
        "trigger": {"type": "event", "event": {"type": "interaction", "name": "follow"}},
        "start": "wx", "steps": [webhook_message("wx", "via WeCom", "sms", consent="wechat"),
                                 {"id": "sms", "type": "send_message", "channel": "sms",
                                  "template": {"body": "via SMS"}}]})
    refused = new_member(http, tenant, consents={"wechat": {"granted": False}, "sms": {"granted": True}})
    silent = new_member(http, tenant, phone="13900139000", consents={})
    send_events(http, tenant, follow(refused, "r"), follow(silent, "s"))
    tick(http)
    assert receiver.received == []
    log = {(m["member_id"], m["step_id"]): (m["status"], m["reason"]) for m in messages(
        http, tenant, journey_id=journey["id"])}
    assert log[(refused, "wx")] == ("suppressed", "no_consent")
    assert log[(silent, "wx")] == ("suppressed", "no_consent") and log[(silent, "sms")] == ("suppressed", "no_consent")
    assert log[(refused, "sms")][0] in ("sent", "failed")  # consented: attempted (SNS is not mocked here)
    assert stats(http, tenant, journey["id"])["suppressed_reasons"] == {"no_consent": 3}
