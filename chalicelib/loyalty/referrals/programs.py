"""Referral programs: create, read, list, replace (version-checked, like the points program)
and archive. A program's references are checked when it is saved: its coupon templates, its
segment and its tier must exist in the tenant."""
from __future__ import annotations

from typing import Any

from ...core import clock
from ...core.errors import Conflict, NotFound, Unprocessable
from ...core.ids import is_id, new_id
from ...core.table import cursor, generations
from ...core.table.transactions import Transaction, TransactionCancelled
from ...core.tenancy import TenantContext
from ..coupons import service as coupons
from . import rules, store
from .schemas import ProgramCreate, ProgramList, ProgramOut, ProgramQuery, ProgramUpdate


#: moved by every program write, in its transaction: sign-ups and referred orders read programs
#: from the process cache below (one generation read per request), not the program item (a hot key)
PROGRAM_GENERATION = "referral_programs"
_cache: dict[tuple[str, str], tuple[int, store.ProgramItem | None]] = {}
_CACHE_MAX = 20_000


def cached(tenant_id: str, program_id: str) -> store.ProgramItem | None:
    """The program as last saved (read-only use: a write loads its own copy)."""
    generation = generations.current(tenant_id, PROGRAM_GENERATION)
    hit = _cache.get((tenant_id, program_id))
    if hit is not None and hit[0] == generation:
        return hit[1]
    item = store.get_program(tenant_id, program_id)
    if len(_cache) >= _CACHE_MAX:
        _cache.clear()
    _cache[(tenant_id, program_id)] = (generation, item)
    return item


def program_out(item: store.ProgramItem) -> ProgramOut:
    return ProgramOut(id=item.program_id, status=item.status, version=int(item.version or 0),  # type: ignore[arg-type]
                      created_at=item.created_at, updated_at=item.updated_at, **dict(item.body))


def load_item(tenant_id: str, program_id: str, field: str | None = None) -> store.ProgramItem:
    item = store.get_program(tenant_id, program_id) if is_id(program_id) else None
    if item is None:
        raise NotFound("No referral program with this id.", code="referral_program_not_found", field=field)
    return item


def newest_active(tenant_id: str) -> store.ProgramItem:
    """The program a request names none of: the newest active one (422 ``program_required`` if none)."""
    items, _ = store.list_programs(tenant_id, None, 20)
    found = next((i for i in items if i.status == "active"), None)
    if found is None:
        raise Unprocessable("Name the referral program (?program=): none is active.", field="program",
                            code="program_required")
    return found


def as_rules(item: store.ProgramItem) -> rules.Program:
    return rules.Program(program_id=item.program_id, status=item.status, body=dict(item.body))


def _checked_body(ctx: TenantContext, body: ProgramCreate | ProgramUpdate) -> dict[str, Any]:
    for side in ("referrer_reward", "referee_reward"):
        template_id = getattr(body, side).coupon_template_id
        if template_id is not None and not coupons.template_exists(ctx.tenant_id, template_id):
            raise Unprocessable("No such coupon template.", field=f"{side}.coupon_template_id",
                                code="unknown_coupon_template")
    who = body.who_may_refer
    if who.segment_id is not None:
        from ...segments import service as segments

        try:
            segments.get_segment(ctx, who.segment_id)
        except NotFound as exc:
            raise Unprocessable("No such segment.", field="who_may_refer.segment_id", code="unknown_segment") from exc
    if who.tier is not None:
        from ...tiers import service as tiers

        if tiers.load_config(ctx.tenant_id).program.tier(who.tier) is None:
            raise Unprocessable("No such tier in the tier program.", field="who_may_refer.tier", code="unknown_tier")
    return body.model_dump(mode="json", exclude={"status", "version"})


def create(ctx: TenantContext, body: ProgramCreate) -> ProgramOut:
    data = _checked_body(ctx, body)
    item = store.new_program(ctx.tenant_id, new_id(), body.status, data, clock.iso(clock.now()))
    tx = Transaction()
    tx.save("program", item, condition=store.ProgramItem.pk.does_not_exist())
    generations.bump(tx, ctx.tenant_id, PROGRAM_GENERATION)
    tx.commit()
    return program_out(item)


def get(ctx: TenantContext, program_id: str) -> ProgramOut:
    return program_out(load_item(ctx.tenant_id, program_id))


def list_programs(ctx: TenantContext, query: ProgramQuery) -> ProgramList:
    scope = "referral-programs"
    before = cursor.decode(query.cursor, ctx.tenant_id, scope) if query.cursor else None
    items, last = store.list_programs(ctx.tenant_id, before, query.limit)
    return ProgramList(data=[program_out(i) for i in items],
                       next_cursor=cursor.encode(ctx.tenant_id, scope, last) if last else None)


def _save(tenant_id: str, item: store.ProgramItem) -> None:
    tx = Transaction()
    tx.save("program", item)  # version-checked
    generations.bump(tx, tenant_id, PROGRAM_GENERATION)
    try:
        tx.commit()
    except TransactionCancelled as exc:
        raise Conflict("The referral program changed meanwhile.", code="version_conflict",
                       current_version=int(item.version or 0)) from exc


def replace(ctx: TenantContext, program_id: str, body: ProgramUpdate) -> ProgramOut:
    """The whole program (it applies to sign-ups and conversions from now on)."""
    item = load_item(ctx.tenant_id, program_id)
    if item.status == "archived":
        raise Conflict("An archived referral program does not change.", code="program_archived")
    if int(item.version or 0) != body.version:
        raise Conflict(f"The referral program is at version {int(item.version or 0)}.", field="version",
                       code="version_conflict", current_version=int(item.version or 0))
    item.body, item.status, item.updated_at = _checked_body(ctx, body), body.status, clock.iso(clock.now())
    _save(ctx.tenant_id, item)
    return program_out(item)


def archive(ctx: TenantContext, program_id: str) -> ProgramOut:
    """No new codes or referrals; referrals already made still convert and can be clawed back."""
    item = load_item(ctx.tenant_id, program_id)
    if item.status != "archived":
        item.status, item.updated_at = "archived", clock.iso(clock.now())
        _save(ctx.tenant_id, item)
    return program_out(item)
