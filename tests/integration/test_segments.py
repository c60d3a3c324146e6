"""Segments: counts and pages equal a brute-force recount on generated data; preview,
jobs for unindexed filters, CSV export, validation."""
from __future__ import annotations

import csv
import io
import random
from datetime import datetime, timedelta, timezone

import pytest
import requests

from tests.fixtures import run_jobs
from tests.integration.test_events import order, send, set_program
from tests.integration.test_tags import group, put_tag, tag

T0 = datetime(2026, 5, 1, 4, 0, tzinfo=timezone.utc)


@pytest.fixture
def population(http, tenant, clock):
    """40 members with random tags, attributes, channels, orders; and the truth about them."""
    clock.now = T0
    rng = random.Random(11)
    set_program(http, tenant)
    http.post("/v1/channels", tenant.key, {"code": "mall", "name": "Mall"})
    g = group(http, tenant, "Interests")
    scent = group(http, tenant, "Scent", "single")
    tags = {name: tag(http, tenant, g["id"], name)["id"] for name in ("candles", "travel", "gifts")}
    scents = {name: tag(http, tenant, scent["id"], name)["id"] for name in ("woody", "floral")}
    truth = {}
    for n in range(40):
        body = {"phone": f"131{n:08d}", "attributes": {"skin": rng.choice(["dry", "oily"]), "age": 20 + n % 30}}
        if rng.random() < 0.4:
            body["source"] = {"channel": "mall"}
        if rng.random() < 0.5:
            body["birthday"] = {"month": rng.randint(1, 12), "day": 1}
        m = http.post("/v1/members", tenant.key, body).json
        held = {name for name in tags if rng.random() < 0.35}
        for name in held:
            put_tag(http, tenant, m["id"], tags[name])
        fav = rng.choice([None, "woody", "floral"])
        if fav:
            put_tag(http, tenant, m["id"], scents[fav])
        spend, last = 0, None
        for k in range(rng.randint(0, 4)):
            amount = rng.choice([50_00, 150_00, 400_00])
            when = T0 - timedelta(days=rng.randint(0, 200))
            send(http, tenant, order(f"{n}-{k}", amount, {"id": m["id"]}, occurred_at=when.isoformat()))
            spend += amount
            last = max(last or when, when)
        truth[m["id"]] = {"tags": held, "fav": fav, "spend": spend, "last": last, "body": body,
                          "stage": http.get(f"/v1/members/{m['id']}/standing", tenant.key).json["stage"],
                          "tier": (http.get(f"/v1/members/{m['id']}/tier", tenant.key).json["tier"] or {}).get("id")}
    return {"tags": tags, "scents": scents, "groups": (g["id"], scent["id"]), "truth": truth}


def all_pages(http, tenant, segment_id, limit=7):
    seen, cursor = [], None
    while True:
        q = f"/v1/segments/{segment_id}/members?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        page = http.get(q, tenant.key).json
        seen += [m["id"] for m in page["data"]]
        assert page["examined"] <= 1000
        cursor = page["next_cursor"]
        if not cursor:
            return seen


