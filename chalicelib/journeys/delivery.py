"""The message outbox: delivering queued messages, with retries and backoff.

A queued message sits in the outbox list (GSI2, by its next attempt time) from the moment
its step commits. Delivery first claims the attempt (``queued`` -> ``sending``, attempts
+1, a lease; version-checked, so two deliverers never send one message together), then
calls the channel and records the answer. A retryable failure goes back to ``queued``
with a backoff (30 s, 2 min, 10 min, 1 h, 6 h; failed after 6 attempts). A deliverer that
dies mid-send leaves ``sending`` with an expired lease: the webhook is retried (its
receiver dedupes on the message id), SES and SNS messages are failed as
``outcome_unknown`` rather than risk a second delivery. An SMS's first claim also takes
one of the tenant's SMS of the day (``sms_daily_cap``); over the cap it is ``blocked``.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ..core import clock, observability as obs
from ..core.signals import Signal
from ..core.table.definition import JOURNEY_LIST_SHARDS
from ..core.table.transactions import StaleVersion, Transaction, TransactionCancelled
from . import engine, store
from .channels import Channel, Outgoing, channel

LEASE = timedelta(minutes=2)
SWEEP_BATCH = 200
#: the reason of a message blocked by the tenant's SMS cap
SMS_DAILY_CAP = "sms_daily_cap"


def sms_daily_cap(settings: store.SettingsItem) -> int:
    from ..core.config import get_settings

    return int(settings.sms_daily_cap) if settings.sms_daily_cap is not None else get_settings().sms_daily_cap


def sms_quota(settings: store.SettingsItem, now: datetime) -> tuple[str, int, int]:
    """The quota of ``now``'s day (UTC), the tenant's cap on it, and when its item expires.

    SMS are paid per message, by the platform: a hijacked sign-up form or journey must not
    be able to send without end (toll fraud)."""
    day = now.astimezone(UTC).date()
    expires = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=2)
    return f"sms_{day.isoformat()}", sms_daily_cap(settings), int(expires.timestamp())


#: Raised in the transaction that closes a message (sent, failed or blocked): ``{message_id,
#: journey_id, enrolment_id, step_id, channel, status, reason}`` (no address, no content).
#: Receivers: outbound event subscriptions (``journey.message_sent`` ...).
MESSAGE_CLOSED = Signal("journeys.message_closed")


def _save(message: store.MessageItem, counter: str | None = None, closed: bool = False) -> bool:
    tx = Transaction()
    tx.save("message", message)
    if closed:
        MESSAGE_CLOSED.stage(tx, message.tenant_id, message.member_id, {
            "message_id": message.message_id, "journey_id": message.journey_id,
            "enrolment_id": message.enrolment_id, "step_id": message.step_id, "channel": message.channel,
            "status": message.status, "reason": message.reason})
    if counter:
        store.count(tx, message.tenant_id, message.journey_id, counter, message.member_id)
    try:
        tx.commit()
    except TransactionCancelled:
        return False
    return True


def _close(message: store.MessageItem, status: str, reason: str | None, now: datetime) -> bool:
    message.status, message.reason, message.lease_until = status, reason, None
    message.updated_at = clock.iso(now)
    store.list_outbox(message, None)
    return _save(message, f"step:{message.step_id}:{'sent' if status == 'sent' else 'failed'}", closed=True)


def claim_with_step(message: store.MessageItem, now: datetime) -> bool:
    """Claim a new message's first attempt in the step's own transaction (``sending``, a
    lease, listed in the outbox when the lease ends) where the channel's receiver dedupes
    (the webhook): the separate claim write is saved, and a process that dies before or
    during the send leaves what a deliverer dying mid-send leaves (retried after the
    lease). SES and SNS keep their claim write: a second email must never be risked, and a
    message never sent must not be failed as ``outcome_unknown``."""
    if not channel(message.channel).retry_unknown:
        return False
    message.status, message.attempts = "sending", 1
    message.lease_until = clock.iso(now + LEASE)
    store.list_outbox(message, message.lease_until)
    return True


def deliver(message: store.MessageItem, claimed: bool = False) -> str:
    """One delivery attempt of a queued message (or a stale ``sending`` one); its status
    after. ``claimed``: the caller committed this attempt's claim (``claim_with_step``)."""
    now = clock.now()
    if message.status not in ("queued", "sending"):
        return message.status
    if claimed:
        return _send(message, channel(message.channel), store.get_settings(message.tenant_id))
    if message.status == "queued" and message.next_attempt_at and message.next_attempt_at > clock.iso(now):
        return "queued"
    sender = channel(message.channel)
    if message.status == "sending":
        if message.lease_until and message.lease_until > clock.iso(now):
            return "sending"  # another deliverer holds it
        if not sender.retry_unknown:
            _close(message, "failed", "outcome_unknown", now)
            return "failed"
    settings = store.get_settings(message.tenant_id)
    first_sms = message.channel == "sms" and not int(message.attempts or 0)
    message.status, message.attempts = "sending", int(message.attempts or 0) + 1
    message.lease_until = clock.iso(now + LEASE)
    message.updated_at = clock.iso(now)
    store.list_outbox(message, message.lease_until)  # found again if this deliverer dies
    try:
        if first_sms:  # the claim takes one of the day's SMS (retries of it take none)
            quota, cap, expires = sms_quota(settings, now)
            store.claim_message(message, quota, cap, expires)
        else:
            store.save_message(message)  # version-checked: one claim per attempt (no transaction needed)
    except StaleVersion:
        return "taken"  # another deliverer claimed this attempt
    except store.QuotaExhausted:
        message.attempts = 0
        obs.logger.warning("SMS blocked: the tenant's daily cap is reached", extra={
            "tenant_id": message.tenant_id, "message_id": message.message_id, "sms_daily_cap": cap})
        obs.count("JourneySmsBlocked", message.tenant_id)
        _close(message, "blocked", SMS_DAILY_CAP, now)
        return "blocked"
    return _send(message, sender, settings)


