"""Points through the API: earning on orders (tier and category multipliers) and on
interactions (caps per tenant-local day, once per article), pending periods, refunds under
each policy, FIFO lots and expiry, redemptions under concurrency, rewards stock, bad input,
tenant isolation, and the liability counters against a recount of the ledger."""
from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.core import clock as app_clock
from chalicelib.core.errors import Problem
from chalicelib.core.signals import Delivery
from chalicelib.core.tenancy import ADMIN, READ, WRITE, TenantContext
from tests.fixtures import make_tenant, run_jobs
from tests.integration.coupon_support import create_template
from tests.integration.points_support import (
    entries,
    interaction,
    member,
    paid,
    points,
    points_items,
    refunded,
    send,
    set_points_program,
)

T0 = datetime(2026, 3, 1, 15, 50, tzinfo=timezone.utc)  # 23:50 in Asia/Shanghai


class ModuleClock:
    def __init__(self) -> None:
        self.now = T0

    def at(self, when: datetime) -> None:
        self.now = when

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture(scope="module")
def clock():
    c = ModuleClock()
    app_clock.set_clock(lambda: c.now)
    yield c
    app_clock.set_clock(None)


@pytest.fixture(scope="module")
def brand(http, admin_token, clock):
    """A tenant in Asia/Shanghai with a gold tier (2x points) and the points program."""
    tenant = make_tenant(http, admin_token)
    program = {"metric": "lifetime_spend", "tiers": [
        {"id": "silver", "name": "Silver", "threshold": 100_00},
        {"id": "gold", "name": "Gold", "threshold": 500_00, "benefits": [{"type": "points_multiplier",
                                                                          "multiplier": 2.0}]}]}
    assert http.call("PUT", "/v1/tier-program", tenant.key, json_body=program).status == 202
    run_jobs()
    set_points_program(http, tenant)
    return tenant


def ctx_of(tenant, *perms: str) -> TenantContext:
    return TenantContext(tenant_id=tenant.id, principal_type="api_key", principal_id="test",
                         permissions=frozenset(perms or (READ, WRITE, ADMIN)))


def adjust(http, tenant, member_id, n, reason="goodwill"):
    r = http.post(f"/v1/members/{member_id}/points/adjustments", tenant.key, {"points": n, "reason": reason})
    assert r.status == 201, r
    return r.json


def redeem(http, tenant, member_id, body, **kw):
    return http.post(f"/v1/members/{member_id}/points/redemptions", tenant.key, body, **kw)


# --- the program -------------------------------------------------------------------------------------
def test_program_round_trips_versioned_and_admin_only(http, brand):
    got = http.get("/v1/points-program", brand.key).json
    assert got["version"] == 1 and got["order_earning"]["points_per_unit"] == 1
    assert got["interaction_rules"][1]["once_per"] == "article_id"
    stale = http.call("PUT", "/v1/points-program", brand.key, json_body={**got, "version": 0, "updated_at": None})
    assert stale.status == 422  # updated_at is not an input field
    stale = http.call("PUT", "/v1/points-program", brand.key, json_body={"version": 0})
    assert stale.status == 409 and stale.json["code"] == "version_conflict"
    assert http.call("PUT", "/v1/points-program", brand.user_token("marketer"), json_body={}).status == 403
    for body, field in [({"order_earning": {"points_per_unit": -1}}, "order_earning.points_per_unit"),
                        ({"order_earning": {"points_per_unit": 1, "category_multipliers": {"x": 1.234}}},
                         "order_earning.category_multipliers.x"),
                        ({"expiry": {"type": "days"}}, "expiry"),
                        ({"refund_policy": "whatever"}, "refund_policy"),
                        ({"interaction_rules": [{"id": "a", "name": "x", "points": 1}] * 2}, "interaction_rules")]:
        r = http.call("PUT", "/v1/points-program", brand.key, json_body=body)
        assert r.status == 422 and r.json["field"] == field, (body, r)
    assert http.get("/v1/points-program", brand.key).json == got


