"""Tag groups, tags, member tags (provenance, expiry, single choice), rules, bulk jobs."""
from __future__ import annotations

from datetime import timedelta

from tests.fixtures import run_jobs, table_items
from tests.integration.test_events import new_member, order, send


def group(http, tenant, name="Scent family", selection="multi"):
    r = http.post("/v1/tag-groups", tenant.key, {"name": name, "selection": selection})
    assert r.status == 201, r
    return r.json


def tag(http, tenant, group_id, name):
    r = http.post(f"/v1/tag-groups/{group_id}/tags", tenant.key, {"name": name})
    assert r.status == 201, r
    return r.json


def tags_of(http, tenant, member_id, system=False):
    data = http.get(f"/v1/members/{member_id}/tags", tenant.key).json["data"]
    return {t["tag_id"]: t for t in data if system or t["source"] != "system"}


def put_tag(http, tenant, member_id, tag_id, **body):
    return http.call("PUT", f"/v1/members/{member_id}/tags/{tag_id}", tenant.key, json_body=body)


def tag_count(http, tenant, tag_id):
    r = http.post("/v1/segments/preview", tenant.key, {"filter": {"tag": tag_id}})
    assert r.status == 200, r
    return r.json["count"]


# --- groups and tags --------------------------------------------------------------------------------
def test_groups_and_tags_round_trip_and_system_groups_are_read_only(http, tenant):
    g = group(http, tenant)
    woody = tag(http, tenant, g["id"], "Woody")
    listed = http.get("/v1/tag-groups", tenant.key).json["data"]
    assert [x["id"] for x in listed[:3]] == ["tier", "stage", "rfm"] and all(x["system"] for x in listed[:3])
    assert listed[3]["id"] == g["id"]
    assert http.get(f"/v1/tag-groups/{g['id']}/tags", tenant.key).json["data"] == [woody]
    stages = http.get("/v1/tag-groups/stage/tags", tenant.key).json["data"]
    assert "stage:loyal" in [t["id"] for t in stages]
    renamed = http.patch(f"/v1/tag-groups/{g['id']}/tags/{woody['id']}", tenant.key, {"name": "Woody & smoky"})
    assert renamed.json["name"] == "Woody & smoky"
    assert http.patch("/v1/tag-groups/tier", tenant.key, {"name": "x"}).json["code"] == "system_group_read_only"
    assert http.post("/v1/tag-groups/stage/tags", tenant.key, {"name": "x"}).status == 422
    member_id = new_member(http, tenant)
    assert put_tag(http, tenant, member_id, "stage:loyal").json["code"] == "system_tag_read_only"
    assert http.delete(f"/v1/tag-groups/{g['id']}", tenant.key).json["code"] == "tag_group_not_empty"
    put_tag(http, tenant, member_id, woody["id"])
    assert http.delete(f"/v1/tag-groups/{g['id']}/tags/{woody['id']}", tenant.key).json["code"] == "tag_in_use"
    http.delete(f"/v1/members/{member_id}/tags/{woody['id']}", tenant.key)
    assert http.delete(f"/v1/tag-groups/{g['id']}/tags/{woody['id']}", tenant.key).status == 204
    assert http.delete(f"/v1/tag-groups/{g['id']}", tenant.key).status == 204
    assert http.get(f"/v1/tag-groups/{g['id']}", tenant.key).status == 404


def test_documented_limits_are_422(http, tenant, monkeypatch):
    from chalicelib.tags import service

    monkeypatch.setattr(service, "MAX_GROUPS", 2)
    monkeypatch.setattr(service, "MAX_TAGS_PER_GROUP", 2)
    monkeypatch.setattr(service, "MAX_TAGS_PER_MEMBER", 2)
    g = group(http, tenant)
    group(http, tenant, "Second")
    third = http.post("/v1/tag-groups", tenant.key, {"name": "Third"})
    assert third.status == 422 and third.json["code"] == "limit_exceeded"
    a, b = tag(http, tenant, g["id"], "a"), tag(http, tenant, g["id"], "b")
    over = http.post(f"/v1/tag-groups/{g['id']}/tags", tenant.key, {"name": "c"})
    assert over.status == 422 and over.json["code"] == "limit_exceeded"
    g2 = http.get("/v1/tag-groups", tenant.key).json["data"][4]
    c = tag(http, tenant, g2["id"], "c")
    member_id = new_member(http, tenant)
    put_tag(http, tenant, member_id, a["id"])
    put_tag(http, tenant, member_id, b["id"])
    full = put_tag(http, tenant, member_id, c["id"])
    assert full.status == 422 and full.json["code"] == "limit_exceeded"
    assert set(tags_of(http, tenant, member_id)) == {a["id"], b["id"]}
    # a deleted group frees its quota
    for t in (a, b):
        http.delete(f"/v1/members/{member_id}/tags/{t['id']}", tenant.key)
        http.delete(f"/v1/tag-groups/{g['id']}/tags/{t['id']}", tenant.key)
    assert http.delete(f"/v1/tag-groups/{g['id']}", tenant.key).status == 204
    assert http.post("/v1/tag-groups", tenant.key, {"name": "Third"}).status == 201


