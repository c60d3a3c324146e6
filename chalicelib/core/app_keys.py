"""The app's one secret and the keys derived from it, one per purpose.

Pagination cursors sign with the secret itself (as they always have); anything else asks
for :func:`purpose_key` with its own purpose, so a value made for one purpose (a coupon
code) can never pass as another (a cursor).
"""
from __future__ import annotations

from functools import lru_cache

from .config import get_settings


@lru_cache(maxsize=1)
def app_secret() -> bytes:
    """``ENCLAVE_CURSOR_SECRET`` locally; in AWS the secret behind ``ENCLAVE_CURSOR_SECRET_ARN``."""
    settings = get_settings()
    if settings.cursor_secret:
        return settings.cursor_secret.encode()
    if settings.cursor_secret_arn:
        from aws_lambda_powertools.utilities import parameters

        return str(parameters.get_secret(settings.cursor_secret_arn, max_age=3600)).encode()
    raise RuntimeError("ENCLAVE_CURSOR_SECRET or ENCLAVE_CURSOR_SECRET_ARN must be set")


def purpose_key(purpose: str) -> bytes:
    """An HMAC key for ``purpose`` (e.g. ``"journey-coupons"``): ``<purpose>|<secret>``.

    The format is fixed: values already derived with it (issued coupon codes) must stay
    reproducible."""
    if not purpose or "|" in purpose:
        raise ValueError("a purpose is a non-empty name without '|'")
    return purpose.encode() + b"|" + app_secret()
