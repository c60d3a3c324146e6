"""The audit log's masking and diff rules (core.audit.masking), without servers."""
from __future__ import annotations

from chalicelib.core.audit.masking import MASK, MAX_CHANGES, REDACTED, diff, erased, flatten, mask_value


def test_flatten_gives_dotted_leaves_and_empty_containers_have_none():
    assert flatten({"a": {"b": 1}, "c": ["x", {"d": None}], "e": {}, "f": []}) == {"a.b": 1, "c.0": "x", "c.1.d": None}


def test_only_changed_leaves_are_listed_in_field_order():
    before = {"name": "Old", "tiers": [{"id": "gold", "threshold": 500}], "same": 1}
    after = {"name": "New", "tiers": [{"id": "gold", "threshold": 800}], "same": 1}
    changes, truncated = diff("tier_program", before, after)
    assert changes == [{"field": "name", "before": "Old", "after": "New"},
                       {"field": "tiers.0.threshold", "before": 500, "after": 800}]
    assert not truncated


def test_a_members_values_are_masked_unless_allow_listed():
    before = {"phone": "+8613800138000", "email": "a@b.c", "name": "Lin", "birthday": {"month": 5},
              "attributes": {"city": "Shanghai"}, "channel_ids": {"wechat": "o-1"}, "address": "Road 1",
              "consents": {"sms": {"granted": False, "at": "2026-01-01T00:00:00.000Z"}}, "tags": {}}
    after = {"phone": None, "email": "d@e.f", "name": "Lin W", "birthday": {"month": 6},
             "attributes": {"city": "Beijing"}, "channel_ids": {"wechat": "o-2"}, "address": "Road 2",
             "consents": {"sms": {"granted": True, "at": "2026-02-01T00:00:00.000Z"}}, "tags": {"vip": True}}
    out = {c["field"]: (c["before"], c["after"]) for c in diff("member", before, after)[0]}
    assert out["phone"] == (MASK, None)  # cleared: visible that it was, not what it was
    for field in ("email", "name", "birthday.month", "attributes.city", "channel_ids.wechat", "address",
                  "consents.sms.at"):
        assert out[field] == (MASK, MASK), field
    assert out["consents.sms.granted"] == (False, True)
    assert out["tags.vip"] == (None, True)


def test_credentials_are_redacted_on_every_target_and_other_targets_keep_values():
    changes, _ = diff("messaging_settings", {"webhook": {"signing_secret": "s1", "url": "https://a"}},
                      {"webhook": {"signing_secret": "s2", "url": "https://b"}, "api_token": "t"})
    out = {c["field"]: (c["before"], c["after"]) for c in changes}
    assert out["webhook.signing_secret"] == (REDACTED, REDACTED) and out["api_token"] == (None, REDACTED)
    assert out["webhook.url"] == ("https://a", "https://b")
    assert mask_value("tenant", "name", "Brand") == "Brand"
    assert mask_value("api_key", "secret_hash", "abc") == REDACTED


def test_creation_deletion_long_values_and_the_cap():
    created, _ = diff("journey", None, {"name": "Welcome"})
    assert created == [{"field": "name", "before": None, "after": "Welcome"}]
    deleted, _ = diff("journey", {"name": "Welcome"}, None)
    assert deleted == [{"field": "name", "before": "Welcome", "after": None}]
    long, _ = diff("segment", None, {"note": "x" * 1000})
    assert len(long[0]["after"]) == 257
    many, truncated = diff("segment", None, {f"f{n:03d}": n for n in range(MAX_CHANGES + 5)})
    assert len(many) == MAX_CHANGES and truncated


def test_erased_keeps_the_field_names_and_no_value():
    assert erased([{"field": "name", "before": MASK, "after": MASK}]) == [
        {"field": "name", "before": None, "after": None, "erased": True}]
