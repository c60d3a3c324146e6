"""Birthdays have an index keyed by month-day (issue 14): a day's birthday trigger reads
only that day's members; the index follows every profile write; members created before
it existed are backfilled once, and until then the trigger walks the member list."""
from __future__ import annotations

from datetime import datetime, timezone

from tests.fixtures import run_jobs, table_items
from tests.integration.journey_support import create_journey, new_member

BIRTHDAY_JOURNEY = {
    "trigger": {"type": "date", "attribute": "birthday", "days_before": 0, "at": "10:00"},
    "reentry": {"policy": "always"},
    "start": "x", "steps": [{"id": "x", "type": "exit"}],
}


def _date_job(http, tenant, journey_id: str, day: str):
    from chalicelib.core import jobs

    http.schedule("journey_triggers", {"tenant_ids": [tenant.id]})
    run_jobs()
    job = jobs.get_job(tenant.id, f"JDATE-{journey_id}-{day}")
    assert job is not None and job.status == "succeeded", job and job.error
    return job


def _entries(tenant) -> dict[str, str]:
    """member id -> the month-day partition its birthday entry is listed under."""
    return {i["member_id"]["S"]: i["gsi1pk"]["S"].rsplit("#", 1)[1]
            for i in table_items(f"T#{tenant.id}#M#") if i["sk"]["S"] == "BIRTHDAY"}


def test_a_days_birthday_trigger_reads_only_that_days_members(http, tenant, clock):
    clock.now = datetime(2026, 3, 13, 17, 0, tzinfo=timezone.utc)  # 01:00 on 14 March in Shanghai
    journey = create_journey(http, tenant, BIRTHDAY_JOURNEY)
    born_today = {new_member(http, tenant, phone=f"1390013{n:04d}", birthday={"month": 3, "day": 14})
                  for n in range(3)}
    for n in range(12):
        new_member(http, tenant, phone=f"1380013{n:04d}", birthday={"month": 1 + n, "day": 15})
    new_member(http, tenant, phone="13700137000")  # no birthday at all
    # the first run finds the tenant's index incomplete: it walks, and backfills the index
    first = _date_job(http, tenant, journey["id"], "20260314")
    assert first.progress["processed"] == 16 and first.progress["changed"] == 3
    # the next day, the index is complete: only 15 March's member is read
    clock.advance(days=1)
    second = _date_job(http, tenant, journey["id"], "20260315")
    assert second.progress["processed"] == 1 and second.progress["changed"] == 1
    assert born_today <= set(_entries(tenant))


def test_the_index_follows_creates_patches_and_erasure(http, tenant):
    from chalicelib.members import service as members

    a = new_member(http, tenant, phone="13600136000", birthday={"month": 7, "day": 1})
    b = new_member(http, tenant, phone="13600136001")
    assert _entries(tenant) == {a: "07-01"}
    version = http.get(f"/v1/members/{a}", tenant.key).json["version"]
    assert http.patch(f"/v1/members/{a}", tenant.key, {"birthday": {"month": 12, "day": 24},
                                                      "version": version}).status == 200
    version = http.get(f"/v1/members/{b}", tenant.key).json["version"]
    assert http.patch(f"/v1/members/{b}", tenant.key, {"birthday": {"month": 7, "day": 1},
                                                      "version": version}).status == 200
    assert _entries(tenant) == {a: "12-24", b: "07-01"}
    version = http.get(f"/v1/members/{a}", tenant.key).json["version"]
    assert http.patch(f"/v1/members/{a}", tenant.key, {"birthday": None, "version": version}).status == 200
    assert http.delete(f"/v1/members/{b}", tenant.key).status == 204
    assert _entries(tenant) == {}
    ids, nxt = members.birthday_member_ids(tenant.id, datetime(2027, 7, 1).date(), None)
    assert ids == [] and nxt is None


def test_29_february_birthdays_are_read_on_28_february_in_other_years(http, tenant):
    from chalicelib.members import service as members

    leap = new_member(http, tenant, phone="13500135000", birthday={"month": 2, "day": 29})
    eve = new_member(http, tenant, phone="13500135001", birthday={"month": 2, "day": 28})
    ids, cp = members.birthday_member_ids(tenant.id, datetime(2027, 2, 28).date(), None)
    more, cp = members.birthday_member_ids(tenant.id, datetime(2027, 2, 28).date(), cp)
    assert set(ids + more) == {leap, eve} and cp is None
    in_leap_year, cp = members.birthday_member_ids(tenant.id, datetime(2028, 2, 28).date(), None)
    assert in_leap_year == [eve] and cp is None
