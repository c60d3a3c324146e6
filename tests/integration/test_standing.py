"""Tier program and stage rules, the nightly pass with a controllable clock, manual tiers,
program-change jobs, and analytics counters proven equal to a recount."""
from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta, timezone

from tests.fixtures import run_jobs, table_items
from tests.integration.test_events import PROGRAM, new_member, order, send, set_program, standing

T0 = datetime(2026, 1, 10, 4, 0, tzinfo=timezone.utc)


def nightly(http, tenant):
    """Fire the nightly schedule for this tenant and run its job to the end."""
    job_id = http.schedule("nightly", {"tenant_ids": [tenant.id]})["job_id"]
    run_jobs()
    from chalicelib.core.jobs import get_job

    job = get_job(None, job_id)
    assert job is not None and job.status == "succeeded", job and job.error
    return job


def tier_of(http, tenant, member_id):
    return (http.get(f"/v1/members/{member_id}/tier", tenant.key).json["tier"] or {}).get("id")


# --- program and rules ------------------------------------------------------------------------------
def test_tier_program_round_trips_with_version_check(http, tenant):
    assert http.get("/v1/tier-program", tenant.key).json["tiers"] == []
    saved = set_program(http, tenant)
    assert saved["program"]["version"] == 1 and saved["job"]["status"] == "queued"
    got = http.get("/v1/tier-program", tenant.key).json
    assert [t["id"] for t in got["tiers"]] == ["silver", "gold"]
    assert got["tiers"][1]["benefits"] == [{"type": "discount_percent", "percent": 10}, {"type": "free_shipping"}]
    stale = http.call("PUT", "/v1/tier-program", tenant.key, json_body={**PROGRAM, "version": 0})
    assert stale.status == 409 and stale.json["code"] == "version_conflict"
    job = http.get(f"/v1/jobs/{saved['job']['id']}", tenant.key).json
    assert job["status"] == "succeeded" and job["kind"] == "tier_reevaluation"


def test_bad_tier_programs_are_422_and_change_nothing(http, tenant):
    set_program(http, tenant)
    before = http.get("/v1/tier-program", tenant.key).json
    silver, gold = PROGRAM["tiers"]
    for body, field in [
        ({"tiers": [gold, silver]}, "tiers"),
        ({"tiers": [silver, {**gold, "id": "silver"}]}, "tiers"),
        ({"tiers": [{**silver, "benefits": [{"type": "teleport"}]}]}, "tiers.0.benefits.0"),
        ({"tiers": [{**silver, "benefits": [{"type": "discount_percent", "percent": 150}]}]},
         "tiers.0.benefits.0.percent"),
        ({"tiers": [{**silver, "id": "none"}]}, "tiers"),
        ({"tiers": [], "metric": "vibes"}, "metric"),
        ({"tiers": [], "window_months": 0}, "window_months"),
        ({"tiers": [], "downgrade": {"policy": "sometimes"}}, "downgrade.policy"),
        ({"tiers": [{**silver, "threshold": "10000"}]}, "tiers.0.threshold"),
        ({"tiers": [{**silver, "threshold": 10000.0}]}, "tiers.0.threshold"),
        ({"tiers": [{**silver, "threshold": True}]}, "tiers.0.threshold"),
        ({"tiers": [{**silver, "benefits": [{"type": "monthly_coupon", "amount": "500"}]}]},
         "tiers.0.benefits.0.amount"),
    ]:
        r = http.call("PUT", "/v1/tier-program", tenant.key, json_body=body)
        assert r.status == 422, (body, r)
        assert r.json["field"] == field, (body, r.json)
    assert http.get("/v1/tier-program", tenant.key).json == before
    assert http.call("PUT", "/v1/tier-program", tenant.user_token("marketer"), json_body=PROGRAM).status == 403


def test_stage_rules_are_tenant_settings(http, tenant):
    assert http.get("/v1/stage-rules", tenant.key).json["dormant_after_days"] == 90
    r = http.call("PUT", "/v1/stage-rules", tenant.key, json_body={"dormant_after_days": 30, "churned_after_days": 60})
    assert r.status == 200 and r.json["dormant_after_days"] == 30
    bad = http.call("PUT", "/v1/stage-rules", tenant.key,
                    json_body={"dormant_after_days": 60, "churned_after_days": 30})
    assert bad.status == 422
    assert http.get("/v1/stage-rules", tenant.key).json["churned_after_days"] == 60


