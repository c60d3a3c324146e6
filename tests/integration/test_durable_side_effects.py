"""What a committed write promises happens at least once, and once: the signals outbox.

The event's tag rule and journey trigger are raised in the event's own transaction; a
process killed right after the commit loses neither (the sweeper delivers them), a receiver
that fails is retried without re-running the ones that succeeded, and a redelivery enrols
nobody twice."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import pytest

from tests.conftest import ROOT
from tests.fixtures import run_jobs, table_items
from tests.integration.journey_support import (  # noqa: F401 - aws is a fixture
    T0,
    aws,
    create_journey,
    enrolments,
    follow,
    new_member,
)
from tests.integration.test_events import send
from tests.integration.test_tags import group, tag, tags_of

pytestmark = pytest.mark.usefixtures("aws")

#: enrolled on a follow, then waits a day: the enrolment stays live, easy to count
WELCOME = {
    "trigger": {"type": "event", "event": {"type": "interaction", "name": "follow"}},
    "reentry": {"policy": "always"},
    "start": "w1",
    "steps": [{"id": "w1", "type": "wait", "duration": "P1D", "next": "done"}, {"id": "done", "type": "exit"}],
}


def _follower_rule(http, tenant) -> str:
    follower = tag(http, tenant, group(http, tenant)["id"], "Follower")
    r = http.post("/v1/tag-rules", tenant.key, {"name": "followers", "tag_id": follower["id"],
                                                "when": {"event": {"type": "interaction", "name": "follow"}}})
    assert r.status == 201, r
    run_jobs()
    return str(follower["id"])


def _outbox(tenant_id: str, member_id: str) -> list[dict]:
    return [i for i in table_items(f"T#{tenant_id}#M#{member_id}") if i["sk"]["S"].startswith("OUTBOX#")]


def _post_event_then_die(tenant_key: str, event: dict) -> subprocess.CompletedProcess[str]:
    """Another process posts the event and is killed right after the event's commit: the
    after-commit delivery is replaced by an immediate exit (fault injection at that line)."""
    script = textwrap.dedent(f"""
        import json, os, sys
        sys.path.insert(0, {str(ROOT)!r})
        from chalice.test import Client
        from app import app
        from chalicelib.core import signals

        def killed_after_commit(*args, **kwargs):
            os._exit(137)

        signals.deliver = killed_after_commit
        with Client(app, project_dir={str(ROOT)!r}) as client:
            r = client.http.post("/v1/events", body=json.dumps({{"events": [{json.dumps(event)}]}}),
                                 headers={{"Authorization": "Bearer {tenant_key}",
                                          "Content-Type": "application/json"}})
        print("survived the commit:", r.status_code, r.body)
        sys.exit(3)
    """)
    return subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=dict(os.environ), capture_output=True,
                          text=True, timeout=120)


def test_a_process_killed_right_after_the_commit_loses_no_tag_and_no_enrolment(http, tenant, clock):
    # GIVEN a tag rule and a journey that both react to a follow (the clock starts at the
    # real time: the killed process stamps the outbox with its own, real clock)
    follower = _follower_rule(http, tenant)
    create_journey(http, tenant, WELCOME)
    lin = new_member(http, tenant, name="Lin")

    # WHEN a process commits the follow and dies before doing anything else
    died = _post_event_then_die(tenant.key, follow(lin, "f-1"))
    assert died.returncode == 137, (died.stdout, died.stderr[-2000:])

    # THEN the event is recorded (a resend is a duplicate) but nothing followed yet ...
    assert send(http, tenant, follow(lin, "f-1"))["results"][0]["status"] == "duplicate"
    assert follower not in tags_of(http, tenant, lin)
    assert enrolments(http, tenant, lin) == []
    assert len(_outbox(tenant.id, lin)) == 1
    assert http.schedule("outbox_sweeper") == {"delivered": 0, "failed": 0}  # the writer's lease still runs

    # ... and once the sweeper runs (in this, the "restarted", process), both arrive, once
    clock.advance(seconds=120)  # past the lease the killed writer took at its own (later) time
    assert http.schedule("outbox_sweeper") == {"delivered": 1, "failed": 0}
    assert tags_of(http, tenant, lin)[follower]["source"] == "rule"
    assert len(enrolments(http, tenant, lin)) == 1
    assert _outbox(tenant.id, lin) == []

    clock.advance(minutes=5)
    assert http.schedule("outbox_sweeper") == {"delivered": 0, "failed": 0}
    assert send(http, tenant, follow(lin, "f-1"))["results"][0]["status"] == "duplicate"
    assert len(enrolments(http, tenant, lin)) == 1
    _leave_no_timers(http, tenant, lin)


def _leave_no_timers(http, tenant, member_id: str) -> None:
    """Erasure ends the member's enrolments and cancels their timers, which would otherwise
    fire in other tests' ticks (the local timer list is platform-wide)."""
    assert http.delete(f"/v1/members/{member_id}", tenant.key).status == 204


