"""Billing for a tenant: its Stripe connection, plans, checkout and portal sessions,
memberships (read, cancel, resume), a member's effective benefits, membership analytics.

Every Stripe call goes through the gateway port with the tenant's connected account and,
for writes, an idempotency key derived from Enclave's ids (``enclave:<tenant>:...``), so a
retried call never makes a second object. Stripe is called before the matching write
here, and the write is conditional, so a crash in between leaves at most an unused Stripe
object, never a record of one that does not exist.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..core import audit, clock, observability as obs
from ..core.errors import Conflict, NotFound, Problem, Unprocessable
from ..core.ids import is_id, new_id
from ..core.table import cursor
from ..core.table.transactions import StaleVersion
from ..core.tenancy import TenantContext
from ..members import service as members
from ..tiers import service as tiers
from . import apply, state, store
from .gateway import GatewayError, GatewayRejected, StripeObject, gateway
from .schemas import (
    BenefitSource,
    BenefitsOut,
    CancelIn,
    CheckoutIn,
    CheckoutOut,
    ConnectIn,
    ConnectOut,
    EffectiveBenefit,
    MembershipList,
    MembershipOut,
    PlanCreate,
    PlanListQuery,
    PlanOut,
    PlanPage,
    PlanPatch,
    PlanStripeOut,
    PortalIn,
    PortalOut,
    StripeStatusOut,
)
from .state import Snapshot


def stripe_call(fn: Callable[..., StripeObject], *args: Any, **kwargs: Any) -> StripeObject:
    """Run a gateway call; Stripe's refusals and outages become problems."""
    try:
        return fn(*args, **kwargs)
    except GatewayRejected as exc:
        raise Problem(f"Stripe refused the request: {exc}", status=502, code="stripe_rejected",
                      title="Bad gateway", stripe_code=exc.code) from exc
    except GatewayError as exc:
        raise Problem("Stripe is unavailable; try again.", status=503, code="stripe_unavailable",
                      title="Service unavailable") from exc


def _key(ctx: TenantContext, *parts: object) -> str:
    return ":".join(["enclave", ctx.tenant_id, *(str(p) for p in parts)])


def _meta(ctx: TenantContext, **ids: str) -> dict[str, str]:
    return {state.META_TENANT: ctx.tenant_id, **{f"enclave_{k}": v for k, v in ids.items()}}


# --- Stripe connection -------------------------------------------------------------------
def _status(item: store.StripeAccountItem | None) -> StripeStatusOut:
    if item is None:
        return StripeStatusOut(connected=False)
    return StripeStatusOut(connected=True, account_id=item.account_id, charges_enabled=item.charges_enabled,
                           details_submitted=item.details_submitted, payouts_enabled=item.payouts_enabled,
                           connected_at=item.connected_at, updated_at=item.updated_at)


def stripe_status(ctx: TenantContext) -> StripeStatusOut:
    return _status(store.get_account(ctx.tenant_id))


def connect(ctx: TenantContext, body: ConnectIn) -> ConnectOut:
    """The tenant's connected account (created once) and a fresh onboarding link."""
    gw = gateway(ctx.livemode)
    item = store.get_account(ctx.tenant_id)
    if item is None:
        account = stripe_call(gw.create_account, metadata=_meta(ctx), country=body.country, email=body.email,
                              idempotency_key=_key(ctx, "account"))
        now = clock.iso(clock.now())
        item = store.StripeAccountItem(
            store.keys.billing(ctx.tenant_id), store.STRIPE_SK, tenant_id=ctx.tenant_id, account_id=account["id"],
            charges_enabled=bool(account.get("charges_enabled")),
            details_submitted=bool(account.get("details_submitted")),
            payouts_enabled=bool(account.get("payouts_enabled")), observed_at=0, connected_at=now, updated_at=now)
        entry = audit.Entry(ctx.tenant_id, "stripe_account.connected", "stripe_account", item.account_id, None,
                            apply.audited_account(item))
        if not store.create_account(item, entry):  # a concurrent connect won; same idempotency key, same account
            item = store.get_account(ctx.tenant_id)
            assert item is not None
        obs.count("StripeConnected", ctx.tenant_id)
    link = stripe_call(gw.create_account_link, item.account_id, refresh_url=body.refresh_url,
                       return_url=body.return_url, idempotency_key=_key(ctx, "account_link", new_id()))
    return ConnectOut(onboarding_url=link["url"], expires_at=_ts(link.get("expires_at")), stripe=_status(item))


