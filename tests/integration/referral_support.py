"""Short-hands for the referral tests: programs, members with and without codes, orders, reads."""
from __future__ import annotations

import itertools
from typing import Any

from tests.integration.coupon_support import create_template

_phones = itertools.count(1)


def phone() -> str:
    """A fresh valid CN mobile number per call (every test member is new unless it reuses one)."""
    return f"1390014{next(_phones):04d}"


def program(http, tenant, **overrides: Any) -> dict[str, Any]:
    body = {"name": "Bring a friend", "referrer_reward": {"type": "points", "points": 100},
            "referee_reward": {"type": "none"}, "conversion": {"type": "first_order", "min_amount": 100_00},
            "share_url_template": "https://brand.example/r/{code}", **overrides}
    r = http.post("/v1/referral-programs", tenant.key, body)
    assert r.status == 201, r
    return r.json


def coupon_template(http, tenant) -> str:
    return create_template(http, tenant, min_spend=0, categories=[])["id"]


def member(http, tenant, **body: Any) -> dict[str, Any]:
    r = http.post("/v1/members", tenant.key, {"phone": phone(), **body})
    assert r.status in (200, 201), r
    return r.json


def code_of(http, tenant, member_id: str, program_id: str) -> dict[str, Any]:
    r = http.get(f"/v1/members/{member_id}/referral?program={program_id}", tenant.key)
    assert r.status == 200, r
    return r.json


def referral_of(http, tenant, member_id: str) -> dict[str, Any]:
    """The referral recorded for a referee, found through its timeline event."""
    events = [e for e in timeline(http, tenant, member_id) if e["type"].startswith("referral.")
              and e["data"]["role"] == "referee"]
    assert events, "no referral event on the referee's timeline"
    r = http.get(f"/v1/referrals/{events[0]['data']['referral_id']}", tenant.key)
    assert r.status == 200, r
    return r.json


def referral_events(http, tenant, member_id: str) -> list[str]:
    return sorted(e["type"] for e in timeline(http, tenant, member_id) if e["type"].startswith("referral."))


def timeline(http, tenant, member_id: str) -> list[dict[str, Any]]:
    r = http.get(f"/v1/members/{member_id}/timeline?limit=200", tenant.key)
    assert r.status == 200, r
    return r.json["data"]


def paid(http, tenant, member_id: str, order_id: str, amount: int) -> None:
    send(http, tenant, {"type": "order.paid", "event_id": f"e-{order_id}", "member": {"id": member_id},
                        "order_id": order_id, "amount": amount, "currency": "CNY"})


def refunded(http, tenant, member_id: str, order_id: str, amount: int) -> None:
    send(http, tenant, {"type": "order.refunded", "event_id": f"r-{order_id}", "member": {"id": member_id},
                        "order_id": order_id, "amount": amount})


def send(http, tenant, *events: dict[str, Any]) -> None:
    r = http.post("/v1/events", tenant.key, {"events": list(events)})
    assert r.status == 200 and all(x["status"] == "accepted" for x in r.json["results"]), r


def points(http, tenant, member_id: str) -> int:
    r = http.get(f"/v1/members/{member_id}/points", tenant.key)
    assert r.status == 200, r
    return int(r.json["available"])


def coupons(http, tenant, member_id: str) -> list[dict[str, Any]]:
    r = http.get(f"/v1/members/{member_id}/coupons", tenant.key)
    assert r.status == 200, r
    return r.json["data"]
