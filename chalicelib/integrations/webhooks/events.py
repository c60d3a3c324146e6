"""Domain events in, event objects and deliveries out.

Receivers of the capabilities' durable signals (``core.signals``, ADR 0010) turn each
signal into event objects (``order.paid``, ``member.tier_changed`` ...). For a type no
endpoint of the tenant subscribes to, nothing is written: the only cost is the catalog's
generation read (``catalog``). Otherwise the event object and one delivery per enabled
subscribed endpoint are written (single conditional puts: ids derive from the signal's
delivery id, so a redelivered signal writes nothing twice), and each delivery is sent at
once (the fast path), in parallel when there are several.

Crash safety without a due-list write on the happy path: the receiver runs under the
signal's outbox item, which stays until the receiver returned. If the process dies after
the puts and before the sends, the outbox sweeper runs the receiver again; it finds the
deliveries never attempted and sends them. A failed attempt lists the delivery by its
next attempt for the ``webhook_deliveries`` schedule.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from ...core import clock, observability as obs
from ...core.ids import new_id
from ...core.signals import Delivery
from ...core.table.transactions import Transaction
from . import catalog, matching, sending, store

_SIGNAL_EVENT = "activity.event_recorded"
_SIGNAL_STANDING = "tiers.standing_changed"
_SIGNAL_TAG = "tags.tag_changed"
_ACTIVITY_TYPES = {"interaction": "interaction.recorded"}
_MEMBER_SIGNALS = {"members.created": "member.created", "members.updated": "member.updated",
                   "members.erased": "member.erased"}
_MESSAGE_SIGNAL = "journeys.message_closed"
_MESSAGE_TYPES = ("journey.message_sent", "journey.message_failed", "journey.message_blocked")


def event_id(outbox_id: str, index: int, sub: int = 0) -> str:
    """``evt_<outbox ulid><signal index, 3 digits><sub event>``: stable across redeliveries."""
    return f"evt_{outbox_id}{index:03d}{sub}"


def delivery_id(event_id_: str, endpoint_id: str, cause: str) -> str:
    digest = hashlib.blake2b(f"{event_id_}|{endpoint_id}|{cause}".encode(), digest_size=12).hexdigest()
    return f"whd_{digest}"


def events_of(delivery: Delivery) -> list[tuple[str, dict[str, Any]]]:
    """(type, data) of the event objects one signal stands for."""
    member = {"member_id": delivery.member_id} if delivery.member_id else {}
    data = delivery.data
    if delivery.signal == _SIGNAL_EVENT:
        event = dict(data.get("event") or {})
        kind = _ACTIVITY_TYPES.get(str(event.get("type")), str(event.get("type")))
        event.pop("type", None)
        if "event_id" in event:
            event["source_event_id"] = event.pop("event_id")
        return [(kind, {**member, **event})] if kind in matching.EVENT_TYPES else []
    if delivery.signal == _SIGNAL_STANDING:
        return [(f"member.{c['dimension']}_changed", {**member, "old": c.get("old"), "new": c.get("new"),
                                                       "reason": c.get("reason")})
                for c in data.get("changes") or [] if f"member.{c.get('dimension')}_changed" in matching.EVENT_TYPES]
    if delivery.signal == _SIGNAL_TAG:
        kind = "member.tag_added" if data.get("added") else "member.tag_removed"
        return [(kind, {**member, "tag_id": data.get("tag_id")})]
    if delivery.signal == _MESSAGE_SIGNAL:
        kind = f"journey.message_{data.get('status')}"
        return [(kind, {**member, **data})] if kind in _MESSAGE_TYPES else []
    if delivery.signal in _MEMBER_SIGNALS:
        if delivery.signal == "members.erased":
            return [("member.erased", {"member_id": data.get("member_id")})]
        return [(_MEMBER_SIGNALS[delivery.signal], {"member": data.get("member")})]
    return []


def wants(signal_name: str) -> Callable[[str, dict[str, Any]], bool]:
    """For ``Signal.connect(..., wants=)`` of a signal only event subscriptions receive
    (members', journey messages'): stage it only when the tenant has an endpoint for its
    type (one generation read instead of an outbox write)."""
    if signal_name == _SIGNAL_EVENT:
        def recorded(tenant_id: str, data: dict[str, Any]) -> bool:
            kind = _ACTIVITY_TYPES.get(str((data.get("event") or {}).get("type")),
                                       str((data.get("event") or {}).get("type")))
            return kind in matching.EVENT_TYPES and bool(catalog.current(tenant_id).subscribed(kind))

        return recorded
    kinds = (_MESSAGE_TYPES if signal_name == _MESSAGE_SIGNAL else (_MEMBER_SIGNALS[signal_name],))

    def wanted(tenant_id: str, data: dict[str, Any]) -> bool:
        found = catalog.current(tenant_id)
        return any(found.subscribed(kind) for kind in kinds)

    return wanted


def on_signal(delivery: Delivery) -> None:
    """The receiver app.py connects to every signal that stands for an outbound event."""
    outbox_id, _, index = delivery.id.rpartition(".")
    found = events_of(delivery)
    if not found:
        return
    cat = catalog.current(delivery.tenant_id, batch=outbox_id)
    if not cat.endpoints:
        return
    for sub, (kind, data) in enumerate(found):
        subscribed = cat.subscribed(kind)
        if subscribed:
            publish(delivery.tenant_id, event_id(outbox_id, int(index or 0), sub), kind, data, subscribed)


def publish(tenant_id: str, evt_id: str, kind: str, data: dict[str, Any], subscribed: list[catalog.Endpoint],
            now: datetime | None = None) -> None:
    """Write the event object and its deliveries (each once), then send those never tried."""
    now = now or clock.now()
    now_iso = clock.iso(now)
    profile = data.get("member") if kind in ("member.created", "member.updated") else None
    event = store.new_event(tenant_id, evt_id, kind, now_iso, data, now.timestamp(),
                            profile_of=profile.get("id") if isinstance(profile, dict) else None)
    if not store.put_new(event):
        event = store.get_event(tenant_id, evt_id) or event
    owed: list[tuple[store.DeliveryItem, catalog.Endpoint]] = []
    for endpoint in subscribed:
        if not endpoint.enabled:
            continue
        dlv_id = delivery_id(evt_id, endpoint.endpoint_id, "event")
        # an endpoint known to fail gets no fast-path call: listed as due, the schedule sends it
        fast = not sending.is_failing(tenant_id, endpoint.endpoint_id)
        item = store.new_delivery(tenant_id, dlv_id, endpoint.endpoint_id, event, "event", now_iso,
                                  now_iso, now.timestamp())
        if fast:
            store.set_due(item, None)
        if store.put_new(item):
            if fast:
                owed.append((item, endpoint))
            continue
        existing = store.get_delivery(tenant_id, dlv_id)  # a redelivered signal: was it ever tried?
        if existing is not None and existing.status == "pending" and existing.next_attempt_at is None:
            owed.append((existing, endpoint))
    send_now(owed, event, now)


def send_now(owed: list[tuple[store.DeliveryItem, catalog.Endpoint]], event: store.EventItem,
             now: datetime) -> None:
    """The fast path: one attempt each, in parallel; an error propagates (after all were
    tried) so the signal is delivered again and the untried ones are sent then."""
    if not owed:
        return
    if len(owed) == 1:
        sending.attempt(owed[0][0], owed[0][1], event, now, sending.FAST_TIMEOUT)
        return
    with ThreadPoolExecutor(max_workers=min(4, len(owed))) as pool:
        futures = [pool.submit(sending.attempt, item, endpoint, event, now, sending.FAST_TIMEOUT)
                   for item, endpoint in owed]
    errors = [f.exception() for f in futures if f.exception() is not None]
    if errors:
        raise errors[0]  # type: ignore[misc]


def forget_member(delivery: Delivery) -> None:
    """Erasure (``MEMBER_ERASING``, before the profile goes): event objects that carried the
    member's profile keep only its id. Deliveries hold no member data."""
    if delivery.member_id:
        store.scrub_member_events(delivery.tenant_id, delivery.member_id,
                                  {"member": {"id": delivery.member_id, "erased": True}})


