"""Changes the audit log missed until now (issue 13, ADR 0012), through the HTTP API:
membership cancel/resume, the Stripe connection and its onboarding, sender domains, segment
exports, bulk tag jobs and list enrolments (their start, with the request's actor, which the
job also runs as), and platform tenant creation. A failed change records nothing."""
from __future__ import annotations

from datetime import timedelta

import pytest

from tests.fixtures import make_tenant
from tests.integration.journey_support import aws, create_journey  # noqa: F401 - aws is a fixture
from tests.integration.test_audit_log import audit, audit_items, changes, key_id
from tests.integration.test_billing import world  # noqa: F401 - world is a fixture
from tests.integration.test_billing_support import epoch

WAIT = {"trigger": {"type": "event", "event": {"type": "interaction", "name": "follow"}}, "start": "w",
        "steps": [{"id": "w", "type": "wait", "duration": "P1D", "next": "x"}, {"id": "x", "type": "exit"}]}


def _actions(http, tenant, target_type, target):
    return [e["action"] for e in audit(http, tenant, target_type=target_type, target=target)["data"]]


def test_membership_cancel_and_resume_are_recorded_with_before_after_and_the_key(http, tenant, world, clock):
    plan, member = world.plan(), world.member()
    h = world.lifecycle(member, plan, clock.now)
    world.remember(h, upto=4)
    for evt in h.events[:4]:
        world.deliver(evt)
    clock.now = clock.now + timedelta(seconds=10)
    # WHEN the member's membership is set to end, then resumed, through the API
    r = http.post(f"/v1/members/{member}/memberships/{h.sub_id}/cancel", tenant.key, {"at_period_end": True})
    assert r.status == 200 and r.json["cancel_at_period_end"] is True, r
    canceled = audit(http, tenant, target_type="membership", target=h.sub_id)["data"]
    assert [e["action"] for e in canceled] == ["membership.cancel_requested"]
    assert canceled[0]["actor"]["id"] == f"api_key:{key_id(http, tenant)}"
    assert changes(canceled[0])["cancel_at_period_end"] == (False, True)
    assert changes(canceled[0])["cancel_at"][0] is None and changes(canceled[0])["cancel_at"][1] is not None
    assert http.post(f"/v1/members/{member}/memberships/{h.sub_id}/resume", tenant.key).status == 200
    # AND a resume that fails (nothing is set to end any more) records nothing
    assert http.post(f"/v1/members/{member}/memberships/{h.sub_id}/resume", tenant.key).status == 409
    page = audit(http, tenant, target_type="membership", target=h.sub_id)["data"]
    assert [e["action"] for e in page] == ["membership.resumed", "membership.cancel_requested"]
    assert changes(page[0])["cancel_at_period_end"] == (True, False)


def test_the_stripe_connection_and_its_onboarding_progress_are_recorded(http, tenant, world, clock):
    from devstack import stripe_events as se

    connected = audit(http, tenant, target_type="stripe_account", target=world.account)["data"]
    assert [e["action"] for e in connected] == ["stripe_account.connected"]
    assert connected[0]["actor"]["id"] == f"api_key:{key_id(http, tenant)}"
    assert changes(connected[0])["charges_enabled"] == (None, False)
    # a second connect (a fresh onboarding link) changes nothing: no record
    assert http.post("/v1/billing/stripe/connect", tenant.key, {"return_url": "https://b.example/done",
                                                                "refresh_url": "https://b.example/again"}).status == 200
    # WHEN Stripe says onboarding finished (account.updated), and then repeats an older state
    now = epoch(clock.now)
    done = se.event("account.updated", se.account(world.account, charges_enabled=True, details_submitted=True,
                                                  payouts_enabled=True), account_id=world.account, created=now + 10)
    older = se.event("account.updated", se.account(world.account, charges_enabled=False, details_submitted=False,
                                                   payouts_enabled=False), account_id=world.account, created=now + 5)
    assert world.deliver(done).json["outcome"] == "applied"
    assert world.deliver(older).json["outcome"] == "stale"
    page = audit(http, tenant, target_type="stripe_account", target=world.account)["data"]
    assert [e["action"] for e in page] == ["stripe_account.updated", "stripe_account.connected"]
    assert page[0]["actor"] == {"id": "system:stripe", "role": None}
    assert changes(page[0]) == {"charges_enabled": (False, True), "details_submitted": (False, True),
                                "payouts_enabled": (False, True)}


