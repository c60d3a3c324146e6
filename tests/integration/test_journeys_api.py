"""Journeys as a resource: validation (422, nothing written), versions (members finish the
version they entered), the status lifecycle, re-entry, enrolling a list, segment entry,
erasure, the message log and settings."""
from __future__ import annotations

import pytest

from tests.fixtures import run_jobs, table_items
from tests.integration.journey_support import (  # noqa: F401 - fixtures
    T0,
    aws,
    connect_webhook,
    create_journey,
    enrolments,
    follow,
    messages,
    new_member,
    receiver,
    send_events,
    stats,
    tick,
    webhook_message,
)

pytestmark = pytest.mark.usefixtures("aws")

SIMPLE = {"trigger": {"type": "api"}, "start": "hello", "steps": [webhook_message("hello", "Hello v1")]}


def _tag(http, tenant):
    group = http.post("/v1/tag-groups", tenant.key, {"name": "Interest"}).json
    return http.post(f"/v1/tag-groups/{group['id']}/tags", tenant.key, {"name": "Oud"}).json["id"]


def test_bad_journeys_are_422_naming_the_field_and_write_nothing(http, tenant):
    missing = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
    wait = {"id": "w", "type": "wait", "duration": "PT1H", "next": "m"}
    send = webhook_message("m", "hi")
    cases = [
        ({"steps": [send, {"id": "orphan", "type": "exit"}], "start": "m"}, "steps.1", "unreachable_step"),
        ({"steps": [{**send, "next": "b"}, {"id": "b", "type": "branch", "condition": {"stage": "loyal"},
                                             "then": "m"}], "start": "m"}, "steps.0", "cycle_without_wait"),
        ({"steps": [{**send, "next": "nope"}], "start": "m"}, "steps.0.next", "invalid_journey"),
        ({"steps": [send], "start": "x"}, "start", "invalid_journey"),
        ({"steps": [send, send], "start": "m"}, "steps.1.id", "invalid_journey"),
        ({"steps": [{**wait, "duration": "P2Y"}, send], "start": "w"}, "steps.0.duration", "invalid_duration"),
        ({"steps": [{**wait, "duration": "2 hours"}, send], "start": "w"}, "steps.0.duration", "invalid_duration"),
        ({"steps": [{"id": "t", "type": "add_tag", "tag_id": missing}], "start": "t"}, "steps.0.tag_id", "unknown_tag"),
        ({"trigger": {"type": "tag_added", "tag_id": missing}}, "trigger.tag_id", "unknown_tag"),
        ({"trigger": {"type": "tier_changed", "to": "platinum"}}, "trigger.to", "unknown_tier"),
        ({"trigger": {"type": "stage_changed", "to": "vip"}}, "trigger.to", "unknown_stage"),
        ({"trigger": {"type": "segment_entry", "segment_id": missing}}, "trigger.segment_id", "unknown_segment"),
        ({"steps": [webhook_message("m", "{{member.password}}")], "start": "m"}, "steps.0.template.body",
         "invalid_template"),
        ({"steps": [webhook_message("m", "{{coupon.code}}")], "start": "m"}, "steps.0.template.body",
         "invalid_template"),
        ({"entry_filter": {"teleport": 1}}, "entry_filter", "invalid_filter"),
        ({"entry_filter": {"and": [{"stage": "loyal"}, {"not": {"tier": "platinum"}}]}},
         "entry_filter.and[1].not.tier", "unknown_tier"),
        ({"entry_filter": {"tag": missing}}, "entry_filter.tag", "unknown_tag"),
        ({"entry_filter": {"or": [{"stage": "loyal"}, {"tag_group": missing}]}}, "entry_filter.or[1].tag_group",
         "unknown_tag_group"),
        ({"entry_filter": {"rfm": "vip"}}, "entry_filter.rfm", "unknown_rfm_segment"),
        ({"steps": [{"id": "b", "type": "branch", "condition": {"channel": "nowhere"}, "then": None}], "start": "b"},
         "steps.0.condition.channel", "unknown_channel"),
        ({"trigger": {"type": "membership", "event": "canceled", "plan_id": missing}}, "trigger.plan_id",
         "unknown_plan"),
        ({"steps": [{"id": "b", "type": "branch", "condition": {"tier": ""}, "then": None}], "start": "b"},
         "steps.0.condition.tier", "invalid_filter"),
        ({"steps": [{"id": "m", "type": "send_message", "channel": "email", "template": {"body": "no subject"}}],
          "start": "m"}, "steps.0", "validation_failed"),
        ({"steps": [{"id": "m", "type": "send_message", "channel": "webhook", "template": {"body": "x"}}],
          "start": "m"}, "steps.0", "validation_failed"),
        ({"reentry": {"policy": "every_n_days"}}, "reentry", "validation_failed"),
        ({"steps": [{**wait, "duration": "PT1H", "until_time": "10:00"}, send], "start": "w"}, "steps.0",
         "validation_failed"),
    ]
    for overrides, field, code in cases:
        r = http.post("/v1/journeys", tenant.key, {"name": "bad", **SIMPLE, **overrides})
        assert r.status == 422, (overrides, r)
        assert (r.json["field"], r.json["code"]) == (field, code), (overrides, r.json)
    assert table_items(f"T#{tenant.id}#JOURNEY") == []
    assert http.get("/v1/journeys", tenant.key).json["data"] == []


