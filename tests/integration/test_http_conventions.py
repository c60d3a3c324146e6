"""Cross-cutting HTTP behaviour: idempotency keys, auth on every route, another tenant's
ids on every route, OpenAPI and docs, CORS."""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
import requests

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
    from chalicelib.core import lazyroutes
    from chalicelib.core.http import PUBLIC, ROUTES

    lazyroutes.load_all()  # route modules import on their first request: import them all

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
    hook = http.post("/v1/webhook-endpoints", tenant.key, {"url": "http://127.0.0.1:9/refused",
                                                           "event_types": ["order.paid"]}).json
    http.post("/v1/events", tenant.key, {"type": "order.paid", "event_id": "a-1", "member": {"id": member["id"]},
                                         "order_id": "o-1", "amount": 500, "currency": "CNY"})
    [hook_delivery] = http.get(f"/v1/webhook-endpoints/{hook['id']}/deliveries", tenant.key).json["data"]
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
    template = http.post("/v1/coupon-templates", tenant.key, {  # coupons: a template, A's member holds one
        "name": "t", "benefit": {"type": "fixed", "amount_off": 100}, "currency": "CNY",
        "validity": {"type": "days_from_issue", "days": 30}}).json
    coupon = http.post(f"/v1/members/{member['id']}/coupons", tenant.key, {"template_id": template["id"]}).json
    reward = http.post("/v1/rewards", tenant.key, {"name": "r", "points_cost": 1}).json  # points: a reward of A's
    imported = http.post("/v1/imports", tenant.key, {"kind": "members", "format": "csv"}).json  # an import of A's
    where = http.post("/v1/stores", tenant.key, {"name": "s", "timezone": "UTC", "task_pool": True}).json
    guide = http.post("/v1/guides", tenant.key, {"display_name": "g", "store_id": where["id"]}).json
    task = http.post("/v1/tasks", tenant.key, {"member_id": member["id"], "kind": "call", "title": "t",
                                               "due_date": "2026-12-10"}).json
    program = http.post("/v1/referral-programs", tenant.key, {  # referrals: a program, a held referral of A's
        "name": "p", "conversion": {"type": "signup"}, "fraud": {"velocity_per_hour": 1}}).json
    referral_code = http.get(f"/v1/members/{member['id']}/referral?program={program['id']}", tenant.key).json["code"]
    for phone in ("13900139001", "13900139002"):
        http.post("/v1/members", tenant.key, {"phone": phone, "referral_code": referral_code})
    [held] = http.get("/v1/referrals?status=held", tenant.key).json["data"]
    offer = http.post("/v1/group-offers", tenant.key, {  # group-buys: an offer and a group led by A's member
        "name": "o", "sku": "s", "group_price": 1, "currency": "CNY", "group_size": 2, "time_limit_minutes": 5}).json
    group_buy = http.post(f"/v1/group-offers/{offer['id']}/groups", tenant.key, {"leader_id": member["id"]}).json
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
    ids.update({"endpoint_id": hook["id"], "delivery_id": hook_delivery["id"], "event_id": hook_delivery["event_id"]})
    bodies.update({
        ("PATCH", "/v1/webhook-endpoints/{endpoint_id}"): {"enabled": False},
        ("POST", "/v1/webhook-endpoints/{endpoint_id}/rotate-secret"): {"overlap_hours": 0},
        ("POST", "/v1/webhook-endpoints/{endpoint_id}/replay"): {"since": "2026-01-01T00:00:00Z",
                                                                 "until": "2026-01-02T00:00:00Z"},
    })
    ids.update({"import_id": imported["id"]})
    bodies.update({
        ("PATCH", "/v1/journeys/{journey_id}"): {"name": "hijack"},
        ("POST", "/v1/journeys/{journey_id}/enrolments"): {"member_ids": [member["id"]]},
    })
    ids.update({"template_id": template["id"], "coupon_code": coupon["code"]})
    bodies.update({
        ("PATCH", "/v1/coupon-templates/{template_id}"): {"name": "hijack"},
        ("POST", "/v1/coupon-templates/{template_id}/issue-jobs"): {"member_ids": [member["id"]]},
        ("POST", "/v1/members/{member_id}/coupons"): {"template_id": template["id"]},
    })
    ids.update({"reward_id": reward["id"]})
    bodies.update({
        ("POST", "/v1/members/{member_id}/points/adjustments"): {"points": 5, "reason": "hijack"},
        ("POST", "/v1/members/{member_id}/points/redemptions"): {"points": 5, "reason": "hijack"},
        ("PATCH", "/v1/rewards/{reward_id}"): {"stock": 100},
    })
    ids.update({"store_id": where["id"], "guide_id": guide["id"], "task_id": task["id"]})
    bodies.update({
        ("PATCH", "/v1/stores/{store_id}"): {"name": "hijack"},
        ("POST", "/v1/guides/{guide_id}/leave"): {"spread_over_store": where["id"]},
        ("PUT", "/v1/members/{member_id}/guide"): {"guide_id": guide["id"], "reason": "hijack"},
        ("POST", "/v1/tasks/{task_id}/complete"): {"outcome": "reached"},
    })
    ids.update({"program_id": program["id"], "referral_id": held["id"]})
    bodies.update({("PUT", "/v1/referral-programs/{program_id}"): {"name": "hijack", "version": 1}})
    ids.update({"offer_id": offer["id"], "group_code": group_buy["code"]})
    bodies.update({
        ("PATCH", "/v1/group-offers/{offer_id}"): {"name": "hijack"},
        ("POST", "/v1/group-offers/{offer_id}/groups"): {"leader_id": member["id"]},
        ("POST", "/v1/groups/{group_code}/members"): {"member_id": member["id"]},
    })
    exercised = set()
    for spec in _tenant_routes():
        names = spec.path_params
        if not names or spec.auth != "tenant":  # platform operators' routes take no tenant credential
            continue
        path = spec.path
        for name in names:
            path = path.replace("{" + name + "}", ids[name] if name != "job_id" or "exports" not in path
                                else export["job_id"])
        r = http.call(spec.method, path, other_tenant.key, json_body=bodies.get((spec.method, spec.path)))
        assert r.status == 404, (spec.method, spec.path, r)
        exercised.add((spec.method, spec.path))
    assert len(exercised) == sum(1 for s in _tenant_routes() if s.path_params and s.auth == "tenant")
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


