"""Journey items and their keys (all tenant-prefixed except the platform-wide work lists
the schedules read, which name the tenant inside).

* ``T#<t>#JOURNEYS`` / ``J#<id>``: the journey (status, current definition and version).
* ``T#<t>#JOURNEY#<id>`` / ``V#<n>``: immutable definition versions (enrolments pin one).
* In the member's collection ``T#<t>#M#<member>``:
  ``JSLOT#<journey>``: one per member and journey, holds the live enrolment id; entering
  is a version-checked write of it, so a member never has two live enrolments of a journey;
  ``ENR#<enrolment>``: the enrolment (position, pending timer, variables);
  ``JMSG#<enrolment>#<seq>#<step>``: a message; its key is the at-most-once claim;
  ``JCAP``: the member's recent sends, for the frequency cap across journeys.
* Lists (sparse, sharded GSIs): messages by journey (GSI1 ``T#<t>#JMSGS#<journey>#<n>``);
  messages awaiting delivery (GSI2 ``PLATFORM#JOUTBOX#<n>`` by next attempt); live
  enrolments by timer due time (GSI2 ``PLATFORM#JDUE#<n>``: the timer outbox the sweeper
  repairs from); local timers by due time (GSI1 ``PLATFORM#JTIMERS#<n>``).
* Messaging settings ``T#<t>#JSETTINGS`` / ``SETTINGS``, and beside them the tenant's
  sender domains ``SENDER#<domain>``; each domain claimed platform-wide by one tenant
  (``PLATFORM#SENDER_DOMAIN#<domain>`` / ``CLAIM``).
"""
from __future__ import annotations

import heapq
from datetime import datetime
from collections.abc import Iterator

from pynamodb.attributes import BooleanAttribute, JSONAttribute, NumberAttribute, UnicodeAttribute, VersionAttribute
from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, UpdateError

from ..core import clock
from ..core.audit import Entry
from ..core.table import counters, generations, keys, limits
from ..core.table.definition import ENROLMENT_DUE_SHARDS, JOURNEY_LIST_SHARDS, LIST_SHARDS
from ..core.table.model import TableItem
from ..core.table.transactions import (
    StaleVersion,
    Transaction,
    TransactionCancelled,
    backoff,
    is_condition_failure,
    save_versioned,
)

MAX_JOURNEYS = 100
SETTINGS_SK = "SETTINGS"
CLAIM_SK = "CLAIM"
CAP_SK = "JCAP"
TIMER_SK = "TIMER"
SCHEDULED_PK = "PLATFORM#JSCHEDULED"
#: ended enrolments and messages are kept this long (then DynamoDB's TTL removes them)
KEEP_SECONDS = 400 * 86400


# --- keys ---------------------------------------------------------------------------------------
def journeys_pk(tenant_id: str) -> str:
    return f"T#{tenant_id}#JOURNEYS"


def journey_sk(journey_id: str) -> str:
    return f"J#{journey_id}"


def versions_pk(tenant_id: str, journey_id: str) -> str:
    return f"T#{tenant_id}#JOURNEY#{journey_id}"


def version_sk(version: int) -> str:
    return f"V#{version:06d}"


def slot_sk(journey_id: str) -> str:
    return f"JSLOT#{journey_id}"


def enrolment_sk(enrolment_id: str) -> str:
    return f"ENR#{enrolment_id}"


def message_sk(enrolment_id: str, seq: int, step_id: str) -> str:
    return f"JMSG#{enrolment_id}#{seq:05d}#{step_id}"


def sender_domain_sk(domain: str) -> str:
    return f"SENDER#{domain}"


def sender_domain_claim_pk(domain: str) -> str:
    """Platform-wide: one tenant per sender domain (SES verifies a domain for the whole
    account, so a second tenant must not ride on the first one's verification)."""
    return f"PLATFORM#SENDER_DOMAIN#{domain}"


def settings_pk(tenant_id: str) -> str:
    return f"T#{tenant_id}#JSETTINGS"