# --- earning -------------------------------------------------------------------------------------------
def test_an_order_earns_with_the_gold_multiplier_and_category_multipliers(http, brand, clock):
    clock.at(T0)
    m = member(http, brand)
    send(http, brand, paid("g1", m, 300_00))  # silver: 1 point per yuan
    assert points(http, brand, m)["available"] == 300
    send(http, brand, paid("g2", m, 300_00))  # crosses gold on this order: 2x
    assert points(http, brand, m)["available"] == 300 + 600
    lines = [{"sku": "p", "category": "perfume", "qty": 1, "unit_price": 60_00},
             {"sku": "c", "category": "candle", "qty": 2, "unit_price": 20_00}]
    send(http, brand, paid("g3", m, 99_99, items=lines))  # floor(99.99 * 2 * (60*1.5 + 40) / 100) = 259
    assert points(http, brand, m)["available"] == 900 + 259
    earn = [e for e in entries(http, brand, m) if e["kind"] == "earn"]
    assert [e["points"] for e in earn] == [259, 600, 300]  # newest first
    assert earn[0]["cause"] == {"event_id": "g3", "order_id": "o-g3", "rule_id": "order", "tier_percent": 200}
    timeline = http.get(f"/v1/members/{m}/timeline", brand.key).json["data"]
    assert Counter(e["type"] for e in timeline)["points.earned"] == 3


def test_a_redelivered_event_earns_once(http, brand, clock):
    from chalicelib.loyalty.points import earning

    m = member(http, brand)
    send(http, brand, paid("rd1", m, 50_00))
    event = {"type": "order.paid", "event_id": "rd1", "order_id": "o-rd1", "amount": 50_00, "currency": "CNY",
             "items": []}
    for n in range(2):
        earning.on_event(Delivery(id=f"x.{n}", signal="activity.event_recorded", tenant_id=brand.id, member_id=m,
                                  data={"event": event, "occurred_at": app_clock.iso(clock.now)}))
    assert points(http, brand, m)["available"] == 50
    assert len(entries(http, brand, m)) == 1


def test_check_in_is_capped_once_per_day_in_the_tenants_zone(http, brand, clock):
    clock.at(T0)  # 23:50 Shanghai
    m = member(http, brand)
    send(http, brand, interaction("c1", m, "check_in"))
    clock.advance(minutes=5)
    send(http, brand, interaction("c2", m, "check_in"))  # same local day: capped
    assert points(http, brand, m)["available"] == 5
    clock.advance(minutes=15)  # 00:10 the next day in Shanghai, still 1 March in UTC
    send(http, brand, interaction("c3", m, "check_in"))
    send(http, brand, interaction("c4", m, "check_in"))
    assert points(http, brand, m)["available"] == 10
    assert [e["cause"]["event_id"] for e in entries(http, brand, m)] == ["c3", "c1"]


def test_an_article_read_earns_once_per_article(http, brand, clock):
    clock.at(T0)
    m = member(http, brand)
    send(http, brand, interaction("a1", m, "content_read", kind="article", article_id="A-1"),
         interaction("a2", m, "content_read", kind="article", article_id="A-1"),
         interaction("a3", m, "content_read", kind="article", article_id="A-2"),
         interaction("a4", m, "content_read", kind="video", article_id="A-3"),  # the predicate fails
         interaction("a5", m, "content_read", kind="article"))  # no article id: nothing to count once
    assert points(http, brand, m)["available"] == 6
    assert sorted(e["cause"]["event_id"] for e in entries(http, brand, m)) == ["a1", "a3"]


def test_order_points_stay_pending_until_the_window_ends_or_the_order_completes(http, admin_token, clock):
    clock.at(T0)
    tenant = make_tenant(http, admin_token)
    set_points_program(http, tenant, pending_days=14)
    m = member(http, tenant)
    send(http, tenant, paid("p1", m, 100_00), paid("p2", m, 50_00))
    assert (points(http, tenant, m)["available"], points(http, tenant, m)["pending"]) == (0, 150)
    r = redeem(http, tenant, m, {"points": 10, "reason": "sample"})
    assert r.status == 409 and r.json["code"] == "insufficient_points" and r.json["available"] == 0
    send(http, tenant, {"type": "order.completed", "event_id": "p1-done", "member": {"id": m}, "order_id": "o-p1"})
    assert (points(http, tenant, m)["available"], points(http, tenant, m)["pending"]) == (100, 50)
    clock.advance(days=14, seconds=1)  # the window of p2 ended: a read shows it available at once
    assert (points(http, tenant, m)["available"], points(http, tenant, m)["pending"]) == (150, 0)
    assert [e["kind"] for e in entries(http, tenant, m)] == ["release", "earn", "earn"]