# --- a body that is required ---------------------------------------------------------------
@pytest.mark.parametrize("raw", [b"", b"  \n"], ids=["empty", "blank"])
def test_a_put_or_patch_without_a_body_is_a_422_and_resets_nothing(http, tenant, raw):
    member = http.post("/v1/members", tenant.key, {"phone": "13800138000", "name": "Lin"}).json
    assert http.call("PUT", "/v1/messaging/settings", tenant.key, json_body={
        "webhook_url": "https://brand.example/hook", "frequency_cap": {"per_24_hours": 2},
        "quiet_hours": {"start": "21:00", "end": "09:00"}}).status == 200
    assert http.call("PUT", "/v1/stage-rules", tenant.key, json_body={"loyal_after_orders": 7}).status == 200
    assert http.patch("/v1/tenant", tenant.key, {"timezone": "Europe/Paris"}).status == 200
    reads = {"/v1/messaging/settings": "/v1/messaging/settings", "/v1/stage-rules": "/v1/stage-rules",
             "/v1/tenant": "/v1/tenant", f"/v1/members/{member['id']}": f"/v1/members/{member['id']}",
             "/v1/tier-program": "/v1/tier-program"}
    before = {path: http.get(read, tenant.key).json for path, read in reads.items()}
    for method, path in [("PUT", "/v1/messaging/settings"), ("PUT", "/v1/stage-rules"), ("PATCH", "/v1/tenant"),
                         ("PATCH", f"/v1/members/{member['id']}"), ("PUT", "/v1/tier-program")]:
        r = http.call(method, path, tenant.key, raw=raw)
        assert r.status == 422 and r.headers["content-type"] == "application/problem+json", (method, path, r)
        assert (r.json["code"], r.json["field"]) == ("body_required", "body"), r.json
    assert {path: http.get(read, tenant.key).json for path, read in reads.items()} == before
    # a POST action whose body is all defaults still takes none; a POST with required fields does not
    assert http.post("/v1/members", tenant.key).json["code"] == "body_required"
    doc = http.get("/openapi.json").json
    assert doc["paths"]["/v1/messaging/settings"]["put"]["requestBody"]["required"] is True