def test_a_failing_receiver_is_retried_alone_with_backoff(http, tenant, clock):
    from app import app  # noqa: F401 - the receivers are wired when the app is imported
    from chalicelib.activity.service import EVENT_RECORDED
    from chalicelib.core.signals import Delivery, receiver_name

    clock.now = T0
    follower = _follower_rule(http, tenant)
    create_journey(http, tenant, WELCOME)
    lin = new_member(http, tenant, name="Lin")
    calls: list[str] = []

    def flaky(delivery: Delivery) -> None:
        calls.append(delivery.id)
        if len(calls) == 1:
            raise RuntimeError("the receiver's dependency is down")

    tagging = next(r for r in EVENT_RECORDED.receivers if receiver_name(r).endswith("tags.service.on_event"))
    tag_runs: list[str] = []

    def counted_tagging(delivery: Delivery) -> object:
        tag_runs.append(delivery.id)
        return tagging(delivery)

    counted_tagging.__module__, counted_tagging.__qualname__ = tagging.__module__, tagging.__qualname__
    original = list(EVENT_RECORDED.receivers)
    EVENT_RECORDED.receivers[:] = [counted_tagging if r is tagging else r for r in original] + [flaky]
    try:
        # WHEN one receiver fails on the first delivery
        assert send(http, tenant, follow(lin, "f-1"))["results"][0]["status"] == "accepted"
        # THEN the others did their part, and the item waits for a retry
        assert follower in tags_of(http, tenant, lin) and len(enrolments(http, tenant, lin)) == 1
        [pending] = _outbox(tenant.id, lin)
        assert int(pending["attempts"]["N"]) == 1 and "RuntimeError" in pending["last_error"]["S"]

        clock.advance(seconds=20)  # before its backoff (30 s): left alone
        assert http.schedule("outbox_sweeper") == {"delivered": 0, "failed": 0}
        clock.advance(seconds=15)
        assert http.schedule("outbox_sweeper") == {"delivered": 1, "failed": 0}
    finally:
        EVENT_RECORDED.receivers[:] = original
    assert len(calls) == 2 and calls[0] == calls[1]  # the same delivery id both times
    assert len(tag_runs) == 1  # the tagging receiver that succeeded did not run again
    assert len(enrolments(http, tenant, lin)) == 1
    assert _outbox(tenant.id, lin) == []
    _leave_no_timers(http, tenant, lin)


def test_a_redelivered_signal_enrols_once_even_when_reentry_is_always(http, tenant, clock):
    from chalicelib.core.signals import Delivery
    from chalicelib.journeys import triggers

    clock.now = T0
    create_journey(http, tenant, {**WELCOME, "steps": [{"id": "done", "type": "exit"}], "start": "done"})
    lin = new_member(http, tenant, name="Lin")
    delivery = Delivery(id="01OUTBOXTEST.0", signal="activity.event_recorded", tenant_id=tenant.id, member_id=lin,
                        data={"event": {"type": "interaction", "name": "follow", "event_id": "x"},
                              "occurred_at": "2026-03-02T02:00:00.000Z"})
    triggers.on_event(delivery)
    http.schedule("journey_timers")  # the enrolment runs its exit step: finished, so a new entry would be allowed
    assert [e["status"] for e in enrolments(http, tenant, lin)] == ["completed"]
    triggers.on_event(delivery)  # the same signal again (a redelivery after a crash)
    assert len(enrolments(http, tenant, lin)) == 1
    triggers.on_event(Delivery(**{**delivery.__dict__, "id": "01OUTBOXTEST.1"}))  # another signal: re-enters
    assert len(enrolments(http, tenant, lin)) == 2
    _leave_no_timers(http, tenant, lin)


