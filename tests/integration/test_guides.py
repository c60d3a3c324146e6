"""Guides through the API: stores and guides, sign-up through a guide's code, ownership
(assign, transfer, history, 20 concurrent transfers), a guide-role user's own view, the
leave job (500 members, stopped and resumed), bad input and other tenants' ids."""
from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.fixtures import make_tenant, run_jobs, table_items
from tests.integration.guides_support import Guide, make_guide, make_store, order, owner, send, signup


@pytest.fixture(scope="module")
def brand(http, admin_token):
    """One tenant with a store and two guides, shared by the read-mostly tests."""
    tenant = make_tenant(http, admin_token)
    store = make_store(http, tenant)
    return tenant, store, make_guide(http, tenant, store, "Ann"), make_guide(http, tenant, store, "Bob")


def test_signing_up_through_a_guides_code_binds_the_member_to_that_guide(http, brand):
    tenant, store, ann, _ = brand
    # GIVEN Ann's personal code, a channel typed "guide"
    channel = http.get(f"/v1/channels/{ann.code}", tenant.key).json
    assert channel["type"] == "guide"
    before = http.get(f"/v1/guides/{ann.id}", tenant.key).json["member_count"]
    # WHEN a member signs up through it
    mei = signup(http, tenant, "13800000001", ann.code, name="Mei")
    # THEN Mei is Ann's, counted O(1), with the history and the timeline saying so
    mine = owner(http, tenant, mei)
    assert mine["guide_id"] == ann.id and mine["store_id"] == store
    assert [(h["from_guide_id"], h["to_guide_id"], h["reason"]) for h in mine["history"]] == [(None, ann.id, "signup")]
    assert http.get(f"/v1/guides/{ann.id}", tenant.key).json["member_count"] == before + 1
    timeline = http.get(f"/v1/members/{mei}/timeline", tenant.key).json["data"]
    assert [(e["type"], e["data"]["guide_id"]) for e in timeline] == [("guide.assigned", ann.id)]
    # a plain sign-up is nobody's
    assert owner(http, tenant, signup(http, tenant, "13800000002"))["guide_id"] is None


def test_a_guide_sees_and_changes_only_their_own_members_and_tasks(http, brand):
    tenant, _, ann, bob = brand
    mine = signup(http, tenant, "13800000011", ann.code, name="Lan")
    theirs = signup(http, tenant, "13800000012", bob.code, name="Qiu")
    task = http.post("/v1/tasks", tenant.key, {"member_id": theirs, "kind": "call", "title": "Call {{member.name}}",
                                               "due_date": "2026-12-10"}).json
    assert http.get("/v1/guides/me", ann.token).json["id"] == ann.id
    listed = {m["id"] for m in http.get("/v1/guides/me/members?limit=200", ann.token).json["data"]}
    assert mine in listed and theirs not in listed
    assert http.get(f"/v1/guides/me/members/{mine}", ann.token).json["name"] == "Lan"
    # another guide's member and task: 404, like a missing one, and nothing changes
    assert http.get(f"/v1/guides/me/members/{theirs}", ann.token).status == 404
    assert http.get(f"/v1/tasks/{task['id']}", ann.token).status == 404
    assert http.post(f"/v1/tasks/{task['id']}/complete", ann.token, {"outcome": "reached"}).status == 404
    assert http.post(f"/v1/tasks/{task['id']}/cancel", ann.token).status == 404
    assert http.get(f"/v1/tasks/{task['id']}", tenant.key).json["status"] == "open"
    # the tenant-wide routes are not a guide's: 403
    assert http.get(f"/v1/members/{theirs}", ann.token).status == 403
    assert http.call("PUT", f"/v1/members/{theirs}/guide", ann.token,
                     json_body={"guide_id": ann.id, "reason": "mine now"}).status == 403
    assert owner(http, tenant, theirs)["guide_id"] == bob.id
    # Bob sees and completes his own task; staff see every guide's members
    assert http.post(f"/v1/tasks/{task['id']}/complete", bob.token, {"outcome": "reached"}).json["status"] == "done"
    staff = {m["id"] for m in http.get(f"/v1/guides/{bob.id}/members?limit=200", tenant.key).json["data"]}
    assert theirs in staff and mine not in staff
    # a console user with role guide but no guide linked is refused
    assert http.get("/v1/guides/me", tenant.user_token("guide", "nobody")).status == 403


