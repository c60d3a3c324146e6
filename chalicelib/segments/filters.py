"""The segment filter language: a JSON tree of ``and`` / ``or`` / ``not`` over terms, its
validation (422 naming the failing node), its evaluation on one member's snapshot, and the
choice of an index to start from.

Terms::

    {"tag": "<tag id>"}                      has the tag
    {"tag_group": "<group id>"}              has any tag of the group
    {"tier": "gold" | "none"}                effective tier
    {"stage": "loyal"}                       lifecycle stage
    {"rfm": "champions" | "none"}            RFM segment
    {"channel": "<channel code>"}            source (first-touch) channel
    {"attribute": "skin", "op": "eq", "value": "dry"}    custom attribute comparison
    {"metric": "lifetime_spend", "op": "gte", "value": 100000}
        metrics: lifetime_spend, spend_12_months, orders, refunded, interactions
    {"last_order_within_days": 30}
    {"birthday_month": 3}
    {"plan": "<plan id>"}                    an active paid membership of the plan
    {"last_order_since": "2026-03-01T00:00:00Z"}   ordered after that time (journeys
        evaluate "ordered since enrolment" with the enrolment time)
    {"points_available": 500, "op": "gte"}   available loyalty points now (op defaults to gte)

Example: ``{"and": [{"tag": "01H..."}, {"not": {"stage": "churned"}}]}``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..core.errors import Unprocessable

MAX_DEPTH = 6
MAX_TERMS = 50
OPS = {"eq", "ne", "gt", "gte", "lt", "lte", "in", "exists"}
METRICS = {"lifetime_spend", "spend_12_months", "orders", "refunded", "interactions"}
TERMS = {"tag", "tag_group", "tier", "stage", "rfm", "channel", "attribute", "metric", "last_order_within_days",
         "birthday_month", "plan", "last_order_since", "points_available"}
#: values with no tag-index list (members without standing have them implicitly)
UNINDEXED_VALUES = {("tier", "none"), ("rfm", "none"), ("stage", "prospect_aware")}


@dataclass
class Snapshot:
    """What a filter can see of one member."""

    member_id: str
    tags: set[str] = field(default_factory=set)
    groups: set[str] = field(default_factory=set)
    tier: str = "none"
    stage: str = "prospect_aware"
    rfm: str = "none"
    channel: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, int] = field(default_factory=dict)
    last_order_at: datetime | None = None
    birthday_month: int | None = None
    plans: set[str] = field(default_factory=set)
    #: read only when a filter asks (``points_available`` term)
    points_available: int = 0
    #: the member's API representation, loaded with the snapshot (so pages need no re-read)
    profile: Any = None


def _fail(path: str, message: str) -> Unprocessable:
    return Unprocessable(message, field=path, code="invalid_filter")


def validate(tree: Any, path: str = "filter") -> None:
    """Raise a 422 naming the first bad node."""
    count = [0]

    def walk(node: Any, where: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise _fail(where, f"filters nest at most {MAX_DEPTH} levels")
        if not isinstance(node, dict) or len(node) == 0:
            raise _fail(where, "each node is a JSON object")
        if "and" in node or "or" in node:
            key = "and" if "and" in node else "or"
            children = node[key]
            if len(node) != 1 or not isinstance(children, list) or not children:
                raise _fail(where, f"'{key}' takes a non-empty list and nothing else")
            for i, child in enumerate(children):
                walk(child, f"{where}.{key}[{i}]", depth + 1)
            return
        if "not" in node:
            if len(node) != 1:
                raise _fail(where, "'not' takes one filter and nothing else")
            walk(node["not"], f"{where}.not", depth + 1)
            return
        count[0] += 1
        if count[0] > MAX_TERMS:
            raise _fail(where, f"at most {MAX_TERMS} terms")
        _validate_term(node, where)

    walk(tree, path, 1)


def _validate_term(node: dict[str, Any], where: str) -> None:
    term = next((k for k in node if k in TERMS), None)
    if term is None:
        raise _fail(where, f"unknown term; use one of {sorted(TERMS)}")
    value = node[term]
    if term in ("attribute", "metric"):
        op = node.get("op", "eq")
        if set(node) - {term, "op", "value"}:
            raise _fail(where, f"'{term}' takes op and value")
        if op not in OPS:
            raise _fail(f"{where}.op", f"op is one of {sorted(OPS)}")
        if term == "metric" and value not in METRICS:
            raise _fail(f"{where}.metric", f"metric is one of {sorted(METRICS)}")
        if term == "attribute" and (not isinstance(value, str) or not value):
            raise _fail(f"{where}.attribute", "attribute names a custom attribute")
        if op == "in" and not isinstance(node.get("value"), list):
            raise _fail(f"{where}.value", "'in' takes a list")
        if term == "metric" and op == "in":
            bad = next((i for i, v in enumerate(node["value"]) if not _strict_int(v)), None)
            if bad is not None:
                raise _fail(f"{where}.value[{bad}]", "metrics compare with integers (minor units for money)")
        elif term == "metric" and op != "exists" and not _strict_int(node.get("value")):
            raise _fail(f"{where}.value", "metrics compare with integers (minor units for money)")
        return
    if term == "points_available":
        if set(node) - {term, "op"}:
            raise _fail(where, "'points_available' takes a number and op")
        if node.get("op", "gte") not in OPS - {"in", "exists"}:
            raise _fail(f"{where}.op", f"op is one of {sorted(OPS - {'in', 'exists'})}")
        if not _strict_int(value):
            raise _fail(f"{where}.points_available", "points_available compares with an integer")
        return
    if len(node) != 1:
        raise _fail(where, f"'{term}' takes a single value")
    if term in ("last_order_within_days", "birthday_month"):
        upper = 12 if term == "birthday_month" else 3650
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= upper:
            raise _fail(f"{where}.{term}", f"{term} is an integer from 1 to {upper}")
        return
    if term == "last_order_since":
        if _timestamp(value) is None:
            raise _fail(f"{where}.{term}",
                        "last_order_since is an ISO 8601 time with a zone, e.g. 2026-03-01T00:00:00Z")
        return
    if not isinstance(value, str) or not value or len(value) > 64:
        raise _fail(f"{where}.{term}", f"{term} takes an id or name")


#: terms whose value names something of the tenant's (or a fixed vocabulary) that must exist
NAMING_TERMS = ("tag", "tag_group", "tier", "stage", "rfm", "channel", "plan")


def named_terms(tree: Any, path: str = "filter") -> list[tuple[str, str, str]]:
    """``(term, value, field path)`` of every naming term of a validated filter, in the order
    a reader meets them, e.g. ``("tag", "01H...", "filter.and[1].tag")``."""
    for key in ("and", "or"):
        if key in tree:
            return [t for i, child in enumerate(tree[key]) for t in named_terms(child, f"{path}.{key}[{i}]")]
    if "not" in tree:
        return named_terms(tree["not"], f"{path}.not")
    return [(term, str(tree[term]), f"{path}.{term}") for term in NAMING_TERMS if term in tree]


def _strict_int(value: Any) -> bool:
    """A JSON integer: not a bool (Python's bools are ints), a float or a numeric string."""
    return isinstance(value, int) and not isinstance(value, bool)


def _timestamp(value: Any) -> datetime | None:
    """An aware datetime from ISO 8601 text, else None."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _compare(actual: Any, op: str, expected: Any) -> bool:
    if op == "exists":
        return actual is not None
    if op == "in":
        return actual in expected
    if op == "eq":
        return bool(actual == expected)
    if op == "ne":
        return bool(actual != expected)
    if actual is None or expected is None:
        return False
    try:
        return {"gt": actual > expected, "gte": actual >= expected, "lt": actual < expected,
                "lte": actual <= expected}[op]
    except TypeError:
        return False


def compare(actual: Any, op: str, expected: Any) -> bool:
    """``actual <op> expected`` as terms compare (for event property predicates)."""
    return _compare(actual, op, expected)


def matches(node: dict[str, Any], snap: Snapshot, now: datetime) -> bool:
    if "and" in node:
        return all(matches(child, snap, now) for child in node["and"])
    if "or" in node:
        return any(matches(child, snap, now) for child in node["or"])
    if "not" in node:
        return not matches(node["not"], snap, now)
    if "tag" in node:
        return node["tag"] in snap.tags
    if "tag_group" in node:
        return node["tag_group"] in snap.groups
    if "tier" in node:
        return snap.tier == node["tier"]
    if "stage" in node:
        return snap.stage == node["stage"]
    if "rfm" in node:
        return snap.rfm == node["rfm"]
    if "channel" in node:
        return snap.channel == node["channel"]
    if "plan" in node:
        return node["plan"] in snap.plans
    if "birthday_month" in node:
        return snap.birthday_month == node["birthday_month"]
    if "last_order_since" in node:
        since = _timestamp(node["last_order_since"])
        return snap.last_order_at is not None and since is not None and snap.last_order_at > since
    if "last_order_within_days" in node:
        return snap.last_order_at is not None and (now - snap.last_order_at).days < node["last_order_within_days"]
    if "attribute" in node:
        return _compare(snap.attributes.get(node["attribute"]), node.get("op", "eq"), node.get("value"))
    if "points_available" in node:
        return _compare(snap.points_available, node.get("op", "gte"), node["points_available"])
    if "metric" in node:
        return _compare(snap.metrics.get(node["metric"], 0), node.get("op", "eq"), node.get("value"))
    raise ValueError(f"unvalidated filter node {node!r}")


@dataclass(frozen=True)
class IndexTerm:
    """A term that names a list of members: ``tag`` (tag index, incl. system tags
    ``stage:loyal``), or ``channel`` (the members-by-source-channel list)."""

    kind: str  # "tag" | "channel"
    value: str


def index_term(node: dict[str, Any]) -> IndexTerm | None:
    for dimension in ("tier", "stage", "rfm"):
        if dimension in node and (dimension, node[dimension]) not in UNINDEXED_VALUES:
            return IndexTerm("tag", f"{dimension}:{node[dimension]}")
    if "tag" in node:
        return IndexTerm("tag", node["tag"])
    if "channel" in node:
        return IndexTerm("channel", node["channel"])
    return None


def uses_term(tree: Any, term: str) -> bool:
    """Whether ``term`` appears anywhere in the filter (some terms need extra reads)."""
    if isinstance(tree, dict):
        return term in tree or any(uses_term(v, term) for v in tree.values())
    if isinstance(tree, list):
        return any(uses_term(v, term) for v in tree)
    return False


def index_terms(tree: dict[str, Any]) -> list[IndexTerm]:
    """Indexed terms every matching member must satisfy (the top-level ``and`` chain)."""
    if "and" in tree:
        return [t for child in tree["and"] for t in index_terms(child)]
    term = index_term(tree)
    return [term] if term else []


def single_term(tree: dict[str, Any]) -> dict[str, Any] | None:
    """The filter's only term, if it is one term (maybe wrapped in a one-element ``and``)."""
    while "and" in tree and len(tree["and"]) == 1:
        tree = tree["and"][0]
    if any(k in tree for k in ("and", "or", "not")):
        return None
    return tree
