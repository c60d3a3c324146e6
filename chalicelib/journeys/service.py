"""Journeys for the tenant API: definitions and their versions, activation, enrolling a
list, stats, the message log and messaging settings. The engine lives in ``runner``,
``triggers``, ``enrolments`` and ``delivery``.

Versioning: a journey that was never active is a draft, edited in place (version 1).
Once it has been active, every change of its definition makes a new version; new
enrolments get the current one, and each enrolment runs the version it entered.
"""
from __future__ import annotations

import json
import secrets
from typing import Any

from ..core import audit, clock, jobs, observability as obs
from ..core.errors import Conflict, NotFound, Problem, Unprocessable
from ..core.ids import is_id, new_id
from ..core.table import cursor
from ..core.table.transactions import TransactionCancelled
from ..core.tenancy import TenantContext
from ..core.config import get_settings as platform_settings
from . import catalog, delivery, store, triggers, validation
from .catalog import ActiveJourney
from .channels.webhook import check_url, loopback_allowed
from .schemas import (
    DEFINITION_FIELDS,
    DnsRecord,
    EnrolIn,
    EnrolmentList,
    EnrolmentOut,
    EnrolOut,
    EnrolResult,
    JourneyCreate,
    JourneyList,
    JourneyListQuery,
    JourneyOut,
    JourneyPatch,
    JourneyStats,
    MessageOut,
    MessagePage,
    MessageQuery,
    MessagingSettingsIn,
    MessagingSettingsOut,
    SenderDomainIn,
    SenderDomainList,
    SenderDomainOut,
    StepStats,
    VersionList,
    VersionOut,
    WebhookSecretOut,
)

INLINE_ENROL_MAX = 100
SCHEDULED_KINDS = ("date", "segment_entry")
EXIT_REASONS = ("goal", "exit_rule", "journey_archived", "no_date", "member_gone")
SUPPRESS_REASONS = ("no_consent", "no_address", "frequency_cap")


def _definition(model: JourneyCreate | dict[str, Any]) -> dict[str, Any]:
    data = model if isinstance(model, dict) else model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return {k: data[k] for k in DEFINITION_FIELDS if k in data}


def _out(item: store.JourneyItem) -> JourneyOut:
    d = item.definition
    return JourneyOut(
        id=item.journey_id, name=item.name, description=item.description, status=item.status,
        version=int(item.definition_version), trigger=d["trigger"], entry_filter=d.get("entry_filter"),
        goal=d.get("goal"), exit_on=d.get("exit_on") or [], reentry=d.get("reentry") or {"policy": "once"},
        respect_quiet_hours=d.get("respect_quiet_hours", True), frequency_capped=d.get("frequency_capped", True),
        start=d["start"], steps=d["steps"], created_at=item.created_at, updated_at=item.updated_at,
        activated_at=item.activated_at)


def _load(ctx: TenantContext, journey_id: str) -> store.JourneyItem:
    item = store.get_journey(ctx.tenant_id, journey_id) if is_id(journey_id) else None
    if item is None:
        raise NotFound("No such journey.", code="journey_not_found")
    return item


def _step_types(known: dict[str, str], definition: dict[str, Any]) -> dict[str, str]:
    return {**known, **{s["id"]: s["type"] for s in definition["steps"]}}


# --- definitions --------------------------------------------------------------------------------
def _audited(item: store.JourneyItem) -> dict[str, Any]:
    """The journey as its audit records compare it (a copy: the item changes after)."""
    return json.loads(json.dumps({"name": item.name, "description": item.description, "status": item.status,
                                  "definition": item.definition}, default=str))


def _entry(ctx: TenantContext, action: str, journey_id: str, before: dict[str, Any] | None,
           after: dict[str, Any] | None) -> audit.Entry:
    return audit.Entry(ctx.tenant_id, action, "journey", journey_id, before, after)


def create_journey(ctx: TenantContext, body: JourneyCreate) -> JourneyOut:
    definition = _definition(body)
    validation.check_definition(ctx, definition)
    now = clock.iso(clock.now())
    journey_id = new_id()
    item = store.JourneyItem(store.journeys_pk(ctx.tenant_id), store.journey_sk(journey_id), tenant_id=ctx.tenant_id,
                             journey_id=journey_id, name=body.name, description=body.description, status="draft",
                             definition_version=1, definition=definition, step_types=_step_types({}, definition),
                             created_at=now, updated_at=now)
    first = store.JourneyVersionItem(store.versions_pk(ctx.tenant_id, journey_id), store.version_sk(1),
                                     journey_id=journey_id, version_number=1, definition=definition, created_at=now)
    try:
        store.create_journey(ctx.tenant_id, item, first, _entry(ctx, "journey.created", journey_id, None,
                                                                 _audited(item)))
    except TransactionCancelled as exc:
        if "quota:journeys" in exc.failed:
            raise Unprocessable(f"A tenant has at most {store.MAX_JOURNEYS} journeys.", field="name",
                                code="limit_exceeded") from exc
        raise
    return _out(item)


