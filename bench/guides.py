"""(n) Guides: a guide's daily task list (``GET /v1/guides/me/tasks?due=today``) at 100 and
at 10,000 tasks in the tenant (time and read units: flat, one Query of the key (guide, local
day)), and a task completion (``POST /v1/tasks/{id}/complete``) vs its bare writes.

A tenant of its own: a store (Asia/Shanghai), a guide linked to a console user, one member
signed up through the guide's code, 20 tasks due today for that guide made through the API.
The rest of the tenant's tasks (other guides and days) are written raw (``bench/seed.py``'s
Writer) in the shape the app writes them (serialized by its own model).

The bare side of a completion replays the app's captured TransactWriteItems (task closed,
open-task pointer deleted, done counter, latest-done item) for another open task of the
same member: only the task id differs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .api import App
from .dynamo import Bare, captured
from .report import fmt, heading, median, p90, progress, ratio, table
from .seed import Writer

TODAY_TASKS = 20
SIZES = (100, 10_000)
READS = 30
COMPLETIONS = 20


@dataclass
class GuideFigures:
    list_ms: dict[int, list[float]] = field(default_factory=dict)
    list_rcu: dict[int, list[float]] = field(default_factory=dict)
    list_calls: dict[int, dict[str, int]] = field(default_factory=dict)
    app_ms: list[float] = field(default_factory=list)
    app_wcu: list[float] = field(default_factory=list)
    app_rcu: list[float] = field(default_factory=list)
    app_calls: dict[str, int] = field(default_factory=dict)
    bare_ms: list[float] = field(default_factory=list)
    bare_units: list[float] = field(default_factory=list)


def _raw_tasks(tenant_id: str, store_id: str, member_id: str, n: int, offset: int) -> list[dict[str, Any]]:
    from chalicelib.core.ids import new_id
    from chalicelib.core.table import keys
    from chalicelib.guides.store import TaskItem

    items = []
    for k in range(n):
        task_id, guide = new_id(), f"OTHERGUIDE{(offset + k) % 50:016d}"
        day = f"2026-{1 + (offset + k) % 12:02d}-{1 + (offset + k) % 28:02d}"
        item = TaskItem(keys.task(tenant_id, task_id), keys.TASK_SK, task_id=task_id, member_id=member_id,
                        guide_id=guide, store_id=store_id, kind="call", title="Call", due_date=day,
                        due_at=f"{day}T16:00:00.000Z", expires_at=f"{day}T23:00:00.000Z",
                        cause={"type": "admin"}, status="done", created_at="2026-01-01T00:00:00.000Z")
        item.gsi1pk, item.gsi1sk = keys.tasks_of_day(tenant_id, guide, day), f"{item.due_at}#{task_id}"
        items.append(item.serialize())
    return items


def run_guides(client: Any, admin_token: str, app_ddb: Any, writer: Writer, issuer: Any) -> GuideFigures:
    from chalicelib.core.table.capacity import metered

    api = App(client)
    api.create_tenant(admin_token, name="Bench Guides")
    tenant_id = api.tenant_id
    _, where = api.call("post", "/v1/stores", {"name": "Bench", "timezone": "Asia/Shanghai"}, expected=201)
    _, guide = api.call("post", "/v1/guides", {"display_name": "Ann", "store_id": where["id"],
                                               "user_sub": "bench-guide"}, expected=201)
    _, member = api.call("post", "/v1/members", {"phone": "+8613200000000", "name": "Mei",
                                                 "source": {"channel": guide["channel_code"]}}, expected=201)
    from chalicelib.guides.tasks import local_day

    today = local_day("Asia/Shanghai").isoformat()
    for _ in range(TODAY_TASKS + 2 * COMPLETIONS + 2):
        api.call("post", "/v1/tasks", {"member_id": member["id"], "kind": "call", "title": "Call {{member.name}}",
                                       "due_date": today}, expected=201)
    guide_api = App(client)
    token = issuer.token("bench-guide", tenant_id=tenant_id, role="guide")
    guide_api.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    fig = GuideFigures()
    made = TODAY_TASKS + 2 * COMPLETIONS + 2
    for size in SIZES:
        if size > made:
            progress(f"guides: seeding the tenant to {size:,} tasks (raw, other guides and days)")
            writer.write(_raw_tasks(tenant_id, where["id"], member["id"], size - made, made))
            made = size
        guide_api.call("get", "/v1/guides/me/tasks?due=today")  # warm
        fig.list_ms[size], fig.list_rcu[size] = [], []
        per_read: dict[str, int] = {}
        for _ in range(READS):
            with metered(app_ddb) as usage:
                ms, listed = guide_api.call("get", "/v1/guides/me/tasks?due=today")
            if len(listed["data"]) != TODAY_TASKS + 2 * COMPLETIONS + 2:
                raise RuntimeError(f"the daily list has {len(listed['data'])} tasks")
            fig.list_ms[size].append(ms)
            fig.list_rcu[size].append(usage.read)
            per_read = usage.calls
        fig.list_calls[size] = per_read

    _, listed = guide_api.call("get", "/v1/guides/me/tasks?due=today&limit=200")
    open_ids = [t["id"] for t in listed["data"] if t["status"] == "open"]
    first, rest = open_ids[0], iter(open_ids[1:])
    with captured(app_ddb) as calls:
        guide_api.call("post", f"/v1/tasks/{first}/complete", {"outcome": "reached"})
    bare = Bare(app_ddb, [c for c in calls if c[0] == "TransactWriteItems"])
    progress(f"guides: {COMPLETIONS} task completions through the app and {COMPLETIONS} bare replays of their writes")
    for _ in range(COMPLETIONS):
        app_task, bare_task = next(rest), next(rest)
        requests = bare.build({first: bare_task})
        with metered(app_ddb) as usage:
            ms, _ = guide_api.call("post", f"/v1/tasks/{app_task}/complete", {"outcome": "reached"})
        result = bare.run(requests)
        fig.app_ms.append(ms)
        fig.app_wcu.append(usage.write)
        fig.app_rcu.append(usage.read)
        fig.app_calls = usage.calls
        fig.bare_ms.append(result.total_ms)
        fig.bare_units.append(sum(result.units))
    return fig


def print_guides(fig: GuideFigures) -> None:
    print(heading("(n) Guides: the daily task list at 100 vs 10,000 tasks; a task completion vs its bare writes"))
    print(f"  One guide with {TODAY_TASKS + 2 * COMPLETIONS + 2} tasks due today; the tenant's other tasks belong to "
          "other guides and days.\n"
          f"  {READS} reads of GET /v1/guides/me/tasks?due=today (as the guide's console user) per tenant size.\n")
    rows = []
    for size in SIZES:
        calls = ", ".join(f"{op} x{c}" for op, c in sorted(fig.list_calls[size].items()))
        rows.append([f"{size:,}", calls, fmt(median(fig.list_ms[size])), fmt(p90(fig.list_ms[size])),
                     fmt(median(fig.list_rcu[size]), 1)])
    print(table(["tasks in tenant", "DynamoDB calls per read", "median ms", "p90 ms", "RCU"], rows, align="rlrrr"))
    small, big = SIZES
    print(f"\n  10,000 / 100: time {ratio(median(fig.list_ms[big]), median(fig.list_ms[small]))}, "
          f"read units {ratio(median(fig.list_rcu[big]), median(fig.list_rcu[small]))}.")
    print(f"\n  Task completion, {COMPLETIONS} each: app = POST /v1/tasks/{{id}}/complete as the guide; "
          "bare = the app's TransactWriteItems replayed for another task.\n")
    calls = ", ".join(f"{op} x{c}" for op, c in sorted(fig.app_calls.items()))
    rows = [["app", calls, fmt(median(fig.app_ms)), fmt(p90(fig.app_ms)), fmt(median(fig.app_rcu), 1),
             fmt(median(fig.app_wcu), 1)],
            ["bare", "TransactWriteItems x1", fmt(median(fig.bare_ms)), fmt(p90(fig.bare_ms)), "",
             fmt(median(fig.bare_units), 1)]]
    print(table(["side", "DynamoDB calls", "median ms", "p90 ms", "RCU", "WCU / CU"], rows, align="llrrrr"))
    print(f"\n  app/bare (medians): {ratio(median(fig.app_ms), median(fig.bare_ms))}; the app also reads the guide "
          "link, the guide, the task (consistent) before writing.")