def test_a_guides_members_page_and_filter_by_segment(http, brand):
    tenant, store, _, _ = brand
    cleo = make_guide(http, tenant, store, "Cleo")
    ids = [signup(http, tenant, f"1380000002{n}", cleo.code) for n in range(5)]
    send(http, tenant, order(ids[1], "seg-o1", 100_00), order(ids[3], "seg-o2", 100_00))
    seg = http.post("/v1/segments", tenant.key, {"name": "buyers",
                                                 "filter": {"metric": "orders", "op": "gte", "value": 1}}).json
    first = http.get("/v1/guides/me/members?limit=3", cleo.token).json
    rest = http.get(f"/v1/guides/me/members?limit=3&cursor={first['next_cursor']}", cleo.token).json
    assert [m["id"] for m in first["data"] + rest["data"]] == ids[::-1] and rest["next_cursor"] is None
    buyers = http.get(f"/v1/guides/me/members?segment_id={seg['id']}", cleo.token).json["data"]
    assert sorted(m["id"] for m in buyers) == sorted([ids[1], ids[3]])
    # a cursor of another list is refused
    assert http.get(f"/v1/guides/me/members?segment_id={seg['id']}&cursor={first['next_cursor']}",
                    cleo.token).status == 400


def test_transfers_keep_history_and_the_timeline_says_who_served_when(http, brand):
    tenant, _, ann, bob = brand
    m = signup(http, tenant, "13800000031", ann.code)
    r = http.call("PUT", f"/v1/members/{m}/guide", tenant.key, json_body={"guide_id": bob.id, "reason": "moved"})
    assert r.status == 200 and r.json["guide_id"] == bob.id
    again = http.call("PUT", f"/v1/members/{m}/guide", tenant.key, json_body={"guide_id": bob.id, "reason": "x"})
    assert len(again.json["history"]) == 2  # assigning the current guide changes nothing
    assert [(h["from_guide_id"], h["to_guide_id"]) for h in r.json["history"]] == [(ann.id, bob.id), (None, ann.id)]
    served = [e["data"]["guide_id"] for e in http.get(f"/v1/members/{m}/timeline", tenant.key).json["data"]
              if e["type"] == "guide.assigned"]
    assert served == [bob.id, ann.id]


def test_twenty_concurrent_transfers_leave_one_owner_and_a_consistent_history(http, admin_token):
    from chalicelib.core.tenancy import READ, WRITE, TenantContext
    from chalicelib.guides import ownership
    from chalicelib.guides.schemas import AssignIn

    tenant = make_tenant(http, admin_token)
    store = make_store(http, tenant)
    guides = [make_guide(http, tenant, store, f"G{n}") for n in range(5)]
    m = signup(http, tenant, "13800000041", guides[0].code)
    ctx = TenantContext(tenant.id, "api_key", "k", frozenset({READ, WRITE}))
    gate = threading.Barrier(20)

    def transfer(n: int) -> str | None:
        gate.wait()
        return ownership.assign(ctx, m, AssignIn(guide_id=guides[1 + n % 4].id, reason=f"w{n}")).guide_id

    with ThreadPoolExecutor(20) as pool:
        assert all(list(pool.map(transfer, range(20))))
    final = owner(http, tenant, m)
    chain = final["history"][::-1]  # oldest first
    assert chain[0]["from_guide_id"] is None
    assert all(b["from_guide_id"] == a["to_guide_id"] for a, b in zip(chain, chain[1:], strict=False))
    assert chain[-1]["to_guide_id"] == final["guide_id"]
    counts = {g.id: http.get(f"/v1/guides/{g.id}", tenant.key).json["member_count"] for g in guides}
    assert counts == {g.id: int(g.id == final["guide_id"]) for g in guides}
    owners = [i for i in table_items(f"T#{tenant.id}#M#{m}") if i["sk"]["S"] == "GUIDE"]
    assert len(owners) == 1


def _members_bound_to(tenant, guide: Guide, n: int) -> list[str]:
    """``n`` members signed up through the guide's code, via the members service (4 threads)."""
    from chalicelib.core.tenancy import READ, WRITE, TenantContext
    from chalicelib.members import service as members
    from chalicelib.members.schemas import MemberCreate

    ctx = TenantContext(tenant.id, "api_key", "k", frozenset({READ, WRITE}))

    def one(i: int) -> str:
        return members.upsert_member(ctx, MemberCreate(phone=f"1371{i:07d}", source={"channel": guide.code}))[0].id

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, range(n)))


