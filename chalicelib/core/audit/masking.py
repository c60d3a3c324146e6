"""What an audit record may say about a change: the changed fields, with values masked.

Pure functions (no I/O), so the rules are unit-tested in milliseconds.

The rule, in three lines:

1. **Credentials never**: a field whose name says it is a credential (``secret``, ``token``,
   ``password``, ``*_secret``, ``*_hash``...) is ``"[redacted]"`` on every target.
2. **A member's values are personal unless listed**: on a ``member`` target every value is
   masked (``"***"``) except the few bookkeeping fields in :data:`MEMBER_VISIBLE` (version,
   tier, tag, consent flags, source channel). Phone, email, name, birthday, gender,
   identities, channel ids, custom attributes and any field added later are masked: the
   allow-list fails safe.
3. **Whether, never what**: a masked value still shows that it was set, changed or cleared
   (``None`` stays ``None``), never the value, its length or a hash (a phone number's hash is
   reversible by brute force).

Values are flattened to dotted paths (``tiers.1.threshold``); a diff holds at most
:data:`MAX_CHANGES` entries and a string value at most :data:`MAX_VALUE_CHARS` characters,
so an audit item stays small whatever the target's size.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MASK = "***"
REDACTED = "[redacted]"
MAX_CHANGES = 100
MAX_VALUE_CHARS = 256
MEMBER = "member"

_CREDENTIAL = re.compile(r"(^|_)(secret|secrets|token|password|passphrase|credential|credentials|hash)($|_)")
#: dotted paths (with ``*`` for one segment) of a member's fields that identify nobody
MEMBER_VISIBLE = (
    "version",
    "tier_id",
    "manual_tier",
    "expires_at",
    "tag_id",
    "tags.*",
    "source.channel",
    "consents.*.granted",
    "erased",
)
_VISIBLE = [re.compile("^" + re.escape(p).replace(r"\*", r"[^.]+") + "$") for p in MEMBER_VISIBLE]


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}, "c": [x], "d": {}}`` -> ``{"a.b": 1, "c.0": x}``: an empty container
    has no leaves (emptying one shows as its former leaves going to ``None``)."""
    if isinstance(value, Mapping | list | tuple) and not value:
        return {}
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list | tuple):
        out = {}
        for index, item in enumerate(value):
            out.update(flatten(item, f"{prefix}.{index}" if prefix else str(index)))
        return out
    return {prefix: value} if prefix else {}


def is_credential(path: str) -> bool:
    return any(_CREDENTIAL.search(part.lower()) for part in path.split("."))


def member_visible(path: str) -> bool:
    return any(p.match(path) for p in _VISIBLE)


def mask_value(target_type: str, path: str, value: Any) -> Any:
    """The value as an audit record may hold it (see the module's rule)."""
    if value is None:
        return None
    if is_credential(path):
        return REDACTED
    if target_type == MEMBER and not member_visible(path):
        return MASK
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        return value[:MAX_VALUE_CHARS] + "…"
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)[:MAX_VALUE_CHARS]


def diff(target_type: str, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
         ) -> tuple[list[dict[str, Any]], bool]:
    """(changes, truncated): one ``{"field", "before", "after"}`` per changed leaf, in field
    order, values masked. ``before=None`` is a creation, ``after=None`` a deletion."""
    old, new = flatten(dict(before or {})), flatten(dict(after or {}))
    changes = [
        {"field": path, "before": mask_value(target_type, path, old.get(path)),
         "after": mask_value(target_type, path, new.get(path))}
        for path in sorted(old.keys() | new.keys())
        if old.get(path) != new.get(path)
    ]
    return changes[:MAX_CHANGES], len(changes) > MAX_CHANGES


def erased(changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The changes of an erased member's record: which fields changed, no values at all."""
    return [{"field": c["field"], "before": None, "after": None, "erased": True} for c in changes]
