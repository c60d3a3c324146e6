"""The pure membership rules: reading a Stripe subscription, ordering observations,
domain events of a change, entitlement at a moment."""
from __future__ import annotations

import random

from chalicelib.billing import state
from chalicelib.billing.state import Snapshot
from chalicelib.billing.webhooks import subscription_id
from devstack import stripe_events as se

T0 = 1_800_000_000
YEAR = 365 * 86400


def sub(status="active", start=T0, end=T0 + YEAR, **kw):
    return se.subscription("sub_1", tenant_id="T", member_id="M", plan_id="P", status=status, period_start=start,
                           period_end=end, created=T0, **kw)


def snap(observed, **kw):
    return state.snapshot(sub(**kw), observed)


def test_a_modern_subscription_reads_its_period_from_its_item():
    s = state.snapshot(sub(amount=99900, currency="cny", interval="year"), T0)
    assert (s.current_period_end, s.amount, s.currency, s.interval) == (T0 + YEAR, 99900, "CNY", "year")
    assert s.monthly_amount_x12 == 99900  # yearly: x12 of a month is the year's amount
    assert state.snapshot(sub(amount=3000, interval="month"), T0).monthly_amount_x12 == 36000
    legacy = {"id": "sub_2", "status": "active", "current_period_end": 5, "items": {"data": []}}
    assert state.snapshot(legacy, T0).current_period_end == 5


def test_only_objects_enclave_marked_are_memberships():
    assert state.enclave_owner(sub()) == ("T", "M", "P")
    assert state.enclave_owner(sub(metadata={"enclave_tenant_id": "T"})) is None
    assert state.enclave_owner({"id": "sub_x", "metadata": {}}) is None


def test_later_observations_win_and_a_terminal_state_is_final():
    active, past_due = snap(100), snap(200, status="past_due")
    assert state.newer(past_due, active) and not state.newer(active, past_due)
    ended = snap(150, status="canceled", ended_at=T0)
    assert state.newer(ended, past_due)  # a cancellation is final even if observed "earlier"
    assert not state.newer(snap(999), ended)
    assert not state.newer(active, active)  # a replay changes nothing


def test_within_one_second_the_later_period_then_the_later_status_wins():
    assert state.newer(snap(100, status="active"), snap(100, status="incomplete"))
    assert state.newer(snap(100, start=T0 + YEAR, end=T0 + 2 * YEAR), snap(100, status="past_due"))


def test_any_order_of_observations_ends_on_the_newest():
    observations = [snap(100, status="incomplete"), snap(101), snap(200, status="past_due", start=T0 + YEAR,
                                                                      end=T0 + 2 * YEAR),
                    snap(300, start=T0 + YEAR, end=T0 + 2 * YEAR),
                    snap(400, start=T0 + YEAR, end=T0 + 2 * YEAR, cancel_at_period_end=True)]
    rng = random.Random(5)
    for _ in range(200):
        order = observations + rng.sample(observations, 2)
        rng.shuffle(order)
        stored = None
        for o in order:
            if state.newer(o, stored):
                stored = o
        assert stored == observations[-1]


def test_scheduled_end_is_an_end_once_it_passes():
    s = snap(100, cancel_at_period_end=True)
    assert s.ends_at == T0 + YEAR
    assert state.entitled(s, T0 + YEAR - 1) and state.effective_status(s, T0 + YEAR - 1) == "active"
    assert not state.entitled(s, T0 + YEAR) and state.effective_status(s, T0 + YEAR) == "canceled"
    assert state.entitled(snap(100, status="past_due"), T0)  # Stripe still retries: benefits stay
    assert not state.entitled(snap(100, status="unpaid"), T0)


def types(events):
    return [(e.type, e.event_id) for e in events]


