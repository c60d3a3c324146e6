"""What enrols members and what ends enrolments early.

Receivers of other capabilities' signals (``core.signals``, wired in app.py) run after
those capabilities committed their change, at least once; a redelivered signal enrols once
(its delivery id is claimed in the enrolment's transaction) and a receiver that could not
do everything raises, so the outbox delivers it again:

* :func:`on_event` (every accepted event and domain event): first goals and exit rules of
  the member's live enrolments, of the version each entered (a goal ends the enrolment at
  once, mid-wait too, and cancels its timer), and goals inside a finished enrolment's
  conversion window; then event and membership triggers of active journeys.
* :func:`on_standing_change` (tier and stage moves), :func:`on_tag_change`.

Schedules: :func:`run_scheduled` (hourly) starts one job per date-triggered journey and
tenant-local day (birthdays), and one per segment-entry journey and hour. Every entry
goes through :func:`enrolments.enrol`, so repeats and races enrol once.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ..core import clock, jobs, observability as obs
from ..core.signals import Delivery
from ..core.table.definition import MEMBER_LIST_SHARDS
from ..segments import filters
from . import catalog, engine, runner, store
from .catalog import ActiveJourney
from .enrolments import convert_after_finish, enrol, leave
from .validation import expand_condition

DATE_JOB, SEGMENT_JOB, LIST_JOB = "journey_date_entry", "journey_segment_entry", "journey_list_entry"
PAGE = 100
MAX_TRIGGER_FIELDS = 30


def trigger_fields(event: dict[str, Any]) -> dict[str, Any]:
    """The event's scalar fields (and interaction properties), for templates' ``trigger.*``."""
    fields = {k: v for k, v in (event.get("properties") or {}).items() if not isinstance(v, (dict, list))}
    fields.update({k: v for k, v in event.items() if not isinstance(v, (dict, list))})
    return dict(list(fields.items())[:MAX_TRIGGER_FIELDS])


def _entry_allowed(tenant_id: str, member_id: str, journey: ActiveJourney) -> bool:
    tree = journey.definition.get("entry_filter")
    if not tree:
        return True
    from ..tags import service as tags

    now = clock.now()
    snap = tags.snapshots(tenant_id, [member_id]).get(member_id)
    return snap is not None and filters.matches(expand_condition(tree, clock.iso(now)), snap, now)


def try_enrol(tenant_id: str, member_id: str, journey: ActiveJourney, trigger: dict[str, Any],
              occurrence: str | None = None, first_due: datetime | None = None,
              trigger_key: str | None = None) -> tuple[str, str | None]:
    if not _entry_allowed(tenant_id, member_id, journey):
        return "not_eligible", None
    return enrol(tenant_id, member_id, journey, trigger, occurrence, first_due, trigger_key=trigger_key,
                 then=lambda enrolment: runner.run_or_start(enrolment, journey))


class TriggerFailed(Exception):
    """Raised after every journey had its turn, so the signal is delivered again."""


class _EachJourney:
    """Runs one action per journey so that one journey's failure does not stop the
    others, then raises if any failed: the outbox redelivers the signal, and the actions
    that succeeded are idempotent (claimed enrolments, ended enrolments stay ended)."""

    def __init__(self) -> None:
        self.failed: list[str] = []

    def __call__(self, what: str, action: Any) -> None:
        try:
            action()
        except Exception:  # noqa: BLE001 - one journey's failure must not stop the others
            obs.logger.exception("journey trigger failed", extra={"what": what})
            self.failed.append(what)

    def __enter__(self) -> _EachJourney:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None and self.failed:
            raise TriggerFailed(f"journey triggers failed: {sorted(set(self.failed))}")


# --- events ---------------------------------------------------------------------------------
def on_event(delivery: Delivery) -> None:
    """Receiver of ``activity.EVENT_RECORDED``. A redelivery enrols nobody twice (the
    delivery id is claimed with the enrolment) and ends nothing twice."""
    tenant_id, member_id, event = delivery.tenant_id, delivery.member_id, delivery.data["event"]
    assert member_id is not None
    known = catalog.current(tenant_id, member_id)  # one small read: journeys activated a moment ago count
    if not known.ever_activated:
        return  # the common case for a tenant without journeys: nothing more is read
    with _EachJourney() as safely:
        _end_by_event(tenant_id, member_id, event, safely)
        for journey in known.active:
            spec = engine.trigger_event(journey.definition["trigger"])
            if spec is not None and engine.event_matches(spec, event):
                safely(journey.journey_id, lambda j=journey: try_enrol(
                    tenant_id, member_id, j, trigger_fields(event), trigger_key=delivery.id))


def wants_event(tenant_id: str, data: dict[str, Any]) -> bool:  # noqa: ARG001 - the Signal.connect shape
    """``wants`` of :func:`on_event`: only a tenant that ever had an active journey (one may
    enrol the member, or the member may be inside one whose goal the event is)."""
    return catalog.current(tenant_id).ever_activated


def _end_by_event(tenant_id: str, member_id: str, event: dict[str, Any], safely: _EachJourney) -> None:
    """Goals and exit rules of the member's enrolments (one Query of the member's slots)."""
    slots = store.member_slots(tenant_id, member_id)
    now_iso = clock.iso(clock.now())
    for slot in slots:
        if slot.end_events is not None and event.get("type") not in slot.end_events:
            continue
        if slot.live_enrolment_id:
            enrolment = store.get_enrolment(tenant_id, member_id, slot.live_enrolment_id)
            if enrolment is None or enrolment.status != "live":
                continue
            definition = catalog.definition(tenant_id, slot.journey_id, int(enrolment.journey_version)) or {}
            goal = definition.get("goal")
            if goal and engine.event_matches(goal["event"], event):
                safely(slot.journey_id, lambda e=enrolment: leave(tenant_id, member_id, e.enrolment_id, "goal", True))
            elif any(engine.event_matches(rule["event"], event) for rule in definition.get("exit_on") or []):
                safely(slot.journey_id,
                        lambda e=enrolment: leave(tenant_id, member_id, e.enrolment_id, "exit_rule", False))
        elif slot.convert_enrolment_id and slot.convert_until and slot.convert_until > now_iso:
            enrolment = store.get_enrolment(tenant_id, member_id, slot.convert_enrolment_id)
            definition = (catalog.definition(tenant_id, slot.journey_id, int(enrolment.journey_version))
                          if enrolment else None) or {}
            goal = definition.get("goal")
            if goal and engine.event_matches(goal["event"], event):
                safely(slot.journey_id, lambda s=slot: convert_after_finish(tenant_id, member_id, s))


def on_standing_change(delivery: Delivery) -> None:
    """Receiver of ``tiers.STANDING_CHANGED`` (tier and stage moves)."""
    from ..tiers import service as tiers

    tenant_id, member_id, changes = delivery.tenant_id, delivery.member_id, tiers.changes_of(delivery.data)
    assert member_id is not None
    journeys = [j for j in catalog.active_journeys(tenant_id, member_id)
                if j.definition["trigger"]["type"] in ("tier_changed", "stage_changed")]
    if not journeys:
        return
    program = tiers.load_config(tenant_id).program
    with _EachJourney() as safely:
        for change in changes:
            fields = {"dimension": change.dimension, "old": change.old, "new": change.new, "reason": change.reason}
            for journey in journeys:
                trigger = journey.definition["trigger"]
                if change.dimension == "tier" and trigger["type"] == "tier_changed":
                    hit = engine.tier_move_matches(trigger, change.old, change.new, program.rank(change.old),
                                                   program.rank(change.new))
                elif change.dimension == "stage" and trigger["type"] == "stage_changed":
                    hit = engine.stage_move_matches(trigger, change.old, change.new)
                else:
                    continue
                if hit:
                    safely(journey.journey_id, lambda j=journey, f=fields: try_enrol(
                        tenant_id, member_id, j, f, trigger_key=delivery.id))


def on_tag_change(delivery: Delivery) -> None:
    """Receiver of ``tags.TAG_CHANGED``."""
    tenant_id, member_id = delivery.tenant_id, delivery.member_id
    tag_id, added = delivery.data["tag_id"], bool(delivery.data["added"])
    assert member_id is not None
    kind = "tag_added" if added else "tag_removed"
    with _EachJourney() as safely:
        for journey in catalog.active_journeys(tenant_id, member_id):
            trigger = journey.definition["trigger"]
            if trigger["type"] == kind and trigger["tag_id"] == tag_id:
                safely(journey.journey_id, lambda j=journey: try_enrol(
                    tenant_id, member_id, j, {"tag_id": tag_id, "added": added}, trigger_key=delivery.id))


def forget_member(delivery: Delivery) -> None:
    """Erasure hook: end live enrolments (cancelling their timers) before the member's items go."""
    tenant_id, member_id = delivery.tenant_id, delivery.member_id
    assert member_id is not None
    for slot in store.member_slots(tenant_id, member_id):
        if slot.live_enrolment_id:
            leave(tenant_id, member_id, slot.live_enrolment_id, "member_gone", False)


