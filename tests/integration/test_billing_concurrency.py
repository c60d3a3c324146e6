"""Two writers meeting on one subscription: webhook deliveries of different events for the
same subscription at the same instant, from separate processes (like concurrent Lambda
invocations), against DynamoDB Local. Each process's Stripe holds the same history.

Module level imports no fixtures: the worker processes import this module."""
from __future__ import annotations

import multiprocessing
import time
from collections import Counter
from typing import Any

import pytest

WRITERS = 4
_client: Any = None


def _http() -> Any:
    global _client
    if _client is None:
        from pathlib import Path

        from chalice.test import Client

        from app import app

        _client = Client(app, project_dir=str(Path(__file__).resolve().parents[2]))
    return _client


def warm(_: int) -> bool:
    _http()
    import stripe  # noqa: F401 - paid here, not inside the race

    from chalicelib.billing.gateway import gateway

    gateway().inner._client  # noqa: B018 - the SDK client, built before the race
    return True


def deliver_at(start_at: float, history: list[tuple[int, dict[str, Any]]], body: bytes, header: str) -> str:
    """Know Stripe's history, then deliver one signed event as close to ``start_at`` as possible."""
    from chalicelib.billing.gateway import gateway

    for at, obj in history:
        gateway().record(obj, at)
    client = _http()
    delay = start_at - time.time()
    if delay > 0:
        time.sleep(delay)
    r = client.http.request("POST", "/webhooks/stripe", body=body,
                            headers={"Stripe-Signature": header, "Content-Type": "application/json"})
    import json

    return json.loads(r.body)["outcome"] if r.status_code == 200 else f"HTTP {r.status_code}"


@pytest.fixture(scope="module")
def pool():
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(WRITERS) as p:
        assert all(p.map(warm, range(WRITERS), chunksize=1))
        yield p


def race(pool, history, events):
    from tests.integration.test_billing_support import signed

    start_at = time.time() + 0.5
    return pool.starmap(deliver_at, [(start_at, history, *signed(e)) for e in events], chunksize=1)


@pytest.mark.parametrize("picks", [
    (1, 2, 3, 4),      # the purchase's events all at once: the membership is created once
    (5, 7, 9, 10),     # renewal failure, recovery, cancel, resume: the newest wins
    (9, 10, 11, 12),   # cancel, resume, cancel again, the end
    (8, 8, 10, 10),    # two duplicates each
])
def test_concurrent_deliveries_for_one_subscription_converge(pool, http, tenant, clock, picks):
    from tests.fixtures import table_items
    from tests.integration.test_billing_support import World, expect

    world = World(http, tenant)
    plan = world.plan()
    member = world.member()
    h = world.lifecycle(member, plan, clock.now)
    history = [(evt["created"], state) for evt, state in h.steps]
    world.remember(h)
    if picks[0] > 1:
        for evt in h.events[:4]:
            world.deliver(evt)
    outcomes = race(pool, history, [h.events[n - 1] for n in picks])
    assert all(not o.startswith("HTTP") for o in outcomes), outcomes
    newest = max(picks, key=lambda n: (h.events[n - 1]["created"], n))
    truth = h.state_after(newest)
    [m] = world.memberships(member)
    expect(m, truth)
    items = [i for i in table_items(f"T#{tenant.id}#M#{member}") if i["item_type"]["S"] == "membership"]
    assert len(items) == 1
    report = http.get("/v1/analytics/memberships", tenant.key).json["per_plan"][0]
    live = Counter({"active": report["active"], "trialing": report["trialing"], "past_due": report["past_due"]})
    expected = Counter({truth["status"]: 1}) if truth["status"] in live else Counter()
    assert +live == expected, (live, truth["status"])
    if len(set(picks)) < len(picks):
        assert Counter(outcomes)["duplicate"] >= 2, outcomes