def get_journey(ctx: TenantContext, journey_id: str) -> JourneyOut:
    return _out(_load(ctx, journey_id))


def list_journeys(ctx: TenantContext, query: JourneyListQuery) -> JourneyList:
    scope = f"journeys|{query.status or ''}"
    after = cursor.decode(query.cursor, ctx.tenant_id, scope) if query.cursor else ""
    items = [i for i in store.list_journeys(ctx.tenant_id) if i.sk > after
             and (query.status is None or i.status == query.status)]
    page = items[:query.limit]
    more = len(items) > query.limit
    return JourneyList(data=[_out(i) for i in page],
                       next_cursor=cursor.encode(ctx.tenant_id, scope, page[-1].sk) if more else None)


def update_journey(ctx: TenantContext, journey_id: str, patch: JourneyPatch) -> JourneyOut:
    item = _load(ctx, journey_id)
    if item.status == "archived":
        raise Conflict("An archived journey cannot change.", code="journey_archived")
    if patch.version is not None and patch.version != int(item.definition_version):
        raise Conflict(f"The journey is at version {item.definition_version}.", field="version",
                       code="version_conflict", current_version=int(item.definition_version))
    given = patch.model_fields_set
    before = _audited(item)
    data = patch.model_dump(mode="json", by_alias=True, exclude_none=True)
    changes = {k: data.get(k) for k in given if k in DEFINITION_FIELDS}
    definition = {**item.definition, **changes}
    definition = {k: v for k, v in definition.items() if v is not None}
    now = clock.iso(clock.now())
    new_version = replace_version = None
    if changes and definition != item.definition:
        validation.check_definition(ctx, definition)
        if item.ever_activated:
            number = int(item.definition_version) + 1
            new_version = store.JourneyVersionItem(store.versions_pk(ctx.tenant_id, journey_id),
                                                   store.version_sk(number),
                                                   journey_id=journey_id, version_number=number,
                                                   definition=definition, created_at=now)
            item.definition_version = number
        else:
            replace_version = store.JourneyVersionItem(store.versions_pk(ctx.tenant_id, journey_id),
                                                       store.version_sk(1),
                                                       journey_id=journey_id, version_number=1,
                                                       definition=definition, created_at=now)
        old_kind, new_kind = item.definition["trigger"]["type"], definition["trigger"]["type"]
        item.definition = definition
        item.step_types = _step_types(dict(item.step_types or {}), definition)
    else:
        old_kind = new_kind = item.definition["trigger"]["type"]
    if "name" in given and patch.name is not None:
        item.name = patch.name
    if "description" in given:
        item.description = patch.description
    item.updated_at = now
    _save(item, new_version, replace_version, _entry(ctx, "journey.updated", journey_id, before, _audited(item)))
    if item.status == "active" and old_kind != new_kind:
        store.register_scheduled(ctx.tenant_id, journey_id, new_kind if new_kind in SCHEDULED_KINDS else None)
    catalog.forget(ctx.tenant_id)
    return _out(item)


def _save(item: store.JourneyItem, new_version: store.JourneyVersionItem | None = None,
          replace_version: store.JourneyVersionItem | None = None, entry: audit.Entry | None = None) -> None:
    try:
        store.save_journey(item, new_version, replace_version, entry)
    except TransactionCancelled as exc:
        raise Conflict("The journey changed meanwhile; read it and try again.", code="version_conflict") from exc


def delete_journey(ctx: TenantContext, journey_id: str) -> None:
    item = _load(ctx, journey_id)
    if item.ever_activated:
        raise Conflict("A journey that was active keeps its history; archive it instead.", code="journey_was_active")
    try:
        store.delete_journey(ctx.tenant_id, item, _entry(ctx, "journey.deleted", journey_id, _audited(item), None))
    except TransactionCancelled as exc:
        raise Conflict("The journey changed meanwhile.", code="version_conflict") from exc
    catalog.forget(ctx.tenant_id)


