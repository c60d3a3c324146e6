"""Event subscriptions: endpoints (with secrets shown once and rotation with an overlap),
event objects, deliveries (listed, retried) and replays of a time range.

Endpoints are admin-only: their secrets sign what a tenant's systems trust.
"""
from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from ...core import clock, jobs
from ...core.errors import Conflict, NotFound, Unprocessable
from ...core.ids import new_id
from ...core.table import cursor
from ...core.table.transactions import StaleVersion, TransactionCancelled, retrying
from ...core.tenancy import TenantContext
from . import catalog, events, sending, signing, store
from .schemas import (
    AttemptOut,
    DeliveryDetail,
    DeliveryOut,
    DeliveryPage,
    DeliveryQuery,
    EndpointCreate,
    EndpointCreated,
    EndpointOut,
    EndpointPage,
    EndpointPatch,
    EventOut,
    JobRef,
    ReplayIn,
    RotateIn,
    SecretOut,
)

ENDPOINT_ID = re.compile(r"^we_[0-9A-HJKMNP-TV-Z]{26}$")
EVENT_ID = re.compile(r"^evt_[0-9A-HJKMNP-TV-Z]{26}\d{4}$")
DELIVERY_ID = re.compile(r"^whd_[0-9a-f]{24}$")
REPLAY_JOB = "webhooks.replay"
REPLAY_PAGE = 100


# --- endpoints ---------------------------------------------------------------------------
def _previous_expiry(item: store.EndpointItem) -> str | None:
    now = clock.iso(clock.now())
    return next((s.get("expires_at") for s in (item.secrets or [])[1:]
                 if s.get("expires_at") and s["expires_at"] > now), None)


def _out(item: store.EndpointItem) -> EndpointOut:
    return EndpointOut(id=item.endpoint_id, url=item.url, event_types=list(item.event_types or []),
                       description=item.description, enabled=bool(item.enabled),
                       disabled_reason=item.disabled_reason, disabled_at=item.disabled_at,
                       failing_since=item.failing_since, previous_secret_expires_at=_previous_expiry(item),
                       created_at=item.created_at, updated_at=item.updated_at)


def _load(ctx: TenantContext, endpoint_id: str) -> store.EndpointItem:
    item = store.get_endpoint(ctx.tenant_id, endpoint_id) if ENDPOINT_ID.match(endpoint_id) else None
    if item is None:
        raise NotFound("No such webhook endpoint.", code="webhook_endpoint_not_found")
    return item


def create_endpoint(ctx: TenantContext, body: EndpointCreate) -> EndpointCreated:
    now = clock.iso(clock.now())
    secret = signing.new_secret()
    item = store.new_endpoint(ctx.tenant_id, f"we_{new_id()}", url=body.url, event_types=body.event_types,
                              description=body.description, enabled=body.enabled,
                              secrets=[{"secret": secret, "expires_at": None}], created_at=now, updated_at=now)
    try:
        store.create_endpoint(item)
    except TransactionCancelled as exc:
        if "quota:webhook_endpoints" in exc.failed:
            raise Conflict(f"A tenant has at most {store.MAX_ENDPOINTS} webhook endpoints.",
                           code="too_many_webhook_endpoints") from exc
        raise
    catalog.forget(ctx.tenant_id)
    return EndpointCreated(**_out(item).model_dump(), secret=secret)


def list_endpoints(ctx: TenantContext) -> EndpointPage:
    items = sorted(store.list_endpoints(ctx.tenant_id), key=lambda i: i.created_at)
    return EndpointPage(data=[_out(i) for i in items])


def get_endpoint(ctx: TenantContext, endpoint_id: str) -> EndpointOut:
    return _out(_load(ctx, endpoint_id))


def _change(ctx: TenantContext, endpoint_id: str, apply: Any) -> store.EndpointItem:
    def attempt(_: int) -> store.EndpointItem:
        item = _load(ctx, endpoint_id)
        apply(item)
        item.updated_at = clock.iso(clock.now())
        store.save_endpoint(item)
        return item

    item = retrying(attempt, attempts=5, conflict="The endpoint kept changing; try again.")
    catalog.forget(ctx.tenant_id)
    return item


def update_endpoint(ctx: TenantContext, endpoint_id: str, body: EndpointPatch) -> EndpointOut:
    given = body.model_fields_set
    if not given:
        raise Unprocessable("Name at least one field to change.", field="body", code="empty_patch")

    def apply(item: store.EndpointItem) -> None:
        for name in ("url", "event_types", "description"):
            if name in given and (getattr(body, name) is not None or name == "description"):
                setattr(item, name, getattr(body, name))
        if body.enabled is not None:
            item.enabled = body.enabled
            if body.enabled:
                item.disabled_reason = item.disabled_at = item.failing_since = None

    return _out(_change(ctx, endpoint_id, apply))


def delete_endpoint(ctx: TenantContext, endpoint_id: str) -> None:
    store.delete_endpoint(_load(ctx, endpoint_id))
    catalog.forget(ctx.tenant_id)


def rotate_secret(ctx: TenantContext, endpoint_id: str, body: RotateIn) -> SecretOut:
    """A new secret signs from now on; the current one keeps signing ``overlap_hours``."""
    secret = signing.new_secret()
    now = clock.now()

    def apply(item: store.EndpointItem) -> None:
        current = (item.secrets or [])[0]
        expires = clock.iso(now + timedelta(hours=body.overlap_hours)) if body.overlap_hours else None
        item.secrets = [{"secret": secret, "expires_at": None}]
        if expires:
            item.secrets.append({"secret": current["secret"], "expires_at": expires})

    item = _change(ctx, endpoint_id, apply)
    return SecretOut(secret=secret, previous_secret_expires_at=_previous_expiry(item))


