"""Readable descriptions of captured DynamoDB requests, and DynamoDB's documented minimum
write cost of a transaction (to flag where DynamoDB Local's reported units fall short)."""
from __future__ import annotations

import math
import re
from typing import Any

_ULID = re.compile(r"\b[0-9A-HJKMNP-TV-Z]{26}\b")
_PHONE = re.compile(r"\+\d{6,15}")
_HASH = re.compile(r"\b[0-9a-f]{32,}\b")


def key_shape(value: str) -> str:
    """``T#01M8...#M#01M8...`` -> ``T#<id>#M#<id>`` (ids, phones and hashes masked)."""
    return _HASH.sub("<hash>", _PHONE.sub("<phone>", _ULID.sub("<id>", value)))


def value_bytes(value: dict[str, Any]) -> int:
    """One attribute value's size, roughly as DynamoDB counts it: strings as UTF-8, numbers
    by their digits, BOOL and NULL 1 byte, maps and lists 3 bytes plus 1 per element plus
    their contents (map keys by their UTF-8 length), sets as the sum of their members."""
    ((kind, v),) = value.items()
    if kind in ("S", "N"):
        return len(str(v).encode())
    if kind == "B":
        return len(v) if isinstance(v, (bytes, bytearray)) else len(str(v).encode())
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_bytes(x) for k, x in v.items())
    if kind == "L":
        return 3 + sum(1 + value_bytes(x) for x in v)
    if kind in ("SS", "NS"):
        return sum(len(str(x).encode()) for x in v)
    if kind == "BS":
        return sum(len(x) for x in v)
    return 0


def item_bytes(item: dict[str, Any]) -> int:
    """DynamoDB's item size, roughly: attribute names plus values (see ``value_bytes``)."""
    return sum(len(name.encode()) + value_bytes(value) for name, value in item.items())


def _key(key: dict[str, Any]) -> str:
    return key_shape(key["pk"]["S"]) + " / " + key_shape(key["sk"]["S"])


def describe(op: str, params: dict[str, Any]) -> list[str]:
    """One line for the call, then one per action of a transaction."""
    consistent = bool(params.get("ConsistentRead")) or any(
        t.get("ConsistentRead") for t in params.get("RequestItems", {}).values())
    read = "consistent" if consistent else "eventual"
    if op == "GetItem":
        return [f"GetItem {_key(params['Key'])} ({read})"]
    if op == "BatchGetItem":
        keys = [k for t in params["RequestItems"].values() for k in t["Keys"]]
        return [f"BatchGetItem {len(keys)} key(s): {_key(keys[0])}{' ...' if len(keys) > 1 else ''} ({read})"]
    if op == "TransactWriteItems":
        lines = [f"TransactWriteItems, {len(params['TransactItems'])} actions:"]
        for action in params["TransactItems"]:
            ((kind, body),) = action.items()
            cond = ", conditional" if body.get("ConditionExpression") else ""
            if kind == "Put":
                item = body["Item"]
                lines.append(f"  Put {item.get('item_type', {}).get('S', 'item')} {item_bytes(item)} B: "
                             f"{_key(item)}{cond}")
            else:
                lines.append(f"  {kind} {_key(body['Key'])}{cond}")
        return lines
    if op == "Query":
        values = [v["S"] for v in params.get("ExpressionAttributeValues", {}).values() if "S" in v]
        where = params.get("IndexName", "table")
        return [f"Query {where} {key_shape(values[0]) if values else '?'} ({read})"]
    if op in ("UpdateItem", "PutItem", "DeleteItem"):
        return [f"{op} {_key(params.get('Key') or params['Item'])}"]
    return [op]


def transact_write_floor(params: dict[str, Any]) -> float:
    """The table write units DynamoDB charges a TransactWriteItems at least: 2 WCU per
    written item per started KB (an Update's or Delete's item counted as 1 KB at least)."""
    units = 0.0
    for action in params.get("TransactItems", []):
        ((kind, body),) = action.items()
        if kind == "Put":
            units += 2 * max(1, math.ceil(item_bytes(body["Item"]) / 1024))
        elif kind in ("Update", "Delete"):
            units += 2
    return units


def unit_rows(template: list[tuple[str, dict[str, Any]]], by_index: list[dict[str, float]],
              what: str = "") -> tuple[list[list[str]], list[str]]:
    """Rows [call, CU, table + indexes] for each captured call of an operation, and the
    notes on where DynamoDB Local's figures differ from what DynamoDB bills (``what`` names
    the operation in the notes)."""
    from .report import fmt

    rows: list[list[str]] = []
    notes: list[str] = []
    lead = f"{what}: " if what else ""
    for (name, params), parts in zip(template, by_index, strict=False):
        split = " + ".join(f"{where} {fmt(units, 1)}" for where, units in parts.items() if units) or "-"
        first, *more = describe(name, params)
        rows.append([first, fmt(sum(parts.values()), 1), split])
        rows += [[line, "", ""] for line in more]
        if name in ("GetItem", "BatchGetItem") and not sum(parts.values()):
            notes.append(f"{lead}DynamoDB Local reports 0 units for the {name} of a key that does not exist;\n"
                         "    DynamoDB itself may still charge the minimum read (1 RCU strongly consistent).")
        floor = transact_write_floor(params) if name == "TransactWriteItems" else 0.0
        if parts.get("table", 0.0) < floor:
            notes.append(f"{lead}DynamoDB Local reports {fmt(parts.get('table', 0.0), 1)} table WCU for a {name} of "
                         f"{len(params['TransactItems'])} actions;\n    DynamoDB charges 2 WCU per written item "
                         f"per KB in a transaction, so at least {fmt(floor, 1)} (+ index writes).\n"
                         "    The WCU figures above undercount by the difference.")
    return rows, notes
