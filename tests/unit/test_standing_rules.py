"""The rules of standing (pure): stages, tier moves per policy, refunds, RFM."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from chalicelib.tiers import rules
from chalicelib.tiers.rules import Program, Standing, StageRules, Tier

T0 = datetime(2026, 3, 15, 12, 0, tzinfo=timezone.utc)
TZ = "Asia/Shanghai"
TIERS = (Tier("silver", "Silver", 1000), Tier("gold", "Gold", 5000))


def program(**kw) -> Program:
    return Program(tiers=TIERS, **kw)


def test_stage_follows_orders_interactions_and_idle_time():
    r = StageRules()
    s = Standing()
    assert rules.stage_of(s, r, T0) == "prospect_aware"
    rules.record_interaction(s, T0)
    assert rules.stage_of(s, r, T0) == "prospect_interested"
    rules.record_order(s, 100, T0, TZ)
    assert rules.stage_of(s, r, T0) == "new_buyer"
    rules.record_order(s, 100, T0, TZ)
    assert rules.stage_of(s, r, T0) == "repeat"
    for _ in range(3):
        rules.record_order(s, 100, T0, TZ)
    assert rules.stage_of(s, r, T0) == "loyal"
    assert rules.stage_of(s, r, T0 + timedelta(days=90)) == "dormant"
    assert rules.stage_of(s, r, T0 + timedelta(days=365)) == "churned"


def test_months_are_bucketed_in_the_tenant_time_zone():
    late_utc = datetime(2026, 3, 31, 17, 0, tzinfo=timezone.utc)  # 1 April 01:00 in Shanghai
    assert rules.month_key(late_utc, TZ) == "2026-04"
    assert rules.month_key(late_utc, "UTC") == "2026-03"
    assert rules.months_back(T0, TZ, 3) == ["2026-03", "2026-02", "2026-01"]


def test_rolling_window_metric_ignores_old_months():
    s = Standing()
    rules.record_order(s, 4000, T0 - timedelta(days=400), TZ)
    rules.record_order(s, 2000, T0, TZ)
    assert rules.metric(s, program(), T0, TZ) == 2000
    assert rules.metric(s, program(metric="lifetime_spend"), T0, TZ) == 6000


def test_upgrade_happens_on_the_crossing_event_only():
    p, s = program(metric="lifetime_spend"), Standing()
    rules.record_order(s, 600, T0, TZ)
    assert rules.update_tier_on_event(s, p, T0, TZ, refund=False) == []
    rules.record_order(s, 600, T0, TZ)
    changes = rules.update_tier_on_event(s, p, T0, TZ, refund=False)
    assert [(c.old, c.new, c.reason) for c in changes] == [(None, "silver", "qualified")]
    assert rules.update_tier_on_event(s, p, T0, TZ, refund=False) == []


def test_refund_drops_tier_only_when_the_program_says_so():
    for drops, expected in [(True, None), (False, "silver")]:
        p, s = program(metric="lifetime_spend", refund_drops_tier=drops), Standing()
        rules.record_order(s, 1200, T0, TZ)
        rules.update_tier_on_event(s, p, T0, TZ, refund=False)
        rules.record_refund(s, 500, rules.month_key(T0, TZ), order_fully_refunded=False)
        rules.update_tier_on_event(s, p, T0, TZ, refund=True)
        assert s.tier == expected and s.lifetime_spend == 700


def test_anniversary_policy_downgrades_at_the_anniversary_not_before():
    p, r, s = program(downgrade="anniversary"), StageRules(), Standing()
    rules.record_order(s, 6000, T0, TZ)
    rules.update_tier_on_event(s, p, T0, TZ, refund=False)
    assert s.tier == "gold"
    eleven_months = T0 + timedelta(days=335)  # the March order left the 12-month window? not yet
    assert not [c for c in rules.reevaluate(s, p, r, eleven_months, TZ) if c.dimension == "tier"]
    after = T0 + timedelta(days=380)
    changes = [c for c in rules.reevaluate(s, p, r, after, TZ) if c.dimension == "tier"]
    assert [(c.old, c.new, c.reason) for c in changes] == [("gold", None, "anniversary")]


def test_rolling_policy_downgrades_after_the_grace_days():
    p, r, s = program(downgrade="rolling", grace_days=30), StageRules(), Standing()
    rules.record_order(s, 1500, T0, TZ)
    rules.update_tier_on_event(s, p, T0, TZ, refund=False)
    below = T0 + timedelta(days=370)
    assert not [c for c in rules.reevaluate(s, p, r, below, TZ) if c.dimension == "tier"]
    assert s.below_since is not None
    assert not [c for c in rules.reevaluate(s, p, r, below + timedelta(days=29), TZ) if c.dimension == "tier"]
    changes = [c for c in rules.reevaluate(s, p, r, below + timedelta(days=30), TZ) if c.dimension == "tier"]
    assert [(c.new, c.reason) for c in changes] == [(None, "grace_expired")]


def test_never_policy_keeps_the_tier():
    p, r, s = program(downgrade="never"), StageRules(), Standing()
    rules.record_order(s, 1500, T0, TZ)
    rules.update_tier_on_event(s, p, T0, TZ, refund=False)
    rules.reevaluate(s, p, r, T0 + timedelta(days=1000), TZ)
    assert s.tier == "silver"


def test_manual_tier_overrides_until_it_expires():
    p, r = program(), StageRules()
    s = Standing(manual_tier="gold", manual_expires_at=rules.iso(T0 + timedelta(days=10)))
    assert s.effective_tier(T0) == "gold"
    changes = rules.reevaluate(s, p, r, T0 + timedelta(days=10), TZ)
    assert s.manual_tier is None and s.effective_tier(T0) is None
    assert [(c.old, c.new, c.reason) for c in changes if c.dimension == "tier"] == [("gold", None, "manual_expired")]


def test_progress_says_how_much_is_left_to_the_next_tier():
    s = Standing()
    rules.record_order(s, 3800, T0, TZ)
    p = program()
    rules.update_tier_on_event(s, p, T0, TZ, refund=False)
    assert rules.progress(s, p, T0, TZ) == {"metric": "rolling_spend", "value": 3800, "next_tier": "gold",
                                            "amount_to_next_tier": 1200}


def test_rfm_quintiles_and_segments():
    bounds = rules.cutoffs([float(v) for v in range(1, 101)])
    assert bounds == [21.0, 41.0, 61.0, 81.0]
    assert rules.score(100, bounds) == 5 and rules.score(1, bounds) == 1
    assert rules.score(1, bounds, higher_is_better=False) == 5
    assert rules.rfm_segment(5, 5, 5) == "champions"
    assert rules.rfm_segment(1, 5, 5) == "cant_lose"
    assert rules.rfm_segment(1, 1, 1) == "lost"
    assert rules.rfm_segment(5, 1, 1) == "new"
    assert all(rules.rfm_segment(r, f, m) in rules.RFM_SEGMENTS
               for r in range(1, 6) for f in range(1, 6) for m in range(1, 6))


def test_rfm_all_tied_members_score_best_on_every_dimension():
    # GIVEN every buyer ordered today, once, for the same amount
    bounds = {"recency": rules.cutoffs([0.0] * 50), "frequency": rules.cutoffs([1.0] * 50),
              "monetary": rules.cutoffs([9900.0] * 50)}
    s = Standing()
    rules.record_order(s, 9900, T0, TZ)
    # WHEN scored
    rfm = rules.rfm_of(s, bounds, T0)
    # THEN the tie is the best score everywhere, never "lost"/"hibernating"/"cant_lose"
    assert rfm is not None and (rfm["r"], rfm["f"], rfm["m"]) == (5, 5, 5)
    assert rfm["segment"] == "champions"


def test_rfm_a_value_on_a_cut_off_scores_on_the_better_side():
    bounds = [10.0, 20.0, 30.0, 40.0]
    for k, bound in enumerate(bounds, start=1):
        # higher is better (frequency, monetary): equal to the k-th cut-off counts above it
        assert rules.score(bound, bounds) == k + 1
        assert rules.score(bound - 0.5, bounds) == k
        # lower is better (recency in days): equal to the k-th cut-off counts below it
        assert rules.score(bound, bounds, higher_is_better=False) == 6 - k
        assert rules.score(bound + 0.5, bounds, higher_is_better=False) == 5 - k
    assert rules.score(0.0, bounds, higher_is_better=False) == 5
    assert rules.score(99.0, bounds, higher_is_better=False) == 1


def test_rfm_ties_spanning_cut_offs_get_one_score_the_best_applicable():
    distinct = [float(v) for v in range(100)]
    distinct_bounds = rules.cutoffs(distinct)
    # GIVEN a run of 25 equal values placed across each cut-off in turn (ranks run_start .. run_start+24)
    for run_start in (0, 10, 30, 50, 70, 75):
        run = range(run_start, run_start + 25)
        tied = [float(run_start) if v in run else v for v in distinct]
        bounds = rules.cutoffs(tied)
        for higher_is_better in (True, False):
            scores = {rules.score(tied[i], bounds, higher_is_better) for i in run}
            # THEN they share one score: the best the same ranks would get were the values distinct
            best_untied = max(rules.score(distinct[i], distinct_bounds, higher_is_better) for i in run)
            assert scores == {best_untied}, (run_start, higher_is_better, bounds)