def disable_endpoint(item: store.EndpointItem, reason: str) -> None:
    """Disable ``item`` and, in the same transaction, record ``webhook_endpoint.disabled``
    with a delivery to each other enabled endpoint subscribed to it (sent right after)."""
    now = clock.now()
    now_iso = clock.iso(now)
    item.enabled, item.disabled_reason, item.disabled_at, item.updated_at = False, reason, now_iso, now_iso
    evt_id = f"evt_{new_id()}0000"
    event = store.new_event(item.tenant_id, evt_id, "webhook_endpoint.disabled", now_iso,
                            {"endpoint_id": item.endpoint_id, "url": item.url, "reason": reason}, now.timestamp())
    tx = Transaction()
    store.save_endpoint(item, tx)
    tx.save("event", event)
    owed = []
    others = [catalog.view(i) for i in store.list_endpoints(item.tenant_id) if i.endpoint_id != item.endpoint_id]
    for endpoint in others:
        if endpoint.enabled and endpoint.wants(event.type):
            dlv = store.new_delivery(item.tenant_id, delivery_id(evt_id, endpoint.endpoint_id, "event"),
                                     endpoint.endpoint_id, event, "event", now_iso, clock.iso(now + sending.LEASE),
                                     now.timestamp())
            tx.save(f"delivery:{endpoint.endpoint_id}", dlv)
            owed.append((dlv, endpoint))
    tx.commit()
    catalog.forget(item.tenant_id)
    obs.logger.warning("webhook endpoint disabled", extra={"tenant_id": item.tenant_id,
                                                           "endpoint_id": item.endpoint_id, "reason": reason})
    obs.count("WebhookEndpointDisabled", item.tenant_id)
    try:
        send_now(owed, event, now)
    except Exception:  # noqa: BLE001 - listed as due: the schedule sends them after the lease
        obs.logger.exception("notifying the tenant's other endpoints failed")


def run_schedule(now: datetime | None = None) -> dict[str, int]:
    """The ``webhook_deliveries`` schedule."""
    return sending.sweep(now, on_disable=disable_endpoint)
