"""Every key format of the table, in one module. Every key starts with ``T#<tenant_id>#``
(tenant ids are fixed-length ULIDs, so no tenant's keys are a prefix of another's), except
the platform-level API key lookup, which is addressed by an unguessable hash.
"""
from __future__ import annotations

import hashlib

from .definition import AUDIT_SHARDS, LIST_SHARDS, MEMBER_LIST_SHARDS


def shard_of(value: str, shards: int) -> int:
    """A stable shard number for ``value`` (same input, same shard, on every machine)."""
    return int.from_bytes(hashlib.blake2b(value.encode(), digest_size=4).digest(), "big") % shards


def tenant(tenant_id: str) -> str:
    return f"T#{tenant_id}"


# --- tenants and credentials ---------------------------------------------------------
TENANT_SK = "TENANT"


def api_key_sk(key_id: str) -> str:
    return f"KEY#{key_id}"


def api_key_lookup(secret_hash: str) -> str:
    return f"APIKEY#{secret_hash}"


# --- members -----------------------------------------------------------------------
PROFILE_SK = "PROFILE"
IDENTITY_SK = "IDENTITY"
#: the member's entry in the birthday index (GSI1 ``birthdays``)
BIRTHDAY_SK = "BIRTHDAY"


def member(tenant_id: str, member_id: str) -> str:
    return f"T#{tenant_id}#M#{member_id}"


def identity(tenant_id: str, kind: str, value: str) -> str:
    return f"T#{tenant_id}#ID#{kind}#{value}"


def members_list(tenant_id: str, shard: int) -> str:
    return f"T#{tenant_id}#MEMBERS#{shard}"


def members_list_shards(tenant_id: str) -> list[str]:
    return [members_list(tenant_id, n) for n in range(MEMBER_LIST_SHARDS)]


def birthdays(tenant_id: str, month_day: str) -> str:
    """The tenant's members born on ``month_day`` (``MM-DD``): a day's birthday triggers
    read this one partition (about 1/366 of the members), never the whole member list."""
    return f"T#{tenant_id}#BIRTHDAYS#{month_day}"


def birthday_index_state(tenant_id: str) -> tuple[str, str]:
    """Where a tenant records that every member it had is in the birthday index."""
    return f"T#{tenant_id}#MEMBERS_META", "BIRTHDAY_INDEX"


def members_by_channel(tenant_id: str, code: str, shard: int) -> str:
    return f"T#{tenant_id}#MEMBERS_BY_CH#{code}#{shard}"


def members_by_channel_shards(tenant_id: str, code: str) -> list[str]:
    return [members_by_channel(tenant_id, code, n) for n in range(MEMBER_LIST_SHARDS)]


def list_shard(list_pk: str) -> int:
    """The shard a sharded list key (``...#<n>``) names: a member stays in the shard it was
    first listed under, whatever the shard count is now."""
    return int(list_pk.rsplit("#", 1)[1])


def member_list_sk(created_at: str, member_id: str) -> str:
    return f"{created_at}#{member_id}"


# --- channels ------------------------------------------------------------------------
def channels(tenant_id: str) -> str:
    return f"T#{tenant_id}#CHANNELS"


def channel_sk(code: str) -> str:
    return f"CH#{code}"


def channel_counter(tenant_id: str, code: str) -> str:
    return f"T#{tenant_id}#CNT#channel#{code}"


def member_count(tenant_id: str) -> str:
    return counter(tenant_id, "members", "all")


def counter(tenant_id: str, dimension: str, value: str) -> str:
    """A sharded counter's name, e.g. members per stage: ``counter(t, "stage", "loyal")``."""
    return f"T#{tenant_id}#CNT#{dimension}#{value}"


# --- durable side effects (core.signals) ----------------------------------------------
def outbox_sk(outbox_id: str) -> str:
    """In the collection of the member the write was about (or the tenant's, see outbox_pk)."""
    return f"OUTBOX#{outbox_id}"


def outbox_pk(tenant_id: str, member_id: str | None) -> str:
    return member(tenant_id, member_id) if member_id else f"T#{tenant_id}#OUTBOX"


def outbox_list(shard: int) -> str:
    """Platform-wide, sharded: pending outbox items by due time, for the sweeper."""
    return f"PLATFORM#OUTBOX#{shard}"


OUTBOX_DEAD = "PLATFORM#OUTBOX#DEAD"


def journey_trigger_claim_sk(journey_id: str, trigger_key: str) -> str:
    """One entry per (journey, triggering signal): a redelivered signal enrols once."""
    return f"JTRIG#{journey_id}#{trigger_key}"