# --- events and deliveries ---------------------------------------------------------------
def get_event(ctx: TenantContext, event_id: str) -> EventOut:
    item = store.get_event(ctx.tenant_id, event_id) if EVENT_ID.match(event_id) else None
    if item is None:
        raise NotFound("No such event.", code="event_not_found")
    return EventOut(id=item.event_id, type=item.type, created=item.created_at, data=dict(item.data or {}))


def _delivery_out(item: store.DeliveryItem, detail: bool = False) -> DeliveryOut:
    log = [AttemptOut(**e) for e in item.log or []]
    fields: dict[str, Any] = {
        "id": item.delivery_id, "endpoint_id": item.endpoint_id, "event_id": item.event_id,
        "event_type": item.event_type, "status": item.status, "attempts": int(item.attempts or 0),
        "last_attempt": log[-1] if log else None, "next_attempt_at": item.next_attempt_at, "reason": item.reason,
        "created_at": item.created_at}
    return DeliveryDetail(**fields, log=log) if detail else DeliveryOut(**fields)


def _load_delivery(ctx: TenantContext, endpoint_id: str, delivery_id: str) -> store.DeliveryItem:
    _load(ctx, endpoint_id)
    item = store.get_delivery(ctx.tenant_id, delivery_id) if DELIVERY_ID.match(delivery_id) else None
    if item is None or item.endpoint_id != endpoint_id:
        raise NotFound("No such delivery.", code="delivery_not_found")
    return item


def list_deliveries(ctx: TenantContext, endpoint_id: str, query: DeliveryQuery) -> DeliveryPage:
    _load(ctx, endpoint_id)
    scope = f"webhook-deliveries|{endpoint_id}|{query.status or ''}"
    below = cursor.decode(query.cursor, ctx.tenant_id, scope) if query.cursor else None
    items, more = store.list_deliveries(ctx.tenant_id, endpoint_id, below, query.status, query.limit)
    next_cursor = cursor.encode(ctx.tenant_id, scope, items[-1].gsi1sk or "") if more and items else None
    return DeliveryPage(data=[_delivery_out(i) for i in items], next_cursor=next_cursor)


def get_delivery(ctx: TenantContext, endpoint_id: str, delivery_id: str) -> DeliveryOut:
    return _delivery_out(_load_delivery(ctx, endpoint_id, delivery_id), detail=True)


def retry_delivery(ctx: TenantContext, endpoint_id: str, delivery_id: str) -> DeliveryOut:
    """Send it again now (a succeeded one too: a receiver that lost it asks again)."""
    endpoint = _load(ctx, endpoint_id)
    if not endpoint.enabled:
        raise Conflict("The endpoint is disabled; enable it first.", code="webhook_endpoint_disabled")
    item = _load_delivery(ctx, endpoint_id, delivery_id)
    now = clock.now()
    item.status, item.reason = "pending", None
    store.set_due(item, clock.iso(now + sending.LEASE))  # the schedule sends it if this process dies
    try:
        store.save_delivery(item)
    except StaleVersion as exc:
        raise Conflict("The delivery is being sent right now; look again.", code="concurrent_update") from exc
    sending.attempt(item, catalog.view(endpoint), store.get_event(ctx.tenant_id, item.event_id), now)
    return _delivery_out(item, detail=True)


def replay(ctx: TenantContext, endpoint_id: str, body: ReplayIn) -> JobRef:
    """Every event of [since, until) the endpoint subscribes to, delivered again (a job)."""
    endpoint = _load(ctx, endpoint_id)
    if not endpoint.enabled:
        raise Conflict("The endpoint is disabled; enable it first.", code="webhook_endpoint_disabled")
    job = jobs.start(REPLAY_JOB, ctx.tenant_id, {"endpoint_id": endpoint_id, "since": clock.iso(body.since),
                                                 "until": clock.iso(body.until)})
    return JobRef(id=job.job_id, status=job.status)


def _replay_step(tenant_id: str | None, params: dict[str, Any], checkpoint: dict[str, Any] | None) -> jobs.Step:
    """One page of one shard of the tenant's event list: a delivery per event (its id
    derives from the job, so a repeated step creates none twice), each sent at once."""
    assert tenant_id is not None
    point = checkpoint or {"shard": 0, "after": None}
    shard = int(point["shard"])
    endpoint = store.get_endpoint(tenant_id, params["endpoint_id"])
    if endpoint is None or shard >= store.keys.WEBHOOK_LIST_SHARDS:
        return jobs.Step(checkpoint=None)
    view = catalog.view(endpoint)
    found = store.events_between(tenant_id, shard, params["since"], params["until"], point.get("after"),
                                 REPLAY_PAGE)
    now = clock.now()
    cause = f"replay:{params['job_id']}"
    sent = 0
    for event in found:
        if not view.wants(event.type):
            continue
        dlv = store.new_delivery(tenant_id, events.delivery_id(event.event_id, view.endpoint_id, cause),
                                 view.endpoint_id, event, cause, clock.iso(now), clock.iso(now + sending.LEASE),
                                 now.timestamp())
        if store.put_new(dlv):
            sending.attempt(dlv, view, event, now)
            sent += 1
    if len(found) >= REPLAY_PAGE:
        after = found[-1].gsi1sk
        return jobs.Step(checkpoint={"shard": shard, "after": after}, processed=len(found), changed=sent)
    nxt = shard + 1
    return jobs.Step(checkpoint={"shard": nxt, "after": None} if nxt < store.keys.WEBHOOK_LIST_SHARDS else None,
                     processed=len(found), changed=sent)


jobs.register(REPLAY_JOB, _replay_step)