# --- the nightly pass -----------------------------------------------------------------------------------
def test_time_alone_moves_members_to_dormant_then_churned(http, tenant, clock):
    clock.now = T0
    m = {"id": new_member(http, tenant)}
    send(http, tenant, order("o1", 10_00, m))
    assert standing(http, tenant, m["id"])["stage"] == "new_buyer"
    clock.advance(days=89)
    nightly(http, tenant)
    assert standing(http, tenant, m["id"])["stage"] == "new_buyer"
    clock.advance(days=1)
    job = nightly(http, tenant)
    assert job.progress["changed"] == 1
    assert standing(http, tenant, m["id"])["stage"] == "dormant"
    clock.advance(days=275)
    nightly(http, tenant)
    s = standing(http, tenant, m["id"])
    assert s["stage"] == "churned"
    assert [(h["new"], h["reason"]) for h in s["stage_history"]][:2] == [("churned", "time"), ("dormant", "time")]
    counts = http.get("/v1/analytics/stages", tenant.key).json["counts"]
    assert counts["churned"] == 1 and counts["new_buyer"] == 0 and counts["dormant"] == 0


def test_nightly_is_safe_to_run_twice(http, tenant, clock):
    clock.now = T0
    for n in range(3):
        send(http, tenant, order(f"o{n}", (n + 1) * 10_00, {"id": new_member(http, tenant, f"1380013800{n}")}))
    clock.advance(days=120)
    first = nightly(http, tenant)
    assert first.progress["changed"] == 3
    second_id = http.schedule("nightly", {"tenant_ids": [tenant.id]})["job_id"]
    assert second_id == first.job_id  # the same day: the same job, not a second pass
    clock.advance(hours=1)
    from chalicelib.tiers.service import run_nightly

    clock.advance(days=1)
    again_id = run_nightly(tenant_ids=[tenant.id])
    run_jobs()
    from chalicelib.core.jobs import get_job

    again = get_job(None, again_id)
    assert again.status == "succeeded" and again.progress["processed"] == 3 and again.progress["changed"] == 0


def test_anniversary_downgrade_happens_in_the_nightly_job(http, tenant, clock):
    clock.now = T0
    set_program(http, tenant)
    m = {"id": new_member(http, tenant)}
    send(http, tenant, order("o", 600_00, m))
    assert tier_of(http, tenant, m["id"]) == "gold"
    clock.advance(days=364)
    nightly(http, tenant)
    assert tier_of(http, tenant, m["id"]) == "gold"
    clock.advance(days=2)  # past the anniversary, and the order left the 12-month window
    nightly(http, tenant)
    tier = http.get(f"/v1/members/{m['id']}/tier", tenant.key).json
    assert tier["tier"] is None and tier["history"][0]["reason"] == "anniversary"
    assert http.get("/v1/analytics/tiers", tenant.key).json["counts"] == {"silver": 0, "gold": 0, "none": 1}


def test_rolling_downgrade_waits_for_the_grace_days(http, tenant, clock):
    clock.now = T0
    set_program(http, tenant, downgrade={"policy": "rolling", "grace_days": 10})
    m = {"id": new_member(http, tenant)}
    send(http, tenant, order("o", 150_00, m))
    clock.advance(days=400)
    nightly(http, tenant)  # notices the metric is below: grace starts
    assert tier_of(http, tenant, m["id"]) == "silver"
    assert http.get(f"/v1/members/{m['id']}/tier", tenant.key).json["next_requalification_at"] is not None
    clock.advance(days=10)
    nightly(http, tenant)
    assert tier_of(http, tenant, m["id"]) is None