def test_editing_an_active_journey_makes_a_version_members_inside_finish_theirs(http, tenant, clock, receiver):
    clock.now = T0
    connect_webhook(http, tenant, receiver)
    body = {"trigger": {"type": "api"}, "start": "w", "reentry": {"policy": "always"},
            "steps": [{"id": "w", "type": "wait", "duration": "PT1H", "next": "m"}, webhook_message("m", "Hello v1")]}
    journey = create_journey(http, tenant, body, activate=False)
    # a draft is edited in place
    r = http.patch(f"/v1/journeys/{journey['id']}", tenant.key, {"name": "Welcome"})
    assert r.status == 200 and r.json["version"] == 1 and r.json["name"] == "Welcome"
    assert http.post(f"/v1/journeys/{journey['id']}/activate", tenant.key).json["status"] == "active"
    early = new_member(http, tenant)
    assert http.post(f"/v1/journeys/{journey['id']}/enrolments", tenant.key,
                     {"member_ids": [early]}).json["enrolled"] == 1
    tick(http)

    v2_steps = [{"id": "w", "type": "wait", "duration": "PT1H", "next": "m"}, webhook_message("m", "Hello v2")]
    stale = http.patch(f"/v1/journeys/{journey['id']}", tenant.key, {"version": 7, "steps": v2_steps})
    assert stale.status == 409 and stale.json["code"] == "version_conflict"
    edited = http.patch(f"/v1/journeys/{journey['id']}", tenant.key, {"version": 1, "steps": v2_steps})
    assert edited.status == 200 and edited.json["version"] == 2 and edited.json["status"] == "active"
    late = new_member(http, tenant, phone="13900139000")
    http.post(f"/v1/journeys/{journey['id']}/enrolments", tenant.key, {"member_ids": [late]})
    tick(http)
    clock.advance(hours=1, seconds=1)
    tick(http)
    by_member = {r["json"]["member"]["id"]: r["json"]["content"]["body"] for r in receiver.received}
    assert by_member == {early: "Hello v1", late: "Hello v2"}
    assert [m["journey_version"] for m in messages(http, tenant, member_id=early)] == [1]
    versions = http.get(f"/v1/journeys/{journey['id']}/versions", tenant.key).json["data"]
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[1]["definition"]["steps"][1]["template"]["body"] == "Hello v1"