def test_bad_tag_input(http, tenant):
    assert http.post("/v1/tag-groups", tenant.key, {"name": ""}).json["field"] == "name"
    assert http.post("/v1/tag-groups", tenant.key, {"name": "x", "selection": "some"}).json["field"] == "selection"
    g = group(http, tenant)
    member_id = new_member(http, tenant)
    assert put_tag(http, tenant, member_id, "01ARZ3NDEKTSV4RRFFQ69G5FAV").status == 404
    t = tag(http, tenant, g["id"], "x")
    past = put_tag(http, tenant, member_id, t["id"], expires_at="2020-01-01T00:00:00Z")
    assert past.status == 422 and past.json["field"] == "expires_at"
    assert tags_of(http, tenant, member_id) == {}


# --- member tags --------------------------------------------------------------------------------------
def test_member_tags_carry_provenance(http, tenant):
    g = group(http, tenant)
    woody = tag(http, tenant, g["id"], "Woody")
    member_id = new_member(http, tenant)
    r = put_tag(http, tenant, member_id, woody["id"])
    assert r.status == 200
    mine = tags_of(http, tenant, member_id)[woody["id"]]
    assert mine["source"] == "manual" and mine["by"].startswith("api_key:") and mine["name"] == "Woody"
    all_tags = tags_of(http, tenant, member_id, system=True)
    assert all_tags["stage:prospect_aware"]["source"] == "system"
    assert put_tag(http, tenant, member_id, woody["id"]).status == 200  # again: no change
    assert tag_count(http, tenant, woody["id"]) == 1


def test_single_choice_group_replaces_the_old_tag(http, tenant):
    g = group(http, tenant, "Favourite family", "single")
    woody, floral = tag(http, tenant, g["id"], "Woody"), tag(http, tenant, g["id"], "Floral")
    member_id = new_member(http, tenant)
    put_tag(http, tenant, member_id, woody["id"])
    put_tag(http, tenant, member_id, floral["id"])
    assert set(tags_of(http, tenant, member_id)) == {floral["id"]}
    assert (tag_count(http, tenant, woody["id"]), tag_count(http, tenant, floral["id"])) == (0, 1)
    coverage = {x["group_id"]: x for x in http.get("/v1/analytics/tags", tenant.key).json["groups"]}[g["id"]]
    assert coverage["members_tagged"] == 1 and coverage["coverage"] == 1.0


def test_expired_tags_disappear_at_once_and_counts_follow_the_sweep(http, tenant, clock):
    g = group(http, tenant)
    browsed = tag(http, tenant, g["id"], "Browsed recently")
    member_id = new_member(http, tenant)
    put_tag(http, tenant, member_id, browsed["id"], expires_at=(clock.now + timedelta(days=30)).isoformat())
    assert tags_of(http, tenant, member_id)[browsed["id"]]["expires_at"] is not None
    clock.advance(days=31)
    assert tags_of(http, tenant, member_id) == {}  # gone for every read at once
    members = http.post("/v1/segments/preview", tenant.key, {"filter": {"tag": browsed["id"]}}).json["sample"]
    assert members == []
    assert http.schedule("tag_expiry")["removed"] >= 1
    assert tag_count(http, tenant, browsed["id"]) == 0
    assert not [i for i in table_items(f"T#{tenant.id}#M#{member_id}") if i["sk"]["S"] == f"TAG#{browsed['id']}"]


