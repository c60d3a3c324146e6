"""Paid memberships through the HTTP API, against DynamoDB Local and stripe-mock: the
Stripe connection, plans, checkout, the signed webhook (signatures, dedupe, reordering),
cancel/resume, the end at period end on a controllable clock, benefits and plan tiers,
reconciliation of dropped webhooks, renewal reminders, analytics."""
from __future__ import annotations

import random
import secrets
from datetime import timedelta

import pytest

from tests.fixtures import run_jobs, table_items
from tests.integration.test_billing_support import YEAR, World, epoch, expect, gateway, signed

PROGRAM = {"tiers": [{"id": "silver", "name": "Silver", "threshold": 100_00},
                     {"id": "black", "name": "Black", "threshold": 5_000_00,
                      "benefits": [{"type": "discount_percent", "percent": 15}]}]}
PLAN_BENEFITS = [{"type": "free_shipping"}, {"type": "monthly_coupon", "amount": 5000}]


@pytest.fixture
def world(http, tenant, clock):
    return World(http, tenant)


def timeline_types(http, tenant, member_id):
    return [e["type"] for e in http.get(f"/v1/members/{member_id}/timeline?limit=200", tenant.key).json["data"]]


def billing_items(tenant_id):
    return [i for i in table_items(f"T#{tenant_id}") if i["item_type"]["S"] in
            ("membership", "stripe_event", "plan", "stripe_customer")]


# --- connection ---------------------------------------------------------------------------
def test_connect_returns_an_onboarding_link_and_account_updated_keeps_the_status_current(http, tenant, clock):
    assert http.get("/v1/billing/stripe", tenant.key).json == {
        "connected": False, "account_id": None, "charges_enabled": False, "details_submitted": False,
        "payouts_enabled": False, "connected_at": None, "updated_at": None}
    w = World(http, tenant)
    again = http.post("/v1/billing/stripe/connect", tenant.key,
                      {"return_url": "https://brand.example/done", "refresh_url": "https://brand.example/again"})
    assert again.status == 200 and again.json["stripe"]["account_id"] == w.account  # one account per tenant
    assert again.json["onboarding_url"].startswith("https://")
    assert len(table_items(f"STRIPEACCT#{w.account}")) == 1
    from devstack import stripe_events as se

    now = epoch(clock.now)
    newer = se.event("account.updated", se.account(w.account, charges_enabled=True, details_submitted=True,
                                                   payouts_enabled=True), account_id=w.account, created=now + 10)
    older = se.event("account.updated", se.account(w.account, charges_enabled=False, details_submitted=True,
                                                   payouts_enabled=False), account_id=w.account, created=now + 5)
    assert w.deliver(newer).json["outcome"] == "applied"
    assert w.deliver(older).json["outcome"] == "stale"  # arrived late: does not undo the newer state
    status = http.get("/v1/billing/stripe", tenant.key).json
    assert (status["connected"], status["charges_enabled"], status["details_submitted"]) == (True, True, True)
    assert http.post("/v1/billing/stripe/connect", tenant.user_token("marketer"),
                     {"return_url": "https://b.example/x", "refresh_url": "https://b.example/y"}).status == 403


