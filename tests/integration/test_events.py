"""Events in: orders, refunds, interactions; dedupe, batches, aggregates, tiers on ingest."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.fixtures import run_jobs, table_items

PROGRAM = {
    "metric": "rolling_spend", "window_months": 12,
    "tiers": [
        {"id": "silver", "name": "Silver", "threshold": 100_00},
        {"id": "gold", "name": "Gold", "threshold": 500_00,
         "benefits": [{"type": "discount_percent", "percent": 10}, {"type": "free_shipping"}]},
    ],
    "downgrade": {"policy": "anniversary"},
}


def set_program(http, tenant, **overrides):
    r = http.call("PUT", "/v1/tier-program", tenant.key, json_body={**PROGRAM, **overrides})
    assert r.status == 202, r
    run_jobs()
    return r.json


def order(event_id, amount, member, order_id=None, **kw):
    return {"type": "order.paid", "event_id": event_id, "member": member, "order_id": order_id or f"o-{event_id}",
            "amount": amount, "currency": "CNY", **kw}


def send(http, tenant, *events):
    r = http.post("/v1/events", tenant.key, {"events": list(events)})
    assert r.status == 200, r
    return r.json


def standing(http, tenant, member_id):
    return http.get(f"/v1/members/{member_id}/standing", tenant.key).json


def new_member(http, tenant, phone="13800138000"):
    return http.post("/v1/members", tenant.key, {"phone": phone}).json["id"]


def test_upgrade_happens_on_the_order_that_crosses_the_threshold(http, tenant):
    set_program(http, tenant)
    m = {"id": new_member(http, tenant)}
    first = send(http, tenant, order("e1", 60_00, m))["results"][0]
    assert first["status"] == "accepted"
    assert [c for c in first["changes"] if c["dimension"] == "tier"] == []
    crossing = send(http, tenant, order("e2", 50_00, m))["results"][0]
    assert [(c["old"], c["new"], c["reason"]) for c in crossing["changes"] if c["dimension"] == "tier"] == [
        (None, "silver", "qualified")]
    tier = http.get(f"/v1/members/{m['id']}/tier", tenant.key).json
    assert tier["tier"]["id"] == "silver" and tier["source"] == "earned"
    assert tier["progress"]["amount_to_next_tier"] == 390_00
    assert tier["progress"]["message"] == "Spend 390.00 CNY more to reach Gold"
    assert tier["next_requalification_at"] is not None
    assert [(h["old"], h["new"]) for h in tier["history"]] == [(None, "silver")]


def test_a_resent_event_changes_nothing(http, tenant):
    m = {"id": new_member(http, tenant)}
    assert send(http, tenant, order("dup", 30_00, m))["accepted"] == 1
    again = send(http, tenant, order("dup", 30_00, m), order("dup", 30_00, m))
    assert [r["status"] for r in again["results"]] == ["duplicate", "duplicate"]
    s = standing(http, tenant, m["id"])
    assert s["lifetime_spend"] == 30_00 and s["orders"] == 1
    assert len(http.get(f"/v1/members/{m['id']}/timeline", tenant.key).json["data"]) == 1


def test_the_same_order_under_another_event_id_is_a_409(http, tenant):
    m = {"id": new_member(http, tenant)}
    send(http, tenant, order("a", 30_00, m, order_id="order-1"))
    r = send(http, tenant, order("b", 30_00, m, order_id="order-1"))["results"][0]
    assert r["status"] == "rejected" and r["error"]["code"] == "order_exists"
    assert standing(http, tenant, m["id"])["lifetime_spend"] == 30_00


def test_one_bad_event_does_not_drop_the_others(http, tenant):
    m = {"id": new_member(http, tenant)}
    out = send(http, tenant,
               order("ok-1", 10_00, m),
               {"type": "order.paid", "event_id": "bad-1", "member": m, "order_id": "x", "amount": -5,
                "currency": "CNY"},
               {"type": "teleport", "event_id": "bad-2", "member": m},
               order("bad-3", 10_00, m, currency="USD"),
               order("bad-4", 10_00, {"id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}),
               {"type": "interaction", "event_id": "ok-2", "member": m, "name": "check_in"})
    assert [r["status"] for r in out["results"]] == ["accepted"] + ["rejected"] * 4 + ["accepted"]
    errors = [r["error"] for r in out["results"] if r["error"]]
    assert [e.get("field") for e in errors] == ["events[1].amount", "events[2].type", "events[3].currency", None]
    assert [e["code"] for e in errors][2:] == ["currency_mismatch", "member_not_found"]
    assert (out["accepted"], out["rejected"], out["duplicates"]) == (2, 4, 0)
    assert standing(http, tenant, m["id"])["lifetime_spend"] == 10_00


def test_a_single_rejected_event_answers_with_its_problem(http, tenant):
    r = http.post("/v1/events", tenant.key, order("solo", 10_00, {"id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}))
    assert r.status == 404 and r.json["code"] == "member_not_found"
    r = http.post("/v1/events", tenant.key, {"type": "order.paid", "event_id": "solo"})
    assert r.status == 422 and r.json["field"].startswith("events[0].")
    assert http.post("/v1/events", tenant.key, {"events": []}).status == 422
    too_many = [order(f"e{i}", 1, {"id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}) for i in range(101)]
    assert http.post("/v1/events", tenant.key, {"events": too_many}).status == 422
    assert table_items(f"T#{tenant.id}#EV#") == []


def test_an_event_from_the_future_beyond_clock_skew_is_a_422_and_writes_nothing(http, tenant, clock):
    # GIVEN a member and the server's clock
    from chalicelib.activity.schemas import MAX_CLOCK_SKEW

    clock.now = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
    m = {"id": new_member(http, tenant)}
    ahead = clock.now + MAX_CLOCK_SKEW + timedelta(seconds=1)
    # WHEN an order claims to have happened later than the allowed skew (alone, and in a batch)
    r = http.post("/v1/events", tenant.key, order("future", 10_00, m, occurred_at=ahead.isoformat()))
    batch = send(http, tenant, order("far", 10_00, m, occurred_at="2030-01-01T00:00:00Z"),
                 {"type": "interaction", "event_id": "later", "name": "page_view", "member": m,
                  "occurred_at": "2030-01-01T00:00:00+08:00"})
    # THEN it is rejected on occurred_at and nothing about it is written
    assert r.status == 422 and r.json["field"] == "events[0].occurred_at", r
    assert [(x["status"], x["error"]["field"]) for x in batch["results"]] == [
        ("rejected", "events[0].occurred_at"), ("rejected", "events[1].occurred_at")]
    assert table_items(f"T#{tenant.id}#EV#") == []
    assert http.get(f"/v1/members/{m['id']}/timeline", tenant.key).json["data"] == []
    assert standing(http, tenant, m["id"])["last_order_at"] is None
    # AND a clock a little ahead of ours (within the skew) is still accepted
    within = clock.now + MAX_CLOCK_SKEW - timedelta(seconds=1)
    ok = send(http, tenant, order("skewed", 10_00, m, occurred_at=within.isoformat()))["results"][0]
    assert ok["status"] == "accepted", ok


@pytest.mark.parametrize("change, field", [
    ({"amount": "100"}, "amount"),
    ({"amount": 100.0}, "amount"),
    ({"amount": 100.5}, "amount"),
    ({"amount": True}, "amount"),
    ({"items": [{"sku": "a", "qty": "2", "unit_price": 50}]}, "items.0.qty"),
    ({"items": [{"sku": "a", "qty": 2.0, "unit_price": 50}]}, "items.0.qty"),
    ({"items": [{"sku": "a", "qty": 2, "unit_price": "50"}]}, "items.0.unit_price"),
    ({"items": [{"sku": "a", "qty": 2, "unit_price": False}]}, "items.0.unit_price"),
])
def test_money_and_quantities_are_strict_integers(http, tenant, change, field):
    # GIVEN a member; WHEN an order's money or quantity is not a JSON integer
    m = {"id": new_member(http, tenant)}
    r = http.post("/v1/events", tenant.key, {**order("strict", 100, m), **change})
    # THEN it is a 422 naming the field, and nothing is written
    assert r.status == 422 and r.json["field"] == f"events[0].{field}", r
    assert table_items(f"T#{tenant.id}#EV#") == []
    assert standing(http, tenant, m["id"])["lifetime_spend"] == 0


def test_a_refund_amount_is_a_strict_integer(http, tenant):
    m = {"id": new_member(http, tenant)}
    send(http, tenant, order("paid", 100_00, m, order_id="A"))
    for amount in ("10", 10.0, True):
        r = http.post("/v1/events", tenant.key, {"type": "order.refunded", "event_id": f"r-{amount!r}", "member": m,
                                                 "order_id": "A", "amount": amount})
        assert r.status == 422 and r.json["field"] == "events[0].amount", r
    assert standing(http, tenant, m["id"])["lifetime_spend"] == 100_00


def test_the_contract_still_says_integer_for_money(http):
    schemas = http.get("/openapi.json").json["components"]["schemas"]
    assert schemas["OrderPaid"]["properties"]["amount"]["type"] == "integer"
    assert schemas["OrderLine"]["properties"]["unit_price"]["type"] == "integer"
    assert schemas["OrderLine"]["properties"]["qty"]["type"] == "integer"
    assert schemas["OrderRefunded"]["properties"]["amount"]["type"] == "integer"
    assert schemas["TierIn"]["properties"]["threshold"]["type"] == "integer"
    assert schemas["PlanCreate"]["properties"]["amount"]["type"] == "integer"


def test_refunds_subtract_and_follow_the_tier_policy(http, tenant):
    set_program(http, tenant, refund_drops_tier=True)
    m = {"id": new_member(http, tenant)}
    send(http, tenant, order("p1", 120_00, m, order_id="A"))
    assert http.get(f"/v1/members/{m['id']}/tier", tenant.key).json["tier"]["id"] == "silver"
    refund = {"type": "order.refunded", "event_id": "r1", "member": m, "order_id": "A", "amount": 30_00}
    res = send(http, tenant, refund)["results"][0]
    assert [(c["new"], c["reason"]) for c in res["changes"] if c["dimension"] == "tier"] == [(None, "refund")]
    s = standing(http, tenant, m["id"])
    assert (s["lifetime_spend"], s["refunded"], s["orders"]) == (90_00, 30_00, 1)
    too_much = send(http, tenant, {**refund, "event_id": "r2", "amount": 90_01})["results"][0]
    assert too_much["error"]["code"] == "refund_exceeds_order"
    unknown = send(http, tenant, {**refund, "event_id": "r3", "order_id": "nope"})["results"][0]
    assert unknown["error"]["code"] == "unknown_order"
    rest = send(http, tenant, {**refund, "event_id": "r4", "amount": 90_00})["results"][0]
    assert rest["status"] == "accepted"
    s = standing(http, tenant, m["id"])
    assert (s["lifetime_spend"], s["orders"]) == (0, 0)


def test_refund_keeps_the_tier_when_the_program_says_so(http, tenant):
    set_program(http, tenant, refund_drops_tier=False)
    m = {"id": new_member(http, tenant)}
    send(http, tenant, order("p1", 120_00, m, order_id="A"),
         {"type": "order.refunded", "event_id": "r1", "member": m, "order_id": "A", "amount": 100_00})
    assert http.get(f"/v1/members/{m['id']}/tier", tenant.key).json["tier"]["id"] == "silver"
    assert standing(http, tenant, m["id"])["lifetime_spend"] == 20_00


def test_late_events_land_in_their_month_and_timeline_place(http, tenant, clock):
    clock.now = datetime(2026, 6, 15, 4, 0, tzinfo=timezone.utc)
    set_program(http, tenant)
    m = {"id": new_member(http, tenant)}
    send(http, tenant, order("now", 40_00, m))
    send(http, tenant, order("old", 70_00, m, occurred_at="2026-02-10T10:00:00Z"))
    send(http, tenant, order("ancient", 900_00, m, occurred_at="2024-01-10T10:00:00Z"))
    s = standing(http, tenant, m["id"])
    assert s["monthly_spend"] == {"2024-01": 900_00, "2026-02": 70_00, "2026-06": 40_00}
    assert s["first_order_at"].startswith("2024-01-10") and s["last_order_at"].startswith("2026-06-15")
    # rolling 12 months: 110.00 -> silver; the 2024 order is outside the window
    tier = http.get(f"/v1/members/{m['id']}/tier", tenant.key).json
    assert tier["tier"]["id"] == "silver" and tier["progress"]["value"] == 110_00
    timeline = http.get(f"/v1/members/{m['id']}/timeline?limit=2", tenant.key).json
    assert [e["event_id"] for e in timeline["data"]] == ["now", "old"]
    rest = http.get(f"/v1/members/{m['id']}/timeline?limit=2&cursor={timeline['next_cursor']}", tenant.key).json
    assert [e["event_id"] for e in rest["data"]] == ["ancient"] and rest["next_cursor"] is None


def walk_timeline(http, tenant, member_id, limit):
    """Every page of the timeline, following next_cursor to the end."""
    pages, url = [], f"/v1/members/{member_id}/timeline?limit={limit}"
    while url:
        r = http.get(url, tenant.key)
        assert r.status == 200, r
        pages.append([e["event_id"] for e in r.json["data"]])
        nxt = r.json["next_cursor"]
        url = f"/v1/members/{member_id}/timeline?limit={limit}&cursor={nxt}" if nxt else None
        assert len(pages) < 20, "the cursor does not advance"
    return pages


def test_timeline_pages_are_full_and_each_event_appears_once_in_order(http, tenant):
    # GIVEN 7 interactions a minute apart
    m = {"id": new_member(http, tenant)}
    start = datetime(2026, 3, 1, 8, 0, tzinfo=timezone.utc)
    send(http, tenant, *[{"type": "interaction", "event_id": f"i{n}", "name": "page_view", "member": m,
                          "occurred_at": (start + timedelta(minutes=n)).isoformat()} for n in range(7)])
    newest_first = [f"i{n}" for n in reversed(range(7))]
    for limit in (2, 3, 7, 8):
        # WHEN the timeline is walked page by page
        pages = walk_timeline(http, tenant, m["id"], limit)
        # THEN every page but the last is full, the last has no cursor, each event comes once, in order
        assert [e for page in pages for e in page] == newest_first, (limit, pages)
        assert all(len(page) == limit for page in pages[:-1]) and 1 <= len(pages[-1]) <= limit, (limit, pages)


def test_unknown_identities_create_prospects_or_are_rejected_per_tenant_setting(http, tenant, other_tenant):
    created = send(http, tenant, {"type": "interaction", "event_id": "f1", "name": "follow",
                                  "member": {"channel_ids": {"wechat_openid": "o-new"}}})["results"][0]
    assert created["status"] == "accepted"
    found = http.get("/v1/members/lookup?channel=wechat_openid&external_id=o-new", tenant.key).json
    assert found["id"] == created["member_id"]
    assert standing(http, tenant, found["id"])["stage"] == "prospect_interested"
    assert http.patch("/v1/tenant", other_tenant.key, {"unknown_identity": "reject"}).status == 200
    rejected = http.post("/v1/events", other_tenant.key, {"type": "interaction", "event_id": "f1", "name": "follow",
                                                           "member": {"phone": "13900139000"}})
    assert rejected.status == 422 and rejected.json["code"] == "unknown_member"
    assert http.get("/v1/members/lookup?phone=13900139000", other_tenant.key).status == 404


def test_events_by_identity_reach_the_existing_member(http, tenant):
    member_id = new_member(http, tenant, "13800138000")
    out = send(http, tenant, order("x", 10_00, {"phone": "+86 138 0013 8000"}))
    assert out["results"][0]["member_id"] == member_id


def test_stage_moves_on_events(http, tenant):
    m = {"id": new_member(http, tenant)}
    assert standing(http, tenant, m["id"])["stage"] == "prospect_aware"
    send(http, tenant, {"type": "interaction", "event_id": "i1", "member": m, "name": "page_view",
                        "properties": {"page": "/scent/woody", "seconds": 30}})
    assert standing(http, tenant, m["id"])["stage"] == "prospect_interested"
    for n in range(2):
        send(http, tenant, order(f"o{n}", 10_00, m))
    s = standing(http, tenant, m["id"])
    assert s["stage"] == "repeat"
    assert [(h["old"], h["new"]) for h in s["stage_history"]] == [
        ("new_buyer", "repeat"), ("prospect_interested", "new_buyer"), ("prospect_aware", "prospect_interested")]


def test_interaction_properties_are_bounded(http, tenant):
    m = {"id": new_member(http, tenant)}
    big = {f"p{i}": i for i in range(21)}
    r = send(http, tenant, {"type": "interaction", "event_id": "i", "member": m, "name": "x", "properties": big})
    assert r["results"][0]["error"]["field"] == "events[0].properties"
    nested = send(http, tenant, {"type": "interaction", "event_id": "j", "member": m, "name": "x",
                                 "properties": {"a": {"b": 1}}})
    assert nested["rejected"] == 1


def test_erasure_takes_the_member_out_of_standing_counts(http, tenant):
    set_program(http, tenant)
    m = {"id": new_member(http, tenant)}
    send(http, tenant, order("o", 200_00, m))
    assert http.get("/v1/analytics/tiers", tenant.key).json["counts"]["silver"] == 1
    assert http.delete(f"/v1/members/{m['id']}", tenant.key).status == 204
    tiers = http.get("/v1/analytics/tiers", tenant.key).json
    assert tiers["counts"]["silver"] == 0 and tiers["total"] == 0
    assert table_items(f"T#{tenant.id}#M#{m['id']}")[0]["sk"]["S"] == "PROFILE"  # only the tombstone
    assert http.get(f"/v1/members/{m['id']}/timeline", tenant.key).status == 410