# --- refunds ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("policy", ["allow_negative", "clamp_at_zero"])
def test_a_partial_refund_reverses_proportionally_after_points_were_spent(http, admin_token, clock, policy):
    clock.at(T0)
    tenant = make_tenant(http, admin_token)
    set_points_program(http, tenant, refund_policy=policy)
    m = member(http, tenant)
    send(http, tenant, paid("r1", m, 1000_00))
    assert redeem(http, tenant, m, {"points": 800, "reason": "gift box"}).status == 201
    send(http, tenant, refunded("r1-ref", m, "o-r1", 500_00))  # half: 500 points, only 200 left
    reverse = entries(http, tenant, m)[0]
    assert reverse["kind"] == "reverse" and reverse["cause"]["order_id"] == "o-r1"
    if policy == "allow_negative":
        assert points(http, tenant, m)["available"] == -300
        assert (reverse["points"], reverse["shortfall"]) == (-500, 0)
        send(http, tenant, paid("r2", m, 100_00))  # new points pay the debt first
        assert points(http, tenant, m)["available"] == -200
    else:
        assert points(http, tenant, m)["available"] == 0
        assert (reverse["points"], reverse["shortfall"]) == (-200, 300)
    send(http, tenant, refunded("r1-ref2", m, "o-r1", 500_00))  # the rest: 500 more
    assert entries(http, tenant, m)[0]["kind"] == "reverse"
    expected = {"allow_negative": -700, "clamp_at_zero": 0}[policy]
    assert points(http, tenant, m)["available"] == expected


# --- lots and expiry --------------------------------------------------------------------------------------
def test_spending_takes_the_lots_that_expire_first_and_expiry_runs_on_schedule(http, admin_token, clock):
    clock.at(T0)
    tenant = make_tenant(http, admin_token)
    set_points_program(http, tenant)  # lots expire 30 days after earning
    m = member(http, tenant)
    adjust(http, tenant, m, 100)
    clock.advance(days=10)
    adjust(http, tenant, m, 100)
    clock.advance(days=1)
    r = redeem(http, tenant, m, {"points": 50, "reason": "sample"})
    assert r.status == 201 and r.json["balance"]["available"] == 150
    spend = entries(http, tenant, m)[0]
    assert spend["kind"] == "spend" and list(spend["cause"]["lots"].values()) == [50]
    got = points(http, tenant, m)
    assert [(e["expires_at"][:10], e["points"]) for e in got["expiring"]] == [("2026-03-31", 50), ("2026-04-10", 100)]
    assert got["expiring_in_30_days"] == 150
    clock.at(T0 + timedelta(days=30, seconds=1))
    assert points(http, tenant, m)["available"] == 100  # the older lot's 50 are gone at once on read
    assert entries(http, tenant, m)[0]["kind"] == "spend"  # ... and recorded by the pass:
    result = http.schedule("points_expiry", {"tenant_ids": [tenant.id]})
    assert result["lots_expired"] == 1 and result["members"] == 1
    expire = entries(http, tenant, m)[0]
    assert (expire["kind"], expire["points"], expire["effective_at"][:10]) == ("expire", -50, "2026-03-31")
    again = http.schedule("points_expiry", {"tenant_ids": [tenant.id]})  # only due balances: nothing now
    assert again == {"members": 0, "lots_expired": 0, "notices": 0}
    clock.at(T0 + timedelta(days=33, seconds=1))  # 7 days before the second lot expires: one notice, once
    assert http.schedule("points_expiry", {"tenant_ids": [tenant.id]})["notices"] == 1
    assert http.schedule("points_expiry", {"tenant_ids": [tenant.id]})["notices"] == 0
    timeline = http.get(f"/v1/members/{m}/timeline", tenant.key).json["data"]
    assert Counter(e["type"] for e in timeline)["points.expiring"] == 1