# --- scheduled triggers ---------------------------------------------------------------------
def run_scheduled(now: datetime | None = None, tenant_ids: list[str] | None = None) -> dict[str, int]:
    """Start today's date-entry job and this hour's segment-entry job of every journey that
    has one (job ids derived from journey and period: a repeated schedule starts nothing);
    ``tenant_ids`` restricts it (an operator re-running it for some tenants)."""
    from ..tenants import service as tenants

    now = now or clock.now()
    started: list[str] = []
    for entry in store.scheduled_journeys():
        if tenant_ids is not None and entry.tenant_id not in tenant_ids:
            continue
        if entry.kind == "date":
            day = engine.local_date(now, tenants.tenant_settings(entry.tenant_id).timezone)
            job_id, kind, params = f"JDATE-{entry.journey_id}-{day:%Y%m%d}", DATE_JOB, {"day": day.isoformat()}
        else:
            job_id, kind, params = f"JSEG-{entry.journey_id}-{now:%Y%m%d%H}", SEGMENT_JOB, {"run": f"{now:%Y%m%d%H}"}
        started.append(jobs.start(kind, entry.tenant_id, {"journey_id": entry.journey_id, **params},
                                  job_id=job_id).job_id)
    return {"jobs": len(started)}


def _journey(tenant_id: str, journey_id: str) -> ActiveJourney | None:
    return next((j for j in catalog.active_journeys(tenant_id) if j.journey_id == journey_id), None)