def journey_messages(tenant_id: str, journey_id: str, shard: int) -> str:
    return f"T#{tenant_id}#JMSGS#{journey_id}#{shard}"


def outbox(shard: int) -> str:
    return f"PLATFORM#JOUTBOX#{shard}"


def due_list(shard: int) -> str:
    return f"PLATFORM#JDUE#{shard}"


def timers_list(shard: int) -> str:
    return f"PLATFORM#JTIMERS#{shard}"


def timer_pk(tenant_id: str, name: str) -> str:
    return f"T#{tenant_id}#JTIMER#{name}"


def segment_markers(tenant_id: str, journey_id: str) -> str:
    return f"T#{tenant_id}#JSEGIN#{journey_id}"


def counter(tenant_id: str, journey_id: str, what: str) -> str:
    return keys.counter(tenant_id, "journey", f"{journey_id}#{what}")


# --- items ----------------------------------------------------------------------------------------
class JourneyItem(TableItem, discriminator="journey"):
    tenant_id = UnicodeAttribute()
    journey_id = UnicodeAttribute()
    name = UnicodeAttribute()
    description = UnicodeAttribute(null=True)
    status = UnicodeAttribute()  # draft | active | paused | archived
    definition_version = NumberAttribute()
    definition = JSONAttribute()
    #: every step id of every version (stats list them all)
    step_types = JSONAttribute(default=dict)
    ever_activated = BooleanAttribute(default=False)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    activated_at = UnicodeAttribute(null=True)
    revision = VersionAttribute()


class JourneyVersionItem(TableItem, discriminator="journey_version"):
    journey_id = UnicodeAttribute()
    version_number = NumberAttribute()
    definition = JSONAttribute()
    created_at = UnicodeAttribute()


class SlotItem(TableItem, discriminator="journey_slot"):
    journey_id = UnicodeAttribute()
    live_enrolment_id = UnicodeAttribute(null=True)
    entries = NumberAttribute(default=0)
    last_entered_at = UnicodeAttribute(null=True)
    #: the yearly date (date triggers) the member last entered for
    last_occurrence = UnicodeAttribute(null=True)
    #: after finishing: a goal event until then still counts as the enrolment's conversion
    convert_enrolment_id = UnicodeAttribute(null=True)
    convert_until = UnicodeAttribute(null=True)
    #: event types that can end (or convert) the member's enrolment of the version entered:
    #: other events skip reading the enrolment
    end_events = JSONAttribute(null=True)
    version = VersionAttribute()


class EnrolmentItem(TableItem, discriminator="enrolment"):
    tenant_id = UnicodeAttribute()
    member_id = UnicodeAttribute()
    journey_id = UnicodeAttribute()
    journey_version = NumberAttribute()
    enrolment_id = UnicodeAttribute()
    status = UnicodeAttribute()  # live | completed | exited
    exit_reason = UnicodeAttribute(null=True)
    converted_at = UnicodeAttribute(null=True)
    entered_at = UnicodeAttribute()
    ended_at = UnicodeAttribute(null=True)
    #: timer generation: every timer gets the next number (its name is derived from it)
    seq = NumberAttribute(default=0)
    #: the step to run when the pending timer fires (None with no timer)
    resume_at = UnicodeAttribute(null=True)
    #: the pending timer: its name, due time, and whether the timer service has it yet
    timer_name = UnicodeAttribute(null=True)
    timer_due = UnicodeAttribute(null=True)
    timer_started = BooleanAttribute(default=False)
    #: a send deferred by quiet hours resumes here (reached once, not twice)
    deferred_step = UnicodeAttribute(null=True)
    #: trigger fields and granted coupons, for templates
    vars = JSONAttribute(default=dict)
    steps_taken = JSONAttribute(default=list)
    version = VersionAttribute()


