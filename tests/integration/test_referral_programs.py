"""Referral programs' CRUD, bad input and tenancy, concurrency (one code per member, the
per-referrer limit's last slot), and analytics equal to a recount of a generated tree."""
from __future__ import annotations

import threading

import pytest

from tests.fixtures import make_tenant
from tests.integration.coupon_support import tenant_items
from tests.integration.referral_support import code_of, member, paid, points, program, referral_of


@pytest.fixture(scope="module")
def shop(http, admin_token):
    return make_tenant(http, admin_token, name="Programs Shop")


@pytest.fixture(scope="module")
def elsewhere(http, admin_token):
    return make_tenant(http, admin_token, name="Elsewhere")


def test_program_crud_is_versioned_admin_only_and_checks_its_references(http, shop):
    created = program(http, shop, limits={"per_day": 5, "total": 50}, clawback_days=7)
    assert (created["version"], created["status"], created["limits"]) == (1, "active", {"per_day": 5, "total": 50})
    assert created["id"] in [p["id"] for p in http.get("/v1/referral-programs", shop.key).json["data"]]
    body = {k: v for k, v in created.items() if k not in ("id", "created_at", "updated_at")}
    r = http.call("PUT", f"/v1/referral-programs/{created['id']}", shop.key,
                  json_body={**body, "name": "Bring two friends"})
    assert (r.status, r.json["version"], r.json["name"]) == (200, 2, "Bring two friends"), r
    stale = http.call("PUT", f"/v1/referral-programs/{created['id']}", shop.key, json_body=body)
    assert (stale.status, stale.json["code"]) == (409, "version_conflict"), stale
    marketer = shop.user_token(role="marketer")
    assert http.post("/v1/referral-programs", marketer, {"name": "x"}).status == 403
    assert http.get(f"/v1/referral-programs/{created['id']}", marketer).status == 200
    archived = http.post(f"/v1/referral-programs/{created['id']}/archive", shop.key)
    assert archived.json["status"] == "archived"
    r = http.get(f"/v1/members/{member(http, shop)['id']}/referral?program={created['id']}", shop.key)
    assert (r.status, r.json["code"]) == (422, "program_not_active")


