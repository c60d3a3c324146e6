"""Idempotency records keep responses for 24 hours: never a secret shown once, and never a
member's data after the member is erased. Checked on the raw table items."""
from __future__ import annotations

import json

from tests.fixtures import make_tenant, table_items


def idempotency_items(owner: str) -> list[dict]:
    return table_items(f"T#{owner}#IDEMPOTENCY")


def raw(items: list[dict]) -> str:
    return json.dumps(items)


def test_a_new_api_key_is_never_stored_in_an_idempotency_record_and_a_replay_is_a_409(http, tenant):
    # GIVEN an API key created with an Idempotency-Key
    body = {"name": "CI", "scopes": ["read"]}
    first = http.post("/v1/api-keys", tenant.key, body, headers={"Idempotency-Key": "key-1"})
    assert first.status == 201, first
    secret = first.json["secret"]
    # THEN the record exists but holds no secret (nor the rest of the response)
    records = idempotency_items(tenant.id)
    assert records and secret not in raw(records) and first.json["id"] not in raw(records)
    # WHEN the request is replayed THEN it is a clear 409, and no second key was made
    replay = http.post("/v1/api-keys", tenant.key, body, headers={"Idempotency-Key": "key-1"})
    assert replay.status == 409 and replay.json["code"] == "idempotency_secret_not_replayable", replay
    assert replay.headers["content-type"] == "application/problem+json"
    assert secret not in replay.text
    assert [k["name"] for k in http.get("/v1/api-keys", tenant.key).json["data"]].count("CI") == 1
    # the key shown once works
    assert http.get("/v1/tenant", secret).status == 200


def test_a_new_tenants_key_is_never_stored_in_an_idempotency_record(http, admin_token):
    body = {"name": "Replayed Brand"}
    first = http.post("/v1/admin/tenants", admin_token, body, headers={"Idempotency-Key": "tenant-1"})
    assert first.status == 201, first
    secret = first.json["api_key"]["secret"]
    assert secret not in raw(table_items(""))  # nowhere in the table: the key is kept as a hash only
    replay = http.post("/v1/admin/tenants", admin_token, body, headers={"Idempotency-Key": "tenant-1"})
    assert replay.status == 409 and replay.json["code"] == "idempotency_secret_not_replayable", replay


def test_a_webhook_signing_secret_is_never_stored_in_an_idempotency_record(http, tenant):
    first = http.post("/v1/messaging/webhook-secret", tenant.key, headers={"Idempotency-Key": "whsec-1"})
    assert first.status == 201, first
    records = idempotency_items(tenant.id)
    assert records and first.json["secret"] not in raw(records)
    replay = http.post("/v1/messaging/webhook-secret", tenant.key, headers={"Idempotency-Key": "whsec-1"})
    assert replay.status == 409 and replay.json["code"] == "idempotency_secret_not_replayable"


def test_responses_without_secrets_still_replay(http, tenant):
    body = {"code": "mall", "name": "Mall"}
    first = http.post("/v1/channels", tenant.key, body, headers={"Idempotency-Key": "ch-1"})
    replay = http.post("/v1/channels", tenant.key, body, headers={"Idempotency-Key": "ch-1"})
    assert first.status == replay.status == 201 and replay.json == first.json
    assert replay.headers.get("idempotent-replayed") == "true"


def test_erasing_a_member_deletes_the_idempotency_records_that_hold_their_data(http, admin_token):
    tenant = make_tenant(http, admin_token)
    pii = ["Lin Xiaomei", "+8613800138123", "lin.xiaomei@example.com", "Lin Renamed"]
    # GIVEN a member created, and an event about them sent, with Idempotency-Keys
    created = http.post("/v1/members", tenant.key, {"phone": "13800138123", "email": pii[2], "name": pii[0]},
                        headers={"Idempotency-Key": "member-1"})
    assert created.status == 201, created
    member_id = created.json["id"]
    event = {"type": "order.paid", "event_id": "e-1", "member": {"email": pii[2]}, "order_id": "o-1",
             "amount": 100_00, "currency": "CNY"}
    sent = http.post("/v1/events", tenant.key, {"events": [event]}, headers={"Idempotency-Key": "events-1"})
    assert sent.status == 200 and sent.json["results"][0]["member_id"] == member_id, sent
    patched = http.patch(f"/v1/members/{member_id}", tenant.key, {"version": created.json["version"], "name": pii[3]},
                         headers={"Idempotency-Key": "patch-1"})
    assert patched.status == 200, patched
    # and another member's record, which erasure must leave alone
    other = http.post("/v1/members", tenant.key, {"phone": "13900139000"}, headers={"Idempotency-Key": "member-2"})
    before = raw(idempotency_items(tenant.id))
    assert member_id in before and pii[0] in before and other.json["id"] in before
    # WHEN the member is erased
    assert http.delete(f"/v1/members/{member_id}", tenant.key).status == 204
    # THEN no idempotency record holds their data or id, nor any reference to them
    after = raw(table_items(f"T#{tenant.id}#IDEMPOTENCY") + table_items(f"T#{tenant.id}#M_IDEMPOTENCY"))
    for value in [*pii, member_id]:
        assert value not in after
    assert other.json["id"] in after
    # and a retry of the erased member's creation is a new request, not a replay of their data
    again = http.post("/v1/members", tenant.key, {"phone": "13800138123", "email": pii[2], "name": pii[0]},
                      headers={"Idempotency-Key": "member-1"})
    assert "idempotent-replayed" not in again.headers and again.json["id"] != member_id


def test_platform_operators_each_have_their_own_idempotency_keys(http):
    from tests.conftest import ISSUER

    body = {"name": "Operator Brand"}
    alice, bob = ISSUER.admin_token("operator-alice"), ISSUER.admin_token("operator-bob")
    # GIVEN one operator provisioned a tenant with a key
    first = http.post("/v1/admin/tenants", alice, body, headers={"Idempotency-Key": "provision-1"})
    assert first.status == 201, first
    # WHEN another operator uses the same key for the same request
    other = http.post("/v1/admin/tenants", bob, body, headers={"Idempotency-Key": "provision-1"})
    # THEN it is their own request: a new tenant, not a replay (nor a refusal) of the first
    assert other.status == 201, other
    assert "idempotent-replayed" not in other.headers
    assert other.json["tenant"]["id"] != first.json["tenant"]["id"]
    # while the first operator's own retry is still recognised
    again = http.post("/v1/admin/tenants", alice, body, headers={"Idempotency-Key": "provision-1"})
    assert again.status == 409 and again.json["code"] == "idempotency_secret_not_replayable"
