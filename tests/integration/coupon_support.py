"""Short-hands for the coupon tests: templates, members, redemptions, the tenant's items."""
from __future__ import annotations

from typing import Any

from tests.fixtures import table_items

SPEND_299_GET_50 = {
    "name": "Spend 299 get 50", "benefit": {"type": "fixed", "amount_off": 50_00}, "currency": "CNY",
    "min_spend": 299_00, "categories": ["skincare"], "validity": {"type": "days_from_issue", "days": 30},
}


def create_template(http, tenant, **overrides: Any) -> dict[str, Any]:
    r = http.post("/v1/coupon-templates", tenant.key, {**SPEND_299_GET_50, **overrides})
    assert r.status == 201, r
    return r.json


def new_member(http, tenant, phone: str) -> str:
    r = http.post("/v1/members", tenant.key, {"phone": phone})
    assert r.status in (200, 201), r
    return r.json["id"]


def issue(http, tenant, member_id: str, template_id: str) -> dict[str, Any]:
    r = http.post(f"/v1/members/{member_id}/coupons", tenant.key, {"template_id": template_id})
    assert r.status == 201, r
    return r.json


def redeem_body(code: str, member_id: str, order_id: str, amount: int = 300_00, category: str = "skincare",
                currency: str = "CNY") -> dict[str, Any]:
    return {"code": code, "member_id": member_id, "order_id": order_id, "currency": currency,
            "lines": [{"sku": "serum-30ml", "category": category, "amount": amount, "quantity": 1}]}


def tenant_items(tenant) -> list[tuple[str, str, str]]:
    """(pk, sk, the whole item) for every item of the tenant: "nothing was written" compares these."""
    return sorted((i["pk"]["S"], i["sk"]["S"], repr(sorted(i.items()))) for i in table_items(f"T#{tenant.id}#"))
