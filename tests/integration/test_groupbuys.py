"""Group-buys through the API: offers, exactly k members under any concurrency, the stock of
groups, completion by the last payment (rewarded once), failure at the deadline (once, nobody
rewarded), the race between the two, redelivery, bad input and tenancy."""
from __future__ import annotations

import pytest

from tests.fixtures import make_tenant
from tests.integration.coupon_support import create_template
from tests.integration.groupbuy_support import (
    coupons_of,
    create_offer,
    fire_timers,
    group,
    join,
    new_member,
    open_group,
    pay,
    tenant_items,
    timeline_types,
    together,
)


@pytest.fixture(scope="module")
def shop(http, admin_token):
    return make_tenant(http, admin_token, name="Group Shop")


@pytest.fixture(scope="module")
def coupon_offer(http, shop):
    tpl = create_template(http, shop, min_spend=0, categories=[], name="Half price")
    return create_offer(http, shop, sku=None, group_price=None, currency=None, coupon_template_id=tpl["id"],
                        group_size=2, time_limit_minutes=30, per_member_limit=5)


def test_offer_crud_and_each_bad_input_is_a_4xx_that_writes_nothing(http, shop):
    offer = create_offer(http, shop, stock=10)
    assert (offer["status"], offer["groups_opened"], offer["group_size"]) == ("active", 0, 3)
    assert offer["id"] in [o["id"] for o in http.get("/v1/group-offers", shop.key).json["data"]]
    r = http.patch(f"/v1/group-offers/{offer['id']}", shop.key, {"name": "Serum trio", "stock": 20})
    assert r.status == 200 and (r.json["name"], r.json["stock"]) == ("Serum trio", 20), r
    leader = new_member(http, shop)
    code = open_group(http, shop, offer["id"], leader)["code"]
    before = tenant_items(shop)
    base = {"name": "x", "sku": "a", "group_price": 1, "currency": "CNY", "group_size": 2, "time_limit_minutes": 5}
    cases = [
        ("POST", "/v1/group-offers", {**base, "group_size": 1}, 422, "validation_failed"),
        ("POST", "/v1/group-offers", {**base, "group_size": 51}, 422, "validation_failed"),
        ("POST", "/v1/group-offers", {**base, "coupon_template_id": "01" + "A" * 24}, 422, "validation_failed"),
        ("POST", "/v1/group-offers", {**base, "sku": None}, 422, "validation_failed"),
        ("POST", "/v1/group-offers", {**base, "leaders": "segment"}, 422, "validation_failed"),
        ("POST", "/v1/group-offers", {**base, "group_price": "100"}, 422, "validation_failed"),
        ("POST", "/v1/group-offers", {"name": "x", "coupon_template_id": "01" + "A" * 24, "group_size": 2,
                                      "time_limit_minutes": 5}, 422, "coupon_template_not_found"),
        ("POST", "/v1/group-offers", {**base, "leaders": "segment", "leader_segment_id": "01" + "B" * 24}, 422,
         "segment_not_found"),
        ("PATCH", f"/v1/group-offers/{offer['id']}", {"stock": -1}, 422, "validation_failed"),
        ("POST", f"/v1/group-offers/{offer['id']}/groups", {"leader_id": "nope"}, 422, "validation_failed"),
        ("POST", f"/v1/group-offers/{offer['id']}/groups", {"leader_id": "01" + "C" * 24}, 404, "member_not_found"),
        ("POST", f"/v1/groups/{code}/members", {"member_id": leader}, 409, "already_joined"),
        ("POST", f"/v1/groups/{code}/members", {}, 422, "validation_failed"),
        ("POST", "/v1/groups/ZZZZZZ/members", {"member_id": leader}, 404, "group_not_found"),
    ]
    for method, path, body, status, problem in cases:
        r = http.call(method, path, shop.key, json_body=body)
        assert (r.status, r.json["code"]) == (status, problem), (path, body, r)
        assert r.headers["content-type"] == "application/problem+json"
    # an order naming an unknown group, or a group its member did not join, is refused whole
    stranger = new_member(http, shop)
    before_orders = tenant_items(shop)
    for typed, problem in (("ZZZZZZ", "group_not_found"), (code, "not_in_group")):
        result = pay(http, shop, stranger, typed)
        assert (result["status"], result["error"]["code"]) == ("rejected", problem), result
        assert result["error"]["field"] == "events[0].group_code"
    assert tenant_items(shop) == before_orders
    assert len(before_orders) > len(before)  # only the stranger was written in between