def _account(ctx: TenantContext) -> str:
    item = store.get_account(ctx.tenant_id)
    if item is None:
        raise Conflict("Connect a Stripe account first (POST /v1/billing/stripe/connect).",
                       code="stripe_not_connected")
    return item.account_id


# --- plans -------------------------------------------------------------------------------
def _plan_out(item: store.PlanItem) -> PlanOut:
    return PlanOut(id=item.plan_id, name=item.name, description=item.description, amount=int(item.amount),
                   currency=item.currency, interval=item.interval, trial_days=int(item.trial_days),
                   benefits=list(item.benefits or []), tier_id=item.tier_id, active=item.active,
                   stripe=PlanStripeOut(product_id=item.stripe_product_id, price_id=item.stripe_price_id),
                   created_at=item.created_at, updated_at=item.updated_at, version=item.version)


def _check_tier(ctx: TenantContext, tier_id: str | None) -> None:
    if tier_id is not None and tiers.load_config(ctx.tenant_id).program.tier(tier_id) is None:
        raise Unprocessable("No tier with this id in the tier program.", field="tier_id", code="unknown_tier")


def _load_plan(ctx: TenantContext, plan_id: str) -> store.PlanItem:
    item = store.get_plan(ctx.tenant_id, plan_id) if is_id(plan_id) else None
    if item is None:
        raise NotFound("No such plan.", code="plan_not_found")
    return item


def _audited_plan(item: store.PlanItem) -> dict[str, Any]:
    return {"name": item.name, "description": item.description, "amount": int(item.amount), "currency": item.currency,
            "interval": item.interval, "trial_days": item.trial_days, "benefits": list(item.benefits or []),
            "tier_id": item.tier_id, "active": item.active}


def create_plan(ctx: TenantContext, body: PlanCreate) -> PlanOut:
    _check_tier(ctx, body.tier_id)
    account = _account(ctx)
    gw = gateway(ctx.livemode)
    plan_id = new_id()
    meta = _meta(ctx, plan_id=plan_id)
    product = stripe_call(gw.create_product, account, name=body.name, description=body.description, metadata=meta,
                          idempotency_key=_key(ctx, "plan", plan_id, "product"))
    price = stripe_call(gw.create_price, account, product_id=product["id"], unit_amount=body.amount,
                        currency=body.currency, interval=body.interval, metadata=meta,
                        idempotency_key=_key(ctx, "plan", plan_id, "price", 1))
    now = clock.iso(clock.now())
    item = store.PlanItem(
        store.keys.plans(ctx.tenant_id), store.plan_sk(plan_id), tenant_id=ctx.tenant_id, plan_id=plan_id,
        name=body.name, description=body.description, amount=body.amount, currency=body.currency.upper(),
        interval=body.interval, trial_days=body.trial_days,
        benefits=[b.model_dump(mode="json") for b in body.benefits], tier_id=body.tier_id, active=True,
        stripe_product_id=product["id"], stripe_price_id=price["id"], price_version=1, created_at=now,
        updated_at=now)
    store.create_plan(item, audit.Entry(ctx.tenant_id, "plan.created", "plan", plan_id, None, _audited_plan(item)))
    item.version = 1
    obs.count("PlanCreated", ctx.tenant_id)
    return _plan_out(item)


def get_plan(ctx: TenantContext, plan_id: str) -> PlanOut:
    return _plan_out(_load_plan(ctx, plan_id))


def list_plans(ctx: TenantContext, query: PlanListQuery) -> PlanPage:
    scope = f"plans|{query.active}"
    after = cursor.decode(query.cursor, ctx.tenant_id, scope) if query.cursor else None
    items, last = store.list_plans(ctx.tenant_id, after, query.limit)
    data = [_plan_out(i) for i in items if query.active is None or i.active == query.active]
    return PlanPage(data=data, next_cursor=cursor.encode(ctx.tenant_id, scope, last) if last else None)


