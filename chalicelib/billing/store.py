"""Billing items: the tenant's Stripe connection (and the account -> tenant lookup that
webhooks need), plans, each member's Stripe customer and memberships, Stripe event claims.

A membership lives in its member's item collection (``T#<t>#M#<m>`` / ``MEMBERSHIP#<sub>``)
and, while live, in a sharded "due" list ordered by the next moment it needs a look (its
period end or scheduled end), which the reminder and reconciliation schedules query.
"""
from __future__ import annotations

from datetime import timedelta

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    NumberAttribute,
    UnicodeAttribute,
    VersionAttribute,
)
from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from ..core.audit import Entry
from ..core.table import counters, keys
from ..core.table.definition import LIST_SHARDS
from ..core.table.model import TableItem
from ..core.table.transactions import (Transaction, TransactionCancelled, is_condition_failure,
                                      save_versioned)

STRIPE_SK, LOOKUP_SK, CUSTOMER_SK, CLAIM_SK = "STRIPE", "TENANT", "STRIPE_CUSTOMER", "CLAIM"
MEMBERSHIP_PREFIX, PLAN_PREFIX = "MEMBERSHIP#", "PLAN#"
#: Stripe retries a webhook for up to 3 days; claims are kept longer, then expire (TTL)
CLAIM_TTL = timedelta(days=35)


class StripeAccountItem(TableItem, discriminator="stripe_account"):
    tenant_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    charges_enabled = BooleanAttribute(default=False)
    details_submitted = BooleanAttribute(default=False)
    payouts_enabled = BooleanAttribute(default=False)
    #: Stripe time of the state above (account.updated events apply only if newer)
    observed_at = NumberAttribute(default=0)
    #: reconciliation has read this account's events up to here (epoch s)
    reconciled_until = NumberAttribute(null=True)
    connected_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    version = VersionAttribute()


class StripeAccountLookup(TableItem, discriminator="stripe_account_lookup"):
    tenant_id = UnicodeAttribute()


class PlanItem(TableItem, discriminator="plan"):
    tenant_id = UnicodeAttribute()
    plan_id = UnicodeAttribute()
    name = UnicodeAttribute()
    description = UnicodeAttribute(null=True)
    amount = NumberAttribute()
    currency = UnicodeAttribute()
    interval = UnicodeAttribute()
    trial_days = NumberAttribute(default=0)
    benefits = JSONAttribute(default=list)
    tier_id = UnicodeAttribute(null=True)
    active = BooleanAttribute(default=True)
    stripe_product_id = UnicodeAttribute()
    stripe_price_id = UnicodeAttribute()
    #: how many prices the plan has had (the next price's idempotency key uses it)
    price_version = NumberAttribute(default=1)
    #: replaced prices not yet archived on Stripe (retried by reconciliation)
    archive_pending = JSONAttribute(default=list)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    version = VersionAttribute()


class CustomerItem(TableItem, discriminator="stripe_customer"):
    customer_id = UnicodeAttribute()
    created_at = UnicodeAttribute()


class MembershipItem(TableItem, discriminator="membership"):
    tenant_id = UnicodeAttribute()
    member_id = UnicodeAttribute()
    membership_id = UnicodeAttribute()
    plan_id = UnicodeAttribute()
    #: the newest observation of the Stripe subscription (state.Snapshot)
    state = JSONAttribute(default=dict)
    status = UnicodeAttribute()
    activated_at = UnicodeAttribute(null=True)
    #: the period end the last membership.activated/.renewed announced
    paid_through = NumberAttribute(null=True)
    #: what the counters hold for this membership, so a change moves exactly that
    counted_status = UnicodeAttribute(null=True)
    counted_mrr_x12 = NumberAttribute(default=0)
    counted_currency = UnicodeAttribute(null=True)
    churn_counted = BooleanAttribute(default=False)
    #: domain events committed with a change and not yet recorded on the timeline
    pending_events = JSONAttribute(default=list)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    version = VersionAttribute()


class StripeEventClaim(TableItem, discriminator="stripe_event"):
    """Exists once per (tenant, Stripe event id): a redelivered event finds it."""

    type = UnicodeAttribute()
    received_at = UnicodeAttribute()
    outcome = UnicodeAttribute()
    member_id = UnicodeAttribute(null=True)
    membership_id = UnicodeAttribute(null=True)


