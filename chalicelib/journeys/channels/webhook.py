"""The tenant's webhook: a JSON POST signed like Stripe's webhooks, so brands plug in their
own WeCom / SMS / mini-program sender and check each request came from us.

Headers: ``Enclave-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">``
keyed with the tenant's webhook secret (shown once), and ``Idempotency-Key: <message id>``
(a retry after a lost answer repeats it: receivers dedupe on it). Verify with
:func:`verify_signature` (same rules as ``stripe.Webhook.construct_event``)::

    verify_signature(raw_body, headers["Enclave-Signature"], secret, tolerance=300)
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
import time
import urllib.error
import urllib.request
from urllib.parse import urlparse

from .base import Channel, Outcome, Outgoing

SIGNATURE_HEADER = "Enclave-Signature"
TIMEOUT_SECONDS = 5.0
USER_AGENT = "Enclave-Webhooks/1"


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


class SignatureError(ValueError):
    pass


def verify_signature(payload: bytes, header: str, secret: str, tolerance: int = 300,
                     now: float | None = None) -> None:
    """Raise SignatureError unless ``header`` signs ``payload`` with ``secret`` within
    ``tolerance`` seconds (any of several ``v1`` values may match, as during a rotation)."""
    try:
        parts = [p.split("=", 1) for p in header.split(",")]
        timestamp = int(next(v for k, v in parts if k == "t"))
        candidates = [v for k, v in parts if k == "v1"]
    except (ValueError, StopIteration) as exc:
        raise SignatureError("malformed signature header") from exc
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise SignatureError("no signature matches")
    if tolerance and abs((now if now is not None else time.time()) - timestamp) > tolerance:
        raise SignatureError("timestamp outside the tolerance")


def private_targets_allowed() -> bool:
    """http:// and loopback receivers only where the table itself is local (the dev stack
    and tests, which point ``ENCLAVE_DYNAMODB_ENDPOINT`` at DynamoDB Local), or where
    ``ENCLAVE_WEBHOOK_ALLOW_PRIVATE=1`` says so. Never in AWS by default."""
    import os

    from ...core.config import get_settings

    return bool(get_settings().dynamodb_endpoint) or os.environ.get("ENCLAVE_WEBHOOK_ALLOW_PRIVATE") == "1"


def check_url(url: str, allow_private: bool) -> str | None:
    """Why ``url`` cannot be a webhook target, or None. HTTPS to a public host, except in
    the dev stack (``allow_private``), where http://127.0.0.1 receivers are fine."""
    parsed = urlparse(url)
    if parsed.scheme not in ("https", "http") or not parsed.hostname:
        return "use an https:// URL"
    if allow_private:
        return None
    if parsed.scheme != "https":
        return "use an https:// URL"
    try:
        address = ipaddress.ip_address(parsed.hostname)
    except ValueError:
        return None if not parsed.hostname.endswith((".internal", ".local", "localhost")) else "use a public host"
    return "use a public host" if not address.is_global else None


def _private_target(url: str) -> bool:
    """At send time, whether the host resolves to a non-public address (DNS rebinding)."""
    host = urlparse(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False  # unresolvable: the send itself fails and is retried
    return any(not ipaddress.ip_address(info[4][0]).is_global for info in infos)


class WebhookChannel(Channel):
    retry_unknown = True  # receivers dedupe by Idempotency-Key

    def __init__(self, allow_private: bool = False) -> None:
        self.allow_private = allow_private

    def send(self, message: Outgoing) -> Outcome:
        if not message.webhook_url or not message.webhook_secret:
            return Outcome.of("failed", "no webhook URL or secret is configured (PUT /v1/messaging/settings)")
        if not self.allow_private and _private_target(message.webhook_url):
            return Outcome.of("failed", "the webhook host resolves to a private address")
        body = json.dumps(message.payload, separators=(",", ":"), sort_keys=True).encode()
        request = urllib.request.Request(message.webhook_url, data=body, method="POST", headers={
            "Content-Type": "application/json", "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: sign(body, message.webhook_secret), "Idempotency-Key": message.message_id})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 - URL checked
                answer = response.read(300).decode("utf-8", "replace")
                return Outcome.of("sent", f"{response.status} {answer}".strip())
        except urllib.error.HTTPError as exc:
            answer = f"{exc.code} {exc.read(300).decode('utf-8', 'replace')}".strip()
            retry = exc.code >= 500 or exc.code in (408, 409, 425, 429)
            return Outcome.of("retry" if retry else "failed", answer)
        except TimeoutError as exc:
            return Outcome.of("unknown", f"no answer within {TIMEOUT_SECONDS:g} s ({exc})")
        except (urllib.error.URLError, ConnectionError, OSError) as exc:
            return Outcome.of("retry", f"could not reach the webhook: {exc}")