@pytest.mark.usefixtures("aws")
def test_sender_domains_are_recorded_and_a_taken_domain_records_nothing(http, tenant, other_tenant):
    r = http.post("/v1/messaging/sender-domains", tenant.key, {"domain": "mail.brand-audit.example"})
    assert r.status in (200, 201), r
    page = audit(http, tenant, target_type="sender_domain", target="mail.brand-audit.example")["data"]
    assert [e["action"] for e in page] == ["sender_domain.registered"]
    assert page[0]["actor"]["id"] == f"api_key:{key_id(http, tenant)}"
    # WHEN another tenant tries the same domain: refused, and nothing recorded for it
    before = audit_items(other_tenant)
    taken = http.post("/v1/messaging/sender-domains", other_tenant.key, {"domain": "mail.brand-audit.example"})
    assert taken.status == 409, taken
    assert audit_items(other_tenant) == before


@pytest.mark.usefixtures("aws")
def test_exports_bulk_tag_jobs_and_list_enrolments_are_recorded_with_their_parameters(http, tenant, other_tenant):
    from chalicelib.core.ids import new_id
    from chalicelib.core.jobs import get_job

    actor = f"api_key:{key_id(http, tenant)}"
    seg = http.post("/v1/segments", tenant.key, {"name": "all", "filter": {"metric": "orders", "op": "gte",
                                                                             "value": 0}}).json
    started = http.post(f"/v1/segments/{seg['id']}/export", tenant.key)
    assert started.status == 202, started
    export = audit(http, tenant, target_type="segment", target=seg["id"])["data"][0]
    assert (export["action"], export["actor"]["id"]) == ("segment.export_requested", actor)
    assert changes(export) == {"job_id": (None, started.json["job_id"])}

    group = http.post("/v1/tag-groups", tenant.key, {"name": "Bulk", "selection": "multi"}).json
    vip = http.post(f"/v1/tag-groups/{group['id']}/tags", tenant.key, {"name": "VIP"}).json
    ids = [http.post("/v1/members", tenant.key, {"phone": f"1380013850{n}"}).json["id"] for n in range(2)]
    bulk = http.post(f"/v1/tags/{vip['id']}/bulk", tenant.key, {"action": "add", "member_ids": ids})
    assert bulk.status == 202, bulk
    record = audit(http, tenant, target_type="tag", target=vip["id"])["data"][0]
    assert (record["action"], record["actor"]["id"]) == ("tag.bulk_job_started", actor)
    assert changes(record)["action"] == (None, "add") and changes(record)["members"] == (None, 2)
    assert changes(record)["job_id"] == (None, bulk.json["job_id"])
    # the job carries who started it (it runs as them, in whatever process runs it)
    job = get_job(tenant.id, bulk.json["job_id"])
    assert job is not None and job.params["audit_actor"]["id"] == actor

    journey = create_journey(http, tenant, WAIT)
    many = [new_id() for _ in range(101)]  # over the inline limit: a job
    enrol = http.post(f"/v1/journeys/{journey['id']}/enrolments", tenant.key, {"member_ids": many})
    assert enrol.status == 202, enrol
    record = audit(http, tenant, target_type="journey", target=journey["id"])["data"][0]
    assert (record["action"], record["actor"]["id"]) == ("journey.enrolment_job_started", actor)
    assert changes(record) == {"job_id": (None, enrol.json["job_id"]), "members": (None, 101)}

    # another tenant's segment or tag: 404, and no record anywhere
    mine, theirs = audit_items(tenant), audit_items(other_tenant)
    assert http.post(f"/v1/segments/{seg['id']}/export", other_tenant.key).status == 404
    assert http.post(f"/v1/tags/{vip['id']}/bulk", other_tenant.key, {"action": "add",
                                                                       "member_ids": ids}).status == 404
    assert (audit_items(tenant), audit_items(other_tenant)) == (mine, theirs)