# --- counters ----------------------------------------------------------------------------
def status_counter(tenant_id: str, plan_id: str, status: str) -> str:
    return keys.counter(tenant_id, "membership", f"{plan_id}:{status}")


def mrr_counter(tenant_id: str, currency: str) -> str:
    return keys.counter(tenant_id, "mrr_x12", currency)


def new_counter(tenant_id: str, month: str) -> str:
    return keys.counter(tenant_id, "membership_new", month)


def churn_counter(tenant_id: str, month: str) -> str:
    return keys.counter(tenant_id, "membership_churned", month)


def read_counters(names: list[str]) -> dict[str, int]:
    return counters.read(names)


def add_counter(tx: Transaction, name: str, seed: str, delta: int) -> None:
    counters.add(tx, name, seed, delta)


# --- Stripe connection -------------------------------------------------------------------
def get_account(tenant_id: str) -> StripeAccountItem | None:
    try:
        return StripeAccountItem.get(keys.billing(tenant_id), STRIPE_SK, consistent_read=True)
    except DoesNotExist:
        return None


def tenant_for_account(account_id: str) -> str | None:
    try:
        return StripeAccountLookup.get(keys.stripe_account_lookup(account_id), LOOKUP_SK,
                                       consistent_read=True).tenant_id
    except DoesNotExist:
        return None


def create_account(item: StripeAccountItem, audit: Entry | None = None) -> bool:
    """The connection and its lookup (and its audit record) together; False if the tenant
    is connected already."""
    tx = Transaction()
    tx.save("account", item, condition=StripeAccountItem.pk.does_not_exist())
    tx.save("lookup", StripeAccountLookup(keys.stripe_account_lookup(item.account_id), LOOKUP_SK,
                                          tenant_id=item.tenant_id),
            condition=StripeAccountLookup.pk.does_not_exist())
    if audit is not None:
        audit.stage(tx)
    try:
        tx.commit()
    except TransactionCancelled as exc:
        if "account" in exc.failed:
            return False
        raise
    return True


def save_account(item: StripeAccountItem) -> None:
    save_versioned(item)


# --- plans -------------------------------------------------------------------------------
def plan_sk(plan_id: str) -> str:
    return f"{PLAN_PREFIX}{plan_id}"


def get_plan(tenant_id: str, plan_id: str) -> PlanItem | None:
    try:
        return PlanItem.get(keys.plans(tenant_id), plan_sk(plan_id), consistent_read=True)
    except DoesNotExist:
        return None


def list_plans(tenant_id: str, after: str | None = None, limit: int = 200) -> tuple[list[PlanItem], str | None]:
    result = PlanItem.query(
        keys.plans(tenant_id), PlanItem.sk.startswith(PLAN_PREFIX), limit=limit, page_size=limit,
        last_evaluated_key={"pk": {"S": keys.plans(tenant_id)}, "sk": {"S": after}} if after else None,
    )
    items = list(result)
    last = result.last_evaluated_key
    return items, (last["sk"]["S"] if last and len(items) >= limit else None)


def create_plan(item: PlanItem, audit: Entry | None = None) -> None:
    tx = Transaction()
    tx.save("plan", item, condition=PlanItem.pk.does_not_exist())
    if audit is not None:
        audit.stage(tx)
    tx.commit()


def save_plan(item: PlanItem, audit: Entry | None = None) -> None:
    """Version-checked, with its audit record in the same transaction; :class:`StaleVersion`
    if another writer got there first."""
    save_versioned(item, also=audit.stage if audit is not None else None)


# --- customers ---------------------------------------------------------------------------
def get_customer(tenant_id: str, member_id: str) -> CustomerItem | None:
    try:
        return CustomerItem.get(keys.member(tenant_id, member_id), CUSTOMER_SK, consistent_read=True)
    except DoesNotExist:
        return None


def create_customer(tenant_id: str, member_id: str, customer_id: str, now: str) -> str:
    """Record the member's customer once; the id that won (ours, or a concurrent one's)."""
    item = CustomerItem(keys.member(tenant_id, member_id), CUSTOMER_SK, customer_id=customer_id, created_at=now)
    try:
        item.save(condition=CustomerItem.pk.does_not_exist())
    except PutError as exc:
        if is_condition_failure(exc):
            existing = get_customer(tenant_id, member_id)
            assert existing is not None
            return existing.customer_id
        raise
    return customer_id


