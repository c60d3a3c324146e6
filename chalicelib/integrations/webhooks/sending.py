"""One delivery attempt, the endpoint's health, and the ``webhook_deliveries`` schedule.

An attempt signs the event with the endpoint's live secrets (``signing``) and POSTs it
through ``core.outbound`` (no redirects, checked addresses, bounded time), then records
it on the delivery: status code, latency, the answer's first 256 bytes, or the error.
A 2xx is success; anything else is tried again on the ``backoff`` schedule (more than
three days), then the delivery fails for good (``gave_up``).

Deliveries owed an attempt are listed by due time (``store.due``); the schedule claims each
with a version-checked push of its due time (two runs never send one together) and sends.

An endpoint that fails keeps ``failing_since``; the schedule disables one that has not
succeeded for ``webhook_disable_after_days`` and tells the tenant (an event
``webhook_endpoint.disabled`` and the flag and reason on the endpoint).
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from ...core import clock, observability as obs, outbound
from ...core.config import get_settings
from ...core.table.transactions import StaleVersion, TransactionCancelled
from . import backoff, catalog, signing, store

#: a claimed delivery is left alone this long by other senders
LEASE = timedelta(minutes=2)
SWEEP_BATCH = 100
#: the fast path (right after the event's commit) waits this long for an answer at most
FAST_TIMEOUT = 2.0
USER_AGENT = "Enclave-Events/1"
PREVIEW = 256

#: (tenant, endpoint) -> failing since (iso), as this process last saw it: spares the
#: endpoint item a write on every failed attempt, and the fast path a call that will fail
_failing: dict[tuple[str, str], str] = {}


def payload(event: store.EventItem) -> bytes:
    return json.dumps({"id": event.event_id, "object": "event", "type": event.type, "created": event.created_at,
                       "data": event.data}, separators=(",", ":"), sort_keys=True).encode()


def is_failing(tenant_id: str, endpoint_id: str) -> bool:
    return (tenant_id, endpoint_id) in _failing


def _post(endpoint: catalog.Endpoint, event: store.EventItem, delivery_id: str, now: datetime,
          timeout: float) -> dict[str, Any]:
    body = payload(event)
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
               signing.HEADER: signing.sign(body, endpoint.signing_secrets(clock.iso(now)), int(now.timestamp())),
               "Enclave-Event-Id": event.event_id, "Enclave-Delivery-Id": delivery_id,
               "Idempotency-Key": event.event_id}
    entry: dict[str, Any] = {"at": clock.iso(now), "status_code": None, "latency_ms": None, "response": None,
                             "error": None}
    started = time.monotonic()
    try:
        answer = outbound.post(endpoint.url, body, headers, allow_loopback=get_settings().outbound_allow_loopback,
                               timeout=timeout, preview=PREVIEW)
    except outbound.Refused as exc:
        entry["error"] = f"refused: {exc}"
        obs.logger.warning("event delivery refused by the outbound rules",
                           extra={"endpoint_id": endpoint.endpoint_id, "reason": str(exc)})
    except (outbound.Unreachable, outbound.NoAnswer) as exc:
        entry["error"] = f"{type(exc).__name__.lower()}: {exc}"
    else:
        entry["status_code"], entry["response"] = answer.status, answer.preview
        if 300 <= answer.status < 400:
            entry["error"] = "redirects are not followed"
    entry["latency_ms"] = int((time.monotonic() - started) * 1000)
    return entry


def attempt(item: store.DeliveryItem, endpoint: catalog.Endpoint | None, event: store.EventItem | None,
            now: datetime | None = None, timeout: float = outbound.TOTAL_SECONDS) -> str:
    """Send ``item`` once (or close it when its endpoint or event is gone) and record the
    outcome; its status after. A lost version race (another sender) leaves it to them."""
    now = now or clock.now()
    if endpoint is None or not endpoint.enabled or event is None:
        reason = "endpoint_deleted" if endpoint is None else "event_expired" if event is None else "endpoint_disabled"
        item.status, item.reason = "failed", reason
        store.set_due(item, None)
        _save(item)
        return item.status
    entry = _post(endpoint, event, item.delivery_id, now, timeout)
    ok = entry["status_code"] is not None and 200 <= entry["status_code"] < 300
    item.attempts = int(item.attempts or 0) + 1
    item.log = (list(item.log or []) + [entry])[-store.LOG_KEPT:]
    if ok:
        item.status, item.reason = "succeeded", None
        store.set_due(item, None)
    else:
        delay = backoff.next_delay(int(item.attempts))
        if delay is None:
            item.status, item.reason = "failed", "gave_up"
            store.set_due(item, None)
        else:
            item.status = "pending"
            store.set_due(item, clock.iso(now + delay))
    _save(item)
    _note_health(item.tenant_id, endpoint.endpoint_id, ok, now)
    obs.count("WebhookDelivered" if ok else "WebhookAttemptFailed", item.tenant_id)
    return item.status


def _save(item: store.DeliveryItem) -> None:
    try:
        store.save_delivery(item)
    except StaleVersion:
        obs.logger.info("delivery changed by another sender", extra={"delivery_id": item.delivery_id})


def _note_health(tenant_id: str, endpoint_id: str, ok: bool, now: datetime) -> None:
    key = (tenant_id, endpoint_id)
    if ok and key in _failing:
        item = store.get_endpoint(tenant_id, endpoint_id)
        if item is not None:
            store.clear_failing(item)
        _failing.pop(key, None)
    elif not ok and key not in _failing:
        item = store.get_endpoint(tenant_id, endpoint_id)
        if item is not None:
            store.mark_failing(item, clock.iso(now))
            _failing[key] = item.failing_since or clock.iso(now)


def sweep(now: datetime | None = None, on_disable: Callable[[store.EndpointItem, str], None] | None = None
          ) -> dict[str, int]:
    """The schedule: send every delivery whose next attempt is due, then disable endpoints
    that kept failing (``on_disable`` tells the tenant). Counts by outcome."""
    now = now or clock.now()
    now_iso = clock.iso(now)
    counts = {"succeeded": 0, "pending": 0, "failed": 0, "disabled": 0}
    endpoints: dict[tuple[str, str], store.EndpointItem | None] = {}
    for shard in range(store.keys.WEBHOOK_DUE_SHARDS):
        for found in store.due(shard, now_iso, SWEEP_BATCH):
            fresh = store.get_delivery(found.tenant_id, found.delivery_id)
            if fresh is None or fresh.status != "pending" or (fresh.next_attempt_at or "~") > now_iso:
                continue
            store.set_due(fresh, clock.iso(now + LEASE))
            try:
                store.save_delivery(fresh)  # the claim
            except StaleVersion:
                continue
            key = (fresh.tenant_id, fresh.endpoint_id)
            if key not in endpoints:
                endpoints[key] = store.get_endpoint(*key)
                item = endpoints[key]
                if item is not None and item.failing_since:
                    _failing[key] = item.failing_since
                else:
                    _failing.pop(key, None)
            item = endpoints[key]
            try:
                status = attempt(fresh, catalog.view(item) if item else None,
                                 store.get_event(fresh.tenant_id, fresh.event_id), now)
            except Exception:  # noqa: BLE001 - one bad delivery must not stop the run; its lease expires
                obs.logger.exception("event delivery failed", extra={"delivery_id": fresh.delivery_id})
                continue
            counts[status] += 1
    counts["disabled"] = _disable_failing(endpoints, now, on_disable)
    return counts


def _disable_failing(endpoints: dict[tuple[str, str], store.EndpointItem | None], now: datetime,
                     on_disable: Callable[[store.EndpointItem, str], None] | None) -> int:
    days = get_settings().webhook_disable_after_days
    limit = clock.iso(now - timedelta(days=days))
    disabled = 0
    for key in endpoints:
        if key not in _failing:
            continue
        item = store.get_endpoint(*key)
        if item is None or not item.enabled or not item.failing_since or item.failing_since > limit:
            continue
        reason = f"failing since {item.failing_since} (more than {days:g} days) without a success"
        try:
            if on_disable is not None:
                on_disable(item, reason)
        except (StaleVersion, TransactionCancelled):
            continue  # changed meanwhile: the next run looks again
        disabled += 1
    return disabled