# --- configuration generations (core.table.generations) ------------------------------
GENERATION_SK = "GEN"


def generations(tenant_id: str, copy: int) -> str:
    """One copy of the tenant's generations item (every copy holds the same numbers)."""
    return f"T#{tenant_id}#GENS#{copy}"


# --- idempotency ---------------------------------------------------------------------
def idempotency(tenant_id: str) -> str:
    return f"T#{tenant_id}#IDEMPOTENCY"


def member_idempotency(tenant_id: str, member_id: str) -> str:
    """References to the idempotency records that hold a member's data (erasure deletes
    them without a scan). Its own partition, so the member's collection stays its data."""
    return f"T#{tenant_id}#M_IDEMPOTENCY#{member_id}"


def platform_idempotency_owner(subject: str) -> str:
    """A platform operator's idempotency owner: one per operator, never shared."""
    return f"PLATFORM#{hashlib.sha256(subject.encode()).hexdigest()[:32]}"


# --- billing (Stripe) ----------------------------------------------------------------
def stripe_account_lookup(account_id: str) -> str:
    """Platform-level, like the API key lookup: a Stripe event names only its connected
    account, and the tenant is found from it (written when the tenant connects)."""
    return f"STRIPEACCT#{account_id}"


def billing(tenant_id: str) -> str:
    return f"T#{tenant_id}#BILLING"


def plans(tenant_id: str) -> str:
    return f"T#{tenant_id}#PLANS"


def stripe_event(tenant_id: str, event_id: str) -> str:
    return f"T#{tenant_id}#STRIPE_EV#{event_id}"


def memberships_due(tenant_id: str, shard: int) -> str:
    """Live memberships by the time they next need a look (period end / scheduled end)."""
    return f"T#{tenant_id}#MSHIP_DUE#{shard}"


def memberships_due_shards(tenant_id: str) -> list[str]:
    return [memberships_due(tenant_id, n) for n in range(LIST_SHARDS)]


# --- audit log (core.audit) ----------------------------------------------------------
def audit_list(tenant_id: str, shard: int) -> str:
    """The tenant's audit records by time, sharded: a burst of changes spreads over shards."""
    return f"T#{tenant_id}#AUDIT#{shard}"


def audit_list_shards(tenant_id: str) -> list[str]:
    return [audit_list(tenant_id, n) for n in range(AUDIT_SHARDS)]


def audit_sk(at: str, event_id: str) -> str:
    """Time first, so every audit list sorts newest first with ScanIndexForward=False."""
    return f"{at}#{event_id}"


def audit_by_target(tenant_id: str, target_type: str, target_id: str) -> str:
    """GSI1: one target's records (one member's or one journey's changes; never hot)."""
    return f"T#{tenant_id}#AUDIT_TARGET#{target_type}#{target_id}"


def audit_by_actor(tenant_id: str, actor: str, shard: int) -> str:
    """GSI2: one actor's records, sharded (one API key may make a sale-day's changes)."""
    return f"T#{tenant_id}#AUDIT_ACTOR#{actor}#{shard}"


def audit_by_actor_shards(tenant_id: str, actor: str) -> list[str]:
    return [audit_by_actor(tenant_id, actor, n) for n in range(AUDIT_SHARDS)]


# --- loyalty: coupons ------------------------------------------------------------------
COUPON_TEMPLATE_SK = "TEMPLATE"
#: beside the template: how many were issued and how much discount was given (the budget)
COUPON_BUDGET_SK = "BUDGET"
COUPON_SK = "COUPON"


def coupon_template(tenant_id: str, template_id: str) -> str:
    return f"T#{tenant_id}#CTPL#{template_id}"


def coupon_templates_list(tenant_id: str) -> str:
    """GSI1: the tenant's templates, newest first (written when a template is saved, rarely)."""
    return f"T#{tenant_id}#CTPLS"


def coupon(tenant_id: str, code: str) -> str:
    """One item per code: its unique claim (conditional put) and its state."""
    return f"T#{tenant_id}#CPN#{code}"


def member_coupons(tenant_id: str, member_id: str) -> str:
    """GSI1: a member's coupons by issue time (one partition per member, never hot)."""
    return f"T#{tenant_id}#MCPN#{member_id}"


def coupon_source_sk(source: str) -> str:
    """In the member's collection: the coupon a cause issued (journey step, reward, job)."""
    return f"CPNSRC#{source}"


def coupon_holding_sk(template_id: str) -> str:
    """In the member's collection: how many coupons of a template the member was issued."""
    return f"CPNHOLD#{template_id}"


