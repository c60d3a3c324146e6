"""Running an enrolment's steps when its timer fires.

A run starts at the enrolment's ``resume_at`` step and goes on (branches, tags, coupons,
messages) until a wait that is not over, a send deferred by quiet hours, or the end. All
it decided is committed in ONE transaction, version-checked on the enrolment:

* the new position and the next timer intent (the timer outbox: started after the
  commit, repaired by the sweeper if that start is lost);
* each message, keyed by (enrolment, timer generation, step): the key is the claim, so a
  step that runs twice (a retried Lambda, a timer fired twice) sends at most once: the
  second run's transaction is cancelled and it stops;
* the member's frequency-cap record (version-checked: two journeys sending to one member
  at once cannot both slip under the cap), and the counters.

Messages are delivered after the commit (the message outbox: ``delivery``). Tags and
coupon grants happen during the run; both are idempotent, so a repeated run repeats none.
"""
from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from ..core import clock, observability as obs
from ..core.table.definition import ENROLMENT_DUE_SHARDS
from ..core.table.transactions import StaleVersion, Transaction, TransactionCancelled, retrying
from ..segments import filters
from ..tiers.rules import parse
from . import actions, catalog, delivery, engine, store
from .actions import Run
from .catalog import ActiveJourney
from .enrolments import commit_counts, end, start_timer, timer_payload
from .timers import timer_name
from .validation import expand_condition

MAX_ATTEMPTS = 20
#: steps one run may take before it yields to a fresh timer (graphs are small; this is a guard)
MAX_STEPS_PER_RUN = 60
#: items one run commits at most (DynamoDB's transaction limit is 100): a longer run goes
#: on in a new one
MAX_TRANSACTION_ITEMS = 100
#: a timer that fires this much early (clock skew, a wait longer than an execution may last)
#: is re-armed instead of acted on
EARLY_TOLERANCE = timedelta(seconds=2)
#: a timer intent younger than this is left to the request that wrote it (the sweeper waits)
SWEEP_GRACE = timedelta(seconds=int(os.environ.get("ENCLAVE_JOURNEY_SWEEP_GRACE_SECONDS", "60")))
#: a started timer this far past due is presumed lost (its execution failed for good)
WATCHDOG = timedelta(minutes=15)


def on_timer(payload: dict[str, Any], active: ActiveJourney | None = None) -> dict[str, Any]:
    """The ``journey_step`` function: run the enrolment from where its timer says.
    ``active``: the journey as the enrolling request saw it (active, from the cached
    catalog), so a run in line reads no tenant-wide journey item (a sale-day hot key)."""
    tenant_id, member_id = payload["tenant_id"], payload["member_id"]
    enrolment_id, seq = payload["enrolment_id"], int(payload["seq"])

    def attempt(_: int) -> dict[str, Any]:
        enrolment = store.get_enrolment(tenant_id, member_id, enrolment_id)
        if enrolment is None or enrolment.status != "live" or int(enrolment.seq) != seq:
            return {"result": "stale"}  # ended, or a newer timer owns it
        now = clock.now()
        due = parse(enrolment.timer_due)
        if due is not None and now < due - EARLY_TOLERANCE:
            _rearm(enrolment, due)
            return {"result": "rearmed", "due_at": enrolment.timer_due}
        return _advance(enrolment, now, active)

    try:
        return retrying(attempt, attempts=MAX_ATTEMPTS, retry_if=_not_sent_yet,
                        conflict=f"enrolment {enrolment_id} kept changing")
    except TransactionCancelled:  # a concurrent run of this step committed first
        return {"result": "already_ran"}


def run_or_start(enrolment: store.EnrolmentItem, active: ActiveJourney | None = None) -> None:
    """After the enrolment's commit: run its first step here if it is due now, else start
    its timer. A run that fails (logged) falls back to the timer; the run is idempotent
    (seq-checked, message keys claimed), so a timer that fires after it finds nothing to do."""
    due = parse(enrolment.timer_due)
    if due is None or due > clock.now():
        start_timer(enrolment)
        return
    try:
        on_timer(timer_payload(enrolment), active=active)
    except Exception:  # noqa: BLE001 - the intent is committed: the timer runs the step instead
        obs.logger.exception("journey first step failed in line; its timer runs it",
                             extra={"enrolment_id": enrolment.enrolment_id})
        start_timer(enrolment)


