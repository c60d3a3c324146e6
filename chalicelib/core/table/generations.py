"""Generations: per-process caches of what every event reads (the tier program, tag rules,
active journeys) that still see a committed change on the very next request.

Every change of such configuration adds one to the tenant's generation ``name`` in each
copy of the tenant's generations item, in the change's own transaction (:func:`bump`). A
copy holds every generation of the tenant (one number attribute per name), so a reader
gets all of them with one strongly consistent GetItem of a small item, and reloads a
cached value only when its number moved. The copies are written together, so any copy
holds the latest numbers; a reader picks one at random, so no sale-day burst makes one of
them a hot key. (One item per name cost an event's request one read per configuration it
looked at: three or four GetItems where one does.)

Reads are memoised per request (:func:`request_scope`, opened by ``core.http`` for every
route): a request reads a tenant's generations at most once, however many events it carries and
however many receivers look at the same configuration. So a change committed before a
request began is seen by all of it; a change another process commits while a request runs
is seen from the next request on; a change this process commits is seen at once (the memo
is dropped after the commit). Outside a request (schedules, jobs, the outbox sweeper)
every read goes to DynamoDB.
"""
from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Generic, TypeVar
from weakref import WeakKeyDictionary

from pynamodb.attributes import NumberAttribute

from . import keys
from .model import TableItem
from .transactions import Transaction

#: copies of the generations item: an event reads one, a change writes all (in its transaction)
COPIES = 16
#: a generation's attribute in the item: ``g_<name>``
_PREFIX = "g_"
T = TypeVar("T")

#: tenant -> every generation of it, as read by this request
_memo: ContextVar[dict[str, dict[str, int]] | None] = ContextVar("generation_memo", default=None)
#: transaction -> tenant -> the ADD actions its copies' updates carry (one update per item:
#: a transaction may not touch one item twice, yet may bump several generations)
_staged: WeakKeyDictionary[Transaction, dict[str, list[Any]]] = WeakKeyDictionary()


class GenerationItem(TableItem, discriminator="generation"):
    """One copy of a tenant's generations (number attributes ``g_<name>``, not declared)."""


def bump(tx: Transaction, tenant_id: str, name: str) -> None:
    """Move the tenant's generation ``name`` in ``tx`` (once per transaction)."""
    by_tenant = _staged.setdefault(tx, {})
    actions = by_tenant.get(tenant_id)
    if actions is None:
        actions = by_tenant[tenant_id] = [GenerationItem.item_type.set(GenerationItem)]
        for copy in range(COPIES):
            item = GenerationItem(keys.generations(tenant_id, copy), keys.GENERATION_SK)
            tx.update(f"generations:{tenant_id}:{copy}", item, actions=actions)  # the list grows below
        tx.after_commit(lambda: _drop_memo(tenant_id))
    attribute = _PREFIX + name
    if attribute not in {str(a.values[0]) for a in actions[1:]}:
        actions.append(NumberAttribute(attr_name=attribute).add(1))


def _drop_memo(tenant_id: str) -> None:
    memo = _memo.get()
    if memo is not None:
        memo.pop(tenant_id, None)


def _read(tenant_id: str) -> dict[str, int]:
    copy = random.randrange(COPIES)  # noqa: S311 - spreading load, not a secret
    found = TableItem._get_connection().get_item(keys.generations(tenant_id, copy), keys.GENERATION_SK,
                                                 consistent_read=True)
    item = found.get("Item") or {}
    return {k[len(_PREFIX):]: int(v["N"]) for k, v in item.items() if k.startswith(_PREFIX) and "N" in v}


def current(tenant_id: str, name: str) -> int:
    """The tenant's generation ``name`` (0 until its first change): the tenant's
    generations are read once per request, all together."""
    memo = _memo.get()
    values = memo.get(tenant_id) if memo is not None else None
    if values is None:
        values = _read(tenant_id)
        if memo is not None:
            memo[tenant_id] = values
    return values.get(name, 0)


@contextmanager
def read_ahead(tenant_id: str) -> Iterator[None]:
    """Read the tenant's generations in the background while the block waits on something
    else (the Stripe webhook's re-read), so the request's later :func:`current` calls cost
    no round trip of their own. Only inside a request scope; a failed read is simply read
    again when needed."""
    memo = _memo.get()
    if memo is None or tenant_id in memo:
        yield
        return
    box: dict[str, dict[str, int]] = {}

    def read() -> None:
        try:
            box["values"] = _read(tenant_id)
        except Exception:  # noqa: BLE001, S110 - current() reads it again
            pass

    worker = threading.Thread(target=read, name="generations-read-ahead", daemon=True)
    worker.start()
    try:
        yield
    finally:
        worker.join()
        if "values" in box:
            memo.setdefault(tenant_id, box["values"])


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