# --- plans --------------------------------------------------------------------------------
def test_plans_are_products_and_prices_and_a_price_change_makes_a_new_price(http, tenant, world):
    http.call("PUT", "/v1/tier-program", tenant.key, json_body=PROGRAM)
    run_jobs()
    plan = world.plan(benefits=PLAN_BENEFITS, tier_id="black", trial_days=14, description="A year of black")
    assert plan["stripe"]["product_id"].startswith("prod_") and plan["stripe"]["price_id"].startswith("price_")
    assert (plan["amount"], plan["currency"], plan["interval"], plan["tier_id"], plan["active"], plan["version"]) == (
        99900, "CNY", "year", "black", True, 1)
    assert http.get(f"/v1/plans/{plan['id']}", tenant.key).json == plan
    for amount in ("129900", 129900.0, True):
        bad = http.patch(f"/v1/plans/{plan['id']}", tenant.key, {"version": 1, "amount": amount})
        assert bad.status == 422 and bad.json["field"] == "amount", (amount, bad)
    calls = gateway().inner.calls.copy()
    r = http.patch(f"/v1/plans/{plan['id']}", tenant.key, {"version": 1, "amount": 129900, "name": "Black Card+"})
    assert r.status == 200, r
    assert r.json["stripe"]["price_id"] != plan["stripe"]["price_id"] and r.json["amount"] == 129900
    assert r.json["name"] == "Black Card+" and r.json == http.get(f"/v1/plans/{plan['id']}", tenant.key).json
    made = gateway().inner.calls - calls
    assert made == {"create_price": 1, "archive_price": 1, "update_product": 1}, made
    stale = http.patch(f"/v1/plans/{plan['id']}", tenant.key, {"version": 1, "name": "x"})
    assert stale.status == 409 and stale.json["code"] == "version_conflict"
    archived = http.patch(f"/v1/plans/{plan['id']}", tenant.key, {"version": r.json["version"], "active": False}).json
    assert archived["active"] is False
    listed = http.get("/v1/plans?active=false", tenant.key).json["data"]
    assert [p["id"] for p in listed] == [plan["id"]]
    assert http.get("/v1/plans?active=true", tenant.key).json["data"] == []


@pytest.mark.parametrize("body, field", [
    ({"amount": 0}, "amount"),
    ({"amount": "99900"}, "amount"),
    ({"amount": 99900.0}, "amount"),
    ({"amount": True}, "amount"),
    ({"interval": "week"}, "interval"),
    ({"currency": "yuan"}, "currency"),
    ({"benefits": [{"type": "discount_percent", "percent": 150}]}, "benefits.0.percent"),
    ({"tier_id": "platinum"}, "tier_id"),
    ({"name": ""}, "name"),
    ({"surprise": 1}, "surprise"),
])
def test_bad_plan_input_is_a_422_naming_the_field_and_writes_nothing(http, tenant, world, body, field):
    calls = gateway().inner.calls.copy()
    full = {"name": "Black Card", "amount": 99900, "currency": "CNY", "interval": "year", **body}
    r = http.post("/v1/plans", tenant.key, full)
    assert r.status == 422 and r.headers["content-type"] == "application/problem+json", r
    assert r.json["field"] == field
    assert table_items(f"T#{tenant.id}#PLANS") == []
    assert gateway().inner.calls == calls  # nothing sent to Stripe either


def test_plans_need_a_connected_stripe_account(http, tenant):
    r = http.post("/v1/plans", tenant.key, {"name": "Club", "amount": 1000, "currency": "CNY", "interval": "month"})
    assert r.status == 409 and r.json["code"] == "stripe_not_connected"


# --- checkout and portal ---------------------------------------------------------------------
def test_checkout_link_reuses_the_members_stripe_customer(http, tenant, world):
    plan = world.plan()
    member = world.member()
    body = {"plan_id": plan["id"], "success_url": "https://brand.example/ok?s={CHECKOUT_SESSION_ID}",
            "cancel_url": "https://brand.example/no"}
    calls = gateway().inner.calls.copy()
    first = http.post(f"/v1/members/{member}/checkout-sessions", tenant.key, body)
    second = http.post(f"/v1/members/{member}/checkout-sessions", tenant.key, body)
    assert first.status == second.status == 201, first
    assert first.json["url"].startswith("https://checkout.stripe.com/")
    assert first.json["customer_id"] == second.json["customer_id"]
    assert gateway().inner.calls - calls == {"create_customer": 1, "create_checkout_session": 2}
    portal = http.post(f"/v1/members/{member}/portal-sessions", tenant.key, {"return_url": "https://brand.example/me"})
    assert portal.status == 201 and portal.json["url"].startswith("https://")
    bad = http.post(f"/v1/members/{member}/checkout-sessions", tenant.key, {**body, "success_url": "javascript:x"})
    assert bad.status == 422 and bad.json["field"] == "success_url"
    unknown = http.post(f"/v1/members/{member}/checkout-sessions", tenant.key,
                        {**body, "plan_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"})
    assert unknown.status == 422 and unknown.json["field"] == "plan_id"
    other = world.member()
    assert http.post(f"/v1/members/{other}/portal-sessions", tenant.key,
                     {"return_url": "https://brand.example/me"}).json["code"] == "no_customer"