def _member_page(tenant_id: str, checkpoint: dict[str, Any]) -> tuple[list[str], dict[str, Any] | None]:
    from ..members import service as members

    shard, after = checkpoint.get("shard", 0), checkpoint.get("after")
    page = members.member_ids_page(tenant_id, None, shard, after, PAGE)
    if len(page) >= PAGE:
        return [m for _, m in page], {**checkpoint, "shard": shard, "after": page[-1][0]}
    if shard + 1 < MEMBER_LIST_SHARDS:
        return [m for _, m in page], {**checkpoint, "shard": shard + 1, "after": None}
    return [m for _, m in page], None


def _date_step(tenant_id: str | None, params: dict[str, Any], checkpoint: dict[str, Any] | None) -> jobs.Step:
    """One page of candidates: those whose date falls ``days_before`` after the local day
    enter, their first step at the trigger's local time. Birthdays read that day's members
    from the birthday index; other date attributes (and birthdays until a tenant's index is
    complete) walk the member list. The choice is made once per job, in its checkpoint."""
    assert tenant_id is not None
    from ..members import service as members
    from ..tenants import service as tenants

    journey = _journey(tenant_id, params["journey_id"])
    if journey is None:
        return jobs.Step(checkpoint=None)
    trigger = journey.definition["trigger"]
    attribute = trigger.get("attribute", "birthday")
    day = datetime.fromisoformat(params["day"]).date()
    target = day + timedelta(days=int(trigger.get("days_before", 0)))
    first_due = engine.at_local(day, trigger.get("at", "10:00"), tenants.tenant_settings(tenant_id).timezone)
    cp = dict(checkpoint or {})
    if "mode" not in cp:
        cp["mode"] = "index" if attribute == "birthday" and members.ensure_birthday_index(tenant_id) else "walk"
    mode = cp.pop("mode")
    if mode == "index":
        ids, nxt = members.birthday_member_ids(tenant_id, target, cp or None)
    else:
        ids, nxt = _member_page(tenant_id, cp)
    changed = 0
    for member_id, profile in members.profiles(tenant_id, ids).items():
        value = profile.birthday if attribute == "birthday" else profile.attributes.get(attribute)
        if engine.is_yearly_match(value, target):
            status, _ = try_enrol(tenant_id, member_id, journey, {"date": target.isoformat(), "attribute": attribute},
                                  occurrence=target.isoformat(), first_due=first_due)
            changed += status == "enrolled"
    return jobs.Step(checkpoint={**nxt, "mode": mode} if nxt is not None else None, processed=len(ids),
                     changed=changed)