def _set_status(ctx: TenantContext, journey_id: str, status: str, allowed_from: tuple[str, ...]) -> JourneyOut:
    item = _load(ctx, journey_id)
    if item.status == status:
        return _out(item)
    if item.status not in allowed_from:
        raise Conflict(f"A {item.status} journey cannot become {status}.", code="invalid_transition",
                       status_now=item.status)
    now = clock.iso(clock.now())
    previous = item.status
    if status == "active":
        validation.check_definition(ctx, item.definition)  # a tag or segment it names may be gone
        item.ever_activated = True
        item.activated_at = now
    item.status, item.updated_at = status, now
    action = {"active": "journey.activated", "paused": "journey.paused", "archived": "journey.archived"}[status]
    _save(item, entry=_entry(ctx, action, journey_id, {"status": previous}, {"status": status}))
    kind = item.definition["trigger"]["type"]
    scheduled = kind if status == "active" and kind in SCHEDULED_KINDS else None
    store.register_scheduled(ctx.tenant_id, journey_id, scheduled)
    catalog.forget(ctx.tenant_id)
    obs.count(f"Journey{status.capitalize()}", ctx.tenant_id)
    return _out(item)


def activate(ctx: TenantContext, journey_id: str) -> JourneyOut:
    return _set_status(ctx, journey_id, "active", ("draft", "paused"))


def pause(ctx: TenantContext, journey_id: str) -> JourneyOut:
    return _set_status(ctx, journey_id, "paused", ("active",))


def archive(ctx: TenantContext, journey_id: str) -> JourneyOut:
    return _set_status(ctx, journey_id, "archived", ("draft", "active", "paused"))


def versions(ctx: TenantContext, journey_id: str) -> VersionList:
    _load(ctx, journey_id)
    return VersionList(data=[VersionOut(version=int(v.version_number), created_at=v.created_at,
                                        definition=dict(v.definition))
                             for v in store.list_versions(ctx.tenant_id, journey_id)])


# --- enrolments -------------------------------------------------------------------------------------
def enrol_members(ctx: TenantContext, journey_id: str, body: EnrolIn) -> tuple[EnrolOut, bool]:
    """(result, done now): up to 100 members at once, more through a background job."""
    from ..members import service as members

    item = _load(ctx, journey_id)
    if item.status != "active":
        raise Conflict("Only an active journey enrols members.", code="journey_not_active", status_now=item.status)
    if len(body.member_ids) > INLINE_ENROL_MAX:
        job_id = new_id()
        job = jobs.start(triggers.LIST_JOB, ctx.tenant_id, {"journey_id": journey_id}, job_id=job_id,
                         inputs=body.member_ids, audited=_entry(ctx, "journey.enrolment_job_started", journey_id, None,
                                                                {"job_id": job_id, "members": len(body.member_ids)}))
        return EnrolOut(job_id=job.job_id), False
    journey = ActiveJourney(item.journey_id, item.name, int(item.definition_version), dict(item.definition))
    live = members.profiles(ctx.tenant_id, body.member_ids)
    results = []
    for member_id in body.member_ids:
        if member_id not in live:
            results.append(EnrolResult(member_id=member_id, status="member_not_found"))
            continue
        status, enrolment_id = triggers.try_enrol(ctx.tenant_id, member_id, journey, {"source": "api"})
        results.append(EnrolResult(member_id=member_id, status=status, enrolment_id=enrolment_id))
    return EnrolOut(results=results, enrolled=sum(r.status == "enrolled" for r in results)), True


def member_enrolments(ctx: TenantContext, member_id: str) -> EnrolmentList:
    from ..members import service as members

    members.get_member(ctx, member_id)  # 404 / 410 like every member route
    return EnrolmentList(data=[
        EnrolmentOut(id=e.enrolment_id, journey_id=e.journey_id, journey_version=int(e.journey_version),
                     member_id=e.member_id, status=e.status, exit_reason=e.exit_reason, converted_at=e.converted_at,
                     entered_at=e.entered_at, ended_at=e.ended_at, resume_at=e.resume_at,
                     wait_until=e.timer_due if e.status == "live" else None, steps_taken=list(e.steps_taken or []))
        for e in store.member_enrolments(ctx.tenant_id, member_id)])


