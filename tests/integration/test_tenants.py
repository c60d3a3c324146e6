"""Tenants, settings and API keys, through the HTTP API against DynamoDB Local."""
from __future__ import annotations

import hashlib

from tests.conftest import ISSUER
from tests.fixtures import make_tenant, table_items


# --- provisioning -------------------------------------------------------------------
def test_platform_admin_provisions_a_tenant_whose_first_key_works(http, admin_token):
    r = http.post("/v1/admin/tenants", admin_token,
                  {"name": "Scent Co", "timezone": "Asia/Shanghai", "currency": "CNY", "default_country": "CN"})
    assert r.status == 201, r
    tenant, key = r.json["tenant"], r.json["api_key"]
    assert len(tenant["id"]) == 26 and tenant["version"] == 1
    assert key["secret"].startswith("ek_live_") and key["prefix"] == key["secret"][:12]
    assert sorted(key["scopes"]) == ["admin", "read", "write"]
    me = http.get("/v1/tenant", key["secret"])
    assert me.status == 200 and me.json["id"] == tenant["id"] and me.json["timezone"] == "Asia/Shanghai"


def test_api_key_is_stored_only_as_a_hash(http, admin_token):
    tenant = make_tenant(http, admin_token)
    raw = str(table_items(f"T#{tenant.id}")) + str(table_items("APIKEY#"))
    assert tenant.key not in raw
    assert hashlib.sha256(tenant.key.encode()).hexdigest() in raw


def test_only_platform_admins_provision_tenants(http, tenant):
    body = {"name": "Sneaky"}
    assert http.post("/v1/admin/tenants", None, body).status == 401
    assert http.post("/v1/admin/tenants", tenant.key, body).json["code"] == "not_platform_admin"
    owner = http.post("/v1/admin/tenants", tenant.user_token("owner"), body)
    assert owner.status == 403 and owner.json["code"] == "not_platform_admin"