def test_right_after_expiry_counts_previews_and_analytics_agree_with_reads(http, tenant, clock):
    # GIVEN three members holding a tag of a group, two of them until an hour from now;
    # the first also holds another tag of the same group for good
    g = group(http, tenant)
    short, lasting = tag(http, tenant, g["id"], "Short"), tag(http, tenant, g["id"], "Lasting")
    members = [new_member(http, tenant, f"1370013700{n}") for n in range(3)]
    ends = (clock.now + timedelta(hours=1)).isoformat()
    put_tag(http, tenant, members[0], short["id"], expires_at=ends)
    put_tag(http, tenant, members[0], lasting["id"])
    put_tag(http, tenant, members[1], short["id"], expires_at=ends)
    put_tag(http, tenant, members[2], short["id"])
    saved = http.post("/v1/segments", tenant.key, {"name": "short", "filter": {"tag": short["id"]}}).json
    assert tag_count(http, tenant, short["id"]) == 3
    # WHEN the expiry passes and the sweep has not run yet
    clock.advance(hours=1, seconds=1)
    # THEN every read, preview, count and report says the same thing
    holders = [m for m in members if short["id"] in tags_of(http, tenant, m)]
    assert holders == [members[2]]
    preview = http.post("/v1/segments/preview", tenant.key, {"filter": {"tag": short["id"]}}).json
    assert preview["count"] == 1 and [m["id"] for m in preview["sample"]] == holders
    assert http.get(f"/v1/segments/{saved['id']}/count", tenant.key).json["count"] == 1
    assert [m["id"] for m in http.get(f"/v1/segments/{saved['id']}/members", tenant.key).json["data"]] == holders
    both = http.post("/v1/segments/preview", tenant.key,
                     {"filter": {"and": [{"tag": short["id"]}, {"tag_group": g["id"]}]}}).json
    assert both["count"] == 1
    report = next(x for x in http.get("/v1/analytics/tags", tenant.key).json["groups"] if x["group_id"] == g["id"])
    assert report["members_tagged"] == 2  # members[0] keeps "Lasting", members[2] keeps "Short"
    assert {t["tag_id"]: t["members"] for t in report["top_tags"]} == {short["id"]: 1, lasting["id"]: 1}
    # AND the sweep changes none of the answers
    assert http.schedule("tag_expiry")["removed"] == 2
    assert tag_count(http, tenant, short["id"]) == 1
    again = next(x for x in http.get("/v1/analytics/tags", tenant.key).json["groups"] if x["group_id"] == g["id"])
    assert again == report


def test_a_tag_whose_holders_all_expired_can_be_deleted_before_the_sweep(http, tenant, clock):
    g = group(http, tenant)
    brief = tag(http, tenant, g["id"], "Brief")
    member_id = new_member(http, tenant)
    put_tag(http, tenant, member_id, brief["id"], expires_at=(clock.now + timedelta(minutes=5)).isoformat())
    assert http.delete(f"/v1/tag-groups/{g['id']}/tags/{brief['id']}", tenant.key).json["code"] == "tag_in_use"
    clock.advance(minutes=5)
    # reads say nobody holds it, so deleting it is not blocked by a holder nobody can see
    assert tags_of(http, tenant, member_id) == {}
    assert http.delete(f"/v1/tag-groups/{g['id']}/tags/{brief['id']}", tenant.key).status == 204
    assert http.schedule("tag_expiry")["removed"] == 1
    assert tags_of(http, tenant, member_id) == {}


# --- rules ---------------------------------------------------------------------------------------------
def test_event_rules_tag_on_ingest_and_applying_twice_changes_nothing(http, tenant, clock):
    g = group(http, tenant)
    woody = tag(http, tenant, g["id"], "Likes woody")
    buyer = tag(http, tenant, g["id"], "Bought candles")
    r = http.post("/v1/tag-rules", tenant.key, {
        "name": "viewed woody", "tag_id": woody["id"], "expires_after_days": 30,
        "when": {"event": {"type": "interaction", "name": "view_product",
                           "where": [{"property": "category", "op": "eq", "value": "woody"}]}}})
    assert r.status == 201, r
    http.post("/v1/tag-rules", tenant.key, {"name": "candles", "tag_id": buyer["id"],
                                            "when": {"event": {"type": "order.paid", "item_category": "candle"}}})
    run_jobs()
    m = {"id": new_member(http, tenant)}
    view = {"type": "interaction", "event_id": "v1", "member": m, "name": "view_product",
            "properties": {"category": "woody"}}
    send(http, tenant, view, {**view, "event_id": "v0", "properties": {"category": "floral"}})
    got = tags_of(http, tenant, m["id"])
    assert set(got) == {woody["id"]} and got[woody["id"]]["source"] == "rule"
    assert got[woody["id"]]["by"] == r.json["id"] and got[woody["id"]]["expires_at"] is not None
    send(http, tenant, view)  # the same event again: duplicate, nothing changes
    assert tags_of(http, tenant, m["id"]) == got
    send(http, tenant, order("o1", 100, m, items=[{"sku": "c-1", "category": "candle", "qty": 1, "unit_price": 100}]))
    assert buyer["id"] in tags_of(http, tenant, m["id"])
    assert tag_count(http, tenant, woody["id"]) == 1