# --- the full story -------------------------------------------------------------------------
def test_purchase_renewal_failure_cancel_at_period_end_under_duplicates_and_reordering(http, tenant, world, clock):
    http.call("PUT", "/v1/tier-program", tenant.key, json_body=PROGRAM)
    run_jobs()
    plan = world.plan(benefits=PLAN_BENEFITS, tier_id="black")
    member = world.member()
    link = http.post(f"/v1/members/{member}/checkout-sessions", tenant.key, {
        "plan_id": plan["id"], "success_url": "https://brand.example/ok", "cancel_url": "https://brand.example/no"})
    assert link.status == 201
    t0 = clock.now
    h = world.lifecycle(member, plan, t0)
    world.remember(h, upto=4)
    reads = gateway().inner.calls["retrieve_subscription"]
    # GIVEN the purchase's events arrive reordered and duplicated
    for n in (4, 2, 3, 1, 4, 2):
        r = world.deliver(h.events[n - 1])
        assert r.status == 200, r
    # THEN each delivery re-read the subscription from Stripe, and the member is an active paid member
    assert gateway().inner.calls["retrieve_subscription"] - reads == 4  # duplicates stop at the claim
    [m] = world.memberships(member)
    expect(m, h.state_after(4))
    assert m["entitled"] is True and m["plan_id"] == plan["id"]
    benefits = http.get(f"/v1/members/{member}/benefits", tenant.key).json
    assert benefits["tier_id"] == "black" and benefits["tier_source"] == "plan"
    granted = http.get(f"/v1/members/{member}/tier", tenant.key).json
    assert granted["source"] == "plan" and granted["since"] is not None  # when the plan started granting it
    assert {(b["source"]["kind"], b["benefit"]["type"]) for b in benefits["benefits"]} == {
        ("tier", "discount_percent"), ("plan", "free_shipping"), ("plan", "monthly_coupon")}
    assert timeline_types(http, tenant, member).count("membership.activated") == 1

    # WHEN the renewal a year later fails (events reordered)
    clock.now = t0 + YEAR + timedelta(minutes=5)
    world.remember(h, upto=6)
    for n in (6, 5, 6):
        world.deliver(h.events[n - 1])
    [m] = world.memberships(member)
    expect(m, h.state_after(6))
    assert m["status"] == "past_due" and m["entitled"] is True  # Stripe is still retrying the card
    assert "membership.past_due" in timeline_types(http, tenant, member)

    # WHEN the card is retried successfully, then the member cancels at period end through the API
    clock.now = t0 + YEAR + timedelta(days=3, minutes=1)
    world.remember(h, upto=8)
    for n in (8, 7):
        world.deliver(h.events[n - 1])
    assert world.memberships(member)[0]["status"] == "active"
    clock.now = t0 + YEAR + timedelta(days=10)
    world.remember(h, upto=9)  # what Stripe answers the cancel request with
    r = http.post(f"/v1/members/{member}/memberships/{h.sub_id}/cancel", tenant.key, {"at_period_end": True})
    assert r.status == 200, r
    assert r.json["cancel_at_period_end"] is True and r.json["entitled"] is True
    assert r.json["ends_at"] == m["current_period_end"]
    world.deliver(h.events[8])  # Stripe's own event for that change: nothing new
    assert timeline_types(http, tenant, member).count("membership.canceled") == 1

    # THEN the day before the period ends it still holds, the moment it ends it is over
    clock.now = t0 + 2 * YEAR - timedelta(days=1)
    assert world.memberships(member)[0]["entitled"] is True
    clock.now = t0 + 2 * YEAR + timedelta(seconds=1)
    [m] = world.memberships(member)
    assert (m["status"], m["entitled"]) == ("canceled", False)
    benefits = http.get(f"/v1/members/{member}/benefits", tenant.key).json
    assert benefits["plan_ids"] == [] and all(b["source"]["kind"] == "tier" for b in benefits["benefits"])
    # and Stripe's deletion event (late, then again) ends the plan tier: the earned tier returns
    world.remember(h)
    world.deliver(h.events[-1])
    world.deliver(h.events[-1])
    expect(world.memberships(member)[0], h.state_after(len(h.steps)))
    tier = http.get(f"/v1/members/{member}/tier", tenant.key).json
    assert tier["tier"] is None and tier["source"] == "none"
    types = timeline_types(http, tenant, member)
    assert types.count("membership.activated") == 1 and types.count("membership.canceled") == 2  # scheduled, ended
    assert types.count("membership.renewed") == 1


