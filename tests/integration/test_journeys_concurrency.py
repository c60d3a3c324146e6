"""Two writers meeting on a journey: concurrent triggers for one member, from separate
processes (nothing shared but DynamoDB Local), enrol exactly once."""
from __future__ import annotations

import multiprocessing
from collections import Counter

import pytest

from tests.fixtures import table_items
from tests.integration import concurrent_clients
from tests.integration.journey_support import create_journey, follow, new_member, send_events, stats
from tests.integration.test_concurrency import race

WRITERS = 4


@pytest.fixture(scope="module")
def pool():
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(WRITERS) as p:
        assert all(p.map(concurrent_clients.warm, range(WRITERS), chunksize=1))
        yield p


def _live_enrolments(tenant, member_id):
    return [i for i in table_items(f"T#{tenant.id}#M#{member_id}") if i["sk"]["S"].startswith("ENR#")]


def test_the_same_trigger_delivered_concurrently_enrols_once(pool, http, tenant):
    journey = create_journey(http, tenant, {
        "trigger": {"type": "event", "event": {"type": "interaction", "name": "follow"}},
        "reentry": {"policy": "always"}, "start": "w",
        "steps": [{"id": "w", "type": "wait", "duration": "P1D", "next": "x"}, {"id": "x", "type": "exit"}]})
    member = new_member(http, tenant)
    # distinct event ids: every event is accepted, every listener tries to enrol
    results = race(pool, [("POST", "/v1/events", tenant.key, follow(member, f"follow-{i}")) for i in range(WRITERS)])
    assert all(status == 200 and body["results"][0]["status"] == "accepted" for status, body in results), results
    assert len(_live_enrolments(tenant, member)) == 1
    assert stats(http, tenant, journey["id"])["entered"] == 1


def test_concurrent_enrolments_of_one_list_enrol_each_member_once(pool, http, tenant):
    journey = create_journey(http, tenant, {"trigger": {"type": "api"}, "reentry": {"policy": "always"}, "start": "x",
                                            "steps": [{"id": "x", "type": "wait", "duration": "P1D"}]})
    members = [new_member(http, tenant, phone=f"1380013800{n}") for n in range(2)]
    results = race(pool, [("POST", f"/v1/journeys/{journey['id']}/enrolments", tenant.key, {"member_ids": members})
                          for _ in range(WRITERS)])
    assert all(status == 200 for status, _ in results), results
    outcomes = Counter(r["status"] for _, body in results for r in body["results"])
    assert outcomes == {"enrolled": 2, "already_enrolled": 2 * WRITERS - 2}, outcomes
    assert [len(_live_enrolments(tenant, m)) for m in members] == [1, 1]


def test_a_journey_activated_in_another_process_enrols_this_processs_very_next_event(pool, http, tenant):
    """Each process caches the tenant's active journeys; a change made by another process
    (another warm Lambda) must reach the next event here at once, not 10 s later."""
    journey = create_journey(http, tenant, {
        "trigger": {"type": "event", "event": {"type": "interaction", "name": "follow"}},
        "reentry": {"policy": "always"}, "start": "w",
        "steps": [{"id": "w", "type": "wait", "duration": "P1D", "next": "x"}, {"id": "x", "type": "exit"}]},
        activate=False)
    first, second, third = (new_member(http, tenant, phone=f"1380013800{n}") for n in range(3))
    send_events(http, tenant, follow(first, "before"))  # this process has read the journeys: none active
    assert _live_enrolments(tenant, first) == []
    # WHEN another process activates the journey
    [(status, body)] = pool.starmap(concurrent_clients.call_at, [
        (0, "POST", f"/v1/journeys/{journey['id']}/activate", tenant.key, {})])
    assert (status, body["status"]) == (200, "active"), body
    # THEN this process's very next event enrols
    send_events(http, tenant, follow(second, "after-activation"))
    assert len(_live_enrolments(tenant, second)) == 1
    # and once another process pauses it, the next event here does not
    [(status, body)] = pool.starmap(concurrent_clients.call_at, [
        (0, "POST", f"/v1/journeys/{journey['id']}/pause", tenant.key, {})])
    assert (status, body["status"]) == (200, "paused"), body
    send_events(http, tenant, follow(third, "after-pause"))
    assert _live_enrolments(tenant, third) == []
