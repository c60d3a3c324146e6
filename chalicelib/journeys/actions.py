"""What each step does to a member during a run (see ``runner``): tag, grant a coupon,
queue or suppress a message (consent, address, quiet hours, frequency cap, template), call
the tenant's webhook. Everything a run reads is read at most once (:class:`Run`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property, lru_cache
from typing import Any

from ..core import clock, observability as obs
from ..core.signals import Signal
from ..core.table.transactions import Transaction
from ..core.tenancy import READ, WRITE, TenantContext
from . import delivery, engine, store, templates


#: A ``create_task`` step ran: the guides capability (wired in app.py) creates the task for the
#: member's guide, once per (enrolment, step). Data: kind, title, body (rendered), due_in_days,
#: journey_id, enrolment_id, step_id.
TASK_REQUESTED = Signal("journeys.task_requested")


@lru_cache(maxsize=1)
def _coupon_secret() -> bytes:
    from ..core.app_keys import purpose_key

    return purpose_key("journey-coupons")


def system_context(tenant_id: str, journey_id: str) -> TenantContext:
    return TenantContext(tenant_id=tenant_id, principal_type="journey", principal_id=journey_id,
                         permissions=frozenset({READ, WRITE}))


@dataclass
class Run:
    """What one run reads lazily (each at most once) and what it decided."""

    enrolment: store.EnrolmentItem
    definition: dict[str, Any]
    journey_name: str
    now: datetime
    bump: dict[str, int] = field(default_factory=dict)
    messages: list[store.MessageItem] = field(default_factory=list)
    taken: list[str] = field(default_factory=list)
    cap_dirty: bool = False
    #: items the run's transaction writes besides counters (enrolment, slot, cap, messages)
    writes: int = 3
    _snapshot: Any = None

    @property
    def tenant_id(self) -> str:
        return self.enrolment.tenant_id

    @property
    def member_id(self) -> str:
        return self.enrolment.member_id

    @cached_property
    def member(self) -> Any:
        """The profile, read consistently: a consent withdrawn a moment ago counts."""
        from ..core.errors import Problem
        from ..members import service as members

        try:
            return members.get_member(system_context(self.tenant_id, self.enrolment.journey_id), self.member_id)
        except Problem:  # erased or gone
            return None

    @cached_property
    def settings(self) -> store.SettingsItem:
        return store.get_settings(self.tenant_id)

    @cached_property
    def tz(self) -> str:
        from ..tenants import service as tenants

        return tenants.tenant_settings(self.tenant_id).timezone

    @cached_property
    def cap(self) -> store.CapItem:
        return store.get_cap(self.tenant_id, self.member_id)

    def snapshot(self) -> Any:
        if self._snapshot is None:
            from ..tags import service as tags

            self._snapshot = tags.snapshots(self.tenant_id, [self.member_id]).get(self.member_id)
        return self._snapshot

    def add(self, name: str, delta: int = 1) -> None:
        self.bump[name] = self.bump.get(name, 0) + delta


def tag(run: Run, step: dict[str, Any]) -> None:
    from ..core.errors import Problem
    from ..tags import service as tags
    from ..tags.schemas import MemberTagIn

    ctx = system_context(run.tenant_id, run.enrolment.journey_id)
    try:
        if step["type"] == "add_tag":
            tags.tag_member(ctx, run.member_id, step["tag_id"], MemberTagIn())
        else:
            tags.untag_member(ctx, run.member_id, step["tag_id"])
    except Problem as problem:  # the tag was deleted since the journey was saved
        obs.logger.warning("journey tag step failed", extra={"code": problem.code, "step": step["id"]})
        run.add(f"step:{step['id']}:failed")
    run._snapshot = None  # a later branch sees the new tags


def grant_coupon(run: Run, step: dict[str, Any]) -> None:
    spec = step["coupon"]
    if spec.get("template_id"):
        _issue_coupon(run, step)
        return
    from ..activity import service as activity

    enrolment = run.enrolment
    step_key = f"{int(enrolment.seq)}:{step['id']}"
    code = engine.coupon_code(_coupon_secret(), enrolment.enrolment_id, step_key, spec.get("prefix", ""),
                              int(spec.get("length", 8)))
    expires = clock.iso(run.now + timedelta(days=int(spec["valid_days"]))) if spec.get("valid_days") else None
    coupon = {"code": code, "expires_at": expires, "description": spec.get("description")}
    enrolment.vars = {**(enrolment.vars or {}), "coupon": coupon}
    # On the member's timeline (and to journeys listening for it); the id makes a repeat a no-op.
    activity.record_domain_event(run.tenant_id, run.member_id, "coupon.granted",
                                 f"coupon.granted:{enrolment.enrolment_id}:{step_key}",
                                 {"code": code, "expires_at": expires, "journey_id": enrolment.journey_id,
                                  "description": spec.get("description")}, run.now)
    run.add(f"step:{step['id']}:sent")


def _issue_coupon(run: Run, step: dict[str, Any]) -> None:
    """A coupon of the step's template, issued once per (enrolment, step) however often the
    step runs (the coupons capability claims that cause); ``coupon.issued`` reaches the
    timeline in the same write."""
    from ..core.errors import Problem
    from ..loyalty.coupons import service as coupons

    spec = step["coupon"]
    try:
        coupon = coupons.issue_from_journey(run.tenant_id, run.member_id, spec["template_id"],
                                            run.enrolment.enrolment_id, step["id"])
    except Problem as problem:  # archived, expired or spent template, member's limit reached
        obs.logger.warning("journey coupon step failed", extra={"code": problem.code, "step": step["id"]})
        run.add(f"step:{step['id']}:failed")
        return
    run.enrolment.vars = {**(run.enrolment.vars or {}), "coupon": {
        "code": coupon.code, "expires_at": coupon.expires_at, "description": spec.get("description") or coupon.name}}
    run.add(f"step:{step['id']}:sent")


def _message(run: Run, step: dict[str, Any], kind: str, channel: str) -> store.MessageItem:
    from ..core.table import keys
    from ..core.table.definition import LIST_SHARDS

    enrolment = run.enrolment
    now_iso = clock.iso(run.now)
    item = store.MessageItem(
        enrolment.pk, store.message_sk(enrolment.enrolment_id, int(enrolment.seq), step["id"]),
        tenant_id=run.tenant_id, member_id=run.member_id, journey_id=enrolment.journey_id,
        journey_version=int(enrolment.journey_version), enrolment_id=enrolment.enrolment_id, step_id=step["id"],
        kind=kind, channel=channel, status="queued", attempts=0, created_at=now_iso, updated_at=now_iso,
        ttl=int((run.now + timedelta(seconds=store.KEEP_SECONDS)).timestamp()))
    item.gsi1pk = store.journey_messages(run.tenant_id, enrolment.journey_id,
                                         keys.shard_of(run.member_id, LIST_SHARDS))
    item.gsi1sk = f"{now_iso}#{item.message_id}"
    return item


def _claim(run: Run, tx: Transaction, item: store.MessageItem) -> None:
    """The message's key is the at-most-once claim (see the module docstring)."""
    if item.status == "queued":
        if not delivery.claim_with_step(item, run.now):
            store.list_outbox(item, item.created_at)
        run.messages.append(item)
    run.writes += 1
    tx.save(f"message:{item.step_id}", item, condition=store.MessageItem.pk.does_not_exist())