def test_resume_undoes_a_scheduled_cancellation(http, tenant, world, clock):
    plan = world.plan()
    member = world.member()
    h = world.lifecycle(member, plan, clock.now)
    world.remember(h, upto=8)
    for evt in h.events[:8]:
        world.deliver(evt)
    clock.now = clock.now + YEAR + timedelta(days=10)
    world.remember(h, upto=9)
    assert http.post(f"/v1/members/{member}/memberships/{h.sub_id}/cancel", tenant.key).json["cancel_at_period_end"]
    clock.now = clock.now + timedelta(days=10)
    world.remember(h, upto=10)
    r = http.post(f"/v1/members/{member}/memberships/{h.sub_id}/resume", tenant.key)
    assert r.status == 200 and r.json["cancel_at_period_end"] is False and r.json["ends_at"] is None
    assert "membership.resumed" in timeline_types(http, tenant, member)
    again = http.post(f"/v1/members/{member}/memberships/{h.sub_id}/resume", tenant.key)
    assert again.status == 409 and again.json["code"] == "not_canceling"


def _purchased(world, member, plan, t0):
    h = world.lifecycle(member, plan, t0)
    world.remember(h, upto=4)
    for evt in h.events[:4]:
        assert world.deliver(evt).json["outcome"] in ("applied", "unchanged")
    return h


def test_cancel_and_resume_through_the_api_take_effect_and_stripes_events_of_the_same_second_agree(
        http, tenant, world, clock):
    """The dev stack: nothing scripted as "what Stripe answers"; Stripe applies our write
    and its event for it arrives in the same second."""
    plan = world.plan()
    member = world.member()
    t0 = clock.now
    h = _purchased(world, member, plan, t0)
    clock.now = t0 + timedelta(seconds=10)
    r = http.post(f"/v1/members/{member}/memberships/{h.sub_id}/cancel", tenant.key, {"at_period_end": True})
    assert r.status == 200 and r.json["cancel_at_period_end"] is True and r.json["ends_at"] is not None, r
    period = (t0, t0 + YEAR)
    canceling = world.sub(member, plan, status="active", start=period[0], end=period[1], created=t0, sub_id=h.sub_id,
                          cancel_at_period_end=True, canceled_at=epoch(clock.now))
    r = world.deliver(world.event("customer.subscription.updated", canceling, clock.now))
    assert r.json["outcome"] == "unchanged", r  # the same state, not discarded as stale
    assert world.memberships(member)[0]["cancel_at_period_end"] is True
    r = http.post(f"/v1/members/{member}/memberships/{h.sub_id}/resume", tenant.key)
    assert r.status == 200 and r.json["cancel_at_period_end"] is False and r.json["ends_at"] is None, r
    resumed = world.sub(member, plan, status="active", start=period[0], end=period[1], created=t0, sub_id=h.sub_id)
    r = world.deliver(world.event("customer.subscription.updated", resumed, clock.now))
    assert r.json["outcome"] == "unchanged", r
    assert world.memberships(member)[0]["cancel_at_period_end"] is False
    types = timeline_types(http, tenant, member)
    assert (types.count("membership.canceled"), types.count("membership.resumed")) == (1, 1), types


