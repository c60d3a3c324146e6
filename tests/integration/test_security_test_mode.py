"""Test keys (``ek_test_``) act as the tenant's sandbox twin: they never read or write live
data, and their Stripe calls never use a live key (docs/decisions/0009)."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

CONNECT = {"return_url": "https://brand.example/stripe/done", "refresh_url": "https://brand.example/stripe/again"}


def new_key(http, credential: str, mode: str, **body) -> dict:
    r = http.post("/v1/api-keys", credential, {"name": f"{mode} key", "mode": mode, **body})
    assert r.status == 201, r
    return r.json


def test_a_test_key_acts_as_a_sandbox_twin_of_the_tenant(http, tenant):
    test_key = new_key(http, tenant.key, "test", scopes=["read", "write", "admin"])
    assert test_key["secret"].startswith("ek_test_") and test_key["mode"] == "test"
    sandbox = http.get("/v1/tenant", test_key["secret"]).json
    live = http.get("/v1/tenant", tenant.key).json
    assert sandbox["livemode"] is False and live["livemode"] is True
    assert sandbox["id"] != tenant.id and len(sandbox["id"]) == 26
    assert sandbox["timezone"] == live["timezone"] and sandbox["currency"] == live["currency"]
    # one twin per tenant, whichever way a later test key is made
    second = new_key(http, tenant.key, "test")
    third = new_key(http, test_key["secret"], "test", scopes=["read"])
    for key in (second, third):
        assert http.get("/v1/tenant", key["secret"]).json["id"] == sandbox["id"]
    # the live admin sees and revokes test keys; revoked, the key fails at once
    listed = {k["id"]: k["mode"] for k in http.get("/v1/api-keys", tenant.key).json["data"]}
    assert listed[test_key["id"]] == listed[third["id"]] == "test"
    assert http.delete(f"/v1/api-keys/{second['id']}", tenant.key).status == 204
    assert http.get("/v1/tenant", second["secret"]).status == 401
    # a test key sees only the sandbox's keys
    seen = {k["id"] for k in http.get("/v1/api-keys", test_key["secret"]).json["data"]}
    assert seen == {test_key["id"], second["id"], third["id"]}


def test_a_test_key_cannot_make_a_live_key_or_revoke_one(http, tenant):
    test_key = new_key(http, tenant.key, "test", scopes=["read", "write", "admin"])["secret"]
    r = http.post("/v1/api-keys", test_key, {"name": "escalate", "mode": "live"})
    assert r.status == 403 and r.json["code"] == "livemode_required", r
    live_keys = http.get("/v1/api-keys", tenant.key).json["data"]
    assert [k["mode"] for k in live_keys].count("live") == 1
    initial = next(k for k in live_keys if k["mode"] == "live")
    assert http.delete(f"/v1/api-keys/{initial['id']}", test_key).status == 404
    assert http.get("/v1/tenant", tenant.key).status == 200


def test_live_data_is_invisible_to_a_test_key_and_the_other_way_round(http, tenant):
    test_key = new_key(http, tenant.key, "test")["secret"]
    live = http.post("/v1/members", tenant.key, {"phone": "13800138000", "name": "Live Lin"}).json
    # GIVEN a live member: the test key cannot read, change, erase or find them
    assert http.get(f"/v1/members/{live['id']}", test_key).status == 404
    assert http.patch(f"/v1/members/{live['id']}", test_key, {"version": 1, "name": "x"}).status == 404
    assert http.delete(f"/v1/members/{live['id']}", test_key).status == 404
    assert http.get("/v1/members/lookup?phone=13800138000", test_key).status == 404
    assert live["id"] not in http.get("/v1/members", test_key).text
    # an event with the same phone sent with the test key makes a sandbox member, not a live order
    order = {"type": "order.paid", "event_id": "e-1", "member": {"phone": "13800138000"}, "order_id": "o-1",
             "amount": 100_00, "currency": "CNY"}
    sent = http.post("/v1/events", test_key, {"events": [order]}).json["results"][0]
    assert sent["status"] == "accepted" and sent["member_id"] != live["id"]
    # and the live side sees none of it
    assert http.get(f"/v1/members/{sent['member_id']}", tenant.key).status == 404
    assert http.get(f"/v1/members/{sent['member_id']}", tenant.user_token()).status == 404
    assert http.get(f"/v1/members/{live['id']}", tenant.key).json["name"] == "Live Lin"
    timeline = http.get(f"/v1/members/{live['id']}/timeline", tenant.key)
    assert timeline.status == 200 and "o-1" not in timeline.text


def test_a_test_key_issued_before_sandboxes_is_refused(http, tenant):
    """Before sandboxes, a test key's lookup named the live tenant: it must not keep acting on it."""
    import hashlib

    from chalicelib.core.ids import new_id
    from chalicelib.core.table import keys
    from chalicelib.tenants.store import ApiKeyLookupItem

    secret = "ek_test_legacy" + new_id()
    ApiKeyLookupItem(keys.api_key_lookup(hashlib.sha256(secret.encode()).hexdigest()), "APIKEY",
                     tenant_id=tenant.id, key_id=new_id(), mode="test", scopes=["read", "write"]).save()
    r = http.get("/v1/tenant", secret)
    assert r.status == 401 and r.json["code"] == "invalid_api_key"


