"""Sale-day hot keys on the read path: what every event reads (tier program, tag rules and
their tags, active journeys, the API key) is cached per process and checked through one
read of a generation copy per request, yet a change is seen from the very next request; a
revoked key stops within the stated bound (``api_key_cache_seconds``)."""
from __future__ import annotations

import pytest

from bench.dynamo import captured
from bench.saleday import touches
from tests.fixtures import make_tenant, run_jobs
from tests.integration.journey_support import create_journey
from tests.integration.test_events import new_member, order, send, set_program

#: tenant-wide items the event path used to read on every event (hot keys on sale day)
CONFIG_KEYS = ("#CONFIG", "#TAGRULES", "#TAGGROUPS", "#TAGDEF#", "#JOURNEYS", "APIKEY#", "#POINTS_CONFIG")


def _reads(calls):
    return [t.pk for op, params in calls for t in touches(op, params) if t.role == "read"]


@pytest.fixture(scope="module")
def brand(http, admin_token):
    """A tenant set up as on sale day: a tier program, a rule tag on every order, a journey
    (shared by this module's tests: set-up is most of their time)."""
    from chalicelib.core.table.model import boto_client

    tenant = make_tenant(http, admin_token, name="Sale day brand")
    set_program(http, tenant)
    group = http.post("/v1/tag-groups", tenant.key, {"name": "Sale", "selection": "multi"}).json
    buyer = http.post(f"/v1/tag-groups/{group['id']}/tags", tenant.key, {"name": "Buyer"}).json
    http.post("/v1/tag-rules", tenant.key, {"name": "buyers", "tag_id": buyer["id"],
                                            "when": {"event": {"type": "order.paid"}}})
    create_journey(http, tenant, {"trigger": {"type": "event", "event": {"type": "order.paid"}}, "start": "w",
                                  "steps": [{"id": "w", "type": "wait", "duration": "P3D", "next": "x"},
                                            {"id": "x", "type": "exit"}]})
    run_jobs()
    return tenant, boto_client(), group, buyer


def _tags(http, tenant, member_id):
    return {t["tag_id"] for t in http.get(f"/v1/members/{member_id}/tags", tenant.key).json["data"]}


def test_a_batch_of_events_reads_each_generation_once_and_no_tenant_wide_config(http, brand):
    tenant, client, _, buyer = brand
    members = [new_member(http, tenant, phone=f"1380013810{n}") for n in range(5)]
    send(http, tenant, order("warm", 10_00, {"id": members[0]}))  # this process has read everything once
    # WHEN ten events arrive in one request
    with captured(client) as calls:
        result = send(http, tenant, *[order(f"batch-{n}", 20_00, {"id": members[n % 5]}) for n in range(10)])
    assert result["accepted"] == 10
    reads = _reads(calls)
    # THEN every generation (tiers, tags, journeys, the points program, event subscriptions) is
    # read once for the whole request, together: one copy of the tenant's generations item
    generation_reads = [k for k in reads if "#GEN" in k]
    assert len(generation_reads) == 1 and f"T#{tenant.id}#GENS#" in generation_reads[0]
    # and no tenant-wide configuration item, and not the API key's lookup item, was read
    assert [k for k in reads if any(c in k for c in CONFIG_KEYS)] == []
    # while every event still had its effects: the rule tag and the enrolment
    assert all(buyer["id"] in _tags(http, tenant, m) for m in members)


def test_a_changed_tag_rule_or_tier_program_is_seen_by_the_next_request(http, brand):
    tenant, _, group, buyer = brand
    member = new_member(http, tenant, phone="13800138200")
    send(http, tenant, order("first", 10_00, {"id": member}))  # caches warm
    # WHEN a second rule and a new tier program are saved (each bumps its generation)
    vip = http.post(f"/v1/tag-groups/{group['id']}/tags", tenant.key, {"name": "VIP"}).json
    http.post("/v1/tag-rules", tenant.key, {"name": "vips", "tag_id": vip["id"],
                                            "when": {"event": {"type": "order.paid"}}})
    set_program(http, tenant, tiers=[{"id": "silver", "name": "Silver", "threshold": 15_00}])
    send(http, tenant, order("second", 10_00, {"id": member}))
    # THEN the very next request applied the new rule and the new threshold
    assert {buyer["id"], vip["id"]} <= _tags(http, tenant, member)
    assert http.get(f"/v1/members/{member}/tier", tenant.key).json["tier"]["id"] == "silver"


def test_a_key_revoked_elsewhere_stops_within_the_cache_bound_and_at_once_here(http, tenant, clock):
    from chalicelib.core.config import get_settings
    from chalicelib.tenants import store

    bound = get_settings().api_key_cache_seconds
    created = http.post("/v1/api-keys", tenant.key, {"name": "integration"}).json
    assert http.get("/v1/members", created["secret"]).status == 200  # verified and cached here
    # WHEN another container revokes it (this process's cache is not told)
    store.revoke_api_key(store.get_api_key(tenant.id, created["id"]), "2026-01-01T00:00:00.000Z")
    # THEN it still works here until the bound, and never after it
    clock.advance(seconds=bound - 1)
    assert http.get("/v1/members", created["secret"]).status == 200
    clock.advance(seconds=1)
    assert http.get("/v1/members", created["secret"]).status == 401
    # and a key revoked through this process fails on the very next request
    other = http.post("/v1/api-keys", tenant.key, {"name": "second"}).json
    assert http.get("/v1/members", other["secret"]).status == 200
    assert http.delete(f"/v1/api-keys/{other['id']}", tenant.key).status == 204
    assert http.get("/v1/members", other["secret"]).status == 401