def update_plan(ctx: TenantContext, plan_id: str, patch: PlanPatch) -> PlanOut:
    item = _load_plan(ctx, plan_id)
    if patch.version != item.version:
        raise Conflict(f"The plan is at version {item.version}.", field="version", code="version_conflict",
                       current_version=item.version)
    given = patch.model_fields_set
    before = _audited_plan(item)
    if "tier_id" in given:
        _check_tier(ctx, patch.tier_id)
    account = _account(ctx)
    gw = gateway(ctx.livemode)
    meta = _meta(ctx, plan_id=plan_id)
    amount = patch.amount if patch.amount is not None else int(item.amount)
    currency = (patch.currency or item.currency).upper()
    interval = patch.interval or item.interval
    old_price = item.stripe_price_id
    if (amount, currency, interval) != (int(item.amount), item.currency, item.interval):
        next_version = int(item.price_version) + 1
        price = stripe_call(gw.create_price, account, product_id=item.stripe_product_id, unit_amount=amount,
                            currency=currency, interval=interval, metadata=meta,
                            idempotency_key=_key(ctx, "plan", plan_id, "price", next_version))
        item.amount, item.currency, item.interval = amount, currency, interval
        item.stripe_price_id, item.price_version = price["id"], next_version
        item.archive_pending = [*(item.archive_pending or []), old_price]
    product_fields: dict[str, object] = {}
    if patch.name is not None and patch.name != item.name:
        product_fields["name"] = item.name = patch.name
    if "description" in given and patch.description != item.description:
        item.description = patch.description
        product_fields["description"] = patch.description or ""
    if patch.active is not None and patch.active != item.active:
        product_fields["active"] = item.active = patch.active
    if product_fields:
        stripe_call(gw.update_product, account, item.stripe_product_id, fields=product_fields,
                    idempotency_key=_key(ctx, "plan", plan_id, "product", f"v{item.version + 1}"))
    if patch.trial_days is not None:
        item.trial_days = patch.trial_days
    if patch.benefits is not None:
        item.benefits = [b.model_dump(mode="json") for b in patch.benefits]
    tier_changed = "tier_id" in given and patch.tier_id != item.tier_id
    if "tier_id" in given:
        item.tier_id = patch.tier_id
    item.updated_at = clock.iso(clock.now())
    try:
        store.save_plan(item, audit.Entry(ctx.tenant_id, "plan.updated", "plan", plan_id, before, _audited_plan(item)))
    except StaleVersion as exc:
        raise Conflict("The plan changed meanwhile; read it and try again.", field="version",
                       code="version_conflict") from exc
    apply.archive_replaced_prices(ctx.tenant_id, account, item)
    if tier_changed:
        from . import reconcile

        reconcile.start_plan_tier_job(ctx.tenant_id, plan_id)
    return _plan_out(item)


# --- purchase and self-service -------------------------------------------------------------------
def _memberships(ctx: TenantContext, member_id: str) -> list[store.MembershipItem]:
    return store.list_memberships(ctx.tenant_id, member_id)


def checkout(ctx: TenantContext, member_id: str, body: CheckoutIn) -> CheckoutOut:
    member = members.get_member(ctx, member_id)  # 404 / 410 first: nothing else leaks
    plan = store.get_plan(ctx.tenant_id, body.plan_id)
    if plan is None:
        raise Unprocessable("No plan with this id.", field="plan_id", code="unknown_plan")
    if not plan.active:
        raise Unprocessable("This plan is archived.", field="plan_id", code="plan_archived")
    account = _account(ctx)
    now = state.epoch(clock.now())
    for m in _memberships(ctx, member_id):
        if m.plan_id == plan.plan_id and m.state and state.entitled(Snapshot.from_dict(m.state), now):
            raise Conflict("The member already has this plan.", field="plan_id", code="already_member",
                           membership_id=m.membership_id)
    customer = _customer(ctx, member.id, member.name, member.email, account)
    session = stripe_call(
        gateway(ctx.livemode).create_checkout_session, account, customer=customer, price_id=plan.stripe_price_id,
        success_url=body.success_url, cancel_url=body.cancel_url, trial_days=int(plan.trial_days),
        client_reference_id=member.id, metadata=_meta(ctx, member_id=member.id, plan_id=plan.plan_id),
        idempotency_key=_key(ctx, "checkout", member.id, plan.plan_id, new_id()))
    obs.count("CheckoutStarted", ctx.tenant_id)
    return CheckoutOut(id=session["id"], url=session["url"], plan_id=plan.plan_id, customer_id=customer,
                       expires_at=_ts(session.get("expires_at")))


