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


# --- configuration generations (core.table.generations) ------------------------------
GENERATION_SK = "GEN"


def generation(tenant_id: str, name: str, copy: int) -> str:
    """One copy of the tenant's generation ``name`` (every copy holds the same number)."""
    return f"T#{tenant_id}#GEN#{name}#{copy}"


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
