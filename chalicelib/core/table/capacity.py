"""Counts the DynamoDB capacity units consumed by the calls made inside a block.

PynamoDB asks for ``ReturnConsumedCapacity=TOTAL`` on every call; this hooks the botocore
client's ``after-call`` event and adds up what DynamoDB reports, per thread.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

_local = threading.local()
_installed: set[int] = set()


@dataclass
class Usage:
    read: float = 0.0
    write: float = 0.0
    calls: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return self.read + self.write


def _record(http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
    usage: Usage | None = getattr(_local, "usage", None)
    if usage is None:
        return
    op = model.name
    usage.calls[op] = usage.calls.get(op, 0) + 1
    consumed = parsed.get("ConsumedCapacity")
    entries = consumed if isinstance(consumed, list) else [consumed] if consumed else []
    for entry in entries:
        units = float(entry.get("CapacityUnits", 0.0))
        if op in {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}:
            usage.write += units
        else:
            usage.read += units


def install(client: Any) -> None:
    if id(client) not in _installed:
        client.meta.events.register("after-call.dynamodb", _record)
        _installed.add(id(client))


@contextmanager
def metered(client: Any) -> Iterator[Usage]:
    """``with metered(client) as usage: ...`` then read ``usage.read`` / ``usage.write``."""
    install(client)
    usage = Usage()
    _local.usage = usage
    try:
        yield usage
    finally:
        _local.usage = None