class MessageItem(TableItem, discriminator="journey_message"):
    tenant_id = UnicodeAttribute()
    member_id = UnicodeAttribute()
    journey_id = UnicodeAttribute()
    journey_version = NumberAttribute()
    enrolment_id = UnicodeAttribute()
    step_id = UnicodeAttribute()
    kind = UnicodeAttribute()  # message | call
    channel = UnicodeAttribute()  # email | sms | webhook
    status = UnicodeAttribute()  # queued | sending | sent | failed | suppressed
    reason = UnicodeAttribute(null=True)
    attempts = NumberAttribute(default=0)
    next_attempt_at = UnicodeAttribute(null=True)
    lease_until = UnicodeAttribute(null=True)
    to = UnicodeAttribute(null=True)
    subject = UnicodeAttribute(null=True)
    body = UnicodeAttribute(null=True)
    payload = JSONAttribute(null=True)
    provider_response = UnicodeAttribute(null=True)
    provider_message_id = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    sent_at = UnicodeAttribute(null=True)
    version = VersionAttribute()

    @property
    def message_id(self) -> str:
        return self.sk[len("JMSG#"):].replace("#", ".")


class CapItem(TableItem, discriminator="journey_cap"):
    sent = JSONAttribute(default=list)
    version = VersionAttribute()


class SettingsItem(TableItem, discriminator="messaging_settings"):
    quiet_hours = JSONAttribute(null=True)
    frequency_cap = JSONAttribute(null=True)
    webhook_url = UnicodeAttribute(null=True)
    webhook_secret = UnicodeAttribute(null=True)
    webhook_secret_prefix = UnicodeAttribute(null=True)
    email_from = UnicodeAttribute(null=True)
    #: SMS a day (UTC) for the tenant; None: the stage's default (``ENCLAVE_SMS_DAILY_CAP``)
    sms_daily_cap = NumberAttribute(null=True)
    updated_at = UnicodeAttribute(null=True)


class SenderDomainItem(TableItem, discriminator="sender_domain"):
    """A tenant's sender domain, beside its messaging settings."""

    domain = UnicodeAttribute()
    verification_token = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()


class SenderDomainClaimItem(TableItem, discriminator="sender_domain_claim"):
    tenant_id = UnicodeAttribute()


class LocalTimerItem(TableItem, discriminator="journey_timer"):
    name = UnicodeAttribute()
    tenant_id = UnicodeAttribute()
    due_at = UnicodeAttribute()
    payload = JSONAttribute()
    lease_until = UnicodeAttribute(null=True)


class ScheduledJourneyItem(TableItem, discriminator="scheduled_journey"):
    tenant_id = UnicodeAttribute()
    journey_id = UnicodeAttribute()
    kind = UnicodeAttribute()  # date | segment_entry
    #: segment-entry evaluations finished (the first one only records who is in)
    runs = NumberAttribute(default=0)


class SegmentMarkerItem(TableItem, discriminator="journey_segment_marker"):
    member_id = UnicodeAttribute()
    run = UnicodeAttribute()


# --- journeys -------------------------------------------------------------------------------------
#: moved by every change of a journey, in its own transaction (core.table.generations):
#: the event path caches the active journeys by it
GENERATION = "journeys"


def _bump_generation(tx: Transaction, tenant_id: str) -> None:
    generations.bump(tx, tenant_id, GENERATION)


def create_journey(tenant_id: str, journey: JourneyItem, first: JourneyVersionItem,
                   audit: Entry | None = None) -> None:
    tx = Transaction()
    if audit is not None:
        audit.stage(tx)
    _bump_generation(tx, tenant_id)
    limits.reserve(tx, tenant_id, "journeys", MAX_JOURNEYS)
    tx.save("journey", journey, condition=JourneyItem.pk.does_not_exist())
    tx.save("version", first, condition=JourneyVersionItem.pk.does_not_exist())
    tx.commit()


def get_journey(tenant_id: str, journey_id: str) -> JourneyItem | None:
    try:
        return JourneyItem.get(journeys_pk(tenant_id), journey_sk(journey_id), consistent_read=True)
    except DoesNotExist:
        return None


def list_journeys(tenant_id: str, consistent: bool = True) -> list[JourneyItem]:
    return list(JourneyItem.query(journeys_pk(tenant_id), JourneyItem.sk.startswith("J#"),
                                  consistent_read=consistent))


