"""Two writers meeting: concurrent requests from separate processes against DynamoDB Local."""
from __future__ import annotations

import multiprocessing
import time
from collections import Counter

import pytest

from tests.fixtures import table_items
from tests.integration import concurrent_clients

WRITERS = 8


@pytest.fixture(scope="module")
def pool():
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(WRITERS) as p:
        assert all(p.map(concurrent_clients.warm, range(WRITERS), chunksize=1))
        yield p


def race(pool, requests):
    """Fire ``requests`` [(method, path, token, body)] together; their (status, body)s."""
    start_at = time.time() + 0.5
    return pool.starmap(concurrent_clients.call_at, [(start_at, *r) for r in requests], chunksize=1)


def test_concurrent_creates_of_one_phone_make_exactly_one_member(pool, tenant):
    notations = ["13800138000", "+86 138 0013 8000", "+8613800138000", "138-0013-8000"]
    results = race(pool, [("POST", "/v1/members", tenant.key, {"phone": notations[i % 4], "name": f"w{i}"})
                          for i in range(WRITERS)])
    statuses = Counter(status for status, _ in results)
    assert statuses == {201: 1, 200: WRITERS - 1}, results
    assert len({body["id"] for _, body in results}) == 1
    profiles = [i for i in table_items(f"T#{tenant.id}#M#") if i["sk"]["S"] == "PROFILE"]
    identities = table_items(f"T#{tenant.id}#ID#phone#")
    assert len(profiles) == 1 and len(identities) == 1


def test_concurrent_patches_with_one_version_let_exactly_one_win(pool, http, tenant):
    member = http.post("/v1/members", tenant.key, {"phone": "13800138000"}).json
    results = race(pool, [("PATCH", f"/v1/members/{member['id']}", tenant.key, {"version": 1, "name": f"writer {i}"})
                          for i in range(WRITERS)])
    statuses = Counter(status for status, _ in results)
    assert statuses == {200: 1, 409: WRITERS - 1}, results
    winner = next(body for status, body in results if status == 200)
    assert http.get(f"/v1/members/{member['id']}", tenant.key).json == winner
    assert winner["version"] == 2


def test_concurrent_claims_of_one_email_by_different_members(pool, http, tenant):
    members = [http.post("/v1/members", tenant.key, {"phone": f"1380013800{i}"}).json for i in range(WRITERS)]
    results = race(pool, [("PATCH", f"/v1/members/{m['id']}", tenant.key, {"version": 1, "email": "shared@example.com"})
                          for m in members])
    winners = [body for status, body in results if status == 200]
    assert len(winners) == 1 and Counter(s for s, _ in results)[409] == WRITERS - 1, results
    owner = http.get("/v1/members/lookup?email=shared@example.com", tenant.key).json
    assert owner["id"] == winners[0]["id"]


def test_channel_counts_stay_exact_under_concurrent_sign_ups(pool, http, tenant):
    http.post("/v1/channels", tenant.key, {"code": "live", "name": "Live"})
    results = race(pool, [("POST", "/v1/members", tenant.key,
                           {"phone": f"1390013900{i}", "source": {"channel": "live"}}) for i in range(WRITERS)])
    assert all(status == 201 for status, _ in results), results
    assert http.get("/v1/channels/live", tenant.key).json["member_count"] == WRITERS


def test_a_key_revoked_while_requests_fly_never_works_afterwards(pool, http, tenant):
    doomed = http.post("/v1/api-keys", tenant.key, {"name": "doomed"}).json
    results = race(pool, [("DELETE", f"/v1/api-keys/{doomed['id']}", tenant.key, None)] * 2
                   + [("GET", "/v1/tenant", doomed["secret"], None)] * (WRITERS - 2))
    assert [s for s, _ in results[:2]] == [204, 204]
    assert all(status in (200, 401) for status, _ in results[2:])
    assert http.get("/v1/tenant", doomed["secret"]).status == 401


def test_fifty_concurrent_orders_for_one_member_give_exact_totals_and_one_upgrade(pool, http, tenant):
    from tests.fixtures import run_jobs

    http.call("PUT", "/v1/tier-program", tenant.key, json_body={
        "metric": "lifetime_spend", "tiers": [{"id": "silver", "name": "Silver", "threshold": 10_000},
                                              {"id": "gold", "name": "Gold", "threshold": 40_000}]})
    run_jobs()
    member = http.post("/v1/members", tenant.key, {"phone": "13800138000"}).json
    orders = [("POST", "/v1/events", tenant.key,
               {"type": "order.paid", "event_id": f"e{i}", "member": {"id": member["id"]}, "order_id": f"o{i}",
                "amount": 1_000, "currency": "CNY"}) for i in range(50)]
    resent = orders[:5]  # the same events again, concurrently with the first sends
    results = race(pool, orders + resent)
    statuses = Counter(body["results"][0]["status"] for status, body in results if status == 200)
    assert all(status == 200 for status, _ in results), [r for r in results if r[0] != 200][:3]
    assert statuses == {"accepted": 50, "duplicate": 5}, statuses
    standing = http.get(f"/v1/members/{member['id']}/standing", tenant.key).json
    assert (standing["lifetime_spend"], standing["orders"]) == (50_000, 50)
    tier = http.get(f"/v1/members/{member['id']}/tier", tenant.key).json
    assert tier["tier"]["id"] == "gold"
    assert [(h["old"], h["new"]) for h in reversed(tier["history"])] == [(None, "silver"), ("silver", "gold")]
    assert http.get("/v1/analytics/tiers", tenant.key).json["counts"] == {"silver": 0, "gold": 1, "none": 0}
    assert len(http.get(f"/v1/members/{member['id']}/timeline?limit=200", tenant.key).json["data"]) == 50


def test_single_choice_group_holds_under_concurrent_tagging(pool, http, tenant):
    g = http.post("/v1/tag-groups", tenant.key, {"name": "Favourite", "selection": "single"}).json
    options = [http.post(f"/v1/tag-groups/{g['id']}/tags", tenant.key, {"name": f"t{i}"}).json["id"] for i in range(4)]
    member = http.post("/v1/members", tenant.key, {"phone": "13800138000"}).json
    results = race(pool, [("PUT", f"/v1/members/{member['id']}/tags/{options[i % 4]}", tenant.key, {})
                          for i in range(WRITERS)])
    assert all(status == 200 for status, _ in results), results
    held = [t["tag_id"] for t in http.get(f"/v1/members/{member['id']}/tags", tenant.key).json["data"]
            if t["group_id"] == g["id"]]
    assert len(held) == 1
    counts = {t: http.post("/v1/segments/preview", tenant.key, {"filter": {"tag": t}}).json["count"] for t in options}
    assert counts == {t: int(t == held[0]) for t in options}
    index = [i for i in table_items(f"T#{tenant.id}#M#{member['id']}") if i["sk"]["S"].startswith("TAG#")
             and i["sk"]["S"][4:] in options]
    assert len(index) == 1
    coverage = {x["group_id"]: x for x in http.get("/v1/analytics/tags", tenant.key).json["groups"]}[g["id"]]
    assert coverage["members_tagged"] == 1
