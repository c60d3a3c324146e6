"""The single table's shape, as plain data: the one source of truth.

``infra/`` deploys it (CDK), ``devstack/`` creates it in DynamoDB Local, and the PynamoDB
models in ``core.table.model`` declare the same attribute and index names. Nothing here
imports PynamoDB or boto3, so infra can read it cheaply.
"""
from __future__ import annotations

from typing import Any

PK = "pk"
SK = "sk"
TTL_ATTRIBUTE = "ttl"
DISCRIMINATOR = "item_type"

#: Overloaded global secondary indexes. Each lists items under a tenant-prefixed,
#: sharded partition key, ordered by its sort key (see core.table.keys).
GSI1 = "gsi1"  # tenant-wide lists (members newest first)
GSI2 = "gsi2"  # filtered lists (members by source channel)

GSIS: dict[str, tuple[str, str]] = {
    GSI1: ("gsi1pk", "gsi1sk"),
    GSI2: ("gsi2pk", "gsi2sk"),
}

#: How many partitions a tenant-wide list or counter is spread over, so one tenant's
#: sale-day burst never writes a single partition key (about 1,000 writes/s each).
LIST_SHARDS = 4
#: Partitions of the platform-wide outbox list (every committed write with a side effect
#: lists an item there for a moment, put and delete, on the index; a sale-day event raises
#: up to three signals' transactions). Measured at 5,000 events/s: 64 shards took up to
#: 600 units/s each (750 in the busiest 0.1 s), so 128.
OUTBOX_SHARDS = 128
#: Partitions of a sharded counter: a transactional ADD costs 2 write units, so 32 keep a
#: counter moved by every event of a 5,000 events/s burst near 310 units/s each.
COUNTER_SHARDS = 32
#: Partitions of one tag's member list (GSI1 ``TAG#<tag>#<n>``): on sale day every buyer
#: gets the same rule tag at once. 32 keep 5,000 new holders/s near 310 writes/s each.
TAG_LIST_SHARDS = 32
#: Partitions of the journeys' platform-wide lists (due enrolments, messages to deliver,
#: local timers): written for every enrolment and message of every tenant.
JOURNEY_LIST_SHARDS = 64
#: Partitions of the platform-wide list of enrolments with a pending timer (GSI2 ``JDUE#<n>``,
#: what the journey sweeper walks): every first buyer of a sale day enrols and the enrolment
#: is listed, then re-listed by its first step in line; at 64 shards the sale-day bench's
#: first-purchase window put 1,330 units/s on one. 256 cost the sweeper 256 small Queries a
#: minute (about $1.40 a month).
ENROLMENT_DUE_SHARDS = 256
#: Partitions of a tenant's standings list (GSI1): the standing is rewritten on every
#: order, so 16 keep a 5,000 orders/s burst near 310 writes/s each, and they are the
#: independent ranges whole-tenant passes fan out over (16 parallel workers).
STANDING_SHARDS = 16
#: Partitions of a tenant's member list (GSI1 ``MEMBERS#<n>``) and of each source channel's
#: list (GSI2): a member's profile is rewritten by sale-day events (both indexes project ALL),
#: and 4 shards measured 520-527 writes/s each at 5,000 events/s. 32 keep them near 65, and
#: they are the ranges whole-member walks (segments, tag backfills, birthdays) fan out over.
#: A member keeps the shard it was listed under (see members' ``_list_keys``).
MEMBER_LIST_SHARDS = 32
#: Partitions of a tenant's audit lists (by time, and by actor): members created by an
#: event burst are audited, one in five sale-day events, all by one API key; measured at
#: 5,000 events/s, 4 shards took ~550 units/s each on the actor index.
AUDIT_SHARDS = 16
#: A list or counter read over N shards also finds what was written under an earlier,
#: smaller N (its shards 0..N-1 are among the new ones), so these only ever grow.


def attribute_definitions() -> list[dict[str, str]]:
    names = [PK, SK] + [name for pair in GSIS.values() for name in pair]
    return [{"AttributeName": n, "AttributeType": "S"} for n in names]


def create_table_request(table_name: str) -> dict[str, Any]:
    """The ``CreateTable`` request for DynamoDB Local (same keys and indexes as infra)."""
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": attribute_definitions(),
        "KeySchema": [
            {"AttributeName": PK, "KeyType": "HASH"},
            {"AttributeName": SK, "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": index,
                "KeySchema": [
                    {"AttributeName": hash_key, "KeyType": "HASH"},
                    {"AttributeName": range_key, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for index, (hash_key, range_key) in GSIS.items()
        ],
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    }
