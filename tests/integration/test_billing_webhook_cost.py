"""What an applied Stripe webhook reads and writes (issue 14: at most 2x its bare calls).

The account lookup, the claim, the membership, ONE read of the tenant's generations (every
configuration the event's receivers look at, together), and one transaction. A tenant whose
receivers want nothing of the membership event gets no outbox item, so nothing is deleted
after the commit; a tenant with an endpoint subscribed to it gets the item and the event."""
from __future__ import annotations

import json
from datetime import timedelta

from bench.dynamo import captured
from tests.fixtures import table_items
from tests.integration.test_billing import timeline_types, world  # noqa: F401 - world is a fixture
from tests.integration.test_billing_support import YEAR, epoch, gateway
from tests.integration.webhook_support import Receiver, endpoint


def _outbox(tenant_id: str, member_id: str) -> list[dict]:
    return [i for i in table_items(f"T#{tenant_id}#M#{member_id}") if i["sk"]["S"].startswith("OUTBOX#")]


def _purchased_then_canceling(world, clock):
    """A member with an active membership, and Stripe's next state: cancel at period end."""
    plan, member = world.plan(), world.member()
    t0 = clock.now
    h = world.lifecycle(member, plan, t0)
    world.remember(h, upto=4)
    for evt in h.events[:4]:
        assert world.deliver(evt).json["outcome"] in ("applied", "unchanged")
    at = t0 + timedelta(days=1)
    canceling = world.sub(member, plan, status="active", start=t0, end=t0 + YEAR, created=t0, sub_id=h.sub_id,
                          cancel_at_period_end=True, canceled_at=epoch(at))
    gateway().record(canceling, epoch(at))
    return member, world.event("customer.subscription.updated", canceling, at)


def _key(params: dict) -> str:
    return str(params["Key"]["pk"]["S"])


def test_an_applied_webhook_is_four_reads_and_one_transaction_and_no_outbox_when_nothing_wants_it(
        http, tenant, world, clock):
    from chalicelib.core.table.model import boto_client

    receiver = Receiver()
    try:
        endpoint(http, tenant, receiver, ["order.paid"])  # an endpoint, but for orders only
        member, evt = _purchased_then_canceling(world, clock)  # (and this process's caches warm)
        # WHEN Stripe says the membership is set to end
        with captured(boto_client()) as calls:
            r = world.deliver(evt)
    finally:
        receiver.stop()
    assert r.json["outcome"] == "applied", r
    # THEN the account lookup, the claim check, the membership and the tenant's generations
    # are read, and one transaction writes
    assert sorted(op for op, _ in calls) == ["GetItem"] * 4 + ["TransactWriteItems"], calls
    reads = [_key(p) for op, p in calls if op == "GetItem"]
    assert sum(k.startswith("STRIPEACCT#") for k in reads) == 1
    assert sum("#STRIPE_EV#" in k for k in reads) == 1 and sum("#GENS#" in k for k in reads) == 1
    assert sum(_key(p).endswith(member) for op, p in calls if op == "GetItem") == 1  # the membership
    # and no outbox item was put (so none is deleted after the commit)
    written = json.dumps([p for op, p in calls if op == "TransactWriteItems"])
    assert "OUTBOX#" not in written and "#STRIPE_EV#" in written
    assert _outbox(tenant.id, member) == []
    # while the membership and its domain event are there
    assert world.memberships(member)[0]["cancel_at_period_end"] is True
    assert "membership.canceled" in timeline_types(http, tenant, member)


def test_a_tenant_subscribed_to_the_membership_event_gets_it_through_the_outbox(http, tenant, world, clock):
    from chalicelib.core.table.model import boto_client

    receiver = Receiver()
    try:
        member, evt = _purchased_then_canceling(world, clock)
        endpoint(http, tenant, receiver, ["membership.canceled"])
        before = len(receiver.ok_hits())
        with captured(boto_client()) as calls:
            r = world.deliver(evt)
        assert r.json["outcome"] == "applied", r
        # THEN the transaction carried the outbox item, the event went out once, the item is gone
        assert "OUTBOX#" in json.dumps([p for op, p in calls if op == "TransactWriteItems"])
        hits = receiver.ok_hits()[before:]
        assert [h["body"]["type"] for h in hits] == ["membership.canceled"]
        assert hits[0]["body"]["data"]["member_id"] == member
        assert _outbox(tenant.id, member) == []
    finally:
        receiver.stop()


def test_generations_bumped_together_commit_as_one_update_per_copy_and_read_together(tenant):
    from chalicelib.core.table import generations
    from chalicelib.core.table.model import boto_client
    from chalicelib.core.table.transactions import Transaction

    before = {name: generations.current(tenant.id, name) for name in ("alpha", "beta")}
    tx = Transaction()
    generations.bump(tx, tenant.id, "alpha")
    generations.bump(tx, tenant.id, "beta")
    generations.bump(tx, tenant.id, "alpha")  # once per transaction
    with captured(boto_client()) as calls:
        tx.commit()  # two updates of one item in a transaction would be refused by DynamoDB
    sent = calls[0][1]["TransactItems"]
    assert len(sent) == generations.COPIES and len({json.dumps(a["Update"]["Key"]) for a in sent}) == generations.COPIES
    with generations.request_scope(), captured(boto_client()) as reads:
        after = {name: generations.current(tenant.id, name) for name in ("alpha", "beta", "gamma")}
    assert after == {"alpha": before["alpha"] + 1, "beta": before["beta"] + 1, "gamma": 0}
    assert [op for op, _ in reads] == ["GetItem"]  # one read for every generation of the tenant


def test_concurrent_changes_of_different_generations_all_count(tenant):
    """Writers of different configurations now share the tenant's generations items: each
    change's increment survives (ADD is atomic; a transaction conflict is retried)."""
    from concurrent.futures import ThreadPoolExecutor

    from chalicelib.core.table import generations
    from chalicelib.core.table.transactions import Transaction, retrying

    names, rounds = ["tags", "journeys", "tiers", "webhook_endpoints"], 3
    before = {name: generations.current(tenant.id, name) for name in names}

    def bump_once(name: str) -> None:
        tx = Transaction()
        generations.bump(tx, tenant.id, name)
        tx.commit()

    def writer(name: str) -> None:
        for _ in range(rounds):
            retrying(lambda _n: bump_once(name), attempts=20, conflict="kept conflicting")

    with ThreadPoolExecutor(len(names)) as pool:
        list(pool.map(writer, names))
    assert {name: generations.current(tenant.id, name) for name in names} == {
        name: before[name] + rounds for name in names}
