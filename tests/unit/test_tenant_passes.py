"""A pass over some tenants (an operator's list): next_tenant and for_each_tenant walk it
in order and end, with no database involved."""
from __future__ import annotations

from chalicelib.tenants.service import for_each_tenant, next_tenant

ONLY = ["T3", "T1", "T2"]


def test_given_a_list_when_walked_from_no_checkpoint_then_each_tenant_comes_once_in_its_order() -> None:
    seen, last = [], None
    while (last := next_tenant(last, ONLY)) is not None:
        seen.append(last)
    assert seen == ONLY


def test_given_an_empty_list_or_a_checkpoint_outside_it_then_the_pass_is_over() -> None:
    assert next_tenant(None, []) is None
    assert next_tenant("T9", ONLY) is None


def test_given_a_list_then_for_each_tenant_visits_it_in_order_and_returns_each_result() -> None:
    assert for_each_tenant(lambda t: t.lower(), only=ONLY) == ["t3", "t1", "t2"]