def deadline_pending(tenant, code: str) -> bool:
    from chalicelib.journeys.timers import timers
    from chalicelib.loyalty.groupbuys.deadlines import timer_name

    return timers().pending(tenant.id, timer_name(tenant.id, code))


def redeliver(signal: str, tenant, code: str) -> None:
    """Deliver an outcome's signal once more, as the outbox may after a crash."""
    from chalicelib.core.signals import Delivery
    from chalicelib.loyalty.groupbuys import service

    receiver = service.on_completed if signal.endswith("completed") else service.on_failed
    receiver(Delivery(id="redelivered.0", signal=signal, tenant_id=tenant.id, member_id=None, data={"code": code}))


def test_thirty_concurrent_joins_of_a_group_of_three_leave_exactly_three(http, shop):
    offer = create_offer(http, shop, group_size=3)
    leader = new_member(http, shop)
    code = open_group(http, shop, offer["id"], leader)["code"]
    racers = [m for _ in range(5) for m in together([lambda: new_member(http, shop) for _ in range(6)])]
    results = together([lambda m=m: http.post(f"/v1/groups/{code}/members", shop.key, {"member_id": m})
                        for m in racers])
    won = [m for m, r in zip(racers, results, strict=True) if r.status == 200]
    lost = [r for r in results if r.status != 200]
    assert len(won) == 2
    assert {(r.status, r.json["code"]) for r in lost} == {(409, "group_full")}
    seen = group(http, shop, code)
    assert (seen["joined"], seen["status"]) == (3, "open")
    assert sorted(m["member_id"] for m in seen["members"]) == sorted([leader, *won])
    figures = http.get(f"/v1/analytics/group-offers/{offer['id']}", shop.key).json
    assert (figures["groups_opened"], figures["members_joined"], figures["new_members"]) == (1, 3, 2)
    # all three pay at once: the group completes once and each member's order is recorded as group-priced
    results = together([lambda m=m: pay(http, shop, m, code, event_id=f"sku-{code}-{m}") for m in (leader, *won)])
    assert [r["status"] for r in results] == ["accepted"] * 3
    done = group(http, shop, code)
    assert (done["status"], done["paid"]) == ("completed", 3)
    assert http.get(f"/v1/analytics/group-offers/{offer['id']}", shop.key).json["groups_completed"] == 1
    assert {m["member_id"]: m["reward"] for m in done["members"]} == {
        m: {"sku": "serum-30ml", "group_price": 99_00, "currency": "CNY", "order_id": f"o-sku-{code}-{m}"}
        for m in (leader, *won)}


def test_stock_of_groups_holds_under_concurrent_opens_and_per_member_limit(http, shop):
    offer = create_offer(http, shop, stock=3, per_member_limit=1)
    leaders = [new_member(http, shop) for _ in range(8)]
    results = together([lambda m=m: http.post(f"/v1/group-offers/{offer['id']}/groups", shop.key, {"leader_id": m})
                        for m in leaders])
    assert sorted(r.status for r in results) == [201] * 3 + [409] * 5
    assert {r.json["code"] for r in results if r.status == 409} == {"groups_sold_out"}
    assert http.get(f"/v1/group-offers/{offer['id']}", shop.key).json["groups_opened"] == 3
    codes = [r.json["code"] for r in results if r.status == 201]
    assert len(set(codes)) == 3 and all(len(c) == 6 for c in codes)
    # a leader (limit 1 group of this offer) may not join another group of it
    opener = next(m for m, r in zip(leaders, results, strict=True) if r.status == 201)
    other = next(c for c in codes if c != group_code_of(results, leaders, opener))
    r = http.post(f"/v1/groups/{other.lower()}/members", shop.key, {"member_id": opener})
    assert (r.status, r.json["code"]) == (409, "per_member_limit"), r


def test_per_member_limit_holds_when_one_member_joins_many_groups_at_once(http, shop):
    offer = create_offer(http, shop, per_member_limit=2)
    codes = [open_group(http, shop, offer["id"], new_member(http, shop))["code"] for _ in range(5)]
    member = new_member(http, shop)
    results = together([lambda c=c: http.post(f"/v1/groups/{c}/members", shop.key, {"member_id": member})
                        for c in codes])
    assert sorted(r.status for r in results) == [200] * 2 + [409] * 3
    assert {r.json["code"] for r in results if r.status == 409} == {"per_member_limit"}
    assert sum(group(http, shop, c)["joined"] for c in codes) == 5 + 2  # the refused seats were not taken


def group_code_of(results, leaders, member) -> str:
    return next(r.json["code"] for m, r in zip(leaders, results, strict=True) if m == member)