# --- redemptions and rewards --------------------------------------------------------------------------------
def test_fifty_concurrent_redemptions_never_overspend(http, brand, clock):
    from chalicelib.loyalty.points import service
    from chalicelib.loyalty.points.schemas import RedemptionIn

    clock.at(T0)
    m = member(http, brand)
    adjust(http, brand, m, 1000)
    ctx = ctx_of(brand)

    def one(i: int) -> str:
        try:
            service.redeem(ctx, m, RedemptionIn(points=30, reason=f"r{i}"))
            return "ok"
        except Problem as problem:
            return problem.code

    with ThreadPoolExecutor(6) as pool:  # 50 redemptions, 6 at a time (DynamoDB Local on 2 cores)
        outcomes = Counter(pool.map(one, range(50)))
    assert set(outcomes) <= {"ok", "insufficient_points", "concurrent_update"}, outcomes
    assert outcomes["ok"] == 33, outcomes  # 1000 // 30: every one that could succeed did
    assert points(http, brand, m)["available"] == 1000 - 30 * outcomes["ok"] == 10
    assert Counter(e["kind"] for e in entries(http, brand, m))["spend"] == outcomes["ok"]


def test_twenty_concurrent_redemptions_of_a_reward_with_stock_five_give_exactly_five(http, brand, clock):
    from chalicelib.loyalty.points import service
    from chalicelib.loyalty.points.schemas import RedemptionIn

    clock.at(T0)
    template = create_template(http, brand)
    reward = http.post("/v1/rewards", brand.key, {"name": "Travel size", "points_cost": 40, "stock": 5,
                                                   "coupon_template_id": template["id"]}).json
    buyers = [member(http, brand) for _ in range(20)]
    for m in buyers:
        adjust(http, brand, m, 100)
    ctx = ctx_of(brand)

    def one(m: str) -> str:
        try:
            service.redeem(ctx, m, RedemptionIn(reward_id=reward["id"]))
            return "ok"
        except Problem as problem:
            return problem.code

    with ThreadPoolExecutor(10) as pool:
        outcomes = Counter(pool.map(one, buyers))
    assert outcomes == {"ok": 5, "out_of_stock": 15}, outcomes
    assert http.get(f"/v1/rewards/{reward['id']}", brand.key).json["stock"] == 0
    assert sorted(points(http, brand, m)["available"] for m in buyers) == [60] * 5 + [100] * 15


def test_a_reward_redemption_honours_the_member_limit_and_raises_the_coupon_signal(http, brand, clock):
    from chalicelib.loyalty.points import service

    clock.at(T0)
    seen = []
    service.REWARD_REDEEMED.connect(seen_receiver := lambda d: seen.append(d.data))  # noqa: F841
    try:
        template = create_template(http, brand)
        reward = http.post("/v1/rewards", brand.key, {"name": "Sample", "points_cost": 10, "per_member_limit": 2,
                                                       "coupon_template_id": template["id"]}).json
        m = member(http, brand)
        adjust(http, brand, m, 100)
        first = redeem(http, brand, m, {"reward_id": reward["id"]}, headers={"Idempotency-Key": "k-1"})
        replay = redeem(http, brand, m, {"reward_id": reward["id"]}, headers={"Idempotency-Key": "k-1"})
        assert first.status == replay.status == 201 and replay.json["id"] == first.json["id"]
        assert redeem(http, brand, m, {"reward_id": reward["id"]}).status == 201
        third = redeem(http, brand, m, {"reward_id": reward["id"]})
        assert third.status == 409 and third.json["code"] == "reward_limit_reached"
        assert points(http, brand, m)["available"] == 80
        assert [d["coupon_template_id"] for d in seen] == [template["id"], template["id"]]
        assert {d["reward_id"] for d in seen} == {reward["id"]}
    finally:
        service.REWARD_REDEEMED.disconnect(seen_receiver)