def test_a_departing_guides_500_members_move_exactly_once_when_the_job_is_stopped_and_resumed(http, admin_token):
    from chalicelib.core import jobs
    from chalicelib.core.jobs.dispatch import dispatcher
    from chalicelib.guides import ownership

    tenant = make_tenant(http, admin_token)
    store = make_store(http, tenant)
    ann, bob, cy = (make_guide(http, tenant, store, n) for n in ("Ann", "Bob", "Cy"))
    ids = _members_bound_to(tenant, ann, 500)
    # WHEN Ann leaves, her members spread over the store (Bob and Cy)
    r = http.post(f"/v1/guides/{ann.id}/leave", tenant.key, {"spread_over_store": store})
    assert r.status == 202 and r.json["guide"]["status"] == "left"
    job_id = r.json["job_id"]
    dispatcher()._queue.get_nowait()  # type: ignore[attr-defined]  # driven by hand below
    # the job is stopped after its first step (out of time) ...
    partial = jobs.run(tenant.id, job_id, time_left=lambda: 0.0)
    assert partial.status == "running" and partial.progress["changed"] == ownership.TRANSFER_BATCH
    # ... a runner dies after doing a step but before saving its checkpoint (the step runs again) ...
    job = jobs.get_job(tenant.id, job_id)
    ownership._transfer_step(tenant.id, job.params, job.checkpoint)
    # ... and the re-dispatched job resumes to the end
    run_jobs()
    done = jobs.get_job(tenant.id, job_id)
    assert done.status == "succeeded" and done.progress["total"] == 500
    # THEN every member moved exactly once: one "guide_left" entry each, evenly spread
    items = table_items(f"T#{tenant.id}#M#")
    left = [i for i in items if i["sk"]["S"].startswith("GHIST#") and i["reason"]["S"] == "guide_left"]
    assert Counter(i["pk"]["S"] for i in left) == Counter({f"T#{tenant.id}#M#{m}": 1 for m in ids})
    owners = Counter(i["guide_id"]["S"] for i in items if i["sk"]["S"] == "GUIDE")
    assert owners == {bob.id: 250, cy.id: 250}
    counts = [http.get(f"/v1/guides/{g.id}", tenant.key).json["member_count"] for g in (ann, bob, cy)]
    assert counts == [0, 250, 250]
    # a left guide's user is no longer a guide, and leaving twice is a conflict
    assert http.get("/v1/guides/me", ann.token).status == 403
    assert http.post(f"/v1/guides/{ann.id}/leave", tenant.key, {"transfer_to": bob.id}).status == 409


def test_bad_input_is_a_clear_4xx_and_writes_nothing(http, admin_token):
    tenant = make_tenant(http, admin_token)
    store = make_store(http, tenant)
    ann = make_guide(http, tenant, store, "Ann")
    m = signup(http, tenant, "13800000051", ann.code)
    before = table_items(f"T#{tenant.id}#")
    bad = [
        ("POST", "/v1/stores", {"name": "X", "timezone": "Mars/Olympus"}, 422, "timezone"),
        ("POST", "/v1/stores", {"name": "", "timezone": "UTC"}, 422, "name"),
        ("POST", "/v1/guides", {"display_name": "Z", "store_id": "01" + "0" * 24}, 404, "store_id"),
        ("POST", "/v1/guides", {"display_name": "Z", "store_id": store, "extra": 1}, 422, "extra"),
        ("POST", "/v1/guides", {"display_name": "Z", "store_id": store, "user_sub": ann.sub}, 409, "user_sub"),
        ("PUT", f"/v1/members/{m}/guide", {"guide_id": ann.id}, 422, "reason"),
        ("PUT", f"/v1/members/{m}/guide", {"guide_id": "nope", "reason": "r"}, 422, "guide_id"),
        ("POST", f"/v1/guides/{ann.id}/leave", {}, 422, None),
        ("POST", f"/v1/guides/{ann.id}/leave", {"transfer_to": ann.id}, 422, "transfer_to"),
        ("POST", f"/v1/guides/{ann.id}/leave", {"spread_over_store": store}, 422, "spread_over_store"),
        ("POST", "/v1/tasks", {"member_id": m, "kind": "dance", "title": "t", "due_date": "2026-12-10"}, 422, "kind"),
        ("POST", "/v1/tasks", {"member_id": m, "kind": "call", "title": "{{ member.nope }}",
                               "due_date": "2026-12-10"}, 422, "title"),
        ("POST", "/v1/tasks", {"member_id": m, "kind": "call", "title": "t", "due_date": "soon"}, 422, "due_date"),
        ("POST", "/v1/tasks/bulk", {"segment_id": "01" + "0" * 24, "kind": "call", "title": "t",
                                    "due_date": "2026-12-10"}, 404, None),
        ("POST", "/v1/journeys", {"name": "j", "trigger": {"type": "api"}, "start": "t", "steps": [
            {"id": "t", "type": "create_task", "kind": "greet", "title": "Hi {{ member.nope }}"}]},
         422, "steps.0.title"),
        ("POST", "/v1/journeys", {"name": "j", "trigger": {"type": "api"}, "start": "t", "steps": [
            {"id": "t", "type": "create_task", "kind": "greet", "title": "Hi", "due_in_days": 99}]}, 422, "steps"),
    ]
    for method, path, body, status, field in bad:
        r = http.call(method, path, tenant.key, json_body=body)
        assert r.status == status, (path, body, r)
        assert r.headers["content-type"].startswith("application/problem+json")
        if field:
            assert (r.json.get("field") or "").startswith(field) or field in str(r.json), (path, r.json)
    assert http.get("/v1/guides/me/tasks?due=tomorrow", ann.token).status == 422
    assert http.get("/v1/analytics/guides?month=2026-13", tenant.key).status == 422
    assert table_items(f"T#{tenant.id}#") == before