def save_journey(journey: JourneyItem, new_version: JourneyVersionItem | None = None,
                 replace_version: JourneyVersionItem | None = None, audit: Entry | None = None) -> None:
    """Save (version-checked); ``new_version`` is created, ``replace_version`` (a draft's
    only version) overwritten."""
    tx = Transaction()
    if audit is not None:
        audit.stage(tx)
    _bump_generation(tx, tenant_id=journey.tenant_id)
    tx.save("journey", journey)
    if new_version is not None:
        tx.save("version", new_version, condition=JourneyVersionItem.pk.does_not_exist())
    if replace_version is not None:
        tx.save("version", replace_version)
    tx.commit()


def delete_journey(tenant_id: str, journey: JourneyItem, audit: Entry | None = None) -> None:
    tx = Transaction()
    if audit is not None:
        audit.stage(tx)
    _bump_generation(tx, tenant_id)
    limits.release(tx, tenant_id, "journeys")
    tx.delete("journey", journey)
    for n in range(1, int(journey.definition_version) + 1):
        tx.delete(f"version:{n}", JourneyVersionItem(versions_pk(tenant_id, journey.journey_id), version_sk(n)))
    tx.commit()


def get_version(tenant_id: str, journey_id: str, version: int) -> JourneyVersionItem | None:
    try:
        return JourneyVersionItem.get(versions_pk(tenant_id, journey_id), version_sk(version))
    except DoesNotExist:
        return None


def list_versions(tenant_id: str, journey_id: str) -> list[JourneyVersionItem]:
    return list(JourneyVersionItem.query(versions_pk(tenant_id, journey_id), scan_index_forward=False))


def register_scheduled(tenant_id: str, journey_id: str, kind: str | None) -> None:
    """List (``kind``) or unlist (None) a journey the hourly trigger schedule visits."""
    for k in ("date", "segment_entry"):
        item = ScheduledJourneyItem(SCHEDULED_PK, f"{k}#{tenant_id}#{journey_id}", tenant_id=tenant_id,
                                    journey_id=journey_id, kind=k)
        if k != kind:
            item.delete()
        elif _missing(item):
            item.save()


def _missing(item: ScheduledJourneyItem) -> bool:
    try:
        ScheduledJourneyItem.get(item.pk, item.sk, consistent_read=True)
    except DoesNotExist:
        return True
    return False


def scheduled_journeys() -> list[ScheduledJourneyItem]:
    return list(ScheduledJourneyItem.query(SCHEDULED_PK, consistent_read=True))


def count_segment_run(item: ScheduledJourneyItem) -> None:
    item.update(actions=[ScheduledJourneyItem.runs.add(1)])


# --- member slots and enrolments ---------------------------------------------------------------------
def get_slot(tenant_id: str, member_id: str, journey_id: str) -> SlotItem | None:
    try:
        return SlotItem.get(keys.member(tenant_id, member_id), slot_sk(journey_id), consistent_read=True)
    except DoesNotExist:
        return None


def member_slots(tenant_id: str, member_id: str) -> list[SlotItem]:
    return list(SlotItem.query(keys.member(tenant_id, member_id), SlotItem.sk.startswith("JSLOT#"),
                               consistent_read=True))


def get_enrolment(tenant_id: str, member_id: str, enrolment_id: str) -> EnrolmentItem | None:
    try:
        return EnrolmentItem.get(keys.member(tenant_id, member_id), enrolment_sk(enrolment_id), consistent_read=True)
    except DoesNotExist:
        return None


def member_enrolments(tenant_id: str, member_id: str) -> list[EnrolmentItem]:
    return list(EnrolmentItem.query(keys.member(tenant_id, member_id), EnrolmentItem.sk.startswith("ENR#"),
                                    scan_index_forward=False))


def save_enrolment(enrolment: EnrolmentItem) -> None:
    """Version-checked save; StaleVersion if another writer moved the enrolment on."""
    save_versioned(enrolment)


