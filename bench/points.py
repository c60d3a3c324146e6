"""(k) Points: an order event with points earning vs the same event without, a redemption
vs its bare writes, and the expiry pass's lots per second.

* Earning: two tenants, the same tier program; one has a points program (1 point per
  yuan, a category multiplier, 30-day expiry), the other none. Each sends ``order.paid``
  events for its own pool of members, interleaved (alternating which goes first), so the
  ratio is what earning adds: the receiver's reads, a second transaction (balance, ledger
  entry, order record, counters, and the ``points.earned`` domain event's claim, timeline
  entry and outbox item), and that outbox item's delivery.
* Redemption: ``POST /v1/members/{id}/points/redemptions`` of 1 point from a large balance
  vs the TransactWriteItems it commits (captured once), replayed with a plain boto3 client
  against a bench-only member whose balance version the bench tracks, with new ids.
* Expiry: N members with 2 lots each, the clock moved past their expiry, then
  ``expiry.run_tenant`` (a Query per due-list shard, then a transaction per member).
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from .api import TIER_PROGRAM, App, member_body
from .dynamo import Bare, captured
from .report import fmt, heading, median, p90, progress, ratio, table

WARMUP = 10
ITERATIONS = 100
POOL = 10
EXPIRY_MEMBERS = 200
PROGRAM = {"order_earning": {"points_per_unit": 1, "unit": 100, "category_multipliers": {"perfume": 1.5}},
           "expiry": {"type": "days", "days": 30}}
_ULID = re.compile(r"\b[0-9A-HJKMNP-TV-Z]{26}\b")


@dataclass
class PointsFigures:
    with_ms: list[float] = field(default_factory=list)
    without_ms: list[float] = field(default_factory=list)
    redeem_ms: list[float] = field(default_factory=list)
    bare_ms: list[float] = field(default_factory=list)
    redeem_calls: int = 0
    template_items: int = 0
    lots_expired: int = 0
    expiry_members: int = 0
    expiry_s: float = 0.0


def _order(n: int, side: str, member_id: str) -> str:
    return json.dumps({"type": "order.paid", "event_id": f"pt-{side}-{n:08d}", "member": {"id": member_id},
                       "order_id": f"po-{side}-{n:08d}", "amount": 1999, "currency": "CNY",
                       "items": [{"sku": "s", "category": "perfume", "qty": 1, "unit_price": 1999}]})


def _pool(api: App, prefix: str) -> list[str]:
    return [api.create(member_body(f"+86{prefix}{n:08d}"))[1] for n in range(POOL)]


def _fresh_ids(requests: list[dict[str, Any]], keep: set[str]) -> list[dict[str, Any]]:
    """The captured transaction with every new id (entry, redemption, outbox) replaced by a new one."""
    from chalicelib.core.ids import new_id

    text = json.dumps(requests)
    found = {u for u in _ULID.findall(text) if u not in keep}
    for old in found:
        text = text.replace(old, new_id())
    out: list[dict[str, Any]] = json.loads(text)
    return out


def run_points(client: Any, admin_token: str, app_ddb: Any, bare_ddb: Any) -> PointsFigures:
    from chalicelib.core import clock
    from chalicelib.loyalty.points import expiry

    fig = PointsFigures()
    plain, earning = App(client), App(client)
    for api in (plain, earning):
        api.create_tenant(admin_token)
        api.put_tier_program(TIER_PROGRAM)
    earning.call("PUT", "/v1/points-program", PROGRAM)
    progress("points (k): order events with and without points earning")
    pools = {"p": _pool(plain, "135"), "e": _pool(earning, "133")}
    for n in range(WARMUP + ITERATIONS):
        sides = [("p", plain, fig.without_ms), ("e", earning, fig.with_ms)]
        for side, api, out in (sides if n % 2 else sides[::-1]):
            ms, _ = api.events(_order(n, side, pools[side][n % POOL]))
            if n >= WARMUP:
                out.append(ms)

    progress("points (k): redemptions vs their bare writes")
    spender, bare_member = pools["e"][0], pools["e"][1]
    for m in (spender, bare_member):
        earning.call("POST", f"/v1/members/{m}/points/adjustments", {"points": 10**8, "reason": "bench"}, 201)
    path = f"/v1/members/{spender}/points/redemptions"
    with captured(app_ddb) as calls:
        earning.call("POST", path, {"points": 1, "reason": "bench"}, 201)
    fig.redeem_calls = len(calls)
    tx = [params for op, params in calls if op == "TransactWriteItems"][0]
    fig.template_items = len(tx["TransactItems"])
    template = json.loads(json.dumps(tx).replace(spender, bare_member))
    balance_key = {"pk": {"S": f"T#{earning.tenant_id}#M#{bare_member}"}, "sk": {"S": "POINTS#BALANCE"}}
    version = int(bare_ddb.get_item(TableName=tx["TransactItems"][0].get("Put", tx["TransactItems"][0].get(
        "Update", {})).get("TableName"), Key=balance_key, ConsistentRead=True)["Item"]["version"]["N"])
    bare = Bare(bare_ddb, [("TransactWriteItems", template)])
    for n in range(WARMUP + ITERATIONS):
        t0 = time.perf_counter()
        earning.call("POST", path, {"points": 1, "reason": "bench"}, 201)
        app_ms = (time.perf_counter() - t0) * 1000
        request = _fresh_ids([template], {earning.tenant_id, bare_member, spender})[0]
        for item in request["TransactItems"]:
            put = item.get("Put")
            if put and put["Item"].get("sk", {}).get("S") == "POINTS#BALANCE":
                put["Item"]["version"] = {"N": str(version + 1)}
                for key, value in put.get("ExpressionAttributeValues", {}).items():
                    if "N" in value:
                        put["ExpressionAttributeValues"][key] = {"N": str(version)}
        result = bare.run([request])
        version += 1
        if n >= WARMUP:
            fig.redeem_ms.append(app_ms)
            fig.bare_ms.append(result.total_ms)

    progress(f"points (k): the expiry pass over {EXPIRY_MEMBERS} members with 2 lots each")
    start = clock.now()
    people = [earning.create(member_body(f"+86134{n:08d}"))[1] for n in range(EXPIRY_MEMBERS)]
    later = start + timedelta(days=31, hours=2)
    try:
        for hours in (0, 1):  # two lots per member, with two expiry times
            moment = start + timedelta(hours=hours)
            clock.set_clock(lambda moment=moment: moment)  # type: ignore[misc]
            for m in people:
                earning.call("POST", f"/v1/members/{m}/points/adjustments", {"points": 10, "reason": "bench"}, 201)
        clock.set_clock(lambda: later)
        t0 = time.perf_counter()
        tally = expiry.run_tenant(earning.tenant_id, later)  # the pass alone is timed
        fig.expiry_s = time.perf_counter() - t0
        fig.lots_expired, fig.expiry_members = tally.lots_expired, tally.members
    finally:
        clock.set_clock(None)
    return fig


def print_points(fig: PointsFigures) -> None:
    print(heading("(k) Points: an order event with earning vs without, a redemption vs its bare writes, expiry"))
    print(f"  {ITERATIONS} measured after {WARMUP} warm-up per side, interleaved. Both tenants have the same tier\n"
          "  program; 'with' also has a points program (1 point per yuan, category multiplier, 30-day expiry).\n"
          f"  A redemption's transaction holds {fig.template_items} items; the app makes {fig.redeem_calls} "
          "DynamoDB calls for it\n  (auth, member, program, balance, the transaction, the domain event's "
          "outbox delivery).\n")
    a, b = fig.with_ms, fig.without_ms
    r, w = fig.redeem_ms, fig.bare_ms
    rows = [["order.paid with points", fmt(median(a)), fmt(p90(a)), ratio(median(a), median(b))],
            ["order.paid without", fmt(median(b)), fmt(p90(b)), ""],
            ["redemption (app)", fmt(median(r)), fmt(p90(r)), ratio(median(r), median(w))],
            ["redemption (bare writes)", fmt(median(w)), fmt(p90(w)), ""]]
    print(table(["operation", "median ms", "p90 ms", "ratio (medians)"], rows, align="lrrr"))
    rate = fig.lots_expired / fig.expiry_s if fig.expiry_s else 0.0
    print(f"\n  Expiry pass: {fig.lots_expired} lots expired in {fig.expiry_s:.2f} s = {rate:.0f} lots/s "
          f"({fig.expiry_members} due members, one transaction each:\n  {EXPIRY_MEMBERS} with 2 lots each, "
          "and the pools above with their orders' lots).")
