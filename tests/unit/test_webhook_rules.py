"""The pure rules of event subscriptions: signatures (as receivers verify them), which types
a pattern selects, the retry schedule, and how signals become event objects."""
from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.core.signals import Delivery
from chalicelib.integrations.webhooks import backoff, events, matching, signing


def test_each_live_secret_signs_and_any_one_verifies() -> None:
    header = signing.sign(b'{"id":"evt_1"}', ["whsec_new", "whsec_old"], 1_700_000_000)
    assert header.startswith("t=1700000000,v1=") and header.count("v1=") == 2
    for secret in ("whsec_new", "whsec_old"):
        assert signing.verify(b'{"id":"evt_1"}', header, secret, now=1_700_000_100) == 1_700_000_000
    with pytest.raises(signing.SignatureError, match="no signature"):
        signing.verify(b'{"id":"evt_1"}', header, "whsec_other")
    with pytest.raises(signing.SignatureError, match="no signature"):
        signing.verify(b'{"id":"evt_2"}', header, "whsec_new")  # another body
    with pytest.raises(signing.SignatureError, match="tolerance"):
        signing.verify(b'{"id":"evt_1"}', header, "whsec_new", tolerance=300, now=1_700_000_301)
    with pytest.raises(signing.SignatureError, match="malformed"):
        signing.verify(b"{}", "v1=abc", "whsec_new")
    assert signing.new_secret().startswith("whsec_") and signing.new_secret() != signing.new_secret()


def test_patterns_select_known_types_and_unknown_ones_are_problems() -> None:
    assert matching.pattern_problem("order.paid") is None and matching.pattern_problem("member.*") is None
    assert matching.pattern_problem("*") is None
    assert "not an event type" in (matching.pattern_problem("order.shipped") or "")
    assert "no event type starts" in (matching.pattern_problem("referral.*") or "")
    assert matching.pattern_problem("points.*") is None and matching.pattern_problem("coupon.redeemed") is None
    assert "not an event type" in (matching.pattern_problem("member") or "")
    assert matching.matches(["member.*"], "member.tag_added") and not matching.matches(["member.*"], "order.paid")
    assert matching.matches(["*"], "webhook_endpoint.disabled")
    assert not matching.matches(["order.paid"], "order.refunded")
    assert matching.selected(["order.*"]) == ["order.paid", "order.refunded"]


def test_retries_back_off_over_more_than_three_days_then_stop() -> None:
    delays = [backoff.next_delay(n) for n in range(1, backoff.MAX_ATTEMPTS + 1)]
    assert delays[:6] == [timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
                          timedelta(hours=5), timedelta(hours=10)]
    assert set(delays[6:-1]) == {backoff.CAP} and delays[-1] is None
    assert timedelta(days=3) < backoff.total_span() < timedelta(days=4)


def _signal(name: str, data: dict, member: str | None = "M1") -> Delivery:
    return Delivery(id="01J0000000000000000000000Z.2", signal=name, tenant_id="T", member_id=member, data=data)


def test_signals_become_event_objects() -> None:
    order = _signal("activity.event_recorded", {"event": {"type": "order.paid", "event_id": "e-1", "amount": 5}})
    assert events.events_of(order) == [("order.paid", {"member_id": "M1", "source_event_id": "e-1", "amount": 5})]
    follow = _signal("activity.event_recorded", {"event": {"type": "interaction", "name": "follow"}})
    assert events.events_of(follow)[0][0] == "interaction.recorded"
    unknown = _signal("activity.event_recorded", {"event": {"type": "referral.converted"}})
    assert events.events_of(unknown) == []
    earned = _signal("activity.event_recorded", {"event": {"type": "points.earned", "event_id": "p-1", "points": 5}})
    assert [t for t, _ in events.events_of(earned)] == ["points.earned"]
    moves = _signal("tiers.standing_changed", {"changes": [
        {"dimension": "tier", "old": None, "new": "gold", "reason": "spend"},
        {"dimension": "stage", "old": "new", "new": "loyal", "reason": "orders"}]})
    assert [k for k, _ in events.events_of(moves)] == ["member.tier_changed", "member.stage_changed"]
    tag = _signal("tags.tag_changed", {"tag_id": "t1", "added": False})
    assert events.events_of(tag) == [("member.tag_removed", {"member_id": "M1", "tag_id": "t1"})]
    erased = _signal("members.erased", {"member_id": "M1"}, member=None)
    assert events.events_of(erased) == [("member.erased", {"member_id": "M1"})]


def test_ids_are_stable_across_redeliveries_and_distinct_per_endpoint_and_cause() -> None:
    evt = events.event_id("01J0000000000000000000000Z", 2, 1)
    assert evt == "evt_01J0000000000000000000000Z0021" == events.event_id("01J0000000000000000000000Z", 2, 1)
    ids = {events.delivery_id(evt, ep, cause) for ep in ("we_a", "we_b") for cause in ("event", "replay:J")}
    assert len(ids) == 4 and all(i.startswith("whd_") and len(i) == 28 for i in ids)
