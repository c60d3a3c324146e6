"""Cross-cutting HTTP behaviour: idempotency keys, auth on every route, another tenant's
ids on every route, OpenAPI and docs, CORS."""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from tests.fixtures import run_jobs, table_items

# --- Idempotency-Key -------------------------------------------------------------------


def test_same_idempotency_key_replays_the_first_response(http, tenant):
    body = {"phone": "13800138000", "name": "Lin"}
    first = http.post("/v1/members", tenant.key, body, headers={"Idempotency-Key": "order-42"})
    assert first.status == 201
    replay = http.post("/v1/members", tenant.key, body, headers={"Idempotency-Key": "order-42"})
    assert replay.status == 201 and replay.json == first.json
    assert replay.headers.get("idempotent-replayed") == "true"
    assert "idempotent-replayed" not in first.headers


def test_same_idempotency_key_with_another_body_is_rejected(http, tenant):
    http.post("/v1/members", tenant.key, {"phone": "13800138000"}, headers={"Idempotency-Key": "k-1"})
    r = http.post("/v1/members", tenant.key, {"phone": "13900139000"}, headers={"Idempotency-Key": "k-1"})
    assert r.status == 422 and r.json["code"] == "idempotency_key_reused"
    assert http.get("/v1/members/lookup?phone=13900139000", tenant.key).status == 404


def test_idempotency_keys_are_per_tenant(http, tenant, other_tenant):
    body = {"phone": "13800138000"}
    mine = http.post("/v1/members", tenant.key, body, headers={"Idempotency-Key": "shared"})
    theirs = http.post("/v1/members", other_tenant.key, body, headers={"Idempotency-Key": "shared"})
    assert mine.status == theirs.status == 201
    assert mine.json["id"] != theirs.json["id"]
    assert "idempotent-replayed" not in theirs.headers
    assert table_items(f"T#{tenant.id}#IDEMPOTENCY") and table_items(f"T#{other_tenant.id}#IDEMPOTENCY")


def test_failed_requests_are_not_remembered_under_their_key(http, tenant):
    bad = http.post("/v1/members", tenant.key, {"phone": "123"}, headers={"Idempotency-Key": "retry-me"})
    assert bad.status == 422
    assert table_items(f"T#{tenant.id}#IDEMPOTENCY") == []
    good = http.post("/v1/members", tenant.key, {"phone": "13800138000"}, headers={"Idempotency-Key": "retry-me"})
    assert good.status == 201


def test_invalid_idempotency_key(http, tenant):
    r = http.post("/v1/members", tenant.key, {"phone": "13800138000"}, headers={"Idempotency-Key": "x" * 300})
    assert r.status == 400 and r.json["field"] == "Idempotency-Key"
    assert table_items(f"T#{tenant.id}#M#") == []


# --- every route ----------------------------------------------------------------------
def _tenant_routes():
    import app  # noqa: F401 - registers every route
    from chalicelib.core.http import PUBLIC, ROUTES

    return [spec for spec in ROUTES if spec.auth != PUBLIC]


def _concrete(path: str, value: str) -> str:
    return re.sub(r"{\w+}", value, path)


@pytest.mark.parametrize("spec", _tenant_routes(), ids=lambda s: f"{s.method} {s.path}")
def test_every_route_requires_credentials(http, spec):
    r = http.call(spec.method, _concrete(spec.path, "01ARZ3NDEKTSV4RRFFQ69G5FAV"), json_body={})
    assert r.status == 401, r
    assert r.headers["content-type"] == "application/problem+json"


