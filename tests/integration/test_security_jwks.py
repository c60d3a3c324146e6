"""The issuer's keys (JWKS) are trusted for a limited time: a removed key stops verifying,
a rotated-in key works at once, and a slow issuer cannot hold a request for long."""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from devstack.jwt_issuer import DevIssuer


class JwksServer:
    """Serves a DevIssuer's JWKS file over HTTP, as Cognito serves its jwks.json."""

    def __init__(self, jwks_file: Path) -> None:
        self.fetches = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.fetches += 1
                body = jwks_file.read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/.well-known/jwks.json"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def rotate(directory: Path) -> DevIssuer:
    """The issuer makes a new signing key and publishes only it (the old kid is gone)."""
    (directory / "signing-key.pem").unlink()
    return DevIssuer(directory)


@pytest.fixture
def issuer_dir(tmp_path: Path) -> Path:
    return tmp_path / "issuer"


@pytest.fixture
def jwks_server(issuer_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[JwksServer]:
    from chalicelib.core.config import get_settings

    DevIssuer(issuer_dir)
    server = JwksServer(issuer_dir / "jwks.json")
    monkeypatch.setattr(get_settings(), "jwks_url", server.url)
    yield server
    server.close()


def test_a_removed_key_stops_verifying_after_the_cache_lifetime_and_a_new_kid_works_at_once(
        http, tenant, issuer_dir, jwks_server, clock):
    from chalicelib.core.config import get_settings

    lifetime = getattr(get_settings(), "jwks_cache_seconds", 600)  # (the setting is new; 600 s is past any lifetime)
    old = DevIssuer(issuer_dir)
    old_token = old.token("user-1", tenant_id=tenant.id, role="owner")
    # GIVEN a token of the current key, verified (the keys are now cached)
    assert http.get("/v1/tenant", old_token).status == 200
    fetches = jwks_server.fetches
    assert http.get("/v1/tenant", old_token).status == 200
    assert jwks_server.fetches == fetches  # cached: no fetch per request
    # WHEN the issuer rotates its key and removes the old one
    new = rotate(issuer_dir)
    assert new.kid != old.kid
    new_token = new.token("user-1", tenant_id=tenant.id, role="owner")
    clock.advance(seconds=lifetime + 1)
    # THEN after the lifetime the old key's token is refused
    r = http.get("/v1/tenant", old_token)
    assert r.status == 401 and r.json["code"] == "invalid_token", r
    # and the new key's token works
    assert http.get("/v1/tenant", new_token).status == 200


def test_an_unknown_kid_refetches_at_once_but_at_most_every_refetch_interval(
        http, tenant, issuer_dir, jwks_server, clock):
    from chalicelib.core.config import get_settings

    first = DevIssuer(issuer_dir)
    assert http.get("/v1/tenant", first.token("user-1", tenant_id=tenant.id, role="owner")).status == 200
    # a key rotated in well within the cache lifetime is picked up on first sight
    second = rotate(issuer_dir)
    assert http.get("/v1/tenant", second.token("user-1", tenant_id=tenant.id, role="owner")).status == 200
    fetches = jwks_server.fetches
    # made-up kids do not refetch again within the interval
    third = rotate(issuer_dir)
    third_token = third.token("user-1", tenant_id=tenant.id, role="owner")
    for _ in range(5):
        assert http.get("/v1/tenant", third_token).status == 401
    assert jwks_server.fetches == fetches
    clock.advance(seconds=getattr(get_settings(), "jwks_refetch_seconds", 60) + 1)
    assert http.get("/v1/tenant", third_token).status == 200
    assert jwks_server.fetches == fetches + 1


def test_a_jwks_endpoint_that_never_answers_fails_the_request_within_the_timeout(
        http, tenant, issuer_dir, monkeypatch):
    from chalicelib.core.config import get_settings

    token = DevIssuer(issuer_dir).token("user-1", tenant_id=tenant.id, role="owner")
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections, never answers
    try:
        monkeypatch.setattr(get_settings(), "jwks_url", f"http://127.0.0.1:{silent.getsockname()[1]}/jwks.json")
        started = time.monotonic()
        r = http.get("/v1/tenant", token)
        elapsed = time.monotonic() - started
    finally:
        silent.close()
    assert r.status == 401 and r.json["code"] == "invalid_token", r
    assert elapsed < 4.5, elapsed