def test_domain_events_of_each_change_have_cause_derived_ids():
    first = snap(100)
    assert types(state.domain_events(None, first, False, None, "P")) == [
        ("membership.activated", "membership.activated:sub_1")]
    renewed = snap(200, start=T0 + YEAR, end=T0 + 2 * YEAR)
    assert types(state.domain_events(first, renewed, True, T0 + YEAR, "P")) == [
        ("membership.renewed", f"membership.renewed:sub_1:{T0 + 2 * YEAR}")]
    failed = snap(200, status="past_due", start=T0 + YEAR, end=T0 + 2 * YEAR)
    assert [e.type for e in state.domain_events(first, failed, True, T0 + YEAR, "P")] == ["membership.past_due"]
    recovered = state.domain_events(failed, renewed, True, T0 + YEAR, "P")
    assert [e.type for e in recovered] == ["membership.renewed"]  # paid at last for the new period
    canceling = snap(300, start=T0 + YEAR, end=T0 + 2 * YEAR, cancel_at_period_end=True)
    [c] = state.domain_events(renewed, canceling, True, T0 + 2 * YEAR, "P")
    assert (c.type, c.data["ended"], c.data["ends_at"]) == ("membership.canceled", False, state.iso(T0 + 2 * YEAR))
    resumed = state.domain_events(canceling, snap(400, start=T0 + YEAR, end=T0 + 2 * YEAR), True, T0 + 2 * YEAR, "P")
    assert [e.type for e in resumed] == ["membership.resumed"]
    ended = snap(500, status="canceled", start=T0 + YEAR, end=T0 + 2 * YEAR, ended_at=T0 + 2 * YEAR)
    assert types(state.domain_events(canceling, ended, True, T0 + 2 * YEAR, "P")) == [
        ("membership.canceled", "membership.canceled:sub_1:ended")]
    never_paid = snap(100, status="incomplete_expired")
    assert state.domain_events(snap(90, status="incomplete"), never_paid, False, None, "P") == []


def test_which_subscription_an_event_is_about():
    s = sub()
    assert subscription_id("customer.subscription.updated", s) == "sub_1"
    assert subscription_id("invoice.paid", se.invoice(s, paid=True, created=T0)) == "sub_1"
    assert subscription_id("invoice.paid", {"subscription": "sub_9"}) == "sub_9"
    assert subscription_id("checkout.session.completed", se.checkout_session(s, created=T0)) == "sub_1"
    assert subscription_id("checkout.session.completed", {"mode": "payment", "subscription": None}) is None


def test_snapshots_round_trip_through_storage():
    for s in (snap(1), snap(2, status="canceled", ended_at=3), snap(4, cancel_at_period_end=True)):
        assert Snapshot.from_dict(s.to_dict()) == s
    assert set(state.STATUSES) == set(state.STATUS_RANK)


def test_our_own_writes_answer_is_placed_in_stripes_time_after_what_it_followed():
    """The answer to a cancel/resume is labelled from Stripe's fields, never our clock:
    Stripe's next event (its ``created`` a second later) must outrank it."""
    stored = snap(T0 + 100)
    canceling = sub(cancel_at_period_end=True, canceled_at=T0 + 90)  # Stripe's request time
    assert state.after_write(canceling, stored) == (T0 + 100, 1)  # not older than what it followed
    assert state.after_write(sub(cancel_at_period_end=True, canceled_at=T0 + 200), stored) == (T0 + 200, 0)
    resumed = state.snapshot(sub(), *state.after_write(sub(), stored))
    assert state.newer(resumed, stored)  # same second, our answer follows what it was made against
    assert state.newer(snap(T0 + 101, cancel_at_period_end=True), resumed)  # Stripe's next event wins
    replay = snap(T0 + 100)
    assert not state.newer(replay, resumed)  # an older event of that second does not undo it
    assert state.moment_of(sub(start=T0 + YEAR, end=T0 + 2 * YEAR)) == T0 + YEAR  # a period start proves a moment
    assert state.moment_of(sub(status="canceled", ended_at=T0 + 2 * YEAR)) == T0 + 2 * YEAR


def test_a_membership_first_seen_canceled_or_renewed_was_activated_at_its_creation():
    assert snap(T0 + 2 * YEAR, status="canceled", ended_at=T0 + 2 * YEAR).ever_activated
    assert snap(T0 + YEAR, status="past_due", start=T0 + YEAR, end=T0 + 2 * YEAR).activated_at == T0
    assert not snap(T0, status="incomplete").ever_activated
    assert not snap(T0, status="incomplete_expired").ever_activated


def test_events_of_two_changes_in_one_second_have_distinct_ids():
    canceling = snap(T0 + 100, cancel_at_period_end=True)
    resumed = state.snapshot(sub(), T0 + 100, revision=1)
    again = state.snapshot(sub(cancel_at_period_end=True, canceled_at=T0 + 100), T0 + 100, revision=2)
    [r] = state.domain_events(canceling, resumed, True, T0 + YEAR, "P")
    [c] = state.domain_events(resumed, again, True, T0 + YEAR, "P")
    first = state.domain_events(snap(T0 + 50), canceling, True, T0 + YEAR, "P")[0]
    assert len({r.event_id, c.event_id, first.event_id}) == 3 and r.type == "membership.resumed"