def test_another_tenants_ids_are_404_on_every_route_and_change_nothing(http, tenant, other_tenant):
    """Tenant A's member, channel and key ids, used with tenant B's credential."""
    http.post("/v1/channels", tenant.key, {"code": "mine", "name": "Mine"})
    member = http.post("/v1/members", tenant.key, {"phone": "13800138000", "name": "A's member",
                                                    "source": {"channel": "mine"}}).json
    key = http.post("/v1/api-keys", tenant.key, {"name": "a-key"}).json
    job = http.call("PUT", "/v1/tier-program", tenant.key, json_body={
        "tiers": [{"id": "silver", "name": "Silver", "threshold": 100}]}).json["job"]
    run_jobs()
    http.post("/v1/events", tenant.key, {"type": "order.paid", "event_id": "a-1", "member": {"id": member["id"]},
                                         "order_id": "o-1", "amount": 500, "currency": "CNY"})
    group = http.post("/v1/tag-groups", tenant.key, {"name": "Scent"}).json
    tag = http.post(f"/v1/tag-groups/{group['id']}/tags", tenant.key, {"name": "Woody"}).json
    http.call("PUT", f"/v1/members/{member['id']}/tags/{tag['id']}", tenant.key, json_body={})
    rule = http.post("/v1/tag-rules", tenant.key, {"name": "r", "tag_id": tag["id"],
                                                   "when": {"event": {"type": "interaction", "name": "x"}}}).json
    segment = http.post("/v1/segments", tenant.key, {"name": "s", "filter": {"tag": tag["id"]}}).json
    export = http.post(f"/v1/segments/{segment['id']}/export", tenant.key).json
    run_jobs()
    from tests.integration.test_billing_support import World  # billing: a plan and a membership of A's member

    stripe = World(http, tenant)
    plan = stripe.plan()
    subscription = stripe.lifecycle(member["id"], plan, datetime.now(timezone.utc))
    stripe.remember(subscription, upto=4)
    assert stripe.deliver(subscription.events[1]).json["outcome"] == "applied"
    journey = http.post("/v1/journeys", tenant.key, {  # journeys: an active one, A's member enrolled
        "name": "j", "trigger": {"type": "api"}, "start": "w",
        "steps": [{"id": "w", "type": "wait", "duration": "P1D"}]}).json
    http.post(f"/v1/journeys/{journey['id']}/activate", tenant.key)
    http.post(f"/v1/journeys/{journey['id']}/enrolments", tenant.key, {"member_ids": [member["id"]]})
    before = table_items(f"T#{tenant.id}")
    ids = {"member_id": member["id"], "code": "mine", "key_id": key["id"], "job_id": job["id"],
           "group_id": group["id"], "tag_id": tag["id"], "rule_id": rule["id"], "segment_id": segment["id"]}
    bodies = {
        ("PATCH", "/v1/members/{member_id}"): {"version": 1, "name": "hijack"},
        ("PUT", "/v1/members/{member_id}/tier"): {"tier_id": "silver"},
        ("PATCH", "/v1/tag-groups/{group_id}"): {"name": "hijack"},
        ("POST", "/v1/tag-groups/{group_id}/tags"): {"name": "hijack"},
        ("PATCH", "/v1/tag-groups/{group_id}/tags/{tag_id}"): {"name": "hijack"},
        ("PUT", "/v1/members/{member_id}/tags/{tag_id}"): {},
        ("POST", "/v1/tags/{tag_id}/bulk"): {"action": "remove", "member_ids": [member["id"]]},
        ("PATCH", "/v1/tag-rules/{rule_id}"): {"name": "hijack"},
        ("PATCH", "/v1/segments/{segment_id}"): {"name": "hijack"},
    }
    ids.update({"plan_id": plan["id"], "membership_id": subscription.sub_id})
    bodies.update({
        ("PATCH", "/v1/plans/{plan_id}"): {"version": 1, "name": "hijack"},
        ("POST", "/v1/members/{member_id}/checkout-sessions"): {
            "plan_id": plan["id"], "success_url": "https://evil.example/ok", "cancel_url": "https://evil.example/no"},
        ("POST", "/v1/members/{member_id}/portal-sessions"): {"return_url": "https://evil.example/back"},
        ("POST", "/v1/members/{member_id}/memberships/{membership_id}/cancel"): {"at_period_end": False},
    })
    ids.update({"journey_id": journey["id"]})
    bodies.update({
        ("PATCH", "/v1/journeys/{journey_id}"): {"name": "hijack"},
        ("POST", "/v1/journeys/{journey_id}/enrolments"): {"member_ids": [member["id"]]},
    })
    exercised = set()
    for spec in _tenant_routes():
        names = spec.path_params
        if not names:
            continue
        path = spec.path
        for name in names:
            path = path.replace("{" + name + "}", ids[name] if name != "job_id" or "exports" not in path
                                else export["job_id"])
        r = http.call(spec.method, path, other_tenant.key, json_body=bodies.get((spec.method, spec.path)))
        assert r.status == 404, (spec.method, spec.path, r)
        exercised.add((spec.method, spec.path))
    assert len(exercised) == sum(1 for s in _tenant_routes() if s.path_params)
    # lookups and lists by B never show A's member
    assert http.get("/v1/members/lookup?phone=13800138000", other_tenant.key).status == 404
    assert member["id"] not in str(http.get("/v1/members", other_tenant.key).json)
    assert member["id"] not in str(http.get("/v1/members?channel=mine", other_tenant.key).json)
    # B's upsert of the same phone makes B's own member
    b = http.post("/v1/members", other_tenant.key, {"phone": "13800138000"})
    assert b.status == 201 and b.json["id"] != member["id"]
    # an event naming A's member id is rejected for B, and B's events never touch A's member
    r = http.post("/v1/events", other_tenant.key, {"type": "order.paid", "event_id": "a-1",
                                                   "member": {"id": member["id"]},
                                                   "order_id": "o-2", "amount": 500, "currency": "CNY"})
    assert r.status == 404, r
    assert table_items(f"T#{tenant.id}") == before
    assert http.get("/v1/tenant", key["secret"]).status == 200


