"""Applying what Stripe says about a subscription to a membership, and the effects that
follow a committed change. Used by webhooks, by reconciliation, and by the API's own
cancel/resume (which apply Stripe's answer).

One transaction holds the Stripe event's claim (when there is one), the membership (its
version checked: two handlers of one subscription serialize here, and the loser retries
against the winner's state) and every counter move. The domain events it implies
(``membership.*``, with their claims) are in that same transaction, and so is the signal
that brings the plan-granted tier up to date (``ENTITLEMENT_CHANGED``, delivered through
the outbox). Memberships written before that may still list pending effects; those are
finished on the next touch (a redelivery, reconciliation).
"""
from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from ..activity import service as activity
from ..core import audit, clock, observability as obs
from ..core.errors import Problem
from ..core.ids import is_id
from ..core.signals import Delivery, Signal
from ..core.table.transactions import StaleVersion, Transaction, TransactionCancelled, retrying
from ..core.tenancy import READ, TenantContext
from ..members import service as members
from ..tenants import service as tenants
from ..tiers import service as tiers
from . import state, store
from .gateway import GatewayError, gateway
from .state import Snapshot

MAX_ATTEMPTS = 30
#: a pending effect of memberships written before domain events moved into the write's
#: transaction (``run_effects`` still finishes those)
TIER_SYNC = "_plan_tier"
#: a membership gained or lost its entitlement: the member's plan-granted tier follows
#: (delivered after the membership's commit, at least once, by the outbox)
ENTITLEMENT_CHANGED = Signal("billing.entitlement_changed")


@dataclass(frozen=True)
class Claim:
    event_id: str
    type: str


@dataclass
class Applied:
    #: applied | unchanged | stale | duplicate | ignored
    outcome: str
    membership: store.MembershipItem | None = None
    reason: str | None = None


def system_ctx(tenant_id: str) -> TenantContext:
    return TenantContext(tenant_id=tenant_id, principal_type="system", principal_id="stripe",
                         permissions=frozenset({READ}))


def _live_member(tenant_id: str, member_id: str) -> bool:
    if not is_id(member_id):
        return False
    try:
        members.get_member(system_ctx(tenant_id), member_id)
    except Problem:
        return False  # unknown or erased: not a membership of this tenant (any more)
    return True


def _month(epoch_s: int, tenant_id: str) -> str:
    local = state.from_epoch(epoch_s).astimezone(ZoneInfo(tenants.tenant_settings(tenant_id).timezone))  # type: ignore[union-attr]
    return f"{local.year:04d}-{local.month:02d}"


def _stage_counts(tx: Transaction, item: store.MembershipItem, snap: Snapshot) -> None:
    """Move the counters from what the item counted to what ``snap`` means."""
    t, seed = item.tenant_id, item.membership_id
    if item.counted_status != snap.status:
        if item.counted_status:
            store.add_counter(tx, store.status_counter(t, item.plan_id, item.counted_status), seed, -1)
        store.add_counter(tx, store.status_counter(t, item.plan_id, snap.status), seed, +1)
        item.counted_status = snap.status
    mrr = snap.monthly_amount_x12 if snap.status in state.RECURRING and snap.currency else 0
    currency = snap.currency if mrr else None
    old_mrr, old_currency = int(item.counted_mrr_x12 or 0), item.counted_currency
    if (old_mrr, old_currency) != (mrr, currency):
        if old_currency and old_currency == currency:
            store.add_counter(tx, store.mrr_counter(t, currency), seed, mrr - old_mrr)  # one item, one action
        else:
            if old_mrr and old_currency:
                store.add_counter(tx, store.mrr_counter(t, old_currency), seed, -old_mrr)
            if mrr and currency:
                store.add_counter(tx, store.mrr_counter(t, currency), seed, mrr)
        item.counted_mrr_x12, item.counted_currency = mrr, currency
    # counted once, in the month Stripe's fields give, whichever observation comes first
    # (a membership first seen canceled or renewed was still activated, back then)
    if snap.ever_activated and not item.activated_at:
        item.activated_at = clock.iso(state.from_epoch(snap.activated_at))  # type: ignore[arg-type]
        store.add_counter(tx, store.new_counter(t, _month(snap.activated_at, t)), seed, +1)
    if snap.terminal and item.activated_at and not item.churn_counted:
        ended = snap.ended_at or snap.canceled_at or snap.observed_at
        store.add_counter(tx, store.churn_counter(t, _month(int(ended), t)), seed, +1)
        item.churn_counted = True