def test_the_answer_to_our_cancel_never_hides_stripes_next_event_when_our_clock_runs_ahead(
        http, tenant, world, clock):
    plan = world.plan()
    member = world.member()
    t0 = clock.now
    h = _purchased(world, member, plan, t0)
    stripe_now = t0 + timedelta(days=1)
    canceling = world.sub(member, plan, status="active", start=t0, end=t0 + YEAR, created=t0, sub_id=h.sub_id,
                          cancel_at_period_end=True, canceled_at=epoch(stripe_now))
    gateway().record(canceling, epoch(stripe_now))  # Stripe applied our cancel at its own time
    clock.now = stripe_now + timedelta(seconds=30)  # our clock is 30 s ahead of Stripe's
    assert http.post(f"/v1/members/{member}/memberships/{h.sub_id}/cancel", tenant.key).json["cancel_at_period_end"]
    # WHEN the member resumes in Stripe's portal a second later (Stripe's time)
    resumed = world.sub(member, plan, status="active", start=t0, end=t0 + YEAR, created=t0, sub_id=h.sub_id)
    r = world.deliver(world.event("customer.subscription.updated", resumed, stripe_now + timedelta(seconds=1)))
    # THEN it applies: our answer was placed by Stripe's fields, not by our clock
    assert r.json["outcome"] == "applied", r
    assert world.memberships(member)[0]["cancel_at_period_end"] is False


def test_a_membership_first_seen_canceled_counts_as_new_and_as_churned_once(http, tenant, world, clock):
    plan = world.plan()
    member = world.member()
    t0 = clock.now
    h = world.lifecycle(member, plan, t0)
    world.remember(h)
    # GIVEN the first delivered event is the end (the earlier ones late)
    assert world.deliver(h.events[-1]).json["outcome"] == "applied"
    for evt in h.events[:-1]:
        world.deliver(evt)
    report = http.get("/v1/analytics/memberships", tenant.key).json
    assert report["new_this_month"] == 1, report  # activated back then, whatever the order
    clock.now = t0 + 2 * YEAR
    report = http.get("/v1/analytics/memberships", tenant.key).json
    assert (report["churned_this_month"], report["new_this_month"]) == (1, 0), report


def test_cancel_now_ends_the_membership_and_its_plan_tier_at_once(http, tenant, world, clock):
    http.call("PUT", "/v1/tier-program", tenant.key, json_body=PROGRAM)
    run_jobs()
    plan = world.plan(tier_id="black")
    member = world.member()
    h = world.lifecycle(member, plan, clock.now)
    world.remember(h, upto=4)
    world.deliver(h.events[1])
    assert http.get(f"/v1/members/{member}/tier", tenant.key).json["tier"]["id"] == "black"
    clock.now = clock.now + timedelta(days=30)
    ended = dict(h.state_after(4), status="canceled", canceled_at=epoch(clock.now), ended_at=epoch(clock.now))
    gateway().record(ended, epoch(clock.now))  # what Stripe answers DELETE /v1/subscriptions/... with
    calls = gateway().inner.calls.copy()
    r = http.post(f"/v1/members/{member}/memberships/{h.sub_id}/cancel", tenant.key, {"at_period_end": False})
    assert r.status == 200 and (r.json["status"], r.json["entitled"]) == ("canceled", False), r
    assert gateway().inner.calls - calls == {"cancel_subscription": 1}
    assert http.get(f"/v1/members/{member}/tier", tenant.key).json["tier"] is None
    again = http.post(f"/v1/members/{member}/memberships/{h.sub_id}/cancel", tenant.key, {"at_period_end": False})
    assert again.status == 409 and again.json["code"] == "membership_ended"
    report = http.get("/v1/analytics/memberships", tenant.key).json
    assert (report["active_paid_members"], report["churned_this_month"]) == (0, 1)


