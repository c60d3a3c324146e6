"""Journey webhooks through the API go through core.outbound: a redirect is not followed,
a host resolving to the metadata service is refused, private IP literals are refused
when set, and the message log keeps the receiver's status, never its body."""
from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.integration.journey_support import (  # noqa: F401 - fixtures
    T0,
    connect_webhook,
    create_journey,
    messages,
    new_member,
    receiver,
    tick,
    webhook_message,
)

HELLO = {"trigger": {"type": "api"}, "reentry": {"policy": "always"}, "start": "hello",
         "steps": [webhook_message("hello", "Hello")]}
CALL = {"trigger": {"type": "api"}, "reentry": {"policy": "always"}, "start": "call",
        "steps": [{"id": "call", "type": "webhook", "event": "journey.vip", "data": {}}]}


class Local:
    """A server on 127.0.0.1 answering every POST with ``status``, ``headers`` and ``body``."""

    def __init__(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.hits: list[str] = []
        local = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                local.hits.append(self.path)
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST  # a followed 302 would come as a GET

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def local() -> Iterator[Any]:
    started: list[Local] = []

    def start(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> Local:
        started.append(Local(status, body, headers))
        return started[-1]

    yield start
    for server in started:
        server.stop()


def _settings(http, tenant, url: str) -> None:
    r = http.call("PUT", "/v1/messaging/settings", tenant.key, json_body={"webhook_url": url})
    assert r.status == 200, r
    assert http.post("/v1/messaging/webhook-secret", tenant.key).status == 201


def _run(http, tenant, journey: dict[str, Any]) -> dict[str, Any]:
    jid = create_journey(http, tenant, journey)["id"]
    member = new_member(http, tenant)
    r = http.post(f"/v1/journeys/{jid}/enrolments", tenant.key, {"member_ids": [member]})
    assert r.status == 200 and r.json["results"][0]["status"] == "enrolled", r
    tick(http)
    [message] = messages(http, tenant, member_id=member)
    return message


@pytest.mark.parametrize("journey", [HELLO, CALL], ids=["send_message", "webhook_step"])
def test_a_redirect_to_another_local_url_is_not_followed(http, tenant, clock, local, journey):
    clock.now = T0
    internal = local(200, b'{"internal": "runtime api answer"}')
    redirect = local(302, b"moved", {"Location": internal.url.replace("/hook", "/2018-06-01/runtime/invocation/next")})
    _settings(http, tenant, redirect.url)
    message = _run(http, tenant, journey)
    assert message["status"] != "sent" and (message["status"], message["reason"]) == ("failed", "provider_rejected")
    assert internal.hits == [] and redirect.hits == ["/hook"]
    assert "internal" not in message["provider_response"] and "moved" not in message["provider_response"]
    assert message["provider_response"].startswith("HTTP 302")


def test_a_host_resolving_to_the_metadata_service_is_refused(http, tenant, clock, local, monkeypatch):
    clock.now = T0
    _settings(http, tenant, "https://hooks.brand.example/enclave")
    asked: list[str] = []
    real = socket.getaddrinfo

    def metadata(host: str, *args: Any, **kwargs: Any) -> Any:
        if host != "hooks.brand.example":
            return real(host, *args, **kwargs)
        asked.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", 443))]

    monkeypatch.setattr(socket, "getaddrinfo", metadata)
    connects: list[Any] = []
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> Any:
        connects.append(address)
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    message = _run(http, tenant, HELLO)
    assert (message["status"], message["reason"]) == ("failed", "provider_rejected"), message
    assert "link-local" in message["provider_response"]
    assert asked == ["hooks.brand.example"] and not any(a[0] == "169.254.169.254" for a in connects)


@pytest.mark.parametrize("url", ["http://10.0.0.1/hook", "https://192.168.1.10/hook", "https://[fd00::1]/hook",
                                 "http://0.0.0.0/hook", "http://2130706433/hook", "http://0177.0.0.1/hook",
                                 "https://169.254.169.254/latest/meta-data/", "https://100.64.0.1/",
                                 "http://[::ffff:10.0.0.1]/", "https://hooks.brand.example:6379/"])
def test_private_and_odd_literals_are_refused_when_set_and_nothing_is_written(http, tenant, url):
    before = http.get("/v1/messaging/settings", tenant.key).json
    r = http.call("PUT", "/v1/messaging/settings", tenant.key, json_body={"webhook_url": url})
    assert r.status == 422 and r.json["field"] == "webhook_url", r
    assert r.headers["content-type"].startswith("application/problem+json")
    assert http.get("/v1/messaging/settings", tenant.key).json == before


def test_the_message_log_keeps_the_status_never_the_body(http, tenant, clock, local):
    clock.now = T0
    server = local(200, b"ok: internal detail 10.0.0.7")
    _settings(http, tenant, server.url)
    message = _run(http, tenant, HELLO)
    assert message["status"] == "sent" and server.hits == ["/hook"]
    assert message["provider_response"] == "HTTP 200 (28 bytes)"
