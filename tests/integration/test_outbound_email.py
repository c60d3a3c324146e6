"""A tenant's ``email_from`` only on a sender domain it registered and SES verified: the
platform's SES identities must not send as another brand. One account per domain (SES
verifies a domain for the whole platform account). SES is moto's."""
from __future__ import annotations

import pytest

from tests.fixtures import table_items
from tests.integration.journey_support import (  # noqa: F401 - fixtures
    T0,
    aws,
    create_journey,
    messages,
    new_member,
    sent_emails,
    tick,
)

pytestmark = pytest.mark.usefixtures("aws")


def _items(tenant) -> list[dict]:
    """The tenant's items, but its API keys (their last use is recorded on every call)."""
    return [i for i in table_items(f"T#{tenant.id}") if not i["sk"]["S"].startswith("KEY#")]


def _register(http, tenant, domain: str):
    return http.post("/v1/messaging/sender-domains", tenant.key, {"domain": domain})


def _put_sender(http, tenant, email_from: str):
    return http.call("PUT", "/v1/messaging/settings", tenant.key, json_body={"email_from": email_from})


def test_an_email_from_outside_the_tenants_domains_is_refused_and_nothing_is_written(http, tenant):
    before = _items(tenant)
    for sender in ("news@otherbrand.example", "ceo@bank.example"):
        r = _put_sender(http, tenant, sender)
        assert r.status == 422 and (r.json["field"], r.json["code"]) == ("email_from", "sender_domain_unknown"), r
    assert _items(tenant) == before
    assert http.get("/v1/messaging/settings", tenant.key).json["email_from"] is None


def test_a_verified_domain_of_the_tenant_may_send(http, tenant, clock):
    clock.now = T0
    r = _register(http, tenant, "Brand.Example")
    assert r.status == 201 and (r.json["domain"], r.json["status"]) == ("brand.example", "verified"), r
    assert _put_sender(http, tenant, "news@mail.brand.example").status == 422  # exactly the domain registered
    r = _put_sender(http, tenant, "news@brand.example")
    assert r.status == 200 and r.json["email_from"] == "news@brand.example", r
    jid = create_journey(http, tenant, {"trigger": {"type": "api"}, "start": "mail", "steps": [
        {"id": "mail", "type": "send_message", "channel": "email", "template": {"subject": "Hi", "body": "b"}}]})["id"]
    member = new_member(http, tenant, email="lin@example.com")
    assert http.post(f"/v1/journeys/{jid}/enrolments", tenant.key, {"member_ids": [member]}).status == 200
    tick(http)
    [email] = sent_emails()
    assert email.source == "news@brand.example"
    assert [m["status"] for m in messages(http, tenant, member_id=member)] == ["sent"]


def test_a_pending_domain_shows_its_dns_record_and_cannot_send_yet(http, tenant, monkeypatch):
    from chalicelib.journeys.channels.ses import SesChannel

    monkeypatch.setattr(SesChannel, "verification_status", lambda self, domains: dict.fromkeys(domains, "Pending"))
    r = _register(http, tenant, "shop.brand.example")
    assert r.status == 201 and r.json["status"] == "pending", r
    record = r.json["dns_record"]
    assert (record["type"], record["name"]) == ("TXT", "_amazonses.shop.brand.example") and record["value"]
    r = _put_sender(http, tenant, "hi@shop.brand.example")
    assert r.status == 422 and r.json["code"] == "sender_domain_unverified", r
    listed = http.get("/v1/messaging/sender-domains", tenant.key)
    assert listed.status == 200 and [(d["domain"], d["status"]) for d in listed.json["data"]] == [
        ("shop.brand.example", "pending")]


def test_another_tenants_domain_can_be_neither_registered_nor_used(http, tenant, other_tenant):
    assert _register(http, tenant, "brand-a.example").status == 201
    before = _items(other_tenant)
    r = _register(http, other_tenant, "BRAND-A.example")
    assert r.status == 409 and r.json["code"] == "sender_domain_taken", r
    r = _put_sender(http, other_tenant, "news@brand-a.example")
    assert r.status == 422 and r.json["code"] == "sender_domain_unknown", r
    assert _items(other_tenant) == before
    assert http.get("/v1/messaging/sender-domains", other_tenant.key).json["data"] == []
    assert [d["domain"] for d in http.get("/v1/messaging/sender-domains", tenant.key).json["data"]] == [
        "brand-a.example"]
    assert _register(http, tenant, "brand-a.example").status == 201  # the owner may register it again


@pytest.mark.parametrize("body", [{}, {"domain": ""}, {"domain": "localhost"}, {"domain": "127.0.0.1"},
                                  {"domain": "brand example.com"}, {"domain": "-brand.example"},
                                  {"domain": "a@brand.example"}, {"domain": "brand.example", "extra": 1},
                                  {"domain": 42}])
def test_a_bad_domain_is_a_422_and_nothing_is_written(http, tenant, body):
    before = _items(tenant)
    r = http.post("/v1/messaging/sender-domains", tenant.key, body)
    assert r.status == 422 and r.headers["content-type"] == "application/problem+json", r
    assert _items(tenant) == before


def test_sender_domains_need_an_admin_to_register(http, tenant):
    r = http.post("/v1/messaging/sender-domains", tenant.user_token("marketer"), {"domain": "brand.example"})
    assert r.status == 403, r
    assert http.get("/v1/messaging/sender-domains", tenant.user_token("analyst")).status == 200