def test_bad_input_is_a_clear_4xx_and_writes_nothing(http, shop):
    referrer = member(http, shop)["id"]
    before = tenant_items(shop)
    cases = [
        ({"name": ""}, "validation_failed"),
        ({"name": "x", "referrer_reward": {"type": "points"}}, "validation_failed"),
        ({"name": "x", "referee_reward": {"type": "coupon", "coupon_template_id": "nope"}}, "unknown_coupon_template"),
        ({"name": "x", "who_may_refer": {"type": "segment", "segment_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}},
         "unknown_segment"),
        ({"name": "x", "who_may_refer": {"type": "tier", "tier": "platinum"}}, "unknown_tier"),
        ({"name": "x", "starts_at": "2026-12-10T00:00:00Z", "ends_at": "2026-12-01T00:00:00Z"}, "validation_failed"),
        ({"name": "x", "share_url_template": "http://brand.example/r/"}, "validation_failed"),
        ({"name": "x", "conversion": {"type": "first_order", "min_amount": -1}}, "validation_failed"),
    ]
    for body, code in cases:
        r = http.post("/v1/referral-programs", shop.key, body)
        assert (r.status, r.json["code"]) == (422, code), (body, r)
        assert r.headers["content-type"] == "application/problem+json"
    for path in ("/v1/referrals?status=pending", f"/v1/members/{referrer}/referral?program=bad",
                 "/v1/analytics/referrals?program=bad"):
        assert http.get(path, shop.key).status == 422, path
    assert tenant_items(shop) == before


def test_another_tenants_programs_codes_and_referrals_are_404(http, shop, elsewhere):
    theirs = program(http, elsewhere, conversion={"type": "signup"}, fraud={"velocity_per_hour": 1})
    their_referrer = member(http, elsewhere)["id"]
    code = code_of(http, elsewhere, their_referrer, theirs["id"])["code"]
    member(http, elsewhere, referral_code=code)
    held = referral_of(http, elsewhere, member(http, elsewhere, referral_code=code)["id"])
    assert held["status"] == "held"
    mine = member(http, shop)["id"]
    before = tenant_items(elsewhere)
    assert http.get(f"/v1/referral-programs/{theirs['id']}", shop.key).status == 404
    assert http.get(f"/v1/members/{mine}/referral?program={theirs['id']}", shop.key).status == 404
    assert http.get(f"/v1/members/{their_referrer}/referral?program={theirs['id']}", shop.key).status == 404
    assert http.get(f"/v1/referrals/{held['id']}", shop.key).status == 404
    assert http.post(f"/v1/referrals/{held['id']}/approve", shop.key).status == 404
    assert http.get(f"/v1/analytics/referrals?program={theirs['id']}", shop.key).status == 404
    assert http.get(f"/v1/analytics/referrals/tree?member={their_referrer}", shop.key).status == 404
    assert held["id"] not in [x["id"] for x in http.get("/v1/referrals?status=held", shop.key).json["data"]]
    r = http.post("/v1/members", shop.key, {"phone": "13900148888", "referral_code": code})
    assert (r.status, r.json["code"]) == (422, "unknown_referral_code")
    assert tenant_items(elsewhere) == before


def test_concurrent_first_asks_get_one_code_and_the_last_limit_slot_rewards_one(http, shop):
    from chalicelib.activity import service as activity
    from chalicelib.activity.schemas import EventBatch
    from chalicelib.core.tenancy import WRITE, TenantContext
    from chalicelib.loyalty.referrals import service
    from chalicelib.loyalty.referrals.schemas import MemberReferralQuery

    limited = program(http, shop, limits={"total": 1}, conversion={"type": "first_order", "min_amount": 0})
    referrer = member(http, shop)["id"]
    ctx = TenantContext(tenant_id=shop.id, principal_type="api_key", principal_id="t",
                        permissions=frozenset({WRITE, "read"}))
    gate, codes = threading.Barrier(6), []

    def ask() -> None:
        gate.wait()
        codes.append(service.member_referral(ctx, referrer, MemberReferralQuery(program=limited["id"])).code)

    _run([ask] * 6)
    assert len(codes) == 6 and len(set(codes)) == 1
    referees = [member(http, shop, referral_code=codes[0])["id"] for _ in range(2)]
    gate = threading.Barrier(2)

    def order(referee: str) -> None:
        gate.wait()
        batch = EventBatch(events=[{"type": "order.paid", "event_id": f"race-{referee}", "member": {"id": referee},
                                    "order_id": f"race-{referee}", "amount": 100_00, "currency": "CNY"}])
        activity.ingest(ctx, batch)

    _run([lambda r=r: order(r) for r in referees])
    outcomes = sorted((referral_of(http, shop, r)["status"], tuple(referral_of(http, shop, r)["reasons"]))
                      for r in referees)
    assert outcomes == [("rejected", ("referrer_limit",)), ("rewarded", ())], outcomes
    assert points(http, shop, referrer) == 100


def _run(targets: list) -> None:
    threads = [threading.Thread(target=t) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_analytics_equal_a_recount_of_a_generated_referral_tree(http, shop):
    tree_program = program(http, shop, conversion={"type": "first_order", "min_amount": 0},
                           referee_reward={"type": "points", "points": 5})
    pid = tree_program["id"]
    # GIVEN a tree: root -> 3 children; child 0 -> 2; child 1 -> 1; grandchild 0 -> 2 (depth 3); one not_new try
    edges: list[tuple[str, str]] = []
    root = member(http, shop)["id"]

    def bring(parent: str, n: int) -> list[str]:
        code = code_of(http, shop, parent, pid)["code"]
        kids = [member(http, shop, referral_code=code)["id"] for _ in range(n)]
        edges.extend((parent, k) for k in kids)
        return kids

    level1 = bring(root, 3)
    level2 = bring(level1[0], 2) + bring(level1[1], 1)
    level3 = bring(level2[0], 2)
    existing = member(http, shop)
    root_code = code_of(http, shop, root, pid)["code"]
    http.post("/v1/members", shop.key, {"phone": existing["phone"], "referral_code": root_code})
    converted = [level1[0], level1[2], level2[0], level3[1]]
    for n, m in enumerate(converted):
        paid(http, shop, m, f"tree-{n}", 10_00)
    # WHEN the figures are read
    stats = http.get(f"/v1/analytics/referrals?program={pid}&top=3", shop.key).json
    # THEN they equal a recount of what was generated
    referrers = {p for p, _ in edges}
    assert stats["codes_shared"] == len(referrers)
    assert (stats["signups"], stats["new_members"], stats["rejected"]) == (len(edges) + 1, len(edges), 1)
    assert (stats["conversions"], stats["rewarded"], stats["rewards_given"]) == (4, 4, 8)
    assert stats["active_referrers"] == len(referrers)
    assert stats["fission_ratio"] == round(len(edges) / len(referrers), 4)
    conversions_by = {p: sum(1 for q, k in edges if q == p and k in converted) for p in referrers}
    signups_by = {p: sum(1 for q, _ in edges if q == p) for p in referrers}
    expected_top = sorted(referrers, key=lambda p: (-conversions_by[p], -signups_by[p], p))[:3]
    assert [(t["member_id"], t["conversions"], t["signups"]) for t in stats["top_referrers"]] == [
        (p, conversions_by[p], signups_by[p]) for p in expected_top]
    # and the invite tree to depth 3 is the generated one
    tree = http.get(f"/v1/analytics/referrals/tree?member={root}&program={pid}", shop.key).json

    def shape(node: dict) -> dict:
        return {c["member_id"]: shape(c) for c in node["children"]}

    def expected(parent: str) -> dict:
        return {k: expected(k) for p, k in edges if p == parent}

    assert shape(tree["root"]) == expected(root) and tree["size"] == len(edges)


def test_sign_ups_racing_for_the_hours_last_velocity_slot_leave_one_pending_and_hold_the_rest(http, shop):
    from chalicelib.core.tenancy import WRITE, TenantContext
    from chalicelib.members import service as members
    from chalicelib.members.schemas import MemberCreate

    capped = program(http, shop, fraud={"velocity_per_hour": 2})
    code = code_of(http, shop, member(http, shop)["id"], capped["id"])["code"]
    member(http, shop, referral_code=code)  # the hour's first slot
    ctx = TenantContext(tenant_id=shop.id, principal_type="api_key", principal_id="t", permissions=frozenset({WRITE}))
    gate, made = threading.Barrier(3), []

    def sign_up(n: int) -> None:
        gate.wait()
        made.append(members.upsert_member(ctx, MemberCreate(phone=f"1390015{n:04d}", referral_code=code))[0].id)

    _run([lambda n=n: sign_up(n) for n in range(3)])
    assert len(made) == 3
    assert sorted(referral_of(http, shop, m)["status"] for m in made) == ["held", "held", "pending"]
