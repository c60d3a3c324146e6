"""The DynamoDB requests behind an app operation, captured once and replayed bare.

A hook on the botocore client PynamoDB uses records the API parameters of every call the
app makes while serving one request. The bare side replays exactly those requests (same
operations, key and item shapes, sizes, conditions, ``ConsistentRead`` and
``ReturnConsumedCapacity``) with a plain boto3 client, substituting only what must be new
per iteration (the phone number and member id, same lengths), so a bare create writes a
new member as the app does and a bare get reads a member the app wrote. Shard numbers the
app derived from the captured member id (list and counter shards) stay as captured: same
sizes and costs, and DynamoDB Local has no partitions to make a hot key of.
"""
from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Self

from botocore import xform_name

Request = tuple[str, dict[str, Any]]  # (operation name, API parameters)


@contextmanager
def captured(client: Any) -> Iterator[list[Request]]:
    """The DynamoDB requests ``client`` makes inside the block (this thread's and others')."""
    calls: list[Request] = []

    def hook(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.append((model.name, copy.deepcopy(params)))

    client.meta.events.register("before-parameter-build.dynamodb", hook)
    try:
        yield calls
    finally:
        client.meta.events.unregister("before-parameter-build.dynamodb", hook)


def substitute(value: Any, replacements: dict[str, str]) -> Any:
    """A copy of ``value`` with every string's occurrences of each key replaced."""
    if isinstance(value, str):
        for old, new in replacements.items():
            value = value.replace(old, new)
        return value
    if isinstance(value, dict):
        return {k: substitute(v, replacements) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, replacements) for v in value]
    return value


def consumed_units(response: dict[str, Any]) -> float:
    consumed = response.get("ConsumedCapacity")
    entries = consumed if isinstance(consumed, list) else [consumed] if consumed else []
    return sum(float(e.get("CapacityUnits", 0.0)) for e in entries)


@dataclass
class BareResult:
    total_ms: float
    call_ms: list[float]
    units: list[float]


class Bare:
    """Replays captured requests with a plain boto3 client, timing each call."""

    def __init__(self, client: Any, template: list[Request]) -> None:
        self.client = client
        self.template = template
        self.methods = [getattr(client, xform_name(op)) for op, _ in template]

    def build(self, replacements: dict[str, str]) -> list[dict[str, Any]]:
        """The requests for one iteration (built before the clock starts)."""
        built = [substitute(params, replacements) for _, params in self.template]
        text = json.dumps(built)
        stale = [old for old in replacements if old in text]
        if stale or not any(new in text for new in replacements.values()):
            raise RuntimeError(f"replaying the app's requests: {stale or list(replacements)} not substituted; "
                               "the app's key or item shapes changed, update bench/dynamo.py")
        return built

    def run(self, requests: list[dict[str, Any]]) -> BareResult:
        call_ms: list[float] = []
        responses = []
        start = time.perf_counter()
        for method, params in zip(self.methods, requests, strict=False):
            t0 = time.perf_counter()
            responses.append(method(**params))
            call_ms.append((time.perf_counter() - t0) * 1000)
        total = (time.perf_counter() - start) * 1000
        return BareResult(total, call_ms, [consumed_units(r) for r in responses])


def units_by_index(response: dict[str, Any]) -> dict[str, float]:
    """{"table": units, "<index name>": units} from a ReturnConsumedCapacity=INDEXES answer."""
    consumed = response.get("ConsumedCapacity")
    entries = consumed if isinstance(consumed, list) else [consumed] if consumed else []
    found: dict[str, float] = {}
    for e in entries:
        found["table"] = found.get("table", 0.0) + float(e.get("Table", {}).get("CapacityUnits", 0.0))
        for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            for name, part in (e.get(kind) or {}).items():
                found[name] = found.get(name, 0.0) + float(part.get("CapacityUnits", 0.0))
    return found


def by_index(bare: Bare, requests: list[dict[str, Any]]) -> list[dict[str, float]]:
    """Send ``requests`` once more with ReturnConsumedCapacity=INDEXES (not timed)."""
    return [units_by_index(method(**{**params, "ReturnConsumedCapacity": "INDEXES"}))
            for method, params in zip(bare.methods, requests, strict=False)]


@dataclass
class BotocoreHooks:
    """Registers ``self._before`` / ``self._after`` on a botocore DynamoDB client (``self.client``)
    for the ``with`` block: how the bench's meters see every call the app makes."""

    client: Any

    def __enter__(self) -> Self:
        self.client.meta.events.register("before-parameter-build.dynamodb", self._before)
        self.client.meta.events.register("after-call.dynamodb", self._after)
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.meta.events.unregister("before-parameter-build.dynamodb", self._before)
        self.client.meta.events.unregister("after-call.dynamodb", self._after)

    def _before(self, params: dict[str, Any], **kwargs: Any) -> None:
        raise NotImplementedError

    def _after(self, **kwargs: Any) -> None:
        raise NotImplementedError


@dataclass
class InAppTimer(BotocoreHooks):
    """Time the app spends inside botocore DynamoDB calls (parameter build to parsed
    response), hooked on the client PynamoDB uses. Only for the capacity pass: the timed
    loops run without hooks."""

    client: Any
    spent_ms: float = 0.0
    #: the same, per DynamoDB operation
    by_op: dict[str, float] = field(default_factory=dict)
    _start: list[float] = field(default_factory=list)

    def _before(self, **_: Any) -> None:
        self._start.append(time.perf_counter())

    def _after(self, model: Any = None, **_: Any) -> None:
        if self._start:
            ms = (time.perf_counter() - self._start.pop()) * 1000
            self.spent_ms += ms
            if model is not None:
                self.by_op[model.name] = self.by_op.get(model.name, 0.0) + ms
