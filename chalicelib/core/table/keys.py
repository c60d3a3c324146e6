"""Every key format of the table, in one module. Every key starts with ``T#<tenant_id>#``
(tenant ids are fixed-length ULIDs, so no tenant's keys are a prefix of another's), except
the platform-level API key lookup, which is addressed by an unguessable hash.
"""
from __future__ import annotations

import hashlib

from .definition import LIST_SHARDS


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


def member(tenant_id: str, member_id: str) -> str:
    return f"T#{tenant_id}#M#{member_id}"


def identity(tenant_id: str, kind: str, value: str) -> str:
    return f"T#{tenant_id}#ID#{kind}#{value}"


def members_list(tenant_id: str, shard: int) -> str:
    return f"T#{tenant_id}#MEMBERS#{shard}"


def members_list_shards(tenant_id: str) -> list[str]:
    return [members_list(tenant_id, n) for n in range(LIST_SHARDS)]


def members_by_channel(tenant_id: str, code: str, shard: int) -> str:
    return f"T#{tenant_id}#MEMBERS_BY_CH#{code}#{shard}"


def members_by_channel_shards(tenant_id: str, code: str) -> list[str]:
    return [members_by_channel(tenant_id, code, n) for n in range(LIST_SHARDS)]


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


# --- journeys ----------------------------------------------------------------------
#: copies of a tenant's journeys generation (read on every event: one item would be a hot key)
JOURNEYS_GENERATION_SHARDS = 8
JOURNEYS_GENERATION_SK = "GEN"


def journeys_generation(tenant_id: str, shard: int) -> str:
    return f"T#{tenant_id}#JGEN#{shard}"


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