# --- bad input and other tenants --------------------------------------------------------------------------------
def test_bad_input_is_a_clear_4xx_and_writes_nothing(http, brand, clock):
    clock.at(T0)
    m = member(http, brand)
    adjust(http, brand, m, 50)
    gone = http.post("/v1/rewards", brand.key, {"name": "Old", "points_cost": 5}).json
    assert http.delete(f"/v1/rewards/{gone['id']}", brand.key).status == 204
    before = points_items(brand.id)
    base = f"/v1/members/{m}/points"
    for path, body, status, code_or_field in [
        ("/redemptions", {"points": -5, "reason": "x"}, 422, "points"),
        ("/redemptions", {"points": 0, "reason": "x"}, 422, "points"),
        ("/redemptions", {"points": "5", "reason": "x"}, 422, "points"),
        ("/redemptions", {"points": 5}, 422, "validation_failed"),
        ("/redemptions", {"points": 51, "reason": "x"}, 409, "insufficient_points"),
        ("/redemptions", {"reward_id": "nope"}, 422, "unknown_reward"),
        ("/redemptions", {"reward_id": gone["id"]}, 409, "reward_inactive"),
        ("/adjustments", {"points": 10}, 422, "reason"),
        ("/adjustments", {"points": 0, "reason": "x"}, 422, "points"),
        ("/adjustments", {"points": -51, "reason": "x"}, 409, "insufficient_points"),
        ("/adjustments", {"points": 10, "reason": "x", "extra": 1}, 422, "extra"),
    ]:
        r = http.post(base + path, brand.key, body)
        assert r.status == status, (path, body, r)
        assert code_or_field in (r.json.get("field"), r.json["code"]), (path, body, r.json)
    assert http.post(base + "/adjustments", brand.user_token("marketer"), {"points": 5, "reason": "x"}).status == 403
    assert http.post("/v1/rewards", brand.key, {"name": "x", "points_cost": -1}).status == 422
    unknown = http.post("/v1/rewards", brand.key, {"name": "x", "points_cost": 1, "coupon_template_id": "nope"})
    assert unknown.status == 422 and unknown.json["code"] == "unknown_coupon_template"
    assert http.post("/v1/rewards", brand.key, {"name": "x", "points_cost": 1, "active_from": "2026-05-01T00:00:00Z",
                                                "active_until": "2026-04-01T00:00:00Z"}).status == 422
    assert points_items(brand.id) == before


def test_another_tenants_member_and_reward_are_404_and_change_nothing(http, brand, other_tenant, clock):
    clock.at(T0)
    m = member(http, brand)
    adjust(http, brand, m, 50)
    reward = http.post("/v1/rewards", brand.key, {"name": "Mine", "points_cost": 5, "stock": 3}).json
    before = points_items(brand.id)
    key = other_tenant.key
    assert http.get(f"/v1/members/{m}/points", key).status == 404
    assert http.get(f"/v1/members/{m}/points/ledger", key).status == 404
    assert http.post(f"/v1/members/{m}/points/redemptions", key, {"points": 5, "reason": "x"}).status == 404
    assert http.post(f"/v1/members/{m}/points/adjustments", key, {"points": 5, "reason": "x"}).status == 404
    assert http.get(f"/v1/rewards/{reward['id']}", key).status == 404
    assert http.patch(f"/v1/rewards/{reward['id']}", key, {"stock": 100}).status == 404
    assert http.delete(f"/v1/rewards/{reward['id']}", key).status == 404
    theirs = http.post("/v1/members", key, {"phone": "13900139999"}).json["id"]
    r = http.post(f"/v1/members/{theirs}/points/redemptions", key, {"reward_id": reward["id"]})
    assert r.status == 422 and r.json["code"] == "unknown_reward"
    assert points_items(brand.id) == before