def _suppress(run: Run, item: store.MessageItem, reason: str) -> None:
    item.status, item.reason = "suppressed", reason
    run.add(f"step:{item.step_id}:suppressed")
    run.add(f"suppressed:{reason}")


def _values(run: Run, texts: list[str]) -> dict[str, Any]:
    member = run.member
    values: dict[str, Any] = {
        "member": {"id": member.id, "name": member.name, "phone": member.phone, "email": member.email,
                   "gender": member.gender, "attributes": dict(member.attributes)},
        "trigger": dict((run.enrolment.vars or {}).get("trigger") or {}),
        "coupon": dict((run.enrolment.vars or {}).get("coupon") or {}),
        "journey": {"name": run.journey_name},
    }
    if "tier" in templates.roots(texts):
        values["tier"] = _tier_values(run)
    return values


def _tier_values(run: Run) -> dict[str, Any]:
    from ..tiers import service as tiers

    ctx = system_context(run.tenant_id, run.enrolment.journey_id)
    standing = tiers.member_tier(ctx, run.member_id)
    program = tiers.load_config(run.tenant_id)
    nxt = program.program.tier(standing.progress.next_tier)
    amount = standing.progress.amount_to_next_tier
    return {
        "id": standing.tier.id if standing.tier else None,
        "name": standing.tier.name if standing.tier else None,
        "next_tier": standing.progress.next_tier,
        "next_tier_name": nxt.name if nxt else None,
        "amount_to_next_tier": f"{amount / 100:.2f} {program.currency}" if amount else None,
        "progress_message": standing.progress.message,
    }


