"""Shared set-up for the guides tests: a store, guides with linked console users, members
signed up through a guide's code."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.fixtures import Http, Tenant


@dataclass
class Guide:
    id: str
    code: str
    sub: str
    token: str


def make_store(http: Http, tenant: Tenant, name: str = "Jing'an", tz: str = "Asia/Shanghai", **more: Any) -> str:
    r = http.post("/v1/stores", tenant.key, {"name": name, "region": "Shanghai", "timezone": tz, **more})
    assert r.status == 201, r
    return r.json["id"]


def make_guide(http: Http, tenant: Tenant, store_id: str, name: str) -> Guide:
    sub = f"user-{name.lower()}-{tenant.id[-6:]}"
    r = http.post("/v1/guides", tenant.key, {"display_name": name, "store_id": store_id,
                                             "external_staff_id": f"wecom-{name.lower()}", "user_sub": sub})
    assert r.status == 201, r
    return Guide(id=r.json["id"], code=r.json["channel_code"], sub=sub, token=tenant.user_token("guide", sub))


def signup(http: Http, tenant: Tenant, phone: str, code: str | None = None, **fields: Any) -> str:
    body: dict[str, Any] = {"phone": phone, **fields}
    if code:
        body["source"] = {"channel": code}
    r = http.post("/v1/members", tenant.key, body)
    assert r.status == 201, r
    return r.json["id"]


def owner(http: Http, tenant: Tenant, member_id: str) -> dict[str, Any]:
    r = http.get(f"/v1/members/{member_id}/guide", tenant.key)
    assert r.status == 200, r
    return r.json


def order(member_id: str, event_id: str, amount: int, occurred_at: str | None = None) -> dict[str, Any]:
    event = {"type": "order.paid", "event_id": event_id, "member": {"id": member_id}, "order_id": f"o-{event_id}",
             "amount": amount, "currency": "CNY"}
    if occurred_at:
        event["occurred_at"] = occurred_at
    return event


def send(http: Http, tenant: Tenant, *events: dict[str, Any]) -> None:
    r = http.post("/v1/events", tenant.key, {"events": list(events)})
    assert r.status == 200 and r.json["accepted"] == len(events), r
