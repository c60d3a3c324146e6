"""Generations: per-process caches of what every event reads (the tier program, tag rules,
active journeys) that still see a committed change on the very next request.

Every change of such configuration adds one to each copy of the tenant's generation
``name`` in the change's own transaction (:func:`bump`). A reader reads one copy (a
strongly consistent GetItem of a small item) and reloads its cached value only when the
number moved. The copies are written together, so any copy holds the latest number; a
reader picks one at random, so no sale-day burst makes one of them a hot key.

Reads are memoised per request (:func:`request_scope`, opened by ``core.http`` for every
route): a request reads each generation at most once, however many events it carries and
however many receivers look at the same configuration. So a change committed before a
request began is seen by all of it; a change another process commits while a request runs
is seen from the next request on; a change this process commits is seen at once (the memo
is dropped after the commit). Outside a request (schedules, jobs, the outbox sweeper)
every read goes to DynamoDB.
"""
from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Generic, TypeVar

from pynamodb.attributes import NumberAttribute
from pynamodb.exceptions import DoesNotExist

from . import keys
from .model import TableItem
from .transactions import Transaction

#: copies of each generation: an event reads one, a change writes all (in its transaction)
COPIES = 16
T = TypeVar("T")

_memo: ContextVar[dict[tuple[str, str], int] | None] = ContextVar("generation_memo", default=None)


class GenerationItem(TableItem, discriminator="generation"):
    generation = NumberAttribute(default=0)


def bump(tx: Transaction, tenant_id: str, name: str) -> None:
    """Move the tenant's generation ``name`` in ``tx`` (once per transaction)."""
    if tx.has(f"generation:{name}:0"):
        return
    for copy in range(COPIES):
        item = GenerationItem(keys.generation(tenant_id, name, copy), keys.GENERATION_SK)
        tx.update(f"generation:{name}:{copy}", item,
                  actions=[GenerationItem.generation.add(1), GenerationItem.item_type.set(GenerationItem)])
    tx.after_commit(lambda: _drop_memo(tenant_id, name))


def _drop_memo(tenant_id: str, name: str) -> None:
    memo = _memo.get()
    if memo is not None:
        memo.pop((tenant_id, name), None)


def current(tenant_id: str, name: str) -> int:
    """The tenant's generation ``name`` (0 until its first change): one read per request."""
    memo = _memo.get()
    if memo is not None and (tenant_id, name) in memo:
        return memo[(tenant_id, name)]
    copy = random.randrange(COPIES)  # noqa: S311 - spreading load, not a secret
    try:
        item = GenerationItem.get(keys.generation(tenant_id, name, copy), keys.GENERATION_SK, consistent_read=True)
        value = int(item.generation or 0)
    except DoesNotExist:
        value = 0
    if memo is not None:
        memo[(tenant_id, name)] = value
    return value


@contextmanager
def request_scope() -> Iterator[None]:
    """Memoise generation reads for the duration of one request."""
    token = _memo.set({})
    try:
        yield
    finally:
        _memo.reset(token)


class TenantCache(Generic[T]):
    """One value per tenant (``load(tenant_id)``), kept while generation ``name`` stands
    still. The generation is read before the value, so a change landing in between is
    seen by the next call, never lost."""

    def __init__(self, name: str, load: Callable[[str], T], max_tenants: int = 5000) -> None:
        self.name = name
        self._load = load
        self._max = max_tenants
        self._values: dict[str, tuple[int, T]] = {}

    def get(self, tenant_id: str) -> T:
        generation = current(tenant_id, self.name)
        hit = self._values.get(tenant_id)
        if hit is not None and hit[0] == generation:
            return hit[1]
        value = self._load(tenant_id)
        if len(self._values) >= self._max:
            self._values.clear()
        self._values[tenant_id] = (generation, value)
        return value

    def forget(self, tenant_id: str | None = None) -> None:
        """Drop the cached value (of every tenant when None)."""
        if tenant_id is None:
            self._values.clear()
        else:
            self._values.pop(tenant_id, None)
