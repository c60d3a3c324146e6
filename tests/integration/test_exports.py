"""Segment and member exports live in S3: tenant-prefixed objects downloaded by presigned
URL (gofakes3 here), offered until the export expires (410 after it)."""
from __future__ import annotations

import csv
import io
from urllib.parse import parse_qs, urlparse

import requests

from tests.fixtures import run_jobs


def _members(http, tenant, n: int) -> list[dict]:
    return [http.post("/v1/members", tenant.key, {"phone": f"+86137{i:08d}", "name": f"M{i}"}).json for i in range(n)]


def test_a_segment_export_downloads_by_its_presigned_url_until_it_expires(http, tenant, other_tenant, clock):
    made = _members(http, tenant, 3)
    segment = http.post("/v1/segments", tenant.key, {"name": "all", "filter": {"stage": "prospect_aware"}}).json
    job_id = http.post(f"/v1/segments/{segment['id']}/export", tenant.key).json["job_id"]
    run_jobs()
    status_path = f"/v1/segments/{segment['id']}/exports/{job_id}"
    done = http.get(status_path, tenant.key).json
    assert done["status"] == "succeeded" and done["rows"] == 3, done
    # THEN the CSV is a tenant-prefixed S3 object, fetched as a client would (no credentials)
    url = done["download"]["url"]
    assert urlparse(url).path.startswith(f"/enclave-local/tenants/{tenant.id}/exports/segments/")
    query = parse_qs(urlparse(url).query)
    assert query["X-Amz-Expires"] == ["900"] and query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    got = requests.get(url, timeout=30)
    assert got.status_code == 200
    assert {r["member_id"] for r in csv.DictReader(io.StringIO(got.content.decode()))} == {m["id"] for m in made}
    # AND another tenant cannot see it
    assert http.get(status_path, other_tenant.key).status == 404
    # AND after its 7 days the export is gone: no new URL is handed out
    clock.advance(days=7, seconds=1)
    gone = http.get(status_path, tenant.key)
    assert gone.status == 410 and gone.json["code"] == "export_expired", gone


def test_a_member_export_is_a_json_file_in_s3_and_other_tenants_get_404(http, tenant, other_tenant):
    member = _members(http, tenant, 1)[0]
    link = http.get(f"/v1/members/{member['id']}/export", tenant.key).json
    assert link["status"] == "succeeded" and link["download"]["expires_at"] > link["exported_at"], link
    assert f"/tenants/{tenant.id}/exports/members/{member['id']}/" in link["download"]["url"]
    assert requests.get(link["download"]["url"], timeout=30).json()["member"]["id"] == member["id"]
    r = http.get(f"/v1/members/{member['id']}/export", other_tenant.key)
    assert r.status == 404, r
