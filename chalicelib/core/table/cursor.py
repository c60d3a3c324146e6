"""Opaque pagination cursors, signed and bound to a tenant and to the list they page.

A cursor handed to another tenant, or to the same tenant's other list (different filter),
fails verification and the request is a 400, so a cursor can never widen what a caller
sees.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json

from ..app_keys import app_secret
from ..errors import BadRequest


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(tenant_id: str, scope: str, position: str) -> str:
    payload = json.dumps({"t": tenant_id, "s": scope, "p": position}, separators=(",", ":")).encode()
    sig = hmac.new(app_secret(), payload, hashlib.sha256).digest()[:16]
    return f"{_b64(payload)}.{_b64(sig)}"


def decode(cursor: str, tenant_id: str, scope: str) -> str:
    """The position inside ``cursor``; 400 if it was not made by us for this tenant and list."""
    try:
        payload_text, sig_text = cursor.split(".", 1)
        payload = _unb64(payload_text)
        expected = hmac.new(app_secret(), payload, hashlib.sha256).digest()[:16]
        if not hmac.compare_digest(expected, _unb64(sig_text)):
            raise ValueError("bad signature")
        data = json.loads(payload)
        if data["t"] != tenant_id or data["s"] != scope:
            raise ValueError("cursor for another list")
        return str(data["p"])
    except (ValueError, KeyError, TypeError) as exc:
        raise BadRequest("The cursor is not valid for this list.", field="cursor", code="invalid_cursor") from exc
