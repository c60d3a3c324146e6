"""Referral fraud rules through the API, each recorded as a named reason, and the review
queue of held referrals (listed with signed cursors, approved or rejected by an admin)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from tests.fixtures import make_tenant
from tests.integration.referral_support import code_of, member, paid, phone, points, program, referral_of


@pytest.fixture(scope="module")
def shop(http, admin_token):
    return make_tenant(http, admin_token, name="Fraud Shop")


@pytest.fixture(scope="module")
def signup_program(http, shop):
    return program(http, shop, conversion={"type": "signup"}, fraud={"velocity_per_hour": 10})


def _referral_on_referrer(http, shop, referrer_id: str, referee_id: str) -> dict:
    """The referral a matched (existing) member's code made: on the referrer's timeline."""
    r = http.get(f"/v1/members/{referrer_id}/timeline?limit=200", shop.key)
    ids = [e["data"]["referral_id"] for e in r.json["data"] if e["type"].startswith("referral.")
           and e["data"]["role"] == "referrer" and e["data"]["other_member_id"] == referee_id]
    assert ids, "no referral event on the referrer's timeline"
    return http.get(f"/v1/referrals/{ids[0]}", shop.key).json


def test_the_same_phone_in_another_notation_is_a_self_referral(http, shop, signup_program):
    referrer = member(http, shop, phone="13800138000")["id"]
    code = code_of(http, shop, referrer, signup_program["id"])["code"]
    # WHEN the referrer signs up again with their own code, the phone written another way
    r = http.post("/v1/members", shop.key, {"phone": "+86 138-0013-8000", "referral_code": code})
    # THEN it is the same member, and the referral is rejected as a self-referral, unrewarded
    assert (r.status, r.json["id"]) == (200, referrer), r
    referral = _referral_on_referrer(http, shop, referrer, referrer)
    assert (referral["status"], referral["reasons"]) == ("rejected", ["self_referral"])
    assert points(http, shop, referrer) == 0


def test_a_shared_channel_id_is_a_self_referral(http, shop, signup_program):
    referrer = member(http, shop, channel_ids={"wechat_unionid": "union-shared-1"})["id"]
    code = code_of(http, shop, referrer, signup_program["id"])["code"]
    r = http.post("/v1/members", shop.key, {"channel_ids": {"wechat_unionid": "union-shared-1"},
                                            "email": "second@example.com", "referral_code": code})
    assert (r.status, r.json["id"]) == (200, referrer), r
    assert _referral_on_referrer(http, shop, referrer, referrer)["reasons"] == ["self_referral"]


def test_a_shared_device_is_a_self_referral_and_an_existing_member_is_not_new(http, shop, signup_program):
    referrer = member(http, shop, device_id="device-A")["id"]
    code = code_of(http, shop, referrer, signup_program["id"])["code"]
    # a new phone on the referrer's own device
    second_phone = member(http, shop, referral_code=code, device_id="device-A")
    assert second_phone["source"]["referrer_member_id"] == referrer
    got = referral_of(http, shop, second_phone["id"])
    assert (got["status"], got["reasons"]) == ("rejected", ["self_referral"])
    # an existing member presenting the code: recorded as not new, never attributed
    existing = member(http, shop)
    r = http.post("/v1/members", shop.key, {"phone": existing["phone"], "referral_code": code})
    assert r.status == 200 and r.json["source"] is None, r
    got = referral_of(http, shop, existing["id"])
    assert (got["status"], got["reasons"]) == ("rejected", ["not_new"])
    # a device another member used before is not new either
    reused = member(http, shop, referral_code=code, device_id="device-A-other")
    assert referral_of(http, shop, reused["id"])["status"] == "rewarded"
    fresh = member(http, shop, referral_code=code, device_id="device-A-other")
    assert referral_of(http, shop, fresh["id"])["reasons"] == ["not_new"]
    assert points(http, shop, referrer) == 100  # only the genuine referee rewarded its referrer


def test_twenty_signups_in_a_minute_hold_the_ones_over_the_hourly_cap_until_an_admin_decides(http, shop, clock):
    clock.now = clock.now.replace(minute=0, second=0)
    first_order = program(http, shop, conversion={"type": "first_order", "min_amount": 0},
                          fraud={"velocity_per_hour": 10})
    referrer = member(http, shop)["id"]
    code = code_of(http, shop, referrer, first_order["id"])["code"]
    referees = []
    for _ in range(20):
        clock.advance(seconds=3)
        referees.append(member(http, shop, referral_code=code)["id"])
    # the invite tree lists the referrer's referrals with their states (one read)
    tree = http.get(f"/v1/analytics/referrals/tree?member={referrer}&depth=1", shop.key).json["root"]["children"]
    by_referee = {node["member_id"]: node for node in tree}
    statuses = [http.get(f"/v1/referrals/{by_referee[m]['referral_id']}", shop.key).json for m in referees[9:12]]
    assert [by_referee[m]["status"] for m in referees] == ["pending"] * 10 + ["held"] * 10
    assert [s["reasons"] for s in statuses] == [[], ["velocity"], ["velocity"]]
    statuses = [None] * 9 + statuses  # indexed like referees below
    # the review queue lists exactly the held ones, page by page
    listed, cursor = [], None
    while True:
        r = http.get("/v1/referrals?status=held&limit=4" + (f"&cursor={cursor}" if cursor else ""), shop.key)
        assert r.status == 200, r
        listed += [x["id"] for x in r.json["data"]]
        cursor = r.json.get("next_cursor")
        if not cursor:
            break
    assert set(listed) >= {by_referee[m]["referral_id"] for m in referees[10:]}
    # an admin approves one (its first order then rewards it like any other) and rejects another;
    # analysts may not; a held referral's order converts nothing
    paid(http, shop, referees[10], "held-order-1", 10_00)
    assert http.get(f"/v1/referrals/{statuses[10]['id']}", shop.key).json["status"] == "held"
    analyst = shop.user_token(role="analyst")
    assert http.post(f"/v1/referrals/{statuses[10]['id']}/approve", analyst).status == 403
    approved = http.post(f"/v1/referrals/{statuses[10]['id']}/approve", shop.key)
    assert (approved.status, approved.json["status"]) == (200, "pending"), approved
    paid(http, shop, referees[10], "held-order-2", 10_00)
    assert http.get(f"/v1/referrals/{statuses[10]['id']}", shop.key).json["status"] == "rewarded"
    rejected = http.post(f"/v1/referrals/{statuses[11]['id']}/reject", shop.key)
    assert (rejected.status, rejected.json["status"]) == (200, "rejected")
    assert http.post(f"/v1/referrals/{statuses[11]['id']}/approve", shop.key).json["code"] == "referral_not_held"
    assert points(http, shop, referrer) == 100
    # the next hour starts afresh
    clock.advance(hours=1)
    assert referral_of(http, shop, member(http, shop, referral_code=code)["id"])["status"] == "pending"


def test_a_code_used_outside_its_program_window_is_rejected(http, shop, clock):
    ends = clock.now + timedelta(days=2)
    short = program(http, shop, conversion={"type": "signup"}, ends_at=ends.isoformat())
    referrer = member(http, shop)["id"]
    code = code_of(http, shop, referrer, short["id"])["code"]
    clock.advance(days=3)
    late = member(http, shop, referral_code=code, phone=phone())
    got = referral_of(http, shop, late["id"])
    assert (got["status"], got["reasons"]) == ("rejected", ["outside_window"])
    r = http.get(f"/v1/members/{member(http, shop)['id']}/referral?program={short['id']}", shop.key)
    assert (r.status, r.json["code"]) == (422, "program_not_active"), r
