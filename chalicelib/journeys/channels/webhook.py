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
import json
import time

from ...core import outbound
from .base import Channel, Outcome, Outgoing

SIGNATURE_HEADER = "Enclave-Signature"
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


def loopback_allowed() -> bool:
    """Receivers on 127.0.0.1: the dev stack and tests only (``ENCLAVE_OUTBOUND_ALLOW_LOOPBACK``)."""
    from ...core.config import get_settings

    return get_settings().outbound_allow_loopback


def check_url(url: str, allow_loopback: bool) -> str | None:
    """Why ``url`` cannot be a webhook target, or None: HTTPS to a host that may be called
    (``core.outbound``), except that the dev stack's loopback receivers may use http://."""
    try:
        target = outbound.parse(url, allow_loopback)
    except outbound.Refused as exc:
        return str(exc)
    local = allow_loopback and target.literal is not None and target.literal.is_loopback
    if target.scheme != "https" and not local:
        return "use an https:// URL"
    return None


#: answers that mean "not now" (the rest of 4xx, and 3xx, mean "not like this")
RETRY_STATUSES = frozenset({408, 409, 425, 429})


class WebhookChannel(Channel):
    retry_unknown = True  # receivers dedupe by Idempotency-Key

    def __init__(self, allow_loopback: bool = False, resolve: outbound.Resolver | None = None) -> None:
        self.allow_loopback = allow_loopback
        self.resolve = resolve

    def send(self, message: Outgoing) -> Outcome:
        """One POST through ``core.outbound``: no redirect followed, private addresses refused;
        the log keeps the receiver's status code, never its body."""
        if not message.webhook_url or not message.webhook_secret:
            return Outcome.of("failed", "no webhook URL or secret is configured (PUT /v1/messaging/settings)")
        problem = check_url(message.webhook_url, self.allow_loopback)
        if problem:
            return Outcome.of("failed", f"refused: {problem}")
        body = json.dumps(message.payload, separators=(",", ":"), sort_keys=True).encode()
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
                   SIGNATURE_HEADER: sign(body, message.webhook_secret), "Idempotency-Key": message.message_id}
        try:
            answer = outbound.post(message.webhook_url, body, headers, allow_loopback=self.allow_loopback,
                                   resolve=self.resolve)
        except outbound.Refused as exc:
            return Outcome.of("failed", f"refused: {exc}")
        except outbound.Unreachable as exc:
            return Outcome.of("retry", f"could not reach the webhook: {exc}")
        except outbound.NoAnswer as exc:
            return Outcome.of("unknown", f"no answer: {exc}")
        if 200 <= answer.status < 300:
            return Outcome.of("sent", answer.summary())
        if 300 <= answer.status < 400:
            return Outcome.of("failed", f"{answer.summary()}: redirects are not followed")
        retry = answer.status >= 500 or answer.status in RETRY_STATUSES
        return Outcome.of("retry" if retry else "failed", answer.summary())