def test_two_sweepers_deliver_an_item_once_and_a_hopeless_one_is_parked(http, tenant, clock):
    from chalicelib.core import signals
    from chalicelib.core.table.transactions import Transaction

    clock.now = T0
    probe = signals.Signal("tests.probe")
    runs: list[str] = []
    gate = threading.Barrier(2)

    def slow(delivery: signals.Delivery) -> None:
        runs.append(delivery.id)

    probe.connect(slow)
    try:
        original_deliver = signals.deliver
        signals.deliver = lambda item, now=None: False  # type: ignore[assignment] - the writer dies after commit
        tx = Transaction()
        probe.stage(tx, tenant.id, None, {"n": 1})
        tx.commit()
        signals.deliver = original_deliver
        clock.advance(seconds=61)
        results: list[dict[str, int]] = []

        def sweep() -> None:
            gate.wait()
            results.append(signals.sweep())

        threads = [threading.Thread(target=sweep) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(runs) == 1 and sum(r["delivered"] for r in results) == 1

        def broken(delivery: signals.Delivery) -> None:
            raise ValueError("never works")

        probe.connect(broken)
        tx = Transaction()
        probe.stage(tx, tenant.id, None, {"n": 2})
        tx.commit()
        for _ in range(signals.MAX_ATTEMPTS + 1):
            clock.advance(hours=2)
            signals.sweep()
        dead = [i for i in signals.store.dead(1000) if i.tenant_id == tenant.id]
        assert len(dead) == 1 and int(dead[0].attempts) == signals.MAX_ATTEMPTS
        assert runs.count(f"{dead[0].outbox_id}.0") == 1  # the receiver that worked ran once in all those tries
    finally:
        signals._SIGNALS.pop("tests.probe", None)  # noqa: SLF001 - a test-only signal


def test_signals_of_one_transaction_share_one_outbox_item_and_arrive_in_order(http, tenant, clock):
    from chalicelib.core import signals
    from chalicelib.core.table.transactions import Transaction

    clock.now = T0
    first, second = signals.Signal("tests.first"), signals.Signal("tests.second")
    heard: list[tuple[str, dict]] = []
    first.connect(lambda d: heard.append((d.signal, d.data)))
    second.connect(lambda d: heard.append((d.signal, d.data)))
    try:
        tx = Transaction()
        first.stage(tx, tenant.id, "01MEMBER0000000000000000AA", {"a": 1})
        second.stage(tx, tenant.id, "01MEMBER0000000000000000AA", {"b": 2})
        assert heard == []  # nothing before the commit
        tx.commit()
        assert heard == [("tests.first", {"a": 1}), ("tests.second", {"b": 2})]
        assert _outbox(tenant.id, "01MEMBER0000000000000000AA") == []
        mixed = Transaction()
        first.stage(mixed, tenant.id, None, {})
        with pytest.raises(ValueError):  # one transaction's promises belong to one tenant
            second.stage(mixed, "01ANOTHERTENANT00000000000", None, {})
    finally:
        signals._SIGNALS.pop("tests.first", None)  # noqa: SLF001
        signals._SIGNALS.pop("tests.second", None)  # noqa: SLF001


def test_a_tier_program_and_a_tag_rule_commit_with_their_jobs_and_a_lost_dispatch_is_swept(http, tenant, clock,
                                                                                           monkeypatch):
    from chalicelib.core.jobs.dispatch import dispatcher
    from tests.integration.test_events import PROGRAM

    queue = dispatcher()
    lost: list[str] = []
    # GIVEN a dispatcher that fails right after each commit (the process dying there)
    monkeypatch.setattr(type(queue), "dispatch", lambda self, tenant_id, job_id, run: lost.append(job_id) or 1 / 0)
    program = http.call("PUT", "/v1/tier-program", tenant.key, json_body=PROGRAM)
    follower = tag(http, tenant, group(http, tenant)["id"], "Follower")
    rule = http.post("/v1/tag-rules", tenant.key, {"name": "followers", "tag_id": follower["id"],
                                                   "when": {"event": {"type": "interaction", "name": "follow"}}})
    # THEN both writes answered, each with a job that exists although nobody dispatched it
    assert program.status == 202 and rule.status == 201, (program, rule)
    job_ids = [program.json["job"]["id"], rule.json["backfill_job_id"]]
    assert lost == job_ids
    assert [http.get(f"/v1/jobs/{j}", tenant.key).json["status"] for j in job_ids] == ["queued", "queued"]
    monkeypatch.undo()
    assert run_jobs() == 0  # nothing was queued: the dispatches were lost
    # WHEN the job sweeper finds them stale, they run
    clock.advance(minutes=6)
    assert http.schedule("job_sweeper")["redispatched"] >= 2
    run_jobs()
    assert [http.get(f"/v1/jobs/{j}", tenant.key).json["status"] for j in job_ids] == ["succeeded", "succeeded"]