def _segment_step(tenant_id: str | None, params: dict[str, Any], checkpoint: dict[str, Any] | None) -> jobs.Step:
    """Phase 1 walks the segment: members not in it at the previous run enter. Phase 2
    forgets members who left, so they can enter again when they come back."""
    assert tenant_id is not None
    from ..core.errors import NotFound
    from ..segments import service as segments
    from .actions import system_context

    journey = _journey(tenant_id, params["journey_id"])
    if journey is None:
        return jobs.Step(checkpoint=None)
    trigger = journey.definition["trigger"]
    run = params["run"]
    cp = dict(checkpoint or {"phase": "match", "position": None})
    registry = next((e for e in store.scheduled_journeys() if e.journey_id == journey.journey_id), None)
    first_run = registry is not None and not registry.runs
    if cp["phase"] == "match":
        try:
            ids, position = segments.page_ids(system_context(tenant_id, journey.journey_id), trigger["segment_id"],
                                              cp["position"], PAGE)
        except NotFound:
            return jobs.Step(checkpoint=None)
        changed = 0
        for member_id in ids:
            entered = store.mark_in_segment(tenant_id, journey.journey_id, member_id, run)
            if entered and (trigger.get("enrol_existing") or not cp.get("baseline", first_run)):
                status, _ = try_enrol(tenant_id, member_id, journey, {"segment_id": trigger["segment_id"]})
                changed += status == "enrolled"
        cp.setdefault("baseline", first_run)
        if position is None:
            return jobs.Step(checkpoint={**cp, "phase": "sweep", "after": None}, processed=len(ids), changed=changed)
        return jobs.Step(checkpoint={**cp, "position": position}, processed=len(ids), changed=changed)
    markers = store.markers_page(tenant_id, journey.journey_id, cp.get("after"), PAGE)
    for marker in markers:
        if marker.run != run:
            store.forget_marker(marker)
    if len(markers) < PAGE:
        if registry is not None:
            store.count_segment_run(registry)
        return jobs.Step(checkpoint=None, processed=len(markers))
    return jobs.Step(checkpoint={**cp, "after": markers[-1].sk}, processed=len(markers))


def _list_step(tenant_id: str | None, params: dict[str, Any], checkpoint: dict[str, Any] | None) -> jobs.Step:
    """Enrols a list given to ``POST /v1/journeys/{id}/enrolments`` (more than fit a request)."""
    assert tenant_id is not None
    from ..members import service as members

    journey = _journey(tenant_id, params["journey_id"])
    if journey is None:
        return jobs.Step(checkpoint=None)
    offset = (checkpoint or {}).get("offset", 0)
    ids = jobs.inputs(tenant_id, params["job_id"], offset, PAGE)
    live = members.profiles(tenant_id, ids)
    changed, errors = 0, []
    for n, member_id in enumerate(ids):
        if member_id not in live:
            errors.append({"item": str(offset + n), "code": "member_not_found", "detail": member_id})
            continue
        status, _ = try_enrol(tenant_id, member_id, journey, {"source": "api"})
        changed += status == "enrolled"
    nxt = {"offset": offset + len(ids)} if len(ids) == PAGE else None
    return jobs.Step(checkpoint=nxt, processed=len(ids), changed=changed, errors=errors)


jobs.register(DATE_JOB, _date_step)
jobs.register(SEGMENT_JOB, _segment_step)
jobs.register(LIST_JOB, _list_step)

__all__ = ["on_event", "on_standing_change", "on_tag_change", "forget_member", "run_scheduled", "try_enrol"]
