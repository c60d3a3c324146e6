"""Passes over every tenant read the tenant registry in pages: every tenant is visited
once, in id order, and a checkpointed pass resumes after its last tenant."""
from __future__ import annotations

from chalicelib.tenants.service import for_each_tenant, next_tenant
from tests.fixtures import make_tenant


def test_given_new_tenants_when_every_tenant_is_visited_in_small_pages_then_each_comes_once_in_order(
        http, admin_token):
    created = {make_tenant(http, admin_token, name=f"Pass {i}").id for i in range(3)}
    visited = for_each_tenant(lambda t: t, page=2)
    assert created <= set(visited)
    assert visited == sorted(set(visited))  # once each, in id order

    walked, last = [], None
    while (last := next_tenant(last)) is not None:
        walked.append(last)
    assert walked == visited  # one tenant per step, resuming after the checkpoint
