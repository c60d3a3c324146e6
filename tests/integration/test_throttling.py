"""Per-tenant throttling: one tenant flooding the API gets 429 problem+json with
``Retry-After`` past its rate, while another tenant's requests at the same moment all
succeed; the limit refills with time (the app clock, moved by the test, no sleeps)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.fixtures import make_tenant

FLOOD = 12


@pytest.fixture
def threaded_app():
    """The app answering concurrent requests from threads, each with its own current
    request (as the dev server and API Gateway do; Chalice's test client alone keeps one
    per app)."""
    from chalice.local import LocalChalice

    from app import app

    original = app.__class__
    app.__class__ = type("ThreadedApp", (LocalChalice, original), {})
    try:
        yield app
    finally:
        app.__class__ = original


def _flood(http, calls):
    with ThreadPoolExecutor(max_workers=16) as pool:
        return list(pool.map(lambda c: http.get(c[0], c[1]), calls))


def test_a_flooding_tenant_gets_429_while_another_tenant_succeeds(http, admin_token, clock, threaded_app):
    # GIVEN a tenant whose plan allows 5 requests per second, and one on the default rate
    slow = make_tenant(http, admin_token, name="Small plan", rate_limit_per_second=5)
    other = make_tenant(http, admin_token, name="Other brand")
    assert slow.settings["rate_limit_per_second"] == 5 and other.settings["rate_limit_per_second"] is None
    # WHEN both send at the same instant, the first one far past its rate
    calls = [(path, t.key) for _ in range(FLOOD) for t, path in ((slow, "/v1/tenant"), (other, "/v1/tenant"))]
    answers = _flood(http, calls)
    slow_answers = [a for (_, key), a in zip(calls, answers, strict=True) if key == slow.key]
    other_answers = [a for (_, key), a in zip(calls, answers, strict=True) if key == other.key]
    # THEN the flooding tenant got its 5, then 429 problem+json saying when to retry
    assert sorted(a.status for a in slow_answers) == [200] * 5 + [429] * (FLOOD - 5)
    refused = next(a for a in slow_answers if a.status == 429)
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json["code"] == "rate_limited" and refused.headers["retry-after"] == "1"
    # and the other tenant's requests all succeeded
    assert [a.status for a in other_answers] == [200] * FLOOD
    # WHEN the window passes (1 s on the app clock: 5 more requests' worth)
    clock.advance(seconds=1)
    again = _flood(http, [("/v1/tenant", slow.key)] * 6)
    assert sorted(a.status for a in again) == [200] * 5 + [429]


def test_a_platform_operator_sets_a_tenants_rate_and_bad_input_changes_nothing(http, admin_token, clock, tenant):
    path = f"/v1/admin/tenants/{tenant.id}/rate-limit"
    # bad input: a 422 naming the field, the tenant unchanged
    bad = http.call("PUT", path, admin_token, json_body={"rate_limit_per_second": 0})
    assert bad.status == 422 and bad.json["field"] == "rate_limit_per_second"
    assert http.get("/v1/tenant", tenant.key).json["rate_limit_per_second"] is None
    # a tenant cannot give itself a rate, nor reach the admin route
    own = http.patch("/v1/tenant", tenant.key, {"rate_limit_per_second": 100_000})
    assert own.status == 422
    assert http.call("PUT", path, tenant.key, json_body={"rate_limit_per_second": 2}).status == 403
    # an unknown tenant is a 404
    missing = http.call("PUT", "/v1/admin/tenants/01J0000000000000000000000Z/rate-limit", admin_token,
                        json_body={"rate_limit_per_second": 2})
    assert missing.status == 404
    # WHEN the operator sets 2/s THEN the third request at one instant is refused
    set_ = http.call("PUT", path, admin_token, json_body={"rate_limit_per_second": 2})
    assert set_.status == 200 and set_.json["rate_limit_per_second"] == 2
    statuses = [http.get("/v1/tenant", tenant.key).status for _ in range(3)]
    assert statuses[-1] == 429
    # and back to the default
    clock.advance(seconds=1)
    reset = http.call("PUT", path, admin_token, json_body={"rate_limit_per_second": None})
    assert reset.status == 200 and reset.json["rate_limit_per_second"] is None
    assert [http.get("/v1/tenant", tenant.key).status for _ in range(5)] == [200] * 5
