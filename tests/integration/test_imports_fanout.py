"""Imports fanned out over byte ranges (child jobs, ADR 0011): the same members, aggregates
and errors file (global row numbers, in order) as one range; CSV cuts never inside a quoted
field; a child stopped mid-range resumes and applies nothing twice."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from chalicelib.core import jobs
from chalicelib.core.jobs.dispatch import dispatcher
from chalicelib.integrations.transfers import splitting, steps, store
from tests.fixtures import make_tenant, table_items
from tests.integration.imports_helpers import BAD_MEMBER_ROWS, error_rows, orders_jsonl, upload

MEMBERS, BAD_EVERY = 60, 15
FANNED = {"ENCLAVE_IMPORT_RANGE_BYTES": "1024", "ENCLAVE_IMPORT_MAX_RANGES": "16", "ENCLAVE_IMPORT_PAGE_ROWS": "10",
          "ENCLAVE_IMPORT_WORKERS": "2"}
SINGLE = {"ENCLAVE_IMPORT_RANGE_BYTES": str(1024**3), "ENCLAVE_IMPORT_PAGE_ROWS": "50"}


def _members_csv() -> tuple[bytes, set[int]]:
    """Every good row's name holds a quoted newline followed by what looks like another
    member (most of the row's bytes): a cut inside the quotes would import ``+8613999...`` members."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["phone", "email", "name", "birthday"])
    bad: set[int] = set()
    for row in range(1, MEMBERS + 1):
        if row % BAD_EVERY == 0:
            values, _ = BAD_MEMBER_ROWS[(row // BAD_EVERY) % 3]  # the first three kinds: no phone given
            writer.writerow(values)
            bad.add(row)
        else:
            writer.writerow([f"+86132{row:08d}", f"m{row}@example.com" if row % 4 == 0 else "",
                             f"Member {row}\n+86139990{row:05d},evil{row}@example.com,Evil,{'x' * 40}", "1990-05-17"])
    return out.getvalue().encode(), bad


def _orders() -> tuple[list[dict[str, Any]], dict[str, int]]:
    orders: list[dict[str, Any]] = []
    spend: dict[str, int] = {}
    for n in range(40):
        phone = f"+86133{n % 20:08d}"
        spend[phone] = spend.get(phone, 0) + 1_000 + n
        orders.append({"order_id": f"fan-{n}", "member": {"phone": phone}, "amount": 1_000 + n, "currency": "CNY",
                       "occurred_at": "2026-03-01T10:00:00Z"})
        if n % 23 == 5:
            orders.append({"order_id": f"bad-{n}", "member": {"phone": phone}, "amount": "9.99", "currency": "CNY"})
    return orders, spend


def _run(http: Any, tenant: Any, kind: str, fmt: str, body: bytes, env: dict[str, str], workers: int
         ) -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        created = upload(http, tenant, kind, fmt, body)
        assert http.post(f"/v1/imports/{created['id']}/start", tenant.key).status == 202
        dispatcher().drain(workers=workers)  # type: ignore[attr-defined]
    done = http.get(f"/v1/imports/{created['id']}", tenant.key).json
    assert done["status"] == "succeeded", done
    done["ranges"] = store.ranges(tenant.id, created["id"])
    return done  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def both(http: Any, admin_token: str) -> Iterator[dict[str, Any]]:
    """The same files imported by one tenant in one range, by another in many on 4 workers."""
    members, bad = _members_csv()
    orders, spend = _orders()
    out: dict[str, Any] = {"members_body": members, "bad": bad, "spend": spend, "orders": orders}
    for name, env, workers in (("single", SINGLE, 1), ("fanned", FANNED, 4)):
        tenant = make_tenant(http, admin_token)
        out[name] = {"tenant": tenant,
                     "members": _run(http, tenant, "members", "csv", members, env, workers),
                     "orders": _run(http, tenant, "orders", "jsonl", orders_jsonl(orders), env, workers)}
    yield out


def test_a_fanned_out_import_reports_the_same_rows_as_one_range(both):
    single, fanned = both["single"]["members"], both["fanned"]["members"]
    # GIVEN the file cut into many ranges (and one range for the other tenant)
    assert len(single["ranges"]) == 1 and len(fanned["ranges"]) >= 3, (len(single["ranges"]), len(fanned["ranges"]))
    # THEN the counts and the errors file are the same: global row numbers, in file order
    assert fanned["progress"] == single["progress"] == {
        "rows_total": MEMBERS, "rows_done": MEMBERS, "rows_applied": MEMBERS - len(both["bad"]),
        "rows_failed": len(both["bad"])}
    errors = error_rows(fanned)
    assert errors == error_rows(single)
    assert [int(e["row"]) for e in errors] == sorted(both["bad"])


def _profiles(tenant_id: str) -> dict[str, tuple[str, str]]:
    items = [i for i in table_items(f"T#{tenant_id}#M#") if i["sk"]["S"] == "PROFILE"]
    return {i["identities"]["S"]: (i.get("name", {}).get("S", ""), i.get("birthday", {}).get("S", "")) for i in items}


def test_a_fanned_out_import_makes_the_same_members_and_never_cuts_inside_a_quoted_field(http, both):
    fanned = both["fanned"]
    body = both["members_body"]
    # GIVEN some nominal cut whose first newline after it lies inside a quoted name
    begin = body.index(b"\n") + 1
    count = splitting.range_count(len(body) - begin, 1024, 16)
    targets = [begin + round((len(body) - begin) / count * n) for n in range(1, count)]
    naive = {body.find(b"\n", t - 1) + 1 for t in targets}
    assert naive - {int(r.start) for r in fanned["members"]["ranges"]}
    # THEN the members are the same as in one range, and none was made from inside a quoted field
    single_members, fanned_members = _profiles(both["single"]["tenant"].id), _profiles(fanned["tenant"].id)
    assert fanned_members == single_members
    assert len(fanned_members) == MEMBERS - len(both["bad"]) + 20  # and the 20 members the orders named
    for row in (1, 2, 31, 59):
        got = http.get(f"/v1/members/lookup?phone={quote(f'+86139990{row:05d}')}", fanned["tenant"].key)
        assert got.status == 404, got
    member = http.get(f"/v1/members/lookup?phone={quote('+8613200000031')}", fanned["tenant"].key).json
    assert member["name"] == "Member 31\n+8613999000031,evil31@example.com,Evil," + "x" * 40


def test_fanned_out_orders_load_the_same_aggregates_exactly_once(http, both):
    single, fanned = both["single"], both["fanned"]
    assert len(fanned["orders"]["ranges"]) >= 2
    assert fanned["orders"]["progress"] == single["orders"]["progress"]
    assert error_rows(fanned["orders"]) == error_rows(single["orders"])
    assert [int(e["row"]) for e in error_rows(fanned["orders"])] == [
        n + 1 for n, o in enumerate(both["orders"]) if o["order_id"].startswith("bad-")]
    for phone, total in both["spend"].items():
        member = http.get(f"/v1/members/lookup?phone={quote(phone)}", fanned["tenant"].key).json
        s = http.get(f"/v1/members/{member['id']}/standing", fanned["tenant"].key).json
        assert (s["lifetime_spend"], s["orders"]) == (total, 2), (phone, s)


def test_a_child_stopped_mid_range_resumes_and_applies_nothing_twice(http, tenant, clock, monkeypatch):
    for name, value in FANNED.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ENCLAVE_IMPORT_PAGE_ROWS", "5")
    monkeypatch.setenv("ENCLAVE_IMPORT_RANGE_BYTES", "2048")  # ranges of ~16 orders: 4 pages each
    orders, spend = _orders()
    created = upload(http, tenant, "orders", "jsonl", orders_jsonl(orders))
    queue = dispatcher()._queue  # type: ignore[attr-defined]
    job_id = http.post(f"/v1/imports/{created['id']}/start", tenant.key).json["job_id"]
    queue.get_nowait()
    parent = jobs.run(tenant.id, job_id)  # the cut, then the fan-out: it waits for its ranges
    assert parent is not None and parent.status == "waiting"
    children = [queue.get_nowait() for _ in range(queue.qsize())]
    assert len(children) >= 2
    # GIVEN a range whose runner did one page, lost its re-dispatch, and whose next runner applied
    # a second page and died before saving the checkpoint
    busy = children[1]
    stopped = jobs.run(busy[0], busy[1], time_left=lambda: 0.0)
    assert stopped is not None and stopped.status == "running" and stopped.progress["processed"] == 5
    assert queue.get_nowait()[1] == busy[1]
    steps.range_step(tenant.id, stopped.params, stopped.checkpoint)
    # THEN the import's progress and its job's sum what the ranges did so far
    midway = http.get(f"/v1/imports/{created['id']}", tenant.key).json
    assert midway["status"] == "running" and midway["progress"]["rows_done"] == 10, midway
    assert http.get(f"/v1/jobs/{job_id}", tenant.key).json["progress"]["processed"] == 5
    # WHEN every other range finishes, the sweeper finds the stale one and it runs again
    for entry in children:
        if entry is not busy:
            queue.put(entry)
    dispatcher().drain(workers=4)  # type: ignore[attr-defined]
    assert http.get(f"/v1/imports/{created['id']}", tenant.key).json["status"] == "running"
    clock.advance(minutes=6)
    assert jobs.sweep() >= 1
    dispatcher().drain(workers=4)  # type: ignore[attr-defined]
    # THEN every order counted once; the page run twice applied nothing the second time
    done = http.get(f"/v1/imports/{created['id']}", tenant.key).json
    bad = sum(1 for o in orders if o["order_id"].startswith("bad-"))
    assert done["status"] == "succeeded", done
    assert done["progress"] == {"rows_total": len(orders), "rows_done": len(orders),
                                "rows_applied": len(orders) - bad - 5, "rows_failed": bad}, done
    assert [int(e["row"]) for e in error_rows(done)] == [
        n + 1 for n, o in enumerate(orders) if o["order_id"].startswith("bad-")]
    for phone, total in spend.items():
        member = http.get(f"/v1/members/lookup?phone={quote(phone)}", tenant.key).json
        s = http.get(f"/v1/members/{member['id']}/standing", tenant.key).json
        assert (s["lifetime_spend"], s["orders"]) == (total, 2), (phone, s)
