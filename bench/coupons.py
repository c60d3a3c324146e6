"""(j) Coupons: one redemption through the app vs the bare DynamoDB calls it needs, and an
``order.paid`` event that redeems a coupon in its own transaction vs the same event
without one.

A tenant of its own with one template (50 off, no minimum, no category scope, no budget:
the common case) and fresh members made through the API, each holding one coupon issued
through the API (untimed). Every measured operation is a member's first: a first
redemption of a fresh coupon, a first order.

Redemption: app = ``POST /v1/coupons/redeem``. bare = the app's DynamoDB requests for one
redemption (captured: the reads, the TransactWriteItems, the after-commit delivery of its
``coupon.redeemed`` signal), replayed with a plain boto3 client for another member's fresh
coupon (only the code, the member id and the order id differ; same lengths).

Order events: app = ``POST /v1/events`` with one order.paid, with ``coupon_codes`` naming
the member's coupon or without; both sides through the app, interleaved.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .api import App, member_body
from .dynamo import Bare, Request, captured
from .report import fmt, heading, median, p90, progress, ratio, table

WARMUP = 10
ITERATIONS = 100
TEMPLATE = {"name": "Bench 50 off", "benefit": {"type": "fixed", "amount_off": 5000}, "currency": "CNY",
            "validity": {"type": "days_from_issue", "days": 30}}
AMOUNT = 29900


@dataclass
class CouponFigures:
    template: list[Request] = field(default_factory=list)
    redeem_ms: list[float] = field(default_factory=list)
    bare_ms: list[float] = field(default_factory=list)
    with_ms: list[float] = field(default_factory=list)
    without_ms: list[float] = field(default_factory=list)
    with_calls: int = 0
    without_calls: int = 0


def _holder(api: App, n: int, template_id: str) -> tuple[str, str]:
    """A fresh member with one fresh coupon: (member id, code)."""
    _, member_id = api.create(member_body(f"+86135{n:08d}"))
    _, coupon = api.call("post", f"/v1/members/{member_id}/coupons", {"template_id": template_id}, expected=201)
    return member_id, coupon["code"]


def _redeem_body(member_id: str, code: str, order_id: str) -> dict[str, Any]:
    return {"code": code, "member_id": member_id, "order_id": order_id, "currency": "CNY",
            "lines": [{"sku": "serum-30ml", "category": "skincare", "amount": AMOUNT, "quantity": 1}]}


def _order(member_id: str, order_id: str, codes: list[str]) -> str:
    event: dict[str, Any] = {"type": "order.paid", "event_id": f"ev-{order_id}", "member": {"id": member_id},
                             "order_id": order_id, "amount": AMOUNT, "currency": "CNY",
                             "items": [{"sku": "serum-30ml", "category": "skincare", "qty": 1, "unit_price": AMOUNT}]}
    if codes:
        event["coupon_codes"] = codes
    return json.dumps(event)


def run_coupons(client: Any, admin_token: str, app_ddb: Any, bare_ddb: Any) -> CouponFigures:
    api = App(client)
    api.create_tenant(admin_token, name="Bench Coupons")
    _, template = api.call("post", "/v1/coupon-templates", TEMPLATE, expected=201)
    total = 2 * (WARMUP + ITERATIONS) + 2 + 2 * (WARMUP + ITERATIONS)
    progress(f"coupons setup: {total} members through the API, most holding a coupon")
    counter = iter(range(10**6))
    fig = CouponFigures()

    # redemption: capture one, then app and bare interleaved
    member, code = _holder(api, next(counter), template["id"])
    api.call("post", "/v1/coupons/redeem", _redeem_body(member, code, f"o{0:011d}"))  # warms the key's caches
    member, code = _holder(api, next(counter), template["id"])
    captured_order = f"o{1:011d}"
    with captured(app_ddb) as calls:
        api.call("post", "/v1/coupons/redeem", _redeem_body(member, code, captured_order))
    fig.template = calls
    bare = Bare(bare_ddb, calls)
    for n in range(WARMUP + ITERATIONS):
        app_member, app_code = _holder(api, next(counter), template["id"])
        bare_member, bare_code = _holder(api, next(counter), template["id"])
        requests = bare.build({code: bare_code, member: bare_member, captured_order: f"b{n:011d}"})
        ms, _ = api.call("post", "/v1/coupons/redeem", _redeem_body(app_member, app_code, f"a{n:011d}"))
        result = bare.run(requests)
        if n >= WARMUP:
            fig.redeem_ms.append(ms)
            fig.bare_ms.append(result.total_ms)

    # order events with and without a coupon, interleaved (alternating which goes first)
    progress("coupons: order events with and without a coupon")
    for n in range(WARMUP + ITERATIONS + 1):
        with_member, with_code = _holder(api, next(counter), template["id"])
        _, without_member = api.create(member_body(f"+86135{next(counter):08d}"))
        sends = [("with", with_member, [with_code]), ("without", without_member, [])]
        if n % 2:
            sends.reverse()
        for side, member_id, codes in sends:
            if n == WARMUP + ITERATIONS:  # one more, captured: how many DynamoDB calls each makes
                with captured(app_ddb) as calls:
                    api.events(_order(member_id, f"e{side}{n:08d}", codes))
                setattr(fig, f"{side}_calls", len(calls))
                continue
            ms, _ = api.events(_order(member_id, f"e{side}{n:08d}", codes))
            if n >= WARMUP:
                (fig.with_ms if side == "with" else fig.without_ms).append(ms)
    return fig


def print_coupons(fig: CouponFigures) -> None:
    print(heading("(j) Coupons: a redemption vs its bare writes; an order event with a coupon vs without"))
    print(f"  {ITERATIONS} measured after {WARMUP} warm-up per side, one at a time, sides interleaved; every\n"
          "  operation is a member's first (a fresh coupon, a first order). Template: 50 off, no minimum,\n"
          "  no scope, no budget.\n"
          "  redeem app  = POST /v1/coupons/redeem (reads the coupon and template, one TransactWriteItems:\n"
          "                coupon, redemption record, 4 counters, the coupon.redeemed event and its outbox item;\n"
          "                then the signal's delivery).\n"
          "  redeem bare = those DynamoDB requests (captured), replayed with plain boto3 for another coupon.\n")
    a, b = fig.redeem_ms, fig.bare_ms
    rows = [["redeem app", str(len(fig.template)), fmt(median(a)), fmt(p90(a)), ""],
            ["redeem bare", str(len(fig.template)), fmt(median(b)), fmt(p90(b)), ratio(median(a), median(b))]]
    print(table(["side", "DDB calls", "median ms", "p90 ms", "app/bare (medians)"], rows, align="lrrrr"))
    calls = [op for op, _ in fig.template]
    print(f"\n  Its DynamoDB calls: {', '.join(calls)}.")
    w, wo = fig.with_ms, fig.without_ms
    rows = [["order.paid without coupon", str(fig.without_calls), fmt(median(wo)), fmt(p90(wo)), ""],
            ["order.paid with 1 coupon", str(fig.with_calls), fmt(median(w)), fmt(p90(w)),
             ratio(median(w), median(wo))]]
    print()
    print(table(["POST /v1/events", "DDB calls", "median ms", "p90 ms", "with/without (medians)"], rows,
                align="lrrrr"))
    print(f"\n  The coupon adds {fmt(median(w) - median(wo))} ms (medians): two reads (coupon, template), its items\n"
          "  in the order's own transaction, and the delivery of the coupon.redeemed signal with the order's.")

