"""The segment filter language (pure): validation names the failing node, evaluation on a
member snapshot, and the choice of the index a query starts from."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from chalicelib.core.errors import Unprocessable
from chalicelib.segments import filters
from chalicelib.segments.filters import IndexTerm, Snapshot

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=timezone.utc)


def rejection(tree: Any) -> Unprocessable:
    with pytest.raises(Unprocessable) as caught:
        filters.validate(tree)
    assert caught.value.code == "invalid_filter"
    return caught.value


# --- validation ------------------------------------------------------------------------
@pytest.mark.parametrize("tree", [
    {"tag": "01H0000000000000000000TAG1"},
    {"and": [{"stage": "loyal"}, {"not": {"rfm": "lost"}}]},
    {"or": [{"tier": "gold"}, {"channel": "mall-qr-01"}]},
    {"attribute": "skin", "op": "in", "value": ["dry", "oily"]},
    {"attribute": "skin", "op": "exists"},
    {"metric": "lifetime_spend", "op": "gte", "value": 100_000},
    {"metric": "orders", "op": "in", "value": [1, 2, 3]},
    {"last_order_within_days": 3650},
    {"birthday_month": 12},
    {"last_order_since": "2026-03-01T00:00:00Z"},
    {"plan": "01H0000000000000000000PLAN"},
])
def test_given_a_well_formed_filter_when_validated_then_it_is_accepted(tree: Any) -> None:
    filters.validate(tree)


@pytest.mark.parametrize(("tree", "field"), [
    ([{"tag": "x"}], "filter"),                                        # not an object
    ({}, "filter"),                                                    # empty object
    ({"and": []}, "filter"),                                           # empty list
    ({"and": [{"tag": "x"}], "or": [{"tag": "y"}]}, "filter"),         # two operators
    ({"or": [{"tag": "x"}, {"colour": "red"}]}, "filter.or[1]"),       # unknown term, by position
    ({"not": {"tag": "x"}, "tag": "y"}, "filter"),                     # 'not' with a sibling
    ({"tag": "x", "stage": "loyal"}, "filter"),                        # two terms in one node
    ({"tag": ""}, "filter.tag"),
    ({"tag": "x" * 65}, "filter.tag"),
    ({"attribute": "skin", "op": "like", "value": "d%"}, "filter.op"),
    ({"attribute": "", "op": "eq", "value": 1}, "filter.attribute"),
    ({"attribute": "skin", "op": "in", "value": "dry"}, "filter.value"),
    ({"attribute": "skin", "op": "eq", "value": 1, "extra": 2}, "filter"),
    ({"metric": "happiness", "op": "gt", "value": 1}, "filter.metric"),
    ({"metric": "orders", "op": "gt", "value": "1"}, "filter.value"),  # strings are not integers
    ({"metric": "orders", "op": "gt", "value": 1.5}, "filter.value"),
    ({"metric": "orders", "op": "gt", "value": True}, "filter.value"),  # nor are booleans
    ({"metric": "orders", "op": "in", "value": [1, "2"]}, "filter.value[1]"),
    ({"last_order_within_days": 0}, "filter.last_order_within_days"),
    ({"last_order_within_days": 3651}, "filter.last_order_within_days"),
    ({"birthday_month": 13}, "filter.birthday_month"),
    ({"birthday_month": True}, "filter.birthday_month"),
    ({"last_order_since": "2026-03-01"}, "filter.last_order_since"),   # no zone
    ({"last_order_since": "yesterday"}, "filter.last_order_since"),
])
def test_given_a_bad_node_when_validated_then_the_422_names_it(tree: Any, field: str) -> None:
    assert rejection(tree).field == field


def test_given_filters_nested_too_deep_when_validated_then_the_deepest_node_is_named() -> None:
    tree: dict[str, Any] = {"tag": "x"}
    for _ in range(filters.MAX_DEPTH):
        tree = {"not": tree}
    problem = rejection(tree)
    assert problem.field == "filter" + ".not" * filters.MAX_DEPTH
    assert str(filters.MAX_DEPTH) in problem.detail


def test_given_more_terms_than_allowed_when_validated_then_the_first_extra_term_is_named() -> None:
    filters.validate({"or": [{"tag": f"t{i}"} for i in range(filters.MAX_TERMS)]})
    problem = rejection({"or": [{"tag": f"t{i}"} for i in range(filters.MAX_TERMS + 1)]})
    assert problem.field == f"filter.or[{filters.MAX_TERMS}]"


# --- compare ---------------------------------------------------------------------------
@pytest.mark.parametrize(("actual", "op", "expected", "holds"), [
    (5, "eq", 5, True), (5, "ne", 5, False), (None, "ne", 5, True),
    (5, "gt", 4, True), (5, "gte", 5, True), (5, "lt", 5, False), (5, "lte", 5, True),
    (None, "gt", 4, False), (5, "gt", None, False),
    ("dry", "in", ["dry", "oily"], True), ("normal", "in", ["dry", "oily"], False),
    (None, "exists", None, False), (0, "exists", None, True), ("", "exists", None, True),
    ("10", "gt", 5, False),  # incomparable types never match (and never raise)
])
def test_given_two_values_when_compared_then_the_operator_decides(actual: Any, op: str, expected: Any,
                                                                   holds: bool) -> None:
    assert filters.compare(actual, op, expected) is holds


# --- evaluation ------------------------------------------------------------------------
def member(**kw: Any) -> Snapshot:
    return Snapshot(member_id="m1", **kw)


def test_given_a_snapshot_when_terms_are_evaluated_then_each_reads_its_own_dimension() -> None:
    snap = member(tags={"vip"}, groups={"scent"}, tier="gold", stage="loyal", rfm="champions",
                  channel="mall", attributes={"skin": "dry"}, metrics={"orders": 3},
                  birthday_month=3, plans={"black"})
    holding = [{"tag": "vip"}, {"tag_group": "scent"}, {"tier": "gold"}, {"stage": "loyal"},
               {"rfm": "champions"}, {"channel": "mall"}, {"attribute": "skin", "value": "dry"},
               {"metric": "orders", "op": "gte", "value": 3}, {"birthday_month": 3}, {"plan": "black"}]
    failing = [{"tag": "new"}, {"tag_group": "size"}, {"tier": "silver"}, {"stage": "dormant"},
               {"rfm": "lost"}, {"channel": "wechat"}, {"attribute": "skin", "value": "oily"},
               {"metric": "orders", "op": "gt", "value": 3}, {"birthday_month": 4}, {"plan": "gold"}]
    assert [filters.matches(t, snap, NOW) for t in holding] == [True] * len(holding)
    assert [filters.matches(t, snap, NOW) for t in failing] == [False] * len(failing)


def test_given_a_member_without_standing_then_defaults_match_none_and_metrics_count_as_zero() -> None:
    snap = member()
    assert filters.matches({"tier": "none"}, snap, NOW)
    assert filters.matches({"rfm": "none"}, snap, NOW)
    assert filters.matches({"stage": "prospect_aware"}, snap, NOW)
    assert filters.matches({"metric": "lifetime_spend", "op": "eq", "value": 0}, snap, NOW)
    assert not filters.matches({"attribute": "skin", "op": "exists"}, snap, NOW)


def test_given_and_or_not_when_evaluated_then_they_combine_like_logic() -> None:
    snap = member(tags={"a"})
    a, b = {"tag": "a"}, {"tag": "b"}
    assert filters.matches({"and": [a, {"not": b}]}, snap, NOW)
    assert not filters.matches({"and": [a, b]}, snap, NOW)
    assert filters.matches({"or": [b, a]}, snap, NOW)
    assert not filters.matches({"not": {"or": [a, b]}}, snap, NOW)


def test_given_a_last_order_when_recency_terms_are_evaluated_then_whole_days_and_strict_since_count() -> None:
    snap = member(last_order_at=NOW - timedelta(days=29, hours=23))
    assert filters.matches({"last_order_within_days": 30}, snap, NOW)
    assert not filters.matches({"last_order_within_days": 29}, snap, NOW)
    assert not filters.matches({"last_order_within_days": 30}, member(), NOW)  # never ordered
    ordered_at = snap.last_order_at
    assert ordered_at is not None
    assert filters.matches({"last_order_since": (ordered_at - timedelta(seconds=1)).isoformat()}, snap, NOW)
    assert not filters.matches({"last_order_since": ordered_at.isoformat()}, snap, NOW)  # after, not at
    assert not filters.matches({"last_order_since": "2000-01-01T00:00:00Z"}, member(), NOW)


def test_given_an_unvalidated_node_when_evaluated_then_it_is_refused_not_guessed() -> None:
    with pytest.raises(ValueError, match="unvalidated"):
        filters.matches({"colour": "red"}, member(), NOW)


# --- index choice ----------------------------------------------------------------------
def test_given_a_top_level_and_then_every_indexed_term_is_a_candidate_start() -> None:
    tree = {"and": [{"tier": "gold"}, {"tag": "vip"}, {"or": [{"tag": "a"}, {"tag": "b"}]},
                    {"channel": "mall"}, {"attribute": "skin", "value": "dry"}]}
    assert filters.index_terms(tree) == [IndexTerm("tag", "tier:gold"), IndexTerm("tag", "vip"),
                                         IndexTerm("channel", "mall")]


@pytest.mark.parametrize("term", [{"tier": "none"}, {"rfm": "none"}, {"stage": "prospect_aware"},
                                  {"metric": "orders", "op": "gt", "value": 0}])
def test_given_a_value_with_no_member_list_then_it_is_not_an_index(term: dict[str, Any]) -> None:
    assert filters.index_term(term) is None
    assert filters.index_terms(term) == []


def test_given_a_stage_then_its_system_tag_list_is_the_index() -> None:
    assert filters.index_term({"stage": "loyal"}) == IndexTerm("tag", "stage:loyal")
    assert filters.index_term({"rfm": "champions"}) == IndexTerm("tag", "rfm:champions")


def test_given_one_term_wrapped_in_ands_then_it_is_the_single_term() -> None:
    assert filters.single_term({"and": [{"and": [{"tag": "vip"}]}]}) == {"tag": "vip"}
    assert filters.single_term({"and": [{"tag": "a"}, {"tag": "b"}]}) is None
    assert filters.single_term({"not": {"tag": "a"}}) is None


def test_given_a_nested_tree_then_uses_term_finds_a_term_at_any_depth() -> None:
    tree = {"and": [{"tag": "a"}, {"or": [{"not": {"plan": "black"}}]}]}
    assert filters.uses_term(tree, "plan")
    assert not filters.uses_term(tree, "metric")