def _customer(ctx: TenantContext, member_id: str, name: str | None, email: str | None, account: str) -> str:
    """The member's Stripe customer on the tenant's account, created once."""
    item = store.get_customer(ctx.tenant_id, member_id)
    if item is not None:
        return item.customer_id
    customer = stripe_call(gateway(ctx.livemode).create_customer, account, name=name, email=email,
                           metadata=_meta(ctx, member_id=member_id),
                           idempotency_key=_key(ctx, "customer", member_id))
    return store.create_customer(ctx.tenant_id, member_id, customer["id"], clock.iso(clock.now()))


def portal(ctx: TenantContext, member_id: str, body: PortalIn) -> PortalOut:
    members.get_member(ctx, member_id)
    item = store.get_customer(ctx.tenant_id, member_id)
    if item is None:
        raise Conflict("The member has no Stripe customer yet (nothing bought).", code="no_customer")
    account = _account(ctx)
    session = stripe_call(gateway(ctx.livemode).create_portal_session, account, customer=item.customer_id,
                          return_url=body.return_url, idempotency_key=_key(ctx, "portal", member_id, new_id()))
    return PortalOut(id=session["id"], url=session["url"])


# --- memberships -------------------------------------------------------------------------------
def _ts(value: int | None) -> str | None:
    return clock.iso(state.from_epoch(value)) if value is not None else None  # type: ignore[arg-type]


def membership_out(item: store.MembershipItem, now: int) -> MembershipOut:
    s = Snapshot.from_dict(item.state)
    return MembershipOut(
        id=item.membership_id, member_id=item.member_id, plan_id=item.plan_id,
        status=state.effective_status(s, now), entitled=state.entitled(s, now),
        cancel_at_period_end=s.cancel_at_period_end, current_period_start=_ts(s.current_period_start),
        current_period_end=_ts(s.current_period_end), ends_at=_ts(s.ends_at), trial_end=_ts(s.trial_end),
        amount=s.amount, currency=s.currency, interval=s.interval, activated_at=item.activated_at,
        created_at=item.created_at, updated_at=item.updated_at)


def list_memberships(ctx: TenantContext, member_id: str) -> MembershipList:
    members.get_member(ctx, member_id)
    now = state.epoch(clock.now())
    items = sorted(_memberships(ctx, member_id), key=lambda i: i.created_at, reverse=True)
    return MembershipList(data=[membership_out(i, now) for i in items if i.state])


def _load_membership(ctx: TenantContext, member_id: str, membership_id: str) -> store.MembershipItem:
    members.get_member(ctx, member_id)
    item = (store.get_membership(ctx.tenant_id, member_id, membership_id)
            if membership_id.startswith("sub_") and len(membership_id) <= 255 else None)
    if item is None or not item.state:
        raise NotFound("No such membership.", code="membership_not_found")
    return item


def cancel(ctx: TenantContext, member_id: str, membership_id: str, body: CancelIn) -> MembershipOut:
    item = _load_membership(ctx, member_id, membership_id)
    now = clock.now()
    s = Snapshot.from_dict(item.state)
    if state.effective_status(s, state.epoch(now)) in state.TERMINAL:
        raise Conflict("The membership has ended.", code="membership_ended")
    account = _account(ctx)
    gw = gateway(ctx.livemode)
    if body.at_period_end:
        answer = stripe_call(gw.set_cancel_at_period_end, account, membership_id, True,
                             idempotency_key=_key(ctx, membership_id, "cancel_at_period_end", f"v{item.version}"))
    else:
        answer = stripe_call(gw.cancel_subscription_now, account, membership_id,
                             idempotency_key=_key(ctx, membership_id, "cancel_now", f"v{item.version}"))
    return _after_change(ctx, item, answer, "membership.cancel_requested" if body.at_period_end
                         else "membership.canceled_now")


