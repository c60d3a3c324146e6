"""Referral programs: the public surface (routes and app.py use these names).

* programs: create / read / list / replace (version-checked) / archive;
* ``member_referral``: a member's one code per program, made on first ask;
* ``on_member_creating`` / ``on_member_matched``: the ``members`` Join participants (app.py);
* ``on_event``: the ``activity.EVENT_RECORDED`` receiver (conversion, clawback);
* ``settle`` and ``REFERRAL_SETTLE``: rewards granted / taken back, once;
* the review queue (held list, approve, reject) and analytics (figures, invite tree).
"""
from __future__ import annotations

from ...core.signals import Delivery
from ...core.table import cursor
from ...core.tenancy import TenantContext
from . import analytics, attribution, lifecycle, moves, programs, sharing, store
from .schemas import ReferralList, ReferralOut, ReferralQuery

REFERRAL_SETTLE = moves.REFERRAL_SETTLE

create_program = programs.create
get_program = programs.get
list_programs = programs.list_programs
replace_program = programs.replace
archive_program = programs.archive
member_referral = sharing.member_referral
on_member_creating = attribution.on_member_creating
on_member_matched = attribution.on_member_matched
on_event = lifecycle.on_event
wants_event = lifecycle.wants_event
settle = lifecycle.settle
report = analytics.report
tree = analytics.tree


def _out(item: store.ReferralItem) -> ReferralOut:
    return ReferralOut(**moves.out(item))


def get_referral(ctx: TenantContext, referral_id: str) -> ReferralOut:
    return _out(lifecycle.load(ctx, referral_id))


def list_referrals(ctx: TenantContext, query: ReferralQuery) -> ReferralList:
    """The review queue, oldest first (a sparse index of held referrals only)."""
    scope = f"referrals|{query.status}"
    after = cursor.decode(query.cursor, ctx.tenant_id, scope) if query.cursor else None
    items, last = store.held_page(ctx.tenant_id, after, query.limit)
    return ReferralList(data=[_out(i) for i in items],
                        next_cursor=cursor.encode(ctx.tenant_id, scope, last) if last else None)


def approve(ctx: TenantContext, referral_id: str) -> ReferralOut:
    return _out(lifecycle.approve(ctx, referral_id))


def reject(ctx: TenantContext, referral_id: str) -> ReferralOut:
    return _out(lifecycle.reject(ctx, referral_id))


def forget_member(delivery: Delivery) -> None:
    """Erasure hook (``members.MEMBER_ERASING``): the member's codes stop working and their
    devices are forgotten."""
    assert delivery.member_id is not None
    store.forget_member(delivery.tenant_id, delivery.member_id)