# --- stats --------------------------------------------------------------------------------------------
def stats(ctx: TenantContext, journey_id: str) -> JourneyStats:
    item = _load(ctx, journey_id)
    step_types = dict(item.step_types or {})
    per_step = ("reached", "sent", "suppressed", "failed", "deferred")
    names = ["entered", "completed", "exited", "converted"] + [f"exit:{r}" for r in EXIT_REASONS] \
        + [f"suppressed:{r}" for r in SUPPRESS_REASONS] \
        + [f"step:{s}:{what}" for s in step_types for what in per_step]
    counts = store.read_counts(ctx.tenant_id, journey_id, names)
    entered = counts["entered"]
    current = [s["id"] for s in item.definition["steps"]]
    order = current + sorted(s for s in step_types if s not in current)
    return JourneyStats(
        journey_id=journey_id, entered=entered, completed=counts["completed"], exited=counts["exited"],
        live=max(0, entered - counts["completed"] - counts["exited"]),
        exit_reasons={r: counts[f"exit:{r}"] for r in EXIT_REASONS if counts[f"exit:{r}"]},
        converted=counts["converted"], conversion_rate=round(counts["converted"] / entered, 4) if entered else 0.0,
        suppressed_reasons={r: counts[f"suppressed:{r}"] for r in SUPPRESS_REASONS if counts[f"suppressed:{r}"]},
        steps=[StepStats(step_id=s, type=step_types.get(s), **{w: counts[f"step:{s}:{w}"] for w in per_step})
               for s in order],
    )


# --- messages ------------------------------------------------------------------------------------------
def _message_out(m: store.MessageItem) -> MessageOut:
    return MessageOut(
        id=m.message_id, member_id=m.member_id, journey_id=m.journey_id, journey_version=int(m.journey_version),
        enrolment_id=m.enrolment_id, step_id=m.step_id, kind=m.kind, channel=m.channel, status=m.status,
        reason=m.reason, attempts=int(m.attempts or 0),
        next_attempt_at=m.next_attempt_at if m.status == "queued" else None,
        provider_response=m.provider_response, provider_message_id=m.provider_message_id, subject=m.subject,
        body=m.body, created_at=m.created_at, updated_at=m.updated_at, sent_at=m.sent_at)


def list_messages(ctx: TenantContext, query: MessageQuery) -> MessagePage:
    scope = f"messages|{query.member_id or ''}|{query.journey_id or ''}"
    before = cursor.decode(query.cursor, ctx.tenant_id, scope) if query.cursor else None
    if query.member_id:
        items, last = store.member_messages(ctx.tenant_id, query.member_id, query.journey_id, before, query.limit)
    else:
        _load(ctx, query.journey_id or "")
        items, last = store.journey_messages_page(ctx.tenant_id, query.journey_id or "", before, query.limit)
    return MessagePage(data=[_message_out(m) for m in items],
                       next_cursor=cursor.encode(ctx.tenant_id, scope, last) if last else None)


# --- settings --------------------------------------------------------------------------------------------
def _settings_out(item: store.SettingsItem) -> MessagingSettingsOut:
    return MessagingSettingsOut(quiet_hours=item.quiet_hours, frequency_cap=item.frequency_cap,
                                webhook_url=item.webhook_url, webhook_secret_prefix=item.webhook_secret_prefix,
                                email_from=item.email_from, sms_daily_cap=delivery.sms_daily_cap(item),
                                updated_at=item.updated_at)


def get_settings(ctx: TenantContext) -> MessagingSettingsOut:
    return _settings_out(store.get_settings(ctx.tenant_id))


def put_settings(ctx: TenantContext, body: MessagingSettingsIn) -> MessagingSettingsOut:
    if body.webhook_url:
        problem = check_url(body.webhook_url, allow_loopback=loopback_allowed())
        if problem:
            raise Unprocessable(f"webhook_url: {problem}", field="webhook_url", code="invalid_webhook_url")
    if body.email_from:
        _check_sender(ctx, body.email_from)
    ceiling = platform_settings().sms_daily_cap_max
    if body.sms_daily_cap is not None and body.sms_daily_cap > ceiling:
        raise Unprocessable(f"sms_daily_cap: at most {ceiling}", field="sms_daily_cap", code="sms_daily_cap_too_high")
    item = store.get_settings(ctx.tenant_id)
    before = _settings_out(item).model_dump(mode="json", exclude={"updated_at"})
    item.quiet_hours = body.quiet_hours.model_dump() if body.quiet_hours else None
    item.frequency_cap = body.frequency_cap.model_dump() if body.frequency_cap else None
    item.webhook_url, item.email_from = body.webhook_url, body.email_from
    item.sms_daily_cap = body.sms_daily_cap
    item.updated_at = clock.iso(clock.now())
    after = _settings_out(item)
    store.save_settings(item, audit.Entry(ctx.tenant_id, "messaging_settings.replaced", "messaging_settings",
                                          ctx.tenant_id, before, after.model_dump(mode="json", exclude={"updated_at"})))
    return after


