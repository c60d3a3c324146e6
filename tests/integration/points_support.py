"""Helpers shared by the points tests: a tenant with a points program, members, events."""
from __future__ import annotations

import itertools
from typing import Any

from tests.fixtures import table_items

_phones = itertools.count(1000)

ORDER_PROGRAM: dict[str, Any] = {
    "order_earning": {"points_per_unit": 1, "unit": 100, "category_multipliers": {"perfume": 1.5}},
    "interaction_rules": [
        {"id": "checkin", "name": "check_in", "points": 5, "per_day": 1},
        {"id": "article", "name": "content_read", "where": {"kind": "article"}, "points": 3,
         "once_per": "article_id"},
    ],
    "expiry": {"type": "days", "days": 30},
    "refund_policy": "allow_negative",
    "redemption_value": {"points": 100, "amount": 100},
}


def set_points_program(http, tenant, **overrides: Any) -> dict[str, Any]:
    r = http.call("PUT", "/v1/points-program", tenant.key, json_body={**ORDER_PROGRAM, **overrides})
    assert r.status == 200, r
    return r.json


def member(http, tenant) -> str:
    r = http.post("/v1/members", tenant.key, {"phone": f"1390013{next(_phones):04d}"})
    assert r.status == 201, r
    return r.json["id"]


def send(http, tenant, *events: dict[str, Any]) -> list[dict[str, Any]]:
    r = http.post("/v1/events", tenant.key, {"events": list(events)})
    assert r.status == 200, r
    assert all(x["status"] == "accepted" for x in r.json["results"]), r.json
    return r.json["results"]


def paid(event_id: str, member_id: str, amount: int, **kw: Any) -> dict[str, Any]:
    return {"type": "order.paid", "event_id": event_id, "member": {"id": member_id},
            "order_id": kw.pop("order_id", f"o-{event_id}"), "amount": amount, "currency": "CNY", **kw}


def refunded(event_id: str, member_id: str, order_id: str, amount: int) -> dict[str, Any]:
    return {"type": "order.refunded", "event_id": event_id, "member": {"id": member_id}, "order_id": order_id,
            "amount": amount}


def interaction(event_id: str, member_id: str, name: str, occurred_at: str | None = None,
                **props: Any) -> dict[str, Any]:
    event = {"type": "interaction", "event_id": event_id, "member": {"id": member_id}, "name": name,
             "properties": props}
    if occurred_at:
        event["occurred_at"] = occurred_at
    return event


def points(http, tenant, member_id: str) -> dict[str, Any]:
    r = http.get(f"/v1/members/{member_id}/points", tenant.key)
    assert r.status == 200, r
    return r.json


def entries(http, tenant, member_id: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        r = http.get(f"/v1/members/{member_id}/points/ledger?limit=50" + (f"&cursor={cursor}" if cursor else ""),
                     tenant.key)
        assert r.status == 200, r
        out += r.json["data"]
        cursor = r.json.get("next_cursor")
        if not cursor:
            return out


def points_items(tenant_id: str) -> list[dict[str, Any]]:
    """Every points item of the tenant (members' POINTS#..., rewards, counters): for "nothing written"."""
    return sorted((i for i in table_items(f"T#{tenant_id}#")
                   if i["sk"]["S"].startswith("POINTS#") or "REWARDS" in i["pk"]["S"] or "#CNT#points" in i["pk"]["S"]),
                  key=lambda i: (i["pk"]["S"], i["sk"]["S"]))