def _due(snap: Snapshot) -> str | None:
    """When reconciliation should look again: the scheduled end, else the period end."""
    if snap.terminal:
        return None
    moment = snap.ends_at or snap.current_period_end
    return clock.iso(state.from_epoch(moment)) if moment else clock.iso(clock.now())  # type: ignore[arg-type]


def _same_state(a: Snapshot, b: Snapshot | None) -> bool:
    if b is None:
        return False
    left, right = a.to_dict(), b.to_dict()
    for moment in ("observed_at", "revision"):
        left.pop(moment), right.pop(moment)
    return left == right


def _claim_only(tenant_id: str, claim: Claim | None, outcome: str, item: store.MembershipItem | None,
                audited: audit.Entry | None = None) -> Applied:
    """Nothing to apply: record the claim (a webhook's) and the audit record (an API change
    whose answer was applied already, e.g. by Stripe's own event for it)."""
    if claim is None and audited is None:
        return Applied(outcome, item)
    tx = Transaction()
    if claim is not None:
        _stage_claim(tx, tenant_id, claim, outcome, item)
    if audited is not None:
        audited.stage(tx)
    try:
        tx.commit()
    except TransactionCancelled as exc:
        if store.CLAIM_LABEL in exc.failed:
            return Applied("duplicate", item)
        raise
    return Applied(outcome, item)


def _stage_claim(tx: Transaction, tenant_id: str, claim: Claim, outcome: str,
                 item: store.MembershipItem | None) -> None:
    now = clock.now()
    store.stage_claim(tx, tenant_id, claim.event_id, claim.type, outcome, clock.iso(now),
                      int((now + store.CLAIM_TTL).timestamp()),
                      member_id=item.member_id if item else None,
                      membership_id=item.membership_id if item else None)


def apply_subscription(tenant_id: str, obj: dict, observed_at: int, claim: Claim | None = None,
                       revision: int = 0, audited: audit.Entry | None = None) -> Applied:
    """Apply one observation of a Stripe subscription (``obj``) seen at ``observed_at``
    (Stripe's time; ``revision`` orders our own writes' answers within it, see ``state``).
    ``audited``: the record of the API change this answers (cancel, resume), committed with
    the membership, or alone when there is nothing left to apply."""
    owner = state.enclave_owner(obj)
    if owner is None or owner[0] != tenant_id:
        return Applied("ignored", reason="not_an_enclave_subscription")
    _, member_id, plan_id = owner
    if not is_id(member_id):
        return Applied("ignored", reason="unknown_member")
    snap = state.snapshot(obj, observed_at, revision)
    read: list[store.MembershipItem | None] = [None]  # the membership the last attempt saw

    def attempt(n: int) -> Applied:
        item = read[0] = store.get_membership(tenant_id, member_id, snap.subscription_id)
        # a membership exists only for a live member (erasure deletes it): check the member once
        if item is None and n == 0 and not _live_member(tenant_id, member_id):
            return Applied("ignored", reason="unknown_member")
        before = Snapshot.from_dict(item.state) if item is not None and item.state else None
        if not state.newer(snap, before):
            return _claim_only(tenant_id, claim, "unchanged" if _same_state(snap, before) else "stale", item,
                               audited)
        # the same state seen later is still written: its newer moment must outrank older events
        outcome = "unchanged" if _same_state(snap, before) else "applied"
        now = clock.iso(clock.now())
        target = item or store.new_membership(tenant_id, member_id, snap.subscription_id, plan_id, now)
        was_entitled = before is not None and before.status in state.ENTITLED
        events = state.domain_events(before, snap, bool(target.activated_at),
                                     int(target.paid_through) if target.paid_through else None, target.plan_id)
        if any(e.type in ("membership.activated", "membership.renewed") for e in events):
            target.paid_through = snap.current_period_end
        tx = Transaction()
        _stage_counts(tx, target, snap)
        target.state, target.status, target.updated_at = snap.to_dict(), snap.status, now
        # the membership events commit with the membership (a replay cancels on their claims),
        # and the tier follows through the outbox: no second write, no leftovers to finish
        for e in events:
            activity.stage_domain_event(tx, tenant_id, member_id, e.type, e.event_id, e.data,
                                        state.from_epoch(e.occurred_at))
        if was_entitled != (snap.status in state.ENTITLED):
            ENTITLEMENT_CHANGED.stage(tx, tenant_id, member_id, {"subscription_id": snap.subscription_id})
        store.place_due(target, _due(snap))
        store.stage_membership(tx, target)
        if claim is not None:
            _stage_claim(tx, tenant_id, claim, outcome, target)
        if audited is not None:
            audited.stage(tx)
        tx.commit()  # another handler may change the membership first: retrying() compares again
        obs.count("MembershipChanged", tenant_id)
        run_effects(target)
        return Applied(outcome, target)

    try:
        return retrying(attempt, attempts=MAX_ATTEMPTS, retry_if=_not_claimed,
                        conflict="The membership kept changing; Stripe will redeliver.")
    except TransactionCancelled:  # the event's claim exists: this delivery was applied already
        return Applied("duplicate", read[0])