def test_status_lifecycle_and_what_each_status_means(http, tenant, clock, receiver):
    clock.now = T0
    connect_webhook(http, tenant, receiver)
    body = {"trigger": {"type": "event", "event": {"type": "interaction", "name": "follow"}},
            "reentry": {"policy": "always"}, "start": "w",
            "steps": [{"id": "w", "type": "wait", "duration": "PT1H", "next": "m"}, webhook_message("m", "hi")]}
    journey = create_journey(http, tenant, body, activate=False)
    jid = journey["id"]
    member = new_member(http, tenant)
    send_events(http, tenant, follow(member, "draft-time"))
    assert enrolments(http, tenant, member) == []  # a draft enrols nobody
    assert http.post(f"/v1/journeys/{jid}/enrolments", tenant.key, {"member_ids": [member]}).status == 409
    assert http.post(f"/v1/journeys/{jid}/pause", tenant.key).status == 409
    http.post(f"/v1/journeys/{jid}/activate", tenant.key)
    send_events(http, tenant, follow(member, "active-time"))
    tick(http)
    assert http.post(f"/v1/journeys/{jid}/pause", tenant.key).json["status"] == "paused"
    other = new_member(http, tenant, phone="13900139000")
    send_events(http, tenant, follow(other, "paused-time"))
    assert enrolments(http, tenant, other) == []  # paused: nobody new
    clock.advance(hours=1, seconds=1)
    tick(http)
    assert len(receiver.received) == 1  # ...but members inside go on
    send_events(http, tenant, follow(member, "again"))
    http.post(f"/v1/journeys/{jid}/activate", tenant.key)
    send_events(http, tenant, follow(member, "again-active"))
    tick(http)
    assert http.post(f"/v1/journeys/{jid}/archive", tenant.key).json["status"] == "archived"
    clock.advance(hours=1, seconds=1)
    tick(http)
    assert len(receiver.received) == 1  # archived: members inside leave at their next step
    assert enrolments(http, tenant, member)[0]["exit_reason"] == "journey_archived"
    assert http.post(f"/v1/journeys/{jid}/activate", tenant.key).status == 409
    assert http.patch(f"/v1/journeys/{jid}", tenant.key, {"name": "x"}).status == 409
    assert http.delete(f"/v1/journeys/{jid}", tenant.key).json["code"] == "journey_was_active"
    draft = create_journey(http, tenant, SIMPLE, activate=False)
    assert http.delete(f"/v1/journeys/{draft['id']}", tenant.key).status == 204
    assert http.get(f"/v1/journeys/{draft['id']}", tenant.key).status == 404
    listed = http.get("/v1/journeys?status=archived", tenant.key).json["data"]
    assert [j["id"] for j in listed] == [jid]


def test_reentry_rules_and_never_two_live_enrolments(http, tenant, clock):
    clock.now = T0
    wait_then_exit = [{"id": "w", "type": "wait", "duration": "P1D", "next": "x"}, {"id": "x", "type": "exit"}]
    ids = {}
    for policy in ({"policy": "once"}, {"policy": "every_n_days", "days": 7}, {"policy": "always"}):
        ids[policy["policy"]] = create_journey(http, tenant, {"trigger": {"type": "api"}, "reentry": policy,
                                                              "start": "w", "steps": wait_then_exit})["id"]
    member = new_member(http, tenant)

    def enrol(jid):
        r = http.post(f"/v1/journeys/{jid}/enrolments", tenant.key, {"member_ids": [member]})
        assert r.status == 200, r
        return r.json["results"][0]["status"]

    assert {p: enrol(j) for p, j in ids.items()} == dict.fromkeys(("once", "every_n_days", "always"), "enrolled")
    assert {p: enrol(j) for p, j in ids.items()} == dict.fromkeys(ids, "already_enrolled")
    tick(http)
    clock.advance(days=1, seconds=1)
    tick(http)  # all three finish
    assert {p: enrol(j) for p, j in ids.items()} == {"once": "not_eligible", "every_n_days": "not_eligible",
                                                     "always": "enrolled"}
    clock.advance(days=6)
    assert enrol(ids["every_n_days"]) == "enrolled"
    bad = http.post(f"/v1/journeys/{ids['always']}/enrolments", tenant.key,
                    {"member_ids": ["01ARZ3NDEKTSV4RRFFQ69G5FAV"]}).json["results"]
    assert bad == [{"member_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV", "status": "member_not_found", "enrolment_id": None}]


def test_a_long_list_is_enrolled_by_a_job(http, tenant, clock):
    clock.now = T0
    jid = create_journey(http, tenant, SIMPLE)["id"]
    members = [new_member(http, tenant, phone=f"1380013{n:04d}") for n in range(101)]
    r = http.post(f"/v1/journeys/{jid}/enrolments", tenant.key, {"member_ids": members + members[:3]})
    assert r.status == 202 and r.json["job_id"]
    run_jobs()
    job = http.get(f"/v1/jobs/{r.json['job_id']}", tenant.key).json
    assert job["status"] == "succeeded" and job["progress"]["changed"] == 101
    assert stats(http, tenant, jid)["entered"] == 101


