"""(l) Event subscriptions: what one delivered webhook costs.

Three tenants receive the same order.paid events: one with no endpoint, one whose endpoint
wants another type (member.tag_added), one with an endpoint subscribed to order.paid on a
receiver on 127.0.0.1 (answers 200). Each POST /v1/events (one event) is metered: DynamoDB
calls, RCU and WCU, request time. The difference between the subscribed tenant and the
tenant without endpoints is the cost of one delivered webhook.
"""
from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .api import App
from .report import fmt, heading, median, ratio, table

N = 40
WARMUP = 5


@dataclass
class Case:
    name: str
    ms: list[float] = field(default_factory=list)
    read: list[float] = field(default_factory=list)
    write: list[float] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)


@dataclass
class WebhookFigures:
    cases: list[Case]
    received: int


def _receiver() -> tuple[ThreadingHTTPServer, list[int]]:
    hits: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            hits.append(1)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, hits


def run_webhooks(client: Any, admin_token: str, app_ddb: Any) -> WebhookFigures:
    from chalicelib.core.table.capacity import metered

    server, hits = _receiver()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    cases = []
    try:
        for name, types in (("no endpoint", None), ("endpoint for another type", ["member.tag_added"]),
                            ("1 endpoint subscribed", ["order.paid"])):
            api = App(client)
            api.create_tenant(admin_token)
            if types:
                api.call("POST", "/v1/webhook-endpoints", {"url": url, "event_types": types}, expected=201)
            _, member = api.call("POST", "/v1/members", {"phone": "+8613800138000"}, expected=201)
            case = Case(name)
            for n in range(WARMUP + N):
                event = {"type": "order.paid", "event_id": f"w-{n}", "member": {"id": member["id"]},
                         "order_id": f"o-{n}", "amount": 100_00, "currency": "CNY"}
                body = json.dumps({"events": [event]})
                with metered(app_ddb) as usage:
                    ms, _ = api.events(body)
                if n >= WARMUP:
                    case.ms.append(ms)
                    case.read.append(usage.read)
                    case.write.append(usage.write)
                    case.calls.update(usage.calls)
            cases.append(case)
    finally:
        server.shutdown()
        server.server_close()
    return WebhookFigures(cases, len(hits))


def print_webhooks(fig: WebhookFigures) -> None:
    print(heading("(l) Event subscriptions: one order.paid event, with and without a subscribed endpoint"))
    print(f"  {N} events per tenant (after {WARMUP} unmeasured), one POST /v1/events each, metered in the\n"
          "  request's thread (the fast-path delivery runs there too); the receiver answers 200 on 127.0.0.1.\n")
    rows = []
    for case in fig.cases:
        calls = ", ".join(f"{op} {count / N:.2g}" for op, count in sorted(case.calls.items()))
        rows.append([case.name, calls, fmt(median(case.read), 1), fmt(median(case.write), 1),
                     fmt(median(case.read) + median(case.write), 1), fmt(median(case.ms))])
    print(table(["tenant", "DynamoDB calls per event (mean)", "RCU", "WCU", "total CU", "request ms"], rows,
                align="llrrrr"))
    none, other, one = fig.cases
    total = lambda c: median(c.read) + median(c.write)  # noqa: E731
    print(f"\n  one delivered webhook costs {fmt(total(one) - total(none), 1)} CU more "
          f"({fmt(median(one.read) - median(none.read), 1)} RCU, {fmt(median(one.write) - median(none.write), 1)} WCU);"
          f" ratio subscribed / none: {ratio(total(one), total(none))} in CU, {ratio(median(one.ms), median(none.ms))}"
          f" in request time.\n  An endpoint for another type costs {fmt(total(other) - total(none), 1)} CU more than"
          f" none (both read one copy of the endpoint generation).\n  Webhooks received: {fig.received}"
          f" (expected {N + WARMUP}).")