def stripe_calls(adapter) -> dict:
    """Calls sent to Stripe by an adapter (through stripe-mock's memory wrapper in tests)."""
    return dict(getattr(adapter, "inner", adapter).calls)


@pytest.fixture
def stripe_keys(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Lets a test set the platform's Stripe keys; the adapters are rebuilt around it."""
    from chalicelib.billing import gateway

    gateway._adapter.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    gateway._adapter.cache_clear()


def test_a_sandbox_never_calls_stripe_with_a_live_key(http, tenant, stripe_keys):
    from chalicelib.billing import gateway

    test_key = new_key(http, tenant.key, "test", scopes=["read", "write", "admin"])["secret"]
    # an obviously fake key of the live kind (built here so no live-looking key sits in the repo)
    stripe_keys.setattr(gateway.settings(), "test_secret_key", "sk_" + "live_" + "FAKE")
    # WHEN a sandbox asks for Stripe and the only key for it is live THEN it is refused, nothing sent
    r = http.post("/v1/billing/stripe/connect", test_key, CONNECT)
    assert r.status == 502 and r.json["stripe_code"] == "livemode_mismatch", r
    assert stripe_calls(gateway.gateway(livemode=False)) == {}
    assert http.get("/v1/billing/stripe", test_key).json["connected"] is False
    # while the live tenant's calls go through
    assert http.post("/v1/billing/stripe/connect", tenant.key, CONNECT).status == 200
    # and with a test-mode key the sandbox connects its own (test-mode) account
    stripe_keys.setattr(gateway.settings(), "test_secret_key", "sk_test_PlatformTestKey")
    r = http.post("/v1/billing/stripe/connect", test_key, CONNECT)
    assert r.status == 200, r
    assert stripe_calls(gateway.gateway(livemode=False))["create_account"] == 1


def test_the_gateway_refuses_a_key_of_the_other_mode():
    from chalicelib.billing.gateway import GatewayModeMismatch
    from chalicelib.billing.gateway.stripe import StripeGateway
    from tests.conftest import STRIPE_API_BASE

    cases = [
        ("sk_live_x", False, None),   # a sandbox with a live key
        ("sk_test_x", True, None),    # a live tenant on test-mode Stripe (real Stripe)
        ("sk_live_x", False, STRIPE_API_BASE),
    ]
    for key, livemode, api_base in cases:
        adapter = StripeGateway(key, "whsec_x", api_base=api_base, livemode=livemode, max_network_retries=0)
        with pytest.raises(GatewayModeMismatch):
            adapter.create_customer("acct_1", name=None, email=None, metadata={}, idempotency_key="k")
        assert adapter.calls == {}
    allowed = StripeGateway("sk_test_x", "whsec_x", api_base=STRIPE_API_BASE, livemode=False)
    assert allowed.create_customer("acct_1", name=None, email=None, metadata={}, idempotency_key="k")["id"]
