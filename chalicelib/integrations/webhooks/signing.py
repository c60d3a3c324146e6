"""Signatures of outbound events, the way Stripe signs its webhooks.

``Enclave-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">``, one
``v1`` per live secret: during a rotation's overlap both the new and the old secret sign,
so a receiver that still holds the old one keeps verifying. A receiver checks with
:func:`verify` (any ``v1`` may match; the timestamp within a tolerance against replays)::

    verify(raw_body, headers["Enclave-Signature"], "whsec_...", tolerance=300)
"""
from __future__ import annotations

import hashlib
import hmac
import secrets as _random
from collections.abc import Iterable

HEADER = "Enclave-Signature"
SECRET_PREFIX = "whsec_"


class SignatureError(ValueError):
    pass


def new_secret() -> str:
    return SECRET_PREFIX + _random.token_urlsafe(32)


def _mac(secret: str, timestamp: int, payload: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()


def sign(payload: bytes, secrets: Iterable[str], timestamp: int) -> str:
    """The header value: ``t=<timestamp>`` then one ``v1`` per secret, newest first."""
    macs = [f"v1={_mac(s, timestamp, payload)}" for s in secrets]
    if not macs:
        raise ValueError("no secret to sign with")
    return ",".join([f"t={timestamp}", *macs])


def verify(payload: bytes, header: str, secret: str, tolerance: int = 300, now: float | None = None) -> int:
    """The signed timestamp; :class:`SignatureError` unless one ``v1`` of ``header`` is
    ``secret``'s over ``payload`` and (``tolerance`` > 0) the timestamp is that close to ``now``."""
    try:
        parts = [p.split("=", 1) for p in header.split(",")]
        timestamp = int(next(v for k, v in parts if k == "t"))
        candidates = [v for k, v in parts if k == "v1"]
    except (ValueError, StopIteration) as exc:
        raise SignatureError("malformed signature header") from exc
    expected = _mac(secret, timestamp, payload)
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise SignatureError("no signature matches")
    if tolerance and now is not None and abs(now - timestamp) > tolerance:
        raise SignatureError("timestamp outside the tolerance")
    return timestamp
