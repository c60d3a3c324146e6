"""Referral programs through the API: codes, first-touch attribution, conversion on the first
qualifying order, double-sided rewards exactly once, clawback inside the window only."""
from __future__ import annotations

import pytest

from tests.fixtures import make_tenant
from tests.integration.coupon_support import tenant_items
from tests.integration.referral_support import (
    code_of,
    coupon_template,
    coupons,
    member,
    paid,
    points,
    program,
    referral_events,
    referral_of,
    refunded,
)


@pytest.fixture(scope="module")
def shop(http, admin_token):
    return make_tenant(http, admin_token, name="Referral Shop")


@pytest.fixture(scope="module")
def double_sided(http, shop):
    template = coupon_template(http, shop)
    return program(http, shop, referee_reward={"type": "coupon", "coupon_template_id": template}, clawback_days=14)


def test_double_sided_reward_only_when_the_first_qualifying_order_lands(http, shop, double_sided):
    # GIVEN a referrer's code, typed back in lower case with a dash by a new member
    referrer = member(http, shop)["id"]
    mine = code_of(http, shop, referrer, double_sided["id"])
    assert mine["share_url"] == f"https://brand.example/r/{mine['code']}" and len(mine["code"]) == 8
    assert code_of(http, shop, referrer, double_sided["id"])["code"] == mine["code"]  # one code per member
    typed = f"{mine['code'][:4].lower()}-{mine['code'][4:]}"
    referee = member(http, shop, referral_code=typed)
    assert referee["source"]["referrer_member_id"] == referrer
    assert referral_of(http, shop, referee["id"])["status"] == "pending"
    # WHEN an order below the minimum lands: nothing yet
    paid(http, shop, referee["id"], "small-1", 50_00)
    assert referral_of(http, shop, referee["id"])["status"] == "pending"
    assert points(http, shop, referrer) == 0 and coupons(http, shop, referee["id"]) == []
    # THEN the first qualifying order rewards both sides, once
    paid(http, shop, referee["id"], "big-1", 150_00)
    paid(http, shop, referee["id"], "big-2", 300_00)
    done = referral_of(http, shop, referee["id"])
    assert (done["status"], done["order_id"]) == ("rewarded", "big-1"), done
    assert points(http, shop, referrer) == 100
    assert [c["template_id"] for c in coupons(http, shop, referee["id"])] == [double_sided["referee_reward"]
                                                                            ["coupon_template_id"]]
    for who in (referrer, referee["id"]):
        assert referral_events(http, shop, who) == ["referral.converted", "referral.rewarded", "referral.signed_up"]
    # and a later code never re-attributes the member (first touch)
    other = code_of(http, shop, member(http, shop)["id"], double_sided["id"])["code"]
    again = http.post("/v1/members", shop.key, {"phone": referee["phone"], "referral_code": other})
    assert again.status == 200 and again.json["source"]["referrer_member_id"] == referrer
    assert referral_of(http, shop, referee["id"])["referrer_member_id"] == referrer


def test_a_refund_inside_the_clawback_window_reverses_both_rewards_and_a_later_one_does_not(
        http, shop, double_sided, clock):
    referrer = member(http, shop)["id"]
    code = code_of(http, shop, referrer, double_sided["id"])["code"]
    early, late = member(http, shop, referral_code=code)["id"], member(http, shop, referral_code=code)["id"]
    paid(http, shop, early, "early-1", 200_00)
    paid(http, shop, late, "late-1", 200_00)
    assert points(http, shop, referrer) == 200
    # WHEN the first referee refunds within the window
    clock.advance(days=13)
    refunded(http, shop, early, "early-1", 200_00)
    # THEN both of its rewards are reversed: the referrer's points, the referee's unused coupon
    reversed_ = referral_of(http, shop, early)
    assert reversed_["status"] == "reversed" and reversed_["reversed_at"]
    assert points(http, shop, referrer) == 100
    assert [c["status"] for c in coupons(http, shop, early)] == ["expired"]
    assert "referral.reversed" in referral_events(http, shop, referrer)
    # AND a refund after the window keeps the rewards
    clock.advance(days=2)
    refunded(http, shop, late, "late-1", 200_00)
    assert referral_of(http, shop, late)["status"] == "rewarded"
    assert points(http, shop, referrer) == 100
    assert [c["status"] for c in coupons(http, shop, late)] == ["active"]


def test_signup_conversion_rewards_at_once_and_an_unknown_or_foreign_code_writes_nothing(http, shop, admin_token):
    from tests.integration.journey_support import create_journey

    thanks = create_journey(http, shop, {"trigger": {"type": "event", "event": {"type": "referral.rewarded"}},
                                         "start": "w", "steps": [{"id": "w", "type": "wait", "duration": "P1D"}]})
    signup = program(http, shop, conversion={"type": "signup"}, referee_reward={"type": "points", "points": 30})
    referrer = member(http, shop)["id"]
    code = code_of(http, shop, referrer, signup["id"])["code"]
    referee = member(http, shop, referral_code=code)["id"]
    assert referral_of(http, shop, referee)["status"] == "rewarded"
    assert (points(http, shop, referrer), points(http, shop, referee)) == (100, 30)
    for who in (referrer, referee):  # referral.rewarded is a journey trigger on both sides
        enrolled = http.get(f"/v1/members/{who}/enrolments", shop.key).json["data"]
        assert [e["journey_id"] for e in enrolled] == [thanks["id"]]
    http.post(f"/v1/journeys/{thanks['id']}/pause", shop.key)
    # a code of another tenant is simply unknown here, and nothing is written
    other = make_tenant(http, admin_token, name="Other Referral Shop")
    foreign_program = program(http, other)
    foreign = code_of(http, other, member(http, other)["id"], foreign_program["id"])["code"]
    before = tenant_items(shop)
    for typed in (foreign, "ZZZZ-2222", "!!"):
        r = http.post("/v1/members", shop.key, {"phone": "13900149999", "referral_code": typed})
        assert r.status == 422 and r.json["code"] in ("unknown_referral_code", "validation_failed"), r
    assert tenant_items(shop) == before


def test_an_erased_referrer_s_code_stops_working_and_their_device_is_forgotten(http, shop, double_sided):
    referrer = member(http, shop, device_id="erased-device")["id"]
    code = code_of(http, shop, referrer, double_sided["id"])["code"]
    assert http.delete(f"/v1/members/{referrer}", shop.key).status == 204
    r = http.post("/v1/members", shop.key, {"phone": "13900147777", "referral_code": code})
    assert (r.status, r.json["code"]) == (422, "unknown_referral_code"), r
    from tests.fixtures import table_items

    assert not list(table_items(f"T#{shop.id}#RDEV#"))
    assert not list(table_items(f"T#{shop.id}#RCODE#{code}"))
