"""(p) Group-buys: one join of a group through the app vs the bare DynamoDB calls it needs.

A tenant of its own with one sku offer (groups of 50, a month to fill them) and fresh
members made through the API (untimed). Each measured join is a fresh member's first seat in
a group opened through the API (untimed; a new group every 49 joins).

app  = ``POST /v1/groups/{code}/members``: reads the group, the member, the offer, one
       TransactWriteItems (the group's seat count conditioned on ``joined < size``, the
       member's seat, the member's per-offer count, the joined counter), then the group as
       answered (the group item and one Query of its members).
bare = those DynamoDB requests (captured once), replayed with plain boto3 for another
       member and another group (only the member id and the code differ; same lengths).
Capacity units are DynamoDB Local's ConsumedCapacity of the bare replay (the same requests).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .api import App, member_body
from .dynamo import Bare, Request, captured
from .report import fmt, heading, median, p90, progress, ratio, table

WARMUP = 10
ITERATIONS = 100
SEATS = 49  # a group of 50 takes 49 joiners after its leader
OFFER = {"name": "Bench trio", "sku": "serum-30ml", "group_price": 9900, "currency": "CNY", "group_size": 50,
         "time_limit_minutes": 43200, "per_member_limit": 100}


@dataclass
class GroupFigures:
    template: list[Request] = field(default_factory=list)
    join_ms: list[float] = field(default_factory=list)
    bare_ms: list[float] = field(default_factory=list)
    units: list[float] = field(default_factory=list)


class _Groups:
    """Groups with free seats, opened through the API as they fill (untimed)."""

    def __init__(self, api: App, offer_id: str, members: Any) -> None:
        self.api, self.offer_id, self.members = api, offer_id, members
        self.code, self.free = "", 0

    def seat(self) -> str:
        if self.free == 0:
            _, leader = self.api.create(member_body(self.members()))
            _, opened = self.api.call("post", f"/v1/group-offers/{self.offer_id}/groups", {"leader_id": leader},
                                      expected=201)
            self.code, self.free = opened["code"], SEATS
        self.free -= 1
        return self.code


def run_groupbuys(client: Any, admin_token: str, app_ddb: Any, bare_ddb: Any) -> GroupFigures:
    api = App(client)
    api.create_tenant(admin_token, name="Bench Group-buys")
    _, offer = api.call("post", "/v1/group-offers", OFFER, expected=201)
    progress(f"group-buys setup: {2 * (WARMUP + ITERATIONS) + 2} members and their groups through the API")
    counter = iter(range(10**6))

    def phone() -> str:
        return f"+86137{next(counter):08d}"

    app_groups, bare_groups = _Groups(api, offer["id"], phone), _Groups(api, offer["id"], phone)
    fig = GroupFigures()
    _, member = api.create(member_body(phone()))
    api.call("post", f"/v1/groups/{app_groups.seat()}/members", {"member_id": member})  # warms the caches
    _, member = api.create(member_body(phone()))
    code = app_groups.seat()
    with captured(app_ddb) as calls:
        api.call("post", f"/v1/groups/{code}/members", {"member_id": member})
    fig.template = calls
    bare = Bare(bare_ddb, calls)
    for n in range(WARMUP + ITERATIONS):
        _, app_member = api.create(member_body(phone()))
        _, bare_member = api.create(member_body(phone()))
        app_code, bare_code = app_groups.seat(), bare_groups.seat()
        requests = bare.build({member: bare_member, code: bare_code})
        ms, _ = api.call("post", f"/v1/groups/{app_code}/members", {"member_id": app_member})
        result = bare.run(requests)
        if n >= WARMUP:
            fig.join_ms.append(ms)
            fig.bare_ms.append(result.total_ms)
            fig.units.append(sum(result.units))
    return fig


def print_groupbuys(fig: GroupFigures) -> None:
    print(heading("(p) Group-buys: a join of a group vs its bare DynamoDB calls"))
    print(f"  {ITERATIONS} measured after {WARMUP} warm-up per side, one at a time, sides interleaved; every\n"
          "  join is a fresh member's first seat (groups of 50, opened untimed as they fill).\n"
          "  join app  = POST /v1/groups/{code}/members (reads: group, member, offer; one TransactWriteItems:\n"
          "              seat count conditioned on joined < size, the member's seat, its per-offer count,\n"
          "              the joined counter; then the group as answered).\n"
          "  join bare = those DynamoDB requests (captured), replayed with plain boto3 for another member/group.\n")
    a, b = fig.join_ms, fig.bare_ms
    units = fmt(median(fig.units)) if fig.units else "-"
    rows = [["join app", str(len(fig.template)), fmt(median(a)), fmt(p90(a)), units, ""],
            ["join bare", str(len(fig.template)), fmt(median(b)), fmt(p90(b)), units, ratio(median(a), median(b))]]
    print(table(["side", "DDB calls", "median ms", "p90 ms", "units/op", "app/bare (medians)"], rows,
                align="lrrrrr"))
    print(f"\n  Its DynamoDB calls: {', '.join(op for op, _ in fig.template)}.")
