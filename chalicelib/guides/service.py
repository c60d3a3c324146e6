"""Stores and guides, and who a caller is: a console user with role ``guide`` acts as the
guide linked to its subject and reaches only the guide routes (their own members and tasks);
API keys and other roles act as the tenant's staff and see everything their permissions allow.

A guide is created with its personal channel code (a members channel typed ``guide``) in one
transaction; a member who signs up through it is bound to the guide (``ownership``).
"""
from __future__ import annotations

from ..core import clock
from ..core.errors import Conflict, Forbidden, NotFound
from ..core.ids import is_id, new_id
from ..core.table import counters, keys
from ..core.table.transactions import Transaction, TransactionCancelled
from ..core.tenancy import TenantContext
from ..members import service as members
from . import counting, store
from .schemas import GuideCreate, GuideList, GuideListQuery, GuideOut, StoreCreate, StoreList, StoreOut, StorePatch

GUIDE_CODE_PREFIX = "guide-"


def guide_code(guide_id: str) -> str:
    return f"{GUIDE_CODE_PREFIX}{guide_id.lower()}"


def guide_id_of_code(code: str | None) -> str | None:
    if not code or not code.startswith(GUIDE_CODE_PREFIX):
        return None
    guide_id = code[len(GUIDE_CODE_PREFIX):].upper()
    return guide_id if is_id(guide_id) else None


# --- who is calling ------------------------------------------------------------------------------
def acting_guide(ctx: TenantContext, permission: str) -> store.GuideItem | None:
    """The guide a guide-role user acts as (403 if none is linked or it left); None for the
    tenant's staff, who must hold ``permission``."""
    if ctx.role != "guide":
        ctx.require(permission)
        return None
    guide_id = store.guide_of_user(ctx.tenant_id, ctx.principal_id)
    guide = store.get_guide(ctx.tenant_id, guide_id) if guide_id else None
    if guide is None or guide.status != "active":
        raise Forbidden("This user is not linked to an active guide.", code="not_a_guide")
    return guide


def require_guide(ctx: TenantContext) -> store.GuideItem:
    guide = acting_guide(ctx, "guide")
    if guide is None:
        raise Forbidden("Only a guide-role user has 'me' here.", code="not_a_guide")
    return guide


# --- stores -----------------------------------------------------------------------------------------
def _store_out(item: store.StoreItem, pool: str | None) -> StoreOut:
    return StoreOut(id=item.store_id, name=item.name, region=item.region, timezone=item.timezone,
                    task_pool=item.store_id == pool, created_at=item.created_at)


def load_store(tenant_id: str, store_id: str, field: str | None = None) -> store.StoreItem:
    item = store.get_store(tenant_id, store_id) if is_id(store_id) else None
    if item is None:
        raise NotFound("No such store.", code="store_not_found", field=field)
    return item


def _stage_pool(tx: Transaction, tenant_id: str, store_id: str) -> None:
    settings = store.get_settings(tenant_id)
    settings.pool_store_id = store_id
    tx.save("pool", settings)


def create_store(ctx: TenantContext, body: StoreCreate) -> StoreOut:
    now = clock.iso(clock.now())
    store_id = new_id()
    item = store.StoreItem(keys.stores(ctx.tenant_id), keys.store_sk(store_id), store_id=store_id, name=body.name,
                           region=body.region, timezone=body.timezone, created_at=now, updated_at=now)
    tx = Transaction()
    tx.save("store", item, condition=store.StoreItem.pk.does_not_exist())
    if body.task_pool:
        _stage_pool(tx, ctx.tenant_id, store_id)
    tx.commit()
    return _store_out(item, store_id if body.task_pool else store.get_settings(ctx.tenant_id).pool_store_id)


def get_store(ctx: TenantContext, store_id: str) -> StoreOut:
    return _store_out(load_store(ctx.tenant_id, store_id), store.get_settings(ctx.tenant_id).pool_store_id)