# --- the webhook's credential and dedupe ---------------------------------------------------------
def test_bad_signature_tampered_body_and_stale_timestamp_are_400_and_write_nothing(http, tenant, world, clock):
    plan = world.plan()
    member = world.member()
    h = world.lifecycle(member, plan, clock.now)
    world.remember(h)
    evt = h.events[1]
    before = table_items(f"T#{tenant.id}")
    body, header = signed(evt)
    cases = [
        (body, signed(evt, secret="whsec_someone_else")[1]),
        (body.replace(b'"active"', b'"paused"'), header),
        signed(evt, timestamp=int(clock.now.timestamp()) - 3600),  # wall clock: the app's moved one is not used
        (body, None),
        (body, "t=1,v1=abc"),
    ]
    import time

    cases[2] = signed(evt, timestamp=int(time.time()) - 600)
    for raw, sig in cases:
        r = http.call("POST", "/webhooks/stripe", headers={"Stripe-Signature": sig} if sig else {}, raw=raw)
        assert r.status == 400 and r.json["code"] == "invalid_signature", r
    assert table_items(f"T#{tenant.id}") == before
    ok = world.deliver(evt)
    assert ok.status == 200 and ok.json["outcome"] == "applied"


def test_the_same_event_three_times_has_one_effect(http, tenant, world, clock):
    plan = world.plan()
    member = world.member()
    h = world.lifecycle(member, plan, clock.now)
    world.remember(h)
    outcomes = [world.deliver(h.events[1]).json["outcome"] for _ in range(3)]
    assert outcomes == ["applied", "duplicate", "duplicate"]
    assert len([i for i in billing_items(tenant.id) if i["item_type"]["S"] == "stripe_event"]) == 1
    assert timeline_types(http, tenant, member).count("membership.activated") == 1
    counts = http.get("/v1/analytics/memberships", tenant.key).json
    assert counts["per_plan"][0]["active"] == 1 and counts["new_this_month"] == 1


def test_unknown_types_platform_events_and_objects_enclave_did_not_create_are_ignored(http, tenant, world, clock):
    from devstack import stripe_events as se

    plan = world.plan()
    member = world.member()
    now = epoch(clock.now)
    foreign = world.sub(member, plan, status="active", start=clock.now, end=clock.now + YEAR, created=clock.now,
                        sub_id=f"sub_{secrets.token_hex(8)}", metadata={"source": "shopify"})
    gateway().record(foreign, now)
    other_tenant_sub = world.sub(member, plan, status="active", start=clock.now, end=clock.now + YEAR,
                                 created=clock.now, sub_id=f"sub_{secrets.token_hex(8)}")
    other_tenant_sub["metadata"]["enclave_tenant_id"] = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
    gateway().record(other_tenant_sub, now)
    before = table_items(f"T#{tenant.id}")
    cases = {
        "event_type": se.event("charge.refunded", {"id": "ch_1", "object": "charge"}, account_id=world.account,
                               created=now),
        "not_a_connected_account": se.event("customer.subscription.updated", foreign, account_id=None, created=now),
        "unknown_account": se.event("customer.subscription.updated", foreign, account_id="acct_1NobodyKnows",
                                    created=now),
        "not_an_enclave_subscription": world.event("customer.subscription.updated", foreign, clock.now),
    }
    for reason, evt in cases.items():
        r = world.deliver(evt)
        assert r.status == 200 and r.json == {"received": True, "outcome": "ignored", "reason": reason}, r
    r = world.deliver(world.event("customer.subscription.updated", other_tenant_sub, clock.now))
    assert r.json["outcome"] == "ignored"
    assert table_items(f"T#{tenant.id}") == before