# --- analytics ----------------------------------------------------------------------------------------------
def test_liability_equals_a_recount_of_the_ledger_on_generated_data(http, admin_token, clock):
    import random

    from tests.fixtures import table_items

    rng = random.Random(7)
    clock.at(T0)
    tenant = make_tenant(http, admin_token)
    set_points_program(http, tenant, pending_days=5, refund_policy=rng.choice(["allow_negative", "clamp_at_zero"]))
    people = [member(http, tenant) for _ in range(4)]
    for step in range(16):
        m, n = rng.choice(people), f"s{step}"
        action = rng.choice(["order", "order", "refund", "check_in", "adjust", "redeem"])
        if action == "order":
            send(http, tenant, paid(n, m, rng.randint(1, 400) * 100))
        elif action == "refund":
            orders = [e["cause"]["order_id"] for e in entries(http, tenant, m) if e["kind"] == "earn"
                      and "order_id" in e["cause"]]
            if orders:
                send(http, tenant, refunded(n, m, rng.choice(orders), rng.randint(1, 50) * 100))
        elif action == "check_in":
            send(http, tenant, interaction(n, m, "check_in"))
        elif action == "adjust":
            adjust(http, tenant, m, rng.randint(1, 100))
        else:
            redeem(http, tenant, m, {"points": rng.randint(1, 150), "reason": "gift"})
        clock.advance(days=rng.randint(0, 6))
    http.schedule("points_expiry", {"tenant_ids": [tenant.id]})
    ledger = [i for i in table_items(f"T#{tenant.id}#M#") if i["sk"]["S"].startswith("POINTS#L#")]
    recount = sum(int(i["points"]["N"]) for i in ledger if i["kind"]["S"] != "release")
    report = http.get("/v1/analytics/points", tenant.key).json
    assert report["liability_points"] == recount
    assert report["liability_value"] == recount  # 100 points are worth 100 fen
    balances = [points(http, tenant, m) for m in people]
    assert sum(b["available"] + b["pending"] for b in balances) == recount
    by_kind = Counter()
    for i in ledger:
        by_kind[i["kind"]["S"]] += abs(int(i["points"]["N"]))
    months = report["months"].values()
    assert sum(f["earned"] for f in months) == by_kind["earn"] > 0
    assert sum(f["spent"] for f in months) == by_kind["spend"]
    assert sum(f["expired"] for f in months) == by_kind["expire"] > 0
    assert sum(f["reversed"] for f in months) == by_kind["reverse"]


def test_a_segment_selects_members_by_available_points(http, admin_token, clock):
    clock.at(T0)
    tenant = make_tenant(http, admin_token)
    set_points_program(http, tenant)
    rich, poor, none = member(http, tenant), member(http, tenant), member(http, tenant)
    adjust(http, tenant, rich, 500)
    adjust(http, tenant, poor, 99)
    r = http.post("/v1/segments/preview", tenant.key, {"filter": {"points_available": 100}})
    assert r.status == 200 and [m["id"] for m in r.json["sample"]] == [rich]  # (the count is a job: no index)
    r = http.post("/v1/segments/preview", tenant.key, {"filter": {"points_available": 100, "op": "lt"}})
    assert sorted(m["id"] for m in r.json["sample"]) == sorted([poor, none])
    clock.advance(days=31)  # both lots expired: a read never counts them
    r = http.post("/v1/segments/preview", tenant.key, {"filter": {"points_available": 1}})
    assert r.json["sample"] == []
    bad = http.post("/v1/segments/preview", tenant.key, {"filter": {"points_available": "100"}})
    assert bad.status == 422 and bad.json["field"] == "filter.points_available"


def test_journeys_trigger_on_points_redeemed(http, admin_token, clock):
    clock.at(T0)
    tenant = make_tenant(http, admin_token)
    set_points_program(http, tenant)
    journey = http.post("/v1/journeys", tenant.key, {
        "name": "thanks", "trigger": {"type": "event", "event": {"type": "points.redeemed"}}, "start": "w",
        "steps": [{"id": "w", "type": "wait", "duration": "P1D"}]}).json
    assert http.post(f"/v1/journeys/{journey['id']}/activate", tenant.key).status == 200
    m = member(http, tenant)
    adjust(http, tenant, m, 50)
    assert http.get(f"/v1/members/{m}/enrolments", tenant.key).json["data"] == []
    assert redeem(http, tenant, m, {"points": 20, "reason": "sample"}).status == 201
    enrolled = http.get(f"/v1/members/{m}/enrolments", tenant.key).json["data"]
    assert [e["journey_id"] for e in enrolled] == [journey["id"]]


def test_erasing_a_member_takes_their_points_out_of_the_liability(http, admin_token, clock):
    clock.at(T0)
    tenant = make_tenant(http, admin_token)
    set_points_program(http, tenant)
    keep, erase = member(http, tenant), member(http, tenant)
    adjust(http, tenant, keep, 70)
    adjust(http, tenant, erase, 30)
    assert http.get("/v1/analytics/points", tenant.key).json["liability_points"] == 100
    assert http.delete(f"/v1/members/{erase}", tenant.key).status == 204
    assert http.get("/v1/analytics/points", tenant.key).json["liability_points"] == 70
    assert [i for i in points_items(tenant.id) if f"#M#{erase}" in i["pk"]["S"]] == []