# --- conventions on every answer -------------------------------------------------------------
CONSOLE = "https://console.example.test"


@pytest.mark.parametrize("method, path, raw, content_type, status, code", [
    ("POST", "/v1/members", b"phone=1", "text/plain", 415, "unsupported_media_type"),
    ("TRACE", "/v1/members", b"", "application/json", 405, "method_not_allowed"),
    ("PUT", "/v1/members", b"{}", "application/json", 405, "method_not_allowed"),
    ("DELETE", "/v1/tenant", b"", "application/json", 405, "method_not_allowed"),
])
def test_chalices_own_errors_are_problems_with_cors_for_allowed_origins(http, tenant, method, path, raw,
                                                                       content_type, status, code):
    r = http.call(method, path, tenant.key, raw=raw, headers={"Content-Type": content_type, "Origin": CONSOLE})
    assert r.status == status and r.headers["content-type"] == "application/problem+json", r
    assert (r.json["status"], r.json["code"]) == (status, code) and r.json["type"].endswith(code), r.json
    assert r.headers["access-control-allow-origin"] == CONSOLE
    if status == 405:
        assert "GET" in r.headers["allow"] and method not in r.headers["allow"]
    evil = http.call(method, path, tenant.key, raw=raw, headers={"Content-Type": content_type,
                                                                  "Origin": "https://evil.example"})
    assert evil.status == status and evil.headers["content-type"] == "application/problem+json"
    assert "access-control-allow-origin" not in evil.headers and "access-control-allow-credentials" not in evil.headers


def test_the_segment_export_answer_has_cors_and_its_download_names_the_file(http, tenant):
    http.post("/v1/members", tenant.key, {"phone": "13800138000", "name": "Lin"})
    segment = http.post("/v1/segments", tenant.key, {"name": "all", "filter": {"stage": "prospect_aware"}}).json
    export = http.post(f"/v1/segments/{segment['id']}/export", tenant.key).json
    run_jobs()
    r = http.get(f"/v1/segments/{segment['id']}/exports/{export['job_id']}", tenant.key, headers={"Origin": CONSOLE})
    assert r.status == 200 and r.json["status"] == "succeeded", r
    assert r.headers["access-control-allow-origin"] == CONSOLE
    # the CSV itself comes from S3 (presigned URL), named by its Content-Disposition
    got = requests.get(r.json["download"]["url"], timeout=30)
    assert got.status_code == 200 and f'filename="segment-{segment["id"]}.csv"' in got.headers["content-disposition"]


def test_no_content_answers_have_no_body_and_no_json_content_type(http, tenant):
    member = http.post("/v1/members", tenant.key, {"phone": "13800138000"}).json
    for r in (http.delete(f"/v1/members/{member['id']}", tenant.key, headers={"Origin": CONSOLE}),
              http.call("OPTIONS", "/v1/members",
                        headers={"Origin": CONSOLE, "Access-Control-Request-Method": "POST"})):
        assert r.status == 204 and r.text == "", r
        assert "content-type" not in r.headers, r.headers


