"""Whole-tenant passes fan out over independent ranges (issue 14): the nightly pass run on
4 parallel workers gives exactly what one worker gives, and a worker stopped mid-range is
resumed from its checkpoint without doing anything twice."""
from __future__ import annotations

import random
from datetime import datetime, timezone

from tests.integration.test_events import new_member, order, send, set_program, standing

T0 = datetime(2026, 2, 10, 4, 0, tzinfo=timezone.utc)
MEMBERS = 24  # more than the 16 ranges, so some range holds several members


def _populate(http, tenant, seed: int) -> dict[str, str]:
    """The same generated members and orders for every tenant given the same seed: phone -> id."""
    rng = random.Random(seed)
    set_program(http, tenant)
    members = {f"1390000{n:04d}": "" for n in range(MEMBERS)}
    for phone in members:
        members[phone] = new_member(http, tenant, phone)
    events = [order(f"{phone}-{k}", rng.choice([30_00, 80_00, 200_00, 450_00, 900_00]), {"id": mid})
              for phone, mid in members.items() for k in range(rng.randint(1, 3))]
    for i in range(0, len(events), 50):
        send(http, tenant, *events[i:i + 50])
    return members


def _nightly(http, tenant, workers: int):
    from chalicelib.core import jobs
    from chalicelib.core.jobs.dispatch import dispatcher

    job_id = http.schedule("nightly", {"tenant_ids": [tenant.id]})["job_id"]
    dispatcher().drain(workers=workers)  # type: ignore[attr-defined]
    job = jobs.get_job(None, job_id)
    assert job is not None and job.status == "succeeded", job and (job.status, job.error)
    return job


def _outcome(http, tenant, members: dict[str, str]) -> dict[str, dict]:
    """Per phone, what the pass decided (no ids or times, which differ between tenants)."""
    out = {}
    for phone, mid in members.items():
        s = standing(http, tenant, mid)
        out[phone] = {k: v for k, v in s.items() if k not in ("member_id", "stage_history")}
        out[phone]["stage_moves"] = [(h["old"], h["new"]) for h in s["stage_history"]]
        out[phone]["tier"] = (http.get(f"/v1/members/{mid}/tier", tenant.key).json["tier"] or {}).get("id")
    return out


def test_fanned_out_nightly_pass_equals_the_single_worker_pass(http, tenant, other_tenant, clock):
    # GIVEN two tenants holding the same generated members and orders
    clock.now = T0
    one, four = _populate(http, tenant, seed=7), _populate(http, other_tenant, seed=7)
    clock.advance(days=100)  # everyone is now dormant, and RFM scores are due
    # WHEN one tenant's pass runs on one worker and the other's on four
    single = _nightly(http, tenant, workers=1)
    fanned = _nightly(http, other_tenant, workers=4)
    # THEN each member ends the same way, and the counters agree
    assert single.progress["processed"] == fanned.progress["processed"] == MEMBERS
    assert single.progress["changed"] == fanned.progress["changed"] == MEMBERS
    first, second = _outcome(http, tenant, one), _outcome(http, other_tenant, four)
    assert first == second
    assert {o["stage"] for o in first.values()} == {"dormant"}
    assert any(o.get("rfm") for o in first.values())
    for report in ("tiers", "stages", "rfm"):
        assert (http.get(f"/v1/analytics/{report}", tenant.key).json["counts"]
                == http.get(f"/v1/analytics/{report}", other_tenant.key).json["counts"]), report


def test_a_worker_stopped_mid_range_is_resumed_and_nothing_is_done_twice(http, tenant, clock, monkeypatch):
    from chalicelib.core import jobs
    from chalicelib.core.jobs.dispatch import dispatcher
    from chalicelib.tiers import service as tiers_service

    monkeypatch.setattr(tiers_service, "PAGE", 1)  # every range takes several steps
    clock.now = T0
    members = _populate(http, tenant, seed=11)
    clock.advance(days=100)
    queue = dispatcher()._queue  # type: ignore[attr-defined]
    job_id = tiers_service.run_nightly(tenant_ids=[tenant.id])
    queue.get_nowait()
    parent = jobs.run(None, job_id)  # RFM cut-offs, then the fan-out: it waits for its ranges
    assert parent is not None and parent.status == "waiting"
    children = [queue.get_nowait() for _ in range(queue.qsize())]
    assert len(children) == 16
    # GIVEN a range whose worker did one page and died (its re-dispatch never ran)
    busy = next(c for c in children if jobs.get_job(c[0], c[1]).params["shard"] in _shards_with(members, 2))
    stopped = jobs.run(busy[0], busy[1], time_left=lambda: 0.0)
    assert stopped.status == "running" and stopped.checkpoint is not None and stopped.progress["processed"] == 1
    lost = queue.get_nowait()
    assert lost[1] == busy[1]
    # AND every other range finished: the pass still waits for the stopped one
    for entry in children:
        if entry is not busy:
            queue.put(entry)
    dispatcher().drain(workers=4)  # type: ignore[attr-defined]
    assert jobs.get_job(None, job_id).status == "waiting"
    # WHEN the sweeper finds the stale range and it runs again
    clock.advance(minutes=6)
    assert jobs.sweep() >= 1
    dispatcher().drain(workers=4)  # type: ignore[attr-defined]
    # THEN the pass finished, every member was evaluated once and changed once
    done = jobs.get_job(None, job_id)
    assert done.status == "succeeded", done.error
    assert done.progress["processed"] == MEMBERS and done.progress["changed"] == MEMBERS
    assert http.get("/v1/analytics/stages", tenant.key).json["counts"]["dormant"] == MEMBERS
    history = [standing(http, tenant, m)["stage_history"] for m in members.values()]
    assert all(sum(1 for h in hs if h["new"] == "dormant") == 1 for hs in history)


