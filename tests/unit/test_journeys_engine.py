"""The journey engine's pure decisions with any clock: waits, dates, quiet hours, the
frequency cap, triggers, re-entry, templates, graph checks, signatures, the ASL."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.journeys import engine, templates
from chalicelib.journeys.channels.webhook import SignatureError, check_url, sign, verify_signature
from chalicelib.journeys.timers.base import Timer
from chalicelib.journeys.timers.stepfunctions import due_timestamp, execution_arn, state_machine_definition
from chalicelib.journeys.validation import check_graph, expand_condition

SH = "Asia/Shanghai"
MONDAY_10_SH = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)


def at(hours: float = 0, days: int = 0) -> datetime:
    return MONDAY_10_SH + timedelta(days=days, hours=hours)


@pytest.mark.parametrize("text, after", [
    ("PT2H", at(2)), ("P30D", at(days=30)), ("P1W", at(days=7)), ("PT90M", at(1.5)), ("P1DT12H", at(36)),
    ("P1M", datetime(2026, 4, 2, 2, 0, tzinfo=timezone.utc)), ("-P7D", at(days=-7)),
])
def test_iso_durations(text, after):
    assert engine.parse_duration(text).after(MONDAY_10_SH) == after


@pytest.mark.parametrize("text", ["", "P", "PT", "2H", "P1H", "PT1D", "P1.5D", "-PT", "P-1D"])
def test_bad_durations_are_refused(text):
    with pytest.raises(ValueError):
        engine.parse_duration(text)


def test_until_time_and_weekday_in_the_tenants_zone():
    assert engine.next_time_of_day(at(), "10:00", SH) == at()  # exactly now counts
    assert engine.next_time_of_day(at(0.01), "10:00", SH) == at(days=1)
    assert engine.next_time_of_day(at(), "21:30", SH) == at(11.5)
    assert engine.next_weekday(at(), "monday", "09:00", SH) == at(days=7, hours=-1)
    assert engine.next_weekday(at(), "wednesday", "10:00", SH) == at(days=2)
    # a zone with DST: 02:30 does not exist on 8 March 2026 in New York (moves to 03:30 EDT)
    ny = engine.at_local(datetime(2026, 3, 8).date(), "02:30", "America/New_York")
    assert ny == datetime(2026, 3, 8, 7, 30, tzinfo=timezone.utc)


def test_date_waits_yearly_dates_offsets_and_the_past():
    birthday = {"month": 3, "day": 14}
    step = {"until_date": {"attribute": "birthday", "offset": "-P7D", "at": "10:00"}}
    assert engine.wait_due(step, at(), SH, {"birthday": birthday}, {}) == datetime(2026, 3, 7, 2, tzinfo=timezone.utc)
    late = at(days=10)  # after this year's 7 March: next year's
    assert engine.wait_due(step, late, SH, {"birthday": birthday}, {}) == datetime(2027, 3, 7, 2, tzinfo=timezone.utc)
    leap = {"until_date": {"attribute": "birthday", "at": "10:00"}}
    assert engine.wait_due(leap, at(), SH, {"birthday": {"month": 2, "day": 29}}, {}).date().isoformat() == "2027-02-28"
    trig = {"until_date": {"attribute": "trigger.at", "offset": "-P7D", "at": "10:00"}}
    assert engine.wait_due(trig, at(), SH, {}, {"at": "2026-03-20T08:00:00Z"}) == at(days=11)
    assert engine.wait_due(trig, at(), SH, {}, {"at": "2026-03-05T08:00:00Z"}) == at()  # past: at once
    custom = {"until_date": {"attribute": "anniversary", "at": "10:00"}}
    assert engine.wait_due(custom, at(), SH, {"attributes": {"anniversary": "06-01"}}, {}).month == 6
    assert engine.wait_due(custom, at(), SH, {"attributes": {}}, {}) is None
    assert engine.is_yearly_match({"month": 2, "day": 29}, datetime(2027, 2, 28).date())
    assert engine.is_yearly_match("1990-03-14", datetime(2026, 3, 14).date())
    assert not engine.is_yearly_match("not a date", datetime(2026, 3, 14).date())


def test_quiet_hours_across_midnight():
    quiet = {"start": "21:00", "end": "09:00"}
    assert engine.quiet_until(at(), SH, quiet) is None  # 10:00 local
    assert engine.quiet_until(at(12), SH, quiet) == at(23)  # 22:00 -> 09:00 tomorrow
    assert engine.quiet_until(at(-2), SH, quiet) == at(-1)  # 08:00 -> 09:00 today
    assert engine.quiet_until(at(-1), SH, quiet) is None  # 09:00 exactly: allowed
    assert engine.quiet_until(at(4), SH, {"start": "13:00", "end": "15:00"}) == at(5)


def test_frequency_cap_rolls():
    cap = {"per_24_hours": 2, "per_7_days": 3}
    sent = ["2026-02-28T20:00:00.000Z", "2026-03-02T01:00:00.000Z"]  # 30 h and 1 h ago
    assert not engine.cap_exceeded(sent, at(), cap)
    assert engine.cap_exceeded(sent + ["2026-03-02T01:30:00.000Z"], at(), cap)  # 2 in 24 h
    assert engine.cap_exceeded(["2026-02-26T00:00:00.000Z"] + sent, at(), cap)  # 3 in 7 days
    assert not engine.cap_exceeded(["2026-02-20T00:00:00.000Z"] + sent, at(), cap)
    assert engine.recent_sends(["2026-02-20T00:00:00.000Z"] + sent, at()) == sorted(sent)
    assert not engine.cap_exceeded(sent * 10, at(), None)


def test_event_triggers_and_standing_moves():
    event = {"type": "order.paid", "amount": 500_00, "channel": "tmall", "items": [{"sku": "a"}]}
    assert engine.event_matches({"type": "order.paid"}, event)
    assert engine.event_matches({"type": "order.paid", "where": [{"property": "amount", "op": "gte", "value": 100_00},
                                                                  {"property": "channel", "op": "in",
                                                                   "value": ["tmall", "jd"]}]}, event)
    assert not engine.event_matches({"type": "order.paid", "where": [{"property": "amount", "op": "lt",
                                                                      "value": 100}]}, event)
    follow = {"type": "interaction", "name": "follow", "properties": {"channel": "wecom"}}
    assert engine.event_matches({"type": "interaction", "name": "follow",
                                 "where": [{"property": "channel", "value": "wecom"}]}, follow)
    assert not engine.event_matches({"type": "interaction", "name": "unfollow"}, follow)
    membership = engine.trigger_event({"type": "membership", "event": "canceled", "plan_id": "P1"})
    assert engine.event_matches(membership, {"type": "membership.canceled", "plan_id": "P1"})
    assert not engine.event_matches(membership, {"type": "membership.canceled", "plan_id": "P2"})
    assert engine.tier_move_matches({"direction": "up", "to": "gold"}, "silver", "gold", 1, 2)
    assert not engine.tier_move_matches({"direction": "up"}, "gold", "silver", 2, 1)
    assert engine.tier_move_matches({"direction": "down"}, "gold", None, 2, 0)
    assert engine.stage_move_matches({"to": "dormant", "previous": "loyal"}, "loyal", "dormant")
    assert not engine.stage_move_matches({"to": "dormant", "previous": "repeat"}, "loyal", "dormant")


def test_reentry():
    assert engine.reentry_allows({"policy": "once"}, 0, None, at())
    assert not engine.reentry_allows({"policy": "once"}, 1, at(days=-400), at())
    assert engine.reentry_allows({"policy": "always"}, 5, at(), at())
    assert not engine.reentry_allows({"policy": "every_n_days", "days": 30}, 1, at(days=-29), at())
    assert engine.reentry_allows({"policy": "every_n_days", "days": 30}, 1, at(days=-30), at())


def test_coupon_codes_are_stable_per_step_and_unguessable_without_the_key():
    one = engine.coupon_code(b"k", "E1", "2:coupon", "BACK", 8)
    assert one == engine.coupon_code(b"k", "E1", "2:coupon", "BACK", 8) and len(one) == 12
    assert one != engine.coupon_code(b"k", "E2", "2:coupon", "BACK", 8)
    assert one != engine.coupon_code(b"other", "E1", "2:coupon", "BACK", 8)
    assert not set(one[4:]) & set("01IO")


def test_templates_check_and_render():
    text = "Hi {{ member.name | default: friend }}, {{coupon.code}} until {{coupon.expires_at|date}} ({{trigger.plan}})"
    assert {p.root for p in templates.placeholders(text)} == {"member", "coupon", "trigger"}
    values = {"member": {"name": None}, "coupon": {"code": "X1", "expires_at": "2026-03-01T20:00:00Z"},
              "trigger": {"plan": "black"}}
    assert templates.render(text, values, SH) == "Hi friend, X1 until 2026-03-02 (black)"
    with pytest.raises(templates.MissingVariable):
        templates.render("{{member.name}}", {"member": {}}, SH)
    for bad in ("{{member.password}}", "{{tier}}", "{{ member.name", "{{member.attributes}}", "{{x.y}}"):
        with pytest.raises(templates.TemplateError):
            templates.placeholders(bad)


def _step(step_id, kind="exit", **links):
    return {"id": step_id, "type": kind, **links}


def test_graph_checks():
    ok = {"start": "a", "steps": [_step("a", "wait", next="b"), _step("b", "branch", then="a", **{"else": "c"}),
                                  _step("c")]}
    check_graph(ok)  # the loop goes through a wait
    with pytest.raises(Exception) as loop:
        check_graph({"start": "a", "steps": [_step("a", "send_message", next="b"),
                                             _step("b", "branch", then="a", **{"else": "c"}), _step("c")]})
    assert loop.value.code == "cycle_without_wait"
    with pytest.raises(Exception) as orphan:
        check_graph({"start": "a", "steps": [_step("a"), _step("b")]})
    assert orphan.value.code == "unreachable_step" and orphan.value.field == "steps.1"


def test_ordered_since_enrolment_becomes_a_filter_term():
    tree = {"and": [{"ordered_since_enrolment": True}, {"not": {"ordered_since_enrolment": False}}]}
    assert expand_condition(tree, "T") == {"and": [{"last_order_since": "T"},
                                                   {"not": {"not": {"last_order_since": "T"}}}]}


def test_webhook_signatures_like_stripes():
    body = b'{"id":"m1"}'
    header = sign(body, "whsec_x", timestamp=1_700_000_000)
    verify_signature(body, header, "whsec_x", now=1_700_000_100)
    for tampered, secret, now in ((body + b" ", "whsec_x", 1_700_000_000), (body, "whsec_y", 1_700_000_000),
                                  (body, "whsec_x", 1_700_001_000)):
        with pytest.raises(SignatureError):
            verify_signature(tampered, header, secret, now=now)
    with pytest.raises(SignatureError):
        verify_signature(body, "garbage", "whsec_x")
    assert check_url("https://hooks.brand.example/enclave", allow_loopback=False) is None
    assert check_url("http://hooks.brand.example", allow_loopback=False) is not None
    assert check_url("https://169.254.169.254/latest", allow_loopback=False) is not None
    assert check_url("http://127.0.0.1:9000/h", allow_loopback=True) is None


def test_the_state_machine_and_execution_names():
    asl = state_machine_definition("arn:aws:lambda:us-east-1:1:function:enclave-prod-journey_step")
    assert asl["StartAt"] == "WaitUntilDue"
    assert asl["States"]["WaitUntilDue"] == {"Type": "Wait", "TimestampPath": "$.due_at", "Next": "RunStep"}
    task = asl["States"]["RunStep"]
    assert task["Resource"] == "arn:aws:states:::lambda:invoke" and task["Parameters"]["Payload.$"] == "$"
    assert task["Retry"][0]["MaxAttempts"] >= 3 and task["End"] is True
    due = datetime(2026, 3, 2, 2, 0, 0, 1000, tzinfo=timezone.utc)
    assert due_timestamp(Timer("n", "t", due)) == "2026-03-02T02:00:01Z"  # never early
    assert execution_arn("arn:aws:states:us-east-1:1:stateMachine:timers", "j-E-3") == \
        "arn:aws:states:us-east-1:1:execution:timers:j-E-3"