def test_segment_counts_and_pages_equal_a_brute_force_recount(http, tenant, population):
    t, s, truth = population["tags"], population["scents"], population["truth"]
    cases = [
        ({"tag": t["candles"]}, lambda m: "candles" in m["tags"]),
        ({"and": [{"tag": t["candles"]}, {"tag": t["travel"]}]}, lambda m: {"candles", "travel"} <= m["tags"]),
        ({"or": [{"tag": t["gifts"]}, {"tag": s["woody"]}]}, lambda m: "gifts" in m["tags"] or m["fav"] == "woody"),
        ({"and": [{"tag": s["floral"]}, {"not": {"attribute": "skin", "op": "eq", "value": "dry"}}]},
         lambda m: m["fav"] == "floral" and m["body"]["attributes"]["skin"] != "dry"),
        ({"and": [{"channel": "mall"}, {"metric": "lifetime_spend", "op": "gte", "value": 200_00}]},
         lambda m: m["body"].get("source", {}).get("channel") == "mall" and m["spend"] >= 200_00),
        ({"tier": "silver"}, lambda m: m["tier"] == "silver"),
        ({"and": [{"stage": "new_buyer"}, {"last_order_within_days": 60}]},
         lambda m: m["stage"] == "new_buyer" and m["last"] is not None and (T0 - m["last"]).days < 60),
        ({"tag_group": population["groups"][1]}, lambda m: m["fav"] is not None),
        ({"attribute": "age", "op": "in", "value": [20, 21, 22]},
         lambda m: m["body"]["attributes"]["age"] in (20, 21, 22)),
        ({"birthday_month": 3}, lambda m: m["body"].get("birthday", {}).get("month") == 3),
        ({"tier": "none"}, lambda m: m["tier"] is None),
    ]
    for tree, predicate in cases:
        expected = {mid for mid, m in truth.items() if predicate(m)}
        seg = http.post("/v1/segments", tenant.key, {"name": "s", "filter": tree}).json
        counted = http.get(f"/v1/segments/{seg['id']}/count", tenant.key).json
        if counted["status"] == "computing":
            run_jobs()
            counted = {"count": http.get(f"/v1/jobs/{counted['job_id']}", tenant.key).json["progress"]["total"]}
            assert http.get(f"/v1/segments/{seg['id']}", tenant.key).json["last_count"] == len(expected)
        assert counted["count"] == len(expected), (tree, counted)
        paged = all_pages(http, tenant, seg["id"])
        assert len(paged) == len(set(paged)) and set(paged) == expected, tree


def test_indexed_segments_start_from_the_smallest_index(http, tenant, population):
    t = population["tags"]
    tree = {"and": [{"tag": t["candles"]}, {"tag": t["travel"]}, {"not": {"stage": "churned"}}]}
    preview = http.post("/v1/segments/preview", tenant.key, {"filter": tree, "sample_size": 3}).json
    sizes = {name: http.post("/v1/segments/preview", tenant.key, {"filter": {"tag": t[name]}}).json["count"]
             for name in ("candles", "travel")}
    smallest = min(sizes, key=sizes.get)
    assert preview["base"] == f"tag:{t[smallest]}" and preview["base_size"] == sizes[smallest]
    assert preview["status"] == "exact" and len(preview["sample"]) <= 3
    unindexed = http.post("/v1/segments/preview", tenant.key,
                          {"filter": {"metric": "orders", "op": "gte", "value": 2}}).json
    assert unindexed["base"] == "all_members" and unindexed["status"] == "computing" and unindexed["count"] is None
    run_jobs()


def test_a_background_count_says_when_it_was_taken_and_that_it_may_be_out_of_date(http, tenant, clock):
    # GIVEN a saved segment that needs a background count (no index), counted once
    clock.now = T0
    buyers = [http.post("/v1/members", tenant.key, {"phone": f"1390013900{n}"}).json["id"] for n in range(3)]
    send(http, tenant, order("first", 10_00, {"id": buyers[0]}))
    seg = http.post("/v1/segments", tenant.key, {"name": "buyers", "filter": {"metric": "orders", "op": "gte",
                                                                              "value": 1}}).json
    assert http.get(f"/v1/segments/{seg['id']}/count", tenant.key).json["status"] == "computing"
    run_jobs()
    taken = http.get(f"/v1/segments/{seg['id']}/count", tenant.key).json
    assert taken["count"] == 1 and taken["counted_at"] is not None
    # WHEN members change within the hour the count job is reused for
    clock.advance(minutes=10)
    send(http, tenant, order("second", 10_00, {"id": buyers[1]}))
    later = http.get(f"/v1/segments/{seg['id']}/count", tenant.key).json
    # THEN the reused count does not claim to be exact now: it says when it was taken and that it is not current
    assert later["count"] == 1 and later["status"] == "as_of" and later["current"] is False, later
    assert later["counted_at"] == taken["counted_at"] and taken["counted_at"].startswith(T0.strftime("%Y-%m-%dT%H:%M"))
    assert http.get(f"/v1/segments/{seg['id']}", tenant.key).json["counted_at"] == taken["counted_at"]
    # AND a count taken for the request says so
    now = http.post("/v1/segments/preview", tenant.key, {"filter": {"stage": "new_buyer"}}).json
    assert now["status"] == "exact" and now["current"] is True and now["count"] == 2, now
    # AND the next hour's count is fresh
    clock.advance(hours=1)
    assert http.get(f"/v1/segments/{seg['id']}/count", tenant.key).json["status"] == "computing"
    run_jobs()
    assert http.get(f"/v1/segments/{seg['id']}/count", tenant.key).json["count"] == 2