# --- convergence -----------------------------------------------------------------------------------
def test_100_random_orderings_with_duplicates_end_on_the_true_state(http, tenant, world, clock):
    """Each round: a subscription's history cut at a random step (so the true final state
    varies: incomplete, active, past_due, canceling, resumed, canceled), delivered in a
    random order with random duplicates; re-reads answer the state as of each event."""
    plan = world.plan()
    rng = random.Random(20261123)
    finals = set()
    activated = churned = 0
    t0 = clock.now
    for round_ in range(100):
        member = world.member(f"1390000{round_:04d}")
        h = world.lifecycle(member, plan, clock.now)
        cut = rng.randint(1, len(h.steps))
        world.remember(h, upto=cut)
        deliveries = h.events[:cut] + rng.sample(h.events[:cut], k=min(cut, rng.randint(1, 3)))
        rng.shuffle(deliveries)
        for evt in deliveries:
            assert world.deliver(evt).status == 200
        truth = h.state_after(cut)
        [m] = world.memberships(member)
        expect(m, truth)
        finals.add((truth["status"], truth["cancel_at_period_end"]))
        # the truth: a member since the first paid state, churned if it ended
        activated += any(h.state_after(n)["status"] in ("trialing", "active", "past_due") for n in range(1, cut + 1))
        churned += truth["status"] == "canceled"
    assert len(finals) >= 5, finals
    # new and churned members converge too, whatever the delivery order (all began now, ended in 2 years)
    report = http.get("/v1/analytics/memberships", tenant.key).json
    assert (report["new_this_month"], report["churned_this_month"]) == (activated, 0), (report, activated)
    clock.now = t0 + 2 * YEAR
    ended = http.get("/v1/analytics/memberships", tenant.key).json
    assert (ended["new_this_month"], ended["churned_this_month"]) == (0, churned), (ended, churned)
    assert churned > 0 and activated > churned
    clock.now = t0
    # the counters equal a recount of the memberships
    report = http.get("/v1/analytics/memberships", tenant.key).json
    items = [i for i in billing_items(tenant.id) if i["item_type"]["S"] == "membership"]
    by_status = {s: sum(1 for i in items if i["status"]["S"] == s) for s in ("active", "trialing", "past_due")}
    [row] = report["per_plan"]
    assert (row["active"], row["trialing"], row["past_due"]) == (
        by_status["active"], by_status["trialing"], by_status["past_due"])
    paying = by_status["active"] + by_status["past_due"]
    assert report["mrr"] == ([{"currency": "CNY", "amount": round(99900 * paying / 12)}] if paying else [])


# --- reconciliation and reminders --------------------------------------------------------------------
def test_dropped_webhooks_are_repaired_by_reconciliation(http, tenant, world, clock):
    http.call("PUT", "/v1/tier-program", tenant.key, json_body=PROGRAM)
    run_jobs()
    plan = world.plan(tier_id="black")
    member = world.member()
    h = world.lifecycle(member, plan, clock.now)
    world.remember(h, upto=4)
    # GIVEN every webhook of the purchase was lost: Stripe only lists the events
    for evt in h.events[:4]:
        gateway().record_event(world.account, evt)
    assert world.memberships(member) == []
    clock.now = clock.now + timedelta(minutes=30)
    http.schedule("stripe_reconciliation", {"tenant_ids": [tenant.id]})
    run_jobs()
    expect(world.memberships(member)[0], h.state_after(4))
    assert http.get(f"/v1/members/{member}/tier", tenant.key).json["tier"]["id"] == "black"
    # GIVEN the member cancelled at period end and every later webhook was lost too
    world.remember(h, upto=len(h.steps) - 1)
    for evt in h.events[4:-1]:
        gateway().record_event(world.account, evt)
    clock.now = clock.now + YEAR + timedelta(days=40)
    http.schedule("stripe_reconciliation", {"tenant_ids": [tenant.id]})
    run_jobs()
    m = world.memberships(member)[0]
    expect(m, h.state_after(len(h.steps) - 1))
    # WHEN the period ends (Stripe's deletion event lost as well): the next run ends the plan tier
    world.remember(h)
    clock.now = clock.now + YEAR
    http.schedule("stripe_reconciliation", {"tenant_ids": [tenant.id]})
    run_jobs()
    expect(world.memberships(member)[0], h.state_after(len(h.steps)))
    assert http.get(f"/v1/members/{member}/tier", tenant.key).json["tier"] is None
    assert "membership.canceled" in timeline_types(http, tenant, member)