def send(run: Run, tx: Transaction, step: dict[str, Any]) -> datetime | None:
    """Queue (or suppress) the step's message; the end of quiet hours if it must wait."""
    member = run.member
    item = _message(run, step, "message", step["channel"])
    consent = (member.consents or {}).get(step["consent"])
    address = {"email": member.email, "sms": member.phone}.get(step["channel"])
    if consent is None or not consent.granted:
        _suppress(run, item, "no_consent")
    elif step["channel"] != "webhook" and not address:
        _suppress(run, item, "no_address")
    else:
        if run.definition.get("respect_quiet_hours", True):
            quiet_end = engine.quiet_until(run.now, run.tz, run.settings.quiet_hours)
            if quiet_end is not None:
                return quiet_end
        if run.definition.get("frequency_capped", True) and engine.cap_exceeded(
                list(run.cap.sent or []), run.now, run.settings.frequency_cap):
            _suppress(run, item, "frequency_cap")
        else:
            _render_into(run, item, step)
    _claim(run, tx, item)
    return None


def _render_into(run: Run, item: store.MessageItem, step: dict[str, Any]) -> None:
    template = step["template"]
    texts = [t for t in (template.get("subject"), template.get("body")) if t]
    try:
        values = _values(run, texts)
        item.subject = templates.render(template["subject"], values, run.tz) if template.get("subject") else None
        item.body = templates.render(template["body"], values, run.tz)
    except templates.MissingVariable as exc:
        item.status, item.reason = "failed", f"template_variable_missing:{exc.path}"
        run.add(f"step:{item.step_id}:failed")
        return
    member = run.member
    item.to = {"email": member.email, "sms": member.phone}.get(step["channel"])
    if step["channel"] == "webhook":
        # what the item holds already (ids, time, subject and body) is added at delivery
        # (``delivery.webhook_payload``): the item stays small (write units go by the KB)
        item.payload = {
            "type": "journey.message", "consent": step["consent"],
            "member": {"id": member.id, "name": member.name, "phone": member.phone, "email": member.email,
                       "channel_ids": dict(member.channel_ids)},
            "coupon": (run.enrolment.vars or {}).get("coupon"),
        }
    run.cap.sent = list(run.cap.sent or []) + [item.created_at]
    run.cap_dirty = True


def call_webhook(run: Run, tx: Transaction, step: dict[str, Any]) -> None:
    item = _message(run, step, "call", "webhook")
    enrolment = run.enrolment
    item.payload = {"id": item.message_id, "type": step["event"], "created_at": item.created_at,
                    "journey_id": enrolment.journey_id, "enrolment_id": enrolment.enrolment_id,
                    "step_id": step["id"], "member_id": run.member_id, "data": dict(step.get("data") or {}),
                    "coupon": (enrolment.vars or {}).get("coupon"), "trigger": (enrolment.vars or {}).get("trigger")}
    _claim(run, tx, item)


def create_task(run: Run, tx: Transaction, step: dict[str, Any]) -> None:
    """Raise :data:`TASK_REQUESTED` in the run's transaction, with the texts rendered here
    (trigger, coupon and tier variables are the journey's)."""
    texts = [t for t in (step["title"], step.get("body")) if t]
    try:
        values = _values(run, texts)
        title = templates.render(step["title"], values, run.tz)
        body = templates.render(step["body"], values, run.tz) if step.get("body") else None
    except templates.MissingVariable as exc:
        obs.logger.warning("journey task template variable missing", extra={"step": step["id"], "path": exc.path})
        run.add(f"step:{step['id']}:failed")
        return
    enrolment = run.enrolment
    TASK_REQUESTED.stage(tx, run.tenant_id, run.member_id, {
        "kind": step["kind"], "title": title, "body": body, "due_in_days": int(step.get("due_in_days", 0)),
        "journey_id": enrolment.journey_id, "enrolment_id": enrolment.enrolment_id, "step_id": step["id"]})
    run.writes += 1
    run.add(f"step:{step['id']}:sent")
