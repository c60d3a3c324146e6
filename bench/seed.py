"""Large tenants for (f), seeded straight into DynamoDB Local, in items cloned from members
the app itself made.

Making 100,000 members through the API (member, orders, tags: ~25 ms a request here) would
take most of an hour, so the bench makes a handful of **template** members through the API,
one per kind of member it needs (orders 0 / 1 / 2 / 5, user tags none / A / B / A+B), reads
their raw items back with a plain boto3 client, and clones them with BatchWriteItem:

* the items a segment reads: the ``PROFILE`` (with its GSI1 member-list keys), the
  ``STANDING`` (GSI1 standings list), the ``TAGSET``, and every tag-index item ``TAG#<tag>``
  (GSI1 ``T#<t>#TAG#<tag>#<shard>``; user tags and the system tag ``stage:<stage>``);
* in each clone only the member id, the phone inside the profile and the profile's
  ``created_at`` (so the member list has an order other than the ids') change, and every
  GSI partition key that ends in the member's list shard gets the clone's shard, computed
  with the app's own ``keys.shard_of``. Everything else (attribute names, JSON bodies,
  versions, types) is the template's, byte for byte; a clone of a template under its own id
  must give back exactly its items (checked);
* the sharded counters the app reads for counts and base sizes: the bench records the
  counter updates the app made for each template (inside its transactions), checks that each
  went to the shard of the member id, and adds the same deltas for every clone, on the
  clone's shard, with the app's own UpdateItem shape (``ADD count``), so every counter
  holds the true total.

Not cloned (no segment read touches them): identity items (phone lookups), the timeline,
order and history items, and event claims.
"""
from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from .api import App, member_body
from .dynamo import captured
from .events import order_paid

_MEMBER, _PHONE, _CREATED, _SHARD = "@@MEMBER@@", "@@PHONE@@", "@@CREATED@@", "@@SHARD{}@@"
_GSI_PKS = ("gsi1pk", "gsi2pk")
BATCH_ITEMS = 25  # BatchWriteItem's maximum


@dataclass(frozen=True)
class Variant:
    """A kind of member: how many order.paid events it had, which user tags it holds."""

    orders: int
    tags: tuple[str, ...]  # labels ("A", "B") of the bench's user tags


@dataclass
class Template:
    variant: Variant
    member_id: str
    phone: str
    created_at: str
    #: the raw items cloned, as captured (for the round-trip check)
    items: list[dict[str, Any]]
    #: the items as JSON with placeholders for what a clone changes
    patterns: list[str]
    #: counter name -> net delta the app applied for this member
    counters: dict[str, int]
    #: the stage the app recorded (None: no standing, i.e. prospect_aware)
    stage: str | None
    #: the profile's member-list sort key (the all-members base position)
    position: str


@dataclass
class SeedFigures:
    members: int = 0
    items: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    batch_calls: int = 0
    counter_updates: int = 0


def _delta(update: dict[str, Any]) -> int | None:
    """The delta of a counter update ``ADD #n :v`` where ``#n`` is ``count``."""
    names = update.get("ExpressionAttributeNames", {})
    for name, value in re.findall(r"ADD\s+(#\w+)\s+(:\w+)", update.get("UpdateExpression", "")):
        if names.get(name) == "count":
            return int(update["ExpressionAttributeValues"][value]["N"])
    return None


def counter_moves(calls: list[tuple[str, dict[str, Any]]], member_id: str,
                  shard_of: Callable[[str, int], int], shards: int) -> tuple[dict[str, int], dict[str, Any] | None]:
    """(counter name -> net delta, one counter update's parameters) of the captured calls.
    Raises if a counter moved on a shard not chosen by the member id (then cloning it per
    member would be wrong)."""
    moves: dict[str, int] = defaultdict(int)
    shape = None
    for op, params in calls:
        if op == "TransactWriteItems":
            updates = [a["Update"] for a in params["TransactItems"] if "Update" in a]
        elif op == "UpdateItem":
            updates = [params]
        else:
            continue
        for update in updates:
            pk = update["Key"]["pk"]["S"]
            if "#CNT#" not in pk:
                continue
            delta = _delta(update)
            name, shard = pk.rsplit("#", 1)
            if delta is None or not shard.isdigit():
                raise RuntimeError(f"a counter update of an unexpected shape: {update}; update bench/seed.py")
            if int(shard) != shard_of(member_id, shards):
                raise RuntimeError(f"counter {name} moved on shard {shard}, not the member's "
                                   f"({shard_of(member_id, shards)}); update bench/seed.py")
            moves[name] += delta
            shape = shape or update
    return {k: v for k, v in moves.items() if v}, shape


