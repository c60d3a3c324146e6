"""The guides' board (``GET /v1/analytics/guides``) equals a recount of the raw items on
generated data: sign-ups, transfers, tasks done / expired / converted, orders inside and
outside the attribution window, members without a guide."""
from __future__ import annotations

import random
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from tests.fixtures import make_tenant, table_items
from tests.integration.guides_support import make_guide, make_store, order, send, signup

T0 = datetime(2026, 5, 1, 2, 0, tzinfo=timezone.utc)
TZ = "Asia/Shanghai"


def _month(iso: str) -> str:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(ZoneInfo(TZ)).strftime("%Y-%m")


def _parse(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def recount(tenant_id: str, month: str, attribution_days: int) -> dict[str, dict[str, int]]:
    """The board's numbers from the items themselves (owners, history, tasks, orders)."""
    rows: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    history: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    done_tasks: dict[str, list[tuple[str, str]]] = defaultdict(list)
    orders = []
    for item in table_items(f"T#{tenant_id}#"):
        sk, kind = item["sk"]["S"], item["item_type"]["S"]
        member = item["pk"]["S"].rsplit("#", 1)[-1]
        if kind == "guide_owner" and "guide_id" in item:
            rows[item["guide_id"]["S"]]["members_total"] += 1
        elif kind == "guide_history":
            history[member].append((item["at"]["S"], item["entry_id"]["S"], item["to_guide_id"]["S"]))
            if _month(item["at"]["S"]) == month:
                rows[item["to_guide_id"]["S"]]["members_new"] += 1
        elif kind == "guide_task" and item.get("guide_id", {}).get("S") and item["status"]["S"] in ("done", "expired"):
            if item["status"]["S"] == "done":
                done_tasks[item["member_id"]["S"]].append((item["closed_at"]["S"], item["guide_id"]["S"]))
            if _month(item["closed_at"]["S"]) == month:
                rows[item["guide_id"]["S"]][f"tasks_{item['status']['S']}"] += 1
        elif kind == "order" and sk.startswith("ORDER#"):
            orders.append((member, item["occurred_at"]["S"], int(item["amount"]["N"])))
    for member, at, amount in orders:
        if _month(at) != month:
            continue
        served = [g for when, _, g in sorted(history[member]) if when <= at]
        if served:
            rows[served[-1]]["orders"] += 1
            rows[served[-1]]["revenue"] += amount
        window = [(when, g) for when, g in sorted(done_tasks[member])
                  if _parse(at) - timedelta(days=attribution_days) <= _parse(when) <= _parse(at)]
        if window:
            rows[window[-1][1]]["task_revenue"] += amount
    return {g: dict(r) for g, r in rows.items()}


def test_the_board_equals_a_recount_on_generated_data(http, admin_token, clock):
    rng = random.Random(12)
    clock.now = T0
    tenant = make_tenant(http, admin_token)
    store = make_store(http, tenant, tz=TZ, task_pool=True)
    guides = [make_guide(http, tenant, store, n) for n in ("Ann", "Bob", "Cy")]
    members = [signup(http, tenant, f"1360000{n:04d}", rng.choice(guides).code if n % 5 else None)
               for n in range(15)]
    clock.advance(minutes=5)
    for m in rng.sample(members, 4):  # some transfers
        r = http.call("PUT", f"/v1/members/{m}/guide", tenant.key,
                      json_body={"guide_id": rng.choice(guides).id, "reason": "rebalance"})
        assert r.status == 200, r
    tasks = []
    for day in range(1, 6):
        for m in rng.sample(members, 5):
            r = http.post("/v1/tasks", tenant.key, {"member_id": m, "kind": "call", "title": "Call",
                                                    "due_date": f"2026-05-{day:02d}"})
            assert r.status == 201, r
            tasks.append(r.json)
    for t in rng.sample(tasks, 10):
        http.post(f"/v1/tasks/{t['id']}/complete", tenant.key, {"outcome": rng.choice(["reached", "declined"])})
    clock.advance(days=2)
    send(http, tenant, *[order(m, f"a{n}", rng.randrange(1, 500) * 100) for n, m in enumerate(rng.sample(members, 6))])
    clock.advance(days=4)
    assert http.schedule("task_expiry")["expired"] > 0
    clock.advance(days=6)  # past the window of the tasks done on day 1
    send(http, tenant, *[order(m, f"b{n}", rng.randrange(1, 500) * 100) for n, m in enumerate(rng.sample(members, 6))])

    board = http.get("/v1/analytics/guides?month=2026-05", tenant.key).json
    expected = recount(tenant.id, "2026-05", board["attribution_days"])
    fields = ("members_total", "members_new", "tasks_done", "tasks_expired", "orders", "revenue", "task_revenue")
    got = {r["guide_id"]: {f: r[f] for f in fields if r[f]} for r in board["data"]}
    assert got == {g.id: expected.get(g.id, {}) for g in guides}
    assert sum(r["tasks_done"] + r["tasks_expired"] for r in board["data"]) > 0
    assert sum(r["task_revenue"] for r in board["data"]) > 0  # the window was exercised
    for r in board["data"]:
        closed = r["tasks_done"] + r["tasks_expired"]
        assert r["completion_rate"] == (round(r["tasks_done"] / closed, 4) if closed else None)
    # another month has none of it; a store filter narrows to its guides
    assert all(r["orders"] == 0 for r in http.get("/v1/analytics/guides?month=2026-06", tenant.key).json["data"])
    other = make_store(http, tenant, "Empty")
    assert http.get(f"/v1/analytics/guides?month=2026-05&store={other}", tenant.key).json["data"] == []