def test_completed_group_rewards_each_member_once_even_on_redelivery(http, shop, coupon_offer, clock):
    leader, friend = new_member(http, shop), new_member(http, shop)
    code = open_group(http, shop, coupon_offer["id"], leader)["code"]
    assert deadline_pending(shop, code)  # opening started the deadline timer (from the outbox)
    join(http, shop, code, friend)
    first = pay(http, shop, leader, code, event_id="gb-done-1")
    assert first["status"] == "accepted" and group(http, shop, code)["status"] == "open"
    clock.advance(minutes=5)
    assert pay(http, shop, friend, code.lower(), event_id="gb-done-2")["status"] == "accepted"
    done = group(http, shop, code)
    assert (done["status"], done["paid"]) == ("completed", 2)
    assert not deadline_pending(shop, code)  # completion cancelled the deadline timer
    # redelivered event, a second order for the group, the deadline firing later: nothing doubles
    assert pay(http, shop, friend, code, event_id="gb-done-2")["status"] == "duplicate"
    assert pay(http, shop, friend, code, event_id="gb-done-3")["status"] == "accepted"
    clock.advance(minutes=40)
    fire_timers(http)
    fire_timers(http)
    redeliver("groupbuys.group_completed", shop, code)  # the outbox delivers at least once: twice here
    after = group(http, shop, code)
    assert (after["status"], after["paid"]) == ("completed", 2)
    for member in (leader, friend):
        held = coupons_of(http, shop, member)
        assert [c["template_id"] for c in held] == [coupon_offer["coupon_template_id"]]
        entry = next(m for m in after["members"] if m["member_id"] == member)
        assert entry["paid"] and entry["reward"] == {"coupon_code": held[0]["code"]}
        assert timeline_types(http, shop, member) == ["group.completed"]
    figures = http.get(f"/v1/analytics/group-offers/{coupon_offer['id']}", shop.key).json
    assert figures["groups_completed"] >= 1 and figures["completion_seconds_mean"] is not None


def test_group_that_misses_its_deadline_fails_once_and_rewards_nobody(http, shop, clock):
    offer = create_offer(http, shop, group_size=3, time_limit_minutes=10)
    leader, friend, late = new_member(http, shop), new_member(http, shop), new_member(http, shop)
    code = open_group(http, shop, offer["id"], leader)["code"]
    join(http, shop, code, friend)
    pay(http, shop, leader, code)
    clock.advance(minutes=11)
    r = http.post(f"/v1/groups/{code}/members", shop.key, {"member_id": late})
    assert (r.status, r.json["code"]) == (409, "group_expired"), r  # the deadline passed, the timer not yet
    fire_timers(http)
    fire_timers(http)
    redeliver("groupbuys.group_failed", shop, code)
    failed = group(http, shop, code)
    assert failed["status"] == "failed" and failed["closed_at"]
    assert all(m["reward"] is None for m in failed["members"])
    for member in (leader, friend):
        assert timeline_types(http, shop, member) == ["group.failed"]
    # a payment after the failure is recorded (the brand refunds it) and changes no outcome
    assert pay(http, shop, friend, code)["status"] == "accepted"
    assert group(http, shop, code)["status"] == "failed"
    r = http.post(f"/v1/groups/{code}/members", shop.key, {"member_id": late})
    assert (r.status, r.json["code"]) == (409, "group_closed"), r
    figures = http.get(f"/v1/analytics/group-offers/{offer['id']}", shop.key).json
    assert (figures["groups_opened"], figures["groups_failed"], figures["groups_completed"]) == (1, 1, 0)


def test_a_last_payment_after_the_deadline_never_completes_the_group(http, shop, coupon_offer, clock):
    # GIVEN a group of 2 whose leader paid, and its deadline passed before its timer fired
    leader, friend = new_member(http, shop), new_member(http, shop)
    code = open_group(http, shop, coupon_offer["id"], leader)["code"]
    join(http, shop, code, friend)
    pay(http, shop, leader, code)
    clock.advance(minutes=31)
    # WHEN the last seat is paid then (recorded: the brand refunds it)
    assert pay(http, shop, friend, code)["status"] == "accepted"
    # THEN the group is not completed; its timer fails it and nobody is rewarded
    assert group(http, shop, code)["status"] == "open"
    fire_timers(http)
    assert group(http, shop, code)["status"] == "failed"
    assert coupons_of(http, shop, leader) == [] and coupons_of(http, shop, friend) == []


