"""Short-hands for the group-buy tests: offers, members, groups, orders carrying a group code."""
from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

from tests.fixtures import table_items

_phones = itertools.count(1)
_events = itertools.count(1)
SKU_OFFER = {"name": "Serum for three", "sku": "serum-30ml", "group_price": 99_00, "currency": "CNY",
             "group_size": 3, "time_limit_minutes": 60}


def new_member(http, tenant) -> str:
    r = http.post("/v1/members", tenant.key, {"phone": f"139{next(_phones):08d}"})
    assert r.status in (200, 201), r
    return r.json["id"]


def create_offer(http, tenant, **overrides: Any) -> dict[str, Any]:
    r = http.post("/v1/group-offers", tenant.key, {**SKU_OFFER, **overrides})
    assert r.status == 201, r
    return r.json


def open_group(http, tenant, offer_id: str, leader: str) -> dict[str, Any]:
    r = http.post(f"/v1/group-offers/{offer_id}/groups", tenant.key, {"leader_id": leader})
    assert r.status == 201, r
    return r.json


def join(http, tenant, code: str, member: str) -> dict[str, Any]:
    r = http.post(f"/v1/groups/{code}/members", tenant.key, {"member_id": member})
    assert r.status == 200, r
    return r.json


def pay(http, tenant, member: str, code: str | None, event_id: str | None = None, amount: int = 99_00) -> Any:
    """Report an order.paid carrying the group code: the first event's result."""
    event_id = event_id or f"gb-order-{next(_events)}"
    body: dict[str, Any] = {"type": "order.paid", "event_id": event_id, "member": {"id": member},
                            "order_id": f"o-{event_id}", "amount": amount, "currency": "CNY"}
    if code is not None:
        body["group_code"] = code
    r = http.post("/v1/events", tenant.key, {"events": [body]})  # a batch: a refused event is a result, not a 422
    assert r.status == 200, r
    return r.json["results"][0]


def group(http, tenant, code: str) -> dict[str, Any]:
    r = http.get(f"/v1/groups/{code}", tenant.key)
    assert r.status == 200, r
    return r.json


def timeline_types(http, tenant, member: str, prefix: str = "group.") -> list[str]:
    r = http.get(f"/v1/members/{member}/timeline?limit=100", tenant.key)
    assert r.status == 200, r
    return sorted(e["type"] for e in r.json["data"] if e["type"].startswith(prefix))


def coupons_of(http, tenant, member: str) -> list[dict[str, Any]]:
    r = http.get(f"/v1/members/{member}/coupons", tenant.key)
    assert r.status == 200, r
    return r.json["data"]


def fire_timers(http) -> int:
    """The local timer schedule once (what ``make run`` does every minute)."""
    return http.schedule("journey_timers")["fired"]


def together(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run ``calls`` at once (threads released by one barrier); their results in order."""
    gate = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        gate.wait()
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def tenant_items(tenant) -> list[tuple[str, str, str]]:
    """(pk, sk, the whole item) for every item of the tenant: "nothing was written" compares these."""
    return sorted((i["pk"]["S"], i["sk"]["S"], repr(sorted(i.items()))) for i in table_items(f"T#{tenant.id}#"))