def test_creates_answer_201_with_the_new_resources_location(http, tenant):
    group = http.post("/v1/tag-groups", tenant.key, {"name": "Scent"})
    created = {
        "member": http.post("/v1/members", tenant.key, {"phone": "13800138000"}),
        "tag group": group,
        "tag": http.post(f"/v1/tag-groups/{group.json['id']}/tags", tenant.key, {"name": "Woody"}),
        "segment": http.post("/v1/segments", tenant.key, {"name": "s", "filter": {"stage": "prospect_aware"}}),
        "journey": http.post("/v1/journeys", tenant.key, {"name": "j", "trigger": {"type": "api"}, "start": "w",
                                                          "steps": [{"id": "w", "type": "wait", "duration": "P1D"}]}),
        "api key": http.post("/v1/api-keys", tenant.key, {"name": "k"}),
    }
    from tests.integration.test_billing_support import World

    created["plan"] = http.post("/v1/plans", tenant.key, {"name": "Card", "amount": 100, "currency": "CNY",
                                                          "interval": "year"}) if World(http, tenant) else None
    for what, r in created.items():
        assert r.status == 201, (what, r)
        location = r.headers.get("location")
        assert location and location.endswith("/" + r.json["id"]) and location.startswith("/v1/"), (what, r.headers)
        if what != "api key":  # keys are listed and revoked, never read one by one
            again = http.get(location, tenant.key)
            assert again.status == 200 and again.json["id"] == r.json["id"], (what, again)
    found = http.post("/v1/members", tenant.key, {"phone": "13800138000"})
    assert found.status == 200 and "location" not in found.headers  # an upsert that created nothing
    documented = http.get("/openapi.json").json["paths"]["/v1/members"]["post"]["responses"]["201"]
    assert "Location" in documented["headers"]


def test_times_are_iso_8601_utc_in_connect_links_and_billing_events(http, tenant, clock):
    from tests.integration.test_billing_support import World

    iso = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
    w = World(http, tenant)
    link = http.post("/v1/billing/stripe/connect", tenant.key,
                     {"return_url": "https://brand.example/done", "refresh_url": "https://brand.example/again"}).json
    assert link["expires_at"] is None or iso.match(link["expires_at"]), link
    plan = w.plan()
    member = w.member()
    checkout = http.post(f"/v1/members/{member}/checkout-sessions", tenant.key, {
        "plan_id": plan["id"], "success_url": "https://brand.example/ok", "cancel_url": "https://brand.example/no"})
    assert checkout.json["expires_at"] is None or iso.match(checkout.json["expires_at"]), checkout.json
    h = w.lifecycle(member, plan, clock.now)
    w.remember(h, upto=9)
    for evt in h.events[:9]:
        w.deliver(evt)
    timeline = http.get(f"/v1/members/{member}/timeline?limit=50", tenant.key).json["data"]
    billing = [e for e in timeline if e["type"].startswith("membership.")]
    assert billing and all(iso.match(e["data"]["current_period_end"]) for e in billing), billing
    assert all(iso.match(e["data"]["ends_at"]) for e in billing if "ends_at" in e["data"]), billing


def test_docs_page_works_with_a_trailing_slash_and_openapi_reads_cleanly(http):
    slash = http.get("/docs/")
    assert slash.status == 200 and slash.text == http.get("/docs").text
    # the page's asset URLs do not depend on the trailing slash (relative "docs/x" breaks at /docs/)
    assert not re.search(r'(href|src|url)\s*[=:]\s*"(docs/|openapi\.json)', slash.text), slash.text
    assert http.get("/docs/nothing.js").headers["content-type"] == "application/problem+json"
    doc = http.get("/openapi.json").json
    ops = [(p, m, op) for p, item in doc["paths"].items() for m, op in item.items()]
    assert not [op["summary"] for _, _, op in ops if "`" in op["summary"]]
    assert not [op["description"] for _, _, op in ops if "``" in op.get("description", "")]
    expected = {"200": "OK", "201": "Created", "202": "Accepted", "204": "No Content"}
    for path, method, op in ops:
        for status, response in op["responses"].items():
            if status in expected:
                assert response["description"] == expected[status], (method, path, status, response)
    assert any("202" in op["responses"] for _, _, op in ops) and any("201" in op["responses"] for _, _, op in ops)
