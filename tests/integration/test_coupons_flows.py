"""Coupons meeting the rest of Enclave: order events that redeem codes in their own
transaction, refunds that give coupons back, the journey step that issues them, bulk issue
jobs, reward redemptions, and analytics that equal a recount."""
from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from tests.fixtures import make_tenant, run_jobs, table_items
from tests.integration.coupon_support import create_template, issue, new_member, tenant_items
from tests.integration.journey_support import T0, create_journey, enrolments, tick


@pytest.fixture(scope="module")
def shop(http, admin_token):
    return make_tenant(http, admin_token, name="Coupon Flows")


def paid(member_id: str, order_id: str, amount: int, codes: list[str], category: str = "skincare",
         **extra) -> dict:
    return {"type": "order.paid", "event_id": f"ev-{order_id}", "member": {"id": member_id}, "order_id": order_id,
            "amount": amount, "currency": "CNY", "coupon_codes": codes,
            "items": [{"sku": "serum", "category": category, "qty": 1, "unit_price": amount}], **extra}


def refunded(member_id: str, order_id: str, amount: int, n: int) -> dict:
    return {"type": "order.refunded", "event_id": f"rf-{order_id}-{n}", "member": {"id": member_id},
            "order_id": order_id, "amount": amount}


def coupon(http, tenant, code: str) -> dict:
    r = http.get(f"/v1/coupons/{code}", tenant.key)
    assert r.status == 200, r
    return r.json


def test_an_order_event_redeems_its_codes_in_its_own_transaction_and_a_full_refund_gives_them_back(http, shop):
    tpl = create_template(http, shop)
    member = new_member(http, shop, "13700000001")
    code = issue(http, shop, member, tpl["id"])["code"]
    thanks = create_journey(http, shop, {"trigger": {"type": "event", "event": {"type": "coupon.redeemed"}},
                                         "start": "w", "steps": [{"id": "w", "type": "wait", "duration": "P1D"}]})
    # GIVEN an order that misses the minimum spend: the whole event is refused, naming the condition
    before = tenant_items(shop)
    r = http.post("/v1/events", shop.key, paid(member, "o-small", 100_00, [code]))
    assert (r.status, r.json["code"], r.json["field"]) == (422, "below_minimum_spend", "events[0].coupon_codes[0]")
    r = http.post("/v1/events", shop.key, paid(member, "o-unknown", 400_00, ["NOSUCHCODE"]))
    assert (r.status, r.json["code"]) == (404, "coupon_not_found"), r
    assert tenant_items(shop) == before  # neither the order nor anything of the coupon was written
    # WHEN a qualifying order carries the code
    r = http.post("/v1/events", shop.key, paid(member, "o-1", 400_00, [code.lower()]))
    assert r.status == 200 and r.json["results"][0]["status"] == "accepted", r
    # THEN the coupon is used by that order, the order is recorded, and the code serves no other order
    assert coupon(http, shop, code)["redemption"]["order_id"] == "o-1"
    assert coupon(http, shop, code)["redemption"]["discount"] == 50_00
    r = http.post("/v1/events", shop.key, paid(member, "o-2", 400_00, [code]))
    assert (r.status, r.json["code"]) == (422, "already_redeemed"), r
    # the till may have redeemed it first: the same order and code is not a second redemption
    r = http.post("/v1/coupons/redeem", shop.key, {"code": code, "member_id": member, "order_id": "o-1",
                                                    "currency": "CNY", "lines": [{"sku": "serum",
                                                                                  "category": "skincare",
                                                                                  "amount": 400_00}]})
    assert r.status == 200 and r.json["new"] is False
    timeline = http.get(f"/v1/members/{member}/timeline", shop.key).json["data"]
    assert sorted(e["type"] for e in timeline) == ["coupon.issued", "coupon.redeemed", "order.paid"]
    assert [e["journey_id"] for e in enrolments(http, shop, member)] == [thanks["id"]]  # a journey trigger
    # a partial refund keeps it used; the refund that completes it gives the coupon back
    assert http.post("/v1/events", shop.key, refunded(member, "o-1", 100_00, 1)).json["results"][0]["status"] == \
        "accepted"
    assert coupon(http, shop, code)["status"] == "used"
    assert http.post("/v1/events", shop.key, refunded(member, "o-1", 300_00, 2)).json["results"][0]["status"] == \
        "accepted"
    assert coupon(http, shop, code)["status"] == "active" and coupon(http, shop, code)["redemption"] is None
    stats = http.get(f"/v1/analytics/coupons?template={tpl['id']}", shop.key).json
    assert (stats["issued"], stats["redeemed"], stats["revenue"], stats["discount_given"]) == (1, 0, 0, 0)
    # and a redelivered refund signal changes nothing more
    from chalicelib.core.signals import Delivery
    from chalicelib.loyalty.coupons import service

    items = tenant_items(shop)
    service.on_event(Delivery(id="again.0", signal="activity.event_recorded", tenant_id=shop.id, member_id=member,
                              data={"event": {"type": "order.refunded", "order_id": "o-1", "amount": 300_00}}))
    assert tenant_items(shop) == items
    r = http.post("/v1/events", shop.key, paid(member, "o-3", 400_00, [code]))
    assert r.status == 200 and coupon(http, shop, code)["redemption"]["order_id"] == "o-3"