def test_export_writes_a_downloadable_csv(http, tenant, population):
    t, truth = population["tags"], population["truth"]
    seg = http.post("/v1/segments", tenant.key, {"name": "gifts", "filter": {"tag": t["gifts"]}}).json
    started = http.post(f"/v1/segments/{seg['id']}/export", tenant.key)
    assert started.status == 202
    early = http.get(f"/v1/segments/{seg['id']}/exports/{started.json['job_id']}", tenant.key)
    assert early.status == 200 and early.json["status"] == "queued" and early.json["download"] is None, early
    run_jobs()
    r = http.get(f"/v1/segments/{seg['id']}/exports/{started.json['job_id']}", tenant.key)
    assert r.status == 200 and r.json["status"] == "succeeded", r
    got = requests.get(r.json["download"]["url"], timeout=30)  # from S3, by its presigned URL
    assert got.status_code == 200
    rows = list(csv.DictReader(io.StringIO(got.content.decode())))
    assert {row["member_id"] for row in rows} == {m for m, v in truth.items() if "gifts" in v["tags"]}
    assert all(row["phone"].startswith("+86131") for row in rows)


def test_bad_filters_are_422_naming_the_node(http, tenant):
    for tree, field in [
        ({}, "filter"),
        ({"and": []}, "filter"),
        ({"and": [{"tag": "x"}, {"color": "red"}]}, "filter.and[1]"),
        ({"not": {"metric": "height", "op": "gt", "value": 3}}, "filter.not.metric"),
        ({"metric": "orders", "op": "about", "value": 3}, "filter.op"),
        ({"birthday_month": 13}, "filter.birthday_month"),
        ({"metric": "lifetime_spend", "op": "gte", "value": "10000"}, "filter.value"),
        ({"metric": "lifetime_spend", "op": "gte", "value": 10000.0}, "filter.value"),
        ({"metric": "lifetime_spend", "op": "gte", "value": True}, "filter.value"),
        ({"metric": "orders", "op": "in", "value": [1, True]}, "filter.value[1]"),
        ({"or": [{"attribute": "skin", "op": "in", "value": "dry"}]}, "filter.or[0].value"),
        ({"not": {"not": {"not": {"not": {"not": {"not": {"tag": "x"}}}}}}}, "filter.not.not.not.not.not.not"),
    ]:
        r = http.post("/v1/segments", tenant.key, {"name": "bad", "filter": tree})
        assert r.status == 422 and r.json["field"] == field, (tree, r.json)
    assert http.get("/v1/segments", tenant.key).json["data"] == []


UNKNOWN_ID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"