def test_rfm_scores_and_segments_come_from_the_nightly_cutoffs(http, tenant, clock):
    clock.now = T0
    members = [new_member(http, tenant, f"1370013700{n}") for n in range(10)]
    for n, member_id in enumerate(members):
        send(http, tenant, *[order(f"m{n}-o{k}", (n + 1) * 100_00, {"id": member_id},
                                   occurred_at=(T0 - timedelta(days=10 * (9 - n))).isoformat())
                             for k in range(n + 1)])
    nightly(http, tenant)
    best, worst = standing(http, tenant, members[-1])["rfm"], standing(http, tenant, members[0])["rfm"]
    assert (best["r"], best["f"], best["m"], best["segment"]) == (5, 5, 5, "champions")
    assert worst["r"] == 1 and worst["f"] == 1 and worst["segment"] == "lost"
    rfm = http.get("/v1/analytics/rfm", tenant.key).json
    assert sum(rfm["counts"].values()) == rfm["total"] == 10 and rfm["counts"]["none"] == 0


# --- manual tiers and program changes ------------------------------------------------------------------------
def test_manual_tier_overrides_until_it_expires(http, tenant, clock):
    clock.now = T0
    set_program(http, tenant)
    member_id = new_member(http, tenant)
    expires = (T0 + timedelta(days=30)).isoformat()
    r = http.call("PUT", f"/v1/members/{member_id}/tier", tenant.key,
                  json_body={"tier_id": "gold", "expires_at": expires, "reason": "influencer"})
    assert r.status == 200 and r.json["tier"]["id"] == "gold" and r.json["source"] == "manual"
    assert r.json["manual_expires_at"].startswith("2026-02-09")
    assert http.get("/v1/analytics/tiers", tenant.key).json["counts"]["gold"] == 1
    clock.advance(days=31)
    assert tier_of(http, tenant, member_id) is None  # reads see the expiry at once
    nightly(http, tenant)
    assert http.get("/v1/analytics/tiers", tenant.key).json["counts"] == {"silver": 0, "gold": 0, "none": 1}
    bad = http.call("PUT", f"/v1/members/{member_id}/tier", tenant.key, json_body={"tier_id": "platinum"})
    assert bad.status == 422 and bad.json["code"] == "unknown_tier"
    past = http.call("PUT", f"/v1/members/{member_id}/tier", tenant.key,
                     json_body={"tier_id": "gold", "expires_at": "2020-01-01T00:00:00Z"})
    assert past.status == 422 and past.json["field"] == "expires_at"


def test_a_manual_tier_says_since_when_it_was_set(http, tenant, clock):
    # GIVEN a silver member
    clock.now = T0
    set_program(http, tenant)
    m = {"id": new_member(http, tenant)}
    send(http, tenant, order("o", 150_00, m))
    assert http.get(f"/v1/members/{m['id']}/tier", tenant.key).json["since"].startswith("2026-01-10")
    # WHEN gold is set by hand two days later
    clock.advance(days=2)
    r = http.call("PUT", f"/v1/members/{m['id']}/tier", tenant.key, json_body={"tier_id": "gold"})
    # THEN since is when it was set, on the answer and on later reads
    assert r.status == 200 and r.json["source"] == "manual", r
    assert r.json["since"] is not None and r.json["since"].startswith("2026-01-12"), r.json
    clock.advance(days=1)
    again = http.call("PUT", f"/v1/members/{m['id']}/tier", tenant.key, json_body={"tier_id": "gold", "reason": "vip"})
    assert again.json["since"] == r.json["since"]  # re-setting the same tier keeps its since
    assert http.get(f"/v1/members/{m['id']}/tier", tenant.key).json["since"] == r.json["since"]
    # AND removing it restores the earned tier with its own since
    assert http.delete(f"/v1/members/{m['id']}/tier", tenant.key).status == 204
    assert http.get(f"/v1/members/{m['id']}/tier", tenant.key).json["since"].startswith("2026-01-10")


def test_removing_a_manual_tier_restores_the_earned_one(http, tenant):
    set_program(http, tenant)
    m = {"id": new_member(http, tenant)}
    send(http, tenant, order("o", 150_00, m))
    http.call("PUT", f"/v1/members/{m['id']}/tier", tenant.key, json_body={"tier_id": "gold"})
    assert tier_of(http, tenant, m["id"]) == "gold"
    assert http.delete(f"/v1/members/{m['id']}/tier", tenant.key).status == 204
    assert tier_of(http, tenant, m["id"]) == "silver"
    assert http.get("/v1/analytics/tiers", tenant.key).json["counts"] == {"silver": 1, "gold": 0, "none": 0}