def resume(ctx: TenantContext, member_id: str, membership_id: str) -> MembershipOut:
    item = _load_membership(ctx, member_id, membership_id)
    now = clock.now()
    s = Snapshot.from_dict(item.state)
    if state.effective_status(s, state.epoch(now)) in state.TERMINAL:
        raise Conflict("The membership has ended; buy the plan again.", code="membership_ended")
    if s.ends_at is None:
        raise Conflict("The membership is not set to end.", code="not_canceling")
    answer = stripe_call(gateway(ctx.livemode).set_cancel_at_period_end, _account(ctx), membership_id, False,
                         idempotency_key=_key(ctx, membership_id, "resume", f"v{item.version}"))
    return _after_change(ctx, item, answer, "membership.resumed")


def _audited_membership(snap: Snapshot) -> dict[str, Any]:
    return {"status": snap.status, "cancel_at_period_end": snap.cancel_at_period_end, "cancel_at": snap.cancel_at,
            "ended_at": snap.ended_at}


def _after_change(ctx: TenantContext, item: store.MembershipItem, answer: StripeObject, action: str) -> MembershipOut:
    """Apply Stripe's answer (the subscription after the change) as newer than the state
    the change was made against, in Stripe's time (``state.after_write``): Stripe's own
    event for the change, or a later one, still applies; an older one does not. The audit
    record (what we had, what Stripe answered) commits with that write."""
    if answer.get("id") == item.membership_id:
        before = Snapshot.from_dict(item.state)
        observed_at, revision = state.after_write(answer, before)
        entry = audit.Entry(ctx.tenant_id, action, "membership", item.membership_id,
                            {"member_id": item.member_id, **_audited_membership(before)},
                            {"member_id": item.member_id,
                             **_audited_membership(state.snapshot(answer, observed_at, revision))})
        apply.apply_subscription(ctx.tenant_id, answer, observed_at, revision=revision, audited=entry)
    fresh = store.get_membership(ctx.tenant_id, item.member_id, item.membership_id) or item
    return membership_out(fresh, state.epoch(clock.now()))


# --- benefits --------------------------------------------------------------------------------------
def active_plan_ids(tenant_id: str, member_ids: list[str]) -> dict[str, set[str]]:
    """Plans each member is entitled to now (one Query per member): for segment filters
    with a ``plan`` term."""
    now = state.epoch(clock.now())
    return {
        member_id: {m.plan_id for m in store.list_memberships(tenant_id, member_id)
                    if m.state and state.entitled(Snapshot.from_dict(m.state), now)}
        for member_id in member_ids
    }


def benefits(ctx: TenantContext, member_id: str) -> BenefitsOut:
    """Tier benefits (the effective tier: earned, hand-assigned, or plan-granted) plus the
    benefits of every plan the member is entitled to now."""
    tier = tiers.member_tier(ctx, member_id)  # 404 / 410 like every member route
    out: list[EffectiveBenefit] = []
    if tier.tier is not None:
        out += [EffectiveBenefit(benefit=b, source=BenefitSource(kind="tier", id=tier.tier.id))
                for b in tier.tier.benefits]
    now = state.epoch(clock.now())
    plan_ids: list[str] = []
    for m in _memberships(ctx, member_id):
        if not m.state or not state.entitled(Snapshot.from_dict(m.state), now) or m.plan_id in plan_ids:
            continue
        plan = store.get_plan(ctx.tenant_id, m.plan_id)
        if plan is None:
            continue
        plan_ids.append(plan.plan_id)
        out += [EffectiveBenefit(benefit=b, source=BenefitSource(kind="plan", id=plan.plan_id))
                for b in plan.benefits or []]
    return BenefitsOut(member_id=member_id, tier_id=tier.tier.id if tier.tier else None, tier_source=tier.source,
                       plan_ids=plan_ids, benefits=out)