def _not_sent_yet(exc: StaleVersion | TransactionCancelled) -> bool:
    """Retry a lost race, unless the step's message was claimed by a concurrent run."""
    return not (isinstance(exc, TransactionCancelled) and any(label.startswith("message:") for label in exc.failed))


def _rearm(enrolment: store.EnrolmentItem, due: datetime) -> None:
    """Give the enrolment a new timer generation for the same step at ``due``."""
    enrolment.seq = int(enrolment.seq) + 1
    store.set_timer(enrolment, timer_name(enrolment.enrolment_id, int(enrolment.seq)), clock.iso(due))
    store.save_enrolment(enrolment)
    start_timer(enrolment)


def rearm_now(enrolment: store.EnrolmentItem) -> bool:
    """The sweeper's watchdog: an enrolment whose started timer never ran gets a new one."""
    try:
        _rearm(enrolment, max(clock.now(), parse(enrolment.timer_due) or clock.now()))
    except StaleVersion:
        return False
    return True


def _journey(tenant_id: str, journey_id: str) -> tuple[str, bool] | None:
    """(name, archived) of the journey: an active one from the process's catalog (timers of a
    sale day's enrolments fire together too: a step must not read the tenant's journeys
    partition each time), any other from the table."""
    for known in catalog.active_journeys(tenant_id):
        if known.journey_id == journey_id:
            return known.name, False
    journey = store.get_journey(tenant_id, journey_id)
    return (journey.name, journey.status == "archived") if journey is not None else None


def _advance(enrolment: store.EnrolmentItem, now: datetime, active: ActiveJourney | None = None) -> dict[str, Any]:
    tenant_id, journey_id = enrolment.tenant_id, enrolment.journey_id
    if active is not None and (active.journey_id, active.version) == (journey_id, int(enrolment.journey_version)):
        name, gone = active.name, False
    else:
        journey = _journey(tenant_id, journey_id)
        name, gone = (journey[0] if journey else ""), journey is None or journey[1]
    definition = catalog.definition(tenant_id, journey_id, int(enrolment.journey_version))
    run = Run(enrolment, definition or {}, name, now)
    tx = Transaction()
    if gone or definition is None:
        return _finish(run, tx, "exited", "journey_archived", None)
    if run.member is None:
        return _finish(run, tx, "exited", "member_gone", None)
    steps = catalog.steps_by_id(definition)
    step_id: str | None = enrolment.resume_at
    resumed_deferral = enrolment.deferred_step is not None and enrolment.deferred_step == step_id
    visited: set[str] = set()
    for _ in range(MAX_STEPS_PER_RUN):
        if run.writes + len(run.bump) > MAX_TRANSACTION_ITEMS - 6:  # DynamoDB takes 100 per transaction
            return _finish(run, tx, "waiting", None, (now, step_id))
        step = steps.get(step_id) if step_id else None
        if step is None or step_id is None:
            return _finish(run, tx, "completed", None, None)
        if step_id in visited:  # looped back through a wait that was already over: pause a minute
            return _finish(run, tx, "waiting", None, (now + timedelta(minutes=1), step_id))
        visited.add(step_id)
        run.taken.append(step_id)
        if not resumed_deferral:
            run.add(f"step:{step_id}:reached")
        resumed_deferral = False
        kind = step["type"]
        if kind == "wait":
            due = engine.wait_due(step, now, run.tz, run.member.model_dump(), enrolment.vars.get("trigger") or {})
            if due is None:
                return _finish(run, tx, "exited", "no_date", None)
            if due > now:
                return _finish(run, tx, "waiting", None, (due, step.get("next")))
            step_id = step.get("next")
        elif kind == "branch":
            snap = run.snapshot()
            condition = expand_condition(step["condition"], _ordered_since(enrolment))
            holds = snap is not None and filters.matches(condition, snap, now)
            step_id = step.get("then") if holds else step.get("else")
        elif kind in ("add_tag", "remove_tag"):
            actions.tag(run, step)
            step_id = step.get("next")
        elif kind == "grant_coupon":
            actions.grant_coupon(run, step)
            step_id = step.get("next")
        elif kind == "send_message":
            deferred_until = actions.send(run, tx, step)
            if deferred_until is not None:
                return _finish(run, tx, "waiting", None, (deferred_until, step_id), deferred=step_id)
            step_id = step.get("next")
        elif kind == "webhook":
            actions.call_webhook(run, tx, step)
            step_id = step.get("next")
        elif kind == "create_task":
            actions.create_task(run, tx, step)
            step_id = step.get("next")
        elif kind == "exit":
            return _finish(run, tx, "completed", None, None)
    return _finish(run, tx, "waiting", None, (now + timedelta(minutes=1), step_id))


