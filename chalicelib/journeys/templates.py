"""Message templates: ``{{ path }}`` placeholders with two filters, checked when a journey is
saved and rendered when a message is queued.

Variables::

    member.id  member.name  member.phone  member.email  member.gender
    member.attributes.<name>
    tier.id  tier.name  tier.next_tier  tier.next_tier_name  tier.amount_to_next_tier
    tier.progress_message   ("Spend 390.00 CNY more to reach Gold")
    coupon.code  coupon.expires_at  coupon.description   (after a grant_coupon step)
    trigger.<field>         (the triggering event's fields, e.g. trigger.at, trigger.amount)
    journey.name

Filters: ``{{ member.name | default: friend }}`` (used when the value is missing or empty)
and ``{{ trigger.at | date }}`` (the date in the tenant's time zone, YYYY-MM-DD; a value
without a zone, such as ``2026-03-14``, is taken as already local). A variable that is missing
at send time with no default fails the message rather than sending a hole.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

_PLACEHOLDER = re.compile(r"{{\s*([a-z_][a-z0-9_.]*)\s*(?:\|\s*(default|date)\s*(?::\s*([^}]*?))?)?\s*}}")
_ANY_BRACES = re.compile(r"{{|}}")
_FIXED = {
    "member": {"id", "name", "phone", "email", "gender"},
    "tier": {"id", "name", "next_tier", "next_tier_name", "amount_to_next_tier", "progress_message"},
    "coupon": {"code", "expires_at", "description"},
    "journey": {"name"},
}


class TemplateError(ValueError):
    pass


class MissingVariable(TemplateError):
    def __init__(self, path: str) -> None:
        super().__init__(f"the template needs {path}, which has no value for this member")
        self.path = path


@dataclass(frozen=True)
class Placeholder:
    path: str
    filter: str | None
    argument: str | None

    @property
    def root(self) -> str:
        return self.path.split(".", 1)[0]


def placeholders(text: str) -> list[Placeholder]:
    """The placeholders of ``text``; TemplateError for an unknown variable or stray braces."""
    found = [Placeholder(m.group(1), m.group(2), m.group(3)) for m in _PLACEHOLDER.finditer(text)]
    if len(_ANY_BRACES.findall(_PLACEHOLDER.sub("", text))):
        raise TemplateError("unbalanced or malformed {{ }} in the template")
    for p in found:
        parts = p.path.split(".")
        root, rest = parts[0], parts[1:]
        if root in ("trigger",) and len(rest) == 1 and rest[0]:
            continue
        if root == "member" and len(rest) == 2 and rest[0] == "attributes" and rest[1]:
            continue
        if root in _FIXED and len(rest) == 1 and rest[0] in _FIXED[root]:
            continue
        raise TemplateError(f"unknown variable {p.path}; see the template variables")
    return found


def roots(texts: list[str]) -> set[str]:
    return {p.root for text in texts for p in placeholders(text)}


def _lookup(values: dict[str, Any], path: str) -> Any:
    node: Any = values
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def render(text: str, values: dict[str, Any], tz: str) -> str:
    def replace(match: re.Match[str]) -> str:
        path, filt, arg = match.group(1), match.group(2), match.group(3)
        value = _lookup(values, path)
        if filt == "date" and value:
            try:
                moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
                if moment.tzinfo is not None:  # a zoneless date or time is already local
                    moment = moment.astimezone(ZoneInfo(tz))
                value = moment.date().isoformat()
            except ValueError:
                pass
        if value is None or value == "":
            if filt == "default":
                return (arg or "").strip()
            raise MissingVariable(path)
        return str(value)

    return _PLACEHOLDER.sub(replace, text)
