"""Entering and leaving a journey.

Entering writes, in one transaction, the member's slot for the journey (version-checked:
it holds the live enrolment id, so two concurrent triggers for one member cannot both
enter), the enrolment with its first timer intent, and the ``entered`` counter. A first
step due at once runs right after the commit, in this request or event (no timer for
"now": one timer execution and one Lambda invocation saved per enrolment; the caller
passes ``runner.run_or_start``); a later one gets its timer. Either way the intent is
committed first: if the process dies before the run or the start, the enrolment sits in
the due list with ``timer_started`` false and the sweeper starts its timer (the outbox
for timers); the run's own transaction claims each message, so the step runs its sends
exactly once whichever path gets there.

Leaving (a goal, an exit rule, erasure) ends the enrolment and frees the slot in one
transaction, then cancels the timer; a timer that fires anyway finds nothing live.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from ..core import clock, observability as obs
from ..core.errors import Conflict
from ..core.ids import new_id
from ..core.table import keys
from ..core.table.transactions import StaleVersion, Transaction, TransactionCancelled, backoff, retrying
from ..tiers.rules import parse
from . import engine, store
from .catalog import ActiveJourney
from .timers import Timer, timer_name, timers

MAX_ATTEMPTS = 20
KEEP = timedelta(seconds=store.KEEP_SECONDS)
#: a Step Functions execution lasts at most a year: a later timer fires early and re-arms
LONGEST_TIMER = timedelta(days=360)


def _pause(attempt: int) -> None:
    backoff(attempt)


def timer_payload(enrolment: store.EnrolmentItem) -> dict[str, Any]:
    """What ``journey_step`` receives for the enrolment's pending timer."""
    return {"tenant_id": enrolment.tenant_id, "member_id": enrolment.member_id,
            "enrolment_id": enrolment.enrolment_id, "seq": int(enrolment.seq)}


def start_timer(enrolment: store.EnrolmentItem) -> bool:
    """Hand the enrolment's pending timer to the timer service and note it; False (logged)
    when the service could not take it: the sweeper starts it later."""
    due_at = parse(enrolment.timer_due)
    if not enrolment.timer_name or due_at is None:
        return False
    due = min(due_at, clock.now() + LONGEST_TIMER)
    timer = Timer(name=enrolment.timer_name, tenant_id=enrolment.tenant_id, due_at=due,
                  payload=timer_payload(enrolment))
    try:
        timers().start(timer)
    except Exception:  # noqa: BLE001 - the intent is committed; the sweeper retries the start
        obs.logger.exception("journey timer start failed; the sweeper will retry",
                             extra={"enrolment_id": enrolment.enrolment_id})
        return False
    store.mark_timer_started(enrolment, timer.name)
    return True


def enrol(tenant_id: str, member_id: str, journey: ActiveJourney, trigger: dict[str, Any],
          occurrence: str | None = None, first_due: datetime | None = None,
          trigger_key: str | None = None,
          then: Callable[[store.EnrolmentItem], object] = start_timer) -> tuple[str, str | None]:
    """(status, enrolment id): ``enrolled``, ``already_enrolled`` (a live enrolment
    exists), ``not_eligible`` (the re-entry rule, or, for date triggers, this occurrence
    was entered already: a yearly greeting wants ``always``), ``already_triggered`` (this
    ``trigger_key``, a signal's delivery id, enrolled the member before: a redelivery).
    Entry filters are the caller's (they need a snapshot). ``then`` gets the committed
    enrolment: starting its timer, or ``runner.run_or_start`` (a first step due now runs
    here)."""
    definition = journey.definition

    def attempt(_: int) -> tuple[str, str | None]:
        now = clock.now()
        slot = store.get_slot(tenant_id, member_id, journey.journey_id)
        if slot is not None and slot.live_enrolment_id:
            return "already_enrolled", slot.live_enrolment_id
        if occurrence is not None and slot is not None and slot.last_occurrence == occurrence:
            return "not_eligible", None  # this year's date was entered already
        if not engine.reentry_allows(
                definition.get("reentry") or {}, int(slot.entries) if slot else 0,
                parse(slot.last_entered_at) if slot else None, now):
            return "not_eligible", None
        if slot is None:
            slot = store.SlotItem(keys.member(tenant_id, member_id), store.slot_sk(journey.journey_id),
                                  journey_id=journey.journey_id, entries=0)
        enrolment_id = new_id()
        now_iso = clock.iso(now)
        slot.live_enrolment_id = enrolment_id
        slot.entries = int(slot.entries or 0) + 1
        slot.last_entered_at = now_iso
        slot.last_occurrence = occurrence or slot.last_occurrence
        slot.convert_enrolment_id = slot.convert_until = None
        slot.end_events = sorted({rule["event"]["type"] for rule in definition.get("exit_on") or []}
                                 | ({definition["goal"]["event"]["type"]} if definition.get("goal") else set()))
        enrolment = store.EnrolmentItem(
            keys.member(tenant_id, member_id), store.enrolment_sk(enrolment_id), tenant_id=tenant_id,
            member_id=member_id, journey_id=journey.journey_id, journey_version=journey.version,
            enrolment_id=enrolment_id, status="live", entered_at=now_iso, seq=1, resume_at=definition["start"],
            vars={"trigger": trigger}, steps_taken=[])
        store.set_timer(enrolment, timer_name(enrolment_id, 1), clock.iso(max(first_due or now, now)))
        tx = Transaction()
        tx.save("slot", slot)
        tx.save("enrolment", enrolment, condition=store.EnrolmentItem.pk.does_not_exist())
        if trigger_key is not None:
            store.stage_trigger_claim(tx, tenant_id, member_id, journey.journey_id, trigger_key, now)
        store.count(tx, tenant_id, journey.journey_id, "entered", member_id)
        tx.commit()  # another trigger for this member may win the slot: retrying() looks again
        enrolment.version = 1
        obs.count("JourneyEntered", tenant_id)
        entered.append(enrolment)
        return "enrolled", enrolment_id

    entered: list[store.EnrolmentItem] = []
    try:
        outcome = retrying(attempt, attempts=MAX_ATTEMPTS, retry_if=_not_triggered, pause=_pause,
                           conflict="The member's enrolment kept changing; try again.")
    except TransactionCancelled:  # this trigger (a signal's delivery id) enrolled the member before
        return "already_triggered", None
    if entered:
        then(entered[-1])
    return outcome


