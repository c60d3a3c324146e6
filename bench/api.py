"""The app side of the bench: HTTP through the real app via Chalice's local gateway (what
the tests use), checking only that each request did what it should, so no figure
describes an error path."""
from __future__ import annotations

import json
import time
from typing import Any

#: bench tenants get the largest plan: the bench moves the app clock (frozen or virtual time
#: refills no throttle bucket), and it measures the app, not its throttle (core.throttle)
TENANT = {"name": "Bench", "timezone": "Asia/Shanghai", "currency": "CNY", "default_country": "CN",
          "rate_limit_per_second": 100_000}
#: two tiers, so every event runs the tier evaluation (thresholds in minor units)
TIER_PROGRAM = {"tiers": [{"id": "silver", "name": "Silver", "threshold": 100000},
                          {"id": "gold", "name": "Gold", "threshold": 500000}]}


class App:
    def __init__(self, client: Any) -> None:
        self.client = client
        self.headers: dict[str, str] = {}
        self.tenant_id = ""

    def create_tenant(self, admin_token: str, **settings: Any) -> dict[str, Any]:
        r = self.client.http.post("/v1/admin/tenants", body=json.dumps({**TENANT, **settings}), headers={
            "Authorization": f"Bearer {admin_token}", "Content-Type": "application/json"})
        if r.status_code != 201:
            raise RuntimeError(f"creating a bench tenant answered {r.status_code}: {r.body[:500]!r}")
        created = json.loads(r.body)
        self.tenant_id = created["tenant"]["id"]
        self.headers = {"Authorization": f"Bearer {created['api_key']['secret']}",
                        "Content-Type": "application/json"}
        return created

    def create(self, body: str) -> tuple[float, str]:
        t0 = time.perf_counter()
        r = self.client.http.post("/v1/members", body=body, headers=self.headers)
        elapsed = (time.perf_counter() - t0) * 1000
        if r.status_code != 201:
            raise RuntimeError(f"POST /v1/members answered {r.status_code}: {r.body[:500]!r}")
        return elapsed, json.loads(r.body)["id"]

    def get(self, member_id: str) -> float:
        path = f"/v1/members/{member_id}"
        t0 = time.perf_counter()
        r = self.client.http.get(path, headers=self.headers)
        elapsed = (time.perf_counter() - t0) * 1000
        if r.status_code != 200:
            raise RuntimeError(f"GET {path} answered {r.status_code}: {r.body[:500]!r}")
        return elapsed

    def put_tier_program(self, program: dict[str, Any]) -> str:
        """Saves the program; returns the id of the re-evaluation job it starts."""
        r = self.client.http.put("/v1/tier-program", body=json.dumps(program), headers=self.headers)
        if r.status_code != 202:
            raise RuntimeError(f"PUT /v1/tier-program answered {r.status_code}: {r.body[:500]!r}")
        return json.loads(r.body)["job"]["id"]

    def events(self, body: str, expected: int = 1) -> tuple[float, list[dict[str, Any]]]:
        """POST /v1/events; every event must be accepted. (ms, per-event results)"""
        t0 = time.perf_counter()
        r = self.client.http.post("/v1/events", body=body, headers=self.headers)
        elapsed = (time.perf_counter() - t0) * 1000
        if r.status_code != 200:
            raise RuntimeError(f"POST /v1/events answered {r.status_code}: {r.body[:500]!r}")
        answer = json.loads(r.body)
        if answer["accepted"] != expected:
            bad = [x for x in answer["results"] if x["status"] != "accepted"][:3]
            raise RuntimeError(f"POST /v1/events accepted {answer['accepted']} of {expected}: {bad}")
        return elapsed, answer["results"]

    def call(self, method: str, path: str, body: Any = None, expected: int = 200) -> tuple[float, Any]:
        """Any request; its status must be ``expected``. (ms, parsed JSON body or None)"""
        kwargs: dict[str, Any] = {"headers": self.headers}
        if body is not None:
            kwargs["body"] = json.dumps(body)
        t0 = time.perf_counter()
        r = getattr(self.client.http, method.lower())(path, **kwargs)
        elapsed = (time.perf_counter() - t0) * 1000
        if r.status_code != expected:
            raise RuntimeError(f"{method.upper()} {path} answered {r.status_code} (expected {expected}): "
                               f"{r.body[:500]!r}")
        return elapsed, (json.loads(r.body) if r.body else None)


def member_body(phone: str) -> str:
    return json.dumps({"phone": phone, "name": "Bench Member"})