def read_collection(ddb: Any, table: str, pk: str) -> list[dict[str, Any]]:
    items, start = [], None
    while True:
        kwargs = {"ExclusiveStartKey": start} if start else {}
        r = ddb.query(TableName=table, KeyConditionExpression="pk = :p", ConsistentRead=True,
                      ExpressionAttributeValues={":p": {"S": pk}}, **kwargs)
        items += r["Items"]
        start = r.get("LastEvaluatedKey")
        if not start:
            return items


def _kept(item: dict[str, Any]) -> bool:
    sk = item["sk"]["S"]
    return sk in ("PROFILE", "STANDING", "TAGSET") or sk.startswith("TAG#")


def make_template(api: App, app_ddb: Any, bare_ddb: Any, table: str, variant: Variant, tag_ids: dict[str, str],
                  phone: str, label: str) -> tuple[Template, dict[str, Any] | None]:
    """Make one member of ``variant`` through the API and capture what it wrote.
    Returns the template and one counter update's parameters (its shape)."""
    from chalicelib.core.table import keys
    from chalicelib.core.table.definition import COUNTER_SHARDS

    with captured(app_ddb) as calls:
        _, member_id = api.create(member_body(phone))
        if variant.orders:
            events = [order_paid(f"ev-{label}-{k}", f"or-{label}-{k}", member_id=member_id)
                      for k in range(variant.orders)]
            api.events(json.dumps({"events": events}), expected=len(events))
        for tag in variant.tags:
            api.call("put", f"/v1/members/{member_id}/tags/{tag_ids[tag]}", {})
    moves, shape = counter_moves(calls, member_id, keys.shard_of, COUNTER_SHARDS)
    items = [i for i in read_collection(bare_ddb, table, keys.member(api.tenant_id, member_id)) if _kept(i)]
    profile = next(i for i in items if i["sk"]["S"] == "PROFILE")
    standing = next((i for i in items if i["sk"]["S"] == "STANDING"), None)
    created_at = profile["created_at"]["S"]
    patterns = []
    for raw in items:
        item = json.loads(json.dumps(raw))
        for attr in _GSI_PKS:
            if attr in item:
                value = item[attr]["S"]
                shards = list_shards(value)
                shard = f"#{keys.shard_of(member_id, shards)}"
                if not value.endswith(shard):
                    raise RuntimeError(f"{item['sk']['S']}.{attr} = {value!r} does not end in the member's list "
                                       f"shard {shard!r}; update bench/seed.py")
                item[attr]["S"] = value[:-len(shard)] + "#" + _SHARD.format(shards)
        text = json.dumps(item)
        if item["sk"]["S"] == "PROFILE":
            if phone not in text or created_at not in text:
                raise RuntimeError("the profile no longer holds the phone or created_at; update bench/seed.py")
            text = text.replace(phone, _PHONE).replace(created_at, _CREATED)
        patterns.append(text.replace(member_id, _MEMBER))
    template = Template(variant, member_id, phone, created_at, items, patterns, moves,
                        standing["stage"]["S"] if standing and "stage" in standing else None,
                        profile["gsi1sk"]["S"])
    if clone(template, member_id, phone, created_at) != items:
        raise RuntimeError("a clone of a template under its own id differs from its items; update bench/seed.py")
    return template, shape


def list_shards(gsi_pk: str) -> int:
    """How many shards the member list ``gsi_pk`` belongs to is spread over."""
    from chalicelib.core.table import definition

    if "#TAG#" in gsi_pk:
        return definition.TAG_LIST_SHARDS
    if "#STANDINGS#" in gsi_pk:
        return int(getattr(definition, "STANDING_SHARDS", definition.LIST_SHARDS))
    if "#MEMBERS#" in gsi_pk or "#MEMBERS_BY_CH#" in gsi_pk:
        return int(getattr(definition, "MEMBER_LIST_SHARDS", definition.LIST_SHARDS))
    return definition.LIST_SHARDS


