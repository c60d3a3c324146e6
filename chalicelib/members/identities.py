"""Normalizing identities, so every way of writing one phone or email is one key.

>>> normalize_phone("138 0013 8000", "CN")
'+8613800138000'
>>> normalize_email("  Ann.Lee@Example.COM ")
'ann.lee@example.com'
"""
from __future__ import annotations

import re

from ..core.errors import Unprocessable

PHONE, EMAIL = "phone", "email"
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s.]{2,}$")


def normalize_phone(raw: str, default_country: str, field: str = "phone") -> str:
    import phonenumbers  # ~60 ms of import: paid by the first request with a phone, not by cold start

    try:
        number = phonenumbers.parse(raw, default_country)
    except phonenumbers.NumberParseException as exc:
        raise Unprocessable(f"'{raw}' is not a phone number.", field=field, code="invalid_phone") from exc
    if not phonenumbers.is_valid_number(number):
        raise Unprocessable(f"'{raw}' is not a valid phone number.", field=field, code="invalid_phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw: str, field: str = "email") -> str:
    value = raw.strip().lower()
    if not _EMAIL.match(value):
        raise Unprocessable(f"'{raw}' is not an email address.", field=field, code="invalid_email")
    return value


def normalize_channel_id(value: str) -> str:
    """Channel ids are opaque and case-sensitive (WeChat openids are); only trimmed."""
    return value.strip()