def test_changing_the_program_reevaluates_existing_members_in_a_job(http, tenant):
    set_program(http, tenant)
    members = [new_member(http, tenant, f"1360013600{n}") for n in range(4)]
    send(http, tenant, *[order(f"o{n}", 80_00, {"id": m}) for n, m in enumerate(members)])
    assert http.get("/v1/analytics/tiers", tenant.key).json["counts"]["none"] == 4
    cheaper = {**PROGRAM, "tiers": [{"id": "silver", "name": "Silver", "threshold": 50_00},
                                   {"id": "platinum", "name": "Platinum", "threshold": 1000_00}]}
    saved = http.call("PUT", "/v1/tier-program", tenant.key, json_body=cheaper).json
    assert http.get(f"/v1/jobs/{saved['job']['id']}", tenant.key).json["status"] == "queued"
    assert tier_of(http, tenant, members[0]) is None  # not in the request: in the job
    run_jobs()
    job = http.get(f"/v1/jobs/{saved['job']['id']}", tenant.key).json
    assert job["status"] == "succeeded" and job["progress"] == {"processed": 4, "changed": 4, "ranges": 16}
    assert all(tier_of(http, tenant, m) == "silver" for m in members)
    assert http.get("/v1/analytics/tiers", tenant.key).json["counts"] == {"silver": 4, "platinum": 0, "none": 0}


def test_jobs_of_another_tenant_or_unknown_are_404(http, tenant, other_tenant):
    saved = set_program(http, tenant)
    assert http.get(f"/v1/jobs/{saved['job']['id']}", other_tenant.key).status == 404
    assert http.get("/v1/jobs/NOPE", tenant.key).status == 404


# --- counters equal a recount ------------------------------------------------------------------------------------
def test_analytics_counters_equal_a_recount_on_generated_data(http, tenant, clock):
    rng = random.Random(7)
    clock.now = T0
    set_program(http, tenant)
    members = [new_member(http, tenant, f"135{n:08d}") for n in range(40)]
    events, n = [], 0
    for member_id in members:
        for _ in range(rng.randint(0, 6)):
            n += 1
            amount = rng.choice([30_00, 120_00, 260_00])
            events.append(order(f"g{n}", amount, {"id": member_id}, order_id=f"g{n}",
                                occurred_at=(T0 - timedelta(days=rng.randint(0, 500))).isoformat()))
            if rng.random() < 0.2:
                events.append({"type": "order.refunded", "event_id": f"r{n}", "member": {"id": member_id},
                               "order_id": f"g{n}", "amount": amount})
        if rng.random() < 0.3:
            events.append({"type": "interaction", "event_id": f"i{member_id}", "member": {"id": member_id},
                           "name": "page_view"})
    for start in range(0, len(events), 100):
        assert send(http, tenant, *events[start:start + 100])["rejected"] == 0
    http.call("PUT", f"/v1/members/{members[0]}/tier", tenant.key, json_body={"tier_id": "gold"})
    http.delete(f"/v1/members/{members[1]}", tenant.key)
    clock.advance(days=200)
    nightly(http, tenant)
    live = members[:1] + members[2:]
    stages = Counter(standing(http, tenant, m)["stage"] for m in live)
    tiers = Counter(tier_of(http, tenant, m) or "none" for m in live)
    rfm = Counter((standing(http, tenant, m)["rfm"] or {}).get("segment", "none") for m in live)
    for report, recount in [("stages", stages), ("tiers", tiers), ("rfm", rfm)]:
        counts = http.get(f"/v1/analytics/{report}", tenant.key).json
        assert {k: v for k, v in counts["counts"].items() if v} == dict(recount), report
        assert counts["total"] == len(live)
    assert table_items(f"T#{tenant.id}#CNT#")  # the counters are items, not a scan of members
