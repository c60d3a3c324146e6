"""Guide tasks through the API: the daily list in the store's time zone, a birthday journey
making one task per member for their guide, an order closing open tasks as converted,
expiry, bulk creation for a segment, the store pool, and the board against a recount."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.fixtures import make_tenant, run_jobs, table_items
from tests.integration.guides_support import make_guide, make_store, order, send, signup

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)  # 10:00 in Shanghai, 18:00 the day before in Los Angeles


@pytest.fixture(scope="module")
def shop(http, admin_token):
    tenant = make_tenant(http, admin_token)
    la = make_store(http, tenant, "Santa Monica", "America/Los_Angeles")
    return tenant, la, make_guide(http, tenant, la, "Ann"), make_guide(http, tenant, la, "Bob")


def task(http, tenant, member_id: str, due: str, title: str = "Call {{member.name|default:them}}",
         kind: str = "call") -> dict:
    r = http.post("/v1/tasks", tenant.key, {"member_id": member_id, "kind": kind, "title": title, "due_date": due})
    assert r.status == 201, r
    return r.json


def test_the_daily_list_is_the_guides_day_in_their_stores_time_zone(http, shop, clock):
    tenant, _, ann, bob = shop
    clock.now = T0  # 2026-03-01 in Los Angeles
    m = signup(http, tenant, "13800000101", ann.code, name="Mei")
    today, tomorrow = task(http, tenant, m, "2026-03-01"), task(http, tenant, m, "2026-03-02")
    assert today["title"] == "Call Mei" and today["guide_id"] == ann.id
    assert today["due_at"] == "2026-03-02T08:00:00.000Z"  # the end of the day in Los Angeles
    listed = http.get("/v1/guides/me/tasks?due=today", ann.token).json
    assert listed["due_date"] == "2026-03-01" and [t["id"] for t in listed["data"]] == [today["id"]]
    assert [t["id"] for t in http.get("/v1/guides/me/tasks?due=2026-03-02", ann.token).json["data"]] == [tomorrow["id"]]
    assert http.get("/v1/guides/me/tasks", bob.token).json["data"] == []
    done = http.post(f"/v1/tasks/{today['id']}/complete", ann.token, {"outcome": "no_answer"}).json
    assert done["status"] == "done" and done["outcome"] == "no_answer"
    assert http.post(f"/v1/tasks/{today['id']}/complete", ann.token, {"outcome": "reached"}).status == 409
    assert http.post(f"/v1/tasks/{tomorrow['id']}/cancel", tenant.key).json["status"] == "cancelled"


def test_a_birthday_journey_creates_one_task_per_member_for_their_guide_due_in_the_stores_zone(http, shop, clock):
    tenant, la, ann, bob = shop
    clock.now = T0.replace(day=13, hour=17)  # 01:00 on 14 March in Shanghai (the tenant's zone)
    r = http.post("/v1/journeys", tenant.key, {
        "name": "Birthday greetings", "trigger": {"type": "date", "attribute": "birthday", "at": "10:00"},
        "reentry": {"policy": "always"}, "start": "greet",
        "steps": [{"id": "greet", "type": "create_task", "kind": "greet",
                   "title": "Happy birthday to {{member.name}}", "body": "Gift for {{member.name|default:them}}"}]})
    assert r.status == 201, r
    assert http.post(f"/v1/journeys/{r.json['id']}/activate", tenant.key).status == 200
    mei = signup(http, tenant, "13800000111", ann.code, name="Mei", birthday={"month": 3, "day": 14})
    lin = signup(http, tenant, "13800000112", bob.code, name="Lin", birthday={"month": 3, "day": 14})
    signup(http, tenant, "13800000113", ann.code, name="Later", birthday={"month": 3, "day": 15})
    for _ in range(2):  # the hourly schedule twice: nobody enrolled twice
        http.schedule("journey_triggers", {"tenant_ids": [tenant.id]})
        run_jobs()
    clock.now = T0.replace(day=14, hour=2, second=30)  # 10:00:30 in Shanghai = 13 March, 19:00 in Los Angeles
    http.schedule("journey_timers")
    http.schedule("journey_timers")
    mine = http.get("/v1/guides/me/tasks?due=2026-03-13", ann.token).json["data"]
    theirs = http.get("/v1/guides/me/tasks?due=2026-03-13", bob.token).json["data"]
    assert [(t["member_id"], t["title"], t["kind"], t["cause"]["type"]) for t in mine] == [
        (mei, "Happy birthday to Mei", "greet", "journey")]
    assert [(t["member_id"], t["title"]) for t in theirs] == [(lin, "Happy birthday to Lin")]
    tasks = [i for i in table_items(f"T#{tenant.id}#TASK#") if i["kind"]["S"] == "greet"]
    assert len(tasks) == 2


def test_an_order_closes_the_open_tasks_as_converted_once(http, shop, clock):
    from chalicelib.core.signals import Delivery
    from chalicelib.guides import board

    tenant, _, ann, _ = shop
    clock.now = T0
    m = signup(http, tenant, "13800000121", ann.code)
    t1, t2 = task(http, tenant, m, "2026-03-05"), task(http, tenant, m, "2026-03-06", kind="follow_up")
    before = http.get("/v1/analytics/guides?month=2026-03", tenant.key).json["data"]
    send(http, tenant, order(m, "conv-1", 300_00))
    for t in (t1, t2):
        closed = http.get(f"/v1/tasks/{t['id']}", tenant.key).json
        assert (closed["status"], closed["outcome"]) == ("done", "converted")
    after = http.get("/v1/analytics/guides?month=2026-03", tenant.key).json["data"]
    row = lambda rows: next(r for r in rows if r["guide_id"] == ann.id)  # noqa: E731
    assert row(after)["tasks_done"] - row(before)["tasks_done"] == 2
    assert row(after)["revenue"] - row(before)["revenue"] == 300_00
    assert row(after)["task_revenue"] - row(before)["task_revenue"] == 300_00
    # a redelivered signal counts nothing twice
    event = {"type": "order.paid", "event_id": "conv-1", "amount": 300_00, "order_id": "o-conv-1"}
    board.on_event(Delivery("x.0", "activity.event_recorded", tenant.id, m, {"event": event,
                                                                             "occurred_at": clock.now.isoformat()}))
    assert http.get("/v1/analytics/guides?month=2026-03", tenant.key).json["data"] == after


def test_open_tasks_expire_after_due_plus_grace(http, shop, clock):
    tenant, _, ann, _ = shop
    clock.now = T0
    m = signup(http, tenant, "13800000131", ann.code)
    t = task(http, tenant, m, "2026-03-03")
    clock.now = datetime.fromisoformat(t["expires_at"].replace("Z", "+00:00")) - timedelta(minutes=1)
    http.schedule("task_expiry")
    assert http.get(f"/v1/tasks/{t['id']}", tenant.key).json["status"] == "open"
    clock.advance(minutes=2)
    assert http.schedule("task_expiry")["expired"] >= 1
    assert http.get(f"/v1/tasks/{t['id']}", tenant.key).json["status"] == "expired"
    assert http.post(f"/v1/tasks/{t['id']}/complete", ann.token, {"outcome": "reached"}).status == 409


def test_bulk_tasks_for_a_segment_once_per_member_and_the_pool_takes_the_unguided(http, admin_token, clock):
    from chalicelib.core import jobs
    from chalicelib.guides import bulk

    clock.now = T0
    tenant = make_tenant(http, admin_token)
    store = make_store(http, tenant)
    ann = make_guide(http, tenant, store, "Ann")
    guided = [signup(http, tenant, f"1380000014{n}", ann.code, name=f"M{n}") for n in range(3)]
    loner = signup(http, tenant, "13800000149", name="Solo")
    # no pool yet: a task for a member without a guide has nowhere to go
    r = http.post("/v1/tasks", tenant.key, {"member_id": loner, "kind": "call", "title": "t", "due_date": "2026-03-02"})
    assert r.status == 422 and r.json["code"] == "no_guide_or_pool"
    assert table_items(f"T#{tenant.id}#TASK#") == []
    assert http.patch(f"/v1/stores/{store}", tenant.key, {"task_pool": True}).json["task_pool"] is True
    send(http, tenant, *[order(m, f"b{m}", 10_00) for m in guided[:2] + [loner]])
    seg = http.post("/v1/segments", tenant.key, {"name": "buyers",
                                                 "filter": {"metric": "orders", "op": "gte", "value": 1}}).json
    r = http.post("/v1/tasks/bulk", tenant.key, {"segment_id": seg["id"], "kind": "message",
                                                 "title": "New shades for {{member.name}}", "due_date": "2026-03-02"})
    assert r.status == 202
    run_jobs()
    job = jobs.get_job(tenant.id, r.json["job_id"])
    assert job.status == "succeeded" and job.progress["changed"] == 3
    bulk._step(tenant.id, job.params, None)  # the step again (a runner died before its checkpoint): no duplicates
    mine = http.get("/v1/guides/me/tasks?due=2026-03-02", ann.token).json["data"]
    assert sorted(t["title"] for t in mine) == ["New shades for M0", "New shades for M1"]
    pool = http.get(f"/v1/stores/{store}/pool/tasks?due=2026-03-02", tenant.key).json["data"]
    assert [(t["member_id"], t["guide_id"]) for t in pool] == [(loner, None)]
