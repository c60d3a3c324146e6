"""Coupons through the API: templates, issuing, redemption conditions, idempotency, tenancy,
and exactly one redemption of a code under concurrency."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from tests.fixtures import make_tenant
from tests.integration.coupon_support import create_template, issue, new_member, redeem_body, tenant_items


@pytest.fixture(scope="module")
def shop(http, admin_token):
    return make_tenant(http, admin_token, name="Coupon Shop")


def test_template_lifecycle_terms_freeze_once_a_coupon_is_issued(http, shop):
    # GIVEN a template nobody holds yet: its terms may change
    tpl = create_template(http, shop, per_member_limit=1)
    assert (tpl["status"], tpl["terms_locked"], tpl["budget"]["issued"]) == ("active", False, 0)
    r = http.patch(f"/v1/coupon-templates/{tpl['id']}", shop.key, {"min_spend": 199_00})
    assert r.status == 200 and r.json["min_spend"] == 199_00, r
    assert tpl["id"] in [t["id"] for t in http.get("/v1/coupon-templates", shop.key).json["data"]]
    # WHEN a coupon is issued
    member = new_member(http, shop, "13800000001")
    coupon = issue(http, shop, member, tpl["id"])
    assert coupon["min_spend"] == 199_00 and coupon["status"] == "active"
    assert set(coupon["code"]) <= set("23456789ABCDEFGHJKLMNPQRSTUVWXYZ") and len(coupon["code"]) == 10
    # THEN the terms are frozen (409), the name is not; the per-member limit holds
    r = http.patch(f"/v1/coupon-templates/{tpl['id']}", shop.key, {"min_spend": 99_00})
    assert r.status == 409 and r.json["code"] == "template_in_use", r
    r = http.patch(f"/v1/coupon-templates/{tpl['id']}", shop.key, {"name": "Autumn 299-50"})
    assert r.status == 200 and r.json["name"] == "Autumn 299-50" and r.json["terms_locked"] is True
    r = http.post(f"/v1/members/{member}/coupons", shop.key, {"template_id": tpl["id"]})
    assert r.status == 422 and r.json["code"] == "per_member_limit", r
    # and an archived template issues nothing more, while its coupon stays valid
    assert http.post(f"/v1/coupon-templates/{tpl['id']}/archive", shop.key).json["status"] == "archived"
    other = new_member(http, shop, "13800000002")
    r = http.post(f"/v1/members/{other}/coupons", shop.key, {"template_id": tpl["id"]})
    assert r.status == 422 and r.json["code"] == "template_archived", r
    assert http.get(f"/v1/coupons/{coupon['code'].lower()}", shop.key).json["status"] == "active"


def test_every_failed_condition_is_a_422_naming_it_and_writes_nothing(http, shop, clock):
    tpl = create_template(http, shop)
    holder, stranger = new_member(http, shop, "13800000011"), new_member(http, shop, "13800000012")
    code = issue(http, shop, holder, tpl["id"])["code"]
    before = tenant_items(shop)
    cases = [
        (redeem_body("ZZZZ2222ZZ", holder, "o-1"), 404, "coupon_not_found"),
        (redeem_body(code, stranger, "o-1"), 422, "not_holder"),
        (redeem_body(code, holder, "o-1", amount=298_99), 422, "below_minimum_spend"),
        (redeem_body(code, holder, "o-1", category="fragrance"), 422, "category_out_of_scope"),
        (redeem_body(code, holder, "o-1", currency="USD"), 422, "currency_mismatch"),
        ({**redeem_body(code, holder, "o-1"), "lines": []}, 422, "validation_failed"),
        ({**redeem_body(code, holder, "o-1"), "lines": [{"sku": "x", "amount": "300"}]}, 422, "validation_failed"),
        ({**redeem_body(code, holder, "o-1"), "code": "no!"}, 422, "validation_failed"),
    ]
    for body, status, problem in cases:
        r = http.post("/v1/coupons/redeem", shop.key, body)
        assert (r.status, r.json["code"]) == (status, problem), (body, r)
        assert r.headers["content-type"] == "application/problem+json"
    clock.advance(days=30)
    r = http.post("/v1/coupons/redeem", shop.key, redeem_body(code, holder, "o-1"))
    assert (r.status, r.json["code"]) == (422, "coupon_expired"), r
    assert tenant_items(shop) == before  # nothing was written by any refused redemption


def test_redemption_is_idempotent_by_order_and_a_code_serves_one_order(http, shop):
    tpl = create_template(http, shop, benefit={"type": "percent", "percent_off": 20, "max_discount": 80_00},
                          categories=[], min_spend=0)
    member = new_member(http, shop, "13800000021")
    code = issue(http, shop, member, tpl["id"])["code"]
    typed = "-".join([code[:4].lower(), code[4:]])  # case and dashes are ignored
    body = {**redeem_body(typed, member, "o-42", amount=300_00),
            "lines": [{"sku": "a", "category": "x", "amount": 300_00, "quantity": 1},
                      {"sku": "b", "category": "y", "amount": 250_00, "quantity": 2}]}
    first = http.post("/v1/coupons/redeem", shop.key, body)
    assert first.status == 200, first
    assert (first.json["discount"], first.json["subtotal"], first.json["new"]) == (80_00, 550_00, True)  # capped
    again = http.post("/v1/coupons/redeem", shop.key, body)
    assert again.status == 200 and {**again.json, "new": True} == first.json and again.json["new"] is False
    r = http.post("/v1/coupons/redeem", shop.key, {**body, "order_id": "o-43"})
    assert (r.status, r.json["code"]) == (422, "already_redeemed"), r
    coupon = http.get(f"/v1/coupons/{code}", shop.key).json
    assert coupon["status"] == "used" and coupon["redemption"]["order_id"] == "o-42"
    assert [c["code"] for c in http.get(f"/v1/members/{member}/coupons?status=used", shop.key).json["data"]] == [code]
    assert http.get(f"/v1/members/{member}/coupons?status=active", shop.key).json["data"] == []


def test_another_tenants_template_member_and_code_are_404_and_nothing_changes(http, shop, admin_token):
    other = make_tenant(http, admin_token, name="Other Coupon Shop")
    tpl = create_template(http, other)
    member = new_member(http, other, "13800000031")
    code = issue(http, other, member, tpl["id"])["code"]
    mine = new_member(http, shop, "13800000032")
    before = tenant_items(other)
    for r in (http.get(f"/v1/coupon-templates/{tpl['id']}", shop.key),
              http.patch(f"/v1/coupon-templates/{tpl['id']}", shop.key, {"name": "mine now"}),
              http.post(f"/v1/coupon-templates/{tpl['id']}/archive", shop.key),
              http.post(f"/v1/members/{mine}/coupons", shop.key, {"template_id": tpl["id"]}),
              http.post(f"/v1/members/{member}/coupons", shop.key, {"template_id": tpl["id"]}),
              http.get(f"/v1/members/{member}/coupons", shop.key),
              http.get(f"/v1/coupons/{code}", shop.key),
              http.post("/v1/coupons/redeem", shop.key, redeem_body(code, member, "o-x")),
              http.get(f"/v1/analytics/coupons?template={tpl['id']}", shop.key)):
        assert r.status == 404, r
    assert tenant_items(other) == before


def test_one_code_redeemed_concurrently_by_ten_orders_succeeds_once(http, shop):
    from chalicelib.core.tenancy import WRITE, TenantContext
    from chalicelib.core.errors import Problem
    from chalicelib.loyalty.coupons import service
    from chalicelib.loyalty.coupons.schemas import RedeemIn

    tpl = create_template(http, shop, budget={"max_discount_value": 1_000_00})
    member = new_member(http, shop, "13800000041")
    code = issue(http, shop, member, tpl["id"])["code"]
    ctx = TenantContext(tenant_id=shop.id, principal_type="api_key", principal_id="t", permissions=frozenset({WRITE}))
    outcomes: list[str] = []
    gate = threading.Barrier(10)

    def order(n: int) -> None:
        gate.wait()
        try:
            service.redeem(ctx, RedeemIn(**redeem_body(code, member, f"race-{n}")))
            outcomes.append("redeemed")
        except Problem as problem:
            outcomes.append(problem.code)

    threads = [threading.Thread(target=order, args=(n,)) for n in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["already_redeemed"] * 9 + ["redeemed"]
    stats = http.get(f"/v1/analytics/coupons?template={tpl['id']}", shop.key).json
    assert (stats["redeemed"], stats["discount_given"]) == (1, 50_00)
    assert http.get(f"/v1/coupon-templates/{tpl['id']}", shop.key).json["budget"]["discount_given"] == 50_00


def test_budget_count_is_never_oversold_by_concurrent_issues(http, shop):
    from chalicelib.core.errors import Problem
    from chalicelib.core.tenancy import WRITE, TenantContext
    from chalicelib.loyalty.coupons import service
    from chalicelib.loyalty.coupons.schemas import IssueIn

    tpl = create_template(http, shop, budget={"max_issued": 3})
    members = [new_member(http, shop, f"1390000005{n}") for n in range(8)]
    ctx = TenantContext(tenant_id=shop.id, principal_type="api_key", principal_id="t", permissions=frozenset({WRITE}))
    outcomes: list[str] = []
    gate = threading.Barrier(len(members))

    def one(member_id: str) -> None:
        gate.wait()
        try:
            service.issue_to_member(ctx, member_id, IssueIn(template_id=tpl["id"]))
            outcomes.append("issued")
        except Problem as problem:
            outcomes.append(problem.code)

    threads = [threading.Thread(target=one, args=(m,)) for m in members]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["budget_spent"] * 5 + ["issued"] * 3
    assert http.get(f"/v1/coupon-templates/{tpl['id']}", shop.key).json["budget"]["issued"] == 3


def test_a_fixed_window_template_and_a_gift(http, shop, clock):
    start = clock.now + timedelta(days=2)
    tpl = create_template(http, shop, benefit={"type": "gift", "gift_sku": "sample-5ml"}, categories=[], min_spend=0,
                          validity={"type": "window", "starts_at": start.isoformat(),
                                    "ends_at": (start + timedelta(days=1)).isoformat()})
    member = new_member(http, shop, "13800000061")
    code = issue(http, shop, member, tpl["id"])["code"]
    r = http.post("/v1/coupons/redeem", shop.key, redeem_body(code, member, "g-1"))
    assert (r.status, r.json["code"]) == (422, "coupon_not_yet_valid"), r
    clock.advance(days=2)
    r = http.post("/v1/coupons/redeem", shop.key, redeem_body(code, member, "g-1"))
    assert r.status == 200 and (r.json["discount"], r.json["gift_sku"]) == (0, "sample-5ml"), r