# --- effects -----------------------------------------------------------------------------
def on_entitlement_changed(delivery: Delivery) -> None:
    """Receiver of :data:`ENTITLEMENT_CHANGED`: the member's plan-granted tier."""
    assert delivery.member_id is not None
    sync_plan_tier(delivery.tenant_id, delivery.member_id)


def run_effects(item: store.MembershipItem) -> None:
    """Finish what a membership written before its events moved into its own transaction
    still lists as pending: record those domain events and bring the plan tier up to date,
    then clear them (each step is idempotent: a repeat records nothing twice)."""
    pending = list(item.pending_events or [])
    if not pending:
        return
    done: list[str] = []
    for entry in pending:
        if entry["type"] == TIER_SYNC:
            sync_plan_tier(item.tenant_id, item.member_id)
        else:
            activity.record_domain_event(item.tenant_id, item.member_id, entry["type"], entry["event_id"],
                                         entry.get("data") or {}, state.from_epoch(entry.get("occurred_at")))
        done.append(entry["event_id"])
    store.clear_pending(item, done)


def granted_tier(tenant_id: str, memberships: list[store.MembershipItem], now: int) -> tuple[str | None, str | None]:
    """(tier, plan) of the highest tier any entitled membership's plan grants."""
    program = tiers.load_config(tenant_id).program
    best: tuple[int, str | None, str | None] = (0, None, None)
    for m in memberships:
        if not m.state or not state.entitled(Snapshot.from_dict(m.state), now):
            continue
        plan = store.get_plan(tenant_id, m.plan_id)
        if plan is not None and plan.tier_id and program.rank(plan.tier_id) > best[0]:
            best = (program.rank(plan.tier_id), plan.tier_id, plan.plan_id)
    return best[1], best[2]


def sync_plan_tier(tenant_id: str, member_id: str) -> None:
    """Set the tier the member's entitled plans grant (None: the earned tier returns).
    Re-checked after the write, so a membership changed meanwhile is not missed."""
    for _ in range(3):
        now = state.epoch(clock.now())
        tier, plan = granted_tier(tenant_id, store.list_memberships(tenant_id, member_id), now)
        try:
            tiers.set_plan_tier(tenant_id, member_id, tier, reason=f"plan:{plan}" if plan else "plan_ended")
        except Problem as problem:  # the plan's tier left the program: grant nothing
            obs.logger.warning("plan tier not applied", extra={"code": problem.code})
            tiers.set_plan_tier(tenant_id, member_id, None, reason="plan_tier_unknown")
        again, _ = granted_tier(tenant_id, store.list_memberships(tenant_id, member_id), now)
        if again == tier:
            return


