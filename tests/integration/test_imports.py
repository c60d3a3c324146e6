"""Imports through the HTTP API: a file PUT to the presigned S3 URL (gofakes3), a job that
applies it in checkpointed pages, the per-row errors file downloaded by its URL."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.fixtures import make_tenant, run_jobs, table_items
from tests.integration.imports_helpers import error_rows, members_csv, run_import, upload

MEMBERS = 400  # 1% bad (4 rows, one of each kind); the 100,000-row run is in bench (BENCH_ONLY=transfers)


def profiles(tenant_id: str) -> dict[str, Any]:
    items = table_items(f"T#{tenant_id}#M#")
    return {i["pk"]["S"]: i for i in items if i["sk"]["S"] == "PROFILE"}


@pytest.fixture(scope="module")
def imported(http: Any, admin_token: str) -> dict[str, Any]:
    tenant = make_tenant(http, admin_token)
    body, bad = members_csv(MEMBERS)
    started = time.monotonic()
    result = run_import(http, tenant, "members", "csv", body)
    return {"tenant": tenant, "body": body, "bad": bad, "result": result, "seconds": time.monotonic() - started}


def test_members_csv_with_bad_rows_reports_exactly_those_rows(imported):
    # GIVEN a members CSV with 1% bad rows, WHEN it is imported
    result, bad = imported["result"], imported["bad"]
    # THEN every good row made a member, and exactly the bad rows are reported
    assert result["progress"] == {"rows_total": MEMBERS, "rows_done": MEMBERS, "rows_applied": MEMBERS - len(bad),
                                  "rows_failed": len(bad)}, result
    assert len(profiles(imported["tenant"].id)) == MEMBERS - len(bad)
    errors = error_rows(result)
    assert result["errors"]["count"] == len(errors) == len(bad)
    assert {int(e["row"]) for e in errors} == bad
    by_row = {int(e["row"]): e for e in errors}
    assert by_row[100]["field"] == "" and "identity" in by_row[100]["message"], errors[:4]
    assert by_row[200]["field"] == "email" and by_row[300]["field"].startswith("birthday"), errors[:4]
    assert by_row[400]["field"] == "phone" and "not-a-phone" in by_row[400]["message"], errors[:4]


def test_a_rerun_of_the_same_file_changes_nothing(http, imported):
    tenant = imported["tenant"]
    before = profiles(tenant.id)
    # WHEN the same file is imported again
    again = run_import(http, tenant, "members", "csv", imported["body"])
    # THEN no row applies, the same rows fail, and no member item changed
    assert again["progress"]["rows_applied"] == 0 and again["progress"]["rows_failed"] == len(imported["bad"])
    assert profiles(tenant.id) == before


def test_the_imported_members_are_found_by_identity(http, imported):
    tenant = imported["tenant"]
    found = http.get("/v1/members/lookup?phone=%2B8613100000001", tenant.key)
    assert found.status == 200 and found.json["name"] == 'Member, "1"', found
    assert found.json["birthday"] == {"month": 5, "day": 17, "year": 1990}


def test_another_tenants_import_is_404_and_unchanged(http, imported, other_tenant):
    import_id = imported["result"]["id"]
    for method, path in (("GET", f"/v1/imports/{import_id}"), ("POST", f"/v1/imports/{import_id}/start")):
        r = http.call(method, path, other_tenant.key)
        assert r.status == 404 and r.json["code"] == "import_not_found", r
    mine = http.get(f"/v1/imports/{import_id}", imported["tenant"].key).json
    assert (mine["status"], mine["progress"], mine["job_id"]) == (
        "succeeded", imported["result"]["progress"], imported["result"]["job_id"])


# --- bad input: a clear 4xx and nothing written ---------------------------------------------------------------
def test_unknown_kind_format_or_field_is_422_and_writes_nothing(http, tenant):
    for body, field in [({"kind": "coupons", "format": "csv"}, "kind"),
                        ({"kind": "members", "format": "xlsx"}, "format"),
                        ({"kind": "members", "format": "csv", "mapping": {"Mobile": "mobile"}}, "mapping.Mobile"),
                        ({"kind": "orders", "format": "csv", "mapping": {"amt": "attributes.x"}}, "mapping.amt")]:
        r = http.post("/v1/imports", tenant.key, body)
        assert r.status == 422 and r.json["field"] == field, (body, r)
    assert table_items(f"T#{tenant.id}#IMPORT#") == []


@pytest.mark.parametrize("header, says", [
    (b"phone,phone,name\n", "appears twice"),
    (b"phone,shoe_size\n", "'shoe_size' is not a members field"),
    (b"name,birthday\n", "needs an identity column"),
    (b",phone\n", "has no name"),
])
def test_a_malformed_csv_header_is_422_and_starts_nothing(http, tenant, header, says):
    created = upload(http, tenant, "members", "csv", header + b"x,y\n")
    r = http.post(f"/v1/imports/{created['id']}/start", tenant.key)
    assert r.status == 422 and r.json["code"] == "import_bad_header" and says in r.json["detail"], r
    # THEN nothing was written: no job, the import still awaits its file
    assert table_items(f"T#{tenant.id}#JOB#") == []
    assert http.get(f"/v1/imports/{created['id']}", tenant.key).json["status"] == "awaiting_upload"


def test_a_mapping_renames_columns_and_ignores_others(http, tenant):
    body = b"Mobile,Nick,Shop\n+8613200000001,Wen,north\n"
    mapping = {"Mobile": "phone", "Nick": "name", "Shop": "_ignore"}
    created = upload(http, tenant, "members", "csv", body, mapping=mapping)
    http.post(f"/v1/imports/{created['id']}/start", tenant.key)
    run_jobs()
    done = http.get(f"/v1/imports/{created['id']}", tenant.key).json
    assert done["progress"]["rows_applied"] == 1 and done["errors"] is None, done
    assert http.get("/v1/members/lookup?phone=%2B8613200000001", tenant.key).json["name"] == "Wen"


def test_a_file_over_the_limit_is_422_and_starts_nothing(http, tenant, monkeypatch):
    monkeypatch.setenv("ENCLAVE_IMPORT_MAX_BYTES", "1024")
    created = upload(http, tenant, "members", "csv", b"phone\n" + b"+8613000000000\n" * 100)
    r = http.post(f"/v1/imports/{created['id']}/start", tenant.key)
    assert r.status == 422 and r.json["code"] == "import_too_large" and r.json["max_bytes"] == 1024, r
    assert table_items(f"T#{tenant.id}#JOB#") == []


def test_starting_before_the_upload_is_409(http, tenant):
    created = http.post("/v1/imports", tenant.key, {"kind": "members", "format": "csv"}).json
    assert created["status"] == "awaiting_upload" and created["upload"]["method"] == "PUT"
    assert "X-Amz-Signature=" in created["upload"]["url"] and "X-Amz-Expires=900" in created["upload"]["url"]
    r = http.post(f"/v1/imports/{created['id']}/start", tenant.key)
    assert r.status == 409 and r.json["code"] == "import_not_uploaded", r
    assert table_items(f"T#{tenant.id}#JOB#") == []


def test_two_concurrent_starts_make_one_job(http, tenant):
    from chalicelib.core.tenancy import TenantContext
    from chalicelib.integrations.transfers import service

    created = upload(http, tenant, "members", "csv", b"phone\n+8613300000001\n")
    ctx = TenantContext(tenant_id=tenant.id, principal_type="api_key", principal_id="k",
                        permissions=frozenset({"read", "write"}))
    barrier = threading.Barrier(4)

    def start() -> str | None:
        barrier.wait()
        return service.start(ctx, created["id"]).job_id

    with ThreadPoolExecutor(4) as pool:
        job_ids = list(pool.map(lambda _: start(), range(4)))
    assert len(set(job_ids)) == 1 and job_ids[0] is not None
    assert len([i for i in table_items(f"T#{tenant.id}#JOB#") if i["sk"]["S"] == "JOB"]) == 1
    run_jobs()
