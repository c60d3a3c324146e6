"""Pure parsing of import files, a page at a time (no I/O; unit-tested in tests/unit).

A page is cut from a byte range read out of S3: :func:`split_records` returns the complete
records in it and how many bytes they span, so the next page starts exactly after the last
record (a CSV record may hold newlines inside quotes: a newline ends a record only outside
quotes). Rows become field dicts through the column mapping; the fields each kind accepts,
and the default mapping (a column named like a field maps to it), are documented here and
in the API guide.
"""
from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping
from typing import Any, Literal

Kind = Literal["members", "orders"]
Format = Literal["csv", "jsonl"]

#: ``channel_ids.<kind>``, ``attributes.<name>``, ``member.channel_ids.<kind>`` take a suffix
_SUFFIXED = re.compile(r"^(channel_ids|attributes|member\.channel_ids)\.[a-z][a-z0-9_]{0,63}$")
FIELDS: dict[str, frozenset[str]] = {
    "members": frozenset({"phone", "email", "name", "gender", "birthday", "source.channel", "source.campaign"}),
    "orders": frozenset({"order_id", "amount", "currency", "occurred_at", "channel", "items",
                         "member.id", "member.phone", "member.email"}),
}
_SUFFIX_OK = {"members": ("channel_ids", "attributes"), "orders": ("member.channel_ids",)}
#: what a column of this name means when the mapping does not say
ALIASES: dict[str, dict[str, str]] = {
    "members": {},
    "orders": {"phone": "member.phone", "email": "member.email", "member_id": "member.id"},
}
#: map a column to this to skip it
IGNORE = "_ignore"


def known_field(kind: Kind, name: str) -> bool:
    if name in FIELDS[kind] or name == IGNORE:
        return True
    match = _SUFFIXED.match(name)
    return match is not None and match.group(1) in _SUFFIX_OK[kind]


def target(kind: Kind, column: str, mapping: Mapping[str, str]) -> str | None:
    """The field a column feeds, or None when it is unknown."""
    name = mapping.get(column) or ALIASES[kind].get(column) or column
    return name if known_field(kind, name) else None


class HeaderError(ValueError):
    pass


def check_header(kind: Kind, columns: list[str], mapping: Mapping[str, str]) -> list[str]:
    """The field of every column; HeaderError says what is wrong with the header."""
    if not columns or all(not c.strip() for c in columns):
        raise HeaderError("the first line must name the columns")
    blank = [i + 1 for i, c in enumerate(columns) if not c.strip()]
    if blank:
        raise HeaderError(f"column {blank[0]} has no name")
    dupes = sorted({c for c in columns if columns.count(c) > 1})
    if dupes:
        raise HeaderError(f"column {dupes[0]!r} appears twice")
    missing = sorted(set(mapping) - set(columns))
    if missing:
        raise HeaderError(f"the mapping names column {missing[0]!r}, which the file does not have")
    fields = [target(kind, c, mapping) for c in columns]
    unknown = [c for c, f in zip(columns, fields, strict=True) if f is None]
    if unknown:
        raise HeaderError(f"column {unknown[0]!r} is not a {kind} field; map it to one, or to {IGNORE!r}")
    needed = _required(kind, [f for f in fields if f])
    if needed:
        raise HeaderError(needed)
    return [f or IGNORE for f in fields]


def _required(kind: Kind, fields: list[str]) -> str | None:
    if kind == "members":
        if not any(f in ("phone", "email") or f.startswith("channel_ids.") for f in fields):
            return "a members file needs an identity column: phone, email or channel_ids.<kind>"
        return None
    for name in ("order_id", "amount", "currency"):
        if name not in fields:
            return f"an orders file needs a column for {name}"
    if not any(f.startswith("member.") for f in fields):
        return ("an orders file needs a member column: member.id, member.phone, member.email "
                "or member.channel_ids.<kind>")
    return None


def split_records(data: bytes, at_eof: bool, max_records: int, fmt: Format) -> tuple[list[bytes], int]:
    """(records, bytes consumed): complete records from the start of ``data``, at most
    ``max_records``. Without ``at_eof`` a record needs its ending newline to count."""
    records: list[bytes] = []
    start = pos = 0
    quoted = False
    end = len(data)
    while pos < end and len(records) < max_records:
        byte = data[pos]
        if byte == 0x22 and fmt == "csv":  # '"': an escaped quote ("") toggles twice
            quoted = not quoted
        elif byte == 0x0A and not quoted:
            records.append(data[start:pos])
            start = pos + 1
        pos += 1
    if at_eof and pos >= end and start < end and len(records) < max_records:
        records.append(data[start:end])
        start = end
    return [r.rstrip(b"\r") for r in records], start


def header_of(data: bytes, at_eof: bool) -> tuple[list[str], int] | None:
    """The CSV header's columns and its length in bytes, None if ``data`` holds no whole line."""
    records, used = split_records(data, at_eof, 1, "csv")
    if not records:
        return None
    text = records[0].decode("utf-8-sig", errors="strict")
    return next(csv.reader([text]), []), used


def csv_row(record: bytes, fields: list[str]) -> dict[str, Any]:
    """One CSV record as {field: text}; empty cells are absent."""
    values = next(csv.reader(io.StringIO(record.decode("utf-8"), newline="")), [])
    if len(values) != len(fields):
        raise RowError("", f"expected {len(fields)} columns, found {len(values)}")
    return {f: v for f, v in zip(fields, values, strict=True) if f != IGNORE and v != ""}


def jsonl_row(kind: Kind, record: bytes, mapping: Mapping[str, str]) -> dict[str, Any]:
    """One JSON Lines record as {field: value}: nested objects are flattened with dots
    (``{"member": {"phone": ...}}`` is ``member.phone``), then renamed by the mapping."""
    try:
        value = json.loads(record)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RowError("", f"not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise RowError("", "each line must be a JSON object")
    row: dict[str, Any] = {}
    for name, item in _flatten(value):
        field = target(kind, name, mapping)
        if field is None:
            raise RowError(name, f"{name!r} is not a {kind} field")
        if field != IGNORE and item is not None:
            row[field] = item
    return row


def _flatten(value: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict) and name not in ("items",):
            out += _flatten(item, name + ".")
        else:
            out.append((name, item))
    return out


class RowError(ValueError):
    """A row that cannot be applied: the field at fault ('' for the whole row) and why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def nest(row: Mapping[str, Any]) -> dict[str, Any]:
    """Dotted fields back into objects: {"member.phone": x} -> {"member": {"phone": x}}."""
    out: dict[str, Any] = {}
    for name, value in row.items():
        node = out
        *parents, leaf = name.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


_BIRTHDAY = re.compile(r"^(?:(\d{4})-)?(\d{1,2})-(\d{1,2})$")


def birthday(text: Any) -> dict[str, int]:
    """``YYYY-MM-DD`` or ``MM-DD`` (a year may be unknown) as the API's birthday object."""
    if isinstance(text, dict):
        return text
    match = _BIRTHDAY.match(str(text).strip())
    if not match:
        raise RowError("birthday", "write birthdays as YYYY-MM-DD or MM-DD")
    year, month, day = match.groups()
    return {"month": int(month), "day": int(day), **({"year": int(year)} if year else {})}


def integer(field: str, value: Any) -> int:
    """CSV cells are text: "12900" is the integer 12900 (minor units); "129.00" is refused."""
    if isinstance(value, bool):
        raise RowError(field, f"{field} must be an integer")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not re.fullmatch(r"-?\d{1,15}", text):
        raise RowError(field, f"{field} must be an integer (minor units), not {text[:20]!r}")
    return int(text)