#: SES's verification states, as the API shows them
_DOMAIN_STATUS = {"Success": "verified", "Failed": "failed"}
MAX_SENDER_DOMAINS = 20


class _SesAdapter:
    """The SES channel adapter's domain calls; an SES failure is a 503 (nothing decided)."""

    def __init__(self) -> None:
        from .channels import channel

        self.channel: Any = channel("email")  # the SES adapter: it owns the SES client

    def _call(self, name: str, *args: Any) -> Any:
        try:
            return getattr(self.channel, name)(*args)
        except Exception as exc:  # any SES failure: the caller may try again
            obs.logger.warning("SES call failed", extra={"call": name, "error": type(exc).__name__})
            raise Problem("SES did not answer; try again", status=503, code="ses_unavailable",
                          title="Service unavailable") from exc

    def register_domain(self, domain: str) -> str:
        return str(self._call("register_domain", domain))

    def verification_status(self, domains: list[str]) -> dict[str, str]:
        return dict(self._call("verification_status", domains))


def _ses() -> _SesAdapter:
    return _SesAdapter()


def _check_sender(ctx: TenantContext, email_from: str) -> None:
    """An email_from only on one of the tenant's sender domains that SES has verified: the
    platform's SES identities must not send as another brand."""
    domain = email_from.rsplit("@", 1)[1].lower()
    if store.get_sender_domain(ctx.tenant_id, domain) is None:
        raise Unprocessable(f"email_from: {domain} is not one of your sender domains "
                            "(POST /v1/messaging/sender-domains)", field="email_from", code="sender_domain_unknown")
    if _ses().verification_status([domain]).get(domain) != "Success":
        raise Unprocessable(f"email_from: {domain} is not verified yet (publish its DNS record)",
                            field="email_from", code="sender_domain_unverified")


def _domain_out(item: store.SenderDomainItem, ses_status: str) -> SenderDomainOut:
    status = _DOMAIN_STATUS.get(ses_status, "pending")
    record = (DnsRecord(type="TXT", name=f"_amazonses.{item.domain}", value=item.verification_token)
              if item.verification_token and status != "verified" else None)
    return SenderDomainOut(domain=item.domain, status=status, dns_record=record,  # type: ignore[arg-type]
                           created_at=item.created_at)


def register_sender_domain(ctx: TenantContext, body: SenderDomainIn) -> SenderDomainOut:
    """Claim the domain for this tenant (one tenant per domain) and start SES's verification."""
    domain = body.domain.lower()
    item = store.get_sender_domain(ctx.tenant_id, domain)
    if item is None:
        if len(store.sender_domains(ctx.tenant_id)) >= MAX_SENDER_DOMAINS:
            raise Unprocessable(f"at most {MAX_SENDER_DOMAINS} sender domains", field="domain",
                                code="too_many_sender_domains")
        item = store.SenderDomainItem(store.settings_pk(ctx.tenant_id), store.sender_domain_sk(domain),
                                      domain=domain, created_at=clock.iso(clock.now()))
        try:
            store.add_sender_domain(ctx.tenant_id, item, audit.Entry(
                ctx.tenant_id, "sender_domain.registered", "sender_domain", domain, None, {"domain": domain}))
        except store.DomainTaken as exc:
            raise Conflict(f"{domain} is registered by another account", field="domain",
                           code="sender_domain_taken") from exc
    item.verification_token = _ses().register_domain(domain)
    store.save_sender_domain(item)
    return _domain_out(item, _ses().verification_status([domain]).get(domain, "NotStarted"))


def list_sender_domains(ctx: TenantContext) -> SenderDomainList:
    items = store.sender_domains(ctx.tenant_id)
    states = _ses().verification_status([i.domain for i in items]) if items else {}
    return SenderDomainList(data=[_domain_out(i, states.get(i.domain, "NotStarted")) for i in items])


def rotate_webhook_secret(ctx: TenantContext) -> WebhookSecretOut:
    """A new signing secret, shown once (webhooks sign with it from now on)."""
    secret = "whsec_" + secrets.token_urlsafe(32)
    item = store.get_settings(ctx.tenant_id)
    previous = item.webhook_secret
    item.webhook_secret, item.webhook_secret_prefix = secret, secret[:12]
    item.updated_at = clock.iso(clock.now())
    store.save_settings(item, audit.Entry(ctx.tenant_id, "messaging_settings.webhook_secret_rotated",
                                          "messaging_settings", ctx.tenant_id,
                                          {"webhook_secret": previous}, {"webhook_secret": secret}))
    return WebhookSecretOut(secret=secret, prefix=secret[:12], created_at=item.updated_at)
