"""Fixtures: an HTTP client over the Chalice app, and fresh tenants per test."""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from chalice.test import Client

from tests.environment import ISSUER, ROOT, TABLE_NAME
from tests.integration.servers import DDB


@dataclass
class Resp:
    status: int
    headers: dict[str, str]
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text) if self.text else None

    def __repr__(self) -> str:
        return f"<{self.status} {self.text[:300]}>"


class Http:
    """Calls the app the way API Gateway would (through Chalice's local gateway)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def call(self, method: str, path: str, token: str | None = None, json_body: Any = None,
             headers: dict[str, str] | None = None, raw: str | bytes | None = None) -> Resp:
        h = {"Content-Type": "application/json", **(headers or {})}
        if token:
            h["Authorization"] = f"Bearer {token}"
        body = raw if raw is not None else (json.dumps(json_body) if json_body is not None else b"")
        r = self._client.http.request(method, path, headers=h, body=body)
        return Resp(r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.body.decode())

    def get(self, path: str, token: str | None = None, **kw: Any) -> Resp:
        return self.call("GET", path, token, **kw)

    def post(self, path: str, token: str | None = None, body: Any = None, **kw: Any) -> Resp:
        return self.call("POST", path, token, json_body=body, **kw)

    def patch(self, path: str, token: str | None = None, body: Any = None, **kw: Any) -> Resp:
        return self.call("PATCH", path, token, json_body=body, **kw)

    def delete(self, path: str, token: str | None = None, **kw: Any) -> Resp:
        return self.call("DELETE", path, token, **kw)

    def invoke(self, function: str, payload: dict[str, Any]) -> Any:
        """Run a Lambda function or schedule handler of the app, as AWS would."""
        return self._client.lambda_.invoke(function, payload).payload

    def schedule(self, name: str, detail: dict[str, Any] | None = None) -> Any:
        """Fire a schedule the way EventBridge does (a "Scheduled Event")."""
        event = self._client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail=detail or {}, resources=[])
        return self.invoke(name, event)


@dataclass
class Tenant:
    id: str
    key: str
    settings: dict[str, Any]

    def user_token(self, role: str = "owner", subject: str = "user-1") -> str:
        return ISSUER.token(subject, tenant_id=self.id, role=role)


@pytest.fixture(scope="session")
def http() -> Iterator[Http]:
    from app import app

    with Client(app, project_dir=str(ROOT)) as client:
        yield Http(client)


@pytest.fixture(scope="session")
def admin_token() -> str:
    return ISSUER.admin_token()


def make_tenant(http: Http, admin_token: str, **settings: Any) -> Tenant:
    body = {"name": "Test Brand", "timezone": "Asia/Shanghai", "currency": "CNY", "default_country": "CN", **settings}
    r = http.post("/v1/admin/tenants", admin_token, body)
    assert r.status == 201, r
    return Tenant(id=r.json["tenant"]["id"], key=r.json["api_key"]["secret"], settings=r.json["tenant"])


@pytest.fixture
def tenant(http: Http, admin_token: str) -> Tenant:
    return make_tenant(http, admin_token)


@pytest.fixture
def other_tenant(http: Http, admin_token: str) -> Tenant:
    return make_tenant(http, admin_token, name="Other Brand")


def run_jobs() -> int:
    """Run every background job queued so far (tests decide when "later" is)."""
    from chalicelib.core.jobs.dispatch import dispatcher

    return dispatcher().drain()  # type: ignore[attr-defined]


def table_items(prefix: str) -> list[dict[str, Any]]:
    """Every raw item whose partition key starts with ``prefix`` (tests may scan)."""
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": TABLE_NAME, "ConsistentRead": True,
                              "FilterExpression": "begins_with(pk, :p)",
                              "ExpressionAttributeValues": {":p": {"S": prefix}}}
    while True:
        page = DDB.scan(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class Clock:
    """A controllable clock for the app under test (the test client runs in-process)."""

    def __init__(self, start: Any) -> None:
        self.now = start

    def advance(self, **delta: float) -> None:
        from datetime import timedelta

        self.now = self.now + timedelta(**delta)


@pytest.fixture
def clock() -> Iterator[Clock]:
    from datetime import datetime, timezone

    from chalicelib.core import clock as app_clock

    c = Clock(datetime.now(timezone.utc).replace(microsecond=0))
    app_clock.set_clock(lambda: c.now)
    yield c
    app_clock.set_clock(None)