def test_last_order_racing_the_deadline_has_exactly_one_outcome(http, shop, coupon_offer, clock):
    groups = []
    for _ in range(2):
        leader, friend = new_member(http, shop), new_member(http, shop)
        code = open_group(http, shop, coupon_offer["id"], leader)["code"]
        join(http, shop, code, friend)
        pay(http, shop, leader, code)
        groups.append((code, leader, friend))
    # half a second before the deadline: the payment may still complete the group, and the
    # timer may already fire (the local timers look 1 s ahead), so both really race
    clock.advance(minutes=30, seconds=-0.5)
    together([lambda g=g: pay(http, shop, g[2], g[0]) for g in groups] + [lambda: fire_timers(http)])
    fire_timers(http)
    for code, leader, friend in groups:
        seen = group(http, shop, code)
        assert seen["status"] in ("completed", "failed")
        rewarded = seen["status"] == "completed"
        for member in (leader, friend):
            assert len(coupons_of(http, shop, member)) == (1 if rewarded else 0)
            assert timeline_types(http, shop, member) == ["group.completed" if rewarded else "group.failed"]


def test_another_tenants_codes_and_ids_are_404_and_change_nothing(http, shop, admin_token):
    other = make_tenant(http, admin_token, name="Other Group Shop")
    offer = create_offer(http, shop)
    leader = new_member(http, shop)
    code = open_group(http, shop, offer["id"], leader)["code"]
    intruder = new_member(http, other)
    before = tenant_items(shop)
    assert http.get(f"/v1/groups/{code}", other.key).status == 404
    assert http.get(f"/v1/group-offers/{offer['id']}", other.key).status == 404
    assert http.get(f"/v1/analytics/group-offers/{offer['id']}", other.key).status == 404
    assert http.patch(f"/v1/group-offers/{offer['id']}", other.key, {"name": "mine"}).status == 404
    r = http.post(f"/v1/groups/{code}/members", other.key, {"member_id": intruder})
    assert (r.status, r.json["code"]) == (404, "group_not_found")
    r = http.post(f"/v1/group-offers/{offer['id']}/groups", other.key, {"leader_id": intruder})
    assert (r.status, r.json["code"]) == (404, "group_offer_not_found")
    r = http.post(f"/v1/groups/{code}/members", shop.key, {"member_id": intruder})  # their member, our group
    assert (r.status, r.json["code"]) == (404, "member_not_found")
    assert pay(http, other, intruder, code)["error"]["code"] == "group_not_found"
    assert tenant_items(shop) == before


def test_who_may_lead_members_with_an_order_or_a_segment(http, shop):
    offer = create_offer(http, shop, leaders="members")
    prospect = new_member(http, shop)
    r = http.post(f"/v1/group-offers/{offer['id']}/groups", shop.key, {"leader_id": prospect})
    assert (r.status, r.json["code"]) == (422, "not_eligible_to_lead"), r
    pay(http, shop, prospect, None)
    assert open_group(http, shop, offer["id"], prospect)["members"][0]["leader"] is True
    # a segment of big spenders: a 99.00 order does not qualify, a 600.00 one does
    segment = http.post("/v1/segments", shop.key, {"name": "big spenders", "filter": {
        "metric": "lifetime_spend", "op": "gte", "value": 500_00}}).json
    by_segment = create_offer(http, shop, leaders="segment", leader_segment_id=segment["id"])
    big = new_member(http, shop)
    pay(http, shop, big, None, amount=600_00)
    r = http.post(f"/v1/group-offers/{by_segment['id']}/groups", shop.key, {"leader_id": prospect})
    assert (r.status, r.json["code"]) == (422, "not_eligible_to_lead"), r
    assert open_group(http, shop, by_segment["id"], big)["status"] == "open"


def test_a_lost_timer_start_is_repaired_by_the_outbox(http, shop, clock):
    """The group commits with its GROUP_OPENED signal; a timer service that is down right
    after the commit leaves the signal in the outbox, and the sweeper starts the timer."""
    from chalicelib.journeys.timers import Timer, timers
    from chalicelib.loyalty.groupbuys import service
    from chalicelib.loyalty.groupbuys.deadlines import timer_name

    class Down:
        def start(self, timer: Timer) -> None:
            raise ConnectionError("the timer service is unreachable")

    offer = create_offer(http, shop, time_limit_minutes=60)
    leader = new_member(http, shop)
    service.use_timers(Down, Timer)
    try:
        code = open_group(http, shop, offer["id"], leader)["code"]
    finally:
        service.use_timers(timers, Timer)
    assert not timers().pending(shop.id, timer_name(shop.id, code))
    clock.advance(minutes=2)  # past the outbox item's lease and first backoff
    http.schedule("outbox_sweeper")
    assert timers().pending(shop.id, timer_name(shop.id, code))