def set_timer(enrolment: EnrolmentItem, name: str | None, due: str | None) -> None:
    """Record the pending timer (or none) on the enrolment, listed by due time until the
    timer service has it (the sweeper starts it otherwise) and while it is pending."""
    enrolment.timer_name, enrolment.timer_due, enrolment.timer_started = name, due, False
    if name and due:
        enrolment.gsi2pk = due_list(keys.shard_of(enrolment.enrolment_id, ENROLMENT_DUE_SHARDS))
        enrolment.gsi2sk = f"{due}#{enrolment.enrolment_id}"
    else:
        enrolment.gsi2pk = enrolment.gsi2sk = None


def mark_timer_started(enrolment: EnrolmentItem, name: str) -> bool:
    """Note that the timer service has timer ``name`` (if it is still the pending one)."""
    try:
        enrolment.update(actions=[EnrolmentItem.timer_started.set(True)],
                         condition=EnrolmentItem.timer_name == name, add_version_condition=False)
    except UpdateError as exc:
        if is_condition_failure(exc):
            return False
        raise
    return True


def due_enrolments(shard: int, up_to: str, limit: int) -> list[EnrolmentItem]:
    """Live enrolments whose timer was due by ``up_to`` (the sweeper checks their timer)."""
    return [i for i in TableItem.gsi2.query(due_list(shard), TableItem.gsi2sk <= f"{up_to}#~", limit=limit)
            if isinstance(i, EnrolmentItem)]


# --- messages -----------------------------------------------------------------------------------------
class TriggerClaimItem(TableItem, discriminator="journey_trigger_claim"):
    """A signal delivery that enrolled the member in a journey (a redelivery finds it)."""

    enrolled_at = UnicodeAttribute()


#: claims outlive every redelivery of a signal (the outbox gives up after hours)
TRIGGER_CLAIM_SECONDS = 14 * 86400


def stage_trigger_claim(tx: Transaction, tenant_id: str, member_id: str, journey_id: str, trigger_key: str,
                        now: datetime) -> None:
    claim = TriggerClaimItem(keys.member(tenant_id, member_id), keys.journey_trigger_claim_sk(journey_id, trigger_key),
                             enrolled_at=clock.iso(now), ttl=int(now.timestamp()) + TRIGGER_CLAIM_SECONDS)
    tx.save("trigger", claim, condition=TriggerClaimItem.pk.does_not_exist())


def list_outbox(message: MessageItem, next_attempt_at: str | None) -> None:
    """Put the message in (or, with None, take it out of) the delivery outbox."""
    message.next_attempt_at = next_attempt_at
    if next_attempt_at:
        message.gsi2pk = outbox(keys.shard_of(message.sk, JOURNEY_LIST_SHARDS))
        message.gsi2sk = f"{next_attempt_at}#{message.message_id}"
    else:
        message.gsi2pk = message.gsi2sk = None


def get_message(tenant_id: str, member_id: str, sk: str) -> MessageItem | None:
    try:
        return MessageItem.get(keys.member(tenant_id, member_id), sk, consistent_read=True)
    except DoesNotExist:
        return None


def save_message(message: MessageItem) -> None:
    save_versioned(message)


class QuotaExhausted(Exception):
    """The tenant's quota (e.g. the day's SMS) is used up: the message was not claimed."""


def claim_message(message: MessageItem, quota: str, limit: int, expires_at: int) -> None:
    """Save a delivery claim (version-checked) and take one unit of the tenant's quota
    ``quota`` in one transaction: the quota counts exactly what is sent, however many
    deliverers race. Raises :class:`StaleVersion` if another deliverer claimed the message,
    :class:`QuotaExhausted` if ``limit`` units are in use."""
    for attempt in range(8):
        tx = Transaction()
        tx.save("message", message)
        limits.reserve(tx, message.tenant_id, quota, limit, expires_at)
        try:
            tx.commit()
            return
        except TransactionCancelled as exc:
            if "message" in exc.failed:
                raise StaleVersion() from exc
            if f"quota:{quota}" in exc.failed:
                raise QuotaExhausted(quota) from exc
            backoff(attempt)  # a conflict with another transaction on the quota: try again
    raise StaleVersion()