def test_renewal_reminder_goes_out_once_seven_days_before(http, tenant, world, clock):
    plan = world.plan()
    member = world.member()
    h = world.lifecycle(member, plan, clock.now)
    world.remember(h, upto=4)
    for evt in h.events[:4]:
        world.deliver(evt)
    clock.now = clock.now + YEAR - timedelta(days=9)
    http.schedule("renewal_reminders", {"tenant_ids": [tenant.id]})
    run_jobs()
    assert "membership.renewal_upcoming" not in timeline_types(http, tenant, member)
    for step in (timedelta(days=2), timedelta(days=1)):  # 7 then 6 days before: both in the window
        clock.now = clock.now + step
        http.schedule("renewal_reminders", {"tenant_ids": [tenant.id]})
        run_jobs()
    entries = http.get(f"/v1/members/{member}/timeline", tenant.key).json["data"]
    reminders = [e for e in entries if e["type"] == "membership.renewal_upcoming"]
    assert len(reminders) == 1 and reminders[0]["data"]["will_renew"] is True


# --- the dev command's events ---------------------------------------------------------------------
def test_the_dev_commands_events_walk_a_member_through_the_flow(http, tenant, world, clock):
    """``python -m devstack.stripe_event`` builds these (here delivered through the test client)."""
    import argparse
    import time

    from devstack.stripe_event import events_for

    plan = world.plan()
    member = world.member()
    args = argparse.Namespace(cancel_at_period_end=False, resume=False, status=None)
    now = int(time.time())

    def send(kind, at, **flags):
        current = (world.memberships(member) or [None])[0]
        for evt in events_for(kind, member, tenant.id, world.account, plan, current,
                              argparse.Namespace(**{**vars(args), **flags}), at):
            assert world.deliver(evt).status == 200
        return world.memberships(member)[0]

    assert send("checkout.session.completed", now)["status"] == "active"
    assert send("invoice.payment_failed", now + 10)["status"] == "past_due"
    assert send("invoice.paid", now + 20)["status"] == "active"
    assert send("customer.subscription.updated", now + 30, cancel_at_period_end=True)["cancel_at_period_end"]
    assert send("customer.subscription.updated", now + 40, resume=True)["cancel_at_period_end"] is False
    assert send("customer.subscription.deleted", now + 50)["status"] == "canceled"
    types = timeline_types(http, tenant, member)
    assert {"membership.activated", "membership.past_due", "membership.canceled", "membership.resumed"} <= set(types)


def test_erasing_a_member_takes_their_memberships_out_of_the_counts(http, tenant, world, clock):
    plan = world.plan()
    member = world.member()
    h = world.lifecycle(member, plan, clock.now)
    world.remember(h, upto=4)
    world.deliver(h.events[1])
    assert http.get("/v1/analytics/memberships", tenant.key).json["active_paid_members"] == 1
    assert http.delete(f"/v1/members/{member}", tenant.key).status == 204
    report = http.get("/v1/analytics/memberships", tenant.key).json
    assert report["active_paid_members"] == 0 and report["mrr"] == []
    late = world.deliver(h.events[3])
    assert late.json == {"received": True, "outcome": "ignored", "reason": "unknown_member"}
    assert [i for i in table_items(f"T#{tenant.id}#M#{member}") if i["item_type"]["S"] == "membership"] == []
