"""Reading the audit log: newest first, by target, actor and time, paged by signed cursors."""
from __future__ import annotations

from ...core import clock
from ...core.audit import store
from ...core.errors import Unprocessable
from ...core.table import cursor, keys
from ...core.tenancy import TenantContext
from .schemas import AuditActor, AuditEvent, AuditPage, AuditQuery, AuditTarget, FieldChange


def _out(item: store.AuditItem) -> AuditEvent:
    return AuditEvent(
        id=item.event_id, at=item.at, actor=AuditActor(id=item.actor, role=item.actor_role), action=item.action,
        target=AuditTarget(type=item.target_type, id=item.target_id),
        changes=[FieldChange(**c) for c in item.changes or []], truncated=bool(item.truncated),
        request_id=item.request_id,
    )


def list_events(ctx: TenantContext, query: AuditQuery) -> AuditPage:
    """One page of the tenant's records. A target is read from its own index (GSI1), an
    actor from its sharded index (GSI2), anything else from the sharded time list; other
    filters apply on top. Every key starts with the caller's tenant, so no filter value
    reaches another tenant's records."""
    if query.target and not query.target_type:
        raise Unprocessable("target needs target_type.", field="target_type", code="validation_failed")
    t = ctx.tenant_id
    scope = f"audit:{query.target_type}:{query.target}:{query.actor}:{query.since}"
    before = cursor.decode(query.cursor, t, scope) if query.cursor else None
    since = clock.iso(query.since) if query.since else None
    actor, target_type = query.actor, query.target_type
    if query.target_type and query.target:
        pks, index = [keys.audit_by_target(t, query.target_type, query.target)], "gsi1"
        target_type = None
    elif query.actor:
        pks, index = keys.audit_by_actor_shards(t, query.actor), "gsi2"
        actor = None
    else:
        pks, index = keys.audit_list_shards(t), None
    items, more = store.page(pks, index, before, since, query.limit, actor=actor, target_type=target_type)
    next_cursor = cursor.encode(t, scope, items[-1].sk) if more and items else None
    return AuditPage(data=[_out(i) for i in items], next_cursor=next_cursor)
