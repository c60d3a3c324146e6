"""A Stripe 5xx or timeout is retried with the same idempotency key, so Stripe applies the
write once: tested through the Stripe adapter (and through the API) with a small proxy in
front of stripe-mock (127.0.0.1) that fails or stalls the first requests. stripe-mock
itself never fails, and it does not replay idempotent requests (it keeps no state); what
makes a retried write single on real Stripe is the repeated Idempotency-Key, which the
proxy records."""
from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

import pytest

from tests.conftest import STRIPE_API_BASE
from tests.fixtures import table_items
from tests.integration.test_billing_support import World


@dataclass
class Flaky:
    """Fails the first ``failures`` requests: "error" answers 500 after stripe-mock did the
    work (the answer is lost, as in a Stripe 5xx), "stall" holds the answer past the
    client's timeout."""

    failures: int = 0
    mode: str = "error"
    seen: list[tuple[str, str, str | None, str | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(flaky: Flaky) -> type[BaseHTTPRequestHandler]:
    upstream = urlparse(STRIPE_API_BASE)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            return

        def _relay(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with flaky.lock:
                flaky.seen.append((self.command, self.path, self.headers.get("Idempotency-Key"),
                                   self.headers.get("Stripe-Account")))
                fail = flaky.failures > 0
                flaky.failures -= 1
            conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=5)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            conn.request(self.command, self.path, body=body, headers=headers)
            answer = conn.getresponse()
            payload = answer.read()
            if fail and flaky.mode == "stall":
                time.sleep(1.5)
            if fail:
                self.send_response(500)
                payload = b'{"error": {"type": "api_error", "message": "proxy: lost the answer"}}'
            else:
                self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            try:
                self.wfile.write(payload)
            except OSError:
                pass  # the client gave up (timeout)

        do_GET = do_POST = do_DELETE = _relay

    return Handler


@pytest.fixture
def flaky() -> Iterator[tuple[Flaky, str]]:
    state = Flaky()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def adapter(base: str, retries: int = 2):
    from chalicelib.billing.gateway.stripe import StripeGateway

    from tests.integration.test_billing_support import webhook_secret

    return StripeGateway("sk_test_EnclaveLocalNotARealKey123", webhook_secret(), api_base=base, timeout=0.8,
                         max_network_retries=retries)


@pytest.mark.parametrize("mode", ["error", "stall"])
def test_a_5xx_or_a_timeout_is_retried_with_the_same_idempotency_key(flaky, mode):
    state, base = flaky
    state.failures, state.mode = 2, mode
    product = adapter(base).create_product("acct_1Brand", name="Black Card", description=None,
                                           metadata={"enclave_plan_id": "P"},
                                           idempotency_key="enclave:T:plan:P:product")
    assert product["name"] == "Black Card"
    assert state.seen == [("POST", "/v1/products", "enclave:T:plan:P:product", "acct_1Brand")] * 3


def test_retries_give_up_as_stripe_unavailable(flaky):
    from chalicelib.billing.gateway import GatewayUnavailable

    state, base = flaky
    state.failures = 10
    with pytest.raises(GatewayUnavailable):
        adapter(base, retries=1).retrieve_subscription("acct_1Brand", "sub_1")
    assert len(state.seen) == 2


def test_through_the_api_a_flaky_stripe_makes_one_plan_and_a_dead_one_none(http, tenant, clock, flaky):
    from chalicelib.billing.gateway import set_gateway
    from chalicelib.billing.gateway.stateless import StatelessMockGateway

    state, base = flaky
    world = World(http, tenant)
    set_gateway(StatelessMockGateway(adapter(base)))
    try:
        state.failures = 2
        r = http.post("/v1/plans", tenant.key, {"name": "Club", "amount": 3000, "currency": "CNY", "interval": "month"})
        assert r.status == 201, r
        keys = [(path, key) for _, path, key, _ in state.seen]
        assert keys[:3] == [("/v1/products", f"enclave:{tenant.id}:plan:{r.json['id']}:product")] * 3
        assert keys[3:] == [("/v1/prices", f"enclave:{tenant.id}:plan:{r.json['id']}:price:1")]
        assert {account for *_, account in state.seen} == {world.account}
        assert len(table_items(f"T#{tenant.id}#PLANS")) == 1
        state.failures = 100
        dead = http.post("/v1/plans", tenant.key, {"name": "Club 2", "amount": 3000, "currency": "CNY",
                                                   "interval": "month"})
        assert dead.status == 503 and dead.json["code"] == "stripe_unavailable"
        assert len(table_items(f"T#{tenant.id}#PLANS")) == 1
    finally:
        set_gateway(None)


def test_a_webhook_whose_re_read_fails_is_a_503_claims_nothing_and_applies_on_redelivery(http, tenant, clock, flaky):
    from chalicelib.billing.gateway import set_gateway
    from chalicelib.billing.gateway.stateless import StatelessMockGateway
    from tests.integration.test_billing_support import gateway

    state, base = flaky
    world = World(http, tenant)
    plan = world.plan()
    member = world.member()
    h = world.lifecycle(member, plan, clock.now)
    down = StatelessMockGateway(adapter(base, retries=1))
    set_gateway(down)
    try:
        for evt, obj in h.steps[:2]:
            down.record(obj, evt["created"])
        state.failures = 100
        r = world.deliver(h.events[1])
        assert r.status == 503 and r.json["code"] == "stripe_unavailable"
        assert table_items(f"T#{tenant.id}#STRIPE_EV#") == [] and world.memberships(member) == []
        state.failures = 0
        assert world.deliver(h.events[1]).json["outcome"] == "applied"
    finally:
        set_gateway(None)
    assert gateway() is not down
    assert world.memberships(member)[0]["status"] == "active"