# --- OpenAPI and docs -----------------------------------------------------------------
def test_openapi_lists_every_route_of_the_app(http):
    from app import app

    doc = http.get("/openapi.json").json
    assert doc["openapi"].startswith("3.1")
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    served = {
        (path, method)
        for path, methods in app.routes.items()
        for method in methods
        if method != "OPTIONS"
    }
    assert served == documented
    create = doc["paths"]["/v1/members"]["post"]
    schema_name = create["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert "phone" in doc["components"]["schemas"][schema_name]["properties"]
    assert {"200", "201", "409", "422"} <= set(create["responses"])
    for ref in re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', http.get("/openapi.json").text):
        assert ref in doc["components"]["schemas"], ref


def test_docs_page_and_its_assets_are_served_by_the_app(http):
    page = http.get("/docs")
    assert page.status == 200 and "swagger-ui-bundle.js" in page.text and "http" not in page.text.split("<body>")[1]
    js = http.get("/docs/swagger-ui-bundle.js")
    assert js.status == 200 and js.headers["content-type"] == "application/javascript" and len(js.text) > 100_000
    assert http.get("/docs/swagger-ui.css").status == 200
    assert http.get("/docs/..%2Fapp.py").status == 404


# --- CORS --------------------------------------------------------------------------------
def test_preflight_and_responses_allow_only_configured_origins(http, tenant):
    allowed = {"Origin": "https://console.example.test", "Access-Control-Request-Method": "POST"}
    pre = http.call("OPTIONS", "/v1/members", headers=allowed)
    assert pre.status == 204
    assert pre.headers["access-control-allow-origin"] == "https://console.example.test"
    assert "Authorization" in pre.headers["access-control-allow-headers"]
    evil = http.call("OPTIONS", "/v1/members", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in evil.headers
    assert "access-control-allow-credentials" not in evil.headers
    got = http.get("/v1/tenant", tenant.user_token(), headers={"Origin": "https://console.example.test"})
    assert got.headers["access-control-allow-origin"] == "https://console.example.test"
    denied = http.get("/v1/tenant", tenant.user_token(), headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in denied.headers