# --- memberships -------------------------------------------------------------------------
def membership_sk(membership_id: str) -> str:
    return f"{MEMBERSHIP_PREFIX}{membership_id}"


def get_membership(tenant_id: str, member_id: str, membership_id: str) -> MembershipItem | None:
    try:
        return MembershipItem.get(keys.member(tenant_id, member_id), membership_sk(membership_id),
                                  consistent_read=True)
    except DoesNotExist:
        return None


def new_membership(tenant_id: str, member_id: str, membership_id: str, plan_id: str, now: str) -> MembershipItem:
    return MembershipItem(keys.member(tenant_id, member_id), membership_sk(membership_id), tenant_id=tenant_id,
                          member_id=member_id, membership_id=membership_id, plan_id=plan_id, status="incomplete",
                          created_at=now, updated_at=now)


def list_memberships(tenant_id: str, member_id: str) -> list[MembershipItem]:
    return list(MembershipItem.query(keys.member(tenant_id, member_id),
                                     MembershipItem.sk.startswith(MEMBERSHIP_PREFIX), consistent_read=True))


def place_due(item: MembershipItem, due: str | None) -> None:
    """Keep a live membership in the due list at ``due`` (ISO time); None takes it out."""
    if due is None:
        item.gsi1pk = item.gsi1sk = None
        return
    item.gsi1pk = keys.memberships_due(item.tenant_id, keys.shard_of(item.membership_id, LIST_SHARDS))
    item.gsi1sk = f"{due}#{item.membership_id}"


def due_memberships(tenant_id: str, after: str | None, until: str, limit: int | None = None) -> list[MembershipItem]:
    """Live memberships due at or before ``until`` (ISO time) and after ``after`` (a due
    list key: ``"<ISO time>#~"`` skips that whole moment), oldest first, across the
    shards; with ``limit``, at most that many from each shard."""
    found: list[MembershipItem] = []
    low = after or "0"
    for partition in keys.memberships_due_shards(tenant_id):
        condition = TableItem.gsi1sk.between(low, until + "#~")
        rows = TableItem.gsi1.query(partition, condition, limit=limit, page_size=limit)
        found += [i for i in rows if isinstance(i, MembershipItem) and i.gsi1sk != low]
    return sorted(found, key=lambda i: i.gsi1sk or "")


def stage_membership(tx: Transaction, item: MembershipItem) -> None:
    tx.save("membership", item)  # version-checked (a new item: must not exist yet)


def clear_pending(item: MembershipItem, emitted: list[str]) -> None:
    """Drop recorded domain events from the outbox, unless another writer moved it on
    (that writer, or the next touch, records and clears them)."""
    if not emitted:
        return
    remaining = [e for e in item.pending_events if e["event_id"] not in set(emitted)]
    try:
        item.update(actions=[MembershipItem.pending_events.set(remaining)])
    except UpdateError as exc:
        if not is_condition_failure(exc):
            raise


# --- Stripe event claims -----------------------------------------------------------------
def get_claim(tenant_id: str, event_id: str) -> StripeEventClaim | None:
    try:
        return StripeEventClaim.get(keys.stripe_event(tenant_id, event_id), CLAIM_SK, consistent_read=True)
    except DoesNotExist:
        return None


#: the transaction label of a Stripe event's claim (an activity event's claim is ``claim``)
CLAIM_LABEL = "stripe_claim"


def stage_claim(tx: Transaction, tenant_id: str, event_id: str, type_: str, outcome: str, now: str,
                expires: int, member_id: str | None = None, membership_id: str | None = None) -> None:
    tx.save(CLAIM_LABEL, StripeEventClaim(keys.stripe_event(tenant_id, event_id), CLAIM_SK, type=type_,
                                      received_at=now, outcome=outcome, ttl=expires, member_id=member_id,
                                      membership_id=membership_id),
            condition=StripeEventClaim.pk.does_not_exist())


def stage_delete_membership(tx: Transaction, item: MembershipItem) -> None:
    tx.delete("membership", item)