def webhook_payload(message: store.MessageItem) -> dict[str, Any]:
    """The body a webhook receives: a ``journey.message`` item stores only what it does
    not hold already; its ids, time and content are added here (an item stored whole, as
    before, keeps its own)."""
    payload = dict(message.payload or {})
    if payload.get("type") != "journey.message":
        return payload
    return {"id": message.message_id, "created_at": message.created_at, "journey_id": message.journey_id,
            "enrolment_id": message.enrolment_id, "step_id": message.step_id,
            "content": {"subject": message.subject, "body": message.body}, **payload}


def _send(message: store.MessageItem, sender: Channel, settings: store.SettingsItem) -> str:
    """The claimed attempt: call the channel and record its answer."""
    outcome = sender.send(Outgoing(
        message_id=message.message_id, tenant_id=message.tenant_id, channel=message.channel, to=message.to,
        subject=message.subject, body=message.body, payload=webhook_payload(message),
        webhook_url=settings.webhook_url, webhook_secret=settings.webhook_secret, email_from=settings.email_from))
    now = clock.now()
    message.provider_response = outcome.answer or None
    if outcome.status == "sent":
        message.provider_message_id = outcome.provider_message_id
        message.sent_at = clock.iso(now)
        _close(message, "sent", None, now)
        obs.count("JourneyMessageSent", message.tenant_id)
        return "sent"
    retry = outcome.status == "retry" or (outcome.status == "unknown" and sender.retry_unknown)
    if retry and int(message.attempts) < engine.MAX_ATTEMPTS:
        message.status, message.lease_until = "queued", None
        message.updated_at = clock.iso(now)
        store.list_outbox(message, clock.iso(now + engine.backoff(int(message.attempts))))
        _save(message)
        return "queued"
    reason = {"failed": "provider_rejected", "unknown": "outcome_unknown"}.get(outcome.status, "gave_up")
    _close(message, "failed", reason, now)
    obs.count("JourneyMessageFailed", message.tenant_id)
    return "failed"


def sweep(now: datetime) -> dict[str, int]:
    """Deliver every message whose (re)try is due, and settle stale ``sending`` ones."""
    attempted = 0
    for shard in range(JOURNEY_LIST_SHARDS):
        for message in store.outbox_due(shard, clock.iso(now), SWEEP_BATCH):
            fresh = store.get_message(message.tenant_id, message.member_id, message.sk)  # the index lags
            if fresh is None:
                continue
            try:
                deliver(fresh)
            except StaleVersion:
                continue
            except Exception:  # noqa: BLE001 - one bad message must not stop the sweep
                obs.logger.exception("journey message delivery failed", extra={"message_id": fresh.message_id})
                continue
            attempted += 1
    return {"deliveries_attempted": attempted}