def _finish(run: Run, tx: Transaction, outcome: str, reason: str | None,
            timer: tuple[datetime, str | None] | None, deferred: str | None = None) -> dict[str, Any]:
    """Commit the run (see the module docstring), then start the timer and deliver."""
    enrolment = run.enrolment
    enrolment.steps_taken = (list(enrolment.steps_taken or []) + run.taken)[-50:]
    if outcome == "waiting" and timer is not None:
        due, resume = timer
        enrolment.seq = int(enrolment.seq) + 1
        enrolment.resume_at = resume
        enrolment.deferred_step = deferred
        store.set_timer(enrolment, timer_name(enrolment.enrolment_id, int(enrolment.seq)), clock.iso(due))
        if deferred:
            run.add(f"step:{deferred}:deferred")
    else:
        slot = store.get_slot(run.tenant_id, run.member_id, enrolment.journey_id)
        window = int((run.definition.get("goal") or {}).get("window_days", 0))
        end(tx, enrolment, slot, outcome, reason, run.now, run.bump, convert_window_days=window)
    tx.save("enrolment", enrolment)
    if run.cap_dirty:
        run.cap.sent = engine.recent_sends(list(run.cap.sent or []), run.now)
        tx.save("cap", run.cap)
    commit_counts(tx, run.tenant_id, enrolment.journey_id, run.member_id, run.bump)
    tx.commit()
    if outcome == "waiting":
        start_timer(enrolment)
    for message in run.messages:
        try:
            delivery.deliver(message, claimed=message.status == "sending")
        except Exception:  # noqa: BLE001 - committed and in the outbox: the sweeper delivers it
            obs.logger.exception("journey message delivery failed", extra={"message_id": message.message_id})
    return {"result": outcome, "reason": reason, "steps": run.taken, "resume_at": enrolment.resume_at,
            "due_at": enrolment.timer_due, "messages": [m.message_id for m in run.messages]}


def sweep(now: datetime | None = None) -> dict[str, int]:
    """The ``journey_sweeper`` schedule: start timers whose start was lost (intent committed,
    service never told), re-arm started timers long overdue (their execution failed), and
    deliver messages due for a (re)try."""
    now = now or clock.now()
    started = rearmed = 0
    for shard in range(ENROLMENT_DUE_SHARDS):
        for enrolment in store.due_enrolments(shard, clock.iso(now - SWEEP_GRACE), 500):
            if enrolment.status != "live" or not enrolment.timer_name:
                continue
            if not enrolment.timer_started:
                started += start_timer(enrolment)
            elif (parse(enrolment.timer_due) or now) < now - WATCHDOG:
                rearmed += rearm_now(enrolment)
    return {"timers_started": started, "timers_rearmed": rearmed, **delivery.sweep(now)}


def _ordered_since(enrolment: Any) -> str:
    """The time after which an order counts as "ordered since enrolment": the enrolment,
    or the order that triggered it if that one is stamped later (a brand's clock ahead
    of ours, or the same instant), so the triggering order never counts as a re-order."""
    since = enrolment.entered_at
    trigger = (enrolment.vars or {}).get("trigger") or {}
    if trigger.get("type") == "order.paid" and isinstance(trigger.get("occurred_at"), str):
        since = max(since, trigger["occurred_at"])
    return since