def coupon_redemption_sk(order_id: str, code: str) -> str:
    """In the member's collection: a code redeemed by an order (found again on its refund)."""
    return f"CPNRED#{order_id}#{code}"


def coupon_redemptions_prefix(order_id: str) -> str:
    return f"CPNRED#{order_id}#"


def coupon_counter(tenant_id: str, template_id: str, metric: str) -> str:
    """A template's sharded analytics counter (issued, redeemed, revenue, discount, day:<n>)."""
    return counter(tenant_id, "coupon", f"{template_id}:{metric}")


# --- loyalty: group-buys -------------------------------------------------------------
GROUP_OFFER_SK = "OFFER"
#: beside the offer: how many groups it opened (conditioned on the offer's stock of groups)
GROUP_STOCK_SK = "STOCK"
GROUP_SK = "GROUP"
GROUP_MEMBER_PREFIX = "GMEMBER#"


def group_offer(tenant_id: str, offer_id: str) -> str:
    return f"T#{tenant_id}#GOFFER#{offer_id}"


def group_offers_list(tenant_id: str) -> str:
    """GSI1: the tenant's group offers, newest first (written when an offer is saved, rarely)."""
    return f"T#{tenant_id}#GOFFERS"


def group(tenant_id: str, code: str) -> str:
    """One partition per group, addressed by its join code: the group item (the code's unique
    claim, its counts and status) and one item per member (``group_member_sk``)."""
    return f"T#{tenant_id}#GROUP#{code}"


def group_member_sk(member_id: str) -> str:
    return f"{GROUP_MEMBER_PREFIX}{member_id}"


def group_joins_sk(offer_id: str) -> str:
    """In the member's collection: how many groups of an offer the member opened or joined."""
    return f"GBJOINS#{offer_id}"


def group_counter(tenant_id: str, offer_id: str, metric: str) -> str:
    """An offer's sharded analytics counter (opened, completed, failed, completion_seconds, ...)."""
    return counter(tenant_id, "groupbuy", f"{offer_id}:{metric}")


# --- loyalty: points (in the member's collection, plus tenant-level program and rewards) ---
POINTS_PROGRAM_SK = "POINTS_PROGRAM"
POINTS_BALANCE_SK = "POINTS#BALANCE"


def points_config(tenant_id: str) -> str:
    return f"T#{tenant_id}#POINTS_CONFIG"


def points_ledger_sk(at: str, entry_id: str) -> str:
    """Ledger entries sort by time: a Query newest first pages the member's ledger."""
    return f"POINTS#L#{at}#{entry_id}"


POINTS_LEDGER_PREFIX = "POINTS#L#"


def points_event_claim_sk(event_id: str) -> str:
    """One per event that moved points: a redelivered event earns or reverses once."""
    return f"POINTS#EV#{event_id}"


def points_order_sk(order_id: str) -> str:
    """What an order earned and how much of it was reversed (refunds are proportional)."""
    return f"POINTS#ORDER#{order_id}"


def points_cap_day_sk(rule_id: str, day: str) -> str:
    return f"POINTS#CAP#{rule_id}#D#{day}"


def points_cap_life_sk(rule_id: str) -> str:
    return f"POINTS#CAP#{rule_id}#LIFE"


def points_cap_value_sk(rule_id: str, value_hash: str) -> str:
    return f"POINTS#CAP#{rule_id}#V#{value_hash}"


def points_redemption_sk(redemption_id: str) -> str:
    return f"POINTS#R#{redemption_id}"


def points_reward_count_sk(reward_id: str) -> str:
    """How many times the member redeemed a reward (its per-member limit)."""
    return f"POINTS#RW#{reward_id}"


#: partitions of a tenant's points due list (its GSI entry moves on every balance write)
POINTS_DUE_SHARDS = 16


def points_due(tenant_id: str, shard: int) -> str:
    """Balances by the time they next need the expiry pass (a lot expires or is due a notice)."""
    return f"T#{tenant_id}#POINTS_DUE#{shard}"


def points_due_shards(tenant_id: str) -> list[str]:
    return [points_due(tenant_id, n) for n in range(POINTS_DUE_SHARDS)]


def points_due_sk(due_at: str, member_id: str) -> str:
    return f"{due_at}#{member_id}"


def rewards(tenant_id: str) -> str:
    return f"T#{tenant_id}#REWARDS"


def reward_sk(reward_id: str) -> str:
    return f"REWARD#{reward_id}"