def test_segment_entry_enrols_members_who_come_into_the_segment(http, tenant, clock):
    clock.now = T0
    tag = _tag(http, tenant)
    segment = http.post("/v1/segments", tenant.key, {"name": "Oud lovers", "filter": {"tag": tag}}).json
    before = new_member(http, tenant)
    http.call("PUT", f"/v1/members/{before}/tags/{tag}", tenant.key, json_body={})
    jid = create_journey(http, tenant, {"trigger": {"type": "segment_entry", "segment_id": segment["id"]},
                                        "reentry": {"policy": "always"}, "start": "x",
                                        "steps": [{"id": "x", "type": "exit"}]})["id"]
    http.schedule("journey_triggers", {"tenant_ids": [tenant.id]})
    run_jobs()
    assert stats(http, tenant, jid)["entered"] == 0  # the first evaluation only records who is in
    newcomer = new_member(http, tenant, phone="13900139000")
    http.call("PUT", f"/v1/members/{newcomer}/tags/{tag}", tenant.key, json_body={})
    clock.advance(hours=1)
    http.schedule("journey_triggers", {"tenant_ids": [tenant.id]})
    run_jobs()
    assert [e["journey_id"] for e in enrolments(http, tenant, newcomer)] == [jid]
    assert enrolments(http, tenant, before) == []
    tick(http)  # the enrolment runs to its end
    # leaving and coming back is a new entry
    http.delete(f"/v1/members/{newcomer}/tags/{tag}", tenant.key)
    clock.advance(hours=1)
    http.schedule("journey_triggers", {"tenant_ids": [tenant.id]})
    run_jobs()
    http.call("PUT", f"/v1/members/{newcomer}/tags/{tag}", tenant.key, json_body={})
    clock.advance(hours=1)
    http.schedule("journey_triggers", {"tenant_ids": [tenant.id]})
    run_jobs()
    assert stats(http, tenant, jid)["entered"] == 2


def test_tag_trigger_and_tag_steps(http, tenant, clock):
    clock.now = T0
    tag = _tag(http, tenant)
    group = http.post("/v1/tag-groups", tenant.key, {"name": "Journey"}).json
    welcomed = http.post(f"/v1/tag-groups/{group['id']}/tags", tenant.key, {"name": "Welcomed"}).json["id"]
    create_journey(http, tenant, {"trigger": {"type": "tag_added", "tag_id": tag}, "start": "t",
                                  "steps": [{"id": "t", "type": "add_tag", "tag_id": welcomed, "next": "u"},
                                            {"id": "u", "type": "remove_tag", "tag_id": tag}]})
    member = new_member(http, tenant)
    http.call("PUT", f"/v1/members/{member}/tags/{tag}", tenant.key, json_body={})
    tick(http)
    held = {t["tag_id"] for t in http.get(f"/v1/members/{member}/tags", tenant.key).json["data"]}
    assert welcomed in held and tag not in held


def test_erasure_ends_enrolments_and_cancels_timers(http, tenant, clock):
    clock.now = T0
    jid = create_journey(http, tenant, {**SIMPLE, "start": "w", "steps": [
        {"id": "w", "type": "wait", "duration": "P3D", "next": "hello"}, webhook_message("hello", "hi")]})["id"]
    member = new_member(http, tenant)
    http.post(f"/v1/journeys/{jid}/enrolments", tenant.key, {"member_ids": [member]})
    tick(http)
    assert http.delete(f"/v1/members/{member}", tenant.key).status == 204
    assert table_items(f"T#{tenant.id}#JTIMER#") == []
    assert stats(http, tenant, jid)["exit_reasons"] == {"member_gone": 1}