def outbox_due(shard: int, up_to: str, limit: int) -> list[MessageItem]:
    return [i for i in TableItem.gsi2.query(outbox(shard), TableItem.gsi2sk <= f"{up_to}#~", limit=limit)
            if isinstance(i, MessageItem)]


def member_messages(tenant_id: str, member_id: str, journey_id: str | None, before: str | None,
                    limit: int) -> tuple[list[MessageItem], str | None]:
    """Newest first; (page, sort key to continue below)."""
    condition = MessageItem.sk.between("JMSG#", before) if before else MessageItem.sk.startswith("JMSG#")
    filt = MessageItem.journey_id == journey_id if journey_id else None
    found: list[MessageItem] = []
    for item in MessageItem.query(keys.member(tenant_id, member_id), condition, filter_condition=filt,
                                  scan_index_forward=False, page_size=limit + 1):
        if item.sk == before:
            continue
        if len(found) == limit:
            return found, found[-1].sk
        found.append(item)
    return found, None


def journey_messages_page(tenant_id: str, journey_id: str, before: str | None,
                          limit: int) -> tuple[list[MessageItem], str | None]:
    """Newest first across the journey's shards; (page, position to continue below)."""
    runs = []
    for shard in range(LIST_SHARDS):
        condition = TableItem.gsi1sk < before if before else None
        rows = TableItem.gsi1.query(journey_messages(tenant_id, journey_id, shard), condition,
                                    scan_index_forward=False, limit=limit + 1, page_size=limit + 1)
        runs.append([(r.gsi1sk, r) for r in rows if isinstance(r, MessageItem)])
    merged = list(heapq.merge(*runs, key=lambda pair: pair[0], reverse=True))[:limit + 1]
    page = [m for _, m in merged[:limit]]
    more = len(merged) > limit
    return page, (merged[limit - 1][0] if more and page else None)


def get_cap(tenant_id: str, member_id: str) -> CapItem:
    try:
        return CapItem.get(keys.member(tenant_id, member_id), CAP_SK, consistent_read=True)
    except DoesNotExist:
        return CapItem(keys.member(tenant_id, member_id), CAP_SK, sent=[])


def member_message_items(tenant_id: str, member_id: str) -> Iterator[MessageItem]:
    yield from MessageItem.query(keys.member(tenant_id, member_id), MessageItem.sk.startswith("JMSG#"))


# --- settings ---------------------------------------------------------------------------------------------
def get_settings(tenant_id: str) -> SettingsItem:
    try:
        return SettingsItem.get(settings_pk(tenant_id), SETTINGS_SK, consistent_read=True)
    except DoesNotExist:
        return SettingsItem(settings_pk(tenant_id), SETTINGS_SK)


def save_settings(item: SettingsItem, audit: Entry | None = None) -> None:
    """Last writer wins (no version), with its audit record in the same transaction."""
    tx = Transaction()
    tx.save("settings", item)
    if audit is not None:
        audit.stage(tx)
    tx.commit()


class DomainTaken(Exception):
    """Another tenant has registered this sender domain."""


def add_sender_domain(tenant_id: str, item: SenderDomainItem, audit: Entry | None = None) -> None:
    """Claim the domain for the tenant (platform-wide, once) and keep it in its list (with
    its audit record)."""
    claim = SenderDomainClaimItem(sender_domain_claim_pk(item.domain), CLAIM_SK, tenant_id=tenant_id)
    tx = Transaction()
    tx.save("claim", claim, condition=SenderDomainClaimItem.pk.does_not_exist()
            | (SenderDomainClaimItem.tenant_id == tenant_id))
    tx.save("domain", item)
    if audit is not None:
        audit.stage(tx)
    try:
        tx.commit()
    except TransactionCancelled as exc:
        if "claim" in exc.failed:
            raise DomainTaken(item.domain) from exc
        raise