def clone(t: Template, member_id: str, phone: str, created_at: str) -> list[dict[str, Any]]:
    from chalicelib.core.table.keys import shard_of

    text = [p.replace(_MEMBER, member_id).replace(_PHONE, phone).replace(_CREATED, created_at) for p in t.patterns]
    for shards in {int(n) for p in text for n in re.findall(r"@@SHARD(\d+)@@", p)}:
        text = [p.replace(_SHARD.format(shards), str(shard_of(member_id, shards))) for p in text]
    return [json.loads(p) for p in text]


class Writer:
    """BatchWriteItem of 25 items at a time from ``threads`` threads (each its own boto3
    client), retrying unprocessed items."""

    def __init__(self, make_client: Callable[[], Any], table: str, threads: int = 2) -> None:
        self.table = table
        self.threads = threads
        self._make_client = make_client
        self._local = threading.local()
        self.calls = 0
        self._lock = threading.Lock()

    def _client(self) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = self._make_client()
        return client

    def _write(self, chunk: list[dict[str, Any]]) -> None:
        request = {self.table: [{"PutRequest": {"Item": item}} for item in chunk]}
        calls = 0
        for attempt in range(20):
            r = self._client().batch_write_item(RequestItems=request)
            calls += 1
            request = r.get("UnprocessedItems") or {}
            if not request:
                break
            time.sleep(min(1.0, 0.01 * 2 ** attempt))
        else:
            raise RuntimeError("BatchWriteItem kept leaving items unprocessed")
        with self._lock:
            self.calls += calls

    def write(self, items: Iterable[dict[str, Any]], progress: Callable[[int], None] | None = None) -> int:
        """Write every item; returns how many."""
        written = 0
        pending: set[Future[None]] = set()
        with ThreadPoolExecutor(self.threads) as pool:
            for chunk in _chunks(items, BATCH_ITEMS):
                while len(pending) >= 4 * self.threads:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for f in done:
                        f.result()
                pending.add(pool.submit(self._write, chunk))
                before, written = written, written + len(chunk)
                if progress and written // 50_000 != before // 50_000:
                    progress(written)
            for f in pending:
                f.result()
        return written


def _chunks(items: Iterable[dict[str, Any]], n: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == n:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def add_counters(ddb: Any, shape: dict[str, Any], deltas: dict[tuple[str, int], int]) -> int:
    """Add each delta to counter shard ``<name>#<shard>`` with the app's update shape."""
    value = next(v for n, v in re.findall(r"ADD\s+(#\w+)\s+(:\w+)", shape["UpdateExpression"])
                 if shape["ExpressionAttributeNames"][n] == "count")
    sent = 0
    for (name, shard), delta in sorted(deltas.items()):
        if not delta:
            continue
        params = json.loads(json.dumps(shape))
        params["Key"]["pk"]["S"] = f"{name}#{shard}"
        params["ExpressionAttributeValues"][value] = {"N": str(delta)}
        params.pop("ConditionExpression", None)
        ddb.update_item(**params)
        sent += 1
    return sent


def seed_members(writer: Writer, ddb: Any, shape: dict[str, Any], count: int, pick: Callable[[int], Template],
                 phone: Callable[[int], str], created_at: Callable[[int], str], fig: SeedFigures,
                 on_member: Callable[[str, str, Template], None] | None = None,
                 progress: Callable[[int], None] | None = None) -> list[str]:
    """Clone ``count`` members (member n: template ``pick(n)``, ``phone(n)``,
    ``created_at(n)``) and add their counter deltas; returns their ids in order."""
    from chalicelib.core.ids import new_id
    from chalicelib.core.table.definition import COUNTER_SHARDS
    from chalicelib.core.table.keys import shard_of

    ids: list[str] = []
    counters: Counter[tuple[str, int]] = Counter()
    started = time.perf_counter()

    def items() -> Iterator[dict[str, Any]]:
        for n in range(count):
            t = pick(n)
            member_id, created = new_id(), created_at(n)
            cloned = clone(t, member_id, phone(n), created)
            for name, delta in t.counters.items():
                counters[(name, shard_of(member_id, COUNTER_SHARDS))] += delta
            for item in cloned:
                sk = item["sk"]["S"]
                fig.by_kind["TAG#" if sk.startswith("TAG#") else sk] += 1
            ids.append(member_id)
            if on_member:
                on_member(member_id, created, t)
            yield from cloned

    calls_before = writer.calls
    fig.items += writer.write(items(), progress)
    fig.members += count
    fig.batch_calls += writer.calls - calls_before
    fig.counter_updates += add_counters(ddb, shape, dict(counters))
    fig.seconds += time.perf_counter() - started
    return ids