# --- event subscriptions (integrations.webhooks) --------------------------------------
#: shards of the per-tenant event list and the per-endpoint delivery list (sale days)
WEBHOOK_LIST_SHARDS = 16
#: shards of the platform-wide list of deliveries due for a (re)try
WEBHOOK_DUE_SHARDS = 16
WEBHOOK_ENDPOINT_SK_PREFIX = "EP#"
WEBHOOK_EVENT_SK = "EVENT"
WEBHOOK_DELIVERY_SK = "DELIVERY"


def webhook_endpoints(tenant_id: str) -> str:
    """All of a tenant's endpoints in one partition (a handful, read on a generation change)."""
    return f"T#{tenant_id}#WHEP"


def webhook_endpoint_sk(endpoint_id: str) -> str:
    return f"{WEBHOOK_ENDPOINT_SK_PREFIX}{endpoint_id}"


def webhook_event(tenant_id: str, event_id: str) -> str:
    return f"T#{tenant_id}#WHEVT#{event_id}"


def webhook_events_list(tenant_id: str, shard: int) -> str:
    """GSI1: the tenant's event objects by creation time, sharded (replay reads them all)."""
    return f"T#{tenant_id}#WHEVTS#{shard}"


def webhook_member_events(tenant_id: str, member_id: str) -> str:
    """GSI2: the event objects that carry a member's profile (erasure scrubs them)."""
    return f"T#{tenant_id}#WHEVM#{member_id}"


def webhook_delivery(tenant_id: str, delivery_id: str) -> str:
    return f"T#{tenant_id}#WHDLV#{delivery_id}"


def webhook_deliveries_list(tenant_id: str, endpoint_id: str, shard: int) -> str:
    """GSI1: one endpoint's deliveries by creation time, sharded."""
    return f"T#{tenant_id}#WHDLVS#{endpoint_id}#{shard}"


def webhook_due(shard: int) -> str:
    """GSI2, platform-wide and sharded: deliveries by next attempt, for the schedule."""
    return f"PLATFORM#WHDUE#{shard}"


# --- imports (integrations.transfers) ----------------------------------------------------
IMPORT_SK = "IMPORT"


def import_(tenant_id: str, import_id: str) -> str:
    return f"T#{tenant_id}#IMPORT#{import_id}"


def import_errors_sk(offset: int) -> str:
    """Per-row errors of the page that starts at byte ``offset`` (a re-run page overwrites its own)."""
    return f"ERR#{offset:015d}"


def import_range_sk(range_no: int) -> str:
    """Counts of one byte range of an import (its child job writes them after every page)."""
    return f"RANGE#{range_no:05d}"


# --- S3 object keys: every object of a tenant under ``tenants/<tenant_id>/`` ---------------
def object_key(tenant_id: str, *parts: str) -> str:
    return "/".join(("tenants", tenant_id, *parts))


# --- guides (stores, staff, member ownership, tasks) -----------------------------------
#: What an order needs to know about a member's guide and tasks sorts under ``GUIDE`` in the
#: member's collection (owner, latest done task, open-task pointers): one Query reads it all.
#: History and claims sort elsewhere, so that Query stays small.
GUIDE_STATE_PREFIX = "GUIDE"
GUIDE_OWNER_SK = "GUIDE"
GUIDE_TASK_DONE_SK = "GUIDE_TASKDONE"
GUIDE_HISTORY_PREFIX = "GHIST#"
GUIDE_SETTINGS_SK = "SETTINGS"


def stores(tenant_id: str) -> str:
    return f"T#{tenant_id}#STORES"


def store_sk(store_id: str) -> str:
    return f"STORE#{store_id}"


def guides(tenant_id: str) -> str:
    return f"T#{tenant_id}#GUIDES"


def guide_sk(guide_id: str) -> str:
    return f"GUIDE#{guide_id}"


def guides_of_store(tenant_id: str, store_id: str) -> str:
    return f"T#{tenant_id}#STORE_GUIDES#{store_id}"


def guide_user(tenant_id: str, subject: str) -> str:
    """A console user's subject -> their guide (one guide per user)."""
    return f"T#{tenant_id}#GUIDE_USER#{hashlib.sha256(subject.encode()).hexdigest()[:40]}"


def guide_members(tenant_id: str, guide_id: str) -> str:
    """The members a guide serves now (the ownership item's GSI1 entry)."""
    return f"T#{tenant_id}#GUIDE_MEMBERS#{guide_id}"


def guide_history_sk(at: str, entry_id: str) -> str:
    return f"{GUIDE_HISTORY_PREFIX}{at}#{entry_id}"


def guide_order_claim_sk(event_id: str) -> str:
    """One per order event in the member's collection: a redelivered signal counts once."""
    return f"GORDER#{event_id}"