def test_member_condition_rules_apply_on_ingest(http, tenant):
    g = group(http, tenant)
    big = tag(http, tenant, g["id"], "Big spender")
    http.post("/v1/tag-rules", tenant.key, {"name": "1000+", "tag_id": big["id"],
                                            "when": {"member": {"metric": "lifetime_spend", "op": "gte",
                                                                "value": 1000_00}}})
    run_jobs()
    m = {"id": new_member(http, tenant)}
    send(http, tenant, order("a", 600_00, m))
    assert tags_of(http, tenant, m["id"]) == {}
    send(http, tenant, order("b", 500_00, m))
    assert big["id"] in tags_of(http, tenant, m["id"])


def test_rules_backfill_existing_members_in_a_job(http, tenant):
    g = group(http, tenant)
    follower, spender = tag(http, tenant, g["id"], "Follower"), tag(http, tenant, g["id"], "Spender")
    ids = [new_member(http, tenant, f"1340013400{n}") for n in range(5)]
    send(http, tenant, *[{"type": "interaction", "event_id": f"f{n}", "member": {"id": m}, "name": "follow"}
                         for n, m in enumerate(ids[:3])])
    send(http, tenant, order("o", 2000_00, {"id": ids[4]}))
    rule = http.post("/v1/tag-rules", tenant.key, {"name": "followers", "tag_id": follower["id"],
                                                   "when": {"event": {"type": "interaction", "name": "follow"}}}).json
    ordered = {"member": {"metric": "orders", "op": "gte", "value": 1}}
    cond = http.post("/v1/tag-rules", tenant.key, {"name": "spenders", "tag_id": spender["id"], "when": ordered}).json
    assert tag_count(http, tenant, follower["id"]) == 0  # not in the request
    run_jobs()
    assert tag_count(http, tenant, follower["id"]) == 3 and tag_count(http, tenant, spender["id"]) == 1
    job = http.get(f"/v1/jobs/{rule['backfill_job_id']}", tenant.key).json
    assert job["status"] == "succeeded" and job["progress"]["processed"] == 5 and job["progress"]["changed"] == 3
    # changing the rule backfills again; already tagged members change nothing
    again = http.patch(f"/v1/tag-rules/{rule['id']}", tenant.key, {"name": "followers v2"}).json
    run_jobs()
    assert http.get(f"/v1/jobs/{again['backfill_job_id']}", tenant.key).json["progress"]["changed"] == 0
    assert cond["backfill_job_id"] is not None


def test_bad_rules_are_422(http, tenant):
    g = group(http, tenant)
    t = tag(http, tenant, g["id"], "x")
    for body, field in [
        ({"name": "r", "tag_id": t["id"], "when": {}}, "when"),
        ({"name": "r", "tag_id": t["id"], "when": {"event": {"type": "teleport"}}}, "when.event.type"),
        ({"name": "r", "tag_id": t["id"], "when": {"member": {"metric": "height", "op": "gt", "value": 1}}},
         "when.member.metric"),
        ({"name": "r", "tag_id": "stage:loyal", "when": {"event": {"type": "interaction"}}}, "tag_id"),
    ]:
        r = http.post("/v1/tag-rules", tenant.key, body)
        assert r.status == 422 and r.json["field"] == field, (body, r.json)
    assert http.get("/v1/tag-rules", tenant.key).json["data"] == []