def _shards_with(members: dict[str, str], at_least: int) -> set[int]:
    from collections import Counter

    from chalicelib.core.table.definition import STANDING_SHARDS
    from chalicelib.core.table.keys import shard_of

    counts = Counter(shard_of(m, STANDING_SHARDS) for m in members.values())
    found = {s for s, n in counts.items() if n >= at_least}
    assert found, "24 members over 16 ranges: some range holds two"
    return found


def test_a_program_change_fans_out_too(http, tenant, clock):
    from chalicelib.core import jobs

    clock.now = T0
    members = _populate(http, tenant, seed=3)
    saved = set_program(http, tenant, tiers=[{"id": "silver", "name": "Silver", "threshold": 50_00}])
    job = jobs.get_job(tenant.id, saved["job"]["id"])
    assert job.status == "succeeded" and job.progress["processed"] == MEMBERS
    assert job.progress["ranges"] == 16
    for m in members.values():
        tier = (http.get(f"/v1/members/{m}/tier", tenant.key).json["tier"] or {}).get("id")
        assert tier == ("silver" if standing(http, tenant, m)["lifetime_spend"] >= 50_00 else None)


def _empty_queue() -> None:
    import queue as queue_module

    from chalicelib.core.jobs.dispatch import dispatcher

    q = dispatcher()._queue  # type: ignore[attr-defined]  # the runs are driven by hand here
    while True:
        try:
            q.get_nowait()
        except queue_module.Empty:
            return


def test_a_runner_woken_with_a_stale_copy_of_the_waiting_parent_still_resumes_it(tenant):
    """Two children finish close together: the first wakes a runner that sees the second
    still running and leaves (saving a heartbeat); the second wakes a runner that loaded the
    parent before that heartbeat. That runner must resume the parent, not give up on a stale
    version (nobody else would, until the sweeper)."""
    from chalicelib.core import jobs
    from chalicelib.core.jobs import runner, store

    try:
        jobs.register("test_fan_parent", lambda t, p, cp: jobs.Step(checkpoint=None, processed=1) if cp else jobs.Step(
            checkpoint={"after": True}, fan_out=[jobs.Child("test_fan_child", t, {"n": n}) for n in range(2)]))
        jobs.register("test_fan_child", lambda t, p, cp: jobs.Step(checkpoint=None, processed=1, changed=1))
        parent = jobs.start("test_fan_parent", tenant.id, {})
        _empty_queue()
        runner.run(tenant.id, parent.job_id)  # fans out: waiting on two children
        waiting = store.get(tenant.id, parent.job_id)
        assert waiting is not None and waiting.status == "waiting" and waiting.children is not None
        first, second = (c[1] for c in waiting.children)
        runner.run(tenant.id, first)
        stale = store.get(tenant.id, parent.job_id)  # the second child's runner loads the parent now...
        runner.run(tenant.id, parent.job_id)  # ...while the first child's runner sees one running and leaves
        runner.run(tenant.id, second)
        _empty_queue()
        assert stale is not None
        runner._run(tenant.id, parent.job_id, stale, lambda: 900.0)  # the second child's runner goes on
        done = store.get(tenant.id, parent.job_id)
        assert done is not None and done.status == "succeeded", (done.status, done.error)
        assert (done.progress["processed"], done.progress["changed"], done.progress["ranges"]) == (3, 2, 2)
    finally:  # not a kind of the app's: the manifest test compares the registered kinds
        runner._handlers.pop("test_fan_parent", None)
        runner._handlers.pop("test_fan_child", None)