def test_a_refund_does_not_restore_when_the_template_says_no(http, shop):
    tpl = create_template(http, shop, restore_on_refund=False)
    member = new_member(http, shop, "13700000002")
    code = issue(http, shop, member, tpl["id"])["code"]
    assert http.post("/v1/events", shop.key, paid(member, "k-1", 300_00, [code])).status == 200
    assert http.post("/v1/events", shop.key, refunded(member, "k-1", 300_00, 1)).status == 200
    assert coupon(http, shop, code)["status"] == "used"


REPURCHASE = {
    "trigger": {"type": "event", "event": {"type": "order.paid"}},
    "entry_filter": {"metric": "orders", "op": "eq", "value": 1},
    "start": "wait",
}


def test_a_30_day_repurchase_coupon_from_a_journey_redeemed_by_an_order_counts_in_the_15_day_conversion(
        http, shop, clock):
    clock.now = T0
    tpl = create_template(http, shop, name="Come back: 50 off", categories=[], min_spend=0,
                          validity={"type": "days_from_issue", "days": 30})
    steps = [{"id": "wait", "type": "wait", "duration": "P30D", "next": "coupon"},
             {"id": "coupon", "type": "grant_coupon", "coupon": {"template_id": tpl["id"]}}]
    r = http.post("/v1/journeys", shop.key, {"name": "x", **REPURCHASE, "steps": [
        {**steps[1], "coupon": {"template_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}}], "start": "coupon"})
    assert (r.status, r.json["code"]) == (422, "unknown_coupon_template"), r
    journey = create_journey(http, shop, {**REPURCHASE, "steps": steps})
    quick, slow, never = (new_member(http, shop, f"1370000010{n}") for n in range(3))
    for n, member in enumerate((quick, slow, never)):
        assert http.post("/v1/events", shop.key, paid(member, f"first-{n}", 200_00, [])).status == 200
    tick(http)
    clock.advance(days=30, seconds=1)
    tick(http)
    tick(http)  # a timer fired twice still issues one coupon per (enrolment, step)
    codes = {}
    for member in (quick, slow, never):
        held = http.get(f"/v1/members/{member}/coupons", shop.key).json["data"]
        assert len(held) == 1 and held[0]["template_id"] == tpl["id"], held
        assert enrolments(http, shop, member)[0]["status"] == "completed"
        codes[member] = held[0]["code"]
    # the step re-run by hand (a retried Lambda): still one coupon
    from chalicelib.loyalty.coupons import service

    enrolment_id = enrolments(http, shop, quick)[0]["id"]
    again = service.issue_from_journey(shop.id, quick, tpl["id"], enrolment_id, "coupon")
    assert again.code == codes[quick]
    clock.advance(days=10)
    assert http.post("/v1/events", shop.key, paid(quick, "back-1", 260_00, [codes[quick]])).status == 200
    clock.advance(days=10)
    assert http.post("/v1/events", shop.key, paid(slow, "back-2", 180_00, [codes[slow]])).status == 200
    stats = http.get(f"/v1/analytics/coupons?template={tpl['id']}&within_days=15", shop.key).json
    assert (stats["issued"], stats["redeemed"], stats["redeemed_within"]) == (3, 2, 1)
    assert (stats["revenue"], stats["discount_given"]) == (440_00, 100_00)
    assert stats["redemption_rate"] == round(2 / 3, 4) and stats["redeemed_within_rate"] == round(1 / 3, 4)
    assert stats == recount(shop, tpl["id"], 15)
    assert journey["id"]


def recount(tenant, template_id: str, within_days: int) -> dict:
    """The analytics computed from the coupon items themselves (a scan: tests only)."""
    from boto3.dynamodb.types import TypeDeserializer

    d = TypeDeserializer()
    coupons = [{k: d.deserialize(v) for k, v in i.items()} for i in table_items(f"T#{tenant.id}#CPN#")]
    mine = [{**c, "redemption": json.loads(c.get("redemption") or "null")} for c in coupons
            if c["template_id"] == template_id]
    used = [c for c in mine if c.get("redemption")]

    def days(c: dict) -> float:
        issued = datetime.fromisoformat(c["issued_at"].replace("Z", "+00:00"))
        redeemed = datetime.fromisoformat(c["redemption"]["redeemed_at"].replace("Z", "+00:00"))
        return (redeemed - issued) / timedelta(days=1)

    within = sum(1 for c in used if days(c) < within_days)
    return {"template_id": template_id, "issued": len(mine), "redeemed": len(used),
            "redemption_rate": round(len(used) / len(mine), 4), "within_days": within_days,
            "redeemed_within": within, "redeemed_within_rate": round(within / len(mine), 4),
            "revenue": sum(int(c["redemption"]["revenue"]) for c in used),
            "discount_given": sum(int(c["redemption"]["discount"]) for c in used)}


def test_a_bulk_issue_job_issues_each_member_once_even_when_a_page_runs_again(http, shop):
    tpl = create_template(http, shop, budget={"max_issued": 4})
    members = [new_member(http, shop, f"1370000020{n}") for n in range(3)]
    r = http.post(f"/v1/coupon-templates/{tpl['id']}/issue-jobs", shop.key,
                  {"member_ids": [*members, "01ARZ3NDEKTSV4RRFFQ69G5FAV"]})
    assert r.status == 202, r
    run_jobs()
    job = http.get(f"/v1/jobs/{r.json['job_id']}", shop.key).json
    assert job["status"] == "succeeded" and job["progress"]["changed"] == 3, job
    assert [e["code"] for e in job["progress"]["errors"]] == ["member_not_found"]
    # a runner that died before its checkpoint runs the page again: nobody gets a second coupon
    from chalicelib.core import jobs
    from chalicelib.loyalty.coupons import service

    stored = jobs.get_job(shop.id, r.json["job_id"])
    assert service._issue_step(shop.id, dict(stored.params), None).changed == 0
    assert all(len(http.get(f"/v1/members/{m}/coupons", shop.key).json["data"]) == 1 for m in members)
    # a segment as the audience, with the budget running out part-way (4 in all)
    seg = http.post("/v1/segments", shop.key, {"name": "all", "filter": {"metric": "orders", "op": "gte",
                                                                          "value": 0}}).json
    r = http.post(f"/v1/coupon-templates/{tpl['id']}/issue-jobs", shop.key, {"segment_id": seg["id"]})
    assert r.status == 202, r
    run_jobs()
    job = http.get(f"/v1/jobs/{r.json['job_id']}", shop.key).json
    assert job["status"] == "succeeded" and job["progress"]["changed"] == 1
    assert "budget_spent" in [e["code"] for e in job["progress"]["errors"]]
    assert http.get(f"/v1/coupon-templates/{tpl['id']}", shop.key).json["budget"]["issued"] == 4
    bad = http.post(f"/v1/coupon-templates/{tpl['id']}/issue-jobs", shop.key, {"member_ids": [], "segment_id": None})
    assert bad.status == 422


def test_a_reward_redemption_issues_one_coupon_per_redemption_however_often_delivered(http, shop):
    from chalicelib.core.signals import Delivery
    from chalicelib.loyalty.coupons import service

    tpl = create_template(http, shop)
    member = new_member(http, shop, "13700000301")
    delivery = Delivery(id="ob.0", signal="points.reward_redeemed", tenant_id=shop.id, member_id=member,
                        data={"redemption_id": "R1", "reward_id": "W1", "coupon_template_id": tpl["id"]})
    service.on_reward_redeemed(delivery)
    service.on_reward_redeemed(delivery)
    service.on_reward_redeemed(Delivery(**{**delivery.__dict__, "id": "ob2.0",
                                           "data": {**delivery.data, "redemption_id": "R2"}}))
    held = http.get(f"/v1/members/{member}/coupons", shop.key).json["data"]
    assert len(held) == 2 and {c["template_id"] for c in held} == {tpl["id"]}
    # erasure takes the member's coupons with it
    assert http.delete(f"/v1/members/{member}", shop.key).status == 204
    assert all(http.get(f"/v1/coupons/{c['code']}", shop.key).status == 404 for c in held)


def test_ten_concurrent_orders_carrying_one_code_redeem_it_once(http, shop):
    import threading

    from chalicelib.activity import service as activity
    from chalicelib.activity.schemas import EventBatch
    from chalicelib.core.tenancy import WRITE, TenantContext

    tpl = create_template(http, shop)
    member = new_member(http, shop, "13700000401")
    code = issue(http, shop, member, tpl["id"])["code"]
    ctx = TenantContext(tenant_id=shop.id, principal_type="api_key", principal_id="t", permissions=frozenset({WRITE}))
    outcomes: list[str] = []
    gate = threading.Barrier(10)

    def order(n: int) -> None:
        gate.wait()
        result = activity.ingest(ctx, EventBatch.model_validate(paid(member, f"race-{n}", 300_00, [code]))).results[0]
        outcomes.append(result.status if result.status == "accepted" else result.error["code"])

    threads = [threading.Thread(target=order, args=(n,)) for n in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["accepted"] + ["already_redeemed"] * 9
    winner = coupon(http, shop, code)["redemption"]["order_id"]
    orders = [e for e in http.get(f"/v1/members/{member}/timeline", shop.key).json["data"] if e["type"] == "order.paid"]
    assert [e["data"]["order_id"] for e in orders] == [winner]  # the refused orders were not recorded either