# --- bulk -------------------------------------------------------------------------------------------------
def test_bulk_add_by_ids_and_identities_reports_per_item_errors(http, tenant):
    g = group(http, tenant)
    vip = tag(http, tenant, g["id"], "VIP event")
    ids = [new_member(http, tenant, f"1330013300{n}") for n in range(4)]
    r = http.post(f"/v1/tags/{vip['id']}/bulk", tenant.key, {
        "action": "add", "member_ids": ids[:3] + ["01ARZ3NDEKTSV4RRFFQ69G5FAV"],
        "identities": [{"phone": "13300133003"}, {"email": "nobody@example.com"}]})
    assert r.status == 202, r
    run_jobs()
    job = http.get(f"/v1/jobs/{r.json['job_id']}", tenant.key).json
    assert job["status"] == "succeeded"
    assert job["progress"]["processed"] == 6 and job["progress"]["changed"] == 4
    assert job["progress"]["error_count"] == 2
    assert sorted(e["item"] for e in job["progress"]["errors"]) == ["3", "5"]
    assert tag_count(http, tenant, vip["id"]) == 4
    removal = http.post(f"/v1/tags/{vip['id']}/bulk", tenant.key, {"action": "remove", "member_ids": ids[:2]})
    run_jobs()
    assert http.get(f"/v1/jobs/{removal.json['job_id']}", tenant.key).json["progress"]["changed"] == 2
    assert tag_count(http, tenant, vip["id"]) == 2


def test_bulk_for_a_whole_segment(http, tenant):
    g = group(http, tenant)
    src, dst = tag(http, tenant, g["id"], "Source"), tag(http, tenant, g["id"], "Copied")
    ids = [new_member(http, tenant, f"1320013200{n}") for n in range(6)]
    for m in ids[:4]:
        put_tag(http, tenant, m, src["id"])
    seg = http.post("/v1/segments", tenant.key, {"name": "src", "filter": {"tag": src["id"]}}).json
    r = http.post(f"/v1/tags/{dst['id']}/bulk", tenant.key, {"action": "add", "segment_id": seg["id"]})
    run_jobs()
    assert http.get(f"/v1/jobs/{r.json['job_id']}", tenant.key).json["progress"]["changed"] == 4
    assert {m for m in ids if dst["id"] in tags_of(http, tenant, m)} == set(ids[:4])


def test_bad_bulk_requests(http, tenant):
    g = group(http, tenant)
    t = tag(http, tenant, g["id"], "x")
    assert http.post(f"/v1/tags/{t['id']}/bulk", tenant.key, {"action": "add"}).status == 422
    too_many = ["01ARZ3NDEKTSV4RRFFQ69G5FAV"] * 10_001
    big = http.call("POST", f"/v1/tags/{t['id']}/bulk", tenant.key, json_body={"action": "add", "member_ids": too_many})
    assert big.status == 422 and big.json["field"] == "member_ids"
    missing_segment = {"action": "add", "segment_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}
    assert http.post(f"/v1/tags/{t['id']}/bulk", tenant.key, missing_segment).status == 404
    assert table_items(f"T#{tenant.id}#JOB#") == []


def test_a_full_bulk_request_of_ten_thousand_members_is_accepted(http, tenant):
    from chalicelib.core.jobs.dispatch import dispatcher

    g = group(http, tenant)
    t = tag(http, tenant, g["id"], "x")
    ids = [f"01ARZ3NDEKTSV4RRFFQ{n:07d}" for n in range(10_000)]
    r = http.call("POST", f"/v1/tags/{t['id']}/bulk", tenant.key, json_body={"action": "add", "member_ids": ids})
    assert r.status == 202, r
    dispatcher()._queue.get_nowait()  # type: ignore[attr-defined]  # not run: 10,000 misses would take long
    from chalicelib.core import jobs

    assert len(jobs.inputs(tenant.id, r.json["job_id"], 9_990, 100)) == 10


def test_erasing_a_tagged_member_drops_the_tags_and_their_counts(http, tenant):
    # a regression: the erasure saved and deleted the tag set in one transaction (refused)
    g = group(http, tenant)
    woody = tag(http, tenant, g["id"], "Woody")
    m = new_member(http, tenant)
    assert put_tag(http, tenant, m, woody["id"]).status == 200
    assert tag_count(http, tenant, woody["id"]) == 1
    assert http.delete(f"/v1/members/{m}", tenant.key).status == 204
    assert tag_count(http, tenant, woody["id"]) == 0
    assert not [i for i in table_items(f"T#{tenant.id}#M#{m}") if i["sk"]["S"].startswith(("TAG#", "TAGSET"))]
