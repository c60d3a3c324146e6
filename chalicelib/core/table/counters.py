"""Sharded counters: O(1) counts that no sale-day burst can make a hot key.

A counter named ``T#<tenant>#CNT#<what>`` lives in ``COUNTER_SHARDS`` items, each its own
partition key (``<name>#<n>``); a write adds to the shard chosen by a stable hash of the
counted thing (e.g. the member id), inside the caller's transaction, and a read sums the
shards with one BatchGetItem.
"""
from __future__ import annotations

from pynamodb.attributes import NumberAttribute

from .definition import COUNTER_SHARDS
from .keys import shard_of
from .model import TableItem
from .transactions import Transaction

COUNTER_SK = "COUNT"


class CounterShard(TableItem, discriminator="counter"):
    #: stored as ``count``; named ``total`` here so it does not hide ``Model.count()``
    total = NumberAttribute(default=0, attr_name="count")


def add(tx: Transaction, name: str, seed: str, delta: int) -> None:
    """Add ``delta`` to counter ``name`` in ``tx``; ``seed`` picks the shard."""
    shard = CounterShard(f"{name}#{shard_of(seed, COUNTER_SHARDS)}", COUNTER_SK)
    # An update creates a missing shard, so it also sets the type PynamoDB reads it back by.
    tx.update(f"counter:{name}:{seed}:{delta}", shard,
              actions=[CounterShard.total.add(delta), CounterShard.item_type.set(CounterShard)])


def read(names: list[str]) -> dict[str, int]:
    """{name: total} for every counter in ``names`` (missing counters are 0)."""
    totals = dict.fromkeys(names, 0)
    by_pk = {f"{name}#{n}": name for name in names for n in range(COUNTER_SHARDS)}
    for shard in CounterShard.batch_get([(pk, COUNTER_SK) for pk in by_pk]):
        totals[by_pk[shard.pk]] += int(shard.total)
    return totals
