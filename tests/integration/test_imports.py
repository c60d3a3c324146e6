"""Imports through the HTTP API: a file PUT to the presigned S3 URL (gofakes3), a job that
applies it in checkpointed pages, the per-row errors file downloaded by its URL."""
from __future__ import annotations

import time
from typing import Any

import pytest

from tests.fixtures import make_tenant, run_jobs, table_items
from tests.integration.imports_helpers import error_rows, members_csv, run_import, upload

MEMBERS = 500  # 1% bad (5 rows); the 100,000-row run is in bench (BENCH_ONLY=transfers)


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