def test_bad_tenant_input_is_a_422_naming_the_field_and_writes_nothing(http, admin_token):
    before = len(table_items("T#"))
    for body, field in [
        ({"name": "X", "timezone": "Mars/Olympus"}, "timezone"),
        ({"name": "X", "currency": "yuan"}, "currency"),
        ({"name": "X", "default_country": "ZZ"}, "default_country"),
        ({"name": ""}, "name"),
        ({"name": "X", "tenant_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}, "tenant_id"),
    ]:
        r = http.post("/v1/admin/tenants", admin_token, body)
        assert r.status == 422, (body, r)
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json["field"] == field and r.json["code"] == "validation_failed"
    assert len(table_items("T#")) == before


# --- settings ----------------------------------------------------------------------
def test_tenant_settings_change_with_version_check(http, tenant):
    r = http.patch("/v1/tenant", tenant.key, {"name": "Renamed", "timezone": "Europe/Paris", "version": 1})
    assert r.status == 200, r
    assert r.json["name"] == "Renamed" and r.json["timezone"] == "Europe/Paris" and r.json["version"] == 2
    stale = http.patch("/v1/tenant", tenant.key, {"name": "Again", "version": 1})
    assert stale.status == 409 and stale.json["code"] == "version_conflict"
    assert http.get("/v1/tenant", tenant.key).json["name"] == "Renamed"


def test_bad_settings_change_nothing(http, tenant):
    r = http.patch("/v1/tenant", tenant.key, {"timezone": "Nowhere/City"})
    assert r.status == 422 and r.json["field"] == "timezone"
    assert http.get("/v1/tenant", tenant.key).json == tenant.settings


# --- API keys ----------------------------------------------------------------------
def test_new_key_is_shown_once_and_listed_without_secret(http, tenant):
    r = http.post("/v1/api-keys", tenant.key, {"name": "ERP sync", "scopes": ["read"], "mode": "test"})
    assert r.status == 201, r
    assert r.json["secret"].startswith("ek_test_") and r.json["scopes"] == ["read"]
    listed = http.get("/v1/api-keys", tenant.key).json["data"]
    assert {k["name"] for k in listed} == {"Initial key", "ERP sync"}
    assert all("secret" not in k for k in listed)
    assert r.json["secret"] not in str(listed)


def test_revoked_key_fails_on_the_very_next_request(http, tenant):
    new = http.post("/v1/api-keys", tenant.key, {"name": "temp"}).json
    assert http.get("/v1/tenant", new["secret"]).status == 200
    assert http.delete(f"/v1/api-keys/{new['id']}", tenant.key).status == 204
    r = http.get("/v1/tenant", new["secret"])
    assert r.status == 401 and r.json["code"] == "invalid_api_key"
    listed = {k["id"]: k for k in http.get("/v1/api-keys", tenant.key).json["data"]}
    assert listed[new["id"]]["revoked_at"] is not None
    assert http.delete(f"/v1/api-keys/{new['id']}", tenant.key).status == 204  # repeat is harmless


def test_last_used_at_is_recorded(http, tenant):
    new = http.post("/v1/api-keys", tenant.key, {"name": "usage"}).json
    assert new["last_used_at"] is None
    http.get("/v1/tenant", new["secret"])
    listed = {k["id"]: k for k in http.get("/v1/api-keys", tenant.key).json["data"]}
    assert listed[new["id"]]["last_used_at"] is not None


def test_scopes_limit_what_a_key_can_do(http, tenant):
    read_only = http.post("/v1/api-keys", tenant.key, {"name": "ro", "scopes": ["read"]}).json["secret"]
    writer = http.post("/v1/api-keys", tenant.key, {"name": "rw", "scopes": ["read", "write"]}).json["secret"]
    assert http.get("/v1/members", read_only).status == 200
    denied = http.post("/v1/members", read_only, {"phone": "13800138000"})
    assert denied.status == 403 and denied.json["code"] == "insufficient_scope"
    assert http.post("/v1/members", writer, {"phone": "13800138000"}).status == 201
    assert http.post("/v1/api-keys", writer, {"name": "escalate", "scopes": ["admin"]}).status == 403
    assert http.patch("/v1/tenant", writer, {"name": "x"}).status == 403


def test_bad_api_key_requests(http, tenant):
    assert http.post("/v1/api-keys", tenant.key, {"name": "x", "scopes": ["root"]}).status == 422
    assert http.post("/v1/api-keys", tenant.key, {"name": "x", "scopes": []}).status == 422
    assert http.post("/v1/api-keys", tenant.key, {"scopes": ["read"]}).json["field"] == "name"
    assert http.delete("/v1/api-keys/not-a-key", tenant.key).status == 404
    assert len(http.get("/v1/api-keys", tenant.key).json["data"]) == 1


def test_another_tenants_key_id_is_a_404_and_stays_active(http, tenant, other_tenant):
    theirs = http.post("/v1/api-keys", other_tenant.key, {"name": "theirs"}).json
    r = http.delete(f"/v1/api-keys/{theirs['id']}", tenant.key)
    assert r.status == 404 and r.json["code"] == "api_key_not_found"
    assert http.get("/v1/tenant", theirs["secret"]).status == 200
    assert theirs["id"] not in str(http.get("/v1/api-keys", tenant.key).json)


# --- credentials -------------------------------------------------------------------
def test_missing_or_malformed_credentials_are_401(http):
    for headers in [{}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "},
                    {"Authorization": "Bearer ek_live_nope"}, {"Authorization": "Bearer not.a.jwt"}]:
        r = http.call("GET", "/v1/tenant", headers=headers)
        assert r.status == 401, (headers, r)
        assert r.headers["content-type"] == "application/problem+json"


def test_user_tokens_carry_tenant_and_role(http, tenant):
    owner, analyst = tenant.user_token("owner"), tenant.user_token("analyst")
    assert http.get("/v1/tenant", owner).json["id"] == tenant.id
    assert http.get("/v1/members", analyst).status == 200
    r = http.post("/v1/members", analyst, {"phone": "13800138000"})
    assert r.status == 403 and r.json["code"] == "insufficient_scope"
    marketer = tenant.user_token("marketer")
    assert http.post("/v1/members", marketer, {"phone": "13800138000"}).status == 201
    assert http.post("/v1/api-keys", marketer, {"name": "x"}).status == 403
    assert http.post("/v1/api-keys", owner, {"name": "x"}).status == 201


def test_invalid_user_tokens_are_rejected(http, tenant, tmp_path):
    from devstack.jwt_issuer import DevIssuer

    stranger = DevIssuer(tmp_path / "other-issuer")  # same claims, another signing key
    bad = {
        "expired": ISSUER.token("u", tenant_id=tenant.id, role="owner", ttl_seconds=-60),
        "wrong audience": ISSUER.token("u", tenant_id=tenant.id, role="owner", aud="someone-else"),
        "wrong issuer": ISSUER.token("u", tenant_id=tenant.id, role="owner", iss="https://evil.example"),
        "access token": ISSUER.token("u", tenant_id=tenant.id, role="owner", token_use="access"),
        "foreign key": stranger.token("u", tenant_id=tenant.id, role="owner"),
        "no tenant": ISSUER.token("u", role="owner"),
        "unknown role": ISSUER.token("u", tenant_id=tenant.id, role="superuser"),
    }
    import jwt

    bad["alg none"] = jwt.encode({"sub": "u", "custom:tenant_id": tenant.id, "custom:role": "owner"}, None,
                                 algorithm="none")
    for name, token in bad.items():
        r = http.get("/v1/tenant", token)
        assert r.status == 401, (name, r)


def test_platform_admin_token_cannot_act_as_a_tenant(http, admin_token):
    r = http.get("/v1/tenant", admin_token)
    assert r.status == 403 and r.json["code"] == "platform_admin_token"


def test_tenant_comes_only_from_the_credential(http, tenant, other_tenant):
    r = http.get("/v1/tenant", tenant.key, headers={"X-Tenant-Id": other_tenant.id})
    assert r.json["id"] == tenant.id
    forged = http.post("/v1/members", tenant.key, {"phone": "13800138000", "tenant_id": other_tenant.id})
    assert forged.status == 422 and forged.json["field"] == "tenant_id"