def test_a_job_runs_as_the_actor_of_the_request_that_started_it(tenant):
    from chalicelib.core import audit as core_audit, jobs

    seen: list[str] = []

    def handler(tenant_id, params, checkpoint):
        seen.append(core_audit.current().id)
        return jobs.Step(checkpoint=None)

    jobs.register("test.whoami", handler)
    token = core_audit.bind(core_audit.Actor("api_key:K1", None, "req-1"))
    try:
        by_key = jobs.start("test.whoami", tenant.id, {})
    finally:
        core_audit.unbind(token)
    by_nobody = jobs.start("test.whoami", tenant.id, {})  # started by nobody (a schedule without a name)
    for job in (by_key, by_nobody):  # later, outside the request
        jobs.run(tenant.id, job.job_id)
    assert sorted(seen) == ["api_key:K1", "system:unattributed"]
    assert core_audit.bound() is None  # and nothing stays bound after the job


def test_platform_tenant_creation_is_recorded_in_the_new_tenants_log(http, admin_token):
    created = make_tenant(http, admin_token, name="Audited Brand")
    page = audit(http, created)["data"]
    record = next(e for e in page if e["action"] == "tenant.created")
    assert record["actor"]["id"].startswith("platform_admin:")
    assert record["target"] == {"type": "tenant", "id": created.id}
    assert changes(record)["name"] == (None, "Audited Brand")
    assert sorted(changes(record)[f"initial_api_key.scopes.{n}"][1] for n in range(3)) == ["admin", "read", "write"]
    assert "secret" not in str(record)
    # a refused creation (bad input) creates no tenant and so no record
    bad = http.post("/v1/admin/tenants", admin_token, {"name": "", "timezone": "Nowhere/Else"})
    assert bad.status == 422


def test_our_cancel_and_stripes_event_for_it_meeting_record_the_cancel_once(http, tenant, world, clock):
    """The API's apply of Stripe's answer and Stripe's webhook for the same change race (two
    threads, DynamoDB Local): whichever writes the membership, the request's record is
    written exactly once, with the membership or alone."""
    from concurrent.futures import ThreadPoolExecutor

    from chalicelib.billing import apply, state, store
    from chalicelib.core import audit as core_audit

    plan, member = world.plan(), world.member()
    t0 = clock.now
    h = world.lifecycle(member, plan, t0)
    world.remember(h, upto=4)
    for evt in h.events[:4]:
        world.deliver(evt)
    rounds = 4
    for n in range(rounds):
        at = t0 + timedelta(minutes=n + 1)
        cancel = n % 2 == 0
        answer = world.sub(member, plan, status="active", start=t0, end=t0 + timedelta(days=365), created=t0,
                           sub_id=h.sub_id, cancel_at_period_end=cancel, canceled_at=epoch(at) if cancel else None)
        item = store.get_membership(tenant.id, member, h.sub_id)
        observed_at, revision = state.after_write(answer, state.Snapshot.from_dict(item.state))
        entry = core_audit.Entry(tenant.id, f"membership.race_{n}", "membership", h.sub_id, {"round": None},
                                 {"round": n})
        evt = world.event("customer.subscription.updated", answer, at)

        with ThreadPoolExecutor(1 if n == 0 else 2) as pool:  # round 0: Stripe's event surely first
            stripes = pool.submit(apply.apply_subscription, tenant.id, answer, evt["created"],
                                  apply.Claim(evt["id"], evt["type"]))
            if n == 0:
                assert stripes.result().outcome == "applied"
            ours = pool.submit(apply.apply_subscription, tenant.id, answer, observed_at, revision=revision,
                               audited=entry)
            outcomes = [ours.result().outcome, stripes.result().outcome]
        assert "applied" in outcomes, outcomes
        assert world.memberships(member)[0]["cancel_at_period_end"] is cancel
    recorded = [e["action"] for e in audit(http, tenant, target_type="membership", target=h.sub_id,
                                           limit=50)["data"]]
    assert sorted(a for a in recorded if a.startswith("membership.race_")) == [
        f"membership.race_{n}" for n in range(rounds)]
