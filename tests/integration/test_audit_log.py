"""The audit log through the HTTP API against DynamoDB Local: who changed what, written in
the transaction of the change, values masked, erased with the member, tenant-scoped."""
from __future__ import annotations

import multiprocessing
import time
from collections import Counter
from datetime import timedelta

import pytest

from tests.fixtures import table_items
from tests.integration import concurrent_clients
from tests.integration.test_events import PROGRAM

PHONE, EMAIL, NAME = "+8613800138111", "lin.wei@example.com", "Lin Wei"


def audit(http, tenant, token=None, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    r = http.get(f"/v1/audit-events?{query}", token or tenant.key)
    assert r.status == 200, r
    return r.json


def audit_items(tenant):
    return table_items(f"T#{tenant.id}#AUDIT#")


def key_id(http, tenant):
    keys = http.get("/v1/api-keys", tenant.key).json["data"]
    return next(k["id"] for k in keys if tenant.key.startswith(k["prefix"]))


def create_member(http, tenant, **fields):
    body = {"phone": PHONE, "email": EMAIL, "name": NAME, "birthday": {"month": 5, "day": 17},
            "consents": {"sms": {"granted": False}}, **fields}
    r = http.post("/v1/members", tenant.key, body)
    assert r.status == 201, r
    return r.json


def changes(event):
    return {c["field"]: (c["before"], c["after"]) for c in event["changes"]}


# --- what a record says -------------------------------------------------------------------------------
def test_member_patch_is_recorded_with_masked_before_and_after_and_the_key_as_actor(http, tenant):
    # GIVEN a member, WHEN an API key changes its name and its SMS consent
    member = create_member(http, tenant)
    r = http.patch(f"/v1/members/{member['id']}", tenant.key,
                   {"version": member["version"], "name": "Lin W.", "consents": {"sms": {"granted": True}}},
                   headers={"X-Request-Id": "req-audit-1"})  # API Gateway's requestId in AWS
    assert r.status == 200, r
    # THEN the member's records show both changes, newest first, by that key, values masked
    page = audit(http, tenant, target_type="member", target=member["id"])
    assert [e["action"] for e in page["data"]] == ["member.updated", "member.created"]
    updated = page["data"][0]
    assert updated["actor"] == {"id": f"api_key:{key_id(http, tenant)}", "role": None}
    assert updated["target"] == {"type": "member", "id": member["id"]}
    assert updated["request_id"] == "req-audit-1" and updated["at"]
    diff = changes(updated)
    assert diff["name"] == ("***", "***")
    assert diff["consents.sms.granted"] == (False, True)  # bookkeeping fields stay readable
    assert "phone" not in diff  # unchanged fields are not listed
    created = changes(page["data"][1])
    assert created["phone"] == (None, "***") and created["email"] == (None, "***")
    assert created["birthday.month"] == (None, "***")
    raw = str(audit_items(tenant))
    assert PHONE not in raw and EMAIL not in raw and NAME not in raw and "Lin W." not in raw


def test_tier_program_change_is_recorded_with_a_console_users_sub_and_role(http, tenant):
    token = tenant.user_token("admin", subject="user-audit-1")
    first = http.call("PUT", "/v1/tier-program", token, json_body=PROGRAM)
    assert first.status == 202, first
    gold = {**PROGRAM["tiers"][1], "threshold": 800_00}
    second = http.call("PUT", "/v1/tier-program", token,
                       json_body={**PROGRAM, "tiers": [PROGRAM["tiers"][0], gold], "version": 1})
    assert second.status == 202, second
    page = audit(http, tenant, token, target_type="tier_program", target=tenant.id)
    replaced = page["data"][0]
    assert [e["action"] for e in page["data"]] == ["tier_program.replaced"] * 2
    assert replaced["actor"] == {"id": "user:user-audit-1", "role": "admin"}
    assert changes(replaced) == {"tiers.1.threshold": (500_00, 800_00)}
    assert changes(page["data"][1])["tiers.0.name"] == (None, "Silver")  # the first program: all new


def test_settings_keys_and_manual_tags_are_recorded(http, tenant):
    assert http.patch("/v1/tenant", tenant.key, {"name": "Renamed"}).status == 200
    new_key = http.post("/v1/api-keys", tenant.key, {"name": "ERP", "scopes": ["read"]}).json
    assert http.delete(f"/v1/api-keys/{new_key['id']}", tenant.key).status == 204
    group = http.post("/v1/tag-groups", tenant.key, {"name": "Scent", "selection": "multi"}).json
    tag = http.post(f"/v1/tag-groups/{group['id']}/tags", tenant.key, {"name": "Woody"}).json
    assert http.post("/v1/channels", tenant.key, {"code": "douyin-live", "name": "Douyin live"}).status == 201
    member = create_member(http, tenant)
    assert http.call("PUT", f"/v1/members/{member['id']}/tags/{tag['id']}", tenant.key, json_body={}).status == 200
    assert http.delete(f"/v1/members/{member['id']}/tags/{tag['id']}", tenant.key).status == 204
    events = audit(http, tenant)["data"]
    by_action = {e["action"]: e for e in events}
    assert changes(by_action["tenant.updated"]) == {"name": ("Test Brand", "Renamed")}
    assert by_action["channel.created"]["target"] == {"type": "channel", "id": "douyin-live"}
    created = changes(by_action["api_key.created"])
    assert created["name"] == (None, "ERP") and created["scopes.0"] == (None, "read")
    assert new_key["secret"] not in str(audit_items(tenant))
    assert by_action["api_key.revoked"]["target"]["id"] == new_key["id"]
    assert changes(by_action["member.tag_added"]) == {f"tags.{tag['id']}": (None, True)}
    assert changes(by_action["member.tag_removed"]) == {f"tags.{tag['id']}": (True, None)}
    assert [e["at"] for e in events] == sorted((e["at"] for e in events), reverse=True)


# --- only committed changes ------------------------------------------------------------------------------
def test_a_change_that_fails_writes_no_record(http, tenant):
    member = create_member(http, tenant)
    http.call("PUT", "/v1/tier-program", tenant.key, json_body=PROGRAM)
    assert http.post("/v1/channels", tenant.key, {"code": "mall-1", "name": "Mall"}).status == 201
    before = len(audit_items(tenant))
    assert http.post("/v1/channels", tenant.key, {"code": "mall-1", "name": "Again"}).status == 409
    stale = http.patch(f"/v1/members/{member['id']}", tenant.key, {"version": 99, "name": "X"})
    assert stale.status == 409
    invalid = http.patch(f"/v1/members/{member['id']}", tenant.key, {"version": 1, "birthday": {"month": 13}})
    assert invalid.status == 422
    conflict = http.call("PUT", "/v1/tier-program", tenant.key, json_body={**PROGRAM, "version": 0})
    assert conflict.status == 409
    assert http.patch("/v1/tenant", tenant.key, {"name": "X", "version": 42}).status == 409
    taken = create_member(http, tenant, phone="+8613800138222", email="other@example.com")
    clash = http.patch(f"/v1/members/{taken['id']}", tenant.key, {"version": taken["version"], "phone": PHONE})
    assert clash.status == 409 and clash.json["code"] == "identity_taken"
    assert len(audit_items(tenant)) == before + 1  # the second member's creation only


# --- erasure -------------------------------------------------------------------------------------------
def test_erasure_leaves_no_value_of_the_member_in_the_audit_log(http, tenant):
    member = create_member(http, tenant)
    http.patch(f"/v1/members/{member['id']}", tenant.key,
               {"version": member["version"], "name": "Lin W.", "consents": {"sms": {"granted": True}}})
    assert http.delete(f"/v1/members/{member['id']}", tenant.key).status == 204
    page = audit(http, tenant, target_type="member", target=member["id"])
    assert [e["action"] for e in page["data"]] == ["member.erased", "member.updated", "member.created"]
    for event in page["data"][1:]:
        assert event["changes"] and all(c["erased"] and c["before"] is None and c["after"] is None
                                        for c in event["changes"])
    raw = str(audit_items(tenant))
    for value in (PHONE, EMAIL, NAME, "Lin W.", "***"):
        assert value not in raw
    assert page["data"][0]["changes"] == []


# --- reading: filters, paging, tenancy --------------------------------------------------------------
def test_filters_and_paging(http, tenant, clock):
    user = tenant.user_token("owner", subject="user-pager")
    for n in range(3):
        assert http.patch("/v1/tenant", tenant.key, {"name": f"Key {n}"}).status == 200
        clock.advance(seconds=1)
    since = clock.now
    for n in range(3):
        assert http.patch("/v1/tenant", user, {"name": f"User {n}"}).status == 200
        clock.advance(seconds=1)
    seen, cursor = [], None
    while True:
        page = audit(http, tenant, limit=2, **({"cursor": cursor} if cursor else {}))
        seen += [e for e in page["data"] if e["action"] != "tenant.created"]  # (the tenant's own creation)
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert [changes(e)["name"][1] for e in seen] == ["User 2", "User 1", "User 0", "Key 2", "Key 1", "Key 0"]
    by_user = audit(http, tenant, actor="user:user-pager")["data"]
    assert [e["actor"]["role"] for e in by_user] == ["owner"] * 3
    recent = audit(http, tenant, since=since.isoformat().replace("+00:00", "Z"))["data"]
    assert [changes(e)["name"][1] for e in recent] == ["User 2", "User 1", "User 0"]
    by_key = audit(http, tenant, actor=f"api_key:{key_id(http, tenant)}", target_type="tenant", limit=1)
    assert changes(by_key["data"][0])["name"][1] == "Key 2" and by_key["next_cursor"]
    wrong_list = http.get(f"/v1/audit-events?cursor={by_key['next_cursor']}", tenant.key)
    assert wrong_list.status == 400 and wrong_list.json["code"] == "invalid_cursor"
    assert http.get("/v1/audit-events?target=abc", tenant.key).status == 422
    assert http.get("/v1/audit-events?actor=x%23y", tenant.key).status == 422
    assert http.get("/v1/audit-events?since=2026-01-01T00:00:00", tenant.key).status == 422  # no offset


def test_another_tenant_never_sees_the_records_and_only_owners_and_admins_read(http, tenant, other_tenant):
    member = create_member(http, tenant)
    page = audit(http, tenant, limit=1)
    assert page["data"]
    mine = key_id(http, tenant)
    assert audit(http, other_tenant, target_type="member", target=member["id"])["data"] == []
    assert audit(http, other_tenant, actor=f"api_key:{mine}")["data"] == []
    assert all(e["target"]["id"] != member["id"] for e in audit(http, other_tenant)["data"])
    if page.get("next_cursor"):
        assert http.get(f"/v1/audit-events?cursor={page['next_cursor']}", other_tenant.key).status == 400
    for role in ("marketer", "analyst"):
        r = http.get("/v1/audit-events", tenant.user_token(role))
        assert r.status == 403, r
    read_only = http.post("/v1/api-keys", tenant.key, {"name": "read", "scopes": ["read"]}).json["secret"]
    assert http.get("/v1/audit-events", read_only).status == 403


# --- the system as actor -----------------------------------------------------------------------------
def test_a_schedules_change_is_recorded_as_system_and_its_name(http, tenant, clock):
    group = http.post("/v1/tag-groups", tenant.key, {"name": "Promo", "selection": "multi"}).json
    tag = http.post(f"/v1/tag-groups/{group['id']}/tags", tenant.key, {"name": "Trial"}).json
    member = create_member(http, tenant)
    expires = (clock.now + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    r = http.call("PUT", f"/v1/members/{member['id']}/tags/{tag['id']}", tenant.key,
                  json_body={"expires_at": expires})
    assert r.status == 200, r
    clock.advance(hours=2)
    http.schedule("tag_expiry")
    expired = audit(http, tenant, target_type="member", target=member["id"])["data"][0]
    assert expired["action"] == "member.tag_expired"
    assert expired["actor"] == {"id": "system:tag_expiry", "role": None} and expired["request_id"] is None
    assert changes(expired) == {f"tags.{tag['id']}": (True, None)}


# --- the other covered changes ----------------------------------------------------------------------------
def test_journeys_segments_stage_rules_and_messaging_settings_are_recorded(http, tenant):
    group = http.post("/v1/tag-groups", tenant.key, {"name": "Interest"}).json
    tag = http.post(f"/v1/tag-groups/{group['id']}/tags", tenant.key, {"name": "Oud"}).json["id"]
    body = {"name": "Welcome", "trigger": {"type": "api"}, "start": "t",
            "steps": [{"id": "t", "type": "add_tag", "tag_id": tag}]}
    journey = http.post("/v1/journeys", tenant.key, body)
    assert journey.status == 201, journey
    jid = journey.json["id"]
    assert http.patch(f"/v1/journeys/{jid}", tenant.key, {"name": "Welcome 2"}).status == 200
    for action in ("activate", "pause", "archive"):
        assert http.post(f"/v1/journeys/{jid}/{action}", tenant.key).status == 200
    draft = http.post("/v1/journeys", tenant.key, {**body, "name": "Draft"}).json["id"]
    assert http.delete(f"/v1/journeys/{draft}", tenant.key).status == 204
    seg = http.post("/v1/segments", tenant.key, {"name": "Oud lovers", "filter": {"tag": tag}}).json["id"]
    assert http.patch(f"/v1/segments/{seg}", tenant.key, {"name": "Oud fans"}).status == 200
    assert http.delete(f"/v1/segments/{seg}", tenant.key).status == 204
    r = http.call("PUT", "/v1/stage-rules", tenant.key, json_body={"dormant_after_days": 30, "churned_after_days": 60})
    assert r.status == 200, r
    r = http.call("PUT", "/v1/messaging/settings", tenant.key, json_body={"frequency_cap": {"per_24_hours": 2}})
    assert r.status == 200, r
    secret = http.post("/v1/messaging/webhook-secret", tenant.key).json["secret"]
    journey_log = audit(http, tenant, target_type="journey", target=jid)["data"]
    assert [e["action"] for e in journey_log] == ["journey.archived", "journey.paused", "journey.activated",
                                                  "journey.updated", "journey.created"]
    assert changes(journey_log[0]) == {"status": ("paused", "archived")}
    assert changes(journey_log[3]) == {"name": ("Welcome", "Welcome 2")}
    assert audit(http, tenant, target_type="journey", target=draft)["data"][0]["action"] == "journey.deleted"
    seg_log = audit(http, tenant, target_type="segment", target=seg)["data"]
    assert [e["action"] for e in seg_log] == ["segment.deleted", "segment.updated", "segment.created"]
    assert changes(seg_log[1]) == {"name": ("Oud lovers", "Oud fans")}
    rules = audit(http, tenant, target_type="stage_rules")["data"][0]
    assert changes(rules)["dormant_after_days"] == (None, 30)
    rotated, settings = audit(http, tenant, target_type="messaging_settings")["data"][:2]
    assert changes(settings)["frequency_cap.per_24_hours"] == (None, 2)
    assert rotated["action"] == "messaging_settings.webhook_secret_rotated"
    assert changes(rotated) == {"webhook_secret": (None, "[redacted]")}
    assert secret not in str(audit_items(tenant))

    group_log = audit(http, tenant, target_type="tag_group", target=group["id"])["data"]
    assert [e["action"] for e in group_log] == ["tag_group.created"]
    assert audit(http, tenant, target_type="tag", target=tag)["data"][0]["action"] == "tag.created"


def test_tag_groups_tags_and_rules_are_recorded(http, tenant):
    group = http.post("/v1/tag-groups", tenant.key, {"name": "Scent", "selection": "single"}).json
    assert http.patch(f"/v1/tag-groups/{group['id']}", tenant.key, {"name": "Scents"}).status == 200
    tag = http.post(f"/v1/tag-groups/{group['id']}/tags", tenant.key, {"name": "Rose"}).json
    assert http.patch(f"/v1/tag-groups/{group['id']}/tags/{tag['id']}", tenant.key, {"name": "Rosa"}).status == 200
    rule = http.post("/v1/tag-rules", tenant.key, {"name": "Rose buyers", "tag_id": tag["id"], "enabled": False,
                                                   "when": {"event": {"type": "order.paid"}}})
    assert rule.status == 201, rule
    rid = rule.json["id"]
    assert http.patch(f"/v1/tag-rules/{rid}", tenant.key, {"name": "Rosa buyers"}).status == 200
    assert http.delete(f"/v1/tag-rules/{rid}", tenant.key).status == 204
    assert http.delete(f"/v1/tag-groups/{group['id']}/tags/{tag['id']}", tenant.key).status == 204
    assert http.delete(f"/v1/tag-groups/{group['id']}", tenant.key).status == 204
    actions = [(e["action"], e["target"]["id"]) for e in reversed(audit(http, tenant)["data"])
               if e["action"] != "tenant.created"]
    assert actions == [("tag_group.created", group["id"]), ("tag_group.updated", group["id"]),
                       ("tag.created", tag["id"]), ("tag.updated", tag["id"]), ("tag_rule.created", rid),
                       ("tag_rule.updated", rid), ("tag_rule.deleted", rid), ("tag.deleted", tag["id"]),
                       ("tag_group.deleted", group["id"])]
    rule_log = audit(http, tenant, target_type="tag_rule", target=rid)["data"]
    assert changes(rule_log[1]) == {"name": ("Rose buyers", "Rosa buyers")}
    assert changes(rule_log[0])["when.event.type"] == ("order.paid", None)  # deleted


def test_plans_manual_tiers_and_an_idempotent_replay(http, tenant):
    from tests.integration.test_billing_support import World

    plan = World(http, tenant).plan()
    r = http.patch(f"/v1/plans/{plan['id']}", tenant.key, {"version": plan["version"], "trial_days": 7})
    assert r.status == 200, r
    plan_log = audit(http, tenant, target_type="plan", target=plan["id"])["data"]
    assert [e["action"] for e in plan_log] == ["plan.updated", "plan.created"]
    assert changes(plan_log[0]) == {"trial_days": (plan["trial_days"], 7)}
    assert http.call("PUT", "/v1/tier-program", tenant.key, json_body=PROGRAM).status == 202
    member = create_member(http, tenant)
    manual = {"tier_id": "gold", "reason": "Friend of the founder"}
    assert http.call("PUT", f"/v1/members/{member['id']}/tier", tenant.key, json_body=manual).status == 200
    assert http.delete(f"/v1/members/{member['id']}/tier", tenant.key).status == 204
    tier_log = audit(http, tenant, target_type="member", target=member["id"], limit=2)["data"]
    assert [e["action"] for e in tier_log] == ["member.tier_removed", "member.tier_set"]
    assert changes(tier_log[1]) == {"manual_tier": (None, "gold"), "reason": (None, "***")}
    assert changes(tier_log[0]) == {"manual_tier": ("gold", None), "reason": ("***", None)}
    # a replayed POST (same Idempotency-Key) does not run again, so it records nothing again
    body, key = {"phone": "+8613800138333"}, {"Idempotency-Key": "audit-replay-1"}
    first = http.post("/v1/members", tenant.key, body, headers=key)
    again = http.post("/v1/members", tenant.key, body, headers=key)
    assert again.headers.get("idempotent-replayed") == "true"
    created = audit(http, tenant, target_type="member", target=first.json["id"])["data"]
    assert [e["action"] for e in created] == ["member.created"]


# --- two writers meeting --------------------------------------------------------------------------------
WRITERS = 3  # three processes race; each imports the app once (spawn), the costly part


@pytest.fixture(scope="module")
def pool():
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(WRITERS) as p:
        assert all(p.map(concurrent_clients.warm, range(WRITERS), chunksize=1))
        yield p


def test_concurrent_patches_record_exactly_the_changes_that_committed(pool, http, tenant):
    member = create_member(http, tenant)
    start_at = time.time() + 0.5
    same_version = [(start_at, "PATCH", f"/v1/members/{member['id']}", tenant.key,
                     {"version": member["version"], "name": f"Writer {n}"}) for n in range(WRITERS)]
    results = pool.starmap(concurrent_clients.call_at, same_version, chunksize=1)
    statuses = Counter(status for status, _ in results)
    assert statuses[200] == 1 and statuses[409] == WRITERS - 1, results
    updates = [e for e in audit(http, tenant, target_type="member", target=member["id"])["data"]
               if e["action"] == "member.updated"]
    assert len(updates) == 1
    start_at = time.time() + 0.5
    settings = [(start_at, "PATCH", "/v1/tenant", tenant.key, {"name": f"Brand {n}"}) for n in range(WRITERS)]
    results = pool.starmap(concurrent_clients.call_at, settings, chunksize=1)
    won = sorted(body["name"] for status, body in results if status == 200)
    assert won and all(status in (200, 409) for status, _ in results), results
    recorded = sorted(changes(e)["name"][1] for e in audit(http, tenant, target_type="tenant")["data"]
                      if e["action"] == "tenant.updated")
    assert recorded == won  # one record per committed change, none for a lost race