def test_message_log_filters_pages_and_validates(http, tenant, clock, receiver):
    clock.now = T0
    connect_webhook(http, tenant, receiver)
    body = {"trigger": {"type": "api"}, "reentry": {"policy": "always"}, "frequency_capped": False,
            "start": "a", "steps": [webhook_message("a", "one", "b"), webhook_message("b", "two")]}
    first, second = create_journey(http, tenant, body)["id"], create_journey(http, tenant, body)["id"]
    member = new_member(http, tenant)
    for jid in (first, second):
        http.post(f"/v1/journeys/{jid}/enrolments", tenant.key, {"member_ids": [member]})
    tick(http)
    assert len(messages(http, tenant, member_id=member)) == 4
    only_first = messages(http, tenant, member_id=member, journey_id=first)
    assert {m["journey_id"] for m in only_first} == {first} and len(only_first) == 2
    page = http.get(f"/v1/messages?journey_id={second}&limit=1", tenant.key).json
    rest = http.get(f"/v1/messages?journey_id={second}&limit=1&cursor={page['next_cursor']}", tenant.key).json
    assert len(page["data"]) == len(rest["data"]) == 1 and rest["next_cursor"] is None
    assert page["data"][0]["id"] != rest["data"][0]["id"]
    assert http.get("/v1/messages", tenant.key).status == 422
    assert http.get(f"/v1/messages?journey_id={first}&cursor={page['next_cursor']}", tenant.key).status == 400


def test_settings_secret_is_shown_once_and_urls_are_checked(http, tenant):
    r = http.call("PUT", "/v1/messaging/settings", tenant.key, json_body={
        "quiet_hours": {"start": "22:00", "end": "08:00"}, "frequency_cap": {"per_24_hours": 2},
        "webhook_url": "ftp://example.com/hook"})
    assert r.status == 422 and r.json["field"] == "webhook_url"
    assert http.call("PUT", "/v1/messaging/settings", tenant.key,
                     json_body={"quiet_hours": {"start": "22:00", "end": "22:00"}}).status == 422
    secret = http.post("/v1/messaging/webhook-secret", tenant.key).json
    assert secret["secret"].startswith("whsec_")
    got = http.get("/v1/messaging/settings", tenant.key).json
    assert got["webhook_secret_prefix"] == secret["prefix"] and secret["secret"] not in str(got)
    analyst = tenant.user_token(role="marketer")
    assert http.post("/v1/messaging/webhook-secret", analyst).status == 403


def test_renewed_and_resumed_memberships_trigger_journeys(http, tenant, clock):
    """Billing's ``membership.renewed`` and ``membership.resumed`` are membership triggers
    (of one plan), delivered through Stripe's signed events and the API's resume."""
    from datetime import timedelta

    from tests.integration.test_billing_support import YEAR, World

    world = World(http, tenant)
    plan, other_plan = world.plan(), world.plan(name="Other")
    wait = {"start": "w", "steps": [{"id": "w", "type": "wait", "duration": "P1D"}]}
    renewed = create_journey(http, tenant, {"trigger": {"type": "membership", "event": "renewed",
                                                        "plan_id": plan["id"]}, **wait})
    resumed = create_journey(http, tenant, {"trigger": {"type": "membership", "event": "resumed"}, **wait})
    elsewhere = create_journey(http, tenant, {"trigger": {"type": "membership", "event": "renewed",
                                                          "plan_id": other_plan["id"]}, **wait})
    member = world.member()
    t0 = clock.now
    h = world.lifecycle(member, plan, t0)
    world.remember(h, upto=8)
    for evt in h.events[:8]:  # purchase, failed renewal, paid retry: renewed
        world.deliver(evt)
    assert {e["journey_id"] for e in enrolments(http, tenant, member)} == {renewed["id"]}
    clock.now = t0 + YEAR + timedelta(days=10)
    world.remember(h, upto=9)
    assert http.post(f"/v1/members/{member}/memberships/{h.sub_id}/cancel", tenant.key).status == 200
    clock.now = t0 + YEAR + timedelta(days=20)
    world.remember(h, upto=10)
    assert http.post(f"/v1/members/{member}/memberships/{h.sub_id}/resume", tenant.key).status == 200
    assert {e["journey_id"] for e in enrolments(http, tenant, member)} == {renewed["id"], resumed["id"]}
    assert elsewhere["id"] not in str(enrolments(http, tenant, member))
    bad = http.post("/v1/journeys", tenant.key, {"name": "x", "trigger": {"type": "membership", "event": "renewing"},
                                                 **wait})
    assert bad.status == 422 and bad.json["field"] == "trigger.event", bad