def forget_member(delivery: Delivery) -> None:
    """Erasure hook: take the member's memberships out of the counters and drop them
    (the Stripe customer and subscriptions stay on the brand's Stripe account)."""
    tenant_id, member_id = delivery.tenant_id, delivery.member_id
    assert member_id is not None
    for item in store.list_memberships(tenant_id, member_id):
        tx = Transaction()  # one per membership: two could share a counter shard
        seed = item.membership_id
        if item.counted_status:
            store.add_counter(tx, store.status_counter(tenant_id, item.plan_id, item.counted_status), seed, -1)
        if item.counted_mrr_x12 and item.counted_currency:
            store.add_counter(tx, store.mrr_counter(tenant_id, item.counted_currency), seed,
                              -int(item.counted_mrr_x12))
        store.stage_delete_membership(tx, item)
        tx.commit()


def audited_account(item: store.StripeAccountItem) -> dict[str, bool]:
    """What the audit log shows of a Stripe connection (onboarding flags)."""
    return {"charges_enabled": bool(item.charges_enabled), "details_submitted": bool(item.details_submitted),
            "payouts_enabled": bool(item.payouts_enabled)}


def apply_account(tenant_id: str, account_id: str, obj: dict, observed_at: int, claim: Claim | None) -> str:
    """``account.updated``: keep the connection's status current (newer observations only)."""
    def attempt(_: int) -> str:
        item = store.get_account(tenant_id)
        if item is None or item.account_id != account_id or obj.get("id") != account_id:
            return "ignored"
        if observed_at < int(item.observed_at or 0):
            return _claim_only(tenant_id, claim, "stale", None).outcome
        before = audited_account(item)
        item.charges_enabled = bool(obj.get("charges_enabled"))
        item.details_submitted = bool(obj.get("details_submitted"))
        item.payouts_enabled = bool(obj.get("payouts_enabled"))
        item.observed_at, item.updated_at = observed_at, clock.iso(clock.now())
        tx = Transaction()
        tx.save("account", item)
        if claim is not None:
            _stage_claim(tx, tenant_id, claim, "applied", None)
        # onboarding progress (Stripe's word, by its webhook): nothing when no flag moved
        with audit.acting_as_system("stripe"):
            audit.stage(tx, tenant_id, "stripe_account.updated", "stripe_account", account_id, before,
                        audited_account(item))
        tx.commit()
        return "applied"

    try:
        return retrying(attempt, attempts=MAX_ATTEMPTS, retry_if=_not_claimed,
                        conflict="The Stripe connection kept changing; Stripe will redeliver.")
    except TransactionCancelled:  # the event's claim exists: this delivery was applied already
        return "duplicate"


def _not_claimed(exc: StaleVersion | TransactionCancelled) -> bool:
    """Retry a lost race, unless it was lost to an earlier delivery of the same event (a
    membership event already recorded is a lost race: the retry sees the state applied)."""
    return not (isinstance(exc, TransactionCancelled) and store.CLAIM_LABEL in exc.failed)


def archive_replaced_prices(tenant_id: str, account: str, item: store.PlanItem) -> None:
    """Archive prices a change replaced (best effort: what fails is retried by reconciliation)."""
    pending = list(item.archive_pending or [])
    if not pending:
        return
    left = []
    gw = gateway(tenants.tenant_settings(tenant_id).livemode)
    for price_id in pending:
        try:
            gw.archive_price(account, price_id, idempotency_key=f"enclave:{tenant_id}:price:{price_id}:archive")
        except GatewayError:
            left.append(price_id)
    item.archive_pending = left
    try:
        store.save_plan(item)
    except StaleVersion:
        pass  # the next change or reconciliation retries