def task(tenant_id: str, task_id: str) -> str:
    return f"T#{tenant_id}#TASK#{task_id}"


TASK_SK = "TASK"


OPEN_TASK_PREFIX = "GUIDE_OTASK#"


def open_task_sk(task_id: str) -> str:
    """In the member's collection while the task is open (an order closes them all)."""
    return f"{OPEN_TASK_PREFIX}{task_id}"


def task_ref_sk(task_id: str) -> str:
    """Every task of the member (open or closed), in its collection: erasure finds them."""
    return f"TASKREF#{task_id}"


def task_claim_sk(source_key: str) -> str:
    """One task per (enrolment, step) or per (bulk job, member): in the member's collection."""
    return f"TASK_CLAIM#{source_key}"


def tasks_of_day(tenant_id: str, owner: str, day: str) -> str:
    """A guide's (or a store pool's, ``pool-<store id>``) tasks due on a local day."""
    return f"T#{tenant_id}#GTASKS#{owner}#{day}"


def tasks_expiring(tenant_id: str, shard: int) -> str:
    """Open tasks by expiry time (sparse, sharded): the ``task_expiry`` schedule's Query."""
    return f"T#{tenant_id}#TASK_EXP#{shard}"


def tasks_expiring_shards(tenant_id: str) -> list[str]:
    return [tasks_expiring(tenant_id, n) for n in range(LIST_SHARDS)]


# --- loyalty: referrals ------------------------------------------------------------------------
REFERRAL_PROGRAM_SK = "RPROGRAM"
REFERRAL_CODE_SK = "RCODE"
REFERRAL_SK = "REFERRAL"
#: in the referee's collection: the one referral that attributed the member (first touch)
REFERRED_SK = "REFERRED"
#: top-referrer index shards (GSI2 of the per-referrer stat items)
REFERRER_RANK_SHARDS = 8


def referral_program(tenant_id: str, program_id: str) -> str:
    return f"T#{tenant_id}#RPRG#{program_id}"


def referral_programs_list(tenant_id: str) -> str:
    """GSI1: the tenant's referral programs (written only when a program is saved)."""
    return f"T#{tenant_id}#RPRGS"


def referral_code(tenant_id: str, code: str) -> str:
    """One item per code: its unique claim (conditional put), naming program and referrer."""
    return f"T#{tenant_id}#RCODE#{code}"


def referral_velocity_sk(hour: str) -> str:
    """Beside the code: sign-ups under it within one UTC hour (conditional counter)."""
    return f"VEL#{hour}"


def member_referral_code_sk(program_id: str) -> str:
    """In the referrer's collection: their one code of a program (conditional put)."""
    return f"{REFERRAL_CODE_OF_PREFIX}{program_id}"


def referral(tenant_id: str, referral_id: str) -> str:
    return f"T#{tenant_id}#REF#{referral_id}"


def referrals_by_referrer(tenant_id: str, member_id: str) -> str:
    """GSI1: a referrer's referrals by time (one partition per referrer): the invite tree."""
    return f"T#{tenant_id}#REFBY#{member_id}"


def held_referrals(tenant_id: str) -> str:
    """GSI2, sparse: referrals held for review (only while held; fraud bursts, never every event)."""
    return f"T#{tenant_id}#REFHELD"


def referrer_limit_sk(program_id: str, period: str) -> str:
    """In the referrer's collection: rewarded referrals in a period (``total`` or ``D#<local day>``)."""
    return f"RLIM#{program_id}#{period}"


def referrer_stat_sk(program_id: str) -> str:
    """In the referrer's collection: their sign-ups and conversions in a program."""
    return f"RSTAT#{program_id}"


def referrer_rank(tenant_id: str, program_id: str, shard: int) -> str:
    """GSI2 of the stat items, sharded: a program's referrers by conversions (top referrers)."""
    return f"T#{tenant_id}#RRANK#{program_id}#{shard}"


def referral_device(tenant_id: str, device_hash: str) -> str:
    """The first member seen on a device id the brand sent (a hash; fraud rules only)."""
    return f"T#{tenant_id}#RDEV#{device_hash}"


REFERRAL_DEVICE_SK = "RDEV"
#: in the member's collection: a device recorded as theirs (erasure deletes the device item)
REFERRAL_DEVICE_OF_PREFIX = "RDEVOF#"
REFERRAL_CODE_OF_PREFIX = "RCODEOF#"


def referral_counter(tenant_id: str, program_id: str, metric: str) -> str:
    """A program's sharded analytics counter (codes, signups, conversions, rewarded ...)."""
    return counter(tenant_id, "referral", f"{program_id}:{metric}")