def test_another_tenants_ids_are_404_and_nothing_changes(http, brand, admin_token):
    tenant, store, ann, _ = brand
    other = make_tenant(http, admin_token)
    m = signup(http, tenant, "13800000061", ann.code)
    task = http.post("/v1/tasks", tenant.key, {"member_id": m, "kind": "greet", "title": "Hi",
                                               "due_date": "2026-12-10"}).json
    theirs_store = make_store(http, other)
    theirs = make_guide(http, other, theirs_store, "Zed")
    before = table_items(f"T#{tenant.id}#")
    for method, path, body in [
        ("GET", f"/v1/stores/{store}", None),
        ("PATCH", f"/v1/stores/{store}", {"name": "mine"}),
        ("GET", f"/v1/guides/{ann.id}", None),
        ("GET", f"/v1/guides/{ann.id}/members", None),
        ("POST", f"/v1/guides/{ann.id}/leave", {"spread_over_store": theirs_store}),
        ("GET", f"/v1/members/{m}/guide", None),
        ("PUT", f"/v1/members/{m}/guide", {"guide_id": theirs.id, "reason": "steal"}),
        ("GET", f"/v1/tasks/{task['id']}", None),
        ("POST", f"/v1/tasks/{task['id']}/complete", {"outcome": "reached"}),
        ("POST", f"/v1/tasks/{task['id']}/cancel", None),
        ("POST", "/v1/tasks", {"member_id": m, "kind": "call", "title": "t", "due_date": "2026-12-10"}),
        ("POST", "/v1/guides", {"display_name": "Spy", "store_id": store}),
    ]:
        assert http.call(method, path, other.key, json_body=body).status == 404, (method, path)
    # and our own routes refuse their ids the same way
    assert http.call("PUT", f"/v1/members/{m}/guide", tenant.key,
                     json_body={"guide_id": theirs.id, "reason": "r"}).status == 404
    assert http.get(f"/v1/guides/me/members/{m}", theirs.token).status == 404
    assert table_items(f"T#{tenant.id}#") == before


def test_erasing_a_member_uncounts_them_and_deletes_their_tasks(http, brand):
    tenant, _, ann, _ = brand
    m = signup(http, tenant, "13800000071", ann.code, name="Gone")
    t = http.post("/v1/tasks", tenant.key, {"member_id": m, "kind": "call", "title": "Call {{member.name}}",
                                            "due_date": "2026-12-10"}).json
    before = http.get(f"/v1/guides/{ann.id}", tenant.key).json["member_count"]
    assert http.delete(f"/v1/members/{m}", tenant.key).status == 204
    assert http.delete(f"/v1/members/{m}", tenant.key).status == 204  # repeated: uncounted once
    assert http.get(f"/v1/guides/{ann.id}", tenant.key).json["member_count"] == before - 1
    assert http.get(f"/v1/tasks/{t['id']}", tenant.key).status == 404
    assert table_items(f"T#{tenant.id}#TASK#{t['id']}") == []