def test_filters_naming_unknown_ids_are_422_naming_the_term_and_write_nothing(http, tenant, other_tenant):
    # GIVEN a tenant with a tag, a group, a channel and a tier program; and another tenant's tag
    set_program(http, tenant)
    http.post("/v1/channels", tenant.key, {"code": "mall", "name": "Mall"})
    g = group(http, tenant, "Interests")
    t = tag(http, tenant, g["id"], "Candles")
    foreign = tag(http, other_tenant, group(http, other_tenant, "Theirs")["id"], "Theirs")
    good = {"and": [{"tag": t["id"]}, {"tag_group": g["id"]}, {"tier": "gold"}, {"channel": "mall"},
                    {"not": {"tag": "stage:loyal"}}, {"tier": "none"}, {"rfm": "none"}, {"tag": "tier:silver"}]}
    seg = http.post("/v1/segments", tenant.key, {"name": "good", "filter": good})
    assert seg.status == 201, seg
    assert http.post("/v1/segments/preview", tenant.key, {"filter": good}).status == 200
    for tree, field, code in [
        ({"tag": UNKNOWN_ID}, "filter.tag", "unknown_tag"),
        ({"and": [{"tag": t["id"]}, {"tag": foreign["id"]}]}, "filter.and[1].tag", "unknown_tag"),
        ({"or": [{"tag_group": UNKNOWN_ID}]}, "filter.or[0].tag_group", "unknown_tag_group"),
        ({"tag_group": foreign["group_id"]}, "filter.tag_group", "unknown_tag_group"),
        ({"not": {"tier": "platinum"}}, "filter.not.tier", "unknown_tier"),
        ({"tag": "tier:platinum"}, "filter.tag", "unknown_tier"),
        ({"channel": "nowhere"}, "filter.channel", "unknown_channel"),
        ({"stage": "sleepy"}, "filter.stage", "unknown_stage"),
        ({"rfm": "vip"}, "filter.rfm", "unknown_rfm_segment"),
        ({"plan": UNKNOWN_ID}, "filter.plan", "unknown_plan"),
    ]:
        # WHEN the filter is saved, previewed or patched in
        created = http.post("/v1/segments", tenant.key, {"name": "bad", "filter": tree})
        previewed = http.post("/v1/segments/preview", tenant.key, {"filter": tree})
        patched = http.patch(f"/v1/segments/{seg.json['id']}", tenant.key, {"filter": tree})
        # THEN each is a 422 naming the term
        for r in (created, previewed, patched):
            assert r.status == 422 and (r.json["field"], r.json["code"]) == (field, code), (tree, r)
    # AND nothing was written
    assert [(x["id"], x["filter"]) for x in http.get("/v1/segments", tenant.key).json["data"]] == [
        (seg.json["id"], good)]
    # AND tag rules with member conditions check the same way
    rule = http.post("/v1/tag-rules", tenant.key, {"name": "r", "tag_id": t["id"],
                                                   "when": {"member": {"and": [{"tag": foreign["id"]}]}}})
    assert rule.status == 422 and rule.json["field"] == "when.member.and[0].tag", rule
    assert http.get("/v1/tag-rules", tenant.key).json["data"] == []


def test_segment_crud_and_cursor_binding(http, tenant, other_tenant):
    seg = http.post("/v1/segments", tenant.key, {"name": "a", "filter": {"stage": "loyal"}}).json
    assert seg["indexed"] is True
    renamed = http.patch(f"/v1/segments/{seg['id']}", tenant.key, {"name": "b", "filter": {"birthday_month": 1}}).json
    assert renamed["name"] == "b" and renamed["indexed"] is False
    assert [s["id"] for s in http.get("/v1/segments", tenant.key).json["data"]] == [seg["id"]]
    bad = http.get(f"/v1/segments/{seg['id']}/members?cursor=abc", tenant.key)
    assert bad.status == 400 and bad.json["code"] == "invalid_cursor"
    assert http.delete(f"/v1/segments/{seg['id']}", tenant.key).status == 204
    assert http.get(f"/v1/segments/{seg['id']}", tenant.key).status == 404


def test_plan_term_selects_members_with_an_active_paid_membership(http, tenant):
    """Issue 4's "active plan" term, now that paid memberships exist."""
    from datetime import datetime, timezone

    from tests.integration.test_billing_support import World

    stripe = World(http, tenant)
    plan = stripe.plan()
    paying, other = stripe.member(), stripe.member(phone="13900139001")
    subscription = stripe.lifecycle(paying, plan, datetime.now(timezone.utc))
    stripe.remember(subscription, upto=4)
    assert stripe.deliver(subscription.events[1]).json["outcome"] == "applied"
    assert stripe.memberships(paying)[0]["status"] in ("active", "trialing")
    preview = http.post("/v1/segments/preview", tenant.key, {"filter": {"plan": plan["id"]}}).json
    assert [m["id"] for m in preview["sample"]] == [paying]
    none = http.post("/v1/segments/preview", tenant.key, {"filter": {"not": {"plan": plan["id"]}}}).json
    assert [m["id"] for m in none["sample"]] == [other]