def _not_triggered(exc: StaleVersion | TransactionCancelled) -> bool:
    return not (isinstance(exc, TransactionCancelled) and "trigger" in exc.failed)


def end(tx: Transaction, enrolment: store.EnrolmentItem, slot: store.SlotItem | None, status: str,
        reason: str | None, now: datetime, bump: dict[str, int], convert_window_days: int = 0) -> None:
    """Stage the end of a live enrolment (completed, or exited with ``reason``)."""
    now_iso = clock.iso(now)
    enrolment.status, enrolment.exit_reason, enrolment.ended_at = status, reason, now_iso
    enrolment.resume_at = None
    enrolment.deferred_step = None
    store.set_timer(enrolment, None, None)
    enrolment.ttl = int((now + KEEP).timestamp())
    if slot is not None and slot.live_enrolment_id == enrolment.enrolment_id:
        slot.live_enrolment_id = None
        if status == "completed" and convert_window_days and not enrolment.converted_at:
            slot.convert_enrolment_id = enrolment.enrolment_id
            slot.convert_until = clock.iso(now + timedelta(days=convert_window_days))
        tx.save("slot", slot)
    if status == "completed":
        bump["completed"] = bump.get("completed", 0) + 1
    else:
        bump["exited"] = bump.get("exited", 0) + 1
        bump[f"exit:{reason}"] = bump.get(f"exit:{reason}", 0) + 1


def commit_counts(tx: Transaction, tenant_id: str, journey_id: str, member_id: str, bump: dict[str, int]) -> None:
    for name, delta in bump.items():
        if delta:
            store.count(tx, tenant_id, journey_id, name, member_id, delta)


def leave(tenant_id: str, member_id: str, enrolment_id: str, reason: str, converted: bool) -> bool:
    """End a live enrolment at once (mid-wait too) and cancel its timer; False if it had
    already ended."""
    def attempt(_: int) -> bool:
        enrolment = store.get_enrolment(tenant_id, member_id, enrolment_id)
        if enrolment is None or enrolment.status != "live":
            return False
        now = clock.now()
        pending_timer = enrolment.timer_name
        slot = store.get_slot(tenant_id, member_id, enrolment.journey_id)
        bump: dict[str, int] = {}
        if converted:
            enrolment.converted_at = clock.iso(now)
            bump["converted"] = 1
        tx = Transaction()
        end(tx, enrolment, slot, "exited", reason, now, bump)
        tx.save("enrolment", enrolment)
        commit_counts(tx, tenant_id, enrolment.journey_id, member_id, bump)
        tx.commit()  # a concurrent change cancels it: retrying() reads again
        obs.count("JourneyConverted" if converted else "JourneyExited", tenant_id)
        if pending_timer:
            try:
                timers().cancel(tenant_id, pending_timer)
            except Exception:  # noqa: BLE001 - the timer will find the enrolment ended
                obs.logger.exception("journey timer cancel failed", extra={"enrolment_id": enrolment_id})
        return True

    return retrying(attempt, attempts=MAX_ATTEMPTS, pause=_pause, conflict="The enrolment kept changing; try again.")


def convert_after_finish(tenant_id: str, member_id: str, slot: store.SlotItem) -> bool:
    """A goal event inside the conversion window of a finished enrolment: count it once."""
    journey_id = slot.journey_id

    def attempt(n: int) -> bool:
        current = slot if n == 0 else store.get_slot(tenant_id, member_id, journey_id)
        if current is None or not current.convert_enrolment_id:
            return False  # a concurrent goal event counted it
        enrolment = store.get_enrolment(tenant_id, member_id, current.convert_enrolment_id)
        if enrolment is None or enrolment.converted_at:
            return False
        enrolment.converted_at = clock.iso(clock.now())
        current.convert_enrolment_id = current.convert_until = None
        tx = Transaction()
        tx.save("enrolment", enrolment)
        tx.save("slot", current)
        store.count(tx, tenant_id, enrolment.journey_id, "converted", member_id)
        tx.commit()
        return True

    try:
        return retrying(attempt, attempts=MAX_ATTEMPTS, pause=_pause, conflict="The conversion kept changing.")
    except Conflict:
        return False  # never counted twice; a conversion lost to endless races is not counted
