"""The import job stopped and resumed, a page run twice, and orders loaded into the
members' aggregates exactly once (through the activity service, deduped by order id)."""
from __future__ import annotations

from typing import Any
from urllib.parse import quote

from chalicelib.core import jobs
from chalicelib.integrations.transfers import steps
from tests.fixtures import run_jobs, table_items
from tests.integration.imports_helpers import error_rows, members_csv, orders_jsonl, run_import, upload


def test_a_stopped_import_resumes_from_its_checkpoint_and_applies_nothing_twice(http, tenant, monkeypatch):
    monkeypatch.setenv("ENCLAVE_IMPORT_PAGE_ROWS", "20")
    body, _ = members_csv(60, bad_every=10_000, phone_base=13_400_000_000)
    created = upload(http, tenant, "members", "csv", body)
    job_id = http.post(f"/v1/imports/{created['id']}/start", tenant.key).json["job_id"]
    # WHEN the runner stops after one page (its time is up: it re-dispatches itself; its first step cut the
    # file into ranges: one, this file being small)
    jobs.run(tenant.id, job_id, time_left=lambda: 0.0)
    jobs.run(tenant.id, job_id, time_left=lambda: 0.0)
    midway = http.get(f"/v1/imports/{created['id']}", tenant.key).json
    assert midway["status"] == "running" and midway["progress"]["rows_done"] == 20, midway
    # AND a runner dies after applying the second page but before saving its checkpoint
    job = jobs.get_job(tenant.id, job_id)
    assert job is not None
    steps.step(tenant.id, job.params, job.checkpoint)
    # THEN the job resumes from its checkpoint: the second page runs again and changes nothing
    run_jobs()
    done = http.get(f"/v1/imports/{created['id']}", tenant.key).json
    assert done["status"] == "succeeded" and done["progress"]["rows_done"] == 60, done
    assert done["progress"]["rows_applied"] == 40 and done["progress"]["rows_failed"] == 0  # 20 by the dead runner
    members = [i for i in table_items(f"T#{tenant.id}#M#") if i["sk"]["S"] == "PROFILE"]
    assert len(members) == 60


def _orders(members: int, each: int) -> tuple[list[dict[str, Any]], dict[str, int]]:
    orders, spend = [], {}
    for m in range(members):
        phone = f"+86135{m:08d}"
        spend[phone] = 0
        for n in range(each):
            amount = 1_000 * (m + 1) + n
            spend[phone] += amount
            orders.append({"order_id": f"ord-{m}-{n}", "member": {"phone": phone}, "amount": amount, "currency": "CNY",
                           "occurred_at": f"2026-0{1 + n % 9}-1{n % 9}T10:00:00Z",
                           "items": [{"sku": "eau-50", "qty": 1, "unit_price": amount}]})
    return orders, spend


def _standing(http: Any, tenant: Any, phone: str) -> dict[str, Any]:
    member = http.get(f"/v1/members/lookup?phone={quote(phone)}", tenant.key).json
    return http.get(f"/v1/members/{member['id']}/standing", tenant.key).json  # type: ignore[no-any-return]


def test_an_orders_jsonl_import_loads_aggregates_exactly_once(http, tenant, monkeypatch):
    monkeypatch.setenv("ENCLAVE_IMPORT_PAGE_ROWS", "20")
    orders, spend = _orders(members=8, each=5)
    bad = [{"order_id": "bad-1", "member": {"phone": "+8613500000000"}, "amount": "12.50", "currency": "CNY"},
           {"order_id": "bad-2", "member": {"phone": "+8613500000000"}, "amount": 100},
           {"order_id": "bad-3", "member": {"phone": "+8613500000000"}, "amount": 100, "currency": "CNY", "coupon": 1}]
    body = orders_jsonl(orders[:13] + bad + orders[13:])
    created = upload(http, tenant, "orders", "jsonl", body)
    job_id = http.post(f"/v1/imports/{created['id']}/start", tenant.key).json["job_id"]
    # GIVEN a runner that applied the first page and died before its checkpoint
    job = jobs.get_job(tenant.id, job_id)
    assert job is not None
    steps.step(tenant.id, job.params, steps.step(tenant.id, job.params, None).checkpoint)
    # WHEN the job runs
    run_jobs()
    done = http.get(f"/v1/imports/{created['id']}", tenant.key).json
    # THEN every order counts once in its member's aggregates, and the 3 bad lines are reported
    assert done["progress"]["rows_done"] == len(orders) + 3 and done["progress"]["rows_failed"] == 3, done
    for phone, total in spend.items():
        s = _standing(http, tenant, phone)
        assert (s["lifetime_spend"], s["orders"]) == (total, 5), (phone, s)
    errors = {int(e["row"]): e for e in error_rows(done)}
    assert sorted(errors) == [14, 15, 16]
    assert errors[14]["field"] == "amount" and errors[15]["field"] == "currency" and errors[16]["field"] == "coupon"
    # AND a re-run of the file records nothing again
    again = run_import(http, tenant, "orders", "jsonl", body)
    assert again["progress"]["rows_applied"] == 0 and again["progress"]["rows_failed"] == 3, again
    for phone, total in spend.items():
        assert _standing(http, tenant, phone)["lifetime_spend"] == total


def test_an_orders_csv_reads_amounts_as_integers_and_phone_as_the_member(http, tenant):
    body = (b"order_id,phone,amount,currency,occurred_at\n"
            b"csv-1,+8613600000001,12900,CNY,2026-03-01T10:00:00Z\n"
            b"csv-2,+8613600000001,100,CNY,\n"
            b"csv-3,+8613600000001,129.00,CNY,\n")
    done = run_import(http, tenant, "orders", "csv", body)
    assert done["progress"] == {"rows_total": 3, "rows_done": 3, "rows_applied": 2, "rows_failed": 1}, done
    assert [(e["row"], e["field"]) for e in error_rows(done)] == [("3", "amount")]
    s = _standing(http, tenant, "+8613600000001")
    assert (s["lifetime_spend"], s["orders"]) == (13_000, 2)


def test_a_row_that_lost_its_races_is_tried_again_not_reported(http, tenant, monkeypatch):
    from chalicelib.integrations.transfers import pages
    from chalicelib.integrations.transfers.rows import Busy

    real = pages._APPLY["members"]
    lost: list[str] = []

    def busy_once(ctx: Any, row: dict[str, Any]) -> bool:
        if row.get("phone") == "+8613500000003" and not lost:
            lost.append(row["phone"])
            raise Busy("The member is being changed concurrently; try again.")
        return real(ctx, row)

    monkeypatch.setitem(pages._APPLY, "members", busy_once)
    monkeypatch.setattr(pages, "ROW_RETRY_PAUSES", (0.0, 0.0))
    body = b"phone,name\n" + b"".join(f"+861350000000{n},M{n}\n".encode() for n in range(1, 6))
    # WHEN a row loses its races once (another range, or live traffic, changing the same member)
    done = run_import(http, tenant, "members", "csv", body)
    # THEN it was applied on the next try, and no row is reported
    assert lost == ["+8613500000003"]
    assert done["progress"] == {"rows_total": 5, "rows_done": 5, "rows_applied": 5, "rows_failed": 0}, done
    assert http.get("/v1/members/lookup?phone=%2B8613500000003", tenant.key).status == 200


def test_a_csv_of_only_its_header_imports_nothing_and_succeeds(http, tenant):
    done = run_import(http, tenant, "members", "csv", b"phone,name\n")
    assert done["progress"] == {"rows_total": 0, "rows_done": 0, "rows_applied": 0, "rows_failed": 0}, done