def get_sender_domain(tenant_id: str, domain: str) -> SenderDomainItem | None:
    try:
        return SenderDomainItem.get(settings_pk(tenant_id), sender_domain_sk(domain), consistent_read=True)
    except DoesNotExist:
        return None


def save_sender_domain(item: SenderDomainItem) -> None:
    item.save(condition=SenderDomainItem.pk.exists())  # registered by add_sender_domain


def sender_domains(tenant_id: str) -> list[SenderDomainItem]:
    return list(SenderDomainItem.query(settings_pk(tenant_id), SenderDomainItem.sk.startswith("SENDER#"),
                                       consistent_read=True))


# --- counters -----------------------------------------------------------------------------------------------
def count(tx: Transaction, tenant_id: str, journey_id: str, what: str, seed: str, delta: int = 1) -> None:
    counters.add(tx, counter(tenant_id, journey_id, what), seed, delta)


def read_counts(tenant_id: str, journey_id: str, names: list[str]) -> dict[str, int]:
    full = {counter(tenant_id, journey_id, n): n for n in names}
    return {full[k]: v for k, v in counters.read(list(full)).items()}


# --- local timers (the dev stack's timer service) ------------------------------------------------------------
def put_timer(item: LocalTimerItem) -> bool:
    """False if a timer with this name exists (a second start of one timer is a no-op)."""
    item.gsi1pk = timers_list(keys.shard_of(item.name, JOURNEY_LIST_SHARDS))
    item.gsi1sk = f"{item.due_at}#{item.name}"
    try:
        item.save(condition=LocalTimerItem.pk.does_not_exist())
    except PutError as exc:
        if is_condition_failure(exc):
            return False
        raise
    return True


def delete_timer(tenant_id: str, name: str, lease: str | None = None) -> None:
    item = LocalTimerItem(timer_pk(tenant_id, name), TIMER_SK)
    try:
        item.delete(condition=LocalTimerItem.lease_until == lease if lease else None)
    except DeleteError as exc:
        if not is_condition_failure(exc):
            raise


def due_timers(shard: int, up_to: str, limit: int) -> list[LocalTimerItem]:
    return [i for i in TableItem.gsi1.query(timers_list(shard), TableItem.gsi1sk <= f"{up_to}#~", limit=limit)
            if isinstance(i, LocalTimerItem)]


def lease_timer(item: LocalTimerItem, now: str, until: str) -> bool:
    """Take the timer for firing unless another runner holds it (or it was cancelled)."""
    try:
        item.update(actions=[LocalTimerItem.lease_until.set(until)],
                    condition=LocalTimerItem.pk.exists()
                    & (LocalTimerItem.lease_until.does_not_exist() | (LocalTimerItem.lease_until < now)))
    except UpdateError as exc:
        if is_condition_failure(exc):
            return False
        raise
    return True


def get_timer(tenant_id: str, name: str) -> LocalTimerItem | None:
    try:
        return LocalTimerItem.get(timer_pk(tenant_id, name), TIMER_SK, consistent_read=True)
    except DoesNotExist:
        return None


# --- segment entry markers ------------------------------------------------------------------------------------
def mark_in_segment(tenant_id: str, journey_id: str, member_id: str, run: str) -> bool:
    """Record that the member matched in ``run``; True if it did not match in the run before
    (it entered the segment)."""
    item = SegmentMarkerItem(segment_markers(tenant_id, journey_id), member_id, member_id=member_id, run=run)
    try:
        item.save(condition=SegmentMarkerItem.pk.does_not_exist())
        return True
    except PutError as exc:
        if not is_condition_failure(exc):
            raise
    item.update(actions=[SegmentMarkerItem.run.set(run)])
    return False


def markers_page(tenant_id: str, journey_id: str, after: str | None, limit: int) -> list[SegmentMarkerItem]:
    condition = SegmentMarkerItem.sk > after if after else None
    return list(SegmentMarkerItem.query(segment_markers(tenant_id, journey_id), condition, limit=limit,
                                        page_size=limit))


def forget_marker(item: SegmentMarkerItem) -> None:
    item.delete()

