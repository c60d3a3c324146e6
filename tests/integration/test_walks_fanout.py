"""The remaining whole-tenant walks fan out (issue 14, ADR 0011): a segment count, a segment
export, bulk tagging of a segment, a tag rule's backfill and the birthday index backfill each
split into ranges of member list shards, and give what the single-range walk gives; a range
stopped mid-way resumes from its checkpoint without doing anything twice. The member list has
its own 32 shards; members listed under the old 4 are still found and keep their shard."""
from __future__ import annotations

import csv
import io
from datetime import datetime, timezone

import pytest
import requests

from tests.fixtures import DDB, TABLE_NAME, make_tenant, run_jobs, table_items
from tests.integration.test_tags import group, tag

MEMBERS = 24
RANGES = 8  # the fanned-out passes below run 8 ranges (of 4 shards each); the default is 32 (one per shard)
DRY = {"attribute": "skin", "op": "eq", "value": "dry"}  # no index: the base is every member
EVERYONE = {"attribute": "n", "op": "gte", "value": 0}
T0 = datetime(2026, 6, 1, 4, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def population(http, admin_token):
    """One tenant with generated members (some attributed to a channel, some with a birthday),
    shared by the read-only checks below: (tenant, {member id: body})."""
    tenant = make_tenant(http, admin_token)
    http.post("/v1/channels", tenant.key, {"code": "mall", "name": "Mall"})
    members = {}
    for n in range(MEMBERS):
        body = {"phone": f"1370{n:07d}", "name": f"M {n}", "attributes": {"n": n, "skin": "dry" if n % 3 else "oily"}}
        if n % 4 == 0:
            body["source"] = {"channel": "mall"}
        members[http.post("/v1/members", tenant.key, body).json["id"]] = body
    run_jobs()
    return tenant, members


def _drain(workers: int) -> None:
    from chalicelib.core.jobs.dispatch import dispatcher

    dispatcher().drain(workers=workers)  # type: ignore[attr-defined]


def _job(tenant, job_id: str):
    from chalicelib.core import jobs

    job = jobs.get_job(tenant.id, job_id)
    assert job is not None and job.status == "succeeded", job and (job.status, job.error)
    return job


def _split(monkeypatch, fanned: bool, ranges: int = RANGES) -> None:
    """One range over every shard (the sequential walk), or ``ranges`` ranges."""
    from chalicelib.segments import service

    monkeypatch.setattr(service, "FAN_OUT_MIN", 0 if fanned else 10**9)
    monkeypatch.setattr(service, "RANGES", ranges)


def test_a_fanned_out_count_equals_the_sequential_count(http, population, monkeypatch):
    tenant, members = population
    truth = sum(1 for b in members.values() if b["attributes"]["skin"] == "dry")
    counts = {}
    for fanned, workers in ((False, 1), (True, 4)):
        _split(monkeypatch, fanned)
        preview = http.post("/v1/segments/preview", tenant.key, {"filter": DRY}).json
        assert preview["status"] == "computing" and preview["base"] == "all_members", preview
        _drain(workers)
        job = _job(tenant, preview["job_id"])
        counts[fanned] = (job.progress["total"], job.progress["processed"], job.progress["ranges"])
    assert counts[False] == (truth, MEMBERS, 1)
    assert counts[True] == (truth, MEMBERS, RANGES)


def _export(http, tenant, segment_id: str, workers: int) -> tuple[list[list[str]], object]:
    started = http.post(f"/v1/segments/{segment_id}/export", tenant.key).json
    _drain(workers)
    return _download(http, tenant, segment_id, started["job_id"]), _job(tenant, started["job_id"])


def _download(http, tenant, segment_id: str, job_id: str) -> list[list[str]]:
    r = http.get(f"/v1/segments/{segment_id}/exports/{job_id}", tenant.key).json
    got = requests.get(r["download"]["url"], timeout=30)
    assert got.status_code == 200
    return list(csv.reader(io.StringIO(got.content.decode())))


def test_a_fanned_out_export_has_the_sequential_exports_rows_each_once(http, population, monkeypatch):
    tenant, members = population
    seg = http.post("/v1/segments", tenant.key, {"name": "dry", "filter": DRY}).json
    _split(monkeypatch, fanned=False)
    sequential, one = _export(http, tenant, seg["id"], workers=1)
    _split(monkeypatch, fanned=True)
    fanned, many = _export(http, tenant, seg["id"], workers=4)
    assert sequential[0] == fanned[0] and sequential[0][0] == "member_id"  # one header
    ids = [row[0] for row in fanned[1:]]
    assert len(ids) == len(set(ids))  # no row twice
    assert set(ids) == {m for m, b in members.items() if b["attributes"]["skin"] == "dry"}
    assert sorted(sequential[1:]) == sorted(fanned[1:])
    assert one.progress["total"] == many.progress["total"] == len(ids)
    assert (one.progress["ranges"], many.progress["ranges"]) == (1, RANGES)


def test_an_export_range_stopped_mid_way_resumes_and_writes_each_row_once(http, admin_token, clock, monkeypatch):
    from chalicelib.core import jobs
    from chalicelib.core.jobs.dispatch import dispatcher
    from chalicelib.segments import passes

    clock.now = T0
    tenant = make_tenant(http, admin_token)
    ids = {http.post("/v1/members", tenant.key, {"phone": f"1360{n:07d}", "attributes": {"n": n}}).json["id"]
           for n in range(12)}
    seg = http.post("/v1/segments", tenant.key, {"name": "all", "filter": EVERYONE}).json
    _split(monkeypatch, fanned=True, ranges=2)  # two ranges of 16 shards, ~6 members each
    monkeypatch.setattr(passes, "EXPORT_PAGE", 2)  # every range takes several steps
    queue = dispatcher()._queue  # type: ignore[attr-defined]
    run_jobs()
    job_id = http.post(f"/v1/segments/{seg['id']}/export", tenant.key).json["job_id"]
    queue.get_nowait()
    parent = jobs.run(tenant.id, job_id)
    assert parent is not None and parent.status == "waiting"
    children = [queue.get_nowait() for _ in range(queue.qsize())]
    assert len(children) == 2
    # GIVEN a range whose worker wrote one part and died (its re-dispatch never ran)
    stopped = jobs.run(children[0][0], children[0][1], time_left=lambda: 0.0)
    assert stopped.status == "running" and stopped.checkpoint is not None and stopped.progress["changed"] == 2
    assert queue.get_nowait()[1] == children[0][1]
    # AND the other range finished: the export still waits
    queue.put(children[1])
    _drain(2)
    assert jobs.get_job(tenant.id, job_id).status == "waiting"
    # WHEN the sweeper finds the stale range and it runs again
    clock.advance(minutes=6)
    assert jobs.sweep() >= 1
    _drain(2)
    # THEN every member is in the file once, and each was examined once
    done = _job(tenant, job_id)
    rows = _download(http, tenant, seg["id"], job_id)[1:]
    assert sorted(r[0] for r in rows) == sorted(ids)
    assert done.progress["total"] == done.progress["processed"] == len(ids)


def test_bulk_tagging_a_segment_fans_out_and_tags_what_the_sequential_job_tags(http, population, monkeypatch):
    tenant, members = population
    g = group(http, tenant, "Bulk")
    seg = http.post("/v1/segments", tenant.key, {"name": "dry", "filter": DRY}).json
    tagged = {}
    for fanned in (False, True):
        _split(monkeypatch, fanned)
        t = tag(http, tenant, g["id"], f"dry {fanned}")
        job_id = http.post(f"/v1/tags/{t['id']}/bulk", tenant.key, {"action": "add", "segment_id": seg["id"]}
                           ).json["job_id"]
        _drain(4)
        job = _job(tenant, job_id)
        assert job.progress["ranges"] == (RANGES if fanned else 1)
        tagged[fanned] = (_holders(tenant, t["id"]), job.progress["changed"])
    expected = {m for m, b in members.items() if b["attributes"]["skin"] == "dry"}
    assert tagged[False] == tagged[True] == (expected, len(expected))


def _holders(tenant, tag_id: str) -> set[str]:
    return {i["pk"]["S"].rsplit("#", 1)[1] for i in table_items(f"T#{tenant.id}#M#") if i["sk"]["S"] == f"TAG#{tag_id}"}


def test_a_tag_rules_backfill_and_the_birthday_backfill_run_one_range_per_shard(http, admin_token, monkeypatch):
    from chalicelib.members import service as members

    monkeypatch.setattr(members, "FAN_OUT_MIN", 0)  # a small tenant's walk is one range otherwise
    tenant = make_tenant(http, admin_token)
    born = {http.post("/v1/members", tenant.key, {"phone": f"1350{n:07d}", "birthday": {"month": 5, "day": 1 + n},
                                                  "attributes": {"n": n}}).json["id"] for n in range(5)}
    plain = {http.post("/v1/members", tenant.key, {"phone": f"1351{n:07d}"}).json["id"] for n in range(3)}
    g = group(http, tenant, "Rules")
    t = tag(http, tenant, g["id"], "numbered")
    rule = http.post("/v1/tag-rules", tenant.key, {"name": "numbered", "tag_id": t["id"],
                                                   "when": {"member": EVERYONE}}).json
    _drain(4)
    job = http.get(f"/v1/jobs/{rule['backfill_job_id']}", tenant.key).json
    assert job["status"] == "succeeded" and job["progress"]["ranges"] == 32
    assert job["progress"]["processed"] == 8 and job["progress"]["changed"] == 5
    assert _holders(tenant, t["id"]) == born and not plain & born
    # the birthday index backfill (members listed before it existed lose their entries here)
    for item in table_items(f"T#{tenant.id}#M#"):
        if item["sk"]["S"] == "BIRTHDAY":
            DDB.delete_item(TableName=TABLE_NAME, Key={"pk": item["pk"], "sk": item["sk"]})
    assert members.ensure_birthday_index(tenant.id) is False
    _drain(4)
    index = _job(tenant, "BIRTHDAY-INDEX")
    assert index.progress["ranges"] == 32 and index.progress["processed"] == 8 and index.progress["changed"] == 5
    assert members.ensure_birthday_index(tenant.id) is True
    assert {i["member_id"]["S"] for i in table_items(f"T#{tenant.id}#M#") if i["sk"]["S"] == "BIRTHDAY"} == born


def test_members_listed_under_the_old_four_shards_are_found_and_keep_their_shard(http, admin_token):
    from chalicelib.core.table import keys

    tenant = make_tenant(http, admin_token)
    http.post("/v1/channels", tenant.key, {"code": "mall", "name": "Mall"})
    ids = [http.post("/v1/members", tenant.key, {"phone": f"1340{n:07d}"}).json["id"] for n in range(6)]
    profiles = {i["member_id"]["S"]: i for i in table_items(f"T#{tenant.id}#M#") if i["sk"]["S"] == "PROFILE"}
    # new members are spread over the 32 shards
    assert ({profiles[m]["gsi1pk"]["S"] for m in ids}
            == {keys.members_list(tenant.id, keys.shard_of(m, 32)) for m in ids})
    # GIVEN members listed when the list had 4 shards
    old = {m: keys.shard_of(m, 4) for m in ids}
    for m, shard in old.items():
        DDB.update_item(TableName=TABLE_NAME, Key={"pk": profiles[m]["pk"], "sk": profiles[m]["sk"]},
                        UpdateExpression="SET gsi1pk = :p", ExpressionAttributeValues={
                            ":p": {"S": keys.members_list(tenant.id, shard)}})
    # THEN the list and a walk of every member still find them
    listed = http.get("/v1/members?limit=50", tenant.key).json["data"]
    assert sorted(m["id"] for m in listed) == sorted(ids)
    count = http.post("/v1/segments/preview", tenant.key, {"filter": EVERYONE}).json
    run_jobs()
    assert _job(tenant, count["job_id"]).progress["processed"] == len(ids)
    # WHEN one gets its source channel (which re-lists it), it keeps its shard in both lists
    first = http.get(f"/v1/members/{ids[0]}", tenant.key).json
    r = http.patch(f"/v1/members/{ids[0]}", tenant.key, {"source": {"channel": "mall"}, "version": first["version"]})
    assert r.status == 200, r
    item = next(i for i in table_items(f"T#{tenant.id}#M#{ids[0]}") if i["sk"]["S"] == "PROFILE")
    assert item["gsi1pk"]["S"] == keys.members_list(tenant.id, old[ids[0]])
    assert item["gsi2pk"]["S"] == keys.members_by_channel(tenant.id, "mall", old[ids[0]])
    assert [m["id"] for m in http.get("/v1/members?channel=mall", tenant.key).json["data"]] == [ids[0]]


def test_a_failed_range_leaves_the_birthday_index_incomplete(http, admin_token, monkeypatch):
    from chalicelib.core import jobs
    from chalicelib.members import service as members

    tenant = make_tenant(http, admin_token)
    http.post("/v1/members", tenant.key, {"phone": "13300133000", "birthday": {"month": 2, "day": 3}})

    def broken(*args, **kwargs):
        raise RuntimeError("the table is unavailable")

    monkeypatch.setattr(members.store, "add_to_birthday_index", broken)
    assert members.ensure_birthday_index(tenant.id) is False
    _drain(2)
    job = jobs.get_job(tenant.id, "BIRTHDAY-INDEX")
    assert job.status == "failed" and "range" in job.error and job.progress["error_count"] == 1
    monkeypatch.undo()
    assert members.ensure_birthday_index(tenant.id) is False  # not marked complete: callers walk the list