def list_stores(ctx: TenantContext) -> StoreList:
    pool = store.get_settings(ctx.tenant_id).pool_store_id
    return StoreList(data=[_store_out(s, pool) for s in store.list_stores(ctx.tenant_id)])


def update_store(ctx: TenantContext, store_id: str, body: StorePatch) -> StoreOut:
    item = load_store(ctx.tenant_id, store_id)
    for name in ("name", "region", "timezone"):
        if name in body.model_fields_set and getattr(body, name) is not None:
            setattr(item, name, getattr(body, name))
    item.updated_at = clock.iso(clock.now())
    tx = Transaction()
    tx.save("store", item)
    settings = store.get_settings(ctx.tenant_id)
    if body.task_pool is True:
        _stage_pool(tx, ctx.tenant_id, store_id)
    elif body.task_pool is False and settings.pool_store_id == store_id:
        settings.pool_store_id = None
        tx.save("pool", settings)
    try:
        tx.commit()
    except TransactionCancelled as exc:
        raise Conflict("The store changed meanwhile; try again.", code="concurrent_update") from exc
    return get_store(ctx, store_id)


def pool_store(tenant_id: str) -> store.StoreItem | None:
    pool = store.get_settings(tenant_id).pool_store_id
    return store.get_store(tenant_id, pool) if pool else None


# --- guides ------------------------------------------------------------------------------------------
def guide_out(item: store.GuideItem, count: int | None = None) -> GuideOut:
    return GuideOut(id=item.guide_id, display_name=item.display_name, store_id=item.store_id,
                    status=item.status, external_staff_id=item.external_staff_id,  # type: ignore[arg-type]
                    user_sub=item.user_sub, channel_code=item.channel_code, member_count=count,
                    created_at=item.created_at, left_at=item.left_at, leave_job_id=item.leave_job_id)


def member_count(tenant_id: str, guide_id: str) -> int:
    name = counting.name(tenant_id, counting.MEMBERS, guide_id)
    return counters.read([name])[name]


def load_guide(tenant_id: str, guide_id: str, field: str | None = None) -> store.GuideItem:
    item = store.get_guide(tenant_id, guide_id) if is_id(guide_id) else None
    if item is None:
        raise NotFound("No such guide.", code="guide_not_found", field=field)
    return item


def create_guide(ctx: TenantContext, body: GuideCreate) -> GuideOut:
    load_store(ctx.tenant_id, body.store_id, field="store_id")
    now = clock.iso(clock.now())
    guide_id = new_id()
    item = store.GuideItem(keys.guides(ctx.tenant_id), keys.guide_sk(guide_id), guide_id=guide_id,
                           display_name=body.display_name, store_id=body.store_id, status="active",
                           external_staff_id=body.external_staff_id, user_sub=body.user_sub,
                           channel_code=guide_code(guide_id), created_at=now)
    item.gsi1pk, item.gsi1sk = keys.guides_of_store(ctx.tenant_id, body.store_id), guide_id
    tx = Transaction()
    tx.save("guide", item, condition=store.GuideItem.pk.does_not_exist())
    members.stage_guide_channel(tx, ctx.tenant_id, item.channel_code, f"Guide {body.display_name}")
    if body.user_sub:
        store.stage_guide_user(tx, ctx.tenant_id, body.user_sub, guide_id)
    try:
        tx.commit()
    except TransactionCancelled as exc:
        if "user" in exc.failed:
            raise Conflict("This console user is linked to another guide.", field="user_sub",
                           code="user_already_guide") from exc
        raise
    return guide_out(item, 0)


def get_guide(ctx: TenantContext, guide_id: str) -> GuideOut:
    item = load_guide(ctx.tenant_id, guide_id)
    return guide_out(item, member_count(ctx.tenant_id, guide_id))


def list_guides(ctx: TenantContext, query: GuideListQuery) -> GuideList:
    return GuideList(data=[guide_out(g) for g in store.list_guides(ctx.tenant_id, query.store_id)])


def me(ctx: TenantContext) -> GuideOut:
    guide = require_guide(ctx)
    return guide_out(guide, member_count(ctx.tenant_id, guide.guide_id))
