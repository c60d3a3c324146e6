"""The pure referral rules: fraud decisions with their reasons, windows, conversion, clawback."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.loyalty.referrals import rules
from chalicelib.loyalty.referrals.schemas import ProgramIn, Reward, WhoMayRefer

NOW = datetime(2026, 12, 3, 10, 30, tzinfo=timezone.utc)


def facts(**kw) -> rules.SignupFacts:
    base = {"referrer_id": "R", "referee_id": "E", "referrer_identities": {"phone": "+8613800138000"},
                "referee_identities": {"phone": "+8613900139000"}, "device_owner": None, "existing_member": False,
                "in_window": True, "velocity": 0}
    return rules.SignupFacts(**{**base, **kw})


@pytest.mark.parametrize(("given", "expected"), [
    ({}, ("pending", [])),
    ({"referee_identities": {"phone": "+8613800138000"}}, ("rejected", ["self_referral"])),
    ({"referee_identities": {"wechat_unionid": "u"}, "referrer_identities": {"wechat_unionid": "u"}},
     ("rejected", ["self_referral"])),
    ({"device_owner": "R"}, ("rejected", ["self_referral"])),
    ({"referee_id": "R"}, ("rejected", ["self_referral"])),
    ({"existing_member": True}, ("rejected", ["not_new"])),
    ({"device_owner": "someone-else"}, ("rejected", ["not_new"])),
    ({"in_window": False}, ("rejected", ["outside_window"])),
    ({"velocity": 10}, ("held", ["velocity"])),
    ({"velocity": 9}, ("pending", [])),
    ({"velocity": 10, "existing_member": True}, ("rejected", ["not_new", "velocity"])),
])
def test_each_rule_names_its_reason(given, expected):
    assert rules.decide({"velocity_per_hour": 10}, facts(**given)) == expected


def test_rules_switched_off_do_not_fire():
    off = {"self_referral": False, "not_new": False, "outside_window": False, "velocity_per_hour": None}
    assert rules.decide(off, facts(device_owner="R", existing_member=True, in_window=False, velocity=99)) == (
        "pending", [])


def test_window_conversion_and_clawback():
    program = rules.Program("P", "active", {"starts_at": "2026-12-01T00:00:00Z", "ends_at": "2026-12-04T00:00:00Z",
                                            "conversion": {"type": "first_order", "min_amount": 100_00},
                                            "clawback_days": 14})
    assert rules.in_window(program, NOW) and not rules.in_window(program, NOW + timedelta(days=1))
    assert not rules.in_window(rules.Program("P", "paused", {}), NOW)
    assert rules.qualifies(program, 100_00) and not rules.qualifies(program, 99_99)
    assert not rules.qualifies(rules.Program("P", "active", {"conversion": {"type": "signup"}}), 1_000_00)
    assert rules.within_clawback(program, NOW, NOW + timedelta(days=14))
    assert not rules.within_clawback(program, NOW, NOW + timedelta(days=14, seconds=1))


def test_buckets_and_device_hash():
    assert rules.hour_bucket(NOW) == "2026-12-03T10"
    assert rules.local_day(datetime(2026, 12, 3, 17, tzinfo=timezone.utc), "Asia/Shanghai") == "2026-12-04"
    assert rules.device_hash(" dev-1 ") == rules.device_hash("dev-1") != rules.device_hash("dev-2")
    assert len(rules.device_hash("dev-1")) == 32


def test_program_input_is_checked():
    with pytest.raises(ValueError):
        Reward(type="points")
    with pytest.raises(ValueError):
        Reward(type="none", coupon_template_id="t")
    with pytest.raises(ValueError):
        WhoMayRefer(type="segment")
    with pytest.raises(ValueError):
        ProgramIn(name="x", starts_at=NOW, ends_at=NOW)
    with pytest.raises(ValueError):
        ProgramIn(name="x", share_url_template="https://brand.example/r/")
    assert ProgramIn(name="x", share_url_template="https://brand.example/r/{code}?src=share").fraud.self_referral
